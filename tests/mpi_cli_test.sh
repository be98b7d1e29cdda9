#!/usr/bin/env bash
# `mpirun -np 2 mlpk train`: data-parallel training from the command line.
# Usage: mpi_cli_test.sh MPIRUN MLPK WORK CASE, CASE one of
#   matches_one_process  2 ranks against 1 process: the same JSON within the stated tolerance
#                        (test loss within 1e-5, the same accuracies), "ranks": 2 in it
#   bit_identical        2 ranks: two runs, and 1 against 2 threads a rank, write the same bytes
#   resume               a 2-rank checkpoint resumes on 2 ranks (the same bytes as a run that
#                        was not interrupted) and on 1 (within the tolerance)
#   rank_fails           a rank that throws ends every rank with its message, and a rank killed
#                        mid-run ends the job with an error, both within 60 s
set -u
mpirun=$1 mlpk=$2 work=$3 case=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

# A CSV of 1,003 rows (3 features, 3 classes): batches of 64 leave a last one of 43 rows.
for ((i = 0; i < 1003; i++)); do
  echo "$((i % 7 - 3)).$((i % 10)),$((i % 3 * 2 - 2)).$((i % 9)),$((i % 11 - 5)).5,$((i % 3))"
done >data.csv
train=(train --train-csv data.csv --test-csv data.csv --label-column 3 --layers 3-32:0.2-16-3
       --batch-size 64 --seed 4 --lr 0.01 --quiet)
ranks() {  # ranks N ARGS...: mlpk under mpirun with N ranks
  local n=$1; shift
  timeout 120 "$mpirun" --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none \
    -np "$n" "$mlpk" "$@"
}
field() { sed -n "s/.*\"$1\": \\([^,}]*\\).*/\\1/p" "$2"; }
near() {  # near A B TOLERANCE
  python3 -c "import sys; a, b, t = map(float, sys.argv[1:]); sys.exit(abs(a - b) > t)" "$1" "$2" "$3"
}

case $case in
matches_one_process)
  "$mlpk" "${train[@]}" --epochs 3 --threads 1 >one.json || fail "one process"
  ranks 2 "${train[@]}" --epochs 3 --threads 1 >two.json || fail "2 ranks"
  cat one.json two.json
  [[ $(wc -l <two.json) == 1 ]] || fail "rank 0 alone prints the JSON line"
  [[ $(field ranks two.json) == 2 && $(field ranks one.json) == 1 ]] || fail "ranks in the JSON"
  for key in test_accuracy validation_accuracy; do
    [[ $(field $key one.json) == $(field $key two.json) ]] || fail "$key differs"
  done
  near "$(field test_loss one.json)" "$(field test_loss two.json)" 1e-5 || fail "test loss beyond 1e-5"
  near "$(field test_loss one.json)" 0 0.9 || fail "the network did not learn"
  ;;
bit_identical)
  ranks 2 "${train[@]}" --epochs 2 --threads 1 --save a.mlpk >/dev/null || fail "run a"
  ranks 2 "${train[@]}" --epochs 2 --threads 1 --save b.mlpk >/dev/null || fail "run b"
  ranks 2 "${train[@]}" --epochs 2 --threads 2 --save c.mlpk >/dev/null || fail "run c"
  cmp a.mlpk b.mlpk || fail "two runs differ"
  cmp a.mlpk c.mlpk || fail "1 and 2 threads a rank differ"
  ;;
resume)
  train+=(--schedule constant)  # the same schedule for --epochs 1 and 3
  ranks 2 "${train[@]}" --epochs 3 --threads 1 --save whole.mlpk >whole.json || fail "uninterrupted"
  ranks 2 "${train[@]}" --epochs 1 --threads 1 --save part.mlpk >/dev/null || fail "first epoch"
  cp part.mlpk part1.mlpk
  ranks 2 "${train[@]}" --epochs 3 --threads 1 --resume part.mlpk --save part.mlpk >/dev/null ||
    fail "resumed on 2 ranks"
  cmp whole.mlpk part.mlpk || fail "resumed on 2 ranks: not the uninterrupted run's bytes"
  "$mlpk" "${train[@]}" --epochs 3 --threads 1 --resume part1.mlpk >one.json || fail "resumed on 1"
  near "$(field test_loss whole.json)" "$(field test_loss one.json)" 1e-5 ||
    fail "resumed on 1 process: test loss beyond 1e-5"
  ;;
rank_fails)
  # Rank 1 cannot read its data (a missing file on one node): every rank ends, with its message.
  cat >one_rank_fails.sh <<SCRIPT
#!/usr/bin/env bash
data=data.csv
[[ \$OMPI_COMM_WORLD_RANK == 1 ]] && data=missing.csv
exec "$mlpk" train --train-csv \$data --test-csv data.csv --label-column 3 --layers 3-8-3 --quiet
SCRIPT
  chmod +x one_rank_fails.sh
  start=$SECONDS
  timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np 2 ./one_rank_fails.sh >out.txt 2>&1
  rc=$?
  cat out.txt
  ((rc != 0 && rc != 124)) || fail "a failing rank: exit status $rc"
  grep -q "rank 1 of 2: .*missing.csv" out.txt || fail "no message naming rank 1 and the file"
  # Kill rank 1 with SIGKILL once training runs.
  ranks 2 "${train[@]}" --epochs 100000 --threads 1 --save killed.mlpk >killed.txt 2>&1 &
  job=$!
  for ((i = 0; i < 600; i++)); do [[ -e killed.mlpk ]] && break; sleep 0.1; done
  [[ -e killed.mlpk ]] || fail "training never saved"
  victim=""
  for pid in $(pgrep -f -- "--save killed.mlpk"); do  # this test's ranks, not another test's
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$pid
  done
  [[ -n $victim ]] || fail "no rank 1 to kill"
  kill -KILL "$victim"
  killed_at=$SECONDS
  wait $job
  rc=$?
  cat killed.txt
  ((rc != 0 && rc != 124)) || fail "a killed rank: exit status $rc"
  ((SECONDS - killed_at <= 60)) || fail "the job took $((SECONDS - killed_at)) s to end"
  grep -qiE "signal 9|killed" killed.txt || fail "no word of the killed rank"
  ;;
*) fail "unknown case $case" ;;
esac
echo "ok: $case"
