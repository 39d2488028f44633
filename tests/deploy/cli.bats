#!/usr/bin/env bats
# ./deploy.sh's own checks, before it touches any host: each failure is one clear line.

setup() {
  REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  WORK="$BATS_TEST_TMPDIR/laptop"
  mkdir -p "$WORK/deploy"
  cp "$REPO/deploy.sh" "$REPO/Dockerfile" "$WORK/"
  cp "$REPO/deploy/lib.sh" "$REPO/deploy/remote.sh" "$WORK/deploy/"
  cd "$WORK" || return 1
  unset DEPLOY_HOST DEPLOY_USER DEPLOY_SSH_PORT DEPLOY_SSH_KEY DEPLOY_KNOWN_HOSTS APP_ENV_FILE APP_PORT DEPLOY_READY_TIMEOUT \
    DEPLOY_DOMAIN ACME_EMAIL ACME_CA ACME_CA_ROOT
  printf 'POSTGRES_HOST=db\nPOSTGRES_USER=app\nPOSTGRES_PASSWORD=secret\n' >.env.production
}

@test "help lists every command and setting" {
  run ./deploy.sh help
  [ "$status" -eq 0 ]
  for word in deploy status logs rollback exec ssh unlock DEPLOY_HOST DEPLOY_USER DEPLOY_SSH_PORT DEPLOY_SSH_KEY DEPLOY_KNOWN_HOSTS APP_ENV_FILE APP_PORT \
    DEPLOY_DOMAIN ACME_EMAIL ACME_CA ACME_CA_ROOT acme-staging-v02; do
    [[ "$output" == *"$word"* ]]
  done
}

@test "an unknown command is refused" {
  run ./deploy.sh launch
  [ "$status" -eq 1 ]
  [[ "$output" == *"unknown command 'launch'"* ]]
}

@test "without DEPLOY_HOST the deploy stops and says where to set it" {
  run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"DEPLOY_HOST is not set"*"deploy.env"* ]]
}

@test "a key file others can read is refused with the chmod to run" {
  install -m 644 /dev/null key.pem
  DEPLOY_HOST=192.0.2.1 DEPLOY_SSH_KEY="$PWD/key.pem" run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"mode 644"*"chmod 600"* ]]
}

@test "a missing key file is named" {
  DEPLOY_HOST=192.0.2.1 DEPLOY_SSH_KEY=/nowhere/key.pem run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"DEPLOY_SSH_KEY points to '/nowhere/key.pem', which does not exist"* ]]
}

@test "a missing app env file is named" {
  DEPLOY_HOST=192.0.2.1 APP_ENV_FILE=absent.env run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"absent.env does not exist"* ]]
}

@test "an app env file without the database settings names what it lacks and never prints the password" {
  printf 'POSTGRES_HOST=db\nPOSTGRES_PASSWORD=topsecret\n' >.env.production
  DEPLOY_HOST=192.0.2.1 run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"lacks POSTGRES_USER"* ]]
  [[ "$output" != *topsecret* ]]
}

@test "a CA bundle path that does not exist on the laptop is named" {
  printf 'POSTGRES_SSLROOTCERT=/nowhere/global-bundle.pem\n' >>.env.production
  DEPLOY_HOST=192.0.2.1 run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"POSTGRES_SSLROOTCERT"*"/nowhere/global-bundle.pem"* ]]
}

@test "settings come from deploy.env, and a bad port there is named" {
  printf 'DEPLOY_HOST=192.0.2.1\nAPP_PORT=http\n' >deploy.env
  run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"APP_PORT must be a port number"*"'http'"* ]]
}

@test "no Dockerfile means the wrong folder" {
  rm Dockerfile
  DEPLOY_HOST=192.0.2.1 run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"no Dockerfile"* ]]
}

@test "a DEPLOY_DOMAIN that is a URL or an address is refused with what to write instead" {
  for domain in https://messages.example.com messages.example.com:443 203.0.113.10 localhost; do
    DEPLOY_HOST=192.0.2.1 DEPLOY_DOMAIN=$domain run ./deploy.sh
    [ "$status" -eq 1 ]
    [[ "$output" == *"DEPLOY_DOMAIN must be a DNS name like messages.example.com"*"'$domain'"* ]]
    [ "${#lines[@]}" -eq 1 ]
  done
}

@test "bad ACME settings are each named in one line" {
  DEPLOY_HOST=192.0.2.1 DEPLOY_DOMAIN=messages.example.com ACME_CA=http://acme.example/dir run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"ACME_CA must be the https:// URL of an ACME directory"* ]]
  DEPLOY_HOST=192.0.2.1 DEPLOY_DOMAIN=messages.example.com ACME_EMAIL=ops run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"ACME_EMAIL must be an e-mail address, got 'ops'"* ]]
  echo "not a certificate" >root.pem
  DEPLOY_HOST=192.0.2.1 DEPLOY_DOMAIN=messages.example.com ACME_CA_ROOT=root.pem run ./deploy.sh
  [ "$status" -eq 1 ]
  [[ "$output" == *"ACME_CA_ROOT must be a PEM certificate file on this machine, got 'root.pem'"* ]]
}
