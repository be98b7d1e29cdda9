# Shared by the CLI tests (cmake -P scripts): run the mlpk command line and check how it ends.

# The command exits 0 within 60 s; its standard output is left in `out` for the caller.
function(expect_ok)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}\nexit ${rc}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

# The command fails as bad input must: exit code 2 within 60 s (a FIFO must not block), and
# standard error ends with one line "mlpk: error: ..." containing `pattern` (a regular
# expression), after whatever progress it printed; never "internal error", an uncaught exception
# or a crash.
function(expect_error pattern)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "${ARGN}\nexpected exit 2, got ${rc}\n${out}\n${err}")
  endif()
  if(NOT err MATCHES "(^|\n)mlpk: error: [^\n]*(${pattern})[^\n]*\n$")
    message(FATAL_ERROR "${ARGN}\nerror '${err}' is not one line matching '${pattern}'")
  endif()
  if(err MATCHES "internal error|terminate|Aborted|what\\(\\)")
    message(FATAL_ERROR "${ARGN}\nnot a user error: ${err}")
  endif()
endfunction()

# Sets `var` to a CSV of `count` samples of two well-separated classes in 3 features, with the
# label last and a header line "a,b,c,label".
function(two_class_csv var count)
  set(text "a,b,c,label\n")
  math(EXPR last "${count} - 1")
  foreach(i RANGE 0 ${last})
    math(EXPR c "${i} % 2")
    math(EXPR x "(${i} * 37) % 10")
    if(c EQUAL 1)
      string(APPEND text "2.${x},1.${x},0.5,1\n")
    else()
      string(APPEND text "-2.${x},-1.${x},0.5,0\n")
    endif()
  endforeach()
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

# Writes `dir`/train.csv (60 samples) and `dir`/test.csv (the first 20 of them) of two_class_csv.
function(write_two_class_files dir)
  two_class_csv(train 60)
  two_class_csv(test 20)
  file(WRITE ${dir}/train.csv "${train}")
  file(WRITE ${dir}/test.csv "${test}")
endfunction()
