# CLI test of the files mlpk reads and writes, run by ctest as
# `cmake -DMLPK=<binary> -DWORK=<dir> -P cli_files_test.cmake`: outputs that are not regular files
# are refused before training and left as they were, inputs that are not regular files are named
# for what they are, CSV files with a byte-order mark or CR line endings give one prediction per
# row, and stale temporary files of a killed save are removed by the next save.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/dir)
execute_process(COMMAND mkfifo ${WORK}/fifo RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mkfifo failed")
endif()

# 60 rows of two separable classes, label last; the same rows without labels in three encodings.
set(train "")
set(lf "")
set(cr "")
foreach(i RANGE 0 59)
  math(EXPR c "${i} % 2")
  math(EXPR x "(${i} * 37) % 10")
  if(c EQUAL 1)
    set(features "2.${x},1.${x},0.5")
  else()
    set(features "-2.${x},-1.${x},0.5")
  endif()
  string(APPEND train "${features},${c}\n")
  string(APPEND lf "${features}\n")
  string(APPEND cr "${features}\r")
endforeach()
file(WRITE ${WORK}/train.csv "${train}")
file(WRITE ${WORK}/lf.csv "${lf}")
file(WRITE ${WORK}/cr.csv "${cr}")
string(ASCII 239 187 191 bom)
file(WRITE ${WORK}/bom.csv "${bom}${lf}")

include(${CMAKE_CURRENT_LIST_DIR}/cli_test_support.cmake)


set(train_flags train --train-csv ${WORK}/train.csv --test-csv ${WORK}/train.csv --layers 3-8-2
    --epochs 20 --batch-size 8 --lr 0.05 --seed 3 --quiet)

# Outputs: only a regular file is replaced; refused before any training.
expect_error("--save /dev/null: is a character device; only a regular file is replaced"
               ${MLPK} ${train_flags} --save /dev/null)
execute_process(COMMAND test -c /dev/null RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "/dev/null is no longer a character device")
endif()
expect_error("--save ${WORK}/dir: is a directory" ${MLPK} ${train_flags} --save ${WORK}/dir)
expect_error("--metrics ${WORK}/fifo: is a FIFO; only a regular file is replaced"
               ${MLPK} ${train_flags} --metrics ${WORK}/fifo)
expect_error("--plot /dev/zero: is a character device; only a regular file is replaced"
               ${MLPK} ${train_flags} --plot /dev/zero)
file(CREATE_LINK /dev/null ${WORK}/to_null SYMBOLIC)
expect_error("--save ${WORK}/to_null: is a symbolic link to a character device; only a regular file is replaced"
               ${MLPK} ${train_flags} --save ${WORK}/to_null)

# Inputs: named for what they are, not "no such file".
expect_error("CSV file ${WORK}/dir: is a directory" ${MLPK} train --train-csv ${WORK}/dir --test-csv ${WORK}/train.csv)
expect_error("CSV file ${WORK}/fifo: is not a regular file \\(a FIFO\\)"
               ${MLPK} train --train-csv ${WORK}/fifo --test-csv ${WORK}/train.csv)
expect_error("CSV file /dev/zero: is not a regular file \\(a character device\\)"
               ${MLPK} train --train-csv ${WORK}/train.csv --test-csv /dev/zero)

# A stale temporary file of a killed save goes; a link planted under such a name is not followed.
file(WRITE ${WORK}/.model.mlpk.mlpk-tmp-killedrun01 "half a model")
file(WRITE ${WORK}/victim "precious")
file(CREATE_LINK ${WORK}/victim ${WORK}/.model.mlpk.mlpk-tmp-planted0001 SYMBOLIC)
expect_ok(${MLPK} ${train_flags} --save ${WORK}/model.mlpk)
if(EXISTS ${WORK}/.model.mlpk.mlpk-tmp-killedrun01)
  message(FATAL_ERROR "the stale temporary file is still there")
endif()
file(READ ${WORK}/victim victim)
if(NOT victim STREQUAL "precious")
  message(FATAL_ERROR "the planted link's target was written: ${victim}")
endif()

# Predictions: 60 rows in, 60 predictions out, the same for LF, CR-only and BOM files.
expect_error("--output /dev/null: is a character device; only a regular file is replaced"
               ${MLPK} predict --model ${WORK}/model.mlpk --csv ${WORK}/lf.csv --output /dev/null)
set(expected "")
foreach(i RANGE 0 59)
  math(EXPR c "${i} % 2")
  string(APPEND expected "${c}\n")
endforeach()
foreach(kind lf cr bom)
  expect_ok(${MLPK} predict --model ${WORK}/model.mlpk --csv ${WORK}/${kind}.csv --output ${WORK}/${kind}.txt)
  file(READ ${WORK}/${kind}.txt predictions)
  if(NOT predictions STREQUAL expected)
    message(FATAL_ERROR "predictions for ${kind}.csv are not the 60 classes 0,1,0,1,...:\n${predictions}")
  endif()
endforeach()

# A link to a regular file is written through, as cp does; the link stays.
file(CREATE_LINK ${WORK}/lf.txt ${WORK}/link.txt SYMBOLIC)
file(WRITE ${WORK}/lf.txt "old")
expect_ok(${MLPK} predict --model ${WORK}/model.mlpk --csv ${WORK}/lf.csv --output ${WORK}/link.txt)
file(READ ${WORK}/lf.txt predictions)
if(NOT IS_SYMLINK ${WORK}/link.txt OR NOT predictions STREQUAL expected)
  message(FATAL_ERROR "writing through a link: the link is gone or its target holds '${predictions}'")
endif()

file(GLOB leftovers ${WORK}/.*mlpk-tmp-*)
if(NOT leftovers STREQUAL "${WORK}/.model.mlpk.mlpk-tmp-planted0001")
  message(FATAL_ERROR "temporary files left over: ${leftovers}")
endif()
