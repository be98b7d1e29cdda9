# CLI test, run by ctest as `cmake -DMLPK=<binary> -DPYTHON=<python3> -DCHECK=<check_profile.py>
# -DBACKENDS=<a,b> -DCOUNT=<n> -DWORK=<dir> -P cli_profile_test.cmake`: `mlpk profile` on the main
# network writes a JSON whose kernel times account for the step within 5%, a valid trace and a
# roofline; `mlpk train --profile` does the same without changing the model it trains; bad flags
# fail with one line and exit code 2.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

include(${CMAKE_CURRENT_LIST_DIR}/cli_test_support.cmake)

expect_ok(${MLPK} profile --layers 784-512-256-10 --batch-size 128 --backend ${BACKENDS} --warmup 2
          --steps 10 --seconds 0 --json ${WORK}/p.json --trace ${WORK}/t.json --svg ${WORK}/r.svg)
# Plain SGD (the default) folds its step into the weight gradients: "gemm TN +=".
foreach(word "step" "samples/s" "layer 1, weight gradient \\(gemm TN \\+=\\)" "driver" "% bound")
  if(NOT out MATCHES "${word}")
    message(FATAL_ERROR "the profile table lacks '${word}':\n${out}")
  endif()
endforeach()
expect_ok(${PYTHON} ${CHECK} ${WORK}/p.json ${WORK}/t.json ${WORK}/r.svg --backends ${COUNT})

# A training run profiled and one not: the same model file, byte for byte.
two_class_csv(train 400)  # 360 training samples after validation: 45 batches of 8
file(WRITE ${WORK}/train.csv "${train}")
set(args train --train-csv ${WORK}/train.csv --test-csv ${WORK}/train.csv --label-column 3
    --layers 3-64-32-2 --epochs 2 --batch-size 8 --seed 3 --threads 2 --quiet)
expect_ok(${MLPK} ${args} --save ${WORK}/plain.mlpk)
expect_ok(${MLPK} ${args} --save ${WORK}/profiled.mlpk --profile ${WORK}/train_profile.json
          --trace ${WORK}/train_trace.json)
file(SHA256 ${WORK}/plain.mlpk plain)
file(SHA256 ${WORK}/profiled.mlpk profiled)
if(NOT plain STREQUAL profiled)
  message(FATAL_ERROR "mlpk train --profile changed the trained model")
endif()
expect_ok(${PYTHON} ${CHECK} ${WORK}/train_profile.json ${WORK}/train_trace.json --backends 1)
file(READ ${WORK}/train_profile.json profile)
if(NOT profile MATCHES "\"steps\": 20,")
  message(FATAL_ERROR "mlpk train --profile did not profile 20 steps: ${profile}")
endif()

# The update the steps end with is a flag: Adam's kernel has its own row.
expect_ok(${MLPK} profile --layers 20-64-4 --batch-size 16 --optimizer adam --warmup 1 --steps 3 --seconds 0
          --json ${WORK}/adam.json)
if(NOT out MATCHES "update \\(adam_update\\)" OR NOT out MATCHES "layer 1, weight gradient \\(gemm TN\\)")
  message(FATAL_ERROR "mlpk profile --optimizer adam shows no Adam update or a folded step:\n${out}")
endif()
file(READ ${WORK}/adam.json adam_profile)
if(NOT adam_profile MATCHES "\"optimizer\": \"adam\"")
  message(FATAL_ERROR "the profile's JSON does not name its optimizer: ${adam_profile}")
endif()
# The most steps `mlpk profile` keeps (200), three layers (two owned) and Adam: storage sized for
# every record (the last steps of this run were dropped before).
expect_ok(${MLPK} profile --layers 200-256-128-10 --batch-size 32 --optimizer adam --threads 2 --warmup 0
          --steps 200 --seconds 0 --json ${WORK}/long.json)
if(out MATCHES "dropped")
  message(FATAL_ERROR "mlpk profile dropped records of 200 steps:\n${out}")
endif()
expect_error("unknown optimizer 'rmsprop'" ${MLPK} profile --optimizer rmsprop)
expect_error("--backend: an empty name" ${MLPK} profile --backend highway,,onednn)
expect_error("--backend: 'reference' is named twice" ${MLPK} profile --backend reference,reference)
expect_error("unknown backend|no backend|not found|nosuch" ${MLPK} profile --backend nosuch --steps 1 --seconds 0)
expect_error("--json" ${MLPK} profile --json ${WORK} --steps 1 --seconds 0)
expect_error("--svg" ${MLPK} profile --svg ${WORK}/no/such/dir/r.svg --steps 1 --seconds 0)
expect_error("--profile" ${MLPK} ${args} --profile ${WORK})
expect_error("--steps" ${MLPK} profile --steps 0)
# A resumed run that has finished trains no step: nothing to profile, said so.
expect_error("--profile: no step was trained" ${MLPK} train --train-csv ${WORK}/train.csv
                   --test-csv ${WORK}/train.csv --label-column 3 --layers 3-64-32-2 --epochs 2 --batch-size 8
                   --seed 3 --threads 2 --quiet --resume ${WORK}/plain.mlpk --profile ${WORK}/resumed.json)
