#!/bin/sh
# Check the build dependencies casyncio needs beyond a C compiler, make
# and cmake: pkg-config and libuv (>= 1.40, as CMakeLists.txt asks).
#
# As root on Debian/Ubuntu, install what is missing with apt-get.
# Otherwise print the apt packages to install and exit 1.
set -eu

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
