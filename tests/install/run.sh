#!/bin/sh
# Build and run tests/install/consumer.c against an installed casyncio,
# out of the tree, the ways a user links it:
#
#   run.sh install            cmake --install the build into $WORK/prefix
#   run.sh pkg_config_shared  cc ... $(pkg-config --cflags --libs casyncio)
#   run.sh pkg_config_static  cc -static ... $(pkg-config --static ...):
#                             no shared library at all
#   run.sh pkg_config_static_module
#                             cc ... $(pkg-config --libs casyncio-static):
#                             libcasyncio.a and libuv_a.a, the rest shared
#   run.sh cmake_package      find_package(casyncio CONFIG): both targets
#   run.sh add_subdirectory   casyncio's sources inside another project
#
# Environment (set by tests/CMakeLists.txt): CIO_BUILD_DIR, CIO_SOURCE_DIR,
# CC, CMAKE, WORK (a scratch directory; `install` must run first).
set -eu

mode=$1
prefix=$WORK/prefix
src=$CIO_SOURCE_DIR/tests/install
cflags="-std=c11 -Wall -Wextra -Wpedantic -Werror"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The program must run and print what it prints.
check_run() {
  out=$("$1") || fail "$1 exited with status $?"
  echo "$out"
  case $out in
  "gathered 1 2 3
casyncio "*) ;;
  *) fail "$1 printed something else" ;;
  esac
}

# needed <binary>: the shared libraries it needs, one per line.
needed() {
  readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

pc() {
  PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config "$@"
}

case $mode in
install)
  rm -rf "$WORK"
  mkdir -p "$WORK"
  "$CMAKE" --install "$CIO_BUILD_DIR" --prefix "$prefix" >"$WORK/install.log"
  test -f "$prefix/lib/cmake/casyncio/casyncioConfig.cmake" ||
    fail "no CMake package installed"
  test -f "$prefix/lib/cmake/casyncio/casyncioConfigVersion.cmake" ||
    fail "no CMake version file installed"
  echo "installed into $prefix"
  ;;
pkg_config_shared)
  # shellcheck disable=SC2046 # pkg-config's words are separate flags
  "$CC" $cflags -o "$WORK/shared" "$src/consumer.c" \
    $(pc --cflags --libs casyncio) -Wl,-rpath,"$prefix/lib"
  needed "$WORK/shared" | grep -q '^libcasyncio\.so' ||
    fail "not linked with libcasyncio.so"
  check_run "$WORK/shared"
  ;;
pkg_config_static)
  echo "link line: $(pc --static --libs casyncio)"
  # shellcheck disable=SC2046
  "$CC" $cflags -static -o "$WORK/static" "$src/consumer.c" \
    $(pc --static --cflags --libs casyncio) 2>"$WORK/static.log" || {
    cat "$WORK/static.log" >&2
    fail "static link failed"
  }
  # glibc warns that getaddrinfo needs its shared NSS modules at run time
  # in a static program; nothing else may be said.
  if grep -v -e 'statically linked applications requires at runtime' \
    -e 'in function' "$WORK/static.log" | grep -q .; then
    cat "$WORK/static.log" >&2
    fail "the static link warned"
  fi
  readelf -d "$WORK/static" 2>&1 | grep -q 'no dynamic section' ||
    fail "not a static program: $(needed "$WORK/static" | tr '\n' ' ')"
  check_run "$WORK/static"
  ;;
pkg_config_static_module)
  # shellcheck disable=SC2046
  "$CC" $cflags -o "$WORK/static_module" "$src/consumer.c" \
    $(pc --cflags --libs casyncio-static)
  if needed "$WORK/static_module" | grep -q -e '^libcasyncio' -e '^libuv'; then
    fail "linked with a shared casyncio or libuv"
  fi
  check_run "$WORK/static_module"
  ;;
cmake_package | add_subdirectory)
  dir=$WORK/$mode
  rm -rf "$dir"
  if [ "$mode" = cmake_package ]; then
    set -- -DCMAKE_PREFIX_PATH="$prefix"
  else
    set -- -DCASYNCIO_SOURCE_DIR="$CIO_SOURCE_DIR"
  fi
  "$CMAKE" -S "$src" -B "$dir" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.log" 2>&1 || {
    cat "$dir.log" >&2
    fail "configure failed"
  }
  "$CMAKE" --build "$dir" -j 2 >>"$dir.log" 2>&1 || {
    cat "$dir.log" >&2
    fail "build failed"
  }
  if [ "$mode" = add_subdirectory ]; then
    # A subproject builds the library only, without -Werror.
    for t in test_task hello bench_switch; do
      if "$CMAKE" --build "$dir" --target help | grep -q "\.\.\. $t\$"; then
        fail "the subproject built $t"
      fi
    done
    grep -q '^CIO_WERROR:BOOL=OFF' "$dir/CMakeCache.txt" ||
      fail "CIO_WERROR is not off in a subproject"
  fi
  needed "$dir/consumer_shared" | grep -q '^libcasyncio\.so' ||
    fail "consumer_shared is not linked with libcasyncio.so"
  if needed "$dir/consumer_static" | grep -q '^libcasyncio'; then
    fail "consumer_static is linked with libcasyncio.so"
  fi
  check_run "$dir/consumer_shared"
  check_run "$dir/consumer_static"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
