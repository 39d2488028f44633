#!/usr/bin/env bats
# Every shell script of the project passes shellcheck at warning level (style notes are not enforced).

@test "every shell script and bats file is shellcheck-clean" {
  command -v shellcheck >/dev/null || { echo "shellcheck is missing: apt-get install shellcheck" >&2; return 1; }
  cd "$BATS_TEST_DIRNAME/../.."
  local files
  mapfile -t files < <(git ls-files -co --exclude-standard '*.sh' '*.bash' '*.bats' deploy.sh .ci/run | sort -u)
  [ "${#files[@]}" -gt 8 ]
  run shellcheck -x -S warning "${files[@]}"
  echo "$output"
  [ "$status" -eq 0 ]
}
