#!/usr/bin/env bash
# Kill during save: runs `mlpk train --save F --metrics M` many times, each killed with SIGKILL
# after a random delay (before its first save, during a save, between saves), and checks after
# every kill that
#   - F is absent only until the first save, and from then on a complete model: `mlpk eval` reads
#     it, and its CRC-32 covers every byte, so a torn or half-renamed file fails;
#   - M is a complete metrics CSV (every line ends in a newline and has 8 fields);
#   - temporary files of killed runs do not pile up: at most one per target (the next run removes
#     the previous run's before its first write).
# Each run resumes from F, so the epochs recorded in F only grow if every kept file was whole. At
# the end one run that completes must leave no temporary file at all.
# Usage: kill_during_save_test.sh MLPK WORK [RUNS] [SEED]; prints the seed of the random delays.
set -u
mlpk=$1 work=$2 runs=${3:-40} seed=${4:-$$}
RANDOM=$seed
echo "seed $seed, $runs runs"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work"
data=$work/data.csv model=$work/model.mlpk metrics=$work/metrics.csv
# Two separable classes, 3 features, label last; 200 rows.
for ((i = 0; i < 200; i++)); do
  if ((i % 2)); then echo "2.$((i % 10)),1.$((i % 7)),0.5,1"; else echo "-2.$((i % 10)),-1.$((i % 7)),0.5,0"; fi
done >"$data"
# A checkpoint of about 200 KB (weights and two Adam arrays), written after every epoch.
train=("$mlpk" train --train-csv "$data" --test-csv "$data" --label-column 3 --layers 3-128-128-2
       --batch-size 32 --threads 1 --seed 5 --quiet --save "$model" --metrics "$metrics")

temps_of() { find "$work" -maxdepth 1 -name ".$1.mlpk-tmp-*" | wc -l; }

saved=0 unchanged=0 replaced=0 torn=0 previous=""
for ((run = 1; run <= runs; run++)); do
  resume=()
  [[ -e $model ]] && resume=(--resume "$model")
  "${train[@]}" --epochs 100000 "${resume[@]}" >/dev/null 2>"$work/stderr" &
  pid=$!
  sleep "$(printf '0.%03d' $((RANDOM % 200)))"
  kill -KILL "$pid"
  { wait "$pid"; } 2>/dev/null  # no "Killed" notice from bash
  rc=$?
  ((rc == 137)) || fail "run $run ended with exit code $rc before the kill: $(cat "$work/stderr")"

  if [[ -e $model ]]; then
    saved=1
    "$mlpk" eval --model "$model" --test-csv "$data" --label-column 3 >/dev/null 2>"$work/eval_stderr" ||
      fail "after kill $run the model file is not a complete model: $(cat "$work/eval_stderr")"
    current=$(cksum <"$model")
    if [[ $current == "$previous" ]]; then ((unchanged += 1)); else ((replaced += 1)); fi
    previous=$current
  elif ((saved)); then
    fail "after kill $run the model file is gone"
  fi
  if [[ -e $metrics ]]; then
    [[ $(tail -c 1 "$metrics" | od -An -c | tr -d ' ') == '\n' ]] || fail "after kill $run $metrics is cut short"
    awk -F, 'NF != 8 { exit 1 }' "$metrics" || fail "after kill $run $metrics has a partial line"
  fi
  left=$(temps_of model.mlpk)
  ((left <= 1 && $(temps_of metrics.csv) <= 1)) || fail "after kill $run temporary files pile up: $(ls -A "$work")"
  ((torn += left))
done
echo "kills: $runs; model file replaced since the previous kill $replaced times, unchanged $unchanged;" \
     "a kill caught a save midway (temporary file left) $torn times"
((saved)) || fail "no run lived long enough to save once"

# One run that completes (the checkpoint is past --epochs 1: it only writes the model again).
out=$("${train[@]}" --epochs 1 --resume "$model" 2>"$work/stderr") || fail "final run: $(cat "$work/stderr")"
[[ $out =~ \"epochs\":\ ([0-9]+), ]] || fail "final run printed no epochs: $out"
echo "epochs kept across the kills: ${BASH_REMATCH[1]}"
((BASH_REMATCH[1] >= 1)) || fail "no epoch survived the kills"
leftover=$(find "$work" -maxdepth 1 -name '*.mlpk-tmp-*')
[[ -z $leftover ]] || fail "temporary files left after a completed run: $leftover"
echo "ok"
