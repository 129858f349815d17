#!/bin/sh
# Cross compile casyncio for aarch64 with Debian's gcc-aarch64-linux-gnu
# and run the test suite under qemu-user, so that src/arch/switch_aarch64.S
# and the scheduler are tested on the other CPU the code supports.
#
#   sh scripts/test-aarch64.sh        (or: make test-aarch64)
#
# As root on Debian, installs what is missing: arm64 as a dpkg foreign
# architecture, then gcc-aarch64-linux-gnu, libc6-dev-arm64-cross,
# libuv1-dev:arm64 and qemu-user.  Otherwise prints the commands to run
# and exits 1.  Builds in build-aarch64/ (Debug, as `make test`), and runs
# every ctest case through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR,
# set by cmake/toolchain-aarch64.cmake).
#
# Environment: BUILD_DIR (default build-aarch64), JOBS (default nproc).
set -eu

cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build-aarch64}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
TRIPLE=aarch64-linux-gnu
MULTIARCH_LIB=/usr/lib/$TRIPLE

# --- dependencies -----------------------------------------------------

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=""
need() {
  missing="${missing:+$missing }$1"
}

command -v cmake >/dev/null 2>&1 || need cmake
command -v make >/dev/null 2>&1 || need make
command -v pkg-config >/dev/null 2>&1 || need pkg-config
command -v $TRIPLE-gcc >/dev/null 2>&1 || need gcc-$TRIPLE
# The cross libc (crt1.o, libc.so for the linker), either Debian's cross
# package or the multiarch libc6-dev:arm64.
if ! installed libc6-dev-arm64-cross && ! installed libc6-dev:arm64; then
  need libc6-dev-arm64-cross
fi
[ -f "$MULTIARCH_LIB/pkgconfig/libuv.pc" ] || need libuv1-dev:arm64
command -v qemu-aarch64 >/dev/null 2>&1 ||
  command -v qemu-aarch64-static >/dev/null 2>&1 || need qemu-user

add_arch=false
case " $missing " in
*:arm64*)
  dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64 ||
    add_arch=true
  ;;
esac

if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-aarch64: missing packages: $missing" >&2
    echo "install them as root with:" >&2
    if $add_arch; then
      echo "  dpkg --add-architecture arm64" >&2
    fi
    echo "  apt-get update" >&2
    echo "  apt-get install -y --no-install-recommends $missing" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "test-aarch64: needs the Debian packages $missing (no apt-get here)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if $add_arch; then
    echo "test-aarch64: dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
  fi
  echo "test-aarch64: installing $missing"
  if ! apt-get update; then
    echo "test-aarch64: apt-get update failed; arm64 packages come from" \
      "the same Debian mirror (Ubuntu keeps them on ports.ubuntu.com," \
      "which needs its own sources entry)" >&2
    exit 1
  fi
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y --no-install-recommends $missing </dev/null
fi

# pkg-config must read the arm64 libuv.pc, not the host's.  (The toolchain
# file sets the same default; this makes it hold for the whole run.)
export PKG_CONFIG_LIBDIR="$MULTIARCH_LIB/pkgconfig:/usr/share/pkgconfig"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)
echo "test-aarch64: $($TRIPLE-gcc --version | head -n 1)"
echo "test-aarch64: $("$QEMU" --version | head -n 1)"
echo "test-aarch64: libuv $(pkg-config --modversion libuv) from $MULTIARCH_LIB"

# --- build ----------------------------------------------------------------
# The core only: the switch, scheduler and I/O are what differ by CPU; the
# batteries would need arm64 builds of OpenSSL, libcurl, libpq... as well.

cmake -S . -B "$BUILD_DIR" \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=Debug \
  -DCIO_BUILD_EXAMPLES=OFF -DCIO_BUILD_BENCH=OFF \
  -DCIO_WITH_TLS=OFF -DCIO_WITH_HTTP_CLIENT=OFF -DCIO_WITH_HTTP_SERVER=OFF \
  -DCIO_WITH_POSTGRES=OFF -DCIO_WITH_SQLITE=OFF
cmake --build "$BUILD_DIR" -j "$JOBS"

# Show that this really is the aarch64 build with the assembly switch, not
# a host build or the ucontext fallback.
processor=$(sed -n 's/^set(CMAKE_SYSTEM_PROCESSOR "\(.*\)")$/\1/p' \
  "$BUILD_DIR"/CMakeFiles/*/CMakeSystem.cmake | head -n 1)
echo "test-aarch64: CMAKE_SYSTEM_PROCESSOR=$processor"
switch_obj=$(find "$BUILD_DIR/CMakeFiles/cio_objects.dir" \
  -name 'switch_*.o' 2>/dev/null | head -n 1)
echo "test-aarch64: context switch object: ${switch_obj:-none}"
case "$processor:$switch_obj" in
aarch64:*switch_aarch64.S.o) ;;
*)
  echo "test-aarch64: expected src/arch/switch_aarch64.S in an aarch64" \
    "build" >&2
  exit 1
  ;;
esac
if ! $TRIPLE-readelf -h "$BUILD_DIR/tests/test_arch" |
  grep -q 'Machine:.*AArch64'; then
  echo "test-aarch64: $BUILD_DIR/tests/test_arch is not an AArch64 binary" >&2
  exit 1
fi
echo "test-aarch64: test binaries are AArch64 ELF, run with $QEMU"

# --- test -----------------------------------------------------------------

# Children that a test starts through /bin/sh (test_self()) are AArch64
# binaries too.  Unless binfmt_misc sends those to qemu, the kernel cannot
# run them; tests/runner.c then prefixes test_self() with this emulator.
export CIO_TEST_EMULATOR="$QEMU"

# The examples are not built here (they run natively in `make test`), so
# their tests are not registered either.
echo "test-aarch64: examples and their tests run natively in \`make test\`"

cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS"
