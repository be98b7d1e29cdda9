# CLI test, run by ctest as `cmake -DMLPK=<binary> -DWORK=<dir> -DBACKEND=<name> -P cli_threads_test.cmake`:
# `mlpk train --save` writes the same model file, byte for byte, with 1 and with 8 threads. The
# layers and batch are the ones that once differed on the onednn backend (784-256-200-10, batch
# 96: oneDNN chose other kernels for the narrower blocks of an 8-thread cut).
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
foreach(threads 1 8)
  execute_process(COMMAND ${MLPK} train --dataset fashion-mnist --train-limit 2000 --epochs 1
                          --backend ${BACKEND} --layers 784-256-200-10 --batch-size 96
                          --threads ${threads} --save ${WORK}/model-${threads}.mlpk
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "train with ${threads} threads: exit ${rc}\n${out}\n${err}")
  endif()
endforeach()
file(SHA256 ${WORK}/model-1.mlpk one)
file(SHA256 ${WORK}/model-8.mlpk eight)
if(NOT one STREQUAL eight)
  message(FATAL_ERROR "${BACKEND}: the model trained with 8 threads differs from 1 thread's")
endif()
