# cnncAddModel.cmake: cnnc_add_model(), the way protobuf_generate turns a
# .proto into sources at build time.
#
#   cnnc_add_model(TARGET MODEL [NAME PREFIX] [TRAIN] [INT8 [CALIB FILE]]
#                  [TARGET_PROFILE PROFILE] [OPTIONS ...])
#
# Adds the static library TARGET built from <NAME>.c and <NAME>.h, which
# cnnc writes from MODEL (a .cnn or .onnx file) into the build tree.
# NAME defaults to MODEL's file name without its extension; the header's
# folder is a usage requirement, so `#include "<NAME>.h"` works in whatever
# links TARGET. TRAIN adds --train (the training API). INT8 compiles the
# model in int8 (--int8), calibrated on CALIB (a .npy of input samples; a
# pre-quantized ONNX model needs none). TARGET_PROFILE picks the kernels of
# a target (--target: cortex-m0plus, cortex-m3, cortex-m4, cortex-m7,
# cortex-m33, cortex-m55, host); the library is still built by the
# project's compiler, so cross-compile the project for a Cortex-M. OPTIONS go to cnnc
# as they are (--batch N, --weights DIR, --split-weights, --no-winograd,
# --ram-budget ...), relative paths taken from the current source folder.
# The code is generated again when MODEL or CALIB changes, when
# a file of the --weights folder changes or appears, or when cnnc does.
function(cnnc_add_model target model)
  cmake_parse_arguments(PARSE_ARGV 2 arg "TRAIN;INT8" "NAME;CALIB;TARGET_PROFILE" "OPTIONS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "cnnc_add_model(${target}): unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(arg_CALIB AND NOT arg_INT8)
    message(FATAL_ERROR "cnnc_add_model(${target}): CALIB without INT8")
  endif()
  get_filename_component(model "${model}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(name "${arg_NAME}")
  set(cnnc_args ${arg_OPTIONS})
  if(name)
    list(PREPEND cnnc_args --name "${name}")
  else()
    get_filename_component(name "${model}" NAME_WLE)
  endif()
  if(arg_TRAIN)
    list(APPEND cnnc_args --train)
  endif()
  set(calib "")
  if(arg_INT8)
    list(APPEND cnnc_args --int8)
    if(arg_CALIB)
      get_filename_component(calib "${arg_CALIB}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
      list(APPEND cnnc_args --calib "${calib}")
    endif()
  endif()
  if(arg_TARGET_PROFILE)
    list(APPEND cnnc_args --target "${arg_TARGET_PROFILE}")
  endif()
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/cnnc/${target}")
  set(outputs "${dir}/${name}.c" "${dir}/${name}.h")
  if("--split-weights" IN_LIST arg_OPTIONS)
    list(APPEND outputs "${dir}/${name}_weights.c")
  endif()
  _cnnc_weights_files(weights "${arg_OPTIONS}")
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${dir}"
    COMMAND cnnc::cnnc "${model}" -o "${dir}/${name}.c" ${cnnc_args}
    DEPENDS "${model}" ${calib} ${weights} "$<TARGET_FILE:cnnc::cnnc>"
    WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
    COMMENT "cnnc: compiling ${model} to ${name}.c"
    VERBATIM)
  list(FILTER outputs EXCLUDE REGEX "\\.h$")
  add_library(${target} STATIC ${outputs} "${dir}/${name}.h")
  target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${dir}>")
  find_library(CNNC_LIBM m)
  if(CNNC_LIBM)
    target_link_libraries(${target} PUBLIC "${CNNC_LIBM}")
  endif()
endfunction()

# The .npy files of the folder that `--weights DIR` or `--weights=DIR`
# names among OPTIONS, relative to the current source folder; a file added
# later makes the build look again (CONFIGURE_DEPENDS).
function(_cnnc_weights_files out options)
  set(dir "")
  set(next OFF)
  foreach(opt IN LISTS options)
    if(next)
      set(dir "${opt}")
      set(next OFF)
    elseif(opt STREQUAL "--weights")
      set(next ON)
    elseif(opt MATCHES "^--weights=(.*)$")
      set(dir "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  set(files "")
  if(dir)
    get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    file(GLOB files CONFIGURE_DEPENDS "${dir}/*.npy")
  endif()
  set(${out} ${files} PARENT_SCOPE)
endfunction()
