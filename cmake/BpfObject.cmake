# bpf_object(<name> <source.bpf.c> [INCLUDES dirs...] [DEPENDS headers...])
#
# Compiles an XDP/BPF C source with clang for the BPF target, generates its libbpf skeleton with
# bpftool, and provides an INTERFACE target `<name>_skel` whose include directory holds
# `<name>.skel.h`. The skeleton embeds the object's bytes, so nothing reads a .o at run time.
# INCLUDES are searched after the source's own directory (bench/ takes xdp/, for abi.h).
# clang 16 (Debian 12's newest): its BPF code for the data plane's hot paths is about 5 ns a packet
# shorter than clang 14's (fewer spills and register moves; docs/performance.md), and the verifier
# is only ever shown that code. An explicit -DBPF_CLANG=... picks another compiler.
find_program(BPF_CLANG NAMES clang-16 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
set(BPF_MULTIARCH_INCLUDE /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
if(NOT CMAKE_LIBRARY_ARCHITECTURE)
  set(BPF_MULTIARCH_INCLUDE /usr/include/x86_64-linux-gnu)
endif()

function(bpf_object name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS;INCLUDES" ${ARGN})
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${source})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  file(GLOB headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
  set(include_flags)
  foreach(dir ${ARG_INCLUDES})
    list(APPEND include_flags -I${dir})
  endforeach()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -O2 -g -target bpf -mcpu=v3 -Wall -Werror
            -I${BPF_MULTIARCH_INCLUDE} -I${CMAKE_CURRENT_SOURCE_DIR} ${include_flags}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${headers} ${ARG_DEPENDS}
    COMMENT "BPF ${name}: clang -target bpf ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF ${name}: bpftool gen skeleton"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  # All skeletons, for what reads the C++ sources without building them (cmake/check-tidy.sh).
  if(NOT TARGET bpf_skeletons)
    add_custom_target(bpf_skeletons)
  endif()
  add_dependencies(bpf_skeletons ${name}_skel_gen)
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${out_dir} ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
  set_property(TARGET ${name}_skel PROPERTY BPF_OBJECT_FILE ${obj})
endfunction()
