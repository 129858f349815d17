/* A tiny test framework: TEST(name) registers a case; the runner
 * (runner.c) runs each case in its own forked process with a timeout, so a
 * crash or hang fails that case only.  `test_<area> NAME` runs one case in
 * the foreground (for gdb/valgrind). */
#ifndef CIO_TEST_H
#define CIO_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "casyncio.h"

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn, const char *file);

#define TEST(name)                                                             \
  static void test_##name(void);                                               \
  __attribute__((constructor)) static void test_register_##name(void) {        \
    test_register(#name, test_##name, __FILE__);                               \
  }                                                                            \
  static void test_##name(void)

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* A case that cannot run here (a peer program missing and impossible to
 * install): print why and end as skipped (exit 77, which ctest reports as
 * "Skipped", never as passed). */
void test_skip(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
#define TEST_SKIP_CODE 77

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                       \
  } while (0)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (a_ != b_)                                                              \
      test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_,      \
                b_);                                                           \
  } while (0)

#define CHECK_STR(a, b)                                                        \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                     \
      test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,      \
                a_ ? a_ : "(null)", b_ ? b_ : "(null)");                       \
  } while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol)                                                  \
  do {                                                                         \
    double a_ = (a), b_ = (b);                                                 \
    if (!(fabs(a_ - b_) <= (tol)))                                             \
      test_fail(__FILE__, __LINE__, "%s ~= %s: %.9f vs %.9f (tol %g)", #a, #b, \
                a_, b_, (double)(tol));                                        \
  } while (0)

/* True once an allocation failed by injection (CIO_TEST_FAIL_ALLOC, see
 * runner.c) in this run: from then on CIO_ENOMEM is an expected outcome. */
bool test_alloc_failed(void);

/* ---- helpers shared by the test files (helpers.c) ---- */

/* An event log for order checks: test_log("a%d", 1) appends "a1 ". */
void test_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *test_log_text(void);
void test_log_reset(void);
/* A task body that logs its argument, a string. */
int test_logger(void *arg, void **result);

/* Seconds on the monotonic clock, for real-time checks. */
double test_now(void);

/* Capture what the process writes to stderr between the two calls (a
 * report casyncio prints); test_stderr_end() returns it (static buffer,
 * up to 16 KiB) and restores stderr. */
void test_stderr_begin(void);
const char *test_stderr_end(void);

/* Run `fn(arg)` as the main task of a fresh loop on the virtual clock
 * (cio_run_ex), so sleeps take no real time and their times are exact. */
int test_run_virtual(int (*fn)(void *arg, void **result), void *arg);

/* Run `fn(arg)` as the main task of a fresh loop on the real clock; fail
 * the case unless it returns 0 and the loop closes cleanly. */
void test_run_main(cio_task_fn fn, void *arg);

/* Create a task on the running loop (the caller owns the reference). */
cio_task *test_spawn(cio_task_fn fn, void *arg);

/* Yield `n` times (sleep(0)): lets every task ready now, and what it
 * wakes, run. */
void test_yield_n(int n);

/* Shell command that re-runs the running test binary as a child: its
 * absolute path (works under valgrind, unlike /proc/self/exe), after
 * $CIO_TEST_EMULATOR when that is set (a cross build under qemu-user,
 * see scripts/test-aarch64.sh). */
const char *test_self(void);

/* Run `cmd` with /bin/sh, capture stdout+stderr (up to cap bytes) and
 * return the wait status. */
int test_run_capture(const char *cmd, char *out, size_t cap);

/* A case that checks what the runtime prints runs itself as a child:
 *
 *   if (test_is_child()) { ...do what prints...; return; }
 *   int status = test_run_child("this_case", out, sizeof out);
 *
 * test_run_child runs case `name` of this binary with CIO_CHILD=1, its
 * stdout and stderr into `out`, and returns the wait status.  The child
 * ends like any case, with the runner's leak checks. */
bool test_is_child(void);
int test_run_child(const char *name, char *out, size_t cap);

#endif
