# shellcheck shell=bash
# A local ACME certificate authority for the https deploy tests: Let's Encrypt's test server pebble, with
# pebble-challtestsrv as its DNS (every name resolves to 127.0.0.1, where the proxy answers the challenges).
# Nothing leaves the machine.

# Starts both; sets ACME_DIR, ACME_DIRECTORY_URL, ACME_LISTENER_CA (what pebble's own HTTPS listener is signed
# by: the ACME_CA_ROOT of the deploy) and ACME_ISSUER_ROOT (the root pebble issues certificates under).
start_acme_server() {
  local dns_port acme_port management_port challenge_management_port
  for tool in pebble pebble-challtestsrv openssl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install pebble openssl" >&2; return 1; }
  done
  ACME_DIR=$(mktemp -d /tmp/ms-acme-XXXXXX)
  dns_port=$(free_port)
  acme_port=$(free_port)
  management_port=$(free_port)
  challenge_management_port=$(free_port)

  # A throwaway CA for pebble's listener, which the proxy must trust to talk ACME at all.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=message-server test ACME listener CA" \
    -keyout "$ACME_DIR/listener-ca.key" -out "$ACME_DIR/listener-ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=pebble" -keyout "$ACME_DIR/listener.key" -out "$ACME_DIR/listener.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$ACME_DIR/listener.ext"
  openssl x509 -req -in "$ACME_DIR/listener.csr" -CA "$ACME_DIR/listener-ca.pem" -CAkey "$ACME_DIR/listener-ca.key" \
    -CAcreateserial -days 2 -extfile "$ACME_DIR/listener.ext" -out "$ACME_DIR/listener.pem" 2>/dev/null

  # Challenges are validated where the proxy listens: 80 (HTTP-01) and 443 (TLS-ALPN-01).
  cat >"$ACME_DIR/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$acme_port", "managementListenAddress": "127.0.0.1:$management_port",
  "certificate": "$ACME_DIR/listener.pem", "privateKey": "$ACME_DIR/listener.key",
  "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
  without_inherited_fds pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns_port" \
    -http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$challenge_management_port" \
    </dev/null >"$ACME_DIR/challtestsrv.log" 2>&1 &
  echo $! >"$ACME_DIR/challtestsrv.pid"
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 without_inherited_fds pebble -config "$ACME_DIR/pebble.json" \
    -dnsserver "127.0.0.1:$dns_port" </dev/null >"$ACME_DIR/pebble.log" 2>&1 &
  echo $! >"$ACME_DIR/pebble.pid"

  ACME_DIRECTORY_URL="https://127.0.0.1:$acme_port/dir"
  ACME_LISTENER_CA="$ACME_DIR/listener-ca.pem"
  ACME_ISSUER_ROOT="$ACME_DIR/issuer-root.pem"
  local _
  for _ in $(seq 1 40); do
    curl -fsS --cacert "$ACME_LISTENER_CA" "$ACME_DIRECTORY_URL" >/dev/null 2>&1 && break
    sleep 0.25
  done
  curl -fsS --cacert "$ACME_LISTENER_CA" "https://127.0.0.1:$management_port/roots/0" >"$ACME_ISSUER_ROOT" || {
    echo "pebble did not start; its log:" >&2
    cat "$ACME_DIR/pebble.log" >&2
    return 1
  }
  export ACME_DIR ACME_DIRECTORY_URL ACME_LISTENER_CA ACME_ISSUER_ROOT
}

stop_acme_server() {
  local pid_file pid
  [[ -n "${ACME_DIR:-}" && -d "$ACME_DIR" ]] || return 0
  for pid_file in "$ACME_DIR"/*.pid; do
    pid=$(cat "$pid_file")
    # The recorded process is the subshell of without_inherited_fds; the server is its child.
    # shellcheck disable=SC2046 # a list of process ids
    kill $(pgrep -P "$pid") "$pid" 2>/dev/null || true
  done
  rm -rf "$ACME_DIR"
}

# The certificate the proxy serves for DOMAIN on 127.0.0.1:443, as "serial issuer notAfter" lines.
served_certificate_details() {
  openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null |
    openssl x509 -noout -serial -issuer -enddate
}
