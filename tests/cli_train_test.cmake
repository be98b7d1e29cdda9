# CLI test, run by ctest as `cmake -DMLPK=<binary> -DWORK=<dir> -P cli_train_test.cmake`:
# trains on a tiny CSV, checks the JSON line, then the model file through eval and predict, and
# that bad flags and paths fail with one line and exit code 2.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

include(${CMAKE_CURRENT_LIST_DIR}/cli_test_support.cmake)

# Two well-separated classes in 3 features; label in the last column, with a header. The test set
# is the first 20 training rows.
write_two_class_files(${WORK})

expect_ok(${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv --label-column 3
          --layers 3-8-2 --epochs 20 --batch-size 8 --lr 0.01 --seed 3 --threads 4 --standardize
          --save ${WORK}/model.mlpk --metrics ${WORK}/metrics.csv --plot ${WORK}/curves.svg)
string(STRIP "${out}" json)
if(NOT json MATCHES "^{.*}$")
  message(FATAL_ERROR "the last output is not one JSON line: ${out}")
endif()
foreach(key test_accuracy test_loss epochs seconds_per_epoch samples_per_second backend threads)
  if(NOT json MATCHES "\"${key}\": ")
    message(FATAL_ERROR "JSON lacks ${key}: ${json}")
  endif()
endforeach()
if(NOT json MATCHES "\"test_accuracy\": 1[,}]" OR NOT json MATCHES "\"threads\": 4")
  message(FATAL_ERROR "expected perfect accuracy on separable data and threads 4: ${json}")
endif()
file(STRINGS ${WORK}/metrics.csv metrics)
list(LENGTH metrics lines)
if(NOT lines EQUAL 21)
  message(FATAL_ERROR "metrics.csv has ${lines} lines, expected a header and 20 epochs")
endif()
file(READ ${WORK}/curves.svg svg)
if(NOT svg MATCHES "<svg" OR NOT svg MATCHES "<polyline")
  message(FATAL_ERROR "curves.svg is not an SVG with curves")
endif()

expect_ok(${MLPK} eval --model ${WORK}/model.mlpk --test-csv ${WORK}/test.csv --label-column 3)
if(NOT out MATCHES "\"accuracy\": 1[,}]")
  message(FATAL_ERROR "eval: ${out}")
endif()
expect_ok(${MLPK} predict --model ${WORK}/model.mlpk --csv ${WORK}/test.csv --label-column 3
          --output ${WORK}/predictions.txt)
file(STRINGS ${WORK}/predictions.txt predictions)
list(LENGTH predictions count)
list(GET predictions 0 first)
list(GET predictions 1 second)
if(NOT count EQUAL 20 OR NOT first EQUAL 0 OR NOT second EQUAL 1)
  message(FATAL_ERROR "predictions: ${predictions}")
endif()

# Resuming the finished 20-epoch run up to 25 epochs continues from its checkpoint.
expect_ok(${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv --label-column 3
          --layers 3-8-2 --epochs 25 --batch-size 8 --lr 0.01 --seed 3 --standardize --quiet
          --resume ${WORK}/model.mlpk --save ${WORK}/model2.mlpk)
if(NOT out MATCHES "\"epochs\": 25," OR NOT out MATCHES "\"epochs_run\": 5,")
  message(FATAL_ERROR "resume: ${out}")
endif()

# Early stopping on the validation accuracy with a min-delta nothing can beat: epoch 1 is kept,
# training stops after --patience 2 more, and the saved model is epoch 1's (its checkpoint
# resumes to the same answer).
expect_ok(${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv --label-column 3
          --layers 3-8-2 --epochs 20 --batch-size 8 --lr 0.01 --schedule constant --seed 3 --quiet --validation-fraction 0.25
          --early-stopping accuracy --patience 2 --min-delta 1 --save ${WORK}/early.mlpk)
if(NOT out MATCHES "\"best_epoch\": 1," OR NOT out MATCHES "\"epochs_run\": 3,"
   OR NOT out MATCHES "\"stopped_early\": true")
  message(FATAL_ERROR "early stopping: ${out}")
endif()
string(REGEX MATCH "\"test_loss\": [^,]*" early_loss "${out}")
expect_ok(${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv --label-column 3
          --layers 3-8-2 --epochs 1 --batch-size 8 --lr 0.01 --schedule constant --seed 3 --quiet --validation-fraction 0.25)
string(REGEX MATCH "\"test_loss\": [^,]*" one_epoch_loss "${out}")
if(NOT early_loss STREQUAL one_epoch_loss)
  message(FATAL_ERROR "the kept model is not epoch 1's: ${early_loss} vs ${one_epoch_loss}")
endif()
expect_ok(${MLPK} eval --model ${WORK}/early.mlpk --test-csv ${WORK}/test.csv --label-column 3)
string(REGEX MATCH "\"loss\": [^,]*" saved_loss "${out}")
string(REPLACE "test_loss" "loss" one_epoch_eval "${one_epoch_loss}")
if(NOT saved_loss STREQUAL one_epoch_eval)
  message(FATAL_ERROR "the saved model is not epoch 1's: ${saved_loss} vs ${one_epoch_eval}")
endif()
expect_ok(${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv --label-column 3
          --layers 3-8-2 --epochs 20 --batch-size 8 --lr 0.01 --schedule constant --seed 3 --quiet --validation-fraction 0.25
          --early-stopping accuracy --patience 2 --min-delta 1 --resume ${WORK}/early.mlpk)
string(REGEX MATCH "\"test_loss\": [^,]*" resumed_loss "${out}")
if(NOT resumed_loss STREQUAL early_loss OR NOT out MATCHES "\"best_epoch\": 1,")
  message(FATAL_ERROR "resumed early stopping: ${out}")
endif()
expect_error("--early-stopping loss needs a validation set" ${MLPK} train --train-csv ${WORK}/train.csv
             --test-csv ${WORK}/test.csv --label-column 3 --validation-fraction 0 --early-stopping loss)
expect_error("--early-stopping" ${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv
             --early-stopping val_loss)
expect_error("--patience" ${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv
             --early-stopping loss --patience 0)
expect_error("--min-delta" ${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv
             --early-stopping loss --min-delta -1)

# One-cycle and label smoothing train the separable set perfectly; bad values are refused.
expect_ok(${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv --label-column 3
          --layers 3-8-2 --epochs 10 --batch-size 8 --lr 0.01 --seed 3 --quiet
          --schedule one-cycle --label-smoothing 0.1)
if(NOT out MATCHES "\"test_accuracy\": 1[,}]" OR NOT out MATCHES "\"schedule\": \"one-cycle\"")
  message(FATAL_ERROR "one-cycle with label smoothing: ${out}")
endif()
expect_error("label smoothing must be in \\[0, 1\\)" ${MLPK} train --train-csv ${WORK}/train.csv
             --test-csv ${WORK}/test.csv --label-column 3 --label-smoothing 1)
expect_error("--label-smoothing" ${MLPK} train --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv
             --label-smoothing nan)
expect_error("label smoothing needs the softmax-ce loss" ${MLPK} train --train-csv ${WORK}/train.csv
             --test-csv ${WORK}/test.csv --label-column 3 --loss mse --label-smoothing 0.1)
expect_error("unknown learning-rate schedule.*one-cycle" ${MLPK} train --train-csv ${WORK}/train.csv
             --test-csv ${WORK}/test.csv --label-column 3 --schedule onecycle)

# Bad input: one line, exit code 2.
expect_error("--save .*cannot be written" ${MLPK} train --train-csv ${WORK}/train.csv
                   --test-csv ${WORK}/test.csv --save ${WORK}/no/such/dir/m.mlpk)
expect_error("missing.csv: no such file" ${MLPK} train --train-csv ${WORK}/missing.csv
                   --test-csv ${WORK}/test.csv)
expect_error("unknown optimizer" ${MLPK} train --train-csv ${WORK}/train.csv
                   --test-csv ${WORK}/test.csv --optimizer adagrad)
expect_error("--epochs" ${MLPK} train --epochs many)
expect_error("no such file" ${MLPK} eval --model ${WORK}/none.mlpk --test-csv ${WORK}/test.csv)
expect_error("unknown backend" ${MLPK} train --train-csv ${WORK}/train.csv
                   --test-csv ${WORK}/test.csv --backend nosuch)
file(WRITE ${WORK}/ragged.csv "1,2,0\n1,2\n")
expect_error("line 2.*ragged" ${MLPK} train --train-csv ${WORK}/ragged.csv
                   --test-csv ${WORK}/test.csv)
