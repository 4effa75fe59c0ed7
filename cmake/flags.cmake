# Release: -O3. The kernels choose their instruction set at run time (autograd/kernels/
# simd_inl.h), so the default binary runs on any x86-64; TAMP_NATIVE=ON builds for this host
# only (-march=native), which also lets the compiler vectorise the other loops for it.
# GCC 12 reports false maybe-uninitialized positives inside its own AVX-512 intrinsics headers.
add_compile_options(-Wall -Wextra -Wno-unused-parameter $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  add_compile_options(-O3)
endif()
if(TAMP_NATIVE)
  add_compile_options(-march=native)
endif()

# Sanitizers (presets asan and fuzz): TAMP_SANITIZE is a list such as "address;undefined".
set(TAMP_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address;undefined")
if(TAMP_SANITIZE)
  list(JOIN TAMP_SANITIZE "," sanitizers)
  # Line tables are all a report needs; full -g made the sanitized build 40 % slower.
  add_compile_options(-fsanitize=${sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all -O1
                      $<IF:$<CXX_COMPILER_ID:Clang>,-gline-tables-only,-g1>)
  add_link_options(-fsanitize=${sanitizers})
endif()

# libFuzzer (preset fuzz): every library gets coverage instrumentation; fuzz/ links the driver.
if(TAMP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TAMP_FUZZ needs clang (libFuzzer): configure with --preset fuzz")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
