/* Cancellation, following CPython's Task.cancel / uncancel / cancelling
 * (Lib/asyncio/tasks.py, Lib/test/test_asyncio/test_tasks.py). */
#include "casyncio.h"
#include "test.h"

static int sleep_long_logged(void *arg, void **result) {
  (void)arg;
  (void)result;
  test_log("t-start");
  int rc = cio_sleep(3600);
  test_log("t-%s", rc == CIO_ECANCELED ? "cancelled" : "woke");
  return rc;
}

/* The cancelled sleep returns ECANCELED on the next batch; the task ends
 * cancelled by returning it. */
static int main_cancel_sleeping(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, sleep_long_logged, NULL, NULL));
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_task_cancel(t), 1);
  test_log("cancel-called");
  CHECK(!cio_task_is_done(t));
  CHECK_EQ(cio_task_cancelling(t), 1);
  CHECK_EQ(cio_sleep(0), 0);
  test_log("main-resumed");
  CHECK(cio_task_is_done(t));
  CHECK(cio_task_is_cancelled(t));
  CHECK_EQ(cio_task_result(t, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_task_await(t, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_task_cancel(t), 0); /* done: nothing to do, says so */
  CHECK(cio_time() < 1.0);
  cio_task_release(t);
  return 0;
}

TEST(cancel_sleeping_task) {
  CHECK_RUN(test_run_virtual(main_cancel_sleeping, NULL), 0);
  CHECK_STR(test_log_text(), "t-start cancel-called t-cancelled main-resumed ");
}

static int never_runs(void *arg, void **result) {
  (void)arg;
  (void)result;
  test_log("body-ran");
  return 0;
}

static int main_cancel_before_start(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, never_runs, NULL, NULL));
  CHECK_EQ(cio_task_cancel(t), 1);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  return 0;
}

TEST(cancel_before_start_skips_body) {
  CHECK_RUN(test_run_virtual(main_cancel_before_start, NULL), 0);
  CHECK_STR(test_log_text(), "");
}

/* A task may handle the cancellation, clean up with further awaits, and
 * finish with a value: then it is not cancelled. */
static int catches_cancel(void *arg, void **result) {
  (void)arg;
  int rc = cio_sleep(3600);
  CHECK_EQ(rc, CIO_ECANCELED);
  CHECK_EQ(cio_task_cancelling(cio_current_task()), 1);
  CHECK_EQ(cio_task_uncancel(cio_current_task()), 0);
  CHECK_EQ(cio_sleep(0.5), 0); /* cleanup may wait */
  *result = (void *)(intptr_t)7;
  return 0;
}

static int main_catch(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, catches_cancel, NULL, NULL));
  CHECK_EQ(cio_sleep(0), 0);
  cio_task_cancel(t);
  void *r = NULL;
  CHECK_EQ(cio_task_join(t, &r), 0);
  CHECK_EQ((intptr_t)r, 7);
  return 0;
}

TEST(cancellation_can_be_handled) {
  CHECK_RUN(test_run_virtual(main_catch, NULL), 0);
}

/* Every cancel() on a pending task counts; uncancel() takes them back. */
static int main_counting(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, sleep_long_logged, NULL, NULL));
  CHECK_EQ(cio_task_cancel(t), 1);
  CHECK_EQ(cio_task_cancel(t), 1);
  CHECK_EQ(cio_task_cancelling(t), 2);
  CHECK_EQ(cio_task_uncancel(t), 1);
  CHECK_EQ(cio_task_uncancel(t), 0);
  CHECK_EQ(cio_task_uncancel(t), 0); /* never below zero */
  /* All requests withdrawn before delivery: the task runs normally. */
  CHECK_EQ(cio_sleep(0), 0);
  CHECK(!cio_task_is_done(t));
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  return 0;
}

TEST(cancel_counts_and_uncancel) {
  CHECK_RUN(test_run_virtual(main_counting, NULL), 0);
  CHECK_STR(test_log_text(), "t-start t-cancelled ");
}

/* A task that cancels itself gets ECANCELED at its next suspension. */
static int cancel_self(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_EQ(cio_task_cancel(cio_current_task()), 1);
  test_log("still-running");
  int rc = cio_sleep(0);
  test_log("sleep=%s", cio_err_name(rc));
  return rc;
}

static int main_cancel_self(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, cancel_self, NULL, NULL));
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  return 0;
}

TEST(cancel_self_delivered_at_next_suspension) {
  CHECK_RUN(test_run_virtual(main_cancel_self, NULL), 0);
  CHECK_STR(test_log_text(), "still-running sleep=ECANCELED ");
}

/* Returning normally while a cancellation is pending ends the task
 * cancelled and discards the result (CPython: must_cancel at return). */
static int cancel_self_then_return(void *arg, void **result) {
  (void)arg;
  cio_task_cancel(cio_current_task());
  *result = (void *)(intptr_t)5;
  return 0;
}

static int main_pending_at_return(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, cancel_self_then_return, NULL, NULL));
  void *r = (void *)1;
  CHECK_EQ(cio_task_join(t, &r), CIO_ECANCELED);
  CHECK(r == NULL);
  return 0;
}

TEST(return_with_pending_cancel_ends_cancelled) {
  CHECK_RUN(test_run_virtual(main_pending_at_return, NULL), 0);
}

/* Cancelling a task that awaits another task passes the cancellation down
 * the await chain. */
struct chain {
  cio_task *inner;
  int inner_swallows;
};

static int inner_fn(void *arg, void **result) {
  struct chain *c = arg;
  int rc = cio_sleep(3600);
  test_log("inner=%s", cio_err_name(rc));
  if (rc == CIO_ECANCELED && c->inner_swallows) {
    *result = (void *)(intptr_t)99;
    return 0;
  }
  return rc;
}

static int outer_fn(void *arg, void **result) {
  struct chain *c = arg;
  TRY(test_spawn(&c->inner, inner_fn, c));
  int rc = cio_task_await(c->inner, result);
  test_log("outer=%s", cio_err_name(rc));
  return rc;
}

static int main_chain(void *arg, void **result) {
  (void)result;
  struct chain *c = arg;
  cio_task *outer;
  TRY(test_spawn(&outer, outer_fn, c));
  CHECK_EQ(cio_sleep(1), 0);
  TRY_STILL_RUNNING(outer); /* unless it could not create the inner task */
  CHECK_EQ(cio_task_cancel(outer), 1);
  CHECK_EQ(cio_task_cancelling(c->inner), 1);
  void *r = NULL;
  int rc = cio_task_await(outer, &r);
  if (c->inner_swallows) {
    /* asyncio: the outer task gets what the inner one returned */
    CHECK_EQ(rc, 0);
    CHECK_EQ((intptr_t)r, 99);
  } else {
    CHECK_EQ(rc, CIO_ECANCELED);
  }
  CHECK(cio_task_is_done(c->inner));
  return 0;
}

TEST(cancel_propagates_to_awaited_task) {
  struct chain c = {0};
  CHECK_RUN(test_run_virtual(main_chain, &c), 0);
  CHECK_STR(test_log_text(), "inner=ECANCELED outer=ECANCELED ");
}

TEST(awaited_task_swallowing_cancel_gives_its_result) {
  struct chain c = {.inner_swallows = 1};
  CHECK_RUN(test_run_virtual(main_chain, &c), 0);
  CHECK_STR(test_log_text(), "inner=ECANCELED outer=OK ");
}

/* Cancelling a task that awaits a plain future cancels the future. */
static int await_future(void *arg, void **result) {
  return cio_await(arg, result);
}

static int main_cancel_future_waiter(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  DEFER(f);
  cio_task *t;
  TRY(cio_create_task(NULL, &t, await_future, f, NULL));
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_task_cancel(t), 1);
  CHECK(cio_future_is_cancelled(f));
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  return 0;
}

TEST(cancel_task_awaiting_future_cancels_future) {
  CHECK_RUN(test_run_virtual(main_cancel_future_waiter, NULL), 0);
}

/* The awaited future completed, but the waiter has not resumed yet: the
 * cancellation cannot stop the future any more, so it is delivered to the
 * task when it resumes (CPython sets _must_cancel). */
static int main_cancel_after_wakeup(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  DEFER(f);
  cio_task *t;
  TRY(cio_create_task(NULL, &t, await_future, f, NULL));
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_future_set_result(f, (void *)3), 0);
  CHECK_EQ(cio_task_cancel(t), 1);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK(!cio_future_is_cancelled(f));
  return 0;
}

TEST(cancel_after_wakeup_scheduled_is_delivered) {
  CHECK_RUN(test_run_virtual(main_cancel_after_wakeup, NULL), 0);
}

/* cio_run cancels what is still alive when main returns, and their
 * cleanup runs. */
static int child_with_cleanup(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_sleep(3600);
  test_log("cleanup=%s", cio_err_name(rc));
  return rc;
}

static int main_leaves_child(void *arg, void **result) {
  (void)arg;
  (void)result;
  TRY(cio_create_task(NULL, NULL, child_with_cleanup, NULL, NULL));
  CHECK_EQ(cio_sleep(1), 0);
  test_log("main-done");
  return 0;
}

TEST(run_cancels_leftover_tasks) {
  CHECK_RUN(test_run_virtual(main_leaves_child, NULL), 0);
  CHECK_STR(test_log_text(), "main-done cleanup=ECANCELED ");
}

/* Cancelling the main task makes cio_run return ECANCELED. */
static int main_cancels_itself(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task_cancel(cio_current_task());
  return cio_sleep(1);
}

TEST(run_main_cancelled) {
  CHECK_RUN(test_run_virtual(main_cancels_itself, NULL), CIO_ECANCELED);
}

/* A cancellation arriving while the task sleeps does not leave its timer
 * behind: the loop closes cleanly and time did not advance to 3600. */
static int main_timer_removed(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, sleep_long_logged, NULL, NULL));
  CHECK_EQ(cio_sleep(2), 0);
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  return 0;
}

TEST(cancelled_sleep_removes_timer) {
  CHECK_RUN(test_run_virtual(main_timer_removed, NULL), 0);
}

/* A timer that cancels a sleeping task in the same batch in which the
 * task's own sleep comes due: the cancel wins (CPython: the sleep future
 * is cancelled first, its timer callback then finds it done). */
static void cancel_cb(void *arg) {
  test_log("cancel");
  cio_task_cancel(arg);
}

static int sleeper_10ms(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(0.01);
  test_log("slept:%s", rc == 0 ? "ok" : cio_err_name(rc));
  return rc;
}

static int main_cancel_in_timer_batch(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  TRY(test_spawn(&t, sleeper_10ms, NULL));
  cio_handle *h;
  /* Scheduled before the task's sleep: same deadline, earlier in order. */
  TRY(cio_loop_call_later(NULL, 0.01, cancel_cb, t, &h));
  DEFER(h);
  CHECK_EQ(cio_task_await(t, NULL), CIO_ECANCELED);
  CHECK_STR(test_log_text(), "cancel slept:ECANCELED ");
  return 0;
}

TEST(sleep_cancelled_in_the_batch_its_timer_fires) {
  CHECK_RUN(test_run_virtual(main_cancel_in_timer_batch, NULL), 0);
}
