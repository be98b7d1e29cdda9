#!/usr/bin/env bash
# Installs the built mlpk into a scratch prefix, then builds a project outside the tree against
# it twice (find_package(mlpk) and pkg-config), and trains XOR with every installed backend.
# When the Python module was built, the installed package imports with PYTHON and finds every
# installed backend beside the installed libmlpk_core.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR [PYTHON]
set -euo pipefail
build=$1 source=$2 python=${3:-}
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
module=$(find "$scratch/prefix" -name '_mlpk*.so' | head -n 1)
if [ -n "$module" ] && [ -n "$python" ]; then
  site=$(dirname "$(dirname "$module")")
  for b in $backends; do
    PYTHONPATH="$site" "$python" -c "
import mlpk, numpy as np, sys
assert mlpk.__file__.startswith('$site'), mlpk.__file__
net = mlpk.Network('2-8-1', backend='$b', hidden='tanh', loss='sigmoid-bce')
net.initialize(1)
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
y = np.array([[0], [1], [1], [0]], np.float32)
sgd = mlpk.Optimizer('sgd', learning_rate=0.5)
for _ in range(2000): mlpk.train_batch(net, sgd, x, y)
assert ((net.forward(x) > 0.5) == (y > 0.5)).all()
assert sorted(mlpk.available_backends()) == sorted('$(echo $backends)'.split())
"
  done
  echo "install test: the installed Python package ($site) trained XOR with:" $backends
fi
echo "install test: find_package and pkg-config consumers trained XOR with: default" $backends
