# CLI test of dropout, run by ctest as `cmake -DMLPK=<binary> -DWORK=<dir> -P cli_dropout_test.cmake`:
# `mlpk train --dropout` and rates in `--layers` train and are recorded in the model file (eval
# shows them, a resume without --layers takes them), the masks continue across a resume and do
# not depend on the thread count, eval ignores dropout, and bad rates fail naming the flag.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

include(${CMAKE_CURRENT_LIST_DIR}/cli_test_support.cmake)

write_two_class_files(${WORK})
set(data --train-csv ${WORK}/train.csv --test-csv ${WORK}/test.csv --label-column 3 --batch-size 8
         --lr 0.01 --seed 3 --quiet)

# Rates per layer in --layers: trained, shown in the JSON, kept in the model file.
expect_ok(${MLPK} train ${data} --layers 3-16:0.25-8:0.1-2 --epochs 20 --threads 1 --save ${WORK}/layers.mlpk)
set(trained "${out}")
if(NOT trained MATCHES "\"layers\": \"3-16\\(relu, dropout 0.25\\)-8\\(relu, dropout 0.1\\)-2\\(softmax\\) softmax-ce\""
   OR NOT trained MATCHES "\"test_accuracy\": 1[,}]")
  message(FATAL_ERROR "--layers with dropout rates: ${trained}")
endif()
expect_ok(${MLPK} eval --model ${WORK}/layers.mlpk --test-csv ${WORK}/test.csv --label-column 3)
if(NOT out MATCHES "\"layers\": \"3-16\\(relu, dropout 0.25\\)-8\\(relu, dropout 0.1\\)")
  message(FATAL_ERROR "the model file lost the dropout rates: ${out}")
endif()
# Evaluation drops nothing: eval of the saved model gives train's own test loss, every time.
string(REGEX MATCH "\"test_loss\": [^,]*" train_loss "${trained}")
string(REGEX MATCH "\"loss\": [^,]*" eval_loss "${out}")
string(REPLACE "test_loss" "loss" train_loss "${train_loss}")
expect_ok(${MLPK} eval --model ${WORK}/layers.mlpk --test-csv ${WORK}/test.csv --label-column 3)
string(REGEX MATCH "\"loss\": [^,]*" eval_again "${out}")
if(NOT eval_loss STREQUAL train_loss OR NOT eval_again STREQUAL eval_loss)
  message(FATAL_ERROR "eval is not the dropout-free evaluation of train: ${train_loss}, ${eval_loss}, ${eval_again}")
endif()

# The same run on 3 threads: the same model file, byte for byte.
expect_ok(${MLPK} train ${data} --layers 3-16:0.25-8:0.1-2 --epochs 20 --threads 3 --save ${WORK}/threads3.mlpk)
file(SHA256 ${WORK}/layers.mlpk one_thread)
file(SHA256 ${WORK}/threads3.mlpk three_threads)
if(NOT one_thread STREQUAL three_threads)
  message(FATAL_ERROR "dropout made the model depend on the thread count")
endif()

# --dropout: every hidden layer; and it changes the training.
expect_ok(${MLPK} train ${data} --layers 3-16-8-2 --dropout 0.3 --epochs 5)
if(NOT out MATCHES "\"layers\": \"3-16\\(relu, dropout 0.3\\)-8\\(relu, dropout 0.3\\)-2\\(softmax\\)")
  message(FATAL_ERROR "--dropout 0.3: ${out}")
endif()
string(REGEX MATCH "\"test_loss\": [^,]*" dropped_loss "${out}")
expect_ok(${MLPK} train ${data} --layers 3-16-8-2 --epochs 5)
string(REGEX MATCH "\"test_loss\": [^,]*" plain_loss "${out}")
if(dropped_loss STREQUAL plain_loss)
  message(FATAL_ERROR "--dropout 0.3 trained the same model as no dropout: ${dropped_loss}")
endif()

# A run stopped after 4 epochs and resumed to 8 (its architecture, rates included, from the
# file) ends with the model of 8 straight epochs: the masks continue where they were.
expect_ok(${MLPK} train ${data} --layers 3-16:0.5-2 --epochs 4 --schedule constant --save ${WORK}/half.mlpk)
expect_ok(${MLPK} train ${data} --epochs 8 --schedule constant --resume ${WORK}/half.mlpk --save ${WORK}/resumed.mlpk)
if(NOT out MATCHES "\"layers\": \"3-16\\(relu, dropout 0.5\\)-2\\(softmax\\) softmax-ce\"")
  message(FATAL_ERROR "the resumed run did not take the file's rates: ${out}")
endif()
expect_ok(${MLPK} train ${data} --layers 3-16:0.5-2 --epochs 8 --schedule constant --save ${WORK}/straight.mlpk)
file(SHA256 ${WORK}/resumed.mlpk resumed)
file(SHA256 ${WORK}/straight.mlpk straight)
if(NOT resumed STREQUAL straight)
  message(FATAL_ERROR "4 epochs resumed to 8 differ from 8 straight epochs under dropout")
endif()
# Other rates than the checkpoint's are another network: refused.
expect_error("architecture .*dropout 0.5.* differs from the network's .*dropout 0.2"
             ${MLPK} train ${data} --epochs 8 --dropout 0.2 --resume ${WORK}/half.mlpk)

# Bad rates: one line naming the flag, exit code 2.
foreach(bad 1 nan -0.1 1.5 x)
  expect_error("--dropout: '${bad}' is not a finite number from 0, below 1" ${MLPK} train ${data} --dropout ${bad})
endforeach()
expect_error("layers '3-16:1-2': architecture: layer 1's dropout rate 1 is not in \\[0, 1\\)"
             ${MLPK} train ${data} --layers 3-16:1-2)
expect_error("layers '3-16:nan-2': architecture: layer 1's dropout rate nan is not in \\[0, 1\\)"
             ${MLPK} train ${data} --layers 3-16:nan-2)
expect_error("layers '3-16-2:0.5': architecture: layer 2 is the output layer, which takes no dropout"
             ${MLPK} train ${data} --layers 3-16-2:0.5)
expect_error("layers '3:0.2-16-2': the input width takes no dropout rate" ${MLPK} train ${data} --layers 3:0.2-16-2)
expect_error("layers '3-16:x-2': 'x' is not a dropout rate" ${MLPK} train ${data} --layers 3-16:x-2)
expect_error("--dropout and the dropout rates of --layers 3-16:0.1-2: give the rates in one of them"
             ${MLPK} train ${data} --layers 3-16:0.1-2 --dropout 0.2)
