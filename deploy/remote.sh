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

readonly BASE="$HOME/$REMOTE_DIR"
readonly NAME=message-server
readonly NEXT="$NAME-next"
readonly IMAGE=message-server
readonly DATA_VOLUME=message-server-data
readonly KEEP_RELEASES=3
readonly PROXY=message-server-proxy
readonly PROXY_IMAGE=caddy:2
# Certificates and the ACME account: a named volume survives redeploys, proxy updates and reboots.
readonly PROXY_DATA_VOLUME=message-server-proxy-data
readonly PROXY_CONFIG_VOLUME=message-server-proxy-config
readonly RUN="$BASE/run"
readonly SOCKET_DIR_IN_CONTAINER=/run/message-server
readonly CERTIFICATE_TIMEOUT=120
# Uploads of a run that never got to the host's deploy step (cut during the upload) are removed after this long.
readonly ABANDONED_UPLOAD_MINUTES=60

docker_cmd=(docker)

step() {
  echo "==> $*"
}

# A test hook: DEPLOY_TEST_KILL_AT=NAME makes this script SIGKILL itself at the checkpoint NAME, as a cut SSH
# connection or a crash would stop it (tests/deploy/interrupted.bats). Nothing sets it in normal use.
checkpoint() {
  if [[ "${DEPLOY_TEST_KILL_AT:-}" == "$1" ]]; then
    echo "remote.sh: killed at the checkpoint '$1' (DEPLOY_TEST_KILL_AT)" >&2
    kill -9 $$
  fi
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
#
# A lock whose process is gone (a run killed, or its SSH connection cut) is stale, and the next run takes it over
# by itself, saying so: the lock lives on the host and names the process that took it there, so "gone" is a fact,
# not a guess, and making the user type ./deploy.sh unlock after every dropped connection would only teach them to
# unlock without looking. A lock whose process still runs stops the run, naming the holder.

lock_owner=false

# A process as "pid start-time boot-id": a pid is reused in time, this triple is not.
process_identity() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  echo "$1 $(cut -d' ' -f20 <<<"$stat") $(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
}

lock_field() {
  sed -n "s/^$1=//p" "$BASE/lock/info" 2>/dev/null
}

# Whether the process that took the lock still runs (locks written before the identity was recorded: by pid alone).
lock_holder_running() {
  local pid identity
  pid=$(lock_field pid)
  identity=$(lock_field process)
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  [[ -z "$identity" || "$(process_identity "$pid")" == "$identity" ]]
}

describe_lock() {
  local state
  [[ -f "$BASE/lock/info" ]] || { echo "an unknown deploy (no lock details)"; return; }
  if lock_holder_running; then
    state="still running as pid $(lock_field pid)"
  else
    state="STALE: its process $(lock_field pid) is gone, a killed deploy left it"
  fi
  echo "$(lock_field holder) deploying $(lock_field version) since $(lock_field started) ($state)"
}

# Takes the lock, or a stale one over; both under a short flock, so that two runs cannot both take over.
acquire_lock() {
  local holder=$1 version=$2 guard
  mkdir -p "$BASE/state"
  exec {guard}>"$BASE/state/lock.guard"
  flock -w 30 "$guard" || die "could not take $BASE/state/lock.guard within 30s; run ./deploy.sh again"
  if [[ -d "$BASE/lock" ]]; then
    if lock_holder_running; then
      die "the host is locked by $(describe_lock).
  Wait for that deploy to finish. If it hangs, stop it; a lock whose process is gone is taken over by the next run (or release it with: ./deploy.sh unlock)"
    fi
    echo "Taking over the lock of an interrupted run: $(describe_lock)"
    forget_upload "$(lock_field version)"
    rm -rf "$BASE/lock"
  fi
  mkdir "$BASE/lock"
  lock_owner=true
  printf 'holder=%s\nversion=%s\nstarted=%s\npid=%s\nprocess=%s\n' "$holder" "$version" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$(process_identity $$)" >"$BASE/lock/info"
  exec {guard}>&-
}

release_lock() {
  if $lock_owner; then
    rm -rf "$BASE/lock"
    lock_owner=false
  fi
}

# Holds the lock for the rest of this run: released on exit; a hang-up or a stop ends the run through that exit.
lock_for_this_run() {
  acquire_lock "$@"
  trap release_lock EXIT
  trap 'exit 129' HUP
  trap 'exit 143' TERM
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

# A label of a container (version or slot), or nothing when there is no such container.
container_label() {
  d container inspect -f "{{ index .Config.Labels \"message-server.$2\" }}" "$1" 2>/dev/null || true
}

serving_version() {
  container_label "$NAME" version
}

serving_slot() {
  container_label "$NAME" slot
}

# The slot the proxy sends requests to: where "current" points (a or b), nothing before the first switch.
proxied_slot() {
  readlink "$RUN/current" 2>/dev/null || true
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
#
# Every step below may be the last one a run makes (kill -9, a cut SSH connection): "current" always points at a
# version that passed the health gate, and the next run finishes or undoes what the killed one left, starting from
# what "current" points at (finish_interrupted_run). Names and files that exist only between two steps: the
# container $NEXT, the symlink run/current.new, the lock, the uploads env/incoming-* and releases/*.tar.gz.

# The steps of a switch to VERSION, in the manner of Kamal's Boot#run.
start_and_switch() {
  local version=$1 app_port=$2 timeout=$3 domain=$4 email=$5 acme_ca=$6 slot
  slot=$(free_slot)
  start_new_container "$version" "$slot"
  checkpoint started
  wait_until_ready "$version" "$slot" "$timeout"
  checkpoint ready
  ensure_proxy "$app_port" "$domain" "$email" "$acme_ca"
  wait_for_certificate_or_give_up "$version" "$domain"
  switch_proxy_to "$version" "$slot"
  checkpoint switched
  stop_old_container
  name_new_container_serving
  checkpoint renamed
  record_serving_version
}

# The slot the serving version does not use; before any switch, a.
free_slot() {
  local serving
  serving=$(proxied_slot)
  serving=${serving:-$(serving_slot)}
  if [[ "$serving" == a ]]; then echo b; else echo a; fi
}

start_new_container() {
  local version=$1 slot=$2 env_file="$BASE/env/$1.env" ca_mount=()
  [[ -f "$env_file" ]] || die "no settings for $version on the host ($env_file)"
  if [[ -f "$BASE/env/$version-postgres-ca.pem" ]]; then
    ca_mount=(-v "$BASE/env/$version-postgres-ca.pem:$CA_PATH_IN_CONTAINER:ro")
  fi
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
}

# Waits for /ready on the new container's own socket; if it does not come, shows why and removes it.
wait_until_ready() {
  local version=$1 socket deadline
  socket=$(slot_socket "$2")
  step "Waiting up to ${3}s for $version to be ready"
  deadline=$((SECONDS + $3))
  until ask_app "$socket" /ready >/dev/null 2>&1; do
    if [[ "$(d container inspect -f '{{.State.Running}}' "$NEXT" 2>/dev/null)" != true ]] || ((SECONDS >= deadline)); then
      echo "--- last log lines of $version ---" >&2
      d logs --tail 40 "$NEXT" >&2 2>&1 || true
      echo "---" >&2
      d rm -f "$NEXT" >/dev/null 2>&1 || true
      die "$version did not become ready within ${3}s (see its log above); the serving version $(serving_version) was not touched"
    fi
    sleep 0.5
  done
}

wait_for_certificate_or_give_up() {
  local version=$1 domain=$2
  if [[ -n "$domain" ]] && ! (wait_for_certificate "$domain"); then
    d rm -f "$NEXT" >/dev/null 2>&1 || true
    die "$version was not switched to; the serving version $(serving_version) was not touched"
  fi
}

# Points "current" at SLOT in one rename: from that instant the proxy sends every new request there.
switch_proxy_to() {
  step "Switching the proxy to $1"
  ln -sfn "$2" "$RUN/current.new"
  mv -T "$RUN/current.new" "$RUN/current"
}

# Stops the container that served before the switch, once the proxy no longer sends it anything.
stop_old_container() {
  container_exists "$NAME" || return 0
  # Requests the proxy sent to the old version just before the switch are read by now; those still running
  # are finished by the graceful stop.
  sleep 1
  step "Stopping $(serving_version) gracefully"
  d stop -t 30 "$NAME" >/dev/null
  checkpoint stopped
  d rm "$NAME" >/dev/null
  checkpoint removed
}

name_new_container_serving() {
  d rename "$NEXT" "$NAME"
}

# Appends the serving version to state/history (the rollback's memory) unless it is the last line already.
record_serving_version() {
  local version
  version=$(serving_version)
  [[ -n "$version" ]] || return 0
  if [[ "$(tail -n 1 "$BASE/state/history" 2>/dev/null)" != "$version" ]]; then
    echo "$version" >>"$BASE/state/history"
  fi
}

# Brings the host back to one of two clean states after a run that was killed between two steps: what "current"
# points at is serving, since the proxy follows it. A $NEXT container there was switched to: the old one is
# stopped and $NEXT takes the serving name, as the killed run would have done. A $NEXT container elsewhere was
# never switched to and is removed. The container in the proxied slot is never stopped.
finish_interrupted_run() {
  local proxied next_slot
  rm -f "$RUN/current.new"
  proxied=$(proxied_slot)
  if container_exists "$NEXT"; then
    next_slot=$(container_label "$NEXT" slot)
    if [[ -n "$proxied" && "$next_slot" == "$proxied" ]]; then
      step "Finishing the interrupted switch to $(container_label "$NEXT" version)"
      stop_old_container
      name_new_container_serving
    else
      step "Removing $(container_label "$NEXT" version), which an interrupted run started but never switched to"
      d rm -f "$NEXT" >/dev/null
    fi
  fi
  record_serving_version
}

# What a killed run uploaded for VERSION and no run will use (the next run uploads under a new name).
forget_upload() {
  [[ "$1" =~ ^[0-9A-Za-z._-]+$ ]] || return 0
  rm -f "$BASE/env/incoming-$1.env" "$BASE/env/incoming-$1-postgres-ca.pem" "$BASE/releases/$1.tar.gz"
}

# The versions to keep: the serving one and the last KEEP_RELEASES that served (state/history) and still have
# their image; images of versions that never served (an interrupted or failed deploy) are not among them.
kept_versions() {
  local images
  serving_version
  images=$(d images "$IMAGE" --format '{{.Tag}}' | grep -v '<none>' || true)
  tac "$BASE/state/history" 2>/dev/null | awk '!seen[$0]++' | grep -Fx -f <(printf '%s\n' "$images") | head -n "$KEEP_RELEASES" || true
}

# Removes the images, sources, build logs and settings of every version not kept, and uploads a run abandoned.
prune_releases() {
  local keep tag file name
  keep=$(kept_versions)
  for tag in $(d images "$IMAGE" --format '{{.Tag}}' | grep -v '<none>'); do
    if ! grep -qxF "$tag" <<<"$keep"; then
      d rmi "$IMAGE:$tag" >/dev/null 2>&1 || true
      checkpoint pruning
    fi
  done
  for file in "$BASE"/releases/* "$BASE"/env/*; do
    name=${file##*/}
    case "$name" in
      incoming-* | *.tar.gz) continue ;;
    esac
    name=${name%.build.log}
    name=${name%.env}
    name=${name%-postgres-ca.pem}
    if [[ -e "$file" ]] && ! grep -qxF "$name" <<<"$keep"; then
      rm -rf "$file"
    fi
  done
  find "$BASE/releases" "$BASE/env" -maxdepth 1 \( -name 'incoming-*' -o -name '*.tar.gz' \) \
    -mmin "+$ABANDONED_UPLOAD_MINUTES" -delete 2>/dev/null || true
  d image prune -f >/dev/null 2>&1 || true
}

# The uploaded settings become a 0600 file named for the release, the uploaded sources its folder.
unpack_release() {
  local version=$1 release="$BASE/releases/$1"
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
}

build_image() {
  local version=$1 release="$BASE/releases/$1"
  step "Building image $IMAGE:$version"
  if ! d build --force-rm -t "$IMAGE:$version" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$(cut -d- -f2 <<<"$version")" \
    "$release" >"$release.build.log" 2>&1; then
    echo "--- last lines of the build ---" >&2
    tail -n 30 "$release.build.log" >&2
    echo "---" >&2
    die "the image did not build (full log on the host: $release.build.log); the serving version $(serving_version) was not touched"
  fi
}

deploy() {
  local version=$1 app_port=$2 timeout=$3 holder=$4 domain=$5 email=$6 acme_ca=$7
  use_docker
  lock_for_this_run "$holder" "$version"
  checkpoint locked
  finish_interrupted_run
  rm -f "$BASE/state/rollback"
  unpack_release "$version"
  checkpoint unpacked
  build_image "$version"
  checkpoint built
  start_and_switch "$version" "$app_port" "$timeout" "$domain" "$email" "$acme_ca"
  prune_releases
}

# The version served before the serving one (state/history) whose image is still here.
previous_version() {
  local current=$1 version
  [[ -f "$BASE/state/history" ]] || return 0
  grep -vxF "$current" "$BASE/state/history" | tac | while read -r version; do
    if d image inspect "$IMAGE:$version" >/dev/null 2>&1; then
      echo "$version"
      break
    fi
  done
}

# The target is picked under the lock, once an interrupted run is finished, and kept in state/rollback until the
# rollback is done: a rollback run again after it was killed past its switch completes it instead of going back.
rollback() {
  local app_port=$1 timeout=$2 holder=$3 domain=$4 email=$5 acme_ca=$6 current previous
  use_docker
  lock_for_this_run "$holder" "a rollback"
  checkpoint locked
  finish_interrupted_run
  current=$(serving_version)
  previous=$(cat "$BASE/state/rollback" 2>/dev/null || true)
  if [[ -n "$previous" && "$previous" == "$current" ]]; then
    echo "The interrupted rollback to $current is complete."
    rm -f "$BASE/state/rollback"
    return 0
  fi
  previous=$(previous_version "$current")
  [[ -n "$previous" ]] || die "no earlier version to roll back to (kept images: $(d images "$IMAGE" --format '{{.Tag}}' | tr '\n' ' '))"
  echo "$previous" >"$BASE/state/rollback"
  step "Rolling back from ${current:-nothing} to $previous"
  start_and_switch "$previous" "$app_port" "$timeout" "$domain" "$email" "$acme_ca"
  rm -f "$BASE/state/rollback"
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
