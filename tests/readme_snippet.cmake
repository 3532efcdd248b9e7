# Compiles the C++ snippet of README.md against the public headers, warnings as errors, so that the
# README never shows code that does not build. Arguments: -DREADME= -DINCLUDE_DIR= -DCXX= -DOUT=
file(READ "${README}" text)
string(FIND "${text}" "```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "README.md has no ```cpp block")
endif()
math(EXPR start "${start} + 7")
string(SUBSTRING "${text}" ${start} -1 rest)
string(FIND "${rest}" "```" end)
string(SUBSTRING "${rest}" 0 ${end} snippet)
file(WRITE "${OUT}" "${snippet}")
# Designated initializers that leave fields at their defaults are how the API is meant to be used.
execute_process(
  COMMAND ${CXX} -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Wshadow
          -Wno-missing-field-initializers -Werror -I${INCLUDE_DIR} ${OUT}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "README.md's C++ snippet does not compile:\n${out}${err}")
endif()
message(STATUS "README.md's C++ snippet compiles (${OUT})")
