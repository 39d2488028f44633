#!/usr/bin/env bats
# The benchmark harness in smoke mode (a few seconds per figure): it must run end to end and report every
# figure. No timing is asserted here; performance lives in bench/results.

@test "bench/run.sh --smoke measures every figure against its reference" {
  cd "$BATS_TEST_DIRNAME/../.."
  run bench/run.sh --smoke --output "$BATS_TEST_TMPDIR/results"
  echo "$output"
  [ "$status" -eq 0 ]
  local table="$BATS_TEST_TMPDIR/results/latest.md"
  [ -f "$table" ]
  for figure in "Publish (req/s)" "Latest-50 read (req/s)" "Fan-out p99" "Fan-out delivered" "Memory per idle subscriber" "Cross-instance p99" "Start-up to ready, SQLite" "Start-up to ready, PostgreSQL" "Fan-out p99 vs nginx + nchan" "Memory per idle subscriber vs nchan"; do
    grep -F "| $figure" "$table" | grep -qE '\| [0-9]+(\.[0-9]+)? '
  done
  grep -qE 'pgbench INSERT [0-9]+ tps' "$table"
  grep -qE 'nginx static [0-9]+ req/s' "$table"
  grep -qE 'nchan, [12] worker\(s\): p99 [0-9.]+' "$table"
  # Over h2c too, for both servers, and the many-subscriber figure beside nchan's.
  grep -qE '\| Fan-out p99 \(ms\), [0-9]+ subscribers over h2c \| [0-9.]+ ' "$table"
  grep -qE 'h2c: [0-9.]+ / [0-9.]+ / [0-9.]+' "$table"
  grep -qE '\| Fan-out p50 / p99 \(ms\), [0-9]+ subscribers over h2c \| [0-9.]+ / [0-9.]+ .*nchan 2 workers, h2c: [0-9.]+ / [0-9.]+' "$table"
}

@test "bench/run.sh --search --smoke measures search and publishing with and without the index on both stores" {
  cd "$BATS_TEST_DIRNAME/../.."
  run bench/run.sh --search --smoke --output "$BATS_TEST_TMPDIR/results"
  echo "$output"
  [ "$status" -eq 0 ]
  local table="$BATS_TEST_TMPDIR/results/search-latest.md"
  [ -f "$table" ]
  for store in postgres sqlite; do
    for figure in "rare word, 1 matches (req/s)" "rare word p99 (ms)" "common word, ≥ 200 matches (req/s)" "publish with the index (req/s)" "start-up until the existing messages are indexed (s)"; do
      grep -F "| Search, $store: $figure" "$table" | grep -qE '\| [0-9]+(\.[0-9]+)? '
    done
    grep -F "| Search, $store: publish with the index (req/s)" "$table" | grep -qE 'without [0-9]+ req/s'
  done
}
