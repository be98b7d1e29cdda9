#!/usr/bin/env bash
# Installs every Debian package mlpk needs to build, test, benchmark and train.
# Idempotent and non-interactive: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config python3
  libhwy-dev libdnnl-dev libtbb-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev zlib1g-dev
  python3-dev pybind11-dev python3-pybind11 python3-numpy python3-pytest
  python3-sklearn libopenblas0-pthread
  libopenmpi-dev openmpi-bin  # data-parallel training over MPI (the module libmlpk_mpi.so)
  clang libclang-rt-14-dev libomp-14-dev
  dataset-fashion-mnist
  g++-aarch64-linux-gnu  # the portability test: x86-only code compiles for aarch64 too
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "setup: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
