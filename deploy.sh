#!/usr/bin/env bash
# Deploys message-server from this machine to an EC2 host (Amazon Linux 2023, Debian or Ubuntu) over SSH/scp:
# the host builds the image and switches to the new container with no failed request, behind a front proxy
# (Caddy) that serves https://DEPLOY_DOMAIN with an automatic certificate, or plain HTTP on APP_PORT.
# Run ./deploy.sh help for the commands and settings.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
source "$repo/deploy/lib.sh"

readonly SETTINGS="DEPLOY_HOST DEPLOY_USER DEPLOY_SSH_PORT DEPLOY_SSH_KEY DEPLOY_KNOWN_HOSTS APP_ENV_FILE APP_PORT DEPLOY_READY_TIMEOUT DEPLOY_DOMAIN ACME_EMAIL ACME_CA ACME_CA_ROOT"
readonly LETS_ENCRYPT=https://acme-v02.api.letsencrypt.org/directory

usage() {
  cat <<'USAGE'
Usage: ./deploy.sh [command]

Commands:
  deploy            (default) upload this working tree, build it on the host, switch to it once ready
  status            the URL, the certificate, the version serving, its health and uptime, the kept releases, the lock
  logs [--proxy] [-f]  the serving container's log, or the proxy's (-f follows it)
  rollback          switch back to the previous release, with the same health gate
  exec -- CMD...    run a command in the serving container, e.g. exec -- dotnet MessageServer.dll healthcheck
  ssh               open a shell on the host
  unlock            release the deploy lock (one whose process is gone is taken over by the next run anyway)
  help              this text

Settings come from the environment, else from deploy.env next to this script (see deploy.env.example):
  DEPLOY_HOST           the EC2 public IP or DNS name (required)
  DEPLOY_USER           SSH user (default ec2-user)
  DEPLOY_SSH_PORT       SSH port (default 22)
  DEPLOY_SSH_KEY        the .pem key file (optional when ssh-agent or ~/.ssh/config provide one)
  DEPLOY_KNOWN_HOSTS    known_hosts file (default ~/.ssh/known_hosts)
  APP_ENV_FILE          the container's settings: POSTGRES_HOST, POSTGRES_USER, ... (default .env.production)
  APP_PORT              the port the app answers on without a domain (default 5002)
  DEPLOY_READY_TIMEOUT  seconds to wait for the new version to be ready (default 60)
  DEPLOY_DOMAIN         serve https://DEPLOY_DOMAIN (its DNS A record must point at the host; ports 80 and 443 open)
                        with a certificate from ACME; unset: plain HTTP on APP_PORT
  ACME_EMAIL            optional contact address for the certificate authority (expiry warnings)
  ACME_CA               the ACME directory URL (default Let's Encrypt, $LETS_ENCRYPT;
                        staging for trials: https://acme-staging-v02.api.letsencrypt.org/directory)
  ACME_CA_ROOT          PEM file on this machine the proxy trusts for a private or test ACME server
USAGE
}

# A host name made of DNS labels, at least two of them, not an address or a URL: what an A record and a
# certificate can name.
valid_domain() {
  [[ ${#1} -le 253 && "$1" =~ ^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]]
}

load_deploy_settings() {
  load_settings_file "$repo/deploy.env" "$SETTINGS"
  DEPLOY_USER=${DEPLOY_USER:-ec2-user}
  DEPLOY_SSH_PORT=${DEPLOY_SSH_PORT:-22}
  DEPLOY_SSH_KEY=${DEPLOY_SSH_KEY:-}
  DEPLOY_KNOWN_HOSTS=${DEPLOY_KNOWN_HOSTS:-}
  APP_ENV_FILE=${APP_ENV_FILE:-.env.production}
  APP_PORT=${APP_PORT:-5002}
  DEPLOY_READY_TIMEOUT=${DEPLOY_READY_TIMEOUT:-60}
  DEPLOY_DOMAIN=${DEPLOY_DOMAIN:-}
  ACME_EMAIL=${ACME_EMAIL:-}
  ACME_CA=${ACME_CA:-$LETS_ENCRYPT}
  ACME_CA_ROOT=$(expand_home "${ACME_CA_ROOT:-}")
  [[ -n "${DEPLOY_HOST:-}" ]] || die "DEPLOY_HOST is not set: put DEPLOY_HOST=<your EC2 public IP or DNS name> in deploy.env (copy deploy.env.example) or the environment"
  [[ "$DEPLOY_SSH_PORT" =~ ^[0-9]+$ ]] || die "DEPLOY_SSH_PORT must be a port number, got '$DEPLOY_SSH_PORT'"
  if [[ ! "$APP_PORT" =~ ^[0-9]+$ ]] || ((APP_PORT < 1 || APP_PORT > 65535)); then
    die "APP_PORT must be a port number from 1 to 65535, got '$APP_PORT'"
  fi
  [[ "$DEPLOY_READY_TIMEOUT" =~ ^[0-9]+$ ]] || die "DEPLOY_READY_TIMEOUT must be a number of seconds, got '$DEPLOY_READY_TIMEOUT'"
  if [[ -n "$DEPLOY_DOMAIN" ]] && ! valid_domain "$DEPLOY_DOMAIN"; then
    die "DEPLOY_DOMAIN must be a DNS name like messages.example.com (no https://, no port, no IP address), got '$DEPLOY_DOMAIN'"
  fi
  [[ -z "$ACME_EMAIL" || "$ACME_EMAIL" =~ ^[^@[:space:]]+@[^@[:space:]]+$ ]] || die "ACME_EMAIL must be an e-mail address, got '$ACME_EMAIL'"
  [[ "$ACME_CA" =~ ^https://[^[:space:]]+$ ]] || die "ACME_CA must be the https:// URL of an ACME directory (e.g. $LETS_ENCRYPT), got '$ACME_CA'"
  if [[ -n "$ACME_CA_ROOT" ]] && ! grep -q -- '-----BEGIN CERTIFICATE-----' "$ACME_CA_ROOT" 2>/dev/null; then
    die "ACME_CA_ROOT must be a PEM certificate file on this machine, got '$ACME_CA_ROOT'"
  fi
  DEPLOY_SSH_KEY=$(expand_home "$DEPLOY_SSH_KEY")
  DEPLOY_KNOWN_HOSTS=$(expand_home "$DEPLOY_KNOWN_HOSTS")
  APP_ENV_FILE=$(expand_home "$APP_ENV_FILE")
  if [[ "$APP_ENV_FILE" != /* ]]; then
    APP_ENV_FILE="$repo/$APP_ENV_FILE"
  fi
}

step_number=0
step() {
  step_number=$((step_number + 1))
  echo "[$step_number] $* ($((SECONDS))s)"
}

# --- preflight ----------------------------------------------------------------------------------------------

check_key_file() {
  local mode
  [[ -z "$DEPLOY_SSH_KEY" ]] && return 0
  [[ -f "$DEPLOY_SSH_KEY" ]] || die "DEPLOY_SSH_KEY points to '$DEPLOY_SSH_KEY', which does not exist"
  mode=$(stat -c %a "$DEPLOY_SSH_KEY" 2>/dev/null || stat -f %Lp "$DEPLOY_SSH_KEY")
  if [[ "$mode" != 600 && "$mode" != 400 ]]; then
    die "the key $DEPLOY_SSH_KEY has mode $mode; ssh refuses keys others can read: chmod 600 '$DEPLOY_SSH_KEY'"
  fi
}

check_env_file() {
  local name value missing=()
  [[ -f "$APP_ENV_FILE" ]] || die "the app settings file $APP_ENV_FILE does not exist: create it with POSTGRES_HOST, POSTGRES_USER, POSTGRES_PASSWORD (see the README, 'Deploy to EC2')"
  for name in POSTGRES_HOST POSTGRES_USER POSTGRES_PASSWORD; do
    value=$(env_file_value "$APP_ENV_FILE" "$name")
    [[ -n "$value" ]] || missing+=("$name")
  done
  ((${#missing[@]} == 0)) || die "$APP_ENV_FILE lacks ${missing[*]}: the container needs them to reach the database"
  value=$(env_file_value "$APP_ENV_FILE" POSTGRES_SSLROOTCERT)
  if [[ -n "$value" && ! -f "$value" && "$value" != "$CA_PATH_IN_CONTAINER" ]]; then
    die "POSTGRES_SSLROOTCERT in $APP_ENV_FILE points to '$value', which does not exist on this machine (download the RDS CA bundle there)"
  fi
}

preflight() {
  local tool
  for tool in ssh scp tar ssh-keygen; do
    command -v "$tool" >/dev/null || die "$tool is missing on this machine: install OpenSSH client tools and tar"
  done
  [[ -f "$repo/Dockerfile" ]] || die "no Dockerfile in $repo: run ./deploy.sh from the message-server checkout"
  check_key_file
  check_env_file
}

# --- SSH: one multiplexed connection for the whole run ------------------------------------------------------

control_dir=""
common_options=()

close_connection() {
  if [[ -n "$control_dir" ]]; then
    ssh "${common_options[@]}" -p "$DEPLOY_SSH_PORT" -O exit "$DEPLOY_USER@$DEPLOY_HOST" >/dev/null 2>&1 || true
    rm -rf "$control_dir"
  fi
}

known_hosts_file() {
  echo "${DEPLOY_KNOWN_HOSTS:-$HOME/.ssh/known_hosts}"
}

host_key_name() {
  if [[ "$DEPLOY_SSH_PORT" == 22 ]]; then echo "$DEPLOY_HOST"; else echo "[$DEPLOY_HOST]:$DEPLOY_SSH_PORT"; fi
}

connect() {
  local known first_time=false errors
  control_dir=$(mktemp -d "${TMPDIR:-/tmp}/msd.XXXXXX")
  trap close_connection EXIT
  # accept-new records a first-ever host key and refuses a changed one; never StrictHostKeyChecking=no.
  common_options=(-o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
    -o ControlMaster=auto -o "ControlPath=$control_dir/%C" -o ControlPersist=300 -o StrictHostKeyChecking=accept-new)
  if [[ -n "$DEPLOY_SSH_KEY" ]]; then
    common_options+=(-i "$DEPLOY_SSH_KEY" -o IdentitiesOnly=yes)
  fi
  if [[ -n "$DEPLOY_KNOWN_HOSTS" ]]; then
    common_options+=(-o "UserKnownHostsFile=$DEPLOY_KNOWN_HOSTS")
  fi
  known=$(known_hosts_file)
  if ! ssh-keygen -F "$(host_key_name)" -f "$known" >/dev/null 2>&1; then
    first_time=true
    echo "First connection to $(host_key_name): its host key will be recorded in $known (accept-new)."
  fi
  if ! errors=$(ssh "${common_options[@]}" -p "$DEPLOY_SSH_PORT" "$DEPLOY_USER@$DEPLOY_HOST" true 2>&1); then
    if grep -q "HOST IDENTIFICATION HAS CHANGED\|Host key verification failed" <<<"$errors"; then
      die "the host key of $(host_key_name) differs from the one recorded in $known. If you replaced the instance (a new EC2 instance at the same address has a new key), remove the old key with: ssh-keygen -R '$(host_key_name)' -f '$known' and deploy again. If not, stop: someone may be intercepting the connection."
    fi
    die "cannot connect to $DEPLOY_USER@$(host_key_name): ${errors##*$'\n'}
  Check DEPLOY_HOST, DEPLOY_USER, DEPLOY_SSH_KEY, and that the security group allows port $DEPLOY_SSH_PORT from your address."
  fi
  if $first_time; then
    echo "Recorded host key: $(ssh-keygen -l -F "$(host_key_name)" -f "$known" 2>/dev/null | awk '!/^#/ {print $2, $3}' | head -n 1)"
  fi
}

remote() {
  ssh "${common_options[@]}" -p "$DEPLOY_SSH_PORT" "$DEPLOY_USER@$DEPLOY_HOST" "$@"
}

upload() {
  scp -q "${common_options[@]}" -P "$DEPLOY_SSH_PORT" "$@"
}

# Runs a host command of deploy/remote.sh; arguments are quoted for the remote shell. DEPLOY_TEST_KILL_AT, a test
# hook (see checkpoint in remote.sh), goes along when it is set.
host() {
  remote "${DEPLOY_TEST_KILL_AT:+DEPLOY_TEST_KILL_AT=$(printf '%q' "$DEPLOY_TEST_KILL_AT") }bash $REMOTE_DIR/bin/remote.sh $(printf '%q ' "$@")"
}

upload_host_scripts() {
  remote "mkdir -p $REMOTE_DIR/bin $REMOTE_DIR/releases $REMOTE_DIR/proxy && install -d -m 700 $REMOTE_DIR/env"
  upload "$repo/deploy/remote.sh" "$repo/deploy/lib.sh" "$DEPLOY_USER@$DEPLOY_HOST:$REMOTE_DIR/bin/"
}

# The CA the proxy trusts for the ACME server itself lives next to its configuration; none means the system's.
upload_acme_ca_root() {
  if [[ -n "$ACME_CA_ROOT" ]]; then
    upload "$ACME_CA_ROOT" "$DEPLOY_USER@$DEPLOY_HOST:$REMOTE_DIR/proxy/acme-ca-root.pem"
  else
    remote "rm -f $REMOTE_DIR/proxy/acme-ca-root.pem"
  fi
}

# The address clients use: https on the domain, else plain HTTP on the host's APP_PORT.
public_url() {
  if [[ -n "$DEPLOY_DOMAIN" ]]; then echo "https://$DEPLOY_DOMAIN"; else echo "http://$DEPLOY_HOST:$APP_PORT"; fi
}

# --- deploy -------------------------------------------------------------------------------------------------

# The working tree as git sees it (tracked plus untracked, never git-ignored files), minus anything that
# looks like a secret even if it is not ignored; outside git, the tree minus build output and secrets.
release_files() {
  if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$repo" ls-files --cached --others --exclude-standard -z | tr '\0' '\n'
  else
    (cd "$repo" && find . -type f -not -path './.git/*' -not -path '*/bin/*' -not -path '*/obj/*' -not -path './data/*' | sed 's|^\./||')
  fi | grep -vE '(^|/)(\.env[^/]*|deploy\.env|[^/]*\.pem|[^/]*\.key|id_[a-z0-9]+)$' |
    while IFS= read -r file; do [[ -f "$repo/$file" ]] && echo "$file"; done
}

# The env file as the container will see it: a CA bundle path on this machine becomes the path it is mounted at.
prepare_env_file() {
  local out=$1 ca
  ca=$(env_file_value "$APP_ENV_FILE" POSTGRES_SSLROOTCERT)
  (umask 077 && grep -vE '^[[:space:]]*(export[[:space:]]+)?POSTGRES_SSLROOTCERT=' "$APP_ENV_FILE" >"$out")
  if [[ -n "$ca" ]]; then
    echo "POSTGRES_SSLROOTCERT=$CA_PATH_IN_CONTAINER" >>"$out"
  fi
}

deploy() {
  local version work ca
  step "Preflight checks"
  preflight
  version=$(release_version "$repo")
  echo "Release $version -> $DEPLOY_USER@$DEPLOY_HOST, serving $(public_url)"

  step "Connecting to $DEPLOY_HOST (one multiplexed SSH connection)"
  connect

  step "Preparing the host (Docker, docker group, directories)"
  upload_host_scripts
  host bootstrap

  step "Uploading the working tree and settings"
  work="$control_dir/upload"
  mkdir -p "$work"
  release_files >"$work/files"
  tar -czf "$work/release.tar.gz" -C "$repo" -T "$work/files"
  prepare_env_file "$work/app.env"
  upload "$work/release.tar.gz" "$DEPLOY_USER@$DEPLOY_HOST:$REMOTE_DIR/releases/$version.tar.gz"
  upload "$work/app.env" "$DEPLOY_USER@$DEPLOY_HOST:$REMOTE_DIR/env/incoming-$version.env"
  ca=$(env_file_value "$APP_ENV_FILE" POSTGRES_SSLROOTCERT)
  if [[ -n "$ca" && -f "$ca" ]]; then
    upload "$ca" "$DEPLOY_USER@$DEPLOY_HOST:$REMOTE_DIR/env/incoming-$version-postgres-ca.pem"
  fi
  upload_acme_ca_root
  remote "chmod 600 $REMOTE_DIR/env/incoming-$version.env"
  rm -f "$work/app.env"
  echo "$(wc -l <"$work/files") files, $(du -h "$work/release.tar.gz" | cut -f1) compressed"

  step "Building and switching on the host"
  host deploy "$version" "$APP_PORT" "$DEPLOY_READY_TIMEOUT" "${USER:-someone}@$(hostname)" "$DEPLOY_DOMAIN" "$ACME_EMAIL" "$ACME_CA"

  echo "Deployed $version: $(public_url) (took ${SECONDS}s)"
}

main() {
  local command=${1:-deploy}
  shift || true
  case "$command" in
    help | -h | --help) usage; return 0 ;;
    deploy | status | logs | rollback | exec | ssh | unlock) ;;
    *) usage >&2; die "unknown command '$command'" ;;
  esac
  load_deploy_settings
  case "$command" in
    deploy) deploy ;;
    rollback)
      connect
      upload_host_scripts
      upload_acme_ca_root
      host rollback "$APP_PORT" "$DEPLOY_READY_TIMEOUT" "${USER:-someone}@$(hostname)" "$DEPLOY_DOMAIN" "$ACME_EMAIL" "$ACME_CA"
      echo "Rolled back: $(public_url) (took ${SECONDS}s)"
      ;;
    status | unlock)
      connect
      upload_host_scripts
      if [[ "$command" == status ]]; then host status "$APP_PORT" "$DEPLOY_DOMAIN"; else host unlock; fi
      ;;
    logs)
      connect
      upload_host_scripts
      host logs "$@"
      ;;
    exec)
      [[ "${1:-}" == -- ]] && shift
      (($# > 0)) || die "exec needs a command: ./deploy.sh exec -- dotnet MessageServer.dll healthcheck"
      connect
      upload_host_scripts
      host exec -- "$@"
      ;;
    ssh)
      connect
      echo "You are now on the EC2 host as $DEPLOY_USER (exit to come back). Inside the container: docker exec -it message-server sh"
      ssh "${common_options[@]}" -p "$DEPLOY_SSH_PORT" -t "$DEPLOY_USER@$DEPLOY_HOST"
      ;;
  esac
}

main "$@"
