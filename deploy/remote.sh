#!/usr/bin/env bash
# The host side of ./deploy.sh: runs on the EC2 host (uploaded next to lib.sh on every run) and does the work
# that must happen there: bootstrap Docker, build, start, health-gate and switch containers, roll back, report.
#
#   remote.sh bootstrap
#   remote.sh deploy VERSION APP_PORT READY_TIMEOUT HOLDER
#   remote.sh rollback APP_PORT READY_TIMEOUT HOLDER
#   remote.sh status APP_PORT | logs [-f] | exec CMD... | unlock
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/lib.sh"

readonly BASE="$HOME/message-server"
readonly NAME=message-server
readonly NEXT="$NAME-next"
readonly IMAGE=message-server
readonly DATA_VOLUME=message-server-data
readonly CA_PATH_IN_CONTAINER=/etc/message-server/postgres-ca.pem
readonly KEEP_RELEASES=3

docker_cmd=(docker)

step() {
  echo "==> $*"
}

# Docker without sudo once the user is in the docker group; with sudo until that takes effect (a new login).
use_docker() {
  if docker info >/dev/null 2>&1; then
    docker_cmd=(docker)
  elif sudo -n docker info >/dev/null 2>&1; then
    docker_cmd=(sudo -n docker)
  else
    die "Docker does not answer on this host; run ./deploy.sh again to bootstrap it, or check 'sudo systemctl status docker'"
  fi
}

d() {
  "${docker_cmd[@]}" "$@"
}

bootstrap() {
  local os install
  if ! command -v docker >/dev/null 2>&1; then
    os=$(detect_os /etc/os-release)
    install=$(docker_install_command "$os") || die "cannot install Docker on this system ($os); install it by hand and deploy again"
    step "Installing Docker ($os: $install)"
    if [[ "$os" == debian || "$os" == ubuntu ]]; then
      sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    fi
    # shellcheck disable=SC2086 # the install command is a list of words by design
    sudo -n $install >/dev/null
  fi
  if ! docker info >/dev/null 2>&1 && ! sudo -n docker info >/dev/null 2>&1; then
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      step "Starting Docker (systemctl enable --now docker)"
      sudo -n systemctl enable --now docker >/dev/null
    else
      die "Docker is installed but not running, and this host has no systemd to start it; start dockerd and deploy again"
    fi
  fi
  if ! id -nG | tr ' ' '\n' | grep -qx docker && getent group docker >/dev/null; then
    if ! getent group docker | cut -d: -f4 | tr ',' '\n' | grep -qx "$USER"; then
      step "Adding $USER to the docker group (sudo docker is used until the next login)"
      sudo -n usermod -aG docker "$USER"
    fi
  fi
  # Connections queued on the old version's socket move to the new one when it stops listening.
  if [[ "$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo 1)" != 1 ]]; then
    if sudo -n sysctl -q -w net.ipv4.tcp_migrate_req=1 >/dev/null 2>&1; then
      echo "net.ipv4.tcp_migrate_req = 1" | sudo -n tee /etc/sysctl.d/90-message-server.conf >/dev/null || true
    else
      echo "warning: could not set net.ipv4.tcp_migrate_req=1; switches may reset a few new connections" >&2
    fi
  fi
  mkdir -p "$BASE/releases" "$BASE/state" "$BASE/bin"
  install -d -m 700 "$BASE/env"
  use_docker
  echo "Docker $(d version -f '{{.Server.Version}}') ready (${docker_cmd[*]})"
}

# --- the lock: one deploy or rollback at a time ----------------------------------------------------------------

lock_owner=false

describe_lock() {
  local info="$BASE/lock/info" pid state
  [[ -f "$info" ]] || { echo "an unknown deploy (no lock details)"; return; }
  pid=$(sed -n 's/^pid=//p' "$info")
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    state="still running as pid $pid"
  else
    state="STALE: its process ${pid:-?} is gone, a killed deploy left it"
  fi
  echo "$(sed -n 's/^holder=//p' "$info") deploying $(sed -n 's/^version=//p' "$info") since $(sed -n 's/^started=//p' "$info") ($state)"
}

acquire_lock() {
  local holder=$1 version=$2
  mkdir -p "$BASE"
  if ! mkdir "$BASE/lock" 2>/dev/null; then
    die "the host is locked by $(describe_lock).
  Wait for that deploy to finish. If it is not running any more, release the lock with: ./deploy.sh unlock"
  fi
  lock_owner=true
  printf 'holder=%s\nversion=%s\nstarted=%s\npid=%s\n' "$holder" "$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" >"$BASE/lock/info"
}

release_lock() {
  if $lock_owner; then
    rm -rf "$BASE/lock"
    lock_owner=false
  fi
}

unlock() {
  if [[ -d "$BASE/lock" ]]; then
    echo "Releasing the lock held by $(describe_lock)"
    rm -rf "$BASE/lock"
  else
    echo "No lock is held."
  fi
}

# --- containers ---------------------------------------------------------------------------------------------

container_exists() {
  d container inspect "$1" >/dev/null 2>&1
}

serving_version() {
  d container inspect -f '{{ index .Config.Labels "message-server.version" }}' "$NAME" 2>/dev/null || true
}

# Starts VERSION as the next container next to the serving one (both listen on APP_PORT via SO_REUSEPORT),
# waits until it is ready on its own instance port, then stops the old one gracefully and takes its name.
start_and_switch() {
  local version=$1 app_port=$2 timeout=$3 env_file="$BASE/env/$1.env" instance_port deadline ca_mount=()
  [[ -f "$env_file" ]] || die "no settings for $version on the host ($env_file)"
  if [[ -f "$BASE/env/$version-postgres-ca.pem" ]]; then
    ca_mount=(-v "$BASE/env/$version-postgres-ca.pem:$CA_PATH_IN_CONTAINER:ro")
  fi
  d rm -f "$NEXT" >/dev/null 2>&1 || true
  instance_port=$(free_local_port)

  step "Starting $version next to the serving version"
  d run -d --name "$NEXT" --label "message-server.version=$version" \
    --network host --restart unless-stopped \
    --env-file "$env_file" \
    -e "PORT=$app_port" -e REUSE_PORT=true -e "INSTANCE_PORT=$instance_port" -e "APP_VERSION=$version" \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    -v "$DATA_VOLUME:/data" "${ca_mount[@]}" \
    --health-interval=5s \
    "$IMAGE:$version" >/dev/null

  step "Waiting up to ${timeout}s for $version to be ready"
  deadline=$((SECONDS + timeout))
  until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$instance_port/ready" 2>/dev/null; do
    if [[ "$(d container inspect -f '{{.State.Running}}' "$NEXT" 2>/dev/null)" != true ]] || ((SECONDS >= deadline)); then
      echo "--- last log lines of $version ---" >&2
      d logs --tail 40 "$NEXT" >&2 2>&1 || true
      echo "---" >&2
      d rm -f "$NEXT" >/dev/null 2>&1 || true
      die "$version did not become ready within ${timeout}s (see its log above); the serving version $(serving_version) was not touched"
    fi
    sleep 0.5
  done

  if container_exists "$NAME"; then
    step "Switching: stopping $(serving_version) gracefully"
    d stop -t 30 "$NAME" >/dev/null
    d rm "$NAME" >/dev/null
  fi
  d rename "$NEXT" "$NAME"
  echo "$version" >>"$BASE/state/history"
}

prune_releases() {
  local keep serving tag
  serving=$(serving_version)
  keep=$(d images "$IMAGE" --format '{{.Tag}}' | grep -v '<none>' | sort -r | head -n "$KEEP_RELEASES")
  for tag in $(d images "$IMAGE" --format '{{.Tag}}' | grep -v '<none>'); do
    if [[ "$tag" != "$serving" ]] && ! grep -qx "$tag" <<<"$keep"; then
      d rmi "$IMAGE:$tag" >/dev/null 2>&1 || true
      rm -rf "$BASE/releases/$tag" "$BASE/env/$tag.env" "$BASE/env/$tag-postgres-ca.pem"
    fi
  done
  d image prune -f >/dev/null 2>&1 || true
}

deploy() {
  local version=$1 app_port=$2 timeout=$3 holder=$4 release="$BASE/releases/$1"
  use_docker
  acquire_lock "$holder" "$version"
  trap release_lock EXIT
  trap 'exit 129' HUP
  trap 'exit 143' TERM

  # The settings were uploaded next to the release; from here on they live in a 0600 file named for it.
  install -d -m 700 "$BASE/env"
  mv "$BASE/env/incoming-$version.env" "$BASE/env/$version.env"
  chmod 600 "$BASE/env/$version.env"
  if [[ -f "$BASE/env/incoming-$version-postgres-ca.pem" ]]; then
    mv "$BASE/env/incoming-$version-postgres-ca.pem" "$BASE/env/$version-postgres-ca.pem"
    chmod 644 "$BASE/env/$version-postgres-ca.pem"
  fi
  mkdir -p "$release"
  tar -xzf "$release.tar.gz" -C "$release"
  rm -f "$release.tar.gz"

  step "Building image $IMAGE:$version"
  if ! d build --force-rm -t "$IMAGE:$version" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$(cut -d- -f2 <<<"$version")" \
    "$release" >"$release.build.log" 2>&1; then
    echo "--- last lines of the build ---" >&2
    tail -n 30 "$release.build.log" >&2
    echo "---" >&2
    die "the image did not build (full log on the host: $release.build.log); the serving version $(serving_version) was not touched"
  fi
  start_and_switch "$version" "$app_port" "$timeout"
  prune_releases
}

rollback() {
  local app_port=$1 timeout=$2 holder=$3 current previous
  use_docker
  current=$(serving_version)
  previous=""
  if [[ -f "$BASE/state/history" ]]; then
    previous=$(grep -vx "$current" "$BASE/state/history" | tac | while read -r version; do
      if d image inspect "$IMAGE:$version" >/dev/null 2>&1; then
        echo "$version"
        break
      fi
    done)
  fi
  [[ -n "$previous" ]] || die "no earlier version to roll back to (kept images: $(d images "$IMAGE" --format '{{.Tag}}' | tr '\n' ' '))"
  acquire_lock "$holder" "rollback to $previous"
  trap release_lock EXIT
  trap 'exit 129' HUP
  trap 'exit 143' TERM
  step "Rolling back from ${current:-nothing} to $previous"
  start_and_switch "$previous" "$app_port" "$timeout"
}

status() {
  local app_port=$1 version
  use_docker
  version=$(serving_version)
  if [[ -z "$version" ]]; then
    echo "Serving:    nothing (no $NAME container; run ./deploy.sh)"
  else
    echo "Serving:    $version"
    echo "Container:  $(d container inspect -f '{{.State.Status}} since {{.State.StartedAt}}, health {{if .State.Health}}{{.State.Health.Status}}{{else}}unknown{{end}}, restarts {{.RestartCount}}' "$NAME")"
    echo "Health:     $(curl -sS --max-time 3 "http://127.0.0.1:$app_port/health" 2>&1 || true)"
    echo "Ready:      $(curl -sS --max-time 3 "http://127.0.0.1:$app_port/ready" 2>&1 || true)"
  fi
  echo "Releases:   $(d images "$IMAGE" --format '{{.Tag}}' | grep -v '<none>' | sort -r | tr '\n' ' ')"
  if [[ -d "$BASE/lock" ]]; then
    echo "Lock:       held by $(describe_lock)"
  else
    echo "Lock:       free"
  fi
}

main() {
  local command=${1:-}
  shift || true
  case "$command" in
    bootstrap) bootstrap ;;
    deploy) deploy "$@" ;;
    rollback) rollback "$@" ;;
    status) status "$@" ;;
    logs) use_docker; d logs --tail 200 "$@" "$NAME" ;;
    exec)
      use_docker
      [[ "${1:-}" == -- ]] && shift
      (($# > 0)) || die "exec needs a command, e.g. ./deploy.sh exec -- dotnet MessageServer.dll healthcheck"
      if [[ -t 0 ]]; then d exec -it "$NAME" "$@"; else d exec -i "$NAME" "$@"; fi
      ;;
    unlock) unlock ;;
    *) die "unknown host command '$command'" ;;
  esac
}

main "$@"
