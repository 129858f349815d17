/* The loop: callback and timer ordering, clocks, running and stopping,
 * deadlock detection, embedding in an application's libuv loop, and the
 * stack overflow report. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <uv.h>

#include "arch/fiber.h"
#include "casyncio.h"
#include "test.h"

static void log_cb(void *arg) {
  test_log("%s", (const char *)arg);
}

/* What a callback's call_soon gave when an injected failure stopped it:
 * the case picks it up after running the loop. */
static int callback_rc;

static void schedule_c(void *arg) {
  test_log("%s", (const char *)arg);
  int rc = cio_loop_call_soon(NULL, log_cb, "c", NULL);
  if (test_tolerated(rc))
    callback_rc = rc;
  else
    CHECK_EQ(rc, 0);
}

static void stop_cb(void *arg) {
  cio_loop_stop(arg);
}

/* FIFO; something scheduled while a batch runs waits for the next batch. */
static int soon_fifo(cio_loop *loop, void *arg) {
  (void)arg;
  TRY(cio_loop_call_soon(loop, schedule_c, "a", NULL));
  TRY(cio_loop_call_soon(loop, log_cb, "b", NULL));
  TRY(cio_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  TRY(callback_rc);
  CHECK_STR(test_log_text(), "a b ");
  /* What the stopped iteration scheduled runs first on the next run. */
  TRY(cio_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  CHECK_STR(test_log_text(), "a b c ");
  return 0;
}

TEST(call_soon_fifo_and_batches) {
  CHECK_RUN(test_with_loop(NULL, soon_fifo, NULL), 0);
}

static int timer_order(cio_loop *loop, void *arg) {
  (void)arg;
  TRY(cio_loop_call_later(loop, 0.3, log_cb, "t3", NULL));
  TRY(cio_loop_call_later(loop, 0.1, log_cb, "t1a", NULL));
  TRY(cio_loop_call_later(loop, 0.2, log_cb, "t2", NULL));
  TRY(cio_loop_call_later(loop, 0.1, log_cb, "t1b", NULL));
  TRY(cio_loop_call_at(loop, 0.1, log_cb, "t1c", NULL));
  /* A negative delay is due at once but still runs after queued soon
   * callbacks (they were in the ready queue first). */
  TRY(cio_loop_call_later(loop, -5, log_cb, "neg", NULL));
  TRY(cio_loop_call_soon(loop, log_cb, "soon", NULL));
  TRY(cio_loop_call_later(loop, 0.4, stop_cb, loop, NULL));
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  CHECK_STR(test_log_text(), "soon neg t1a t1b t1c t2 t3 ");
  CHECK_NEAR(cio_loop_time(loop), 0.4, 1e-9);
  return 0;
}

TEST(timers_in_deadline_order_ties_fifo) {
  cio_loop_opts opts = {.virtual_clock = true};
  CHECK_RUN(test_with_loop(&opts, timer_order, NULL), 0);
}

/* Many timers, most cancelled (so the heap holds stale entries and
 * compacts), the rest run in (deadline, scheduling) order. */
enum { MANY_TIMERS = 3000 };

struct many_timers {
  int order[MANY_TIMERS]; /* indices in the order they ran */
  int ran;
  int64_t when_ms[MANY_TIMERS];
};

static struct many_timers many;

static void many_cb(void *arg) {
  many.order[many.ran++] = (int)(intptr_t)arg;
}

/* Start MANY_TIMERS handles at many.when_ms[]; when one cannot be made
 * (an injected allocation failure), release those made and say why. */
static int start_many(cio_loop *loop, cio_handle **h) {
  for (int i = 0; i < MANY_TIMERS; i++) {
    int rc = cio_loop_call_at(loop, (double)many.when_ms[i] / 1000, many_cb,
                              (void *)(intptr_t)i, &h[i]);
    if (rc < 0) {
      while (i-- > 0) {
        cio_handle_cancel(h[i]);
        cio_handle_release(h[i]);
      }
      return rc;
    }
  }
  return 0;
}

static int many_timers_run(cio_loop *loop, void *arg) {
  (void)arg;
  static cio_handle *h[MANY_TIMERS];
  unsigned x = 12345;
  for (int i = 0; i < MANY_TIMERS; i++) {
    x = x * 1103515245u + 12345u;
    many.when_ms[i] = 1 + (x >> 16) % 500; /* many equal deadlines */
  }
  TRY(start_many(loop, h));
  for (int i = 0; i < MANY_TIMERS; i++)
    if (i % 4 != 0)
      cio_handle_cancel(h[i]);
  for (int i = 0; i < MANY_TIMERS; i++)
    cio_handle_release(h[i]);
  TRY(cio_loop_call_later(loop, 1.0, stop_cb, loop, NULL));
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  CHECK_EQ(many.ran, MANY_TIMERS / 4);
  for (int k = 0; k < many.ran; k++) {
    int i = many.order[k];
    CHECK_EQ(i % 4, 0);
    if (k > 0) {
      int p = many.order[k - 1];
      CHECK(many.when_ms[p] < many.when_ms[i] ||
            (many.when_ms[p] == many.when_ms[i] && p < i));
    }
  }
  return 0;
}

/* Deadlines that mostly rise (the timers' sorted run) with some that
 * fall back (the heap), equal ones across both: one order over both. */
static int mixed_timers_run(cio_loop *loop, void *arg) {
  (void)arg;
  static cio_handle *h[MANY_TIMERS];
  unsigned x = 777;
  for (int i = 0; i < MANY_TIMERS; i++) {
    x = x * 1103515245u + 12345u;
    int64_t rising = 10 + i / 3;
    many.when_ms[i] = (x >> 16) % 5 == 0 ? rising - (int64_t)((x >> 8) % 40)
                                         : rising;
  }
  TRY(start_many(loop, h));
  for (int i = 0; i < MANY_TIMERS; i += 7)
    cio_handle_cancel(h[i]);
  for (int i = 0; i < MANY_TIMERS; i++)
    cio_handle_release(h[i]);
  TRY(cio_loop_call_later(loop, 5.0, stop_cb, loop, NULL));
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  CHECK_EQ(many.ran, MANY_TIMERS - (MANY_TIMERS + 6) / 7);
  for (int k = 1; k < many.ran; k++) {
    int p = many.order[k - 1], i = many.order[k];
    CHECK(i % 7 != 0);
    CHECK(many.when_ms[p] < many.when_ms[i] ||
          (many.when_ms[p] == many.when_ms[i] && p < i));
  }
  return 0;
}

TEST(timers_ordered_across_rising_and_falling_deadlines) {
  cio_loop_opts opts = {.virtual_clock = true};
  CHECK_RUN(test_with_loop(&opts, mixed_timers_run, NULL), 0);
}

TEST(many_timers_cancelled_and_ordered) {
  cio_loop_opts opts = {.virtual_clock = true};
  CHECK_RUN(test_with_loop(&opts, many_timers_run, NULL), 0);
}

static int cancel_handles(cio_loop *loop, void *arg) {
  (void)arg;
  cio_handle *soon, *later;
  TRY(cio_loop_call_soon(loop, log_cb, "soon", &soon));
  DEFER(soon);
  TRY(cio_loop_call_later(loop, 2.5, log_cb, "later", &later));
  DEFER(later);
  TRY(cio_loop_call_later(loop, 3, stop_cb, loop, NULL));
  CHECK_NEAR(cio_handle_when(later), 2.5, 1e-9);
  CHECK(cio_handle_when(soon) < 0);
  cio_handle_cancel(soon);
  cio_handle_cancel(later);
  cio_handle_cancel(later); /* idempotent */
  CHECK(cio_handle_is_cancelled(later));
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  CHECK_STR(test_log_text(), "");
  return 0;
}

TEST(handle_cancel_and_when) {
  cio_loop_opts opts = {.virtual_clock = true};
  CHECK_RUN(test_with_loop(&opts, cancel_handles, NULL), 0);
}

TEST(callback_argument_errors) {
  CHECK_EQ(cio_loop_call_soon(NULL, log_cb, "x", NULL), CIO_EINVAL); /* no loop */
  cio_loop *loop;
  CHECK_RUN(cio_loop_open(&loop, NULL), 0);
  cio_handle *h = (cio_handle *)1;
  CHECK_EQ(cio_loop_call_soon(loop, NULL, NULL, &h), CIO_EINVAL);
  CHECK(h == NULL);
  CHECK_EQ(cio_loop_call_later(loop, NAN, log_cb, "x", NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_call_at(loop, NAN, log_cb, "x", NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_close(loop), 0);
}

static int sleep_nan(void *arg, void **result) {
  (void)arg;
  (void)result;
  return cio_sleep(NAN);
}

TEST(sleep_nan_is_einval) {
  CHECK_RUN(cio_run(sleep_nan, NULL), CIO_EINVAL);
}

/* The virtual clock: a program sleeping 6 s runs at once and its times are
 * exact. */
static int sleeps_six(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_NEAR(cio_time(), 0.0, 1e-12);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_sleep(2), 0);
  CHECK_NEAR(cio_time(), 6.0, 1e-12);
  return 0;
}

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST(virtual_clock_jumps) {
  double t0 = wall();
  CHECK_RUN(test_run_virtual(sleeps_six, NULL), 0);
  CHECK(wall() - t0 < 0.5);
}

/* The same kind of program on the real clock, within a tolerance. */
static int sleeps_real(void *arg, void **result) {
  (void)arg;
  (void)result;
  double t0 = cio_time();
  CHECK_EQ(cio_sleep(0.2), 0);
  double dt = cio_time() - t0;
  CHECK(dt >= 0.2);
  CHECK(dt < 0.35);
  return 0;
}

TEST(real_clock_sleep) {
  double t0 = wall();
  CHECK_RUN(cio_run(sleeps_real, NULL), 0);
  CHECK(wall() - t0 >= 0.2);
}

/* Concurrent sleeps overlap: three tasks of 1, 2, 3 s take 3 s. */
static int sleep_n(void *arg, void **result) {
  (void)result;
  int rc = cio_sleep((double)(intptr_t)arg);
  test_log("done%d", (int)(intptr_t)arg);
  return rc;
}

static int main_overlap(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], sleep_n, (void *)(intptr_t)(3 - i)));
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_await(t[i], NULL), 0);
  CHECK_NEAR(cio_time(), 3.0, 1e-9);
  return 0;
}

TEST(concurrent_sleeps_overlap) {
  CHECK_RUN(test_run_virtual(main_overlap, NULL), 0);
  CHECK_STR(test_log_text(), "done1 done2 done3 ");
}

/* The explicit lifecycle: open, create, run_until_complete, close. */
static int add_one(void *arg, void **result) {
  CHECK_EQ(cio_sleep(0.01), 0);
  *result = (void *)((intptr_t)arg + 1);
  return 0;
}

TEST(run_until_complete) {
  cio_loop *loop;
  CHECK_RUN(cio_loop_open(&loop, NULL), 0);
  CHECK(cio_get_running_loop() == loop);
  cio_task *t;
  int rc = cio_create_task(loop, &t, add_one, (void *)41, NULL);
  if (test_tolerated(rc)) {
    CHECK_EQ(cio_loop_close(loop), 0);
    return;
  }
  CHECK_EQ(rc, 0);
  void *r = NULL;
  CHECK_EQ(cio_loop_run_until_complete(loop, t, &r), 0);
  CHECK_EQ((intptr_t)r, 42);
  CHECK(!cio_loop_is_running(loop));
  /* Running again on a done task returns its result at once. */
  CHECK_EQ(cio_loop_run_until_complete(loop, t, &r), 0);
  CHECK_EQ(cio_loop_close(loop), CIO_EBUSY); /* a reference is held */
  cio_task_release(t);
  CHECK_EQ(cio_loop_close(loop), 0);
  CHECK(cio_get_running_loop() == NULL);
}

/* stop() before the task is done: CIO_EINTR, and the task is still
 * pending and can be finished by another run. */
static int sleeps_one(void *arg, void **result) {
  (void)arg;
  (void)result;
  return cio_sleep(1);
}

static int stop_before_complete(cio_loop *loop, void *arg) {
  (void)arg;
  cio_task *t;
  TRY(cio_create_task(loop, &t, sleeps_one, NULL, NULL));
  DEFER(t);
  TRY(cio_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), CIO_EINTR);
  CHECK(!cio_task_is_done(t));
  CHECK_EQ(cio_loop_close(loop), CIO_EBUSY); /* the task is pending */
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  return 0;
}

TEST(stop_before_complete_is_eintr) {
  cio_loop_opts opts = {.virtual_clock = true};
  CHECK_RUN(test_with_loop(&opts, stop_before_complete, NULL), 0);
}

/* stop() before run_forever: exactly one iteration. */
static int stop_before_run_forever(cio_loop *loop, void *arg) {
  (void)arg;
  TRY(cio_loop_call_soon(loop, schedule_c, "a", NULL));
  CHECK_EQ(cio_loop_stop(loop), 0);
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  TRY(callback_rc);
  CHECK_STR(test_log_text(), "a ");
  TRY(cio_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  CHECK_STR(test_log_text(), "a c ");
  return 0;
}

TEST(stop_before_run_forever_runs_one_iteration) {
  CHECK_RUN(test_with_loop(NULL, stop_before_run_forever, NULL), 0);
}

/* A task that waits on something nothing can ever complete. */
static int awaits_forever(void *arg, void **result) {
  (void)result;
  return cio_await(arg, NULL);
}

static int deadlock(cio_loop *loop, void *arg) {
  (void)arg;
  cio_future *f;
  TRY(cio_future_new(loop, &f));
  DEFER(f);
  cio_task *t;
  TRY(cio_create_task(loop, &t, awaits_forever, f, NULL));
  DEFER(t);
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), CIO_EDEADLK);
  CHECK_EQ(cio_future_set_result(f, NULL), 0);
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  return 0;
}

TEST(deadlock_is_detected) {
  cio_loop_opts opts = {.detect_deadlock = true};
  CHECK_RUN(test_with_loop(&opts, deadlock, NULL), 0);
}

TEST(run_from_task_or_running_loop_refused) {
  cio_loop *loop;
  CHECK_RUN(cio_loop_open(&loop, NULL), 0);
  CHECK_EQ(cio_run(sleeps_one, NULL), CIO_EBUSY); /* a loop is open here */
  CHECK_EQ(cio_loop_run_until_complete(loop, NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_close(loop), 0);
  CHECK_EQ(cio_loop_close(NULL), 0);
}

/* casyncio inside an application's own libuv loop: the application runs
 * uv_run(); our tasks progress in its iterations, beside its own timer. */
static void app_timer_cb(uv_timer_t *h) {
  test_log("app-timer");
  uv_close((uv_handle_t *)h, NULL);
}

static int embedded_task(void *arg, void **result) {
  (void)arg;
  (void)result;
  test_log("task-start");
  CHECK_EQ(cio_sleep(0.05), 0);
  test_log("task-end");
  return 0;
}

TEST(embedded_in_application_uv_loop) {
  uv_loop_t uv;
  CHECK_EQ(uv_loop_init(&uv), 0);
  cio_loop *loop;
  int rc = cio_loop_open(&loop, &(cio_loop_opts){.uv_loop = &uv});
  cio_task *t;
  if (rc == 0) {
    CHECK(cio_loop_uv(loop) == &uv);
    rc = cio_create_task(loop, &t, embedded_task, NULL, NULL);
    if (rc != 0)
      CHECK_EQ(cio_loop_close(loop), 0);
  }
  if (test_tolerated(rc)) {
    CHECK_EQ(uv_loop_close(&uv), 0);
    return;
  }
  CHECK_EQ(rc, 0);
  uv_timer_t app_timer;
  uv_timer_init(&uv, &app_timer);
  uv_update_time(&uv); /* slow starts (valgrind) must not make it due */
  uv_timer_start(&app_timer, app_timer_cb, 20, 0);
  uv_run(&uv, UV_RUN_DEFAULT); /* returns when nothing is left to do */
  CHECK(cio_task_is_done(t));
  CHECK_EQ(cio_task_result(t, NULL), 0);
  CHECK_STR(test_log_text(), "task-start app-timer task-end ");
  cio_task_release(t);
  CHECK_EQ(cio_loop_close(loop), 0);
  CHECK_EQ(uv_loop_close(&uv), 0);
}

/* A stack overflow is caught and reported with the task's name and stack
 * size before the process aborts; checked in a child process, with guard
 * pages and with the canary fallback. */
static int recurse(int depth) {
  volatile char frame[1024];
  for (size_t i = 0; i < sizeof frame; i++)
    frame[i] = (char)depth; /* touch every byte */
  if (depth > 0)
    return recurse(depth - 1) + frame[0];
  return frame[0];
}

/* One frame a little larger than the 64 KiB stack: it writes over the
 * canary and a few KiB of the gap below, then returns. */
static int big_frame(void) {
  volatile char frame[66 * 1024];
  for (size_t i = 0; i < sizeof frame; i++)
    frame[i] = 1;
  return frame[0];
}

static int overflows(void *arg, void **result) {
  (void)result;
  int depth = (int)(intptr_t)arg;
  if (depth > 0)
    recurse(depth);
  else
    big_frame();
  (void)!cio_sleep(0); /* the canary is checked at the switch out */
  return 0;
}

static void child_overflow(int guard, int depth) {
  /* No stall watchdog: its thread would be the first the forked child
   * starts, which ThreadSanitizer refuses after a multi-threaded fork. */
  cio_loop_opts opts = {.stack_guard = guard, .stall_ms = -1};
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, &opts), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, overflows, (void *)(intptr_t)depth,
                           &(cio_task_opts){.name = "deep-recursion"}),
           0);
  (void)!cio_loop_run_until_complete(loop, t, NULL);
  _exit(0); /* not reached if the overflow was caught */
}

static void check_overflow_report(int guard, int depth) {
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    child_overflow(guard, depth);
  }
  close(fds[1]);
  char out[65536];
  ssize_t n = 0, r;
  while ((r = read(fds[0], out + n, sizeof out - 1 - (size_t)n)) > 0)
    n += r;
  out[n > 0 ? n : 0] = '\0';
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (!WIFSIGNALED(status))
    test_fail(__FILE__, __LINE__, "child exited with %d: %s",
              WEXITSTATUS(status), out);
  CHECK_EQ(WTERMSIG(status), SIGABRT);
  if (strstr(out, "deep-recursion") == NULL || strstr(out, "65536") == NULL)
    test_fail(__FILE__, __LINE__, "unexpected report: %s", out);
  CHECK(strstr(out, "stack overflow") != NULL);
}

TEST(stack_overflow_reported_with_guard_pages) {
  if (cio__stack_guard_probe() != CIO__GUARD_PAGES) {
    /* No MADV_GUARD_INSTALL (Linux < 6.13, or qemu-user, which accepts
     * the advice and does nothing): forcing guard pages is refused. */
    cio_loop *loop;
    CHECK_EQ(cio_loop_open(&loop, &(cio_loop_opts){.stack_guard = 1}),
             CIO_EINVAL);
    fprintf(stderr, "no kernel guard pages here: checked CIO_EINVAL only\n");
    return;
  }
  check_overflow_report(1, 100000);
}

TEST(stack_overflow_reported_by_canary) {
  /* Past the 64 KiB stack into the gap below and back; the canary check
   * at the next switch reports it. */
  check_overflow_report(2, 0);
}

/* call_soon_threadsafe: callbacks sent from another thread run on the loop
 * thread, in the order sent, and wake a loop waiting in run_forever. */
#include <pthread.h>

struct ts_ctx {
  cio_loop *loop;
  pthread_t loop_thread;
  int seen[100];
  int nseen;
  bool wrong_thread;
};

static void ts_cb(void *arg) {
  struct ts_ctx *c = *(struct ts_ctx **)arg;
  if (!pthread_equal(pthread_self(), c->loop_thread))
    c->wrong_thread = true;
  c->seen[c->nseen++] = (int)(((intptr_t *)arg)[1]);
  if (c->nseen == 100)
    cio_loop_stop(c->loop);
}

static void *ts_sender(void *arg) {
  struct ts_ctx *c = arg;
  static intptr_t items[100][2];
  for (int i = 0; i < 100; i++) {
    items[i][0] = (intptr_t)c;
    items[i][1] = i;
    if (i % 10 == 0)
      usleep(1000); /* let the loop go back to waiting */
    CHECK_EQ(cio_loop_call_soon_threadsafe(c->loop, ts_cb, items[i]), 0);
  }
  return NULL;
}

TEST(call_soon_threadsafe_from_other_thread) {
  struct ts_ctx c = {.loop_thread = pthread_self()};
  CHECK_RUN(cio_loop_open(&c.loop, NULL), 0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, ts_sender, &c), 0);
  CHECK_EQ(cio_loop_run_forever(c.loop), 0);
  pthread_join(th, NULL);
  CHECK(!c.wrong_thread);
  for (int i = 0; i < 100; i++)
    CHECK_EQ(c.seen[i], i);
  CHECK_EQ(cio_loop_call_soon_threadsafe(NULL, ts_cb, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_close(c.loop), 0);
}

/* A task that survives cio_run's shutdown (it swallows every
 * cancellation and waits on a future nobody sets; shielded, so that the
 * cancellation does not cancel the future) is reported by name, and the
 * thread can run again afterwards. */
static int stubborn(void *arg, void **result) {
  (void)result;
  for (;;) {
    int rc = cio_shield(arg, NULL);
    if (rc != CIO_ECANCELED)
      return rc;
    cio_task_uncancel(cio_current_task());
  }
}

static int main_leaves_stubborn(void *arg, void **result) {
  (void)arg;
  (void)result;
  static cio_future *never; /* leaked on purpose with the abandoned loop */
  CHECK_EQ(cio_future_new(NULL, &never), 0);
  CHECK_EQ(cio_create_task(NULL, NULL, stubborn, never,
                           &(cio_task_opts){.name = "stubborn"}),
           0);
  return cio_sleep(0);
}

static int trivial(void *arg, void **result) {
  (void)arg;
  (void)result;
  return 0;
}

TEST(run_reports_task_pending_at_close) {
  if (test_is_child()) {
    cio_loop_opts opts = {.detect_deadlock = true};
    CHECK_EQ(cio_run_ex(main_leaves_stubborn, NULL, &opts, NULL), 0);
    CHECK_EQ(cio_run(trivial, NULL), 0);
    return;
  }
  /* The abandoned loop is a leak the runner reports: the child fails. */
  char out[4096];
  int status = test_run_child("run_reports_task_pending_at_close", out,
                              sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK(strstr(out, "cio_loop_close: task 'stubborn' is still pending: "
                    "waiting on await: future 0x") != NULL);
  CHECK(strstr(out, " at stubborn (test_loop.c:") != NULL);
  CHECK(strstr(out, "leaked: 1 loop(s) never freed") != NULL);
}

/* Opening a loop turns SIGPIPE into EPIPE (unless the program chose a
 * disposition): writing to a pipe whose reader is gone must not kill. */
TEST(loop_open_ignores_sigpipe_by_default) {
  signal(SIGPIPE, SIG_DFL);
  cio_loop *loop;
  CHECK_RUN(cio_loop_open(&loop, NULL), 0);
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  close(fds[0]);
  CHECK_EQ(write(fds[1], "x", 1), -1);
  CHECK_EQ(errno, EPIPE);
  close(fds[1]);
  CHECK_EQ(cio_loop_close(loop), 0);
  /* A program's own choice is left alone. */
  struct sigaction sa = {.sa_handler = SIG_DFL};
  sigaction(SIGPIPE, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  CHECK_RUN(cio_loop_open(&loop, NULL), 0);
  CHECK(signal(SIGPIPE, SIG_IGN) == SIG_IGN);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* A task that ends in the batch the main task ends in: its done-callback
 * (here it drops the last reference to the task) still runs before
 * cio_run() closes the loop, as asyncio.run's shutdown iterations run it.
 * Without that iteration the reference leaks and the loop is abandoned. */
static void release_when_done(cio_future *f, void *arg) {
  (void)f;
  test_log("done-callback");
  cio_task_release(arg);
}

static int returns_at_once(void *arg, void **result) {
  (void)arg, (void)result;
  return 0;
}

static int main_leaves_a_done_callback(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, returns_at_once, NULL, NULL));
  int rc = cio_task_add_done_callback(t, release_when_done, t);
  if (rc < 0) {
    cio_task_release(t);
    TRY(rc);
  }
  return cio_sleep(0); /* t ends first, in the same batch */
}

TEST(run_runs_done_callbacks_of_the_last_tasks) {
  CHECK_RUN(cio_run(main_leaves_a_done_callback, NULL), 0);
  CHECK_STR(test_log_text(), "done-callback ");
}

/* ---- timers when memory is short ------------------------------------------ */

void cio__test_fail_alloc(long n, bool persist); /* src/runtime/alloc.c */

enum { SPILL_TASKS = 120 };
static struct {
  int64_t when_ms[SPILL_TASKS];
  int order[SPILL_TASKS];
  int woke, failed;
} spill;

static int spill_sleeper(void *arg, void **result) {
  (void)result;
  int i = (int)(intptr_t)arg;
  /* The second half yields first: its sleeps start once main has made
   * every allocation fail. */
  if (i >= SPILL_TASKS / 2 && cio_sleep(0) != 0)
    spill.failed++;
  if (cio_sleep((double)spill.when_ms[i] / 1000) != 0)
    spill.failed++;
  spill.order[spill.woke++] = i;
  return 0;
}

static int main_spills_timers(void *arg, void **result) {
  (void)arg, (void)result;
  spill.woke = spill.failed = 0;
  for (int i = 0; i < SPILL_TASKS; i++) {
    spill.when_ms[i] = 10 + (i * 37) % 50; /* falling, rising, equal */
    TRY(cio_create_task(NULL, NULL, spill_sleeper, (void *)(intptr_t)i, NULL));
  }
  TRY(cio_sleep(0)); /* the first half sleeps in the arrays */
  /* From now on every allocation fails: the arrays cannot grow, so the
   * second half's timers must wait in the spill list, not fail. */
  cio__test_fail_alloc(1, true);
  int rc = cio_sleep(1);
  cio__test_fail_alloc(0, false);
  CHECK_EQ(rc, 0);
  CHECK_EQ(spill.failed, 0);
  CHECK_EQ(spill.woke, SPILL_TASKS);
  /* Deadline order, ties in the order the sleeps started (index order). */
  for (int k = 1; k < SPILL_TASKS; k++) {
    int p = spill.order[k - 1], i = spill.order[k];
    CHECK(spill.when_ms[p] < spill.when_ms[i] ||
          (spill.when_ms[p] == spill.when_ms[i] && p < i));
  }
  return 0;
}

/* Starting a timer never fails: when the loop's timer arrays cannot grow
 * (no memory), cio_sleep's timer waits in a list instead and still fires
 * in deadline order among the others. */
TEST(timers_started_when_memory_is_short_still_fire_in_order) {
  CHECK_RUN(test_run_virtual(main_spills_timers, NULL), 0);
}
