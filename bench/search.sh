# The search benchmark, run by `bench/run.sh --search [--smoke]` (this file is sourced by it and uses its helpers).
# For each store (PostgreSQL, SQLite): 1,000,000 messages in 1,000 topics (2,000 in 10 topics with --smoke); a
# search for a rare and for a common word at 16 connections (wrk); and the publish rate without the search index
# and then with it, in the same run on the same data. Writes bench/results/search-<date>.md and search-latest.md.
# shellcheck shell=bash
# shellcheck disable=SC2154 # repo, work, seconds, warmup, smoke, output, pids and pg_port are bench/run.sh's

search_rare_word=kumquat
search_common_word=status

# Message number $1 (an SQL integer expression) as the SQL values of (topic, author, text), written in the SQL
# that PostgreSQL and SQLite share, so both stores hold exactly the same messages. A text has 12 words drawn
# from 5,003 (each word is in about 0.24% of the messages), the common word in every 5th message and the rare
# word in 10 of a million.
search_message_sql() {
  local i=$1 text="'note'" multiplier
  for multiplier in 7919 104729 15485863 32452843 49979687 67867967 86028121 104395301 122949823 141650939 160481183 179424673; do
    text+=" || ' w' || ((($i * $multiplier) % 1000003) % 5003)"
  done
  text+=" || CASE WHEN $i % 5 = 0 THEN ' $search_common_word' ELSE '' END"
  text+=" || CASE WHEN $i % 100000 = 7 THEN ' $search_rare_word' ELSE '' END"
  echo "'topic-' || ($i % $search_topics), 'author-' || ($i % 97), $text"
}

# Runs SQL on the benchmark's SQLite file (given on stdin: a script may begin with a "--" comment).
sqlite_run() {
  sqlite3 -bail -cmd ".timeout 30000" "$search_sqlite_path" <<<"$1"
}

# Starts the server on $1 with the store $2 (postgres or sqlite); sets server_pid.
start_search_server() {
  local port=$1 store=$2 storage=()
  if [[ "$store" == postgres ]]; then
    storage=(POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$pg_port" POSTGRES_USER=postgres POSTGRES_PASSWORD=unused
      POSTGRES_DB=server POSTGRES_SSLMODE=disable)
  else
    storage=(SQLITE_PATH="$search_sqlite_path")
  fi
  (cd "$work/server" && exec env PORT="$port" "${storage[@]}" RATE_LIMIT=off Logging__LogLevel__Default=Warning \
    Logging__LogLevel__MessageServer.Search=Information dotnet MessageServer.dll) >>"$work/search-$store.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}

stop_search_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
}

# Takes the store back to before migration 0005 (no search), fills it with the benchmark's messages, and reports
# how long the filling took (seconds).
seed_store() {
  local store=$1 started
  started=$(date +%s.%N)
  if [[ "$store" == postgres ]]; then
    psql_run server "DROP FUNCTION message_search_term, message_search_document, message_search_fold CASCADE;
      DROP EXTENSION unaccent; DELETE FROM schemaversions WHERE scriptname LIKE '%.0005_%'"
    psql_run server "INSERT INTO messages (topic, author, text)
      SELECT $(search_message_sql "i::bigint") FROM generate_series(1, $search_messages) AS s(i)"
    psql_run server "VACUUM ANALYZE messages"
  else
    sqlite_run "DROP TRIGGER messages_search_after_insert; DROP TRIGGER messages_search_after_delete;
      DROP TRIGGER messages_search_after_update; DROP TABLE messages_search;
      DELETE FROM SchemaVersions WHERE ScriptName LIKE '%.0005_%';
      WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $search_messages)
      INSERT INTO messages (topic, author, text, created_at_us) SELECT $(search_message_sql i), $(date +%s)000000 FROM s;
      ANALYZE;"
  fi
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# Waits until search is fully in place after a start at $3 (date +%s.%N) and prints the seconds since: SQLite
# migrates (FTS5 indexes every stored message) before it is ready; PostgreSQL is ready at once and builds its
# index concurrently in the background.
index_existing_messages() {
  local store=$1 port=$2 started=$3 _
  wait_ready "$port" 18000
  if [[ "$store" == postgres ]]; then
    for _ in $(seq 1 18000); do
      [[ $(psql_run server "SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('messages_search')), false)") == t ]] && break
      sleep 0.1
    done
    # The server analyses the table after building; wait for that too (its log line).
    for _ in $(seq 1 600); do
      grep -q "Search index built" "$work/search-$store.log" && break
      sleep 0.1
    done
  fi
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# Publishing without the index: PostgreSQL loses the index; SQLite keeps its FTS5 table but loses the triggers
# that fill it (their SQL is kept to put them back). Then a checkpoint, so no phase inherits another's writes.
drop_search_index() {
  if [[ "$1" == postgres ]]; then
    psql_run server "DROP INDEX messages_search"
    psql_run server "CHECKPOINT"
  else
    search_sqlite_triggers=$(sqlite_run "SELECT sql || ';' FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'messages_search_%'")
    sqlite_run "DROP TRIGGER messages_search_after_insert; DROP TRIGGER messages_search_after_delete;
      DROP TRIGGER messages_search_after_update; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
  fi
}

# Back to publishing with the index: PostgreSQL builds the index the server builds (the messages published
# meanwhile included); SQLite gets its triggers back (the FTS5 table then lacks the messages published without
# them, which no later figure searches for).
create_search_index() {
  if [[ "$1" == postgres ]]; then
    psql_run server "CREATE INDEX messages_search ON messages USING gin (message_search_document(author, text))"
    psql_run server "ANALYZE messages"
    psql_run server "CHECKPOINT"
  else
    sqlite_run "$search_sqlite_triggers PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
  fi
}

# Server log lines that say something went wrong, to stderr (the log itself goes with the work folder).
report_server_problems() {
  local problems
  problems=$(grep -iE "fail|exception|error" "$work/search-$1.log" | head -n 20 || true)
  if [[ -n "$problems" ]]; then
    log "search, $1: the server logged problems:"
    echo "$problems" >&2
  fi
}

search_store_figures() {
  local store=$1 port seed_seconds started index_seconds rare common without with matches_rare matches_common
  port=$(free_local_port)
  log "search, $store: migrating an empty store"
  start_search_server "$port" "$store"
  wait_ready "$port"
  stop_search_server
  log "search, $store: storing $search_messages messages in $search_topics topics (no search index yet)"
  seed_seconds=$(seed_store "$store")
  log "search, $store: starting the server, which indexes the existing messages"
  started=$(date +%s.%N)
  start_search_server "$port" "$store"
  index_seconds=$(index_existing_messages "$store" "$port" "$started")
  matches_rare=$(curl -fsS "http://127.0.0.1:$port/api/search?q=$search_rare_word&limit=200" | grep -o '"id":' | wc -l)
  matches_common=$(curl -fsS "http://127.0.0.1:$port/api/search?q=$search_common_word&limit=200" | grep -o '"id":' | wc -l)

  log "search, $store: rare word '$search_rare_word', 16 connections, ${seconds}s"
  rare=$(wrk_connections=16 run_wrk "http://127.0.0.1:$port/api/search?q=$search_rare_word")
  log "search, $store: common word '$search_common_word', 16 connections, ${seconds}s"
  common=$(wrk_connections=16 run_wrk "http://127.0.0.1:$port/api/search?q=$search_common_word")

  log "search, $store: publishing without the search index, 64 connections, ${seconds}s"
  drop_search_index "$store"
  without=$(run_wrk -s "$repo/bench/post.lua" "http://127.0.0.1:$port/api/topics/bench/messages")
  log "search, $store: publishing with the search index, 64 connections, ${seconds}s"
  create_search_index "$store"
  with=$(run_wrk -s "$repo/bench/post.lua" "http://127.0.0.1:$port/api/topics/bench/messages")
  stop_search_server
  report_server_problems "$store"

  search_rows+=("$(search_rows_of "$store" "$seed_seconds" "$index_seconds" "$matches_rare" "$matches_common" "$rare" "$common" "$without" "$with")")
}

# The report's rows for one store, from wrk's "rps p50 p99 non2xx" figures.
search_rows_of() {
  local store=$1 seed=$2 index=$3 matches_rare=$4 matches_common=$5 rps p50 p99 bad
  local without_rps with_rps publish_ratio index_note
  read -r rps p50 p99 bad <<<"$6"
  local name="Search, $store"
  echo "| $name: rare word, $matches_rare matches (req/s) | $rps | p50 $p50 ms, non-2xx $bad | | | |"
  echo "| $name: rare word p99 (ms) | $p99 | | | ≤ 20 | $(met "$p99" "<=" 20) |"
  read -r rps p50 p99 bad <<<"$7"
  echo "| $name: common word, ≥ $matches_common matches (req/s) | $rps | p50 $p50 ms, non-2xx $bad | | | |"
  echo "| $name: common word p99 (ms) | $p99 | | | | |"
  read -r without_rps _ _ _ <<<"$8"
  read -r with_rps p50 p99 bad <<<"$9"
  publish_ratio=$(ratio "$with_rps" "$without_rps")
  echo "| $name: publish with the index (req/s) | $with_rps | without $without_rps req/s | $publish_ratio | ≥ 0.85× | $(met "$publish_ratio" ">=" 0.85) |"
  echo "| $name: publish with the index p50 / p99 (ms) | $p50 / $p99 | non-2xx $bad | | | |"
  if [[ "$store" == postgres ]]; then
    index_note="server ready at once; CREATE INDEX CONCURRENTLY + ANALYZE in the background"
  else
    index_note="migration (FTS5 rebuild) before ready"
  fi
  echo "| $name: storing the messages by SQL (s) | $seed | | | | |"
  echo "| $name: start-up until the existing messages are indexed (s) | $index | $index_note | | | |"
}

search_report() {
  local header table file
  header="Search benchmark of $(date -u +%Y-%m-%d) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $search_messages messages in $search_topics topics per store, $( $smoke && echo "smoke mode, ${seconds}s per figure" || echo "${seconds}s per figure after a ${warmup}s warm-up"); searches at 16 connections, publishes at 64 (bench/post.lua); load average (1, 5, 15 min) at the start $search_load_before, at the end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows every figure)."
  table=$(printf '| Figure | Value | Detail | Ratio | Target | Met |\n|---|---|---|---|---|---|\n'; printf '%s\n' "${search_rows[@]}")
  printf '%s\n\n%s\n' "$header" "$table"
  if [[ -n "$output" ]]; then
    mkdir -p "$output"
    file="$output/search-$(date -u +%Y-%m-%dT%H%M%SZ).md"
    printf '# Search benchmark results\n\n%s\n\n%s\n' "$header" "$table" >"$file"
    cp "$file" "$output/search-latest.md"
    log "written to $file and $output/search-latest.md"
  fi
}

search_main() {
  if $smoke; then
    search_messages=2000 search_topics=10
  else
    search_messages=1000000 search_topics=1000
  fi
  command -v sqlite3 >/dev/null || die "sqlite3 is missing: apt-get install sqlite3"
  search_sqlite_path="$work/sqlite/messages.db"
  search_rows=()
  search_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  ensure_tools
  start_postgres
  build
  search_store_figures postgres
  search_store_figures sqlite
  search_report
}
