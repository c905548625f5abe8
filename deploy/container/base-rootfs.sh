#!/bin/sh
# Makes the root filesystems the container test imports as its base images, from Debian's own
# packages (debootstrap), because no image can be pulled where CI runs. Two tarballs, cached outside
# the clone so that later CI runs skip the download:
#   bookworm-runtime.tar  Debian minbase: what the image runs on (no compiler)
#   bookworm-build.tar    minbase + g++, make, python3: what the build stage compiles the addon with
#   bookworm-systemd.tar  minbase + systemd, procps (/bin/kill): a system the unit test boots in a container
# Runs outside the lab (it needs Debian's mirror); the test itself never touches the network.
#
#   sh deploy/container/base-rootfs.sh [CACHE_DIR]    default: $NETPROBIFY_CI_CACHE or /var/cache/netprobify-ci
set -eu

cache=${1:-${NETPROBIFY_CI_CACHE:-/var/cache/netprobify-ci}}
suite=bookworm
# The mirror apt uses here (deb822 or one-line sources), else Debian's own; DEBIAN_MIRROR overrides.
apt_mirror() {
  sed -n 's|^URIs: *\([^ ]*/debian/\{0,1\}\)$|\1|p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1
  awk '$1 == "deb" && $3 == "'"$suite"'" { print $2; exit }' /etc/apt/sources.list 2>/dev/null
}
mirror=${DEBIAN_MIRROR:-$(apt_mirror | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$cache/debs"

make_rootfs() { # name, extra debootstrap arguments
  name=$1
  shift
  out="$cache/$suite-$name.tar"
  # The cache is valid for the same debootstrap arguments only (written beside the tarball).
  if [ -s "$out" ] && [ "$(cat "$out.args" 2>/dev/null)" = "$*" ]; then
    echo "base-rootfs: $out is cached"
    return
  fi
  dir=$(mktemp -d "$cache/rootfs-$name.XXXXXX")
  trap 'rm -rf "$dir" "$out.tmp"' EXIT
  start=$(date +%s)
  debootstrap --variant=minbase --cache-dir="$cache/debs" "$@" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
  rm -f "$dir.log"
  rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*_Packages
  tar --numeric-owner --xattrs -C "$dir" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  echo "$*" >"$out.args"
  rm -rf "$dir"
  trap - EXIT
  echo "base-rootfs: $out made in $(($(date +%s) - start)) s ($(du -h "$out" | cut -f1))"
}

make_rootfs runtime
make_rootfs build --include=g++,make,python3
make_rootfs systemd --include=systemd,procps
