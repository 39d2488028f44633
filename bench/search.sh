# The search benchmark, run by `bench/run.sh --search [--smoke]` (this file is sourced by it and uses its helpers).
# For each store (PostgreSQL, SQLite): 1,000,000 messages in 1,000 topics (2,000 in 10 topics with --smoke); a
# search for a rare and for a common word at 16 connections (wrk); and the publish rate with the search index and
# without it (a copy of the same store that never got search), in turns in the same run; the background indexer is
# let catch up after each run with the index. Writes bench/results/search-<date>.md and search-latest.md.
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

# Starts the server on $1 with the store $2 (postgres or sqlite) in $3 (a database name or a file, by default
# the benchmark's main one); sets server_pid.
start_search_server() {
  local port=$1 store=$2 storage=()
  if [[ "$store" == postgres ]]; then
    storage=(POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$pg_port" POSTGRES_USER=postgres POSTGRES_PASSWORD=unused
      POSTGRES_DB="${3:-server}" POSTGRES_SSLMODE=disable)
  else
    storage=(SQLITE_PATH="${3:-$search_sqlite_path}")
  fi
  (cd "$work/server" && exec env PORT="$port" "${storage[@]}" RATE_LIMIT=off Logging__LogLevel__Default=Warning \
    Logging__LogLevel__MessageServer.Search=Information dotnet MessageServer.dll) >>"$work/search-$store.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}

stop_search_server() {
  kill "$1"
  wait "$1" 2>/dev/null || true
}

# Takes the store back to before migration 0005 (no search; 0007 moved indexing off the publish path, 0008
# sped up PostgreSQL's query terms), fills it with the benchmark's messages, and reports how long the filling
# took (seconds).
seed_store() {
  local store=$1 started
  started=$(date +%s.%N)
  if [[ "$store" == postgres ]]; then
    psql_run server "DROP TABLE search_documents, search_pending, search_backfill;
      DROP TRIGGER messages_queue_for_search ON messages; DROP TRIGGER messages_forget_search_documents ON messages;
      DROP FUNCTION queue_for_search, forget_search_documents;
      DROP FUNCTION message_search_term, message_search_document, message_search_fold CASCADE;
      DROP EXTENSION unaccent; DELETE FROM schemaversions WHERE scriptname LIKE '%.0005_%' OR scriptname LIKE '%.0007_%' OR scriptname LIKE '%.0008_%'"
    psql_run server "INSERT INTO messages (topic, author, text)
      SELECT $(search_message_sql "i::bigint") FROM generate_series(1, $search_messages) AS s(i)"
    psql_run server "VACUUM ANALYZE messages"
    psql_run server "CHECKPOINT"
  else
    sqlite_run "DROP TRIGGER messages_search_after_delete; DROP TRIGGER messages_search_after_update;
      DROP TABLE messages_search; DROP TABLE search_progress;
      DELETE FROM SchemaVersions WHERE ScriptName LIKE '%.0005_%' OR ScriptName LIKE '%.0007_%' OR ScriptName LIKE '%.0008_%';
      WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $search_messages)
      INSERT INTO messages (topic, author, text, created_at_us) SELECT $(search_message_sql i), $(date +%s)000000 FROM s;
      ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
  fi
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

seconds_since() {
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# Waits until search is fully in place after a start at $3 (date +%s.%N) and prints the seconds since: SQLite
# migrates (FTS5 indexes every stored message) before it is ready; PostgreSQL is ready at once and its indexer
# works through the stored messages in the background (then analyses the index and logs it).
index_existing_messages() {
  local store=$1 port=$2 started=$3 logged_before=$4 _
  wait_ready "$port" 18000
  if [[ "$store" == postgres ]]; then
    # The log holds the first start's lines too (an empty store, indexed at once): look at this start's only.
    for _ in $(seq 1 18000); do
      tail -n +"$((logged_before + 1))" "$work/search-$store.log" | grep -q "Search index built" && break
      sleep 0.1
    done
  fi
  seconds_since "$started"
}

# Waits until the background indexer of the store $1 has indexed every stored message; prints the seconds it took.
wait_for_indexer() {
  local store=$1 started _
  started=$(date +%s.%N)
  for _ in $(seq 1 6000); do
    if [[ "$store" == postgres ]]; then
      [[ $(psql_run server "SELECT NOT EXISTS (SELECT 1 FROM search_pending)") == t ]] && break
    else
      [[ $(sqlite_run "SELECT (SELECT max(id) FROM messages) <= indexed_through FROM search_progress") == 1 ]] && break
    fi
    sleep 0.1
  done
  seconds_since "$started"
}

# A copy of the filled store that never gets search: its journal says the search migrations ran, but nothing
# queues messages for the indexer and nothing is left for it to index (PostgreSQL: no insert trigger, no GIN
# index, no backfill; SQLite: no FTS5 table, its progress mark past any id). Publishing to a server on it is
# publishing without the index, on the same messages.
copy_store_without_search() {
  local script scripts=()
  if [[ "$1" == postgres ]]; then
    psql_run postgres "CREATE DATABASE nosearch TEMPLATE server STRATEGY FILE_COPY"
    for script in "$repo"/src/MessageServer/Storage/Postgres/Migrations/000[578]_*.sql; do
      psql_run nosearch "$(cat "$script")"
      scripts+=("('MessageServer.Storage.Postgres.Migrations.$(basename "$script")', now())")
    done
    psql_run nosearch "INSERT INTO schemaversions (scriptname, applied) VALUES $(IFS=,; echo "${scripts[*]}");
      DROP TRIGGER messages_queue_for_search ON messages; DROP INDEX search_documents_document;
      UPDATE search_backfill SET next_below = 0"
  else
    for script in "$repo"/src/MessageServer/Storage/Sqlite/Migrations/000[578]_*.sql; do
      scripts+=("('MessageServer.Storage.Sqlite.Migrations.$(basename "$script")', datetime('now'))")
    done
    cp "$search_sqlite_path" "$search_sqlite_copy"
    sqlite3 "$search_sqlite_copy" <<<"INSERT INTO SchemaVersions (ScriptName, Applied) VALUES $(IFS=,; echo "${scripts[*]}");
      CREATE TABLE search_progress (indexed_through INTEGER NOT NULL); INSERT INTO search_progress VALUES (9223372036854775807);"
  fi
}

mean() {
  printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.0f", s / NR }'
}

# Publishing with the index (the server on port $1, store $3) and without it (port $2) in turns: with, without;
# without, with; with, without. A change in the machine's load during the run then weighs on both alike. After
# each run with the index, the indexer is let catch up before the next run, so its backlog never slows a run
# without it. Prints "with-mean without-mean non-2xx longest-catch-up with-samples / without-samples".
compare_publishing() {
  local with_port=$1 without_port=$2 store=$3 round port rps bad errors=0 order with=() without=() catch_up longest=0
  for round in 1 2 3; do
    order=("$with_port" "$without_port")
    if ((round == 2)); then
      order=("$without_port" "$with_port")
    fi
    for port in "${order[@]}"; do
      read -r rps _ _ bad <<<"$(run_wrk -s "$repo/bench/post.lua" "http://127.0.0.1:$port/api/topics/bench/messages")"
      errors=$((errors + ${bad:-0}))
      if [[ "$port" == "$with_port" ]]; then
        with+=("$rps")
        catch_up=$(wait_for_indexer "$store")
        longest=$(awk -v a="$longest" -v b="$catch_up" 'BEGIN { print (b > a ? b : a) }')
      else
        without+=("$rps")
      fi
    done
  done
  echo "$(mean "${with[@]}") $(mean "${without[@]}") $errors $longest ${with[*]} / ${without[*]}"
}

# Server log lines that say something went wrong, to stderr (the log itself goes with the work folder).
report_server_problems() {
  local problems
  # Readiness checks fail by design until the store is migrated; anything else counts.
  problems=$(grep -iE "fail|exception|error" "$work/search-$1.log" | grep -v "HealthChecks" | head -n 20 || true)
  if [[ -n "$problems" ]]; then
    log "search, $1: the server logged problems:"
    echo "$problems" >&2
  fi
}

search_store_figures() {
  local store=$1 port index_pid without_port without_pid seed_seconds started logged_before index_seconds rare common publishing
  local matches_rare matches_common
  port=$(free_local_port)
  log "search, $store: migrating an empty store"
  start_search_server "$port" "$store"
  wait_ready "$port"
  stop_search_server "$server_pid"
  log "search, $store: storing $search_messages messages in $search_topics topics (no search index yet)"
  seed_seconds=$(seed_store "$store")
  copy_store_without_search "$store"
  log "search, $store: starting the server, which indexes the existing messages"
  logged_before=$(wc -l <"$work/search-$store.log")
  started=$(date +%s.%N)
  start_search_server "$port" "$store"
  index_pid=$server_pid
  index_seconds=$(index_existing_messages "$store" "$port" "$started" "$logged_before")
  matches_rare=$(curl -fsS "http://127.0.0.1:$port/api/search?q=$search_rare_word&limit=200" | grep -o '"id":' | wc -l)
  matches_common=$(curl -fsS "http://127.0.0.1:$port/api/search?q=$search_common_word&limit=200" | grep -o '"id":' | wc -l)

  log "search, $store: rare word '$search_rare_word', 16 connections, ${seconds}s"
  rare=$(wrk_connections=16 run_wrk "http://127.0.0.1:$port/api/search?q=$search_rare_word")
  log "search, $store: common word '$search_common_word', 16 connections, ${seconds}s"
  common=$(wrk_connections=16 run_wrk "http://127.0.0.1:$port/api/search?q=$search_common_word")

  log "search, $store: publishing with and without the search index in turns, 64 connections, 3 × ${seconds}s each"
  without_port=$(free_local_port)
  if [[ "$store" == postgres ]]; then
    start_search_server "$without_port" "$store" nosearch
  else
    start_search_server "$without_port" "$store" "$search_sqlite_copy"
  fi
  without_pid=$server_pid
  wait_ready "$without_port"
  publishing=$(compare_publishing "$port" "$without_port" "$store")
  stop_search_server "$without_pid"
  stop_search_server "$index_pid"
  report_server_problems "$store"

  search_rows+=("$(search_rows_of "$store" "$seed_seconds" "$index_seconds" "$matches_rare" "$matches_common" "$rare" "$common" "$publishing")")
}

# The report's rows for one store, from wrk's "rps p50 p99 non2xx" figures.
search_rows_of() {
  local store=$1 seed=$2 index=$3 matches_rare=$4 matches_common=$5 rps p50 p99 bad
  local without_rps with_rps samples publish_ratio index_note catch_up
  read -r rps p50 p99 bad <<<"$6"
  local name="Search, $store"
  echo "| $name: rare word, $matches_rare matches (req/s) | $rps | p50 $p50 ms, non-2xx $bad | | | |"
  echo "| $name: rare word p99 (ms) | $p99 | | | ≤ 20 | $(met "$p99" "<=" 20) |"
  read -r rps p50 p99 bad <<<"$7"
  echo "| $name: common word, ≥ $matches_common matches (req/s) | $rps | p50 $p50 ms, non-2xx $bad | | | |"
  echo "| $name: common word p99 (ms) | $p99 | | | | |"
  read -r with_rps without_rps bad catch_up samples <<<"$8"
  publish_ratio=$(ratio "$with_rps" "$without_rps")
  echo "| $name: publish with the index (req/s) | $with_rps | without $without_rps req/s (runs with / without: $samples; non-2xx $bad; the indexer caught up at most $catch_up s after a run) | $publish_ratio | ≥ 0.85× | $(met "$publish_ratio" ">=" 0.85) |"
  if [[ "$store" == postgres ]]; then
    index_note="server ready at once; the indexer works through them in the background, then ANALYZE"
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
  search_sqlite_copy="$work/sqlite/without-search.db"
  search_rows=()
  search_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  ensure_tools
  start_postgres
  build
  search_store_figures postgres
  search_store_figures sqlite
  search_report
}
