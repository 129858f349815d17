#!/bin/sh
# Check the dependencies casyncio needs beyond a C compiler, make and
# cmake: pkg-config, libuv (>= 1.40, as CMakeLists.txt asks) and the
# libraries of the batteries (OpenSSL, libcurl, http-parser, jansson,
# libpq, SQLite).  `deps.sh test` also checks what the test suite runs
# against: a PostgreSQL server, curl, openssl and Debian's python3, and
# doxygen for the API reference.
#
# As root on Debian/Ubuntu, install what is missing with apt-get.
# Otherwise print the apt packages to install and exit 1.
set -eu

mode=${1:-build}

missing=""
need() {
  case " $missing " in
  *" $1 "*) ;;
  *) missing="${missing:+$missing }$1" ;;
  esac
}

command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need gcc
command -v cmake >/dev/null 2>&1 || need cmake
if command -v pkg-config >/dev/null 2>&1; then
  pkg-config --exists libuv || need libuv1-dev
else
  need pkg-config
  # Without pkg-config, ask dpkg whether the libuv headers are there.
  if ! dpkg-query -W -f='${Status}' libuv1-dev 2>/dev/null |
    grep -q 'install ok installed'; then
    need libuv1-dev
  fi
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The batteries' libraries (each can be turned off with a CMake option,
# but `make` builds them all).
for pkg in libssl-dev libcurl4-openssl-dev libhttp-parser-dev \
  libjansson-dev libpq-dev libsqlite3-dev; do
  installed "$pkg" || need "$pkg"
done

if [ "$mode" = test ]; then
  # Real peers the tests start on 127.0.0.1 or a Unix socket.
  [ -x /usr/lib/postgresql/15/bin/initdb ] || need postgresql
  command -v curl >/dev/null 2>&1 || need curl
  command -v openssl >/dev/null 2>&1 || need openssl
  [ -x /usr/bin/python3 ] || need python3
  # The HTTP client's tests: HTTP/2 with nghttpd; the examples' aiohttp
  # twins.
  [ -x /usr/sbin/nghttpd ] || need nghttp2-server
  if [ -x /usr/bin/python3 ] &&
    ! /usr/bin/python3 -c 'import aiohttp' >/dev/null 2>&1; then
    need python3-aiohttp
  fi
  # The API reference the docs test builds (`make docs`).
  command -v doxygen >/dev/null 2>&1 || need doxygen
fi

if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "casyncio needs these apt packages: $missing" >&2
    echo "install them with: sudo apt-get install -y $missing" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "casyncio needs: $missing (no apt-get here: install the" \
      "equivalents with your package manager)" >&2
    exit 1
  fi
  echo "deps.sh: installing $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y --no-install-recommends $missing </dev/null
fi

if ! pkg-config --exists libuv; then
  echo "deps.sh: pkg-config still cannot find libuv" >&2
  exit 1
fi
if ! pkg-config --atleast-version=1.40 libuv; then
  echo "deps.sh: libuv $(pkg-config --modversion libuv) is too old;" \
    "casyncio needs 1.40 or newer" >&2
  exit 1
fi
