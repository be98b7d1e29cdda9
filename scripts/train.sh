#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine, builds the mlpk command line, and trains a
# network on Fashion-MNIST with the default backend. Extra arguments go to `mlpk train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/build_env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target mlpk
./build/bin/mlpk train --dataset fashion-mnist "$@"
