#!/bin/sh
# Builds the prebuilt binaries the npm package ships in prebuilds/linux-<arch>/, so that installing
# netprobify needs no compiler: the raw-socket addon (N-API 8, one binary for every Node version
# since 12.22, loaded by node-gyp-build) and the lab's two helpers (`netprobify demo`). `npm pack`
# runs it (prepack) for x64 and arm64, so a package always holds binaries built from the sources it
# ships. It builds in a scratch copy: the working tree's build/ (what the tests load) is left alone.
#   npm run native:prebuild [-- ARCH...]   ARCH: x64, arm64 (default: this machine's); another
#                                          architecture than the host's needs Debian's cross
#                                          toolchain (g++-aarch64-linux-gnu, g++-x86-64-linux-gnu)
set -eu
exec >&2 # a build log: `npm pack --json` keeps stdout for its JSON
# npm's own node-gyp (npm run sets npm_config_node_gyp; it honours npm's nodedir: no header download).
: "${npm_config_node_gyp:?run it through npm: npm run native:prebuild [-- ARCH...]}"
cd "$(dirname "$0")/.."
root=$PWD
host=$(node -p process.arch)
work=$(mktemp -d "${TMPDIR:-/tmp}/netprobify-prebuild-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

build() {
  arch=$1
  case $arch in
  x64) triplet=x86_64-linux-gnu ;;
  arm64) triplet=aarch64-linux-gnu ;;
  *) echo "prebuild: unsupported architecture $arch" >&2 && exit 64 ;;
  esac
  strip=strip
  unset CC CXX LINK AR
  if [ "$arch" != "$host" ]; then
    # node-gyp cross-compiles when told the target architecture and given the cross tools.
    export CC="$triplet-gcc" CXX="$triplet-g++" LINK="$triplet-g++" AR="$triplet-ar"
    strip="$triplet-strip"
    command -v "$CC" >/dev/null || {
      echo "prebuild: $CC not found (apt-get install g++-$(echo "$triplet" | tr _ -))" >&2
      exit 69
    }
  fi
  rm -rf "$work/src" && mkdir -p "$work/src/lab"
  cp -R package.json binding.gyp native "$work/"
  cp -R src/lab/impair "$work/src/lab/"
  out="prebuilds/linux-$arch"
  rm -rf "$out"
  # --tag-libc names the file netprobify.glibc.node: node-gyp-build never offers it to a musl Node.
  "$root/node_modules/.bin/prebuildify" --napi --strip --tag-libc --strip-bin "$strip" \
    --node-gyp "$npm_config_node_gyp" --arch "$arch" --target "$(node -p process.versions.node)" \
    --cwd "$work" --out "$root" --quiet
  for helper in lab-impair lab-responder lab-sethash; do
    cp "$work/build/Release/$helper" "$out/$helper"
    "$strip" --strip-all "$out/$helper"
  done
  ls -l "$out"
}

[ $# -gt 0 ] || set -- "$host"
for arch in "$@"; do build "$arch"; done
