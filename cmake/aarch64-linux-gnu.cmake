# Cross build for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu; the test binaries run
# under qemu-user. The arm64 libraries are Debian's own :arm64 packages installed beside the
# host's (multiarch: /usr/lib/aarch64-linux-gnu), which the cross compiler and CMake search
# without a sysroot. scripts/arm64_check.sh installs all of it and uses preset arm64.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# ctest and gtest_discover_tests run every target binary through it. -L: the cross
# toolchain's dynamic loader and C/C++ runtime (the binaries were linked against those).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
