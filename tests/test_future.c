/* Futures, as asyncio.Future behaves (Lib/asyncio/futures.py). */
#include "casyncio.h"
#include "test.h"

static int future_states(cio_loop *loop, void *arg) {
  (void)arg;
  cio_future *f;
  TRY(cio_future_new(loop, &f));
  DEFER(f);
  CHECK(!cio_future_is_done(f));
  CHECK_EQ(cio_future_result(f, NULL), CIO_EINPROGRESS);
  CHECK_EQ(cio_future_error(f), CIO_EINPROGRESS);
  CHECK_EQ(cio_future_set_error(f, CIO_ECANCELED), CIO_EINVAL);
  CHECK_EQ(cio_future_set_error(f, 0), CIO_EINVAL);
  CHECK_EQ(cio_future_set_result(f, (void *)5), 0);
  CHECK_EQ(cio_future_set_result(f, (void *)6), CIO_EALREADY);
  CHECK_EQ(cio_future_set_error(f, CIO_EIO), CIO_EALREADY);
  CHECK_EQ(cio_future_cancel(f), 0);
  void *r;
  CHECK_EQ(cio_future_result(f, &r), 0);
  CHECK(r == (void *)5);
  CHECK_EQ(cio_future_error(f), 0);

  TRY(cio_future_new(loop, &f));
  DEFER(f);
  CHECK_EQ(cio_future_cancel(f), 1);
  CHECK(cio_future_is_cancelled(f));
  CHECK(cio_future_is_done(f));
  CHECK_EQ(cio_future_cancel(f), 0);
  CHECK_EQ(cio_future_result(f, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_future_set_result(f, NULL), CIO_EALREADY);

  TRY(cio_future_new(loop, &f));
  DEFER(f);
  CHECK_EQ(cio_future_set_error(f, CIO_ETIMEDOUT), 0);
  CHECK_EQ(cio_future_error(f), CIO_ETIMEDOUT);
  CHECK_EQ(cio_future_result(f, NULL), CIO_ETIMEDOUT);

  CHECK_EQ(cio_future_new(loop, NULL), CIO_EINVAL);
  return 0;
}

TEST(state_errors) {
  CHECK_RUN(test_with_loop(NULL, future_states, NULL), 0);
}

static int noop_task(void *arg, void **result) {
  (void)arg;
  (void)result;
  return 0;
}

static int main_task_future_is_readonly(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, noop_task, NULL, NULL));
  cio_future *f = cio_task_future(t);
  CHECK(cio_future_task(f) == t);
  CHECK_EQ(cio_future_set_result(f, NULL), CIO_EINVAL);
  CHECK_EQ(cio_future_set_error(f, CIO_EIO), CIO_EINVAL);
  CHECK_EQ(cio_await(f, NULL), 0);
  cio_task_release(t);
  return 0;
}

TEST(task_future_cannot_be_set) {
  CHECK_RUN(test_run_virtual(main_task_future_is_readonly, NULL), 0);
}

static void log_cb(cio_future *f, void *arg) {
  (void)f;
  test_log("%s", (const char *)arg);
}

static int main_callbacks_not_inline(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  DEFER(f);
  TRY(cio_future_add_done_callback(f, log_cb, "a"));
  TRY(cio_future_add_done_callback(f, log_cb, "b"));
  TRY(cio_future_add_done_callback(f, log_cb, "b"));
  TRY(cio_future_add_done_callback(f, log_cb, "c"));
  CHECK_EQ(cio_future_remove_done_callback(f, log_cb, "b"), 2);
  CHECK_EQ(cio_future_set_result(f, NULL), 0);
  test_log("set");
  /* Removing after completion finds nothing: callbacks are scheduled. */
  CHECK_EQ(cio_future_remove_done_callback(f, log_cb, "c"), 0);
  CHECK_EQ(cio_sleep(0), 0);
  test_log("after");
  return 0;
}

TEST(callbacks_scheduled_not_inline) {
  CHECK_RUN(test_run_virtual(main_callbacks_not_inline, NULL), 0);
  CHECK_STR(test_log_text(), "set a c after ");
}

struct handoff {
  cio_future *f;
};

static int setter(void *arg, void **result) {
  (void)result;
  struct handoff *h = arg;
  TRY(cio_sleep(2));
  test_log("set");
  return cio_future_set_result(h->f, (void *)77);
}

static int main_await_set_by_other(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct handoff h;
  TRY(cio_future_new(NULL, &h.f));
  DEFER(h.f);
  cio_task *t;
  TRY(test_spawn(&t, setter, &h));
  void *r = NULL;
  CHECK_EQ(cio_await(h.f, &r), 0);
  test_log("got%d", (int)(intptr_t)r);
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  CHECK_EQ(cio_task_await(t, NULL), 0);
  return 0;
}

TEST(await_future_set_by_other_task) {
  CHECK_RUN(test_run_virtual(main_await_set_by_other, NULL), 0);
  CHECK_STR(test_log_text(), "set got77 ");
}

/* Awaiting a future that is already done does not suspend: a task that
 * is ready meanwhile does not get to run. */
static int log_other(void *arg, void **result) {
  (void)arg;
  (void)result;
  test_log("other");
  return 0;
}

static int main_done_no_suspend(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  DEFER(f);
  CHECK_EQ(cio_future_set_error(f, CIO_EPIPE), 0);
  cio_task *t;
  TRY(test_spawn(&t, log_other, NULL));
  CHECK_EQ(cio_await(f, NULL), CIO_EPIPE);
  test_log("awaited");
  CHECK_EQ(cio_task_await(t, NULL), 0);
  return 0;
}

TEST(await_done_future_does_not_suspend) {
  CHECK_RUN(test_run_virtual(main_done_no_suspend, NULL), 0);
  CHECK_STR(test_log_text(), "awaited other ");
}

/* Several tasks awaiting one future wake in the order they started
 * waiting. */
static int waiter(void *arg, void **result) {
  cio_future *f = arg;
  int rc = cio_await(f, result);
  test_log("w%d", (int)(intptr_t)*result);
  return rc;
}

static int main_many_waiters(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  DEFER(f);
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], waiter, f));
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_future_set_result(f, (void *)1), 0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_await(t[i], NULL), 0);
  return 0;
}

TEST(several_waiters_wake_in_order) {
  CHECK_RUN(test_run_virtual(main_many_waiters, NULL), 0);
  CHECK_STR(test_log_text(), "w1 w1 w1 ");
}

TEST(unretrieved_future_error_is_reported) {
  if (test_is_child()) {
    cio_loop *loop;
    CHECK_EQ(cio_loop_open(&loop, NULL), 0);
    cio_future *f;
    CHECK_EQ(cio_future_new(loop, &f), 0);
    CHECK_EQ(cio_future_set_error(f, CIO_ECONNREFUSED), 0);
    cio_future_release(f);
    CHECK_EQ(cio_loop_close(loop), 0);
    return;
  }
  char out[4096];
  CHECK_EQ(test_run_child("unretrieved_future_error_is_reported", out,
                          sizeof out),
           0);
  CHECK(strstr(out, "Future exception was never retrieved") != NULL);
  CHECK(strstr(out, "ECONNREFUSED") != NULL);
}
