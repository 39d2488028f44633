# shellcheck shell=bash
# Shared by the container and deploy tests: a Docker engine, the base images (real or offline stand-ins),
# and a PostgreSQL that containers can reach (the local stand-in for RDS).

NUGET_SEED_DIR=/var/tmp/message-server-nuget-seed
STANDIN_LABEL=message-server.standin

# Runs a command with no file descriptors but stdin, stdout and stderr. Daemons started from bats must not
# inherit its output pipes: bats (and the tee reading its output) waits until every holder has closed them,
# so a dockerd left running would hang the test run forever.
# It runs in a subshell, so the caller keeps its own descriptors.
without_inherited_fds() (
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then
      eval "exec $fd>&-" 2>/dev/null || true
    fi
  done
  exec "$@"
)

# Starts dockerd when no engine answers (no systemd on test machines).
ensure_docker() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null; then
    echo "No Docker engine: install it (Debian/Ubuntu: apt-get install docker.io)" >&2
    return 1
  fi
  without_inherited_fds setsid --fork dockerd </dev/null >/var/tmp/message-server-dockerd.log 2>&1
  local _
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "dockerd did not start; see /var/tmp/message-server-dockerd.log" >&2
  return 1
}

is_standin() {
  [[ "$(docker image inspect -f "{{ index .Config.Labels \"$STANDIN_LABEL\" }}" "$1" 2>/dev/null)" == "true" ]]
}

# Uses Microsoft's images when they can be pulled; otherwise builds the offline stand-ins, with the NuGet
# packages the project needs seeded into the SDK stand-in (refreshed on every run, cached by Docker).
ensure_base_images() {
  local repo=$1 image
  for image in mcr.microsoft.com/dotnet/aspnet:10.0 mcr.microsoft.com/dotnet/sdk:10.0; do
    if docker image inspect "$image" >/dev/null 2>&1 && ! is_standin "$image"; then
      continue
    fi
    if ! docker image inspect "$image" >/dev/null 2>&1 && timeout 30 docker pull -q "$image" >/dev/null 2>&1; then
      continue
    fi
    dotnet restore --use-current-runtime "$repo/src/MessageServer/MessageServer.csproj" --packages "$NUGET_SEED_DIR" >/dev/null
    "$repo/docker/offline-base-images.sh" --seed-packages "$NUGET_SEED_DIR" >&2
    return 0
  done
}

# The deploy's front proxy: the official caddy:2 when it can be pulled, else the stand-in built from the
# Debian caddy package.
ensure_proxy_image() {
  local repo=$1
  if docker image inspect caddy:2 >/dev/null 2>&1 || timeout 30 docker pull -q caddy:2 >/dev/null 2>&1; then
    return 0
  fi
  "$repo/docker/offline-base-images.sh" --proxy >&2
}

# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../lib/ports.sh"

free_port() {
  free_local_port
}

docker_bridge_address() {
  ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1
}

# Starts a throwaway PostgreSQL on loopback and on the Docker bridge, so containers reach it through
# host.docker.internal. Sets PG_DIR, PG_PORT, PG_PASSWORD.
start_container_postgres() {
  local bin bridge
  bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  if [[ -z "$bin" ]]; then
    echo "PostgreSQL server binaries are missing: apt-get install postgresql" >&2
    return 1
  fi
  bridge=$(docker_bridge_address)
  PG_DIR=$(mktemp -d /tmp/ms-cpg-XXXXXX)
  PG_PORT=$(free_port)
  PG_PASSWORD="pw-$RANDOM-$RANDOM-$RANDOM"
  PG_BIN=$bin
  export PG_DIR PG_PORT PG_PASSWORD PG_BIN
  printf '%s' "$PG_PASSWORD" >"$PG_DIR/password"
  chown -R postgres:postgres "$PG_DIR"
  runuser -u postgres -- "$bin/initdb" -D "$PG_DIR/data" -U postgres --pwfile "$PG_DIR/password" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$PG_DIR/initdb.log"
  rm -f "$PG_DIR/password"
  echo "host all all 172.16.0.0/12 scram-sha-256" >>"$PG_DIR/data/pg_hba.conf"
  without_inherited_fds runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses='127.0.0.1,$bridge' -c fsync=off" start >/dev/null
}

stop_container_postgres() {
  if [[ -n "${PG_DIR:-}" && -d "$PG_DIR" ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}

psql_query() {
  # From /, which the postgres user can enter whatever the caller's working directory.
  (cd / && runuser -u postgres -- psql -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "${2:-postgres}" -Atqc "$1")
}

# Waits until a URL answers 200, up to $2 seconds (default 30).
wait_for_http() {
  local url=$1 seconds=${2:-30} _
  for _ in $(seq 1 $((seconds * 4))); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.25
  done
  echo "$url did not answer 200 within ${seconds}s" >&2
  return 1
}
