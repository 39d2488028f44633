#!/usr/bin/env bats
# ./deploy.sh end to end against a local EC2 stand-in: sshd on loopback with ec2-user, the Docker engine,
# a PostgreSQL standing in for RDS, and the offline base images. The tests run in order and share one host.

setup_file() {
  REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export REPO
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/ec2_host.bash"
  start_deploy_stand_ins "$REPO"

  prepare_laptop "$REPO"
  export OUTPUTS="$BATS_FILE_TMPDIR/all-deploy-output.log"
  : >"$OUTPUTS"
}

teardown_file() {
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/ec2_host.bash"
  stop_deploy_stand_ins
}

setup() {
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/switch_load.bash"
  BASE="http://127.0.0.1:$APP_PORT"
  cd "$WORKTREE" || return 1
}

# Runs ./deploy.sh in the laptop copy and keeps all it printed, for the secrets check.
deploy() {
  run ./deploy.sh "$@"
  printf '%s\n' "$output" >>"$OUTPUTS"
}

serving_version() {
  curl -fsS --max-time 3 "$BASE/health" | sed -E 's/.*"version":"([^"]*)".*/\1/'
}

commit_change() {
  echo "// $1" >>src/MessageServer/Program.cs
  git -c user.name=test -c user.email=test@example.com commit -qam "$1"
}

@test "the first deploy bootstraps the host, records its key and serves a round trip into PostgreSQL" {
  deploy
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"First connection to [127.0.0.1]:$SSH_PORT"* ]]
  [[ "$output" == *"Recorded host key: "*"SHA256:"* ]]
  [[ "$output" == *"Starting the proxy (caddy:2) on port $APP_PORT"* ]]
  [[ "$output" == *"Deployed "*"http://127.0.0.1:$APP_PORT"* ]]
  run curl -fsS "$BASE/ready"
  [ "$status" -eq 0 ]
  run curl -fsS -X POST "$BASE/api/topics/deployed/messages" -H 'Content-Type: text/plain' --data-binary "via the deployed container"
  [ "$status" -eq 0 ]
  run psql_query "SELECT text FROM messages WHERE topic = 'deployed'"
  [ "$output" = "via the deployed container" ]
  [ "$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}' message-server)" = "unless-stopped true [ALL] [no-new-privileges]" ]
  # Docker versions differ in whether they spell the capability with its CAP_ prefix.
  [[ "$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapAdd}}' message-server-proxy)" =~ ^"unless-stopped true ["(CAP_)?"NET_BIND_SERVICE]"$ ]]
  serving_version >"$BATS_FILE_TMPDIR/first-version"
}

@test "the app listens on no network port: the proxy holds APP_PORT and keeps /metrics to the host" {
  local app_pid
  app_pid=$(docker inspect -f '{{.State.Pid}}' message-server)
  run bash -c "ss -Htlnp | grep 'pid=$app_pid,'"
  [ "$status" -ne 0 ]
  ss -Htlnp "sport = :$APP_PORT" | grep -q caddy
  [ "$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/metrics")" = 404 ]
  [ "$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/METRICS/")" = 404 ]
  run curl -fsS -D - -o /dev/null "$BASE/health"
  [[ "${output,,}" != *"server:"* ]]
  curl -fsS --unix-socket /home/ec2-user/message-server/run/current/app.sock http://localhost/metrics | grep -q '^http_request_duration_seconds'
}

@test "a code change deployed under continuous load serves the new version with zero failed requests" {
  local before after
  before=$(serving_version)
  commit_change "release two"
  deploy_under_load "$BASE" --subscribers 50 --connections 4 --rate 340
  printf '%s\n' "$output" >>"$OUTPUTS"
  echo "$output"
  [ "$status" -eq 0 ]
  after=$(serving_version)
  [ "$after" != "$before" ]
  [[ "$after" == *"-$(git rev-parse --short=7 HEAD)" ]]
  assert_switch_unnoticed "$before" "$after"
}

@test "a build that fails leaves the serving version untouched and exits non-zero" {
  local before
  before=$(serving_version)
  echo "this is not C#" >>src/MessageServer/Program.cs
  git -c user.name=test -c user.email=test@example.com commit -qam "broken"
  deploy
  git reset -q --hard HEAD~1
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *"the image did not build"* ]]
  [[ "$output" == *"was not touched"* ]]
  [ "$(serving_version)" = "$before" ]
}

@test "a version that never becomes ready is removed, its log is shown, and the old one keeps serving" {
  local before
  before=$(serving_version)
  commit_change "never ready"
  sed -i "s/^POSTGRES_PORT=.*/POSTGRES_PORT=1/" .env.production
  DEPLOY_READY_TIMEOUT=8 deploy
  sed -i "s/^POSTGRES_PORT=.*/POSTGRES_PORT=$PG_PORT/" .env.production
  git reset -q --hard HEAD~1
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *"did not become ready within 8s"* ]]
  [[ "$output" == *"last log lines"* ]]
  [[ "$output" == *"Database is not ready yet"* ]]
  [ "$(serving_version)" = "$before" ]
  run docker container inspect message-server-next
  [ "$status" -ne 0 ]
}

@test "rollback switches back to the previous version, and status and logs tell the truth" {
  local first current
  first=$(cat "$BATS_FILE_TMPDIR/first-version")
  current=$(serving_version)
  deploy rollback
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(serving_version)" = "$first" ]

  deploy status
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"URL:        http://<this host>:$APP_PORT"* ]]
  [[ "$output" == *"Proxy:      caddy:2 running"* ]]
  [[ "$output" == *"Serving:    $first"* ]]
  [[ "$output" == *"running since"* ]]
  [[ "$output" == *"$current"* ]]
  [[ "$output" == *'"status":"ready"'* ]]
  [[ "$output" == *"Lock:       free"* ]]

  deploy logs
  [ "$status" -eq 0 ]
  [[ "$output" == *"message-server $first listening on socket /run/message-server/app.sock"* ]]
}

@test "exec runs a command in the serving container, the tokens command included" {
  deploy exec -- dotnet MessageServer.dll healthcheck
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"healthcheck: 200"* ]]

  deploy exec -- dotnet MessageServer.dll tokens create --name deploy-test --read 'alerts*' --write 'alerts*'
  echo "$output"
  [ "$status" -eq 0 ]
  local token
  token=$(grep -E '^mst_' <<<"$output")
  [ -n "$token" ]
  run curl -fsS -X POST "$BASE/api/topics/alerts-deploy/messages" -H "Authorization: Bearer $token" -H 'Content-Type: text/plain' --data-binary "with a token"
  [ "$status" -eq 0 ]
  deploy exec -- dotnet MessageServer.dll tokens list
  [[ "$output" == *"deploy-test"*"active"* ]]
  [[ "$output" != *"$token"* ]]
}

@test "a second deploy while one runs is refused by the lock, naming the holder and the release command" {
  commit_change "concurrent"
  ./deploy.sh >"$BATS_FILE_TMPDIR/first-deploy.log" 2>&1 &
  local first=$!
  local _
  for _ in $(seq 1 240); do
    [ -d /home/ec2-user/message-server/lock ] && break
    sleep 0.25
  done
  [ -d /home/ec2-user/message-server/lock ]
  deploy
  wait "$first"
  local first_status=$?
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *"the host is locked by"*"still running"* ]]
  [[ "$output" == *"./deploy.sh unlock"* ]]
  [ "$first_status" -eq 0 ]
}

@test "a stale lock left by a killed deploy is taken over by the next deploy, which says so" {
  install -d -o ec2-user -g ec2-user /home/ec2-user/message-server/lock
  printf 'holder=gone@laptop\nversion=lost\nstarted=2026-01-01T00:00:00Z\npid=999999\n' >/home/ec2-user/message-server/lock/info
  deploy status
  [[ "$output" == *"Lock:       held by gone@laptop deploying lost"*"STALE"* ]]
  deploy
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Taking over the lock of an interrupted run: gone@laptop deploying lost"*"STALE"* ]]
  [ ! -d /home/ec2-user/message-server/lock ]
}

@test "unlock releases a lock whatever holds it" {
  install -d -o ec2-user -g ec2-user /home/ec2-user/message-server/lock
  printf 'holder=hung@laptop\nversion=stuck\nstarted=2026-01-01T00:00:00Z\npid=1\n' >/home/ec2-user/message-server/lock/info
  deploy
  [ "$status" -ne 0 ]
  [[ "$output" == *"the host is locked by hung@laptop deploying stuck"*"still running as pid 1"* ]]
  [[ "$output" == *"./deploy.sh unlock"* ]]
  deploy unlock
  [ "$status" -eq 0 ]
  [[ "$output" == *"Releasing the lock held by hung@laptop"* ]]
  [ ! -d /home/ec2-user/message-server/lock ]
}

@test "the password appears in no deploy output and no process command line, and the host's env files are 0600" {
  [ -s "$OUTPUTS" ]
  run grep -cF -f <(printf '%s\n' "$PG_PASSWORD") "$OUTPUTS"
  [ "$output" = "0" ]
  local cmdline found=0
  for cmdline in /proc/[0-9]*/cmdline; do
    if tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -qF -f <(printf '%s\n' "$PG_PASSWORD"); then
      found=$((found + 1))
    fi
  done
  [ "$found" -eq 0 ]
  local files
  files=$(find /home/ec2-user/message-server/env -name '*.env')
  [ -n "$files" ]
  for file in $files; do
    [ "$(stat -c '%a %U' "$file")" = "600 ec2-user" ]
  done
  [ "$(stat -c '%a' /home/ec2-user/message-server/env)" = "700" ]
}

@test "a changed host key stops the deploy with an explanation" {
  local known="$BATS_FILE_TMPDIR/changed_known_hosts"
  ssh-keygen -q -t ed25519 -N '' -f "$BATS_FILE_TMPDIR/impostor"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$BATS_FILE_TMPDIR/impostor.pub")" >"$known"
  DEPLOY_KNOWN_HOSTS="$known" deploy status
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *"differs from the one recorded"* ]]
  [[ "$output" == *"ssh-keygen -R"* ]]
}
