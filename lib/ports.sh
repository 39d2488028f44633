# shellcheck shell=bash
# Neutral shell helpers shared by the benchmarks (bench/lib.sh) and the test support (tests/support/docker.bash);
# nothing here prints or exits on its own, so each tool keeps its own messages.

# A free TCP port on this machine: below the kernel's ephemeral range (outgoing connections take their ports
# from there, so none can be holding it a moment later) and used by no socket at all.
free_local_port() {
  local port low used
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  used=$(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -u || true)
  while true; do
    port=$((20000 + RANDOM % (low - 20000)))
    if ! grep -qx "$port" <<<"$used" && ! (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
}
