# Compile one file and check the outcome (run by ctest, see tests/CMakeLists.txt):
#   cmake -DCC=<compiler> -DSRC=<file.c> "-DFLAGS=<;-list>" [-DEXPECT=<regex>] -P expect.cmake
# Without EXPECT the compile must succeed; with it, it must fail AND print a
# diagnostic matching EXPECT, so an unrelated error (a broken include path,
# a typo) cannot pass for the misuse being rejected.
execute_process(COMMAND ${CC} ${FLAGS} -c ${SRC} -o /dev/null
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT DEFINED EXPECT)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "expected a clean compile, got:\n${out}")
  endif()
elseif(rc EQUAL 0)
  message(FATAL_ERROR "expected a compile error matching '${EXPECT}', but it compiled")
elseif(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "compile failed, but not with '${EXPECT}':\n${out}")
endif()
