# Cross compile for 64-bit ARM Linux with Debian's cross toolchain.
#
#   cmake -S . -B build-aarch64 \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#
# Needs (Debian/Ubuntu, see scripts/test-aarch64.sh, which installs them):
#   gcc-aarch64-linux-gnu libc6-dev-arm64-cross   the compiler and its libc
#   libuv1-dev:arm64                              after
#                                                 `dpkg --add-architecture arm64`
#   qemu-user                                     to run the tests (ctest)
#
# The arm64 libuv comes from Debian multiarch: headers in /usr/include
# (shared with the host, and on the cross compiler's search path), the
# library and libuv.pc in /usr/lib/aarch64-linux-gnu.  pkg-config must read
# that libuv.pc and not the host's, so PKG_CONFIG_LIBDIR points there
# unless the caller set it.
#
# CMAKE_SYSTEM_PROCESSOR=aarch64 makes CMakeLists.txt build
# src/arch/switch_aarch64.S.  ctest runs each test executable through
# CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64).

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CIO_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${CIO_CROSS_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${CIO_CROSS_TRIPLE}-gcc)
set(CMAKE_AR ${CIO_CROSS_TRIPLE}-ar CACHE FILEPATH "archiver")
set(CMAKE_RANLIB ${CIO_CROSS_TRIPLE}-ranlib CACHE FILEPATH "ranlib")
set(CMAKE_STRIP ${CIO_CROSS_TRIPLE}-strip CACHE FILEPATH "strip")

# Libraries and headers of the target: the cross libc's own tree and the
# multiarch directories.  Programs (cmake, pkg-config) are the host's.
set(CMAKE_FIND_ROOT_PATH /usr/${CIO_CROSS_TRIPLE})
set(CMAKE_LIBRARY_ARCHITECTURE ${CIO_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

if(NOT DEFINED ENV{PKG_CONFIG_LIBDIR})
  set(ENV{PKG_CONFIG_LIBDIR}
      /usr/lib/${CIO_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
endif()
# pkg-config must not prefix paths with a sysroot: multiarch files live
# in the host's /usr.
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# Run target programs (the tests, via ctest) with qemu-user.  The arm64
# dynamic loader and libc come from libc6:arm64 (pulled in by libuv1:arm64)
# at their usual paths, so qemu needs no -L; QEMU_LD_PREFIX still works
# for a loader kept elsewhere.
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  find_program(CIO_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
  if(CIO_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${CIO_QEMU_AARCH64})
  endif()
endif()
