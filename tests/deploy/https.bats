#!/usr/bin/env bats
# ./deploy.sh with DEPLOY_DOMAIN against the local EC2 stand-in: the proxy obtains a real certificate through
# the ACME protocol from pebble (Let's Encrypt's test server), whose DNS (pebble-challtestsrv) resolves the
# test domain to this machine. The tests run in order and share one host.

readonly DOMAIN=messages.example.test

setup_file() {
  REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export REPO
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/ec2_host.bash"
  source "$BATS_TEST_DIRNAME/../support/acme.bash"
  start_deploy_stand_ins "$REPO"
  start_acme_server
  prepare_laptop "$REPO"
  export DEPLOY_DOMAIN=$DOMAIN ACME_CA="$ACME_DIRECTORY_URL" ACME_CA_ROOT="$ACME_LISTENER_CA" ACME_EMAIL=ops@example.test
}

teardown_file() {
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/ec2_host.bash"
  source "$BATS_TEST_DIRNAME/../support/acme.bash"
  stop_deploy_stand_ins
  stop_acme_server
}

setup() {
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
  source "$BATS_TEST_DIRNAME/../support/acme.bash"
  source "$BATS_TEST_DIRNAME/../support/switch_load.bash"
  cd "$WORKTREE" || return 1
}

# curl as a client that trusts pebble's issuing root and finds the domain at this machine.
https_curl() {
  curl --cacert "$ACME_ISSUER_ROOT" --resolve "$DOMAIN:443:127.0.0.1" --resolve "$DOMAIN:80:127.0.0.1" "$@"
}

serving_version() {
  https_curl -fsS --max-time 3 "https://$DOMAIN/health" | sed -E 's/.*"version":"([^"]*)".*/\1/'
}

@test "a deploy with DEPLOY_DOMAIN obtains a certificate over ACME and serves https with HTTP/2 and HSTS" {
  run ./deploy.sh
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Starting the proxy (caddy:2) on ports 80 and 443 for $DOMAIN"* ]]
  [[ "$output" == *"Certificate issued by: "*"Pebble Intermediate CA"* ]]
  [[ "$output" == *"Deployed "*": https://$DOMAIN "* ]]

  run https_curl -fsS --http2 -D - -o /dev/null -w '%{http_version}' "https://$DOMAIN/health"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"strict-transport-security: max-age=31536000"* ]]
  [ "${output##*$'\n'}" = 2 ]
  served_certificate_details "$DOMAIN" >"$BATS_FILE_TMPDIR/first-certificate"
  grep -q 'Pebble Intermediate CA' "$BATS_FILE_TMPDIR/first-certificate"
}

@test "http:// on port 80 redirects to https://" {
  run https_curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "http://$DOMAIN/api/topics/x/messages?limit=1"
  [ "$output" = "308 https://$DOMAIN/api/topics/x/messages?limit=1" ]
}

@test "/metrics is not reachable through the proxy, and the proxy names the client to the app" {
  [ "$(https_curl -sS -o /dev/null -w '%{http_code}' "https://$DOMAIN/metrics")" = 404 ]
  [ "$(https_curl -sS -o /dev/null -w '%{http_code}' "https://$DOMAIN/Metrics/")" = 404 ]
  # A client cannot pick its own address: the proxy replaces X-Forwarded-For with the connection's.
  https_curl -fsS -o /dev/null -H 'X-Forwarded-For: 198.51.100.7' "https://$DOMAIN/health"
}

@test "a stream passes through over HTTP/2 as events arrive and resumes after Last-Event-ID" {
  local topic="stream-$RANDOM" first second third
  first=$(https_curl -fsS -H 'Content-Type: text/plain' --data-binary one "https://$DOMAIN/api/topics/$topic/messages" | sed -E 's/.*"id":([0-9]+).*/\1/')
  second=$(https_curl -fsS -H 'Content-Type: text/plain' --data-binary two "https://$DOMAIN/api/topics/$topic/messages" | sed -E 's/.*"id":([0-9]+).*/\1/')
  third=$(https_curl -fsS -H 'Content-Type: text/plain' --data-binary three "https://$DOMAIN/api/topics/$topic/messages" | sed -E 's/.*"id":([0-9]+).*/\1/')
  # The stream never ends by itself: what arrives before the time limit was passed on unbuffered.
  run https_curl -sS --http2 -N --max-time 3 -H "Last-Event-ID: $first" -w '\nprotocol %{http_version}\n' "https://$DOMAIN/api/topics/$topic/stream"
  echo "$output"
  [[ "$output" != *"id: $first"$'\n'* ]]
  [[ "$output" == *"id: $second"* ]]
  [[ "$output" == *"id: $third"* ]]
  [[ "$output" == *"protocol 2"* ]]
}

@test "Chromium trusting pebble's root loads the page and its live stream over HTTP/2" {
  local playwright_core node
  playwright_core=$(find "${NUGET_PACKAGES:-$HOME/.nuget/packages}/microsoft.playwright" -path '*/.playwright/package/package.json' 2>/dev/null | sort -V | tail -n 1)
  node=$(find "${NUGET_PACKAGES:-$HOME/.nuget/packages}/microsoft.playwright" -path '*/.playwright/node/linux-x64/node' 2>/dev/null | sort -V | tail -n 1)
  [ -n "$playwright_core" ] && [ -n "$node" ] || { echo "Playwright's package is missing: run dotnet restore (the .NET tests restore it)" >&2; return 1; }
  export HOME="$BATS_TEST_TMPDIR/home"
  mkdir -p "$HOME/.pki/nssdb"
  certutil -d "sql:$HOME/.pki/nssdb" -N --empty-password
  certutil -d "sql:$HOME/.pki/nssdb" -A -t "C,," -n "pebble root" -i "$ACME_ISSUER_ROOT"
  run env PLAYWRIGHT_CORE="$(dirname "$playwright_core")" timeout 90 "$node" "$BATS_TEST_DIRNAME/../support/browser_check.js" "https://$DOMAIN" "$DOMAIN"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"posted":201'* ]]
  [[ "$output" == *'"page":"h2"'* ]]
  [[ "$output" == *'"api":["h2"'* ]]
}

@test "a second deploy under load keeps the certificate and the proxy, and no request fails" {
  local before after proxy_started
  before=$(serving_version)
  proxy_started=$(docker inspect -f '{{.State.StartedAt}}' message-server-proxy)
  echo "// release two" >>src/MessageServer/Program.cs
  git -c user.name=test -c user.email=test@example.com commit -qam "release two"
  deploy_under_load "https://$DOMAIN" --connect 127.0.0.1 --cafile "$ACME_ISSUER_ROOT" --subscribers 50 --connections 4 --rate 340
  echo "$output"
  [ "$status" -eq 0 ]
  after=$(serving_version)
  [ "$after" != "$before" ]
  assert_switch_unnoticed "$before" "$after"
  [ "$(docker inspect -f '{{.State.StartedAt}}' message-server-proxy)" = "$proxy_started" ]
  [ "$(served_certificate_details "$DOMAIN")" = "$(cat "$BATS_FILE_TMPDIR/first-certificate")" ]
}

@test "the certificate survives a proxy restart, and one near its expiry is renewed over ACME" {
  local first storage certificate key
  first=$(cat "$BATS_FILE_TMPDIR/first-certificate")
  docker restart message-server-proxy >/dev/null
  wait_for_served_certificate 'Pebble Intermediate CA' 20
  [ "$(served_certificate_details "$DOMAIN")" = "$first" ]

  # Pebble's certificates last five years: put one in the proxy's storage that is about to expire (same key,
  # self-signed), as if years had passed, and restart the proxy: it loads it, finds it due and renews it.
  storage=$(docker volume inspect -f '{{.Mountpoint}}' message-server-proxy-data)
  certificate=$(find "$storage" -name "$DOMAIN.crt")
  key=$(find "$storage" -name "$DOMAIN.key")
  [ -n "$certificate" ] && [ -n "$key" ]
  python3 "$BATS_TEST_DIRNAME/../support/expiring_certificate.py" "$DOMAIN" "$key" >"$certificate"
  docker restart message-server-proxy >/dev/null
  wait_for_served_certificate 'Pebble Intermediate CA' 60
  [ "$(served_certificate_details "$DOMAIN")" != "$first" ]
  [ -n "$(serving_version)" ]
}

@test "status shows the URL, the certificate's issuer and expiry" {
  run ./deploy.sh status
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"URL:        https://$DOMAIN"* ]]
  [[ "$output" == *"Certificate: issued by "*"Pebble Intermediate CA"*", expires "*" GMT"* ]]
  [[ "$output" == *"Proxy:      caddy:2 running"* ]]
}

@test "changed settings reload the running proxy, which keeps its certificate" {
  local proxy_started before
  proxy_started=$(docker inspect -f '{{.State.StartedAt}}' message-server-proxy)
  before=$(served_certificate_details "$DOMAIN")
  ACME_EMAIL=security@example.test run ./deploy.sh
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Reloading the proxy with the new settings"* ]]
  grep -q 'email security@example.test' /home/ec2-user/message-server/proxy/Caddyfile
  [ "$(docker inspect -f '{{.State.StartedAt}}' message-server-proxy)" = "$proxy_started" ]
  [ "$(served_certificate_details "$DOMAIN")" = "$before" ]
}

# Waits up to $2 seconds until the proxy serves a certificate for the domain whose issuer contains $1.
wait_for_served_certificate() {
  local issuer=$1 seconds=$2 _
  for _ in $(seq 1 "$seconds"); do
    served_certificate_details "$DOMAIN" 2>/dev/null | grep -qF "$issuer" && return 0
    sleep 1
  done
  echo "no certificate issued by $issuer within ${seconds}s; the proxy's log:" >&2
  docker logs --tail 30 message-server-proxy >&2 2>&1
  return 1
}
