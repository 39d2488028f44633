#!/usr/bin/env bats
# A deploy or a rollback killed at any step (kill -9 on the host, as a cut SSH connection or a crash would stop it)
# leaves the site serving, and the next run completes the work: one app container, the expected version, nothing
# left behind. remote.sh kills itself at the named checkpoint when DEPLOY_TEST_KILL_AT is set. The tests run in
# order and share one host (the local EC2 stand-in, as in deploy.bats).

readonly HOST_DIR=/home/ec2-user/message-server
# Every checkpoint of remote.sh, in order; INTERRUPT_DEPLOY_STEPS or INTERRUPT_ROLLBACK_STEPS run a subset while
# working on one (pruning needs three served releases before it: put two other steps first).
readonly DEPLOY_STEPS=${INTERRUPT_DEPLOY_STEPS:-locked unpacked built started ready switched stopped removed renamed pruning}
readonly ROLLBACK_STEPS=${INTERRUPT_ROLLBACK_STEPS:-locked started ready switched stopped removed renamed}

setup_file() {
  REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export REPO
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/ec2_host.bash"
  start_deploy_stand_ins "$REPO"
  prepare_laptop "$REPO"
}

teardown_file() {
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/ec2_host.bash"
  stop_deploy_stand_ins
}

setup() {
  BASE="http://127.0.0.1:$APP_PORT"
  cd "$WORKTREE" || return 1
}

teardown() {
  if [[ -n "${prober:-}" ]]; then
    touch "$BATS_TEST_TMPDIR/probes.stop"
    wait "$prober" || true
  fi
}

serving_version() {
  curl -fsS --max-time 3 "$BASE/health" | sed -E 's/.*"version":"([^"]*)".*/\1/'
}

# Asks /health through the proxy, one request after another, until stopped: one line per answer, "ok VERSION"
# or "failed".
start_prober() {
  local log="$BATS_TEST_TMPDIR/probes"
  rm -f "$log.stop"
  (
    while [[ ! -f "$log.stop" ]]; do
      if answer=$(curl -fsS --max-time 10 "$BASE/health" 2>/dev/null); then
        echo "ok $(sed -E 's/.*"version":"([^"]*)".*/\1/' <<<"$answer")"
      else
        echo failed
      fi
      sleep 0.05
    done
  ) >"$log" 3>&- &
  prober=$!
}

stop_prober() {
  touch "$BATS_TEST_TMPDIR/probes.stop"
  wait "$prober"
  prober=""
  echo "probes: $(grep -c '^ok' "$BATS_TEST_TMPDIR/probes") answered, $(grep -c '^failed' "$BATS_TEST_TMPDIR/probes" || true) failed"
  [ "$(grep -c '^ok' "$BATS_TEST_TMPDIR/probes")" -gt 10 ]
  ! grep -q '^failed' "$BATS_TEST_TMPDIR/probes"
}

# The full id of the app container in the slot "current" points at: the one the proxy sends requests to.
proxied_container() {
  docker ps -q --no-trunc --filter "label=message-server.slot=$(readlink "$HOST_DIR/run/current")"
}

# The version a rollback from CURRENT goes to: the last other version in the history whose image is kept.
rollback_target() {
  local version
  grep -vxF "$1" "$HOST_DIR/state/history" | tac | while read -r version; do
    if docker image inspect "message-server:$version" >/dev/null 2>&1; then
      echo "$version"
      break
    fi
  done
}

# One app container, running, named message-server, in the proxied slot, serving EXPECTED, recorded last in the
# history; no temporary name, symlink, lock or upload left; images, sources and settings only of kept versions,
# and only of versions that served.
assert_clean_host() {
  local expected=$1 tag file name
  [ "$(serving_version)" = "$expected" ]
  [ "$(docker ps -a -q --filter label=message-server.version | wc -l)" -eq 1 ]
  [ "$(docker inspect -f '{{.State.Running}} {{index .Config.Labels "message-server.version"}} {{index .Config.Labels "message-server.slot"}}' message-server)" = "true $expected $(readlink "$HOST_DIR/run/current")" ]
  run docker container inspect message-server-next
  [ "$status" -ne 0 ]
  [ ! -e "$HOST_DIR/run/current.new" ]
  [ ! -e "$HOST_DIR/lock" ]
  [ ! -e "$HOST_DIR/state/rollback" ]
  [ -z "$(find "$HOST_DIR/env" "$HOST_DIR/releases" -maxdepth 1 \( -name 'incoming-*' -o -name '*.tar.gz' \))" ]
  [ "$(tail -n 1 "$HOST_DIR/state/history")" = "$expected" ]
  for tag in $(docker images message-server --format '{{.Tag}}' | grep -E '^[0-9]{8}T'); do
    grep -qxF "$tag" "$HOST_DIR/state/history"
  done
  for file in "$HOST_DIR"/releases/* "$HOST_DIR"/env/*; do
    name=${file##*/}
    name=${name%.build.log}
    name=${name%.env}
    name=${name%-postgres-ca.pem}
    docker image inspect "message-server:$name" >/dev/null
  done
}

# Runs ./deploy.sh COMMAND killed on the host at STEP, then again in full, under a prober; checks the site
# answered all along, the container that served when the first run died was never killed hard (SIGKILL: removed
# while live) and the host ends clean, serving EXPECTED (the version the second run deployed when empty).
interrupt_then_run_again() {
  local command=$1 step=$2 expected=${3:-} since live signals
  echo "# $command killed at $step" >&3
  since=$(date +%s)
  start_prober
  DEPLOY_TEST_KILL_AT=$step run ./deploy.sh "$command"
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *"killed at the checkpoint '$step'"* ]]
  curl -fsS --max-time 3 -o /dev/null "$BASE/health"
  live=$(proxied_container)
  [ -n "$live" ]
  # Release names have one-second resolution: the next run's must differ.
  sleep 1
  run ./deploy.sh "$command"
  echo "$output"
  [ "$status" -eq 0 ]
  stop_prober
  signals=$(docker events --since "$since" --until "$(date +%s)" --filter "container=$live" --filter event=kill --format '{{index .Actor.Attributes "signal"}}')
  echo "signals sent to the container that served when the run died: ${signals:-none}"
  [[ " $(tr '\n' ' ' <<<"$signals") " != *" 9 "* ]]
  if [[ -z "$expected" ]]; then
    expected=$(sed -n -E 's/^Deployed ([^:]+): .*/\1/p' <<<"$output")
  fi
  assert_clean_host "$expected"
}

@test "the first deploy serves" {
  run ./deploy.sh
  echo "$output"
  [ "$status" -eq 0 ]
  assert_clean_host "$(serving_version)"
}

@test "a deploy killed at any step keeps the site serving, and the next deploy completes cleanly" {
  local step
  for step in $DEPLOY_STEPS; do
    interrupt_then_run_again deploy "$step"
  done
}

@test "a rollback killed at any step keeps the site serving, and the next rollback completes it once" {
  local step target
  for step in $ROLLBACK_STEPS; do
    target=$(rollback_target "$(serving_version)")
    [ -n "$target" ]
    interrupt_then_run_again rollback "$step" "$target"
  done
}
