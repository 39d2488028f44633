# shellcheck shell=bash
# A local stand-in for an EC2 host: a private sshd on a loopback port, the user ec2-user (key-only, in the
# docker group, passwordless sudo) and a key pair made for the test run.

EC2_USER=ec2-user

# Starts the stand-in; sets SSH_DIR, SSH_PORT, SSH_KEY and SSH_PID.
start_ec2_host() {
  local config
  if [[ ! -x /usr/sbin/sshd ]]; then
    echo "OpenSSH server is missing: apt-get install openssh-server sudo" >&2
    return 1
  fi
  if ! id "$EC2_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash --groups docker "$EC2_USER"
  fi
  usermod -aG docker "$EC2_USER"
  echo "$EC2_USER ALL=(ALL) NOPASSWD:ALL" >/etc/sudoers.d/90-message-server-test
  chmod 440 /etc/sudoers.d/90-message-server-test
  SSH_DIR=$(mktemp -d /tmp/ms-ssh-XXXXXX)
  chmod 755 "$SSH_DIR"
  SSH_KEY="$SSH_DIR/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C message-server-test -f "$SSH_KEY"
  ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_key"
  install -d -m 700 -o "$EC2_USER" -g "$EC2_USER" "/home/$EC2_USER/.ssh"
  install -m 600 -o "$EC2_USER" -g "$EC2_USER" "$SSH_KEY.pub" "/home/$EC2_USER/.ssh/authorized_keys"
  config="$SSH_DIR/sshd_config"
  local attempt
  for attempt in 1 2 3; do
    SSH_PORT=$(free_port)
    write_sshd_config "$config"
    mkdir -p /run/sshd
    rm -f "$SSH_DIR/sshd.pid"
    if without_inherited_fds /usr/sbin/sshd -f "$config" -E "$SSH_DIR/sshd.log" && wait_for_sshd; then
      SSH_PID=$(cat "$SSH_DIR/sshd.pid")
      export SSH_DIR SSH_PORT SSH_KEY SSH_PID
      return 0
    fi
    echo "sshd did not start (attempt $attempt):" >&2
    cat "$SSH_DIR/sshd.log" >&2 || true
  done
  return 1
}

wait_for_sshd() {
  local _
  for _ in $(seq 1 40); do
    if [[ -s "$SSH_DIR/sshd.pid" ]] && (: </dev/tcp/127.0.0.1/"$SSH_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}

write_sshd_config() {
  cat >"$1" <<CONFIG
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/host_key
PidFile $SSH_DIR/sshd.pid
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $EC2_USER
UsePAM yes
StrictModes yes
Subsystem sftp /usr/lib/openssh/sftp-server
CONFIG
}

stop_ec2_host() {
  if [[ -n "${SSH_PID:-}" ]]; then
    kill "$SSH_PID" 2>/dev/null || true
  fi
  if [[ -n "${SSH_DIR:-}" ]]; then
    rm -rf "$SSH_DIR"
  fi
  rm -f /etc/sudoers.d/90-message-server-test
}

# Removes what earlier deploys left on the stand-in host: containers, images, volumes (the proxy's
# certificates too), the deploy folder.
reset_ec2_host() {
  docker rm -f message-server message-server-next message-server-proxy >/dev/null 2>&1 || true
  docker volume rm message-server-data message-server-proxy-data message-server-proxy-config >/dev/null 2>&1 || true
  docker images message-server --format '{{.Repository}}:{{.Tag}}' | grep -E ':[0-9]{8}T' | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "/home/$EC2_USER/message-server"
}

# The laptop of the deploy tests: a copy of the working tree in its own git repository (so releases get a git
# sha) with an app env file for the PostgreSQL stand-in, and the settings that reach the stand-in host.
# Sets WORKTREE, DEPLOY_* and APP_PORT.
prepare_laptop() {
  local repo=$1
  export WORKTREE="$BATS_FILE_TMPDIR/laptop"
  mkdir -p "$WORKTREE"
  git -C "$repo" ls-files -co --exclude-standard -z | tar -C "$repo" --null -T - -c | tar -C "$WORKTREE" -x
  git -C "$WORKTREE" init -q
  git -C "$WORKTREE" add -A
  git -C "$WORKTREE" -c user.name=test -c user.email=test@example.com commit -qm "release one"

  # The container shares the host's network, so the RDS stand-in is at 127.0.0.1. The load tests publish
  # from one address at more than the default 50/s.
  install -m 600 /dev/null "$WORKTREE/.env.production"
  cat >"$WORKTREE/.env.production" <<ENV
POSTGRES_HOST=127.0.0.1
POSTGRES_PORT=$PG_PORT
POSTGRES_USER=postgres
POSTGRES_PASSWORD=$PG_PASSWORD
POSTGRES_SSLMODE=disable
RATE_LIMIT_PUBLISHES_PER_SECOND=1000
ENV
  export DEPLOY_HOST=127.0.0.1 DEPLOY_USER=ec2-user DEPLOY_SSH_PORT="$SSH_PORT" DEPLOY_SSH_KEY="$SSH_KEY"
  export DEPLOY_KNOWN_HOSTS="$BATS_FILE_TMPDIR/known_hosts"
  APP_PORT=$(free_port)
  export APP_PORT
}

# The EC2 stand-in is one per machine (the user ec2-user and its home, the containers named message-server*,
# ports 80 and 443), so deploy test files of all checkouts on the machine take turns: each holds this lock from
# its setup_file until its process ends.
DEPLOY_TESTS_LOCK=/var/lock/message-server-deploy-tests.lock

take_turn_on_the_stand_in() {
  exec {DEPLOY_TESTS_LOCK_FD}>>"$DEPLOY_TESTS_LOCK"
  if ! flock -w 1200 "$DEPLOY_TESTS_LOCK_FD"; then
    echo "another checkout's deploy tests held $DEPLOY_TESTS_LOCK for 20 minutes; see who: fuser -v $DEPLOY_TESTS_LOCK" >&2
    return 1
  fi
}

# What the deploy end-to-end tests need on this machine (with docker.bash sourced too): Docker with the base and
# proxy images, the PostgreSQL stand-in for RDS, and a clean EC2 stand-in.
start_deploy_stand_ins() {
  local repo=$1
  take_turn_on_the_stand_in
  ensure_docker
  ensure_base_images "$repo"
  ensure_proxy_image "$repo"
  start_container_postgres
  start_ec2_host
  reset_ec2_host
}

stop_deploy_stand_ins() {
  reset_ec2_host
  stop_ec2_host
  stop_container_postgres
}
