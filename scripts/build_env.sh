#!/usr/bin/env bash
# Sourced by the scripts that configure a build tree. Ninja when it is installed (setup.sh
# installs it): it compiles each object as soon as its own inputs are ready, where Makefiles start
# no object of a target until the libraries it links are built, which left one of CI's two cores
# idle while the highway kernels compiled. A build tree that exists keeps its generator (CMake
# reads CMAKE_GENERATOR only for a new one); a generator set by the caller wins.
if [ -z "${CMAKE_GENERATOR:-}" ] && command -v ninja > /dev/null; then
  export CMAKE_GENERATOR=Ninja
fi
