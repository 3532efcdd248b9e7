# ctest install_consumers: installs the build tree into a fresh prefix (cmake --install), then
# builds two out-of-tree consumers against it, one with find_package(ila) and one with
# `pkg-config --cflags --libs ila`, and runs them. Everything is made under WORK_DIR, which is
# removed at the end whether the test passed or not.
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=.../tests/install -DWORK_DIR=... -DCXX=... -DLIBDIR=lib
#         -P run_consumers.cmake
cmake_minimum_required(VERSION 3.20)
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR CXX LIBDIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumers.cmake needs -D${var}=...")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(failure "")

# Runs a command unless an earlier one failed; on failure records what failed with its output.
function(step what)
  if(failure)
    return()
  endif()
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${what}: exit ${rc}\n${out}${err}")
  if(NOT rc EQUAL 0)
    set(failure "${what} failed (exit ${rc})" PARENT_SCOPE)
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

step("cmake --install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/ila/dataplane.h include/ila/types.h ${LIBDIR}/libila.a ${LIBDIR}/pkgconfig/ila.pc
        ${LIBDIR}/cmake/ila/ilaConfig.cmake sbin/ilactl bin/ila_minimal)
  if(NOT failure AND NOT EXISTS "${prefix}/${f}")
    set(failure "the installed tree lacks ${f}")
  endif()
endforeach()

# 1. find_package(ila)
step("configure the find_package consumer" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/find_package"
     -B "${WORK_DIR}/find_package" "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX}")
step("build the find_package consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/find_package")
step("run the find_package consumer" "${WORK_DIR}/find_package/consumer")
if(NOT failure AND NOT step_output MATCHES "-> 2001:0:87:0:3000:0:1:333")
  set(failure "the find_package consumer printed the wrong translation")
endif()

# 2. pkg-config
set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
step("pkg-config --cflags --libs ila" pkg-config --cflags --libs ila)
separate_arguments(pc_flags UNIX_COMMAND "${step_output}")
if(NOT failure AND NOT "${step_output}" MATCHES "-lila")
  set(failure "pkg-config --libs ila does not name -lila")
endif()
step("build the pkg-config consumer" "${CXX}" -std=c++20 "${SOURCE_DIR}/consumer.cc" -o
     "${WORK_DIR}/pkg_config_consumer" ${pc_flags})
step("run the pkg-config consumer" "${WORK_DIR}/pkg_config_consumer")
if(NOT failure AND NOT step_output MATCHES "-> 2001:0:87:0:3000:0:1:333")
  set(failure "the pkg-config consumer printed the wrong translation")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
if(failure)
  message(FATAL_ERROR "install_consumers: ${failure}")
endif()
message(STATUS "install_consumers: both consumers built against the installed tree and ran")
