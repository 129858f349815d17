/* A tiny test framework: TEST(name) registers a case; the runner
 * (runner.c) runs each case in its own forked process with a timeout, so a
 * crash or hang fails that case only.  `test_<area> NAME` runs one case in
 * the foreground (for gdb/valgrind).  A case that leaves a loop open, an
 * allocation or libuv handle behind in a loop, or a file descriptor open
 * fails, naming what it left.  Write TEST(name) at the start of a line:
 * that is how tests/CMakeLists.txt finds the cases, and a per-file ctest
 * case fails when it and the binary disagree.  docs/testing.md has more. */
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
void test_register(const char *name, test_fn fn, const char *file,
                   bool scenario);

#define TEST(name)                                                             \
  static void test_##name(void);                                               \
  __attribute__((constructor)) static void test_register_##name(void) {        \
    test_register(#name, test_##name, __FILE__, false);                        \
  }                                                                            \
  static void test_##name(void)

/* A case the cancellation sweep reruns (CIO_TEST_CANCEL=sweep, `make
 * test-cancel`): cancelling each task it creates at each of its
 * suspension points in turn.  Otherwise exactly a TEST.  Write it at the
 * start of a line, like TEST; its ctest case gets the label `cancel`.  See
 * "Cases under injected cancellation" below and docs/testing.md. */
#define SCENARIO(name)                                                         \
  static void test_##name(void);                                               \
  __attribute__((constructor)) static void test_register_##name(void) {        \
    test_register(#name, test_##name, __FILE__, true);                         \
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

/* ---- cases under injected allocation failures ----
 *
 * The sweep (CIO_TEST_FAIL_ALLOC=sweep, see runner.c) fails one
 * allocation per run, the 1st, then the 2nd, ...  A case passes such a
 * run when it does and checks all it does normally, or when the failure
 * surfaces as CIO_ENOMEM from the call that needed the memory, the case
 * stops there like any careful program, and nothing is left behind (the
 * runner's leak checks).  So a case:
 *  - checks each call that may fail that way with TRY / TRY_EQ in a
 *    function returning int (the code ends the function and travels up),
 *    CHECK_RUN in a void one (a TEST body, where the run's code ends the
 *    case).  Outside the sweep, or before its failure happened, they are
 *    CHECK_EQ exactly: nothing is tolerated then.
 *  - after the failure also tolerates CIO_ECANCELED: the tasks a stopped
 *    case leaves running are cancelled.
 *  - hands what it holds to DEFER(obj) (tasks from test_spawn are
 *    already): released when the main task of test_run(_virtual) ends
 *    (or the body of test_with_loop returns),
 *    after the tasks still running (if the case stopped early) were
 *    cancelled and ran out. */

/* True once an allocation failed by injection in this run. */
bool test_alloc_failed(void);

/* ---- cases under injected cancellation ----
 *
 * The cancellation sweep (CIO_TEST_CANCEL=sweep, see runner.c) reruns a
 * SCENARIO cancelling one task (the 1st task created: the main task of
 * test_run; then the 2nd, ...) at its 1st, then 2nd, ... suspension, as
 * it parks and again once its wait was woken.  The same TRY / CHECK_RUN /
 * DEFER make a scenario stop cleanly at the CIO_ECANCELED that reaches
 * the main task; a scenario then checks its conservation law whatever
 * happened (items put = got + still queued, permits restored, bytes
 * written = bytes read, every result taken or disposed of), and accepts
 * what a cancelled helper task explains only when test_cancel_injected()
 * says a cancellation was injected. */

/* True once a cancellation was injected in this run. */
bool test_cancel_injected(void);

/* Inject one cancellation in this case, as one run of the sweep does:
 * the `task`-th task created from now on (1: the next) is cancelled at
 * its `n`-th suspension, as it parks or, with `after_wake`, once that
 * wait was woken and before it resumes.  For a regression test of a race
 * the sweep found.  Returns after arming; the case then runs. */
void test_inject_cancel(unsigned task, long n, bool after_wake);

/* True when `rc` is what an injected fault explains: CIO_ENOMEM or
 * CIO_ECANCELED after an injected allocation failure, CIO_ECANCELED after
 * an injected cancellation.  Counts the case as stopped early. */
bool test_tolerated(int rc);

/* In a SCENARIO: the run ended with `rc`, which must be 0, or what an
 * injected fault explains (test_tolerated). */
#define CHECK_OUTCOME(rc)                                                      \
  do {                                                                         \
    int o_ = (rc);                                                             \
    if (o_ != 0 && !test_tolerated(o_))                                        \
      test_fail(__FILE__, __LINE__, "run ended with %s", cio_err_name(o_));    \
  } while (0)

/* The case stops here (TRY and CHECK_RUN call it): from the main task of
 * test_run(_virtual), or the body of test_with_loop, the other tasks are
 * cancelled and run out first, while what they use on the stopping
 * function's stack is still alive. */
void test_stop_here(void);

#define TRY_EQ(expr, want)                                                     \
  do {                                                                         \
    long long r_ = (long long)(expr), w_ = (long long)(want);                  \
    if (r_ != w_) {                                                            \
      if (test_tolerated((int)r_)) {                                           \
        test_stop_here();                                                      \
        return (int)r_;                                                        \
      }                                                                        \
      test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #expr, #want,    \
                r_, w_);                                                       \
    }                                                                          \
  } while (0)

#define TRY(expr) TRY_EQ(expr, 0)

#define CHECK_RUN(expr, want)                                                  \
  do {                                                                         \
    long long r_ = (long long)(expr), w_ = (long long)(want);                  \
    if (r_ != w_) {                                                            \
      if (test_tolerated((int)r_))                                             \
        return;                                                                \
      test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #expr, #want,    \
                r_, w_);                                                       \
    }                                                                          \
  } while (0)

/* In a function returning int: task `t` the case expects to be still
 * running has ended.  Only an injected failure may explain that (the task
 * stopped on it): the function then returns the task's code. */
#define TRY_STILL_RUNNING(t)                                                   \
  do {                                                                         \
    if (cio_task_is_done(t)) {                                                 \
      int r_ = cio_task_await(t, NULL);                                        \
      if (!test_tolerated(r_))                                                 \
        test_fail(__FILE__, __LINE__, "%s ended early: %s", #t,                \
                  cio_err_name(r_));                                           \
      test_stop_here();                                                        \
      return r_;                                                               \
    }                                                                          \
  } while (0)

enum test_defer_kind {
  TEST_DEFER_TASK,
  TEST_DEFER_FUTURE,
  TEST_DEFER_HANDLE,
  TEST_DEFER_QUEUE,
  TEST_DEFER_LOCK,
  TEST_DEFER_EVENT,
  TEST_DEFER_CONDITION,
  TEST_DEFER_SEMAPHORE,
  TEST_DEFER_BARRIER,
  TEST_DEFER_AS_COMPLETED,
  TEST_DEFER_STREAM,
  TEST_DEFER_SERVER,
  TEST_DEFER_PROCESS,
  TEST_DEFER_CALL,
};

/* Release or free `obj` (a task, future, handle, queue, lock, event,
 * condition, semaphore, barrier or as_completed iterator; close a stream,
 * server or process, which suspends) when the main task of test_run or
 * test_run_virtual ends, newest first.  The case must not release or free
 * it itself.  NULL is ignored.  For any other object (a battery's
 * connection...), DEFER_CALL(fn, obj) calls fn(obj) at that point. */
#define DEFER(obj)                                                             \
  test_defer(_Generic((obj),                                                   \
                 cio_task *: TEST_DEFER_TASK,                                  \
                 cio_future *: TEST_DEFER_FUTURE,                              \
                 cio_handle *: TEST_DEFER_HANDLE,                              \
                 cio_queue *: TEST_DEFER_QUEUE,                                \
                 cio_lock *: TEST_DEFER_LOCK,                                  \
                 cio_event *: TEST_DEFER_EVENT,                                \
                 cio_condition *: TEST_DEFER_CONDITION,                        \
                 cio_semaphore *: TEST_DEFER_SEMAPHORE,                        \
                 cio_barrier *: TEST_DEFER_BARRIER,                            \
                 cio_as_completed *: TEST_DEFER_AS_COMPLETED,                  \
                 cio_stream *: TEST_DEFER_STREAM,                              \
                 cio_server *: TEST_DEFER_SERVER,                              \
                 cio_process *: TEST_DEFER_PROCESS),                           \
             (obj))
void test_defer(enum test_defer_kind kind, void *obj);
#define DEFER_CALL(fn, obj) test_defer_call((fn), (obj))
void test_defer_call(void (*fn)(void *obj), void *obj);

/* ---- helpers shared by the test files (helpers.c) ---- */

/* Storm tests draw from a seeded PRNG.  test_seed() is the run's seed:
 * $CIO_TEST_SEED if set, else one made from the clock; once asked for it
 * is printed with any failure ("rerun with CIO_TEST_SEED=..."), so a
 * failing storm can be replayed exactly.  test_rand() is the next
 * 64-bit number (xorshift*), test_rand_below(n) one in [0, n). */
uint64_t test_seed(void);
uint64_t test_rand(void);
uint64_t test_rand_below(uint64_t n);

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
/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * closed), for a program that must be given its port. */
int test_free_port(void);

/* `fd` is meant to stay open after the case (a watcher's pipe that must
 * close only when the process ends): the leak check skips it. */
void test_fd_outlives_case(int fd);

void test_stderr_begin(void);
const char *test_stderr_end(void);

/* Run `fn(arg)` as the main task of a fresh loop (cio_run_ex) on the real
 * clock, or on the virtual one, where sleeps take no real time and their
 * times are exact.  When `fn` returns: if it stopped on an injected
 * failure, the other tasks are cancelled and awaited; then what was
 * DEFERred is released.  Returns what `fn` returned (or cio_run_ex's own
 * error). */
int test_run(cio_task_fn fn, void *arg);
int test_run_virtual(cio_task_fn fn, void *arg);

/* Open a loop with `opts` (may be NULL), call `body(loop, arg)` outside
 * any task (it may run the loop), end the tasks still alive as cio_run
 * does, release what was DEFERred, and close the loop (failing the case
 * unless it closes).  Returns what `body` returned, or cio_loop_open's
 * error. */
int test_with_loop(const cio_loop_opts *opts,
                   int (*body)(cio_loop *loop, void *arg), void *arg);

/* test_run, failing the case unless it returns 0. */
void test_run_main(cio_task_fn fn, void *arg);

/* Create a task on the running loop; its reference is DEFERred (await it
 * with cio_task_await, never cio_task_join or release).  `out` may be
 * NULL.  Returns cio_create_task's code. */
int test_spawn(cio_task **out, cio_task_fn fn, void *arg);

/* Yield `n` times (sleep(0)): lets every task ready now, and what it
 * wakes, run.  Returns 0, or the first error of cio_sleep. */
int test_yield_n(int n);

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
