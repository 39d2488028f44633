#!/usr/bin/env bash
# Builds local stand-ins for the two Microsoft base images the Dockerfile names,
#   mcr.microsoft.com/dotnet/aspnet:10.0 and mcr.microsoft.com/dotnet/sdk:10.0,
# from a debootstrapped Debian root plus this machine's own .NET install, for machines that cannot reach
# Microsoft's registry (air-gapped networks, this project's CI). With --seed-packages DIR the SDK stand-in
# also carries the NuGet packages the project needs, so the unmodified Dockerfile builds without network.
# With --proxy it builds only caddy:2, the deploy's front proxy, from this machine's Debian caddy package.
#
#   docker/offline-base-images.sh [--seed-packages DIR] [--force]
#   docker/offline-base-images.sh --proxy [--force]
#
# Needs: docker (engine running), debootstrap, a Debian mirror (read from /etc/apt, or DEBIAN_MIRROR), dotnet;
# for --proxy, caddy (apt-get install caddy) instead of dotnet.
set -euo pipefail

readonly ROOTFS_IMAGE="message-server-standin/debian:bookworm"
readonly SDK_BASE_IMAGE="message-server-standin/sdk-base:10.0"
readonly ASPNET_IMAGE="mcr.microsoft.com/dotnet/aspnet:10.0"
readonly SDK_IMAGE="mcr.microsoft.com/dotnet/sdk:10.0"
readonly PROXY_IMAGE="caddy:2"

die() {
  echo "offline-base-images: $*" >&2
  exit 1
}

log() {
  echo "==> $*"
}

have_image() {
  docker image inspect "$1" >/dev/null 2>&1
}

debian_mirror() {
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local mirror
  mirror=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1 || true)
  if [[ -z "$mirror" ]]; then
    mirror=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1 || true)
  fi
  [[ -n "$mirror" ]] || die "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR=http://your-mirror/debian"
  echo "$mirror"
}

build_rootfs() {
  local work=$1 mirror
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
  mirror=$(debian_mirror)
  log "debootstrapping Debian bookworm from $mirror (about half a minute)"
  debootstrap --variant=minbase --include=libicu72,libssl3,ca-certificates,tzdata bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $work/debootstrap.log"
  rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
  tar -C "$work/rootfs" -c . | docker import - "$ROOTFS_IMAGE" >/dev/null
}

# The runtime stand-in: like the real image, .NET in /usr/share/dotnet and a non-root user "app" (uid 1654).
build_aspnet() {
  local work=$1 dotnet_root=$2
  log "building $ASPNET_IMAGE from $dotnet_root"
  mkdir -p "$work/aspnet/dotnet/shared"
  cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$work/aspnet/dotnet/"
  cp -a "$dotnet_root/shared/Microsoft.NETCore.App" "$dotnet_root/shared/Microsoft.AspNetCore.App" "$work/aspnet/dotnet/shared/"
  cat >"$work/aspnet/Dockerfile" <<DOCKERFILE
FROM $ROOTFS_IMAGE
COPY dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \\
 && echo 'app:x:1654:' >> /etc/group \\
 && echo 'app:x:1654:1654::/home/app:/usr/sbin/nologin' >> /etc/passwd \\
 && mkdir -p /home/app && chown 1654:1654 /home/app
ENV APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true
LABEL message-server.standin=true
DOCKERFILE
  docker build --force-rm -q -t "$ASPNET_IMAGE" "$work/aspnet" >/dev/null
}

build_sdk_base() {
  local work=$1 dotnet_root=$2 part
  log "building the SDK stand-in base from $dotnet_root"
  mkdir -p "$work/sdk/dotnet"
  for part in sdk packs templates sdk-manifests metadata; do
    if [[ -e "$dotnet_root/$part" ]]; then
      cp -a "$dotnet_root/$part" "$work/sdk/dotnet/"
    fi
  done
  cat >"$work/sdk/Dockerfile" <<DOCKERFILE
FROM $ASPNET_IMAGE
COPY dotnet /usr/share/dotnet
ENV DOTNET_NOLOGO=true DOTNET_CLI_TELEMETRY_OPTOUT=true DOTNET_SKIP_FIRST_TIME_EXPERIENCE=true NuGetAudit=false
DOCKERFILE
  docker build --force-rm -q -t "$SDK_BASE_IMAGE" "$work/sdk" >/dev/null
}

# Re-run whenever package versions change: the layer is rebuilt only when the packages differ.
build_seeded_sdk() {
  local work=$1 packages=$2
  log "building $SDK_IMAGE with NuGet packages from $packages"
  mkdir -p "$work/seed"
  cp -a "$packages" "$work/seed/packages"
  cat >"$work/seed/Dockerfile" <<DOCKERFILE
FROM $SDK_BASE_IMAGE
COPY packages /root/.nuget/packages
DOCKERFILE
  docker build --force-rm -q -t "$SDK_IMAGE" "$work/seed" >/dev/null
}

# The proxy stand-in: like the official image, caddy in /usr/bin, its data in /data and its autosaved
# configuration in /config (XDG folders), run as root so it may bind 80 and 443.
build_proxy() {
  local work=$1 caddy
  caddy=$(command -v caddy) || die "caddy is missing: apt-get install caddy (its binary goes into the $PROXY_IMAGE stand-in)"
  log "building $PROXY_IMAGE from $caddy ($(caddy version | cut -d' ' -f1))"
  mkdir -p "$work/proxy"
  cp "$caddy" "$work/proxy/caddy"
  cat >"$work/proxy/Dockerfile" <<DOCKERFILE
FROM $ROOTFS_IMAGE
COPY caddy /usr/bin/caddy
RUN mkdir -p /config/caddy /data/caddy /etc/caddy /srv
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
VOLUME /config /data
EXPOSE 80 443
WORKDIR /srv
LABEL message-server.standin=true
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
DOCKERFILE
  docker build --force-rm -q -t "$PROXY_IMAGE" "$work/proxy" >/dev/null
}

work=""

main() {
  local seed="" force=false proxy=false dotnet_root
  while (($# > 0)); do
    case "$1" in
      --seed-packages) seed=${2:?--seed-packages needs a folder}; shift 2 ;;
      --force) force=true; shift ;;
      --proxy) proxy=true; shift ;;
      -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  docker info >/dev/null 2>&1 || die "the Docker engine is not running (start dockerd or the docker service)"
  work=$(mktemp -d)
  trap 'rm -rf "${work}"' EXIT
  if $force || ! have_image "$ROOTFS_IMAGE"; then
    build_rootfs "$work"
  fi
  if $proxy; then
    if $force || ! have_image "$PROXY_IMAGE"; then
      build_proxy "$work"
    fi
    log "stand-in ready: $PROXY_IMAGE"
    return 0
  fi
  command -v dotnet >/dev/null || die "dotnet is missing: the stand-ins copy this machine's .NET install"
  dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  [[ -d "$dotnet_root/shared/Microsoft.AspNetCore.App" ]] || die "no ASP.NET Core runtime under $dotnet_root"
  if $force || ! have_image "$ASPNET_IMAGE"; then
    build_aspnet "$work" "$dotnet_root"
  fi
  if $force || ! have_image "$SDK_BASE_IMAGE"; then
    build_sdk_base "$work" "$dotnet_root"
  fi
  if [[ -n "$seed" ]]; then
    build_seeded_sdk "$work" "$seed"
  elif ! have_image "$SDK_IMAGE"; then
    docker tag "$SDK_BASE_IMAGE" "$SDK_IMAGE"
  fi
  log "stand-ins ready: $ASPNET_IMAGE, $SDK_IMAGE"
}

main "$@"
