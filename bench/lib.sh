# shellcheck shell=bash
# Helpers shared by the benchmark scripts (bench/run.sh, with bench/search.sh, and bench/webhooks.sh): messages that
# name the script, a work folder cleaned up on exit with the processes started in it, a PostgreSQL of their own,
# the Release build. Nothing runs at load time.
# shellcheck disable=SC2154 # repo is the sourcing script's

# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"

# Prints an error on stderr, naming the benchmark that failed, and exits.
die() {
  echo "bench/${0##*/}: error: $*" >&2
  exit 1
}

log() {
  echo "==> $*" >&2
}

# Makes the work folder /tmp/NAME-XXXXXX (sets work) and removes it on exit, after stopping every process whose
# pid is in pids and the PostgreSQL started there.
make_work_folder() {
  work=$(mktemp -d "/tmp/$1-XXXXXX")
  # PostgreSQL runs as the postgres user and must reach its folder inside.
  chmod 755 "$work"
  pids=()
  trap cleanup EXIT
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if [[ -n "${pg_bin:-}" && -f "$work/pg/data/postmaster.pid" ]]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}

# Sets pg_bin to the newest installed PostgreSQL's server binaries.
find_postgres() {
  pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$pg_bin" ]] || die "PostgreSQL server binaries are missing: apt-get install postgresql"
}

# Starts a PostgreSQL in $work/pg on a free loopback port (sets pg_port) with default durability: fsync and
# synchronous_commit stay on. Arguments are more server options (-c name=value).
start_postgres_server() {
  [[ -n "${pg_bin:-}" ]] || find_postgres
  pg_port=$(free_local_port)
  mkdir -p "$work/pg"
  chown postgres:postgres "$work/pg"
  runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
    -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 $*" start >/dev/null
}

# Publishes the server in Release to $work/server and builds the benchmark's client project (under bench/) to
# $work/client.
build_server_and_client() {
  local project=$1
  log "building the server (Release) and ${project%%/*}"
  dotnet publish "$repo/src/MessageServer/MessageServer.csproj" -c Release -o "$work/server" -p:UseAppHost=false >/dev/null
  dotnet build "$repo/bench/$project" -c Release -o "$work/client" >/dev/null
}
