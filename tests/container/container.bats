#!/usr/bin/env bats
# The message-server image for real: built from the unmodified Dockerfile (offline, from the base-image
# stand-ins when Microsoft's registry is out of reach), run against a real PostgreSQL standing in for RDS.

setup_file() {
  REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export REPO
  # shellcheck source=../support/docker.bash
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  ensure_docker
  ensure_base_images "$REPO"
  start_container_postgres

  export IMAGE="message-server:container-test-$$"
  export CONTAINER="ms-container-test-$$"
  export WORK_DIR="$BATS_FILE_TMPDIR"
  export APP_PORT
  APP_PORT=$(free_port)
  local started
  started=$(date +%s%N)
  docker build --force-rm --network none -q --build-arg VERSION=container-test --build-arg REVISION=test \
    -t "$IMAGE" "$REPO" >"$WORK_DIR/build.log" 2>&1 || { cat "$WORK_DIR/build.log" >&3; return 1; }

  # Secrets reach the container only through an env file, never the command line or the image.
  install -m 600 /dev/null "$WORK_DIR/app.env"
  cat >"$WORK_DIR/app.env" <<ENV
POSTGRES_HOST=host.docker.internal
POSTGRES_PORT=$PG_PORT
POSTGRES_USER=postgres
POSTGRES_PASSWORD=$PG_PASSWORD
POSTGRES_SSLMODE=disable
ENV
  started=$(date +%s%N)
  docker run -d --name "$CONTAINER" --env-file "$WORK_DIR/app.env" --add-host=host.docker.internal:host-gateway \
    -p "127.0.0.1:$APP_PORT:5002" --health-interval=1s \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    "$IMAGE" >/dev/null
  wait_for_http "http://127.0.0.1:$APP_PORT/ready" 60
  echo "$(( ($(date +%s%N) - started) / 1000000 ))" >"$WORK_DIR/start-to-ready-ms"
}

teardown_file() {
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  docker rm -f "$CONTAINER" "$CONTAINER-sqlite" "$CONTAINER-portable" >/dev/null 2>&1 || true
  docker volume rm "$CONTAINER-data" >/dev/null 2>&1 || true
  docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
  stop_container_postgres
}

setup() {
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  BASE="http://127.0.0.1:$APP_PORT"
}

publish() {
  curl -fsS -X POST "$BASE/api/topics/$1/messages" -H 'Content-Type: text/plain' --data-binary "$2"
}

@test "the image reports ready against PostgreSQL and its start-to-ready time" {
  run curl -fsS "$BASE/ready"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"status":"ready"'* ]]
  echo "# start to ready: $(cat "$WORK_DIR/start-to-ready-ms") ms, image size: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes" >&3
}

@test "a publish and read round trip lands in the PostgreSQL database" {
  local topic="roundtrip-$RANDOM"
  run publish "$topic" "stored through the container"
  [ "$status" -eq 0 ]
  run curl -fsS "$BASE/api/topics/$topic/messages"
  [[ "$output" == *'"text":"stored through the container"'* ]]
  run psql_query "SELECT text FROM messages WHERE topic = '$topic'"
  [ "$output" = "stored through the container" ]
}

@test "the server process runs as the non-root app user (uid 1654)" {
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
  run ps -o uid= -p "$pid"
  [ "$(echo "$output" | tr -d ' ')" = "1654" ]
}

@test "the HEALTHCHECK, run by the app binary itself, reports healthy" {
  local _ health=""
  for _ in $(seq 1 60); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$CONTAINER")
    [ "$health" = "healthy" ] && break
    sleep 0.5
  done
  [ "$health" = "healthy" ]
  run docker inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE"
  [[ "$output" == *'"healthcheck"'* ]]
}

@test "the health probe exits 1 with a clear line when no server answers" {
  run docker run --rm --network none --entrypoint dotnet "$IMAGE" MessageServer.dll healthcheck
  [ "$status" -eq 1 ]
  [[ "$output" == *"healthcheck: no answer from http://127.0.0.1:5002/ready"* ]]
}

@test "the image holds no env files or keys, and no secret in its configuration or history" {
  local exported="$WORK_DIR/filesystem.txt"
  docker create --name "$CONTAINER-inspect" "$IMAGE" >/dev/null
  docker export "$CONTAINER-inspect" | tar -t >"$exported"
  docker rm "$CONTAINER-inspect" >/dev/null
  run grep -E '^(app|data)/.*(\.env|deploy\.env|\.pem|\.key|id_rsa|id_ed25519|\.db)' "$exported"
  [ "$status" -eq 1 ]
  grep -q '^app/MessageServer.dll$' "$exported"
  run docker image inspect -f '{{json .Config.Env}}' "$IMAGE"
  [[ "$output" != *POSTGRES_PASSWORD* ]]
  run docker history --no-trunc "$IMAGE"
  [[ "$output" != *"$PG_PASSWORD"* ]]
}

@test "the container's log shows no library error from its PostgreSQL connections (GSSAPI is not probed)" {
  run docker logs "$CONTAINER"
  [[ "$output" != *"libgssapi"* ]]
  [[ "$output" != *"Cannot load library"* ]]
}

@test "the password appears in neither the container's logs nor its command line" {
  run docker logs "$CONTAINER"
  [[ "$output" != *"$PG_PASSWORD"* ]]
  run docker inspect -f '{{json .Config.Cmd}} {{json .Config.Entrypoint}} {{json .Args}}' "$CONTAINER"
  [[ "$output" != *"$PG_PASSWORD"* ]]
}

@test "docker stop during continuous publishing exits 0 and loses no acknowledged message" {
  local topic="shutdown-$RANDOM" acknowledged="$WORK_DIR/acknowledged.txt" i=0 code
  : >"$acknowledged"
  (
    while true; do
      i=$((i + 1))
      body=$(curl -sS -X POST "$BASE/api/topics/$topic/messages" -H 'Content-Type: text/plain' \
        --data-binary "load $i" --max-time 5 -w '\n%{http_code}' 2>/dev/null) || break
      [ "${body##*$'\n'}" = "201" ] && echo "load $i" >>"$acknowledged"
      [ "${body##*$'\n'}" = "000" ] && break
    done
  ) &
  local loader=$!
  sleep 2
  local started
  started=$(date +%s)
  docker stop "$CONTAINER" >/dev/null
  local took=$(($(date +%s) - started))
  wait "$loader" || true

  code=$(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER")
  [ "$code" -eq 0 ]
  [ "$took" -lt 10 ]
  [ "$(wc -l <"$acknowledged")" -gt 10 ]
  psql_query "SELECT text FROM messages WHERE topic = '$topic'" | sort >"$WORK_DIR/stored.txt"
  run comm -23 <(sort "$acknowledged") "$WORK_DIR/stored.txt"
  [ -z "$output" ]
  echo "# $(wc -l <"$acknowledged") acknowledged publishes, all stored; docker stop took ${took}s" >&3
}

@test "without POSTGRES_HOST the image keeps SQLite in the /data volume" {
  local port
  port=$(free_port)
  docker run -d --name "$CONTAINER-sqlite" -v "$CONTAINER-data:/data" -p "127.0.0.1:$port:5002" "$IMAGE" >/dev/null
  wait_for_http "http://127.0.0.1:$port/ready" 60
  run curl -fsS -X POST "http://127.0.0.1:$port/api/topics/local/messages" -H 'Content-Type: text/plain' --data-binary "in sqlite"
  [ "$status" -eq 0 ]
  docker rm -f "$CONTAINER-sqlite" >/dev/null
  run docker run --rm -v "$CONTAINER-data:/data" --entrypoint ls "$IMAGE" /data
  [[ "$output" == *"messages.db"* ]]
}

@test "compose.yaml wires the app to a health-gated postgres and demands a password" {
  command -v docker-compose >/dev/null || { echo "docker-compose is missing: apt-get install docker-compose" >&2; return 1; }
  cd "$REPO"
  run env POSTGRES_PASSWORD=example docker-compose -f compose.yaml config
  [ "$status" -eq 0 ]
  [[ "$output" == *"condition: service_healthy"* ]]
  [[ "$output" == *"POSTGRES_HOST: postgres"* ]]
  [[ "$output" == *"5002"* ]]
  # From a folder without a .env file, as on a fresh clone.
  cp compose.yaml "$BATS_TEST_TMPDIR/compose.yaml"
  cd "$BATS_TEST_TMPDIR"
  run env -u POSTGRES_PASSWORD docker-compose -f compose.yaml config
  [ "$status" -ne 0 ]
  [[ "$output" == *"set POSTGRES_PASSWORD in .env"* ]]
}

@test "without the packages for a ReadyToRun build the image builds portable and serves" {
  # An SDK whose package cache lacks the runtime packs, like an offline seed made without --use-current-runtime.
  local context="$BATS_TEST_TMPDIR/context" sdk="message-server-test/sdk-without-runtime-packs:$$" image="$IMAGE-portable" port
  mkdir -p "$context"
  printf 'FROM mcr.microsoft.com/dotnet/sdk:10.0\nRUN rm -rf /root/.nuget/packages/microsoft.netcore.app.runtime.* /root/.nuget/packages/microsoft.aspnetcore.app.runtime.* /root/.nuget/packages/microsoft.netcore.app.crossgen2.*\n' >"$context/Dockerfile"
  docker build -q -t "$sdk" "$context" >/dev/null
  # The project's Dockerfile with only its build stage's base image swapped.
  sed "s|^FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build|FROM $sdk AS build|" "$REPO/Dockerfile" >"$context/Dockerfile.portable"
  run docker build --force-rm --network none -t "$image" -f "$context/Dockerfile.portable" "$REPO"
  docker image rm -f "$sdk" >/dev/null 2>&1 || true
  [ "$status" -eq 0 ]
  [[ "$output" == *"building portable instead"* ]]
  port=$(free_port)
  docker run -d --name "$CONTAINER-portable" -p "127.0.0.1:$port:5002" "$image" >/dev/null
  wait_for_http "http://127.0.0.1:$port/ready" 60
  run curl -fsS -X POST "http://127.0.0.1:$port/api/topics/portable/messages" -H 'Content-Type: text/plain' --data-binary "portable build"
  docker rm -f "$CONTAINER-portable" >/dev/null
  docker image rm -f "$image" >/dev/null 2>&1 || true
  [ "$status" -eq 0 ]
  [[ "$output" == *'"text":"portable build"'* ]]
}
