#!/usr/bin/env bash
# Data-parallel training on one machine: 2 MPI ranks of 1 thread each (with and without the
# overlap of gradient reduction and backward) against 1 process of 2 threads, on the three
# benchmark networks, training Fashion-MNIST with `mlpk train`. Interleaved, best of REPS, in
# training seconds an epoch (evaluation excluded).
# Usage: bench/mpi_scaling.sh [MLPK] [REPS] [TRAIN_LIMIT]
set -euo pipefail
mlpk=${1:-build/bin/mlpk} reps=${2:-3} limit=${3:-20000}
mpirun=(mpirun --allow-run-as-root --oversubscribe -np 2)
field() { sed -n "s/.*\"$1\": \\([^,}]*\\).*/\\1/p"; }
run() {  # run LAYERS BATCH THREADS [LAUNCHER...]: seconds per epoch
  local layers=$1 batch=$2 threads=$3; shift 3
  "$@" "$mlpk" train --dataset fashion-mnist --train-limit "$limit" --layers "$layers" \
    --batch-size "$batch" --threads "$threads" --epochs 2 --quiet 2>/dev/null | field seconds_per_epoch
}
best() { sort -g | head -1; }
printf '%-24s %6s %14s %14s %14s %9s %9s\n' network batch "1x2 s/epoch" "2x1 s/epoch" "2x1 no-ovl" "2x1/1x2" "overlap"
for spec in "784-256-128-10 64" "784-512-256-10 128" "784-1024-1024-1024-10 256"; do
  set -- $spec
  a=() b=() c=()
  for ((r = 0; r < reps; r++)); do
    a+=("$(run "$1" "$2" 2)")
    b+=("$(run "$1" "$2" 1 "${mpirun[@]}" -x MLPK_MPI_OVERLAP=1)")
    c+=("$(run "$1" "$2" 1 "${mpirun[@]}")")
  done
  one=$(printf '%s\n' "${a[@]}" | best) two=$(printf '%s\n' "${b[@]}" | best)
  flat=$(printf '%s\n' "${c[@]}" | best)
  printf '%-24s %6s %14.4f %14.4f %14.4f %9.2f %9.2f\n' "$1" "$2" "$one" "$two" "$flat" \
    "$(echo "$one / $two" | bc -l)" "$(echo "$flat / $two" | bc -l)"
done
