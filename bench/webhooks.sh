#!/usr/bin/env bash
# The webhook benchmark: delivery throughput to a fast local receiver and publish-to-delivery latency, on
# PostgreSQL (default durability) and SQLite, with the server built in Release.
#   bench/webhooks.sh            full run (about a minute); writes bench/results/webhooks-<date>.md and webhooks-latest.md
#   bench/webhooks.sh --smoke    small numbers, to keep the harness working (CI); writes nowhere unless --output
#   bench/webhooks.sh [--smoke] [--output DIR]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"

smoke=false
output=""
while (($# > 0)); do
  case "$1" in
    --smoke) smoke=true; shift ;;
    --output) output=${2:?--output needs a folder}; shift 2 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if $smoke; then
  backlog=300 messages=50 rate=50
else
  backlog=5000 messages=1000 rate=50
  output=${output:-$repo/bench/results}
fi

make_work_folder ms-webhook-bench

# Runs the server with the given storage settings and the benchmark client against it; sets measured to the
# client's line. Not run in a subshell, so that cleanup knows the server's pid.
measure() {
  local name=$1 port
  shift
  port=$(free_local_port)
  (cd "$work/server" && exec env "$@" PORT="$port" RATE_LIMIT=off WEBHOOK_ALLOW_PRIVATE=true \
    Logging__LogLevel__Default=Warning dotnet MessageServer.dll) >"$work/server-$name.log" 2>&1 &
  local server_pid=$!
  pids+=("$server_pid")
  local _
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/ready" 2>/dev/null && break
    sleep 0.1
  done
  log "$name: a backlog of $backlog messages, then $messages messages at $rate/s"
  measured=$(dotnet "$work/client/WebhookBench.dll" --server "http://127.0.0.1:$port" \
    --backlog "$backlog" --messages "$messages" --rate "$rate") || {
    tail -n 20 "$work/server-$name.log" >&2
    die "the $name run failed (the server's last log lines are above)"
  }
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
}

field() {
  sed -n -E "s/.*(^| )$2=([^ ]*).*/\2/p" <<<"$1"
}

row() {
  local name=$1 result=$2
  echo "| $name | $(field "$result" deliveries_per_s) | $(field "$result" p50_ms) / $(field "$result" p99_ms) | $(field "$result" max_ms) | $(field "$result" in_order) |"
}

main() {
  start_postgres_server
  build_server_and_client WebhookBench/WebhookBench.csproj
  local postgres sqlite header table file
  measure postgres POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$pg_port" POSTGRES_USER=postgres POSTGRES_PASSWORD=unused \
    POSTGRES_DB=postgres POSTGRES_SSLMODE=disable
  postgres=$measured
  measure sqlite SQLITE_PATH="$work/sqlite/messages.db"
  sqlite=$measured
  header="Webhook benchmark of $(date -u +%Y-%m-%d) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1))$($smoke && echo ", smoke mode" || true): throughput drains a backlog of $backlog messages to one webhook; latency is from the publish request to the receiver, $messages messages at $rate/s."
  table=$(cat <<TABLE
| Storage | Deliveries/s (one webhook, in order) | Publish-to-delivery p50 / p99 (ms) | Max (ms) | In order |
|---|---|---|---|---|
$(row "PostgreSQL" "$postgres")
$(row "SQLite" "$sqlite")
TABLE
)
  printf '%s\n\n%s\n' "$header" "$table"
  if [[ -n "$output" ]]; then
    mkdir -p "$output"
    file="$output/webhooks-$(date -u +%Y-%m-%dT%H%M%SZ).md"
    printf '# Webhook benchmark results\n\n%s\n\n%s\n' "$header" "$table" >"$file"
    cp "$file" "$output/webhooks-latest.md"
    log "written to $file and $output/webhooks-latest.md"
  fi
}

main
