#!/usr/bin/env bash
# The benchmark: message-server measured against the machine's own limits, in one run.
#   bench/run.sh            full run (about 6 minutes); writes bench/results/<date>.md and bench/results/latest.md
#   bench/run.sh --smoke    a few seconds per figure, to keep the harness working (CI); writes nowhere unless --output
#   bench/run.sh [--smoke] [--output DIR]
#   bench/run.sh --search [--smoke]   the search benchmark instead (bench/search.sh; about 10 minutes in full)
# It starts its own PostgreSQL with default durability (fsync and synchronous_commit on), the server built in
# Release, nginx for the read reference, and measures with pgbench, wrk and bench/LoadClient.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
# shellcheck source=bench/search.sh
source "$repo/bench/search.sh"

smoke=false
search=false
output=""
while (($# > 0)); do
  case "$1" in
    --smoke) smoke=true; shift ;;
    --search) search=true; shift ;;
    --output) output=${2:?--output needs a folder}; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if $smoke; then
  seconds=2 warmup=1 subscribers=200 messages=5 cross_subscribers=50 many_subscribers=400 warmup_subscribers=20
else
  seconds=20 warmup=5 subscribers=10000 messages=100 cross_subscribers=500 many_subscribers=50000 warmup_subscribers=1000
  output=${output:-$repo/bench/results}
fi

nchan_module=/usr/lib/nginx/modules/ngx_nchan_module.so
make_work_folder ms-bench

ensure_tools() {
  local missing=() tool
  for tool in wrk nginx; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [[ -f "$nchan_module" ]] || missing+=(nchan)
  if ((${#missing[@]} > 0)); then
    [[ $EUID -eq 0 ]] || die "missing ${missing[*]}: apt-get install wrk nginx-light libnginx-mod-nchan"
    log "installing wrk, nginx and its nchan module"
    apt-get install -y -q wrk nginx-light libnginx-mod-nchan >/dev/null
  fi
  find_postgres
  # One open file per HTTP/1.1 subscriber, in the server and in the load client.
  ulimit -n "$((subscribers + 2000))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

start_postgres() {
  start_postgres_server -c max_connections=300
  psql_run postgres "CREATE DATABASE server"
  psql_run postgres "CREATE DATABASE reference"
  # The reference table has the server's shape, from its own migration.
  psql_run reference "$(cat "$repo/src/MessageServer/Storage/Postgres/Migrations/0001_create_messages.sql")"
}

psql_run() {
  (cd / && runuser -u postgres -- "$pg_bin/psql" -h "$work/pg" -p "$pg_port" -U postgres -d "$1" -qAtc "$2")
}

build() {
  build_server_and_client LoadClient/LoadClient.csproj
}

# Starts a server instance on a port (and H2C_PORT $2 when given) against the benchmark database; sets server_pid.
start_server() {
  local port=$1 h2c=()
  [[ -n "${2:-}" ]] && h2c=(H2C_PORT="$2")
  (cd "$work/server" && exec env PORT="$port" "${h2c[@]}" POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$pg_port" POSTGRES_USER=postgres \
    POSTGRES_PASSWORD=unused POSTGRES_DB=server POSTGRES_SSLMODE=disable RATE_LIMIT=off \
    Logging__LogLevel__Default=Warning dotnet MessageServer.dll) >"$work/server-$port.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}

# Waits for /ready on port $1, for up to $2 tenths of a second (default 200).
wait_ready() {
  local _
  for _ in $(seq 1 "${2:-200}"); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1/ready" 2>/dev/null && return 0
    sleep 0.1
  done
  die "the server on port $1 did not become ready; see $work/server-$1.log"
}

# wrk's requests/s, p50 and p99 (ms) as "rps p50 p99", after an unmeasured warm-up of the same load (for
# the server it is when the JIT finishes compiling the hot paths; nginx gets the same). 64 connections, or
# wrk_connections.
run_wrk() {
  local result connections=${wrk_connections:-64}
  wrk -t2 -c"$connections" -d"${warmup}s" "$@" >/dev/null 2>&1
  result=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" 2>&1)
  echo "$result" >>"$work/wrk.log"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad }' <<<"$result"
}

publish_figures() {
  log "publish: pgbench single-row INSERT, 64 clients, ${seconds}s"
  echo "INSERT INTO messages (topic, author, text) VALUES ('bench', 'bench', 'disk usage on web-1 is at 91 percent, cleaning up old release folders now');" >"$work/insert.sql"
  pgbench_tps=$(cd / && runuser -u postgres -- "$pg_bin/pgbench" -h "$work/pg" -p "$pg_port" -U postgres -n -M prepared \
    -c 64 -j 2 -T "$seconds" -f "$work/insert.sql" reference 2>&1 | awk '/^tps/ {print int($3)}' | tail -n 1)
  log "publish: the server, wrk POST, 64 connections, ${seconds}s"
  read -r publish_rps publish_p50 publish_p99 publish_bad < <(run_wrk -s "$repo/bench/post.lua" "http://127.0.0.1:$port_a/api/topics/bench/messages")
}

read_figures() {
  local i
  for i in $(seq 1 50); do
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port_a/api/topics/bench-read/messages" -H 'Content-Type: text/plain' --data-binary "message $i of the read benchmark"
  done
  mkdir -p "$work/nginx/root"
  curl -fsS -o "$work/nginx/root/latest.json" "http://127.0.0.1:$port_a/api/topics/bench-read/messages"
  nginx_port=$(free_local_port)
  cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /latest.json { root $work/nginx/root; default_type application/json; }
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 &
  pids+=($!)
  sleep 0.5
  log "read: nginx serving the same $(wc -c <"$work/nginx/root/latest.json") bytes, 64 connections, ${seconds}s"
  read -r nginx_rps _ _ _ < <(run_wrk "http://127.0.0.1:$nginx_port/latest.json")
  log "read: the server's latest 50, 64 connections, ${seconds}s"
  read -r read_rps read_p50 read_p99 read_bad < <(run_wrk "http://127.0.0.1:$port_a/api/topics/bench-read/messages")
}

# One fan-out measured by the load client, the same way for the server and for nchan, after an unmeasured one (as
# wrk's warm-up does for the other figures: the stream's hot paths are compiled again by the JIT in their first
# seconds of use, which costs the first measured run a sixth of its CPU time). $1 the variable to set to the result
# (n/a figures when the load client failed), $2 subscribe URL, $3 publish URL, $4 the pids whose memory counts,
# $5 protocol (http1.1, or h2c: HTTP/2 without TLS, the streams multiplexed over connections as a front proxy
# speaking HTTP/2 to the app sends them), $6 subscribers; further arguments are the load client's path options.
measure_fanout() {
  local name=$1 subscribe=$2 publish=$3 measured=$4 protocol=$5 count=$6 result
  shift 6
  dotnet "$work/client/LoadClient.dll" fanout --subscribe "$subscribe" --publish "$publish" --topic warmup \
    --subscribers "$warmup_subscribers" --messages 100 --rate 50 --protocol "$protocol" "$@" >/dev/null
  result=$(dotnet "$work/client/LoadClient.dll" fanout --subscribe "$subscribe" --publish "$publish" --topic fanout \
    --subscribers "$count" --messages "$messages" --rate 10 --pid "$measured" --protocol "$protocol" "$@" 2>>"$work/fanout.log") ||
    result="p50_ms=n/a p99_ms=n/a delivered=n/a expected=n/a rss_per_subscriber_bytes=n/a"
  printf -v "$name" '%s' "$result"
}

# $1 the variable to set: a fan-out of $3 subscribers over protocol $2 on a server of its own (memory an earlier run
# took and kept would hide this run's growth).
fresh_server_fanout() {
  local name=$1 protocol=$2 count=$3 port h2c_port pid subscribe
  port=$(free_local_port)
  h2c_port=$(free_local_port)
  start_server "$port" "$h2c_port"
  pid=$server_pid
  wait_ready "$port"
  subscribe="http://127.0.0.1:$port"
  [[ "$protocol" == h2c ]] && subscribe="http://127.0.0.1:$h2c_port"
  log "fan-out ($protocol): $count subscribers, $messages messages at 10/s"
  measure_fanout "$name" "$subscribe" "http://127.0.0.1:$port" "$pid" "$protocol" "$count"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

fanout_figures() {
  fresh_server_fanout fanout http1.1 "$subscribers"
  fresh_server_fanout fanout_h2c h2c "$subscribers"
  log "cross-instance: $cross_subscribers subscribers on instance B, publisher on A (and on B itself for the baseline)"
  cross=$(dotnet "$work/client/LoadClient.dll" fanout --subscribe "http://127.0.0.1:$port_b" --publish "http://127.0.0.1:$port_a" \
    --topic cross --subscribers "$cross_subscribers" --messages "$messages" --rate 10)
  same=$(dotnet "$work/client/LoadClient.dll" fanout --subscribe "http://127.0.0.1:$port_b" --publish "http://127.0.0.1:$port_b" \
    --topic same --subscribers "$cross_subscribers" --messages "$messages" --rate 10)
}

# nginx with the nchan pub/sub module, the purpose-built reference for fan-out, measured by the same load client as
# the server: with 1 and with 2 worker processes, each over HTTP/1.1 and over h2c (nginx's http2 listener, up to 128
# streams per connection). $1 subscribers, $2 the configurations ("workers/protocol ..."), $3 the name the results
# are kept under (default nchan): sets <name>_<workers>_<protocol without dots>.
fanout="" fanout_h2c="" many="" nchan_1_http11="" nchan_2_http11="" nchan_1_h2c="" nchan_2_h2c="" many_nchan_2_h2c=""
nchan_figures() {
  local count=$1 name=${3:-nchan} configuration workers protocol port h2c_port master subscribe dir
  for configuration in $2; do
    workers=${configuration%/*} protocol=${configuration#*/}
    port=$(free_local_port)
    h2c_port=$(free_local_port)
    dir="$work/nchan-$workers-$protocol-$count"
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<NGINX
load_module $nchan_module;
worker_processes $workers;
worker_rlimit_nofile 70000;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 65536; }
http {
  access_log off;
  client_body_temp_path $dir;
  server {
    listen 127.0.0.1:$port;
    listen 127.0.0.1:$h2c_port http2;
    location ~ ^/sub/(\w+)\$ { nchan_subscriber eventsource; nchan_channel_id \$1; }
    location ~ ^/pub/(\w+)\$ { nchan_publisher; nchan_channel_id \$1; }
  }
}
NGINX
    nginx -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/out.log" 2>&1 &
    master=$!
    pids+=("$master")
    sleep 0.5
    subscribe="http://127.0.0.1:$port"
    [[ "$protocol" == h2c ]] && subscribe="http://127.0.0.1:$h2c_port"
    log "fan-out reference: nginx + nchan, $workers worker(s), $protocol, $count subscribers, $messages messages at 10/s"
    measure_fanout "${name}_${workers}_${protocol//./}" "$subscribe" "http://127.0.0.1:$port" "$(pgrep -P "$master" | paste -sd,)" \
      "$protocol" "$count" --subscribe-path '/sub/{topic}' --publish-path '/pub/{topic}'
    kill "$master"
    wait "$master" 2>/dev/null || true
  done
}

# Many more subscribers, to show how latency and memory grow with the count: over h2c, so that the open-file limit
# (one per connection, in the server and in the load client) is no bound; nchan's 2 workers over h2c beside it.
many_subscribers_figures() {
  fresh_server_fanout many h2c "$many_subscribers"
  nchan_figures "$many_subscribers" "2/h2c" many_nchan
}

field() {
  sed -n -E "s/.*(^| )$2=([^ ]*).*/\2/p" <<<"$1"
}

startup_figures() {
  local port
  port=$(free_local_port)
  log "start-up to ready: SQLite and PostgreSQL"
  startup_sqlite=$(cd "$work/server" && env PORT="$port" SQLITE_PATH="$work/startup/messages.db" RATE_LIMIT=off \
    dotnet "$work/client/LoadClient.dll" startup --ready "http://127.0.0.1:$port/ready" -- dotnet MessageServer.dll | sed 's/ready_ms=//')
  startup_postgres=$(cd "$work/server" && env PORT="$port" POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$pg_port" POSTGRES_USER=postgres \
    POSTGRES_PASSWORD=unused POSTGRES_DB=server POSTGRES_SSLMODE=disable RATE_LIMIT=off \
    dotnet "$work/client/LoadClient.dll" startup --ready "http://127.0.0.1:$port/ready" -- dotnet MessageServer.dll | sed 's/ready_ms=//')
}

# True when $1 is a number lower than $2 (or $2 is not a number).
lower() {
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a ~ /^[0-9.]+$/ && (b !~ /^[0-9.]+$/ || a + 0 < b + 0)) }'
}

# The lowest of the numbers given (n/a when none is one).
least() {
  printf '%s\n' "$@" | awk '/^[0-9.]+$/ && (best == "" || $1 + 0 < best + 0) { best = $1 } END { print (best == "" ? "n/a" : best) }'
}

# yes when every result given delivered all it expected.
all_delivered() {
  local result
  for result in "$@"; do
    [[ "$(field "$result" delivered)" == "$(field "$result" expected)" && "$(field "$result" delivered)" != n/a ]] || { echo no; return; }
  done
  echo yes
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

met() {
  awk -v value="$1" -v op="$2" -v target="$3" 'BEGIN {
    if (value == "" || value == "n/a" || value == "nan") { print "no"; exit }
    ok = (op == ">=") ? value >= target : value <= target
    print ok ? "yes" : "no" }'
}

# The same figure in the last committed results, for the change column.
previous() {
  local file="$repo/bench/results/latest.md"
  [[ -f "$file" ]] || return 0
  awk -F'|' -v name="$1" '$2 ~ name { gsub(/ /, "", $3); print $3; exit }' "$file"
}

change() {
  local before
  before=$(previous "$1")
  if [[ -z "$before" ]]; then
    echo "-"
  else
    awk -v now="$2" -v before="$before" 'BEGIN { if (before + 0 == 0) print "-"; else printf "%+.0f%%", (now - before) * 100 / before }'
  fi
}

report() {
  local cross_p99 same_p99 cross_extra file table
  cross_p99=$(field "$cross" p99_ms)
  same_p99=$(field "$same" p99_ms)
  cross_extra=$(awk -v a="$cross_p99" -v b="$same_p99" 'BEGIN { printf "%.1f", a - b }')
  # Each side's best: the protocol (ours) or configuration (nchan's) with the lower fan-out p99, and the lowest memory.
  local ours ours_protocol nchan nchan_workers nchan_protocol candidate name
  ours=$fanout ours_protocol=http1.1
  if lower "$(field "$fanout_h2c" p99_ms)" "$(field "$fanout" p99_ms)"; then
    ours=$fanout_h2c ours_protocol=h2c
  fi
  nchan=$nchan_1_http11 nchan_workers=1 nchan_protocol=http1.1
  for name in nchan_2_http11 nchan_1_h2c nchan_2_h2c; do
    candidate=${!name}
    if lower "$(field "$candidate" p99_ms)" "$(field "$nchan" p99_ms)"; then
      nchan=$candidate nchan_workers=${name:6:1} nchan_protocol=$([[ $name == *h2c ]] && echo h2c || echo http1.1)
    fi
  done
  local fan_p99 ours_rss nchan_rss p99_ratio rss_ratio
  fan_p99=$(field "$ours" p99_ms)
  ours_rss=$(least "$(field "$fanout" rss_per_subscriber_bytes)" "$(field "$fanout_h2c" rss_per_subscriber_bytes)")
  nchan_rss=$(least "$(field "$nchan_1_http11" rss_per_subscriber_bytes)" "$(field "$nchan_2_http11" rss_per_subscriber_bytes)" \
    "$(field "$nchan_1_h2c" rss_per_subscriber_bytes)" "$(field "$nchan_2_h2c" rss_per_subscriber_bytes)")
  p99_ratio=$(ratio "$fan_p99" "$(field "$nchan" p99_ms)")
  rss_ratio=$(ratio "$ours_rss" "$nchan_rss")
  local publish_ratio read_ratio
  publish_ratio=$(ratio "$publish_rps" "$pgbench_tps")
  read_ratio=$(ratio "$read_rps" "$nginx_rps")
  table=$(cat <<TABLE
| Figure | Value | Reference | Ratio | Target | Met | Change |
|---|---|---|---|---|---|---|
| Publish (req/s) | $publish_rps | pgbench INSERT $pgbench_tps tps | $publish_ratio | ≥ 2.0× | $(met "$publish_ratio" ">=" 2.0) | $(change "Publish \\(req" "$publish_rps") |
| Publish p50 / p99 (ms) | $publish_p50 / $publish_p99 | | | | | |
| Latest-50 read (req/s) | $read_rps | nginx static $nginx_rps req/s | $read_ratio | ≥ 0.9× | $(met "$read_ratio" ">=" 0.9) | $(change "Latest-50" "$read_rps") |
| Read p50 / p99 (ms) | $read_p50 / $read_p99 | | | | | |
| Fan-out p99 (ms), $subscribers subscribers | $(field "$fanout" p99_ms) | p50 $(field "$fanout" p50_ms) ms; HTTP/1.1 | | ≤ 100 ms | $(met "$(field "$fanout" p99_ms)" "<=" 100) | $(change "Fan-out p99" "$(field "$fanout" p99_ms)") |
| Fan-out p99 (ms), $subscribers subscribers over h2c | $(field "$fanout_h2c" p99_ms) | p50 $(field "$fanout_h2c" p50_ms) ms; HTTP/2 without TLS, streams multiplexed | | ≤ 100 ms | $(met "$(field "$fanout_h2c" p99_ms)" "<=" 100) | $(change "over h2c" "$(field "$fanout_h2c" p99_ms)") |
| Fan-out delivered | $(field "$fanout" delivered) + $(field "$fanout_h2c" delivered) | of $(field "$fanout" expected) + $(field "$fanout_h2c" expected) | | all | $(all_delivered "$fanout" "$fanout_h2c") | |
| Memory per idle subscriber (bytes) | $(field "$fanout" rss_per_subscriber_bytes) | over h2c $(field "$fanout_h2c" rss_per_subscriber_bytes) | | ≤ 10240 | $(met "$ours_rss" "<=" 10240) | $(change "Memory per" "$(field "$fanout" rss_per_subscriber_bytes)") |
| Fan-out p99 vs nginx + nchan (ms) | $fan_p99 ($ours_protocol; p50 $(field "$ours" p50_ms)) | nchan, $nchan_workers worker(s): p99 $(field "$nchan" p99_ms), p50 $(field "$nchan" p50_ms); $nchan_protocol; delivered $(field "$nchan" delivered) of $(field "$nchan" expected) | $p99_ratio | ≤ 0.8× | $(met "$p99_ratio" "<=" 0.8) | |
| Fan-out p99 by protocol, ours / nchan 1 worker / nchan 2 workers (ms) | http1.1: $(field "$fanout" p99_ms) / $(field "$nchan_1_http11" p99_ms) / $(field "$nchan_2_http11" p99_ms); h2c: $(field "$fanout_h2c" p99_ms) / $(field "$nchan_1_h2c" p99_ms) / $(field "$nchan_2_h2c" p99_ms) | | | | | |
| Memory per idle subscriber vs nchan (bytes) | $ours_rss | nchan $nchan_rss (http1.1: 1 worker $(field "$nchan_1_http11" rss_per_subscriber_bytes), 2 workers $(field "$nchan_2_http11" rss_per_subscriber_bytes); h2c: $(field "$nchan_1_h2c" rss_per_subscriber_bytes), $(field "$nchan_2_h2c" rss_per_subscriber_bytes)) | $rss_ratio | ≤ 1.0× | $(met "$rss_ratio" "<=" 1.0) | |
| Fan-out p50 / p99 (ms), $many_subscribers subscribers over h2c | $(field "$many" p50_ms) / $(field "$many" p99_ms) | delivered $(field "$many" delivered) of $(field "$many" expected); nchan 2 workers, h2c: $(field "$many_nchan_2_h2c" p50_ms) / $(field "$many_nchan_2_h2c" p99_ms), delivered $(field "$many_nchan_2_h2c" delivered) | $(ratio "$(field "$many" p99_ms)" "$(field "$many_nchan_2_h2c" p99_ms)") | | | |
| Memory per idle subscriber (bytes), $many_subscribers subscribers over h2c | $(field "$many" rss_per_subscriber_bytes) | nchan $(field "$many_nchan_2_h2c" rss_per_subscriber_bytes) | $(ratio "$(field "$many" rss_per_subscriber_bytes)" "$(field "$many_nchan_2_h2c" rss_per_subscriber_bytes)") | | | |
| Cross-instance p99 (ms) | $cross_p99 | same-instance $same_p99 | +$cross_extra ms | ≤ +50 ms | $(met "$cross_extra" "<=" 50) | $(change "Cross-instance" "$cross_p99") |
| Start-up to ready, SQLite (ms) | $startup_sqlite | | | ≤ 500 | $(met "$startup_sqlite" "<=" 500) | $(change "SQLite \\(ms" "$startup_sqlite") |
| Start-up to ready, PostgreSQL (ms) | $startup_postgres | | | ≤ 500 | $(met "$startup_postgres" "<=" 500) | $(change "PostgreSQL \\(ms" "$startup_postgres") |
TABLE
)
  local header
  header="Benchmark of $(date -u +%Y-%m-%d) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $( $smoke && echo "smoke mode, ${seconds}s per figure" || echo "${seconds}s per figure after a ${warmup}s warm-up"); non-2xx: publish ${publish_bad:-0}, read ${read_bad:-0}."
  printf '%s\n\n%s\n' "$header" "$table"
  if [[ -n "$output" ]]; then
    mkdir -p "$output"
    file="$output/$(date -u +%Y-%m-%dT%H%M%SZ).md"
    printf '# Benchmark results\n\n%s\n\n%s\n' "$header" "$table" >"$file"
    cp "$file" "$output/latest.md"
    log "written to $file and $output/latest.md"
  fi
}

main() {
  if $search; then
    search_main
    return
  fi
  ensure_tools
  start_postgres
  build
  port_a=$(free_local_port)
  start_server "$port_a"
  wait_ready "$port_a"
  port_b=$(free_local_port)
  start_server "$port_b"
  wait_ready "$port_b"
  publish_figures
  read_figures
  fanout_figures
  nchan_figures "$subscribers" "1/http1.1 2/http1.1 1/h2c 2/h2c"
  many_subscribers_figures
  startup_figures
  report
}

main
