#!/usr/bin/env bats
# The shared test helpers themselves: daemons started from a test must not keep bats's descriptors, or bats
# waits for them forever after the last test.

setup() {
  # shellcheck source=../support/docker.bash
  source "$BATS_TEST_DIRNAME/../support/docker.bash"
}

teardown() {
  if [[ -n "${daemon:-}" ]]; then
    kill "$daemon" 2>/dev/null || true
  fi
}

@test "a process started without inherited descriptors holds only stdin, stdout and stderr" {
  local log="$BATS_TEST_TMPDIR/daemon.log" fds
  without_inherited_fds setsid --fork sleep 60 </dev/null >"$log" 2>&1
  daemon=$(pgrep -n -f '^sleep 60$')
  [ -n "$daemon" ]
  fds=$(ls /proc/"$daemon"/fd | sort -n | tr '\n' ' ')
  [ "$fds" = "0 1 2 " ]
  # The caller keeps its own: bats's output descriptor is still open here.
  [ -e /proc/$$/fd/3 ]
}
