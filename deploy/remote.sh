#!/usr/bin/env bash
# The host side of ./deploy.sh: runs on the EC2 host (uploaded next to lib.sh on every run) and does the work
# that must happen there: bootstrap Docker, build, start, health-gate and switch containers, keep the front proxy
# (Caddy) running with the current settings, roll back, report.
#
#   remote.sh bootstrap
#   remote.sh deploy VERSION APP_PORT READY_TIMEOUT HOLDER DOMAIN EMAIL ACME_CA
#   remote.sh rollback APP_PORT READY_TIMEOUT HOLDER DOMAIN EMAIL ACME_CA
#   remote.sh status APP_PORT DOMAIN | logs [--proxy] [-f] | exec CMD... | unlock
#
# How a switch drops nothing: the proxy holds every client connection and opens a new connection to the app for
# each request, through the path run/current/app.sock. Each app container listens on a Unix socket in a slot folder
# of its own (run/a or run/b); "current" is a symlink to the serving one. The new version starts in the other
# slot, passes the health gate on its own socket, then "current" is replaced in one rename: from that instant new
# requests reach the new version, while the old one finishes what it has and ends its streams with the reconnect
# hint when it is stopped. The proxy itself is neither reloaded nor restarted, so no client connection is closed.
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
readonly PROXY=message-server-proxy
readonly PROXY_IMAGE=caddy:2
# Certificates and the ACME account: a named volume survives redeploys, proxy updates and reboots.
readonly PROXY_DATA_VOLUME=message-server-proxy-data
readonly PROXY_CONFIG_VOLUME=message-server-proxy-config
readonly RUN="$BASE/run"
readonly SOCKET_DIR_IN_CONTAINER=/run/message-server
readonly CERTIFICATE_TIMEOUT=120

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
  mkdir -p "$BASE/releases" "$BASE/state" "$BASE/bin" "$BASE/proxy" "$RUN"
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

serving_slot() {
  d container inspect -f '{{ index .Config.Labels "message-server.slot" }}' "$NAME" 2>/dev/null || true
}

# The socket the app in SLOT listens on, as seen from the host.
slot_socket() {
  echo "$RUN/$1/app.sock"
}

# Asks an app's /ready (or another path) over its socket; the host name only fills the Host header.
ask_app() {
  local socket=$1 path=$2
  curl -fsS --max-time 3 --unix-socket "$socket" "http://localhost$path"
}

# --- the front proxy ----------------------------------------------------------------------------------------

# The Caddyfile for the settings: with a domain, https with an ACME certificate (http:// redirects, HTTP/2, HSTS);
# without one, plain HTTP on APP_PORT. Either way /metrics stays private and every request gets a new connection
# to whatever "current" points at (keepalive off), which is what makes the switch a rename.
proxy_config() {
  local app_port=$1 domain=$2 email=$3 acme_ca=$4 site
  echo "# Written by ./deploy.sh on every deploy; changes here are overwritten."
  echo "{"
  # The admin API on a socket in the proxy's own volume: no local process can reconfigure it over TCP.
  echo "	admin unix//config/admin.sock"
  # No HTTP/3: it would need UDP 443 in the security group, and browsers fall back to it silently.
  echo "	servers {"
  echo "		protocols h1 h2"
  echo "	}"
  if [[ -n "$domain" ]]; then
    [[ -n "$email" ]] && echo "	email $email"
    echo "	acme_ca $acme_ca"
    [[ -f "$BASE/proxy/acme-ca-root.pem" ]] && echo "	acme_ca_root /etc/caddy/acme-ca-root.pem"
  else
    echo "	auto_https off"
  fi
  echo "}"
  echo
  if [[ -n "$domain" ]]; then site=$domain; else site="http://:$app_port"; fi
  cat <<SITE
$site {
	@metrics path /metrics /metrics/*
	respond @metrics 404
	# No banner, as the app sends none.
	header -Server
SITE
  [[ -n "$domain" ]] && echo '	header Strict-Transport-Security "max-age=31536000"'
  cat <<SITE
	reverse_proxy unix/$SOCKET_DIR_IN_CONTAINER/current/app.sock {
		# Streams are passed on as each event arrives.
		flush_interval -1
		# A request whose connection could not even be opened (the app restarting) waits and tries again.
		lb_try_duration 5s
		transport http {
			keepalive off
		}
	}
}
SITE
}

proxy_running() {
  [[ "$(d container inspect -f '{{.State.Running}}' "$PROXY" 2>/dev/null)" == true ]]
}

# Starts the proxy, or brings it up to date: a new image (after docker pull caddy:2) recreates it, new settings
# reload it; otherwise it is left alone, so its client connections stay open through the deploy.
ensure_proxy() {
  local app_port=$1 domain=$2 email=$3 acme_ca=$4 config="$BASE/proxy/Caddyfile" image running_image ports
  mkdir -p "$BASE/proxy" "$RUN"
  proxy_config "$app_port" "$domain" "$email" "$acme_ca" >"$config.new"
  if ! d image inspect "$PROXY_IMAGE" >/dev/null 2>&1; then
    step "Pulling the proxy image $PROXY_IMAGE"
    d pull -q "$PROXY_IMAGE" >/dev/null || die "could not pull $PROXY_IMAGE; check the host's internet access (docker pull $PROXY_IMAGE)"
  fi
  image=$(d image inspect -f '{{.Id}}' "$PROXY_IMAGE")
  running_image=$(d container inspect -f '{{.Image}}' "$PROXY" 2>/dev/null || true)
  if [[ "$running_image" == "$image" ]] && proxy_running; then
    if cmp -s "$config.new" "$config"; then
      rm -f "$config.new"
      return 0
    fi
    # Only settings the proxy accepted replace the file it starts from after a restart.
    step "Reloading the proxy with the new settings"
    d exec "$PROXY" caddy reload --config /etc/caddy/Caddyfile.new --adapter caddyfile >/dev/null 2>"$BASE/proxy/reload.log" ||
      die "the proxy refused the new settings and keeps the old ones: $(tail -n 3 "$BASE/proxy/reload.log")"
    mv "$config.new" "$config"
    return 0
  fi
  mv "$config.new" "$config"
  if [[ -n "$domain" ]]; then ports="ports 80 and 443 for $domain"; else ports="port $app_port"; fi
  if [[ -n "$running_image" ]]; then
    step "Updating the proxy to the current $PROXY_IMAGE (open connections are closed once)"
    d rm -f "$PROXY" >/dev/null
  else
    step "Starting the proxy ($PROXY_IMAGE) on $ports"
  fi
  stop_legacy_app "$app_port" "$domain"
  d run -d --name "$PROXY" --network host --restart unless-stopped \
    --read-only --tmpfs /tmp --cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges \
    -v "$PROXY_DATA_VOLUME:/data" -v "$PROXY_CONFIG_VOLUME:/config" \
    -v "$BASE/proxy:/etc/caddy:ro" -v "$RUN:$SOCKET_DIR_IN_CONTAINER:ro" \
    "$PROXY_IMAGE" caddy run --config /etc/caddy/Caddyfile --adapter caddyfile >/dev/null
  sleep 1
  if ! proxy_running; then
    echo "--- last log lines of the proxy ---" >&2
    d logs --tail 20 "$PROXY" >&2 2>&1 || true
    echo "---" >&2
    die "the proxy did not start (see its log above); is another program listening on $ports?"
  fi
}

# A serving container from before the proxy listens on APP_PORT itself, which the proxy needs: it stops once,
# right before the proxy starts (the only deploy that is not seamless).
stop_legacy_app() {
  if [[ -z "$2" ]] && container_exists "$NAME" && [[ -z "$(serving_slot)" ]]; then
    step "Stopping $(serving_version), which predates the proxy and holds port $1"
    d stop -t 30 "$NAME" >/dev/null
  fi
}

# The certificate the proxy serves for DOMAIN, as curl shows it: subject, issuer and dates. -k because the
# issuer may be a private or test CA this host does not trust; the proxy has checked the chain with the CA.
# The handshake is all that counts: the request itself may time out or fail while no app is switched in yet.
served_certificate() {
  { curl -sS -kv --max-time 3 --resolve "$1:443:127.0.0.1" -o /dev/null "https://$1/health" 2>&1 || true; } |
    sed -n -E 's/^\*  (subject|issuer|expire date|subjectAltName): /\1: /p'
}

# Waits until the proxy serves a certificate for DOMAIN; on failure shows the proxy's own error lines.
wait_for_certificate() {
  local domain=$1 deadline=$((SECONDS + CERTIFICATE_TIMEOUT)) certificate
  step "Waiting up to ${CERTIFICATE_TIMEOUT}s for the certificate of $domain"
  until certificate=$(served_certificate "$domain") && grep -q '^issuer: ' <<<"$certificate"; do
    if ((SECONDS >= deadline)); then
      echo "--- the proxy's log about $domain ---" >&2
      d logs --tail 500 "$PROXY" 2>&1 | grep -iE 'acme|challenge|obtain|certificate' | tail -n 15 >&2 || true
      echo "---" >&2
      die "no certificate for $domain within ${CERTIFICATE_TIMEOUT}s (the proxy's error is above). Check that the DNS A record of $domain points at this host and that the security group allows ports 80 and 443 from anywhere, then deploy again; the proxy keeps trying meanwhile"
    fi
    sleep 1
  done
  sed -n 's/^issuer: /Certificate issued by: /p; s/^expire date: /Certificate expires:   /p' <<<"$certificate"
}

# --- the switch ---------------------------------------------------------------------------------------------

# Starts VERSION as the next container in the slot the serving one does not use, health-gates it on its own
# socket, makes sure the proxy runs, points "current" at the new slot, then stops the old one gracefully.
start_and_switch() {
  local version=$1 app_port=$2 timeout=$3 domain=$4 email=$5 acme_ca=$6 env_file="$BASE/env/$1.env" slot socket deadline ca_mount=()
  [[ -f "$env_file" ]] || die "no settings for $version on the host ($env_file)"
  if [[ -f "$BASE/env/$version-postgres-ca.pem" ]]; then
    ca_mount=(-v "$BASE/env/$version-postgres-ca.pem:$CA_PATH_IN_CONTAINER:ro")
  fi
  d rm -f "$NEXT" >/dev/null 2>&1 || true
  if [[ "$(serving_slot)" == a ]]; then slot=b; else slot=a; fi
  socket=$(slot_socket "$slot")
  # The app's user (uid 1654 in the image) creates its socket here; the folder lies in the deploy user's home.
  install -d -m 1777 "$RUN/$slot"

  step "Starting $version next to the serving version"
  # TRUSTED_PROXIES switches the forwarded headers on; over the socket their only sender is the proxy.
  d run -d --name "$NEXT" --label "message-server.version=$version" --label "message-server.slot=$slot" \
    --network host --restart unless-stopped \
    --env-file "$env_file" \
    -e "SOCKET_PATH=$SOCKET_DIR_IN_CONTAINER/app.sock" -e TRUSTED_PROXIES=127.0.0.1 -e "APP_VERSION=$version" \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    -v "$DATA_VOLUME:/data" -v "$RUN/$slot:$SOCKET_DIR_IN_CONTAINER" "${ca_mount[@]}" \
    --health-interval=5s \
    "$IMAGE:$version" >/dev/null

  step "Waiting up to ${timeout}s for $version to be ready"
  deadline=$((SECONDS + timeout))
  until ask_app "$socket" /ready >/dev/null 2>&1; do
    if [[ "$(d container inspect -f '{{.State.Running}}' "$NEXT" 2>/dev/null)" != true ]] || ((SECONDS >= deadline)); then
      echo "--- last log lines of $version ---" >&2
      d logs --tail 40 "$NEXT" >&2 2>&1 || true
      echo "---" >&2
      d rm -f "$NEXT" >/dev/null 2>&1 || true
      die "$version did not become ready within ${timeout}s (see its log above); the serving version $(serving_version) was not touched"
    fi
    sleep 0.5
  done

  ensure_proxy "$app_port" "$domain" "$email" "$acme_ca"
  if [[ -n "$domain" ]] && ! (wait_for_certificate "$domain"); then
    d rm -f "$NEXT" >/dev/null 2>&1 || true
    die "$version was not switched to; the serving version $(serving_version) was not touched"
  fi

  step "Switching the proxy to $version"
  ln -sfn "$slot" "$RUN/current.new"
  mv -T "$RUN/current.new" "$RUN/current"
  if container_exists "$NAME"; then
    # Requests the proxy sent to the old version just before the switch are read by now; those still running
    # are finished by the graceful stop.
    sleep 1
    step "Stopping $(serving_version) gracefully"
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
  local version=$1 app_port=$2 timeout=$3 holder=$4 domain=$5 email=$6 acme_ca=$7 release="$BASE/releases/$1"
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
  start_and_switch "$version" "$app_port" "$timeout" "$domain" "$email" "$acme_ca"
  prune_releases
}

rollback() {
  local app_port=$1 timeout=$2 holder=$3 domain=$4 email=$5 acme_ca=$6 current previous
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
  start_and_switch "$previous" "$app_port" "$timeout" "$domain" "$email" "$acme_ca"
}

status() {
  local app_port=$1 domain=$2 version socket
  use_docker
  version=$(serving_version)
  if [[ -n "$domain" ]]; then
    echo "URL:        https://$domain"
  else
    echo "URL:        http://<this host>:$app_port"
  fi
  if proxy_running; then
    echo "Proxy:      $(d container inspect -f '{{.Config.Image}} {{.State.Status}} since {{.State.StartedAt}}, restarts {{.RestartCount}}' "$PROXY")"
  else
    echo "Proxy:      not running (run ./deploy.sh)"
  fi
  if [[ -n "$domain" ]]; then
    local certificate
    certificate=$(served_certificate "$domain")
    if grep -q '^issuer: ' <<<"$certificate"; then
      echo "Certificate: issued by $(sed -n 's/^issuer: //p' <<<"$certificate"), expires $(sed -n 's/^expire date: //p' <<<"$certificate")"
    else
      echo "Certificate: none served yet for $domain (see ./deploy.sh logs --proxy)"
    fi
  fi
  if [[ -z "$version" ]]; then
    echo "Serving:    nothing (no $NAME container; run ./deploy.sh)"
  else
    socket=$(slot_socket "$(serving_slot)")
    echo "Serving:    $version"
    echo "Container:  $(d container inspect -f '{{.State.Status}} since {{.State.StartedAt}}, health {{if .State.Health}}{{.State.Health.Status}}{{else}}unknown{{end}}, restarts {{.RestartCount}}' "$NAME")"
    echo "Health:     $(ask_app "$socket" /health 2>&1 || true)"
    echo "Ready:      $(ask_app "$socket" /ready 2>&1 || true)"
  fi
  echo "Releases:   $(d images "$IMAGE" --format '{{.Tag}}' | grep -v '<none>' | sort -r | tr '\n' ' ')"
  if [[ -d "$BASE/lock" ]]; then
    echo "Lock:       held by $(describe_lock)"
  else
    echo "Lock:       free"
  fi
}

logs() {
  local container=$NAME
  if [[ "${1:-}" == --proxy ]]; then
    container=$PROXY
    shift
  fi
  d logs --tail 200 "$@" "$container"
}

main() {
  local command=${1:-}
  shift || true
  case "$command" in
    bootstrap) bootstrap ;;
    deploy) deploy "$@" ;;
    rollback) rollback "$@" ;;
    status) status "$@" ;;
    logs) use_docker; logs "$@" ;;
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
