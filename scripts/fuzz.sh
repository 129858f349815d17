#!/bin/sh
# Build the libFuzzer harnesses of fuzz/ with clang (ASan + UBSan) and run
# each for a bounded time on its corpus (fuzz/corpus/<name>/; new inputs
# go to build-fuzz/corpus/<name>/, the repo's corpus is only read).
#
#   sh scripts/fuzz.sh            each fuzzer 20 s (what CI runs)
#   sh scripts/fuzz.sh 600        each for 10 minutes, by hand
#   sh scripts/fuzz.sh 60 fuzz_http_server_request   one of them
#
# A crash stops the run with the reproducer's path (crash-*, in
# build-fuzz/) and exit status 1.  Needs clang and its libFuzzer runtime
# (Debian clang, libclang-rt-*-dev); as root they are installed.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-20}
ONLY=${2:-}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if ! command -v clang >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends clang </dev/null
  else
    echo "fuzz.sh: needs clang (apt-get install clang)" >&2
    exit 1
  fi
fi

cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  -DCIO_BUILD_FUZZ=ON -DCIO_BUILD_TESTS=OFF -DCIO_BUILD_EXAMPLES=OFF \
  -DCIO_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" >/dev/null

status=0
for bin in "$BUILD_DIR"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
  seed=fuzz/corpus/${name#fuzz_}
  work=$BUILD_DIR/corpus/${name#fuzz_}
  mkdir -p "$work"
  [ -d "$seed" ] || mkdir -p "$seed"
  echo "fuzz.sh: $name for ${SECONDS_EACH}s"
  if ! (cd "$BUILD_DIR" && "../$bin" -max_total_time="$SECONDS_EACH" \
    -print_final_stats=1 "../$work" "../$seed" 2>"$name.log"); then
    echo "fuzz.sh: $name FAILED; see $BUILD_DIR/$name.log" >&2
    tail -n 40 "$BUILD_DIR/$name.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$BUILD_DIR/$name.log" |
      tail -n 2 | sed "s/^/fuzz.sh: $name: /"
  fi
done
exit $status
