# Arrow C++ and Parquet C++ from the installed pyarrow wheel.
#
# The wheel ships versioned shared libraries (libarrow.so.2600, ...) and headers but no CMake
# package, so we ask the interpreter where they are and create IMPORTED targets that point at the
# versioned files directly: no symlinks in site-packages, and the SO version we link is explicit.
#
# Provides: ArrowWheel::arrow, ArrowWheel::compute, ArrowWheel::parquet, ARROWWHEEL_VERSION,
# ARROWWHEEL_SO_VERSION, ARROWWHEEL_LIB_DIR, ARROWWHEEL_INCLUDE_DIR.
if(NOT Python_EXECUTABLE)
  find_package(Python 3.11 REQUIRED COMPONENTS Interpreter Development.Module)
endif()
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import os, pyarrow as pa; print(pa.__version__); print(pa.get_include()); print(os.path.dirname(pa.__file__))"
  OUTPUT_VARIABLE _aw_out RESULT_VARIABLE _aw_rc ERROR_VARIABLE _aw_err
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _aw_rc EQUAL 0)
  message(FATAL_ERROR "pyarrow is not importable by ${Python_EXECUTABLE}; install pyarrow==26.0.*:\n${_aw_err}")
endif()
string(REPLACE "\n" ";" _aw_out "${_aw_out}")
list(GET _aw_out 0 ARROWWHEEL_VERSION)
list(GET _aw_out 1 ARROWWHEEL_INCLUDE_DIR)
list(GET _aw_out 2 ARROWWHEEL_LIB_DIR)
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _aw_match "${ARROWWHEEL_VERSION}")
math(EXPR ARROWWHEEL_SO_VERSION "${CMAKE_MATCH_1} * 100 + ${CMAKE_MATCH_2}")
set(ARROWWHEEL_MAJOR_MINOR "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")

function(_arrowwheel_add target libname)
  set(_file "${ARROWWHEEL_LIB_DIR}/lib${libname}.so.${ARROWWHEEL_SO_VERSION}")
  if(NOT EXISTS "${_file}")
    message(FATAL_ERROR "expected ${_file} in the pyarrow ${ARROWWHEEL_VERSION} wheel")
  endif()
  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${_file}"
    IMPORTED_SONAME "lib${libname}.so.${ARROWWHEEL_SO_VERSION}"
    INTERFACE_INCLUDE_DIRECTORIES "${ARROWWHEEL_INCLUDE_DIR}"
    INTERFACE_COMPILE_FEATURES cxx_std_20)
  if(ARGN)
    set_property(TARGET ${target} PROPERTY INTERFACE_LINK_LIBRARIES ${ARGN})
  endif()
endfunction()

if(NOT TARGET ArrowWheel::arrow)
  _arrowwheel_add(ArrowWheel::arrow arrow)
  _arrowwheel_add(ArrowWheel::compute arrow_compute ArrowWheel::arrow)
  _arrowwheel_add(ArrowWheel::parquet parquet ArrowWheel::arrow)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ArrowWheel
  REQUIRED_VARS ARROWWHEEL_INCLUDE_DIR ARROWWHEEL_LIB_DIR
  VERSION_VAR ARROWWHEEL_VERSION)
