# CLI test of hostile sizes, flags and files (issue 10), run by ctest as
# `cmake -DMLPK=<binary> -DWORK=<dir> -P cli_hostile_test.cmake`. Every case must exit 2 with one
# line naming the flag, file, line or field; never "internal error", a crash or a hang. The
# hostile files are made here, small: the 6 GB model is sparse, the gzip bomb only its header.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

set(rows "a,b,label\n")
foreach(i RANGE 0 39)
  math(EXPR c "${i} % 2")
  math(EXPR x "(${i} * 37) % 10")
  if(c EQUAL 1)
    string(APPEND rows "2.${x},0.${x},1\n")
  else()
    string(APPEND rows "-2.${x},0.${x},0\n")
  endif()
endforeach()
file(WRITE ${WORK}/train.csv "${rows}")

include(${CMAKE_CURRENT_LIST_DIR}/cli_test_support.cmake)

set(data --train-csv ${WORK}/train.csv --test-csv ${WORK}/train.csv --quiet)

# --- sizes whose products wrap, and negative numbers for unsigned flags ---------------------
expect_error("layers '1099511627776-16777216-1': .*parameters" ${MLPK} bench --layers 1099511627776-16777216-1)
expect_error("layers '4294967296-4294967296-2': .*parameters" ${MLPK} bench --layers 4294967296-4294967296-2)
expect_error("--batch-size: '4611686018427387904' is not a whole number from 1 to 1048576"
             ${MLPK} bench --layers 784-10 --batch-size 4611686018427387904)
expect_error("--batch-size: '-1'" ${MLPK} bench --layers 784-10 --batch-size -1)
expect_error("--batch-size: '0'" ${MLPK} train ${data} --batch-size 0)
expect_error("--epochs: '-1'" ${MLPK} train ${data} --epochs -1)
expect_error("--steps: '18446744073709551615' is not a whole number from 1 to 100000"
             ${MLPK} bench --steps 18446744073709551615)
expect_error("--threads: '-1' is not a whole number from 0 to 4096" ${MLPK} bench --threads -1)
expect_error("--threads: '5000'" ${MLPK} train ${data} --threads 5000)
expect_error("--seed: '-1'" ${MLPK} train ${data} --seed -1)
expect_error("--train-limit: '-1'" ${MLPK} train ${data} --train-limit -1)
expect_error("--seconds: 'nan'" ${MLPK} bench --seconds nan)
expect_error("--warmup-epochs: 'nan' is not a finite number" ${MLPK} train ${data} --warmup-epochs nan)
expect_error("--warmup-epochs: '-5'" ${MLPK} train ${data} --warmup-epochs -5)
expect_error("--step-epochs: 'nan'" ${MLPK} train ${data} --step-epochs nan)
expect_error("--step-epochs: '0' is not a finite number above 0" ${MLPK} train ${data} --step-epochs 0)
expect_error("--lr: '1e39'" ${MLPK} train ${data} --lr 1e39)
expect_error("--warmup-epochs 9007199254740992.*steps" ${MLPK} train ${data} --batch-size 4 --warmup-epochs 9007199254740992)
# A leading zero is decimal, not octal.
execute_process(COMMAND ${MLPK} bench --layers 4-2 --batch-size 010 --steps 1 --seconds 0
                OUTPUT_VARIABLE json RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT json MATCHES "\"batch_size\": 10,")
  message(FATAL_ERROR "--batch-size 010 should be 10: ${rc} ${json}")
endif()

# --- CSV: class count, float range ------------------------------------------------------------
file(WRITE ${WORK}/label_1e6.csv "${rows}1,2,1000000\n")
expect_error("label_1e6.csv, line 42, column 3: '1000000' is too large a class label"
             ${MLPK} train --train-csv ${WORK}/label_1e6.csv --test-csv ${WORK}/train.csv)
file(WRITE ${WORK}/label_3000.csv "${rows}1,2,3000\n")
execute_process(COMMAND ${MLPK} train --train-csv ${WORK}/label_3000.csv --test-csv ${WORK}/train.csv
                        --epochs 1 --quiet
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(LENGTH "${err}" err_length)
if(NOT rc EQUAL 0 OR NOT err MATCHES "confusion matrix of 3001 classes not printed" OR err_length GREATER 2000)
  message(FATAL_ERROR "3001 classes: exit ${rc}, ${err_length} bytes on stderr: ${err}")
endif()
foreach(cell 1e300 3.5e38)
  file(WRITE ${WORK}/cell.csv "${rows}${cell},2,1\n")
  expect_error("cell.csv, line 42, column 1: '${cell}' is beyond the range of a 32-bit float"
               ${MLPK} train --train-csv ${WORK}/cell.csv --test-csv ${WORK}/train.csv)
endforeach()

# --- IDX: a gzip "bomb" that announces 65536 x 256 x 256 bytes in a 40-byte file ---------------
# (CMake strings hold no NUL byte: printf writes the binary header.)
file(MAKE_DIRECTORY ${WORK}/bomb)
foreach(set train t10k)
  execute_process(COMMAND sh -c "printf '\\000\\000\\010\\003\\000\\001\\000\\000\\000\\000\\001\\000\\000\\000\\001\\000' | gzip -c > ${set}-images-idx3-ubyte.gz && printf '\\000\\000\\010\\001\\000\\001\\000\\000' | gzip -c > ${set}-labels-idx1-ubyte.gz"
                  WORKING_DIRECTORY ${WORK}/bomb RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "could not write the IDX bomb")
  endif()
endforeach()
expect_error("train-images-idx3-ubyte.gz: header dimensions are absurd"
             ${MLPK} train --dataset fashion-mnist --data-dir ${WORK}/bomb)

# --- model files: a sparse 6 GB file of zeros, and a real model with 6 GB of zeros after it ----
file(WRITE ${WORK}/huge.mlpk "")
execute_process(COMMAND truncate -s 6G ${WORK}/huge.mlpk RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "truncate failed")
endif()
string(TIMESTAMP t0 "%s")
expect_error("model file .*huge.mlpk: wrong magic" ${MLPK} eval --model ${WORK}/huge.mlpk --test-csv ${WORK}/train.csv)
execute_process(COMMAND ${MLPK} train ${data} --epochs 3 --lr 0.01 --save ${WORK}/good.mlpk RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "training the small model failed: ${rc}")
endif()
file(COPY_FILE ${WORK}/good.mlpk ${WORK}/long.mlpk)
execute_process(COMMAND truncate -s 6G ${WORK}/long.mlpk)
expect_error("long.mlpk: corrupt: [0-9]+ unexpected bytes before the checksum"
             ${MLPK} predict --model ${WORK}/long.mlpk --csv ${WORK}/train.csv --label-column 2)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
if(seconds GREATER 10)
  message(FATAL_ERROR "rejecting the 6 GB files took ${seconds} s: were they read?")
endif()
file(REMOVE ${WORK}/huge.mlpk ${WORK}/long.mlpk)

# --- inputs a trained model overflows on --------------------------------------------------------
file(WRITE ${WORK}/far.csv "a,b,label\n1,0.5,0\n3e38,-3e38,1\n")
expect_error("Standardizer: sample 1, feature 1: -3e\\+38 is too far from the training mean"
             ${MLPK} eval --model ${WORK}/good.mlpk --test-csv ${WORK}/far.csv)
# Standardized it is finite, but it overflows the network: no silent "class 0".
file(WRITE ${WORK}/overflow.csv "a,b\n1,0.5\n3.4e38,9e37\n")
expect_error("sample 1: the output of model .*good.mlpk is not finite"
             ${MLPK} predict --model ${WORK}/good.mlpk --csv ${WORK}/overflow.csv)
file(WRITE ${WORK}/overflow_labelled.csv "a,b,label\n1,0.5,1\n3.4e38,9e37,1\n")
expect_error("the loss is .*: the outputs of model .*good.mlpk overflow"
             ${MLPK} eval --model ${WORK}/good.mlpk --test-csv ${WORK}/overflow_labelled.csv)

# --- divergence: an error naming epoch and step, and no model file ------------------------------
expect_error("training diverged in epoch 1, step [0-9]+ of 10: the batch loss is"
             ${MLPK} train ${data} --lr 1e30 --batch-size 4 --validation-fraction 0 --save ${WORK}/diverged.mlpk)
if(EXISTS ${WORK}/diverged.mlpk)
  message(FATAL_ERROR "a diverged run saved a model")
endif()
expect_error("training diverged in epoch 1, step 1 of 1: the validation loss is"
             ${MLPK} train ${data} --lr 1e30 --save ${WORK}/diverged.mlpk)
if(EXISTS ${WORK}/diverged.mlpk)
  message(FATAL_ERROR "a diverged run saved a model")
endif()
