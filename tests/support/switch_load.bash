# shellcheck shell=bash
# Deploys while switch_load.py sends a never-retrying keep-alive load and holds stream subscribers (see there).

# Runs ./deploy.sh (in the current folder) under load on URL; extra arguments go to switch_load.py.
# Leaves the deploy's status and output in $status and $output (as bats's run does) and the load's JSON
# summary in $LOAD_RESULT.
deploy_under_load() {
  local url=$1 work load _
  shift
  work=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/switch-load.XXXXXX")
  python3 "$(dirname "${BASH_SOURCE[0]}")/switch_load.py" --url "$url" --stop-file "$work/stop" \
    --ready-file "$work/ready" "$@" >"$work/result.json" 2>"$work/errors.log" &
  load=$!
  for _ in $(seq 1 240); do
    [[ -f "$work/ready" ]] && break
    sleep 0.25
  done
  # A moment of load before the deploy starts and after it ends: the switch falls well inside it.
  sleep 1
  run ./deploy.sh
  sleep 2
  touch "$work/stop"
  wait "$load" || true
  LOAD_RESULT=$(cat "$work/result.json" "$work/errors.log")
  echo "# load: $LOAD_RESULT" >&3
}

# One field of $LOAD_RESULT.
load_result() {
  python3 -c 'import json, sys; print(json.loads(sys.argv[1].splitlines()[0])[sys.argv[2]])' "$LOAD_RESULT" "$1"
}

# Checks the load saw no failure, was a real load (at least 3,000 requests: a count, not a rate, so a busy machine
# that slows the deploy does not fail it), both versions, and every subscriber ending with every acknowledged
# message exactly once after resuming on the new version.
assert_switch_unnoticed() {
  local before=$1 after=$2
  echo "$LOAD_RESULT"
  [ "$(load_result failed)" -eq 0 ]
  [ "$(load_result requests)" -ge 3000 ]
  [ "$(load_result messages)" -gt 100 ]
  [ "$(load_result subscribers_exact)" -eq 50 ]
  [ "$(load_result subscribers_resumed)" -eq 50 ]
  load_result versions | grep -qF "'$before'"
  load_result versions | grep -qF "'$after'"
}
