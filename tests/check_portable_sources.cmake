# Compiles, syntax only, for a non-x86 target (aarch64) the sources that use x86-only headers
# (cpuid.h, immintrin.h): that code must sit behind architecture checks, with a fallback.
#   -DCXX=<a cross g++> -DSOURCE_DIR=<repository> -DWORK_DIR=<scratch> -DCLI11_INCLUDE=<dir>
#   -DSOURCES=<paths relative to the repository, comma-separated>
# Only CLI11's headers come from the host's /usr/include (a directory of links to them): all of
# the C and C++ library is the cross compiler's own.
file(MAKE_DIRECTORY ${WORK_DIR})
file(CREATE_LINK ${CLI11_INCLUDE}/CLI ${WORK_DIR}/CLI SYMBOLIC)
string(REPLACE "," ";" sources "${SOURCES}")
foreach(source IN LISTS sources)
  execute_process(
    COMMAND ${CXX} -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I${SOURCE_DIR}/include
            -I${SOURCE_DIR}/core -I${SOURCE_DIR}/bench -I${SOURCE_DIR}/tools -isystem ${WORK_DIR}
            ${SOURCE_DIR}/${source}
    RESULT_VARIABLE rc ERROR_VARIABLE errors)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${source} does not compile for aarch64:\n${errors}")
  endif()
  message(STATUS "${source}: compiles for aarch64")
endforeach()
