# Defines DNNL::dnnl from Debian's libdnnl-dev, once.
#
# Debian's dnnl CMake config insists on the OpenCL headers (its GPU runtime is OpenCL), although a
# CPU-only user needs none: use the config when OpenCL is there, else import libdnnl directly
# (libdnnl.so still loads libOpenCL.so.1 at run time by itself).
if(NOT TARGET DNNL::dnnl)
  find_package(OpenCL QUIET)
  if(OpenCL_FOUND)
    find_package(dnnl CONFIG REQUIRED)
  else()
    find_library(MLPK_DNNL_LIBRARY NAMES dnnl REQUIRED)
    find_path(MLPK_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp REQUIRED)
    add_library(DNNL::dnnl SHARED IMPORTED GLOBAL)
    set_target_properties(DNNL::dnnl PROPERTIES IMPORTED_LOCATION ${MLPK_DNNL_LIBRARY}
                          INTERFACE_INCLUDE_DIRECTORIES ${MLPK_DNNL_INCLUDE_DIR})
    message(STATUS "oneDNN: ${MLPK_DNNL_LIBRARY} (imported directly: no OpenCL headers)")
  endif()
endif()
