/* Composing tasks: gather, wait, as_completed, wait_for, timeout scopes,
 * shield, TaskGroup.  All on the virtual clock, so times are exact. */
#include <pthread.h>

#include "casyncio.h"
#include "test.h"

/* A child described by its argument: sleep `secs`, then return `value` or
 * fail with `error`. */
struct job {
  double secs;
  intptr_t value;
  int error;
  int swallow_cancel; /* on cancellation: sleep this long, then return */
  int on_cancel_error; /* on cancellation: fail with this instead */
  const char *name;
};

static int job_fn(void *arg, void **result) {
  struct job *j = arg;
  int rc = cio_sleep(j->secs);
  if (rc == CIO_ECANCELED) {
    if (j->name)
      test_log("%s-cancelled", j->name);
    if (j->on_cancel_error)
      return j->on_cancel_error;
    if (j->swallow_cancel) {
      cio_task_uncancel(cio_current_task());
      (void)!cio_sleep(j->swallow_cancel); /* what it swallows */
      *result = (void *)j->value;
      return 0;
    }
    return rc;
  }
  if (j->name)
    test_log("%s-done", j->name);
  if (j->error)
    return j->error;
  *result = (void *)j->value;
  return 0;
}

/* A task running `j`, its reference DEFERred. */
static int spawn(struct job *j, cio_task **t) {
  return test_spawn(t, job_fn, j);
}

/* In a task group's body, a child that could not be created ends the body
 * as a failing body would, and the group with it. */
#define TG_TRY(tg, expr)                                                       \
  do {                                                                         \
    int r_ = (expr);                                                           \
    if (r_ != 0 && test_tolerated(r_)) {                                       \
      (void)!cio_taskgroup_exit(tg, r_);                                        \
      CHECK_EQ(cio_taskgroup_free(tg), 0);                                     \
      test_stop_here();                                                        \
      return r_;                                                               \
    }                                                                          \
    CHECK_EQ(r_, 0);                                                           \
  } while (0)

/* ---- gather ---------------------------------------------------------- */

static int main_gather_order(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[3] = {{3, 30}, {1, 10}, {2, 20}};
  cio_task *t[3];
  cio_future *f[3];
  for (int i = 0; i < 3; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  void *res[3];
  TRY(cio_gather(f, 3, res, NULL, false));
  CHECK_EQ((intptr_t)res[0], 30);
  CHECK_EQ((intptr_t)res[1], 10);
  CHECK_EQ((intptr_t)res[2], 20);
  CHECK_NEAR(cio_time(), 3.0, 1e-9);
  return 0;
}

TEST(gather_results_in_input_order) {
  CHECK_RUN(test_run_virtual(main_gather_order, NULL), 0);
}

static int main_gather_first_error(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[3] = {{3, 30, 0, 0, 0, "slow"},
                        {1, 0, CIO_EIO, 0, 0, "bad"},
                        {2, 20, 0, 0, 0, "mid"}};
  cio_task *t[3];
  cio_future *f[3];
  for (int i = 0; i < 3; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  TRY_EQ(cio_gather(f, 3, NULL, NULL, false), CIO_EIO);
  CHECK_NEAR(cio_time(), 1.0, 1e-9); /* at once, not after the slow ones */
  CHECK(!cio_task_is_done(t[0]));     /* the others keep running */
  TRY(cio_task_await(t[0], NULL));
  TRY(cio_task_await(t[2], NULL));
  TRY_EQ(cio_task_await(t[1], NULL), CIO_EIO);
  return 0;
}

TEST(gather_returns_first_error_others_run_on) {
  CHECK_RUN(test_run_virtual(main_gather_first_error, NULL), 0);
  CHECK_STR(test_log_text(), "bad-done mid-done slow-done ");
}

static int main_gather_collect(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[3] = {{1, 10}, {2, 0, CIO_ECONNRESET}, {5, 50}};
  cio_task *t[3];
  cio_future *f[3];
  for (int i = 0; i < 3; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  cio_task_cancel(t[2]);
  void *res[3];
  int err[3];
  TRY(cio_gather(f, 3, res, err, true));
  CHECK_EQ(err[0], 0);
  CHECK_EQ((intptr_t)res[0], 10);
  CHECK_EQ(err[1], CIO_ECONNRESET);
  CHECK_EQ(err[2], CIO_ECANCELED);
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  TRY_EQ(cio_gather(f, 3, res, NULL, true), CIO_EINVAL); /* needs errors */
  return 0;
}

TEST(gather_return_exceptions_keeps_every_outcome) {
  CHECK_RUN(test_run_virtual(main_gather_collect, NULL), 0);
}

/* A child's cancellation is an error of the gather (default mode). */
static int main_gather_child_cancelled(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[2] = {{1, 10}, {2, 20}};
  cio_task *t[2];
  cio_future *f[2];
  for (int i = 0; i < 2; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  cio_task_cancel(t[0]);
  TRY_EQ(cio_gather(f, 2, NULL, NULL, false), CIO_ECANCELED);
  CHECK(!cio_task_is_cancelled(cio_current_task()));
  CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
  TRY(cio_task_await(t[1], NULL));
  return 0;
}

TEST(gather_child_cancellation_is_an_error) {
  CHECK_RUN(test_run_virtual(main_gather_child_cancelled, NULL), 0);
}

struct gather_caller {
  cio_future *f[2];
  bool return_exceptions;
};

static int gathers(void *arg, void **result) {
  (void)result;
  struct gather_caller *g = arg;
  int err[2];
  int rc = cio_gather(g->f, 2, NULL, err, g->return_exceptions);
  test_log("gather=%s", cio_err_name(rc));
  return rc;
}

static int cancel_gathering(bool return_exceptions) {
  struct job jobs[2] = {{10, 1, 0, 0, 0, "a"}, {20, 2, 0, 0, 0, "b"}};
  struct gather_caller g = {.return_exceptions = return_exceptions};
  cio_task *t[2];
  for (int i = 0; i < 2; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    g.f[i] = cio_task_future(t[i]);
  }
  cio_task *caller;
  TRY(test_spawn(&caller, gathers, &g));
  CHECK_EQ(cio_sleep(1), 0);
  TRY_STILL_RUNNING(caller);
  CHECK_EQ(cio_task_cancel(caller), 1);
  TRY_EQ(cio_task_await(caller, NULL), CIO_ECANCELED);
  CHECK(cio_task_is_cancelled(t[0]));
  CHECK(cio_task_is_cancelled(t[1]));
  CHECK_NEAR(cio_time(), 1.0, 1e-9);
  return 0;
}

static int main_cancel_gather(void *arg, void **result) {
  (void)result;
  return cancel_gathering(arg != NULL);
}

TEST(cancelling_gather_cancels_children) {
  CHECK_RUN(test_run_virtual(main_cancel_gather, NULL), 0);
  CHECK_STR(test_log_text(), "a-cancelled b-cancelled gather=ECANCELED ");
}

TEST(cancelling_gather_cancels_children_even_collecting) {
  CHECK_RUN(test_run_virtual(main_cancel_gather, (void *)1), 0);
  CHECK_STR(test_log_text(), "a-cancelled b-cancelled gather=ECANCELED ");
}

static int log_and_return(void *arg, void **result) {
  test_log("%s", (const char *)arg);
  *result = arg;
  return 0;
}

static int main_gather_edges(void *arg, void **result) {
  (void)arg;
  (void)result;
  TRY(cio_gather(NULL, 0, NULL, NULL, false));
  /* Already-finished children: no suspension (another ready task does
   * not get to run in between). */
  struct job j = {0, 5};
  cio_task *done;
  TRY(spawn(&j, &done));
  TRY(cio_task_await(done, NULL));
  cio_task *other;
  TRY(test_spawn(&other, log_and_return, "other"));
  cio_future *f[2] = {cio_task_future(done), cio_task_future(done)};
  void *res[2];
  TRY(cio_gather(f, 2, res, NULL, false));
  test_log("gathered");
  CHECK_EQ((intptr_t)res[0], 5);
  CHECK_EQ((intptr_t)res[1], 5); /* a future given twice */
  TRY(cio_task_await(other, NULL));
  cio_future *bad[1] = {NULL};
  TRY_EQ(cio_gather(bad, 1, NULL, NULL, false), CIO_EINVAL);
  return 0;
}

TEST(gather_empty_done_duplicate_and_null) {
  CHECK_RUN(test_run_virtual(main_gather_edges, NULL), 0);
  CHECK_STR(test_log_text(), "gathered other ");
}

static int main_gather_calls(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_call calls[3] = {{log_and_return, "x"}, {log_and_return, "y"},
                       {log_and_return, "z"}};
  void *res[3];
  TRY(cio_gather_calls(calls, 3, res, NULL, false));
  CHECK_STR(res[0], "x");
  CHECK_STR(res[2], "z");
  return 0;
}

TEST(gather_calls_spawns_tasks) {
  CHECK_RUN(test_run_virtual(main_gather_calls, NULL), 0);
  CHECK_STR(test_log_text(), "x y z ");
}

/* ---- wait ------------------------------------------------------------ */

static int main_wait_modes(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[3] = {{3, 1}, {1, 0, CIO_EIO}, {2, 2}};
  cio_task *t[3];
  cio_future *f[3];
  for (int i = 0; i < 3; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  bool done[3];
  size_t ndone;
  TRY(cio_wait(f, 3, CIO_NO_TIMEOUT, CIO_FIRST_COMPLETED, done, &ndone));
  CHECK_NEAR(cio_time(), 1.0, 1e-9);
  CHECK_EQ(ndone, 1);
  CHECK(!done[0] && done[1] && !done[2]);
  TRY(cio_wait(f, 3, 0.5, CIO_ALL_COMPLETED, done, &ndone));
  CHECK_NEAR(cio_time(), 1.5, 1e-9); /* timed out: no error, just pending */
  CHECK_EQ(ndone, 1);
  CHECK(!cio_task_is_done(t[0])); /* never cancelled */
  TRY(cio_wait(f, 3, CIO_NO_TIMEOUT, CIO_ALL_COMPLETED, done, &ndone));
  CHECK_NEAR(cio_time(), 3.0, 1e-9);
  CHECK_EQ(ndone, 3);
  return 0;
}

TEST(wait_first_completed_timeout_all) {
  CHECK_RUN(test_run_virtual(main_wait_modes, NULL), 0);
}

static int main_wait_first_exception(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[3] = {{1, 1}, {2, 0, CIO_EPIPE}, {3, 3}, };
  cio_task *t[4];
  cio_future *f[4];
  for (int i = 0; i < 3; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  struct job c = {0.5, 0};
  TRY(spawn(&c, &t[3]));
  f[3] = cio_task_future(t[3]);
  cio_task_cancel(t[3]); /* a cancellation is not an exception */
  bool done[4];
  size_t ndone;
  TRY(cio_wait(f, 4, CIO_NO_TIMEOUT, CIO_FIRST_EXCEPTION, done, &ndone));
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  CHECK_EQ(ndone, 3);
  CHECK(done[0] && done[1] && !done[2] && done[3]);
  /* No exception at all: FIRST_EXCEPTION behaves as ALL_COMPLETED. */
  cio_future *rest[2] = {f[0], f[2]};
  TRY(cio_wait(rest, 2, CIO_NO_TIMEOUT, CIO_FIRST_EXCEPTION, done, &ndone));
  CHECK_NEAR(cio_time(), 3.0, 1e-9);
  return 0;
}

TEST(wait_first_exception) {
  CHECK_RUN(test_run_virtual(main_wait_first_exception, NULL), 0);
}

static int waits_on(void *arg, void **result) {
  (void)result;
  bool done[1];
  int rc = cio_wait(arg, 1, CIO_NO_TIMEOUT, CIO_ALL_COMPLETED, done, NULL);
  test_log("wait=%s", cio_err_name(rc));
  return rc;
}

static int main_wait_cancel_and_errors(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job j = {5, 1, 0, 0, 0, "child"};
  cio_task *child;
  TRY(spawn(&j, &child));
  cio_future *f[1] = {cio_task_future(child)};
  cio_task *w;
  TRY(test_spawn(&w, waits_on, f));
  CHECK_EQ(cio_sleep(1), 0);
  cio_task_cancel(w);
  TRY_EQ(cio_task_await(w, NULL), CIO_ECANCELED);
  CHECK(!cio_task_is_done(child)); /* the waited-for task is untouched */
  bool done[1];
  TRY_EQ(cio_wait(f, 0, 1, CIO_ALL_COMPLETED, done, NULL), CIO_EINVAL);
  TRY_EQ(cio_wait(f, 1, 1, 7, done, NULL), CIO_EINVAL);
  TRY_EQ(cio_wait(f, 1, NAN, CIO_ALL_COMPLETED, done, NULL), CIO_EINVAL);
  TRY(cio_task_await(child, NULL));
  return 0;
}

TEST(wait_cancelled_caller_leaves_children_and_bad_args) {
  CHECK_RUN(test_run_virtual(main_wait_cancel_and_errors, NULL), 0);
  CHECK_STR(test_log_text(), "wait=ECANCELED child-done ");
}

/* ---- as_completed ---------------------------------------------------- */

static int main_as_completed(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[4] = {{3, 3}, {1, 1}, {2, 2}, {10, 10}};
  cio_task *t[4];
  cio_future *f[5];
  for (int i = 0; i < 4; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  f[4] = f[1]; /* duplicates collapse */
  cio_as_completed *ac;
  TRY(cio_as_completed_new(&ac, f, 5, 5.0));
  DEFER(ac);
  cio_future *next;
  int expect[3] = {1, 2, 0};
  for (int k = 0; k < 3; k++) {
    CHECK_EQ(cio_as_completed_next(ac, &next), 1);
    CHECK(next == f[expect[k]]); /* the original object */
  }
  CHECK_NEAR(cio_time(), 3.0, 1e-9);
  CHECK_EQ(cio_as_completed_next(ac, &next), CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time(), 5.0, 1e-9);
  CHECK(!cio_task_is_done(t[3])); /* not cancelled */
  CHECK_EQ(cio_as_completed_next(ac, &next), CIO_ETIMEDOUT);
  TRY(cio_as_completed_new(&ac, f, 0, CIO_NO_TIMEOUT));
  DEFER(ac);
  CHECK_EQ(cio_as_completed_next(ac, &next), 0);
  TRY(cio_task_await(t[3], NULL));
  return 0;
}

TEST(as_completed_order_timeout_duplicates) {
  CHECK_RUN(test_run_virtual(main_as_completed, NULL), 0);
}

static int main_as_completed_all(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job jobs[3] = {{2, 2}, {1, 1}, {3, 3}};
  cio_task *t[3];
  cio_future *f[3];
  for (int i = 0; i < 3; i++) {
    TRY(spawn(&jobs[i], &t[i]));
    f[i] = cio_task_future(t[i]);
  }
  cio_as_completed *ac;
  TRY(cio_as_completed_new(&ac, f, 3, CIO_NO_TIMEOUT));
  DEFER(ac);
  cio_future *next;
  int n = 0;
  while (cio_as_completed_next(ac, &next) == 1) {
    void *r;
    CHECK_EQ(cio_await(next, &r), 0);
    test_log("r%d", (int)(intptr_t)r);
    n++;
  }
  CHECK_EQ(n, 3);
  return 0;
}

TEST(as_completed_hands_back_each_once) {
  CHECK_RUN(test_run_virtual(main_as_completed_all, NULL), 0);
  CHECK_STR(test_log_text(), "r1 r2 r3 ");
}

/* ---- wait_for -------------------------------------------------------- */

static int main_wait_for(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job quick = {1, 11};
  cio_task *t;
  TRY(spawn(&quick, &t));
  void *r;
  TRY(cio_wait_for(cio_task_future(t), 2, &r));
  CHECK_EQ((intptr_t)r, 11);

  struct job slow = {10, 0, 0, 0, 0, "slow"};
  TRY(spawn(&slow, &t));
  TRY_EQ(cio_wait_for(cio_task_future(t), 2, &r), CIO_ETIMEDOUT);
  CHECK(cio_task_is_cancelled(t)); /* cancelled and awaited to its end */
  CHECK_NEAR(cio_time(), 3.0, 1e-9);
  CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);

  /* The inner task swallows the cancellation and returns: kept. */
  struct job stubborn = {10, 42, 0, 1};
  TRY(spawn(&stubborn, &t));
  TRY(cio_wait_for(cio_task_future(t), 1, &r));
  CHECK_EQ((intptr_t)r, 42);
  CHECK_NEAR(cio_time(), 5.0, 1e-9); /* 1 s + 1 s of cleanup */

  /* A different error raised during cancellation propagates. */
  struct job grumpy = {10, 0, 0, 0, CIO_EPIPE};
  TRY(spawn(&grumpy, &t));
  TRY_EQ(cio_wait_for(cio_task_future(t), 1, &r), CIO_EPIPE);
  return 0;
}

TEST(wait_for_result_timeout_swallow_error) {
  CHECK_RUN(test_run_virtual(main_wait_for, NULL), 0);
  CHECK_STR(test_log_text(), "slow-cancelled ");
}

static int main_wait_for_zero(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job j = {0, 7};
  cio_task *t;
  TRY(spawn(&j, &t));
  TRY(cio_task_await(t, NULL));
  void *r;
  TRY(cio_wait_for(cio_task_future(t), 0, &r)); /* done: result */
  CHECK_EQ((intptr_t)r, 7);
  struct job pending = {5, 1, 0, 0, 0, "p"};
  TRY(spawn(&pending, &t));
  CHECK_EQ(cio_sleep(0), 0); /* let it start, so cancelling runs its cleanup */
  TRY_EQ(cio_wait_for(cio_task_future(t), -1, &r), CIO_ETIMEDOUT);
  CHECK(cio_task_is_cancelled(t));
  CHECK_NEAR(cio_time(), 0.0, 1e-9);
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  DEFER(f);
  TRY_EQ(cio_wait_for(f, NAN, NULL), CIO_EINVAL);
  TRY_EQ(cio_wait_for(NULL, 1, NULL), CIO_EINVAL);
  CHECK_EQ(cio_future_set_result(f, (void *)3), 0);
  TRY(cio_wait_for(f, CIO_NO_TIMEOUT, &r));
  CHECK_EQ((intptr_t)r, 3);
  return 0;
}

TEST(wait_for_zero_negative_and_none) {
  CHECK_RUN(test_run_virtual(main_wait_for_zero, NULL), 0);
  CHECK_STR(test_log_text(), "p-cancelled ");
}

static int waits_for_child(void *arg, void **result) {
  int rc = cio_wait_for(arg, 100, result);
  test_log("wait_for=%s", cio_err_name(rc));
  return rc;
}

static int main_wait_for_outer_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job j = {50, 1, 0, 0, 0, "inner"};
  cio_task *inner;
  TRY(spawn(&j, &inner));
  cio_task *outer;
  TRY(test_spawn(&outer, waits_for_child, cio_task_future(inner)));
  CHECK_EQ(cio_sleep(1), 0);
  cio_task_cancel(outer);
  TRY_EQ(cio_task_await(outer, NULL), CIO_ECANCELED); /* not ETIMEDOUT */
  CHECK(cio_task_is_cancelled(inner));
  return 0;
}

TEST(wait_for_caller_cancelled_cancels_inner) {
  CHECK_RUN(test_run_virtual(main_wait_for_outer_cancel, NULL), 0);
  CHECK_STR(test_log_text(), "inner-cancelled wait_for=ECANCELED ");
}

/* ---- timeout scopes ------------------------------------------------- */

static int main_timeout_scope(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 2), 0);
  CHECK_NEAR(cio_timeout_when(&to), 2.0, 1e-9);
  int rc = cio_sleep(10);
  CHECK_EQ(rc, CIO_ECANCELED); /* inside: a cancellation */
  CHECK(cio_timeout_expired(&to));
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT); /* outside: timeout */
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
  CHECK_EQ(cio_sleep(1), 0); /* nothing left over */

  CHECK_EQ(cio_timeout_enter(&to, 2), 0);
  CHECK_EQ(cio_sleep(1), 0);
  CHECK_EQ(cio_timeout_exit(&to, 0), 0);
  CHECK(!cio_timeout_expired(&to));
  CHECK_EQ(cio_timeout_reschedule(&to, 10), CIO_EINVAL); /* exited */

  /* Moving the deadline, removing it. */
  CHECK_EQ(cio_timeout_enter(&to, 1), 0);
  CHECK_EQ(cio_timeout_reschedule(&to, cio_time() + 3), 0);
  CHECK_EQ(cio_sleep(2), 0);
  CHECK_EQ(cio_timeout_reschedule(&to, CIO_NO_TIMEOUT), 0);
  CHECK(cio_timeout_when(&to) == CIO_NO_TIMEOUT);
  CHECK_EQ(cio_sleep(5), 0);
  CHECK_EQ(cio_timeout_exit(&to, 0), 0);
  CHECK_EQ(cio_timeout_enter(NULL, 1), CIO_EINVAL);
  CHECK_EQ(cio_timeout_enter(&to, NAN), CIO_EINVAL);
  return 0;
}

TEST(timeout_scope_expire_reschedule_remove) {
  CHECK_RUN(test_run_virtual(main_timeout_scope, NULL), 0);
}

TEST(timeout_outside_task_is_eperm) {
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 1), CIO_EPERM);
}

static int main_timeout_zero(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_timeout to;
  /* A body that never suspends cannot time out. */
  CHECK_EQ(cio_timeout_enter(&to, 0), 0);
  CHECK_EQ(cio_timeout_exit(&to, 0), 0);
  CHECK(!cio_timeout_expired(&to));
  /* A past deadline fires at the next suspension. */
  CHECK_EQ(cio_timeout_enter(&to, -1), 0);
  int rc = cio_sleep(0);
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT);
  return 0;
}

TEST(timeout_zero_fires_at_next_suspension) {
  CHECK_RUN(test_run_virtual(main_timeout_zero, NULL), 0);
}

static int main_timeout_nested(void *arg, void **result) {
  (void)arg;
  (void)result;
  /* The inner scope fires without disturbing the outer one. */
  cio_timeout outer, inner;
  CHECK_EQ(cio_timeout_enter(&outer, 10), 0);
  CHECK_EQ(cio_timeout_enter(&inner, 1), 0);
  int rc = cio_sleep(5);
  rc = cio_timeout_exit(&inner, rc);
  CHECK_EQ(rc, CIO_ETIMEDOUT);
  CHECK_EQ(cio_sleep(2), 0);
  CHECK_EQ(cio_timeout_exit(&outer, 0), 0);
  CHECK(!cio_timeout_expired(&outer));
  CHECK_NEAR(cio_time(), 3.0, 1e-9);

  /* The outer one fires inside the inner scope: reported by the outer. */
  CHECK_EQ(cio_timeout_enter(&outer, 1), 0);
  CHECK_EQ(cio_timeout_enter(&inner, 10), 0);
  rc = cio_sleep(5);
  CHECK_EQ(rc, CIO_ECANCELED);
  rc = cio_timeout_exit(&inner, rc);
  CHECK_EQ(rc, CIO_ECANCELED); /* not the inner's timeout */
  CHECK(!cio_timeout_expired(&inner));
  rc = cio_timeout_exit(&outer, rc);
  CHECK_EQ(rc, CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time(), 4.0, 1e-9);
  CHECK_EQ(cio_task_cancelling(cio_current_task()), 0);
  return 0;
}

TEST(timeout_nested_scopes) {
  CHECK_RUN(test_run_virtual(main_timeout_nested, NULL), 0);
}

static int scoped_sleeper(void *arg, void **result) {
  (void)result;
  cio_timeout *to = arg;
  CHECK_EQ(cio_timeout_enter(to, 10), 0);
  int rc = cio_sleep(20);
  rc = cio_timeout_exit(to, rc);
  test_log("scope=%s", cio_err_name(rc));
  return rc;
}

static int main_timeout_outside_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_timeout to;
  cio_task *t;
  TRY(test_spawn(&t, scoped_sleeper, &to));
  CHECK_EQ(cio_sleep(1), 0);
  cio_task_cancel(t);
  TRY_EQ(cio_task_await(t, NULL), CIO_ECANCELED);
  CHECK(!cio_timeout_expired(&to));
  return 0;
}

TEST(timeout_outside_cancellation_is_not_a_timeout) {
  CHECK_RUN(test_run_virtual(main_timeout_outside_cancel, NULL), 0);
  CHECK_STR(test_log_text(), "scope=ECANCELED ");
}

/* ---- shield ---------------------------------------------------------- */

static int shields(void *arg, void **result) {
  int rc = cio_shield(arg, result);
  test_log("shield=%s", cio_err_name(rc));
  return rc;
}

static int main_shield(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job j = {3, 33, 0, 0, 0, "inner"};
  cio_task *inner;
  TRY(spawn(&j, &inner));
  cio_task *outer;
  TRY(test_spawn(&outer, shields, cio_task_future(inner)));
  CHECK_EQ(cio_sleep(1), 0);
  cio_task_cancel(outer);
  TRY_EQ(cio_task_await(outer, NULL), CIO_ECANCELED);
  CHECK_NEAR(cio_time(), 1.0, 1e-9);
  void *r;
  TRY(cio_task_await(inner, &r)); /* ran on to its end */
  CHECK_EQ((intptr_t)r, 33);
  CHECK_NEAR(cio_time(), 3.0, 1e-9);
  /* Not cancelled: the outcome passes through. */
  struct job k = {1, 44};
  TRY(spawn(&k, &inner));
  TRY(cio_shield(cio_task_future(inner), &r));
  CHECK_EQ((intptr_t)r, 44);
  return 0;
}

TEST(shield_protects_inner_task) {
  CHECK_RUN(test_run_virtual(main_shield, NULL), 0);
  CHECK_STR(test_log_text(), "shield=ECANCELED inner-done ");
}

/* ---- TaskGroup ------------------------------------------------------- */

static int main_taskgroup_ok(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job a = {1, 1, 0, 0, 0, "a"}, b = {2, 2, 0, 0, 0, "b"};
  cio_taskgroup *tg;
  TRY(cio_taskgroup_enter(&tg));
  cio_task *ta;
  TG_TRY(tg, cio_taskgroup_create_task(tg, &ta, job_fn, &a, NULL));
  DEFER(ta);
  TG_TRY(tg, cio_taskgroup_create_task(tg, NULL, job_fn, &b, NULL));
  test_log("body");
  CHECK_EQ(cio_taskgroup_exit(tg, 0), 0);
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  CHECK(cio_task_is_done(ta));
  CHECK_EQ(cio_taskgroup_errors(tg, NULL, 0), 0);
  /* Spawning into a finished group is refused. */
  CHECK_EQ(cio_taskgroup_create_task(tg, NULL, job_fn, &a, NULL), CIO_EINVAL);
  CHECK_EQ(cio_taskgroup_exit(tg, 0), CIO_EINVAL);
  CHECK_EQ(cio_taskgroup_free(tg), 0);
  return 0;
}

TEST(taskgroup_waits_for_all) {
  CHECK_RUN(test_run_virtual(main_taskgroup_ok, NULL), 0);
  CHECK_STR(test_log_text(), "body a-done b-done ");
}

static int main_taskgroup_child_fails(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job bad = {1, 0, CIO_EIO, 0, 0, "bad"};
  struct job bad2 = {1, 0, CIO_EPIPE, 0, 0, "bad2"};
  struct job slow = {10, 1, 0, 0, 0, "slow"};
  cio_taskgroup *tg;
  TRY(cio_taskgroup_enter(&tg));
  TG_TRY(tg, cio_taskgroup_create_task(tg, NULL, job_fn, &slow, NULL));
  TG_TRY(tg, cio_taskgroup_create_task(tg, NULL, job_fn, &bad, NULL));
  TG_TRY(tg, cio_taskgroup_create_task(tg, NULL, job_fn, &bad2, NULL));
  int rc = cio_sleep(100); /* the body is cancelled by the failure */
  CHECK_EQ(rc, CIO_ECANCELED);
  CHECK_EQ(cio_taskgroup_create_task(tg, NULL, job_fn, &slow, NULL),
           CIO_EINVAL); /* shutting down */
  rc = cio_taskgroup_exit(tg, rc);
  CHECK_EQ(rc, CIO_ECHILD);
  int codes[4];
  CHECK_EQ(cio_taskgroup_errors(tg, codes, 4), 2);
  CHECK_EQ(codes[0], CIO_EIO); /* completion order */
  CHECK_EQ(codes[1], CIO_EPIPE);
  CHECK_NEAR(cio_time(), 1.0, 1e-9);
  CHECK_EQ(cio_task_cancelling(cio_current_task()), 0); /* restored */
  CHECK_EQ(cio_sleep(1), 0);
  CHECK_EQ(cio_taskgroup_free(tg), 0);
  return 0;
}

TEST(taskgroup_child_failure_cancels_siblings_and_body) {
  CHECK_RUN(test_run_virtual(main_taskgroup_child_fails, NULL), 0);
  CHECK_STR(test_log_text(), "bad-done bad2-done slow-cancelled ");
}

static int main_taskgroup_body_fails(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job slow = {10, 1, 0, 0, 0, "slow"};
  cio_taskgroup *tg;
  TRY(cio_taskgroup_enter(&tg));
  TG_TRY(tg, cio_taskgroup_create_task(tg, NULL, job_fn, &slow, NULL));
  CHECK_EQ(cio_sleep(1), 0);
  int rc = cio_taskgroup_exit(tg, CIO_ENOENT); /* the body failed */
  CHECK_EQ(rc, CIO_ECHILD);
  int codes[2];
  CHECK_EQ(cio_taskgroup_errors(tg, codes, 2), 1);
  CHECK_EQ(codes[0], CIO_ENOENT);
  CHECK_EQ(cio_taskgroup_free(tg), 0);
  return 0;
}

TEST(taskgroup_body_failure_cancels_children) {
  CHECK_RUN(test_run_virtual(main_taskgroup_body_fails, NULL), 0);
  CHECK_STR(test_log_text(), "slow-cancelled ");
}

struct tg_parent {
  struct job child;
  int result_rc;
  int after_rc;
};

static int tg_parent_fn(void *arg, void **result) {
  (void)result;
  struct tg_parent *p = arg;
  cio_taskgroup *tg;
  TRY(cio_taskgroup_enter(&tg));
  TG_TRY(tg, cio_taskgroup_create_task(tg, NULL, job_fn, &p->child, NULL));
  int rc = cio_taskgroup_exit(tg, 0); /* cancelled while waiting here */
  p->result_rc = rc;
  cio_taskgroup_free(tg);
  p->after_rc = cio_sleep(1);
  return rc;
}

static int main_taskgroup_parent_cancelled(void *arg, void **result) {
  (void)result;
  struct tg_parent *p = arg;
  cio_task *t;
  TRY(test_spawn(&t, tg_parent_fn, p));
  CHECK_EQ(cio_sleep(1), 0);
  cio_task_cancel(t);
  int rc = cio_task_await(t, NULL);
  if (p->result_rc == 0) { /* it stopped before its group's exit */
    CHECK(test_tolerated(rc));
    return rc;
  }
  return 0;
}

TEST(taskgroup_parent_cancelled_from_outside) {
  struct tg_parent p = {.child = {10, 1, 0, 0, 0, "child"}};
  CHECK_RUN(test_run_virtual(main_taskgroup_parent_cancelled, &p), 0);
  CHECK_EQ(p.result_rc, CIO_ECANCELED);
  CHECK_STR(test_log_text(), "child-cancelled ");
}

TEST(taskgroup_child_errors_beat_outside_cancel_which_is_rearmed) {
  /* The child fails when cancelled: the error wins over the
   * cancellation, which is re-armed for the parent's next wait. */
  struct tg_parent p = {.child = {10, 1, 0, 0, CIO_EIO, "child"}};
  CHECK_RUN(test_run_virtual(main_taskgroup_parent_cancelled, &p), 0);
  CHECK_EQ(p.result_rc, CIO_ECHILD);
  CHECK_EQ(p.after_rc, CIO_ECANCELED);
}

TEST(taskgroup_outside_task_is_eperm) {
  cio_taskgroup *tg = (cio_taskgroup *)1;
  CHECK_EQ(cio_taskgroup_enter(&tg), CIO_EPERM);
  CHECK(tg == NULL);
  CHECK_EQ(cio_taskgroup_create_task(NULL, NULL, job_fn, NULL, NULL),
           CIO_EINVAL);
}

/* ---- regressions found in review ------------------------------------ */

/* wait_for(plain future, 0): cancelling a plain future completes it at
 * once; the call must not wait for a completion that already happened. */
static int main_wait_for_zero_plain(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  DEFER(f);
  TRY_EQ(cio_wait_for(f, 0, NULL), CIO_ETIMEDOUT);
  CHECK(cio_future_is_cancelled(f));
  return 0;
}

TEST(wait_for_zero_on_plain_future_times_out) {
  CHECK_RUN(test_run_virtual(main_wait_for_zero_plain, NULL), 0);
}

/* A child's error wins over the gathering caller's cancellation. */
static int main_gather_error_beats_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job grumpy = {10, 0, 0, 0, CIO_EPIPE}; /* fails when cancelled */
  struct gather_caller g = {0};
  struct job other = {10, 1};
  cio_task *t[2];
  TRY(spawn(&grumpy, &t[0]));
  TRY(spawn(&other, &t[1]));
  g.f[0] = cio_task_future(t[0]);
  g.f[1] = cio_task_future(t[1]);
  cio_task *caller;
  TRY(test_spawn(&caller, gathers, &g));
  CHECK_EQ(cio_sleep(1), 0);
  cio_task_cancel(caller);
  TRY_EQ(cio_task_await(caller, NULL), CIO_EPIPE);
  (void)!cio_task_await(t[0], NULL);
  (void)!cio_task_await(t[1], NULL);
  return 0;
}

TEST(gather_child_error_beats_caller_cancellation) {
  CHECK_RUN(test_run_virtual(main_gather_error_beats_cancel, NULL), 0);
}

/* What finishes after an as_completed timeout is never handed back. */
static int main_as_completed_late(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct job a = {1, 1}, b = {3, 3};
  cio_task *t[2];
  TRY(spawn(&a, &t[0]));
  TRY(spawn(&b, &t[1]));
  cio_future *f[2] = {cio_task_future(t[0]), cio_task_future(t[1])};
  cio_as_completed *ac;
  TRY(cio_as_completed_new(&ac, f, 2, 2.0));
  DEFER(ac);
  cio_future *next;
  CHECK_EQ(cio_as_completed_next(ac, &next), 1);
  CHECK_EQ(cio_as_completed_next(ac, &next), CIO_ETIMEDOUT);
  CHECK_EQ(cio_sleep(2), 0); /* b finishes meanwhile */
  CHECK(cio_task_is_done(t[1]));
  CHECK_EQ(cio_as_completed_next(ac, &next), CIO_ETIMEDOUT);
  return 0;
}

TEST(as_completed_ignores_futures_finishing_after_timeout) {
  CHECK_RUN(test_run_virtual(main_as_completed_late, NULL), 0);
}

static int main_timeout_misuse(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_timeout to;
  memset(&to, 0, sizeof to);
  CHECK_EQ(cio_timeout_exit(&to, 0), CIO_EINVAL); /* never entered */
  CHECK_EQ(cio_timeout_reschedule(&to, 1), CIO_EINVAL);
  CHECK_EQ(cio_timeout_enter(&to, 1), 0);
  int rc = cio_sleep(5);
  CHECK_NEAR(cio_timeout_when(&to), 1.0, 1e-9); /* still known after firing */
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT);
  CHECK_EQ(cio_timeout_exit(&to, 0), CIO_EINVAL); /* already left */
  return 0;
}

TEST(timeout_scope_misuse_is_einval) {
  CHECK_RUN(test_run_virtual(main_timeout_misuse, NULL), 0);
}

/* A future of another loop is refused, not linked into its queue.  The
 * other loop lives on its own thread until the check is over. */
static cio_future *foreign_future;
static pthread_mutex_t foreign_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t foreign_cv = PTHREAD_COND_INITIALIZER;
static int foreign_stage; /* 1: future ready, 2: checks done */

static void foreign_advance(int stage) {
  pthread_mutex_lock(&foreign_mu);
  foreign_stage = stage;
  pthread_cond_broadcast(&foreign_cv);
  pthread_mutex_unlock(&foreign_mu);
}

static void foreign_wait(int stage) {
  pthread_mutex_lock(&foreign_mu);
  while (foreign_stage < stage)
    pthread_cond_wait(&foreign_cv, &foreign_mu);
  pthread_mutex_unlock(&foreign_mu);
}

static int foreign_rc; /* what stopped the other loop's thread early */

static void *foreign_loop_thread(void *arg) {
  (void)arg;
  cio_loop *other;
  foreign_rc = cio_loop_open(&other, NULL);
  if (foreign_rc == 0) {
    foreign_rc = cio_future_new(other, &foreign_future);
    if (foreign_rc == 0) {
      foreign_advance(1);
      foreign_wait(2);
      cio_future_release(foreign_future);
    }
    CHECK_EQ(cio_loop_close(other), 0);
  }
  if (foreign_rc != 0)
    foreign_advance(1);
  return NULL;
}

static int main_cross_loop(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f[1] = {foreign_future};
  bool done[1];
  TRY_EQ(cio_gather(f, 1, NULL, NULL, false), CIO_EINVAL);
  TRY_EQ(cio_wait(f, 1, 1, CIO_ALL_COMPLETED, done, NULL), CIO_EINVAL);
  cio_as_completed *ac;
  CHECK_EQ(cio_as_completed_new(&ac, f, 1, 1), CIO_EINVAL);
  TRY_EQ(cio_wait_for(foreign_future, 1, NULL), CIO_EINVAL);
  CHECK_EQ(cio_await(foreign_future, NULL), CIO_EINVAL);
  return 0;
}

TEST(futures_of_another_loop_are_refused) {
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, foreign_loop_thread, NULL), 0);
  foreign_wait(1);
  int rc = foreign_rc == 0 ? test_run_virtual(main_cross_loop, NULL) : 0;
  foreign_advance(2);
  pthread_join(th, NULL);
  CHECK_RUN(foreign_rc, 0);
  CHECK_RUN(rc, 0);
}

static int main_bad_stack_size(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, job_fn, NULL,
                           &(cio_task_opts){.stack_size = 100}),
           CIO_EINVAL);
  CHECK(t == NULL);
  return 0;
}

TEST(tiny_stack_size_is_einval) {
  CHECK_RUN(test_run_virtual(main_bad_stack_size, NULL), 0);
}
