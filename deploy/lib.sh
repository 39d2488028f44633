# shellcheck shell=bash
# Functions shared by deploy.sh (on the laptop) and deploy/remote.sh (on the host), kept free of side effects
# at load time so the shell unit tests (tests/deploy/lib.bats) can call them one by one.

# The deploy's folder on the host, relative to the deploy user's home: ssh and scp paths start there, and
# remote.sh (which runs there) puts $HOME in front.
# shellcheck disable=SC2034 # used by deploy.sh and remote.sh
REMOTE_DIR=message-server
# Where the container finds the PostgreSQL CA bundle that POSTGRES_SSLROOTCERT names on the laptop.
# shellcheck disable=SC2034 # used by deploy.sh and remote.sh
CA_PATH_IN_CONTAINER=/etc/message-server/postgres-ca.pem

# Prints an error on stderr and exits: every failure says what went wrong and what to do next.
die() {
  echo "deploy: error: $*" >&2
  exit 1
}

# Reads KEY=VALUE lines from a settings file without executing it (comments, blank lines, "export ", and
# matching single or double quotes allowed) and sets each variable that the environment has not set already:
# the environment wins over the file. Unknown keys are refused so that typos do not go unnoticed.
load_settings_file() {
  local file=$1 allowed=$2 line key value number=0
  [[ -f "$file" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    number=$((number + 1))
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    line="${line#export }"
    if [[ ! "$line" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      die "$file line $number is not KEY=VALUE: '$line'"
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ " $allowed " != *" $key "* ]]; then
      die "$file line $number sets unknown setting $key (known: $allowed)"
    fi
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    if [[ -z "${!key+set}" ]]; then
      printf -v "$key" '%s' "$value"
      export "${key?}"
    fi
  done <"$file"
}

# A leading ~/ in a path from a settings file means the home directory, as it would in a shell.
expand_home() {
  local path=$1
  if [[ "$path" == \~/* ]]; then
    echo "$HOME/${path#"~/"}"
  else
    echo "$path"
  fi
}

# Reads one variable from an env file (last assignment wins), printing nothing when it is absent.
env_file_value() {
  local file=$1 key=$2
  sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$key=(.*)$/\2/p" "$file" | tail -n 1 | sed -E "s/^\"(.*)\"$/\1/; s/^'(.*)'$/\1/"
}

# The release name: UTC time, git short sha, and -dirty when the tree has uncommitted changes; names sort by time.
release_version() {
  local directory=${1:-.} stamp sha
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  if sha=$(git -C "$directory" rev-parse --short=7 HEAD 2>/dev/null); then
    if [[ -n "$(git -C "$directory" status --porcelain 2>/dev/null)" ]]; then
      echo "$stamp-$sha-dirty"
    else
      echo "$stamp-$sha"
    fi
  else
    echo "$stamp-nogit"
  fi
}

# Names the operating system family from an os-release file: amzn2023, amzn2, debian, ubuntu, fedora or unsupported.
detect_os() {
  local file=${1:-/etc/os-release} id version like
  [[ -r "$file" ]] || { echo unsupported; return 0; }
  id=$(sed -n -E 's/^ID="?([^"]*)"?$/\1/p' "$file")
  version=$(sed -n -E 's/^VERSION_ID="?([^"]*)"?$/\1/p' "$file")
  like=$(sed -n -E 's/^ID_LIKE="?([^"]*)"?$/\1/p' "$file")
  case "$id" in
    amzn) [[ "$version" == 2023* ]] && echo amzn2023 || echo amzn2 ;;
    debian | ubuntu | fedora) echo "$id" ;;
    *)
      case " $like " in
        *" ubuntu "*) echo ubuntu ;;
        *" debian "*) echo debian ;;
        *" fedora "*) echo fedora ;;
        *) echo unsupported ;;
      esac
      ;;
  esac
}

# The command that installs and starts Docker on that system, or nothing when it is not supported.
docker_install_command() {
  case "$1" in
    amzn2023 | fedora) echo "dnf install -y docker" ;;
    amzn2) echo "yum install -y docker" ;;
    debian | ubuntu) echo "env DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io" ;;
    *) return 1 ;;
  esac
}
