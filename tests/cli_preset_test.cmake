# CLI test of `mlpk train --preset fast` on Fashion-MNIST, shortened (12,000 training images, 3
# epochs instead of 60,000 and 10), run by ctest as
# `cmake -DMLPK=<binary> -DWORK=<dir> -P cli_preset_test.cmake`: the preset sets its flags unless
# given, its one-cycle schedule gives the learning rates of its formula epoch by epoch, and with
# and without dropout it reaches the accuracy that a broken dropout or schedule would not
# (measured on Zen 4, highway AVX-512: 0.8482 without dropout, 0.8425 with 0.1).
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

include(${CMAKE_CURRENT_LIST_DIR}/cli_test_support.cmake)

set(short --dataset fashion-mnist --preset fast --train-limit 12000 --epochs 3 --quiet)
foreach(rate 0 0.1)
  expect_ok(${MLPK} train ${short} --dropout ${rate} --metrics ${WORK}/dropout${rate}.csv)
  set(json "${out}")
  if(NOT json MATCHES "\"preset\": \"fast\"" OR NOT json MATCHES "\"schedule\": \"one-cycle\""
     OR NOT json MATCHES "\"batch_size\": 256" OR NOT json MATCHES "\"lr\": 0.003[,}]"
     OR NOT json MATCHES "\"layers\": \"784-256\\(relu[^)]*\\)-128\\(relu[^)]*\\)-10\\(softmax\\)")
    message(FATAL_ERROR "--preset fast did not set its flags: ${json}")
  endif()
  string(REGEX MATCH "\"test_accuracy\": ([0-9.]+)" _ "${json}")
  if(CMAKE_MATCH_1 LESS 0.83)
    message(FATAL_ERROR "--preset fast, dropout ${rate}, 3 epochs: test accuracy ${CMAKE_MATCH_1} < 0.83")
  endif()
  # One-cycle over 3 epochs of 43 steps (10,800 images in batches of 256), warm-up 30%: the rate
  # each epoch starts at is lr/25, then near the peak lr, then half-way down the cosine.
  file(STRINGS ${WORK}/dropout${rate}.csv rows)
  list(TRANSFORM rows REPLACE "^.*," "")
  if(NOT rows STREQUAL "learning_rate;0.00012;0.0029854;0.00139537")
    message(FATAL_ERROR "one-cycle's learning rates per epoch: ${rows}")
  endif()
endforeach()
# Dropout changed the training: the training losses of the two runs differ.
file(STRINGS ${WORK}/dropout0.csv without)
file(STRINGS ${WORK}/dropout0.1.csv with)
if(without STREQUAL with)
  message(FATAL_ERROR "--dropout 0.1 trained the same as no dropout")
endif()

# An explicit flag wins over the preset's.
expect_ok(${MLPK} train --dataset fashion-mnist --preset fast --train-limit 2000 --quiet --epochs 1
          --batch-size 128 --layers 784-64-10)
if(NOT out MATCHES "\"batch_size\": 128" OR NOT out MATCHES "\"layers\": \"784-64\\(relu\\)-10"
   OR NOT out MATCHES "\"epochs\": 1[,}]")
  message(FATAL_ERROR "flags given beside --preset fast must win: ${out}")
endif()
expect_error("--preset: slow not in" ${MLPK} train --dataset fashion-mnist --preset slow)
