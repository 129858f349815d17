# Convenience targets over CMake.  On a fresh Debian machine with gcc, make
# and cmake:  `make demo` builds and runs the demo, `make test` builds and
# runs the whole test suite.  Both first check (as root: install) the
# build dependencies with scripts/deps.sh.

# The example program `make demo` runs (examples/$(DEMO).c): the tour of
# the tutorial programs, sync versus async (about 12 s; CIO_TOUR_SCALE=1
# in the environment runs the tutorials' own seconds).
DEMO := tour

BUILD_DIR := build
ASAN_DIR := build-asan
TSAN_DIR := build-tsan
AARCH64_DIR := build-aarch64
# Debug: CIO_ASSERT is on, as the tests expect.
BUILD_TYPE := Debug
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

CMAKE ?= cmake
CTEST ?= ctest

.PHONY: all deps test-deps build fuzz demo docs test test-guard-fallback \
  test-asan test-alloc test-cancel test-tsan test-aarch64 soak clean

all: build

deps:
	@sh scripts/deps.sh

test-deps:
	@sh scripts/deps.sh test

build: deps
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCIO_BUILD_TESTS=ON -DCIO_BUILD_EXAMPLES=ON -DCIO_BUILD_BENCH=ON
	$(CMAKE) --build $(BUILD_DIR) -j $(JOBS)

demo: build
	./$(BUILD_DIR)/examples/$(DEMO)

# The HTML API reference (Doxygen) in $(BUILD_DIR)/docs/html/index.html.
docs: build
	$(CMAKE) --build $(BUILD_DIR) --target docs

test: build test-deps
	cd $(BUILD_DIR) && $(CTEST) --output-on-failure -j $(JOBS)

# Stack guards as on kernels without guard markers (before Linux 6.13, most
# deployed ones): the whole suite on PROT_NONE guard pages, then the stack
# overflow tests once more as when their budget is spent (canaries only).
OVERFLOW_REGEX := ^test_arch\.|overflow

test-guard-fallback: build test-deps
	cd $(BUILD_DIR) && CIO_STACK_GUARD=fallback $(CTEST) --output-on-failure \
	  -j $(JOBS)
	cd $(BUILD_DIR) && CIO_STACK_GUARD=canary $(CTEST) --output-on-failure \
	  -j $(JOBS) -R '$(OVERFLOW_REGEX)'

test-asan: deps test-deps
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DCIO_SANITIZE=ON \
	  -DCIO_BUILD_TESTS=ON -DCIO_BUILD_EXAMPLES=ON
	$(CMAKE) --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && $(CTEST) --output-on-failure -j $(JOBS)

# The allocation-failure sweep (tests/runner.c, CIO_TEST_FAIL_ALLOC) over
# the core, composition, sync and queue tests: every case again and again,
# failing its 1st, 2nd, ... allocation (stack slabs and loops included),
# then failing every allocation from the Nth on; each run must stop at a
# clean CIO_ENOMEM or go on correctly, and leak nothing.  Under ASan and
# UBSan (the test-asan build), so an error path that touches freed memory
# fails too.
ALLOC_TESTS := test_task test_future test_cancel test_loop test_compose \
  test_sync test_queue
ALLOC_REGEX := ^(test_task|test_future|test_cancel|test_loop|test_compose|test_sync|test_queue)\.

test-alloc: deps
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DCIO_SANITIZE=ON \
	  -DCIO_BUILD_TESTS=ON -DCIO_BUILD_EXAMPLES=ON
	$(CMAKE) --build $(ASAN_DIR) -j $(JOBS) --target $(ALLOC_TESTS)
	cd $(ASAN_DIR) && CIO_TEST_FAIL_ALLOC=sweep $(CTEST) --output-on-failure \
	  -j $(JOBS) -R '$(ALLOC_REGEX)'
	cd $(ASAN_DIR) && CIO_TEST_FAIL_ALLOC=sweep-persist $(CTEST) \
	  --output-on-failure -j $(JOBS) -R '$(ALLOC_REGEX)'

# The cancellation sweep (tests/runner.c, CIO_TEST_CANCEL) over every
# SCENARIO case (ctest label `cancel`: core, composition, sync, queue,
# executor, stream, and each battery's that is built): each scenario
# again and again, cancelling each of its tasks at each of its suspension
# points in turn, as it parks and once its wait was woken; every run must
# pass its conservation checks and leak nothing.  Under ASan and UBSan.
test-cancel: deps test-deps
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DCIO_SANITIZE=ON \
	  -DCIO_BUILD_TESTS=ON -DCIO_BUILD_EXAMPLES=ON
	$(CMAKE) --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && CIO_TEST_CANCEL=sweep $(CTEST) --output-on-failure \
	  -j $(JOBS) -L cancel

# The soak (bench/soak.c) at CI size: 1,000 connections doing echo round
# trips for 30 s against a casyncio server in another process; it fails if
# a round trip fails or memory grows more than 5% after the warm-up.  The
# full run is build/bench/soak alone (10,000 connections for 10 minutes).
SOAK_ARGS ?= --connections 1000 --seconds 30
soak: build
	cd $(BUILD_DIR) && ./bench/soak $(SOAK_ARGS) --csv soak.csv \
	  --chart soak.png

# ThreadSanitizer over the tests where threads meet loops: executors,
# loops in several threads, call_soon_threadsafe.  A data race fails the
# test (TSan exits with 66).
TSAN_TESTS := test_executor test_threads test_loop
TSAN_REGEX := ^(test_executor|test_threads|test_loop)\.

test-tsan: deps
	$(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DCIO_TSAN=ON \
	  -DCIO_BUILD_EXAMPLES=OFF -DCIO_BUILD_BENCH=OFF
	$(CMAKE) --build $(TSAN_DIR) -j $(JOBS) --target $(TSAN_TESTS)
	cd $(TSAN_DIR) && $(CTEST) --output-on-failure -j $(JOBS) \
	  -R '$(TSAN_REGEX)'

# Cross compile for aarch64 and run the tests under qemu-user; the script
# checks (as root: installs) the cross compiler, arm64 libuv and qemu.
test-aarch64:
	BUILD_DIR=$(AARCH64_DIR) JOBS=$(JOBS) sh scripts/test-aarch64.sh

# The libFuzzer harnesses of fuzz/, each for FUZZ_SECONDS (clang).
FUZZ_SECONDS ?= 20
fuzz:
	sh scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(AARCH64_DIR) build-fuzz
