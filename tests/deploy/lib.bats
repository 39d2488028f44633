#!/usr/bin/env bats
# Unit tests of deploy/lib.sh: settings parsing, OS detection for the bootstrap, release names.

setup() {
  source "$BATS_TEST_DIRNAME/../../deploy/lib.sh"
  FIXTURES="$BATS_TEST_DIRNAME/fixtures"
  unset DEPLOY_HOST DEPLOY_USER DEPLOY_SSH_PORT APP_PORT
}

@test "a settings file sets variables, stripping quotes and ignoring comments, blanks and export" {
  cat >"$BATS_TEST_TMPDIR/deploy.env" <<'ENV'
# the host
DEPLOY_HOST="ec2-1-2-3-4.compute.amazonaws.com"

export DEPLOY_USER='admin'
APP_PORT=8080
ENV
  load_settings_file "$BATS_TEST_TMPDIR/deploy.env" "DEPLOY_HOST DEPLOY_USER APP_PORT"
  [ "$DEPLOY_HOST" = "ec2-1-2-3-4.compute.amazonaws.com" ]
  [ "$DEPLOY_USER" = "admin" ]
  [ "$APP_PORT" = "8080" ]
}

@test "the environment wins over the settings file" {
  printf 'DEPLOY_HOST=from-file\nDEPLOY_USER=file-user\n' >"$BATS_TEST_TMPDIR/deploy.env"
  DEPLOY_HOST=from-environment
  load_settings_file "$BATS_TEST_TMPDIR/deploy.env" "DEPLOY_HOST DEPLOY_USER"
  [ "$DEPLOY_HOST" = "from-environment" ]
  [ "$DEPLOY_USER" = "file-user" ]
}

@test "a settings file is read, never executed" {
  printf 'DEPLOY_HOST=$(touch %s/pwned)\n' "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/deploy.env"
  load_settings_file "$BATS_TEST_TMPDIR/deploy.env" "DEPLOY_HOST"
  [ ! -e "$BATS_TEST_TMPDIR/pwned" ]
  [ "$DEPLOY_HOST" = "\$(touch $BATS_TEST_TMPDIR/pwned)" ]
}

@test "an unknown setting is refused with its line number" {
  printf 'DEPLOY_HOST=x\nDEPLOY_HSOT=typo\n' >"$BATS_TEST_TMPDIR/deploy.env"
  run load_settings_file "$BATS_TEST_TMPDIR/deploy.env" "DEPLOY_HOST"
  [ "$status" -eq 1 ]
  [[ "$output" == *"line 2 sets unknown setting DEPLOY_HSOT"* ]]
}

@test "a line that is not KEY=VALUE is refused" {
  printf 'just some words\n' >"$BATS_TEST_TMPDIR/deploy.env"
  run load_settings_file "$BATS_TEST_TMPDIR/deploy.env" "DEPLOY_HOST"
  [ "$status" -eq 1 ]
  [[ "$output" == *"line 1 is not KEY=VALUE"* ]]
}

@test "a missing settings file is no error" {
  run load_settings_file "$BATS_TEST_TMPDIR/absent.env" "DEPLOY_HOST"
  [ "$status" -eq 0 ]
}

@test "env_file_value reads the last assignment and unquotes it" {
  printf 'POSTGRES_USER=first\nexport POSTGRES_USER="second"\nPOSTGRES_HOST=db\n' >"$BATS_TEST_TMPDIR/app.env"
  [ "$(env_file_value "$BATS_TEST_TMPDIR/app.env" POSTGRES_USER)" = "second" ]
  [ "$(env_file_value "$BATS_TEST_TMPDIR/app.env" POSTGRES_PASSWORD)" = "" ]
}

@test "expand_home turns a leading ~/ into the home directory" {
  # shellcheck disable=SC2088 # the tilde is the input under test
  [ "$(HOME=/home/me expand_home '~/.ssh/key.pem')" = "/home/me/.ssh/key.pem" ]
  [ "$(expand_home /abs/key.pem)" = "/abs/key.pem" ]
}

@test "OS detection recognises Amazon Linux 2023, Amazon Linux 2, Debian and Ubuntu" {
  [ "$(detect_os "$FIXTURES/os-release-amzn2023")" = amzn2023 ]
  [ "$(detect_os "$FIXTURES/os-release-amzn2")" = amzn2 ]
  [ "$(detect_os "$FIXTURES/os-release-debian12")" = debian ]
  [ "$(detect_os "$FIXTURES/os-release-ubuntu2404")" = ubuntu ]
}

@test "OS detection falls back on ID_LIKE and calls the rest unsupported" {
  [ "$(detect_os "$FIXTURES/os-release-linuxmint")" = ubuntu ]
  [ "$(detect_os "$FIXTURES/os-release-alpine")" = unsupported ]
  [ "$(detect_os "$BATS_TEST_TMPDIR/missing")" = unsupported ]
}

@test "Docker is installed with dnf on Amazon Linux 2023 and apt on Debian and Ubuntu" {
  [ "$(docker_install_command amzn2023)" = "dnf install -y docker" ]
  [[ "$(docker_install_command debian)" == *"apt-get install -y docker.io" ]]
  [[ "$(docker_install_command ubuntu)" == *"apt-get install -y docker.io" ]]
  run docker_install_command unsupported
  [ "$status" -ne 0 ]
}

@test "a release of a clean tree is named UTC time and short sha" {
  git init -q "$BATS_TEST_TMPDIR/repo"
  touch "$BATS_TEST_TMPDIR/repo/file"
  git -C "$BATS_TEST_TMPDIR/repo" add file
  git -C "$BATS_TEST_TMPDIR/repo" -c user.name=t -c user.email=t@example.com commit -qm one
  local sha
  sha=$(git -C "$BATS_TEST_TMPDIR/repo" rev-parse --short=7 HEAD)
  [[ "$(release_version "$BATS_TEST_TMPDIR/repo")" =~ ^[0-9]{8}T[0-9]{6}Z-$sha$ ]]
}

@test "a release of a tree with uncommitted changes is marked dirty" {
  git init -q "$BATS_TEST_TMPDIR/repo"
  touch "$BATS_TEST_TMPDIR/repo/file"
  git -C "$BATS_TEST_TMPDIR/repo" add file
  git -C "$BATS_TEST_TMPDIR/repo" -c user.name=t -c user.email=t@example.com commit -qm one
  echo change >"$BATS_TEST_TMPDIR/repo/file"
  [[ "$(release_version "$BATS_TEST_TMPDIR/repo")" =~ ^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7}-dirty$ ]]
}

@test "a release outside git says so" {
  mkdir -p "$BATS_TEST_TMPDIR/plain"
  [[ "$(release_version "$BATS_TEST_TMPDIR/plain")" =~ ^[0-9]{8}T[0-9]{6}Z-nogit$ ]]
}

@test "release names sort in time order, whatever their sha" {
  local earlier later
  earlier=$(release_version "$BATS_TEST_TMPDIR")
  sleep 1
  later=$(release_version "$BATS_TEST_TMPDIR")
  [[ "${earlier/nogit/fffffff}" < "${later/nogit/0000000}" ]]
}
