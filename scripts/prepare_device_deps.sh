#!/usr/bin/env bash
# Unpacks, on this (Debian/Ubuntu, networked) machine, the build dependencies that the GPU test
# machine lacks into .deps/root (git-ignored), so that ribo builds there without HDF5, OpenCL or
# pkg-config, from a copy of the checkout that carries .deps:
#   libcjson1 libcjson-dev  cJSON headers and library (found by find_path/find_library there)
#   zlib1g zlib1g-dev       zlib headers; zlib1g-dev's libz.so is an absolute link to /lib/...,
#                           so zlib1g is unpacked too and that link is made relative (into .deps)
# Nothing is installed: `apt-get download` + `dpkg -x` only. Afterwards it prints the cmake flags
# and library path to use on the GPU machine. Usage: bash scripts/prepare_device_deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
root=$repo/.deps/root
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
libdir=usr/lib/$multiarch
packages=(libcjson1 libcjson-dev zlib1g zlib1g-dev)

die() {
  echo "prepare_device_deps: $*" >&2
  exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
download() { (cd "$tmp" && apt-get download "${packages[@]}") >"$tmp/download.log" 2>&1; }
if ! download; then
  # an image with empty package lists: refresh them once (as root or through sudo) and retry
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  download || { cat "$tmp/download.log" >&2; die "apt-get download ${packages[*]} failed"; }
fi

rm -rf "$root"
mkdir -p "$root"
for deb in "$tmp"/*.deb; do
  dpkg -x "$deb" "$root"
  echo "unpacked $(basename "$deb")"
done

# Absolute links (e.g. usr/lib/<multiarch>/libz.so -> /lib/<multiarch>/libz.so.1.2.13) would point at
# the build machine's own files: make them relative, into .deps/root.
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  if [[ $target == /* ]]; then
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$target")" "$link"
  fi
done < <(find "$root" -type l -print0)

# Every library link must resolve to a file shipped in .deps (the copy travels with its links).
check_link() {
  local link=$root/$1 resolved
  [ -L "$link" ] || die "$1: not a symbolic link in .deps/root"
  resolved=$(readlink -f "$link")
  [[ $resolved == "$root"/* && -f $resolved ]] || die "$1 -> $(readlink "$link") does not resolve inside .deps/root"
  echo "ok: $1 -> $(readlink "$link") (${resolved#"$root"/})"
}
check_link "$libdir/libcjson.so"
check_link "$libdir/libcjson.so.1"
check_link "$libdir/libz.so"
[ -f "$root/usr/include/cjson/cJSON.h" ] || die "usr/include/cjson/cJSON.h missing"
[ -f "$root/usr/include/zlib.h" ] || die "usr/include/zlib.h missing"
while IFS= read -r -d '' link; do
  [ -e "$link" ] || die "dangling link ${link#"$root"/} -> $(readlink "$link")"
done < <(find "$root" -type l -print0)

cat <<EOF

.deps/root is ready ($(du -sh "$root" | cut -f1)). On the GPU machine, from the repository root (the
device run must carry .deps, which git ignores):
  cmake -S . -B build -DCMAKE_PREFIX_PATH=\$PWD/.deps/root/usr -DRIBO_HDF5=OFF -DRIBO_OPENCL=OFF
  cmake --build build -j
  export LD_LIBRARY_PATH=\$PWD/.deps/root/$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
CMake flags (here: $repo):
  -DCMAKE_PREFIX_PATH=$root/usr -DRIBO_HDF5=OFF -DRIBO_OPENCL=OFF
EOF
