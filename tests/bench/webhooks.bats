#!/usr/bin/env bats
# The webhook benchmark in smoke mode: it must run end to end on both storage modes and report every figure, with
# every delivery in order. No timing is asserted here; performance lives in bench/results.

@test "bench/webhooks.sh --smoke measures delivery throughput and latency on PostgreSQL and SQLite" {
  cd "$BATS_TEST_DIRNAME/../.."
  run bench/webhooks.sh --smoke --output "$BATS_TEST_TMPDIR/results"
  echo "$output"
  [ "$status" -eq 0 ]
  local table="$BATS_TEST_TMPDIR/results/webhooks-latest.md"
  [ -f "$table" ]
  for storage in PostgreSQL SQLite; do
    grep -E "^\| $storage \| [0-9]+ \| [0-9.]+ / [0-9.]+ \| [0-9.]+ \| True \|$" "$table"
  done
}
