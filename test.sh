#!/usr/bin/env bash
# Runs every test of the project and ends with one line: "N passed, N failed" (", N skipped" when any).
# Tests that need PostgreSQL start their own throwaway cluster from the installed server binaries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

passed=0
failed=0
skipped=0
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# Adds the counts from a "dotnet test" run (Microsoft.Testing.Platform summary lines) to the totals.
count_dotnet() {
  local log=$1 suite_passed suite_failed suite_skipped
  suite_passed=$(grep -E '^\s+succeeded: [0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
  suite_failed=$(grep -E '^\s+failed: [0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
  suite_skipped=$(grep -E '^\s+skipped: [0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
  passed=$((passed + suite_passed))
  failed=$((failed + suite_failed))
  skipped=$((skipped + suite_skipped))
}

# Runs a suite with a time limit, its output going to a file that is printed afterwards: a stuck test or a
# process that inherited the output can then cost one suite and one counted failure, never the whole run.
run_suite() {
  local minutes=$1 log=$2 status=0
  shift 2
  timeout --kill-after=30 "$((minutes * 60))" "$@" >"$log" 2>&1 || status=$?
  cat "$log"
  if ((status == 124 || status == 137)); then
    echo "test.sh: stopped after $minutes minutes: $*" | tee -a "$log" >&2
    failed=$((failed + 1))
  fi
  return "$status"
}

run_dotnet_tests() {
  local log="$log_dir/dotnet.log"
  echo "==> dotnet tests (unit, HTTP integration on PostgreSQL and SQLite)"
  if ! run_suite 25 "$log" dotnet test MessageServer.slnx; then
    if ! grep -qE '^\s+total: [0-9]+' "$log"; then
      echo "test.sh: the .NET build or test host failed before any test ran (see above)" >&2
      failed=$((failed + 1))
    fi
  fi
  count_dotnet "$log"
}

# Runs a folder of bats tests (TAP output) and adds its counts to the totals.
run_bats_tests() {
  local name=$1 minutes=$2 folder=$3 log="$log_dir/$1.log"
  echo "==> $name"
  # shellcheck disable=SC2086 # a suite may name several folders and files
  run_suite "$minutes" "$log" bats --tap $folder || true
  passed=$((passed + $(grep -E '^ok [0-9]+' "$log" | grep -vc '# skip' || true)))
  skipped=$((skipped + $(grep -cE '^ok [0-9]+ .*# skip' "$log" || true)))
  failed=$((failed + $(grep -cE '^not ok [0-9]+' "$log" || true)))
  if ! grep -qE '^1\.\.[0-9]+' "$log"; then
    echo "test.sh: $name did not run (is bats installed? apt-get install bats)" >&2
    failed=$((failed + 1))
  fi
}

run_dotnet_tests
# Time limits (minutes) sum to well under CI's 90; a normal run takes a few minutes in all.
run_bats_tests "shell checks (shellcheck, deploy.sh unit tests)" 5 "tests/shell tests/deploy/lib.bats tests/deploy/cli.bats"
run_bats_tests "container tests (Docker image, offline base images, PostgreSQL)" 15 tests/container
run_bats_tests "deploy end-to-end tests (deploy.sh against a local EC2 stand-in, plain, with https via pebble, and killed at each step)" 25 "tests/deploy/deploy.bats tests/deploy/https.bats tests/deploy/interrupted.bats"
run_bats_tests "benchmark harness smoke run (no timing asserted)" 15 tests/bench

summary="$passed passed, $failed failed"
if ((skipped > 0)); then
  summary+=", $skipped skipped"
fi
echo "$summary"
((failed == 0))
