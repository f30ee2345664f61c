#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages ribo needs to build and run on CPU OpenCL (PoCL), and any
# packages named as arguments (scripts/test_hip.sh: Debian's ROCm compiler).
set -euo pipefail
packages=(build-essential cmake pkg-config gzip python3
          ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libclblast-dev
          libcjson-dev zlib1g-dev libhdf5-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
