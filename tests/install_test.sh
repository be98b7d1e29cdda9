#!/usr/bin/env bash
# Installs the built mlpk into a scratch prefix, then builds a project outside the tree against
# it twice (find_package(mlpk) and pkg-config), and trains XOR with every installed backend.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
scratch=$build/install-test
rm -rf "$scratch"
cmake --install "$build" --prefix "$scratch/prefix" > /dev/null

cmake -S "$source/tests/install_consumer" -B "$scratch/cmake-build" -DCMAKE_PREFIX_PATH="$scratch/prefix" > /dev/null
cmake --build "$scratch/cmake-build" > /dev/null
libdir=$(dirname "$(find "$scratch/prefix" -name 'libmlpk_core.so' | head -n 1)")
backends=$(find "$libdir" -name 'libmlpk_backend_*.so' | sed 's/.*libmlpk_backend_\(.*\)\.so/\1/' | sort)
[ -n "$backends" ] || { echo "no backend was installed"; exit 1; }
"$scratch/cmake-build/xor"  # the default backend
for b in $backends; do "$scratch/cmake-build/xor" "$b"; done

export PKG_CONFIG_PATH="$libdir/pkgconfig"
g++ "$source/tests/install_consumer/main.cpp" -o "$scratch/xor-pkgconfig" $(pkg-config --cflags --libs mlpk) -Wl,-rpath,"$libdir"
"$scratch/xor-pkgconfig" reference
echo "install test: find_package and pkg-config consumers trained XOR with: default" $backends
