/* Lock, Event, Condition, Semaphore, BoundedSemaphore and Barrier,
 * following CPython's Lib/asyncio/locks.py and
 * Lib/test/test_asyncio/test_locks.py.  Each test runs on the virtual
 * clock; test_log records the order tasks ran in. */
#include "casyncio.h"
#include "test.h"

/* A named participant: its name for the log and the object it uses. */
struct who {
  const char *name;
  void *obj;
  int rc;
};

/* ====================================================================
 * Lock
 * ================================================================== */

static int lock_user(void *arg, void **result) {
  (void)result;
  struct who *w = arg;
  w->rc = cio_lock_acquire(w->obj);
  if (w->rc < 0) {
    test_log("%s-%s", w->name, cio_err_name(w->rc));
    return w->rc;
  }
  test_log("%s-got", w->name);
  TRY(cio_sleep(0));
  CHECK_EQ(cio_lock_release(w->obj), 0);
  return 0;
}

static int main_lock_basics(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  CHECK(!cio_lock_is_locked(l));
  CHECK_EQ(cio_lock_release(l), CIO_EPERM); /* RuntimeError */
  cio_task *other;
  TRY(test_spawn(&other, test_logger, "other"));
  /* Uncontended: no suspension, so `other` has not run yet. */
  TRY(cio_lock_acquire(l));
  test_log("acquired");
  CHECK(cio_lock_is_locked(l));
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK(!cio_lock_is_locked(l));
  TRY(cio_task_await(other, NULL));
  CHECK_EQ(cio_lock_acquire(NULL), CIO_EINVAL);
  CHECK_EQ(cio_lock_release(NULL), CIO_EINVAL);
  CHECK_EQ(cio_lock_new(NULL), CIO_EINVAL);
  cio_lock_free(NULL);
  return 0;
}

TEST(lock_basics) {
  CHECK_RUN(test_run_virtual(main_lock_basics, NULL), 0);
  CHECK_STR(test_log_text(), "acquired other ");
}

/* Outside a task the fast path still works; waiting is refused. */
static int lock_outside(cio_loop *loop, void *arg) {
  (void)loop, (void)arg;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  CHECK_EQ(cio_lock_acquire(l), 0);
  CHECK_EQ(cio_lock_acquire(l), CIO_EPERM);
  CHECK_EQ(cio_lock_release(l), 0);
  return 0;
}

TEST(lock_outside_task) {
  CHECK_RUN(test_with_loop(NULL, lock_outside, NULL), 0);
}

static int main_lock_fifo(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  TRY(cio_lock_acquire(l));
  struct who w[3] = {{"a", l, 0}, {"b", l, 0}, {"c", l, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], lock_user, &w[i]));
  TRY(test_yield_n(1)); /* all three queue, in creation order */
  test_log("release");
  CHECK_EQ(cio_lock_release(l), 0);
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  CHECK(!cio_lock_is_locked(l));
  return 0;
}

TEST(lock_fifo) {
  CHECK_RUN(test_run_virtual(main_lock_fifo, NULL), 0);
  CHECK_STR(test_log_text(), "release a-got b-got c-got ");
}

/* release() does not hand the lock over, yet a newcomer queues behind the
 * woken waiter: no barging. */
static int main_lock_no_barging(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  TRY(cio_lock_acquire(l));
  struct who a = {"a", l, 0};
  cio_task *t;
  TRY(test_spawn(&t, lock_user, &a));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK(!cio_lock_is_locked(l));    /* woken, not yet run */
  TRY(cio_lock_acquire(l)); /* waits for a's turn */
  test_log("main-got");
  CHECK_EQ(cio_lock_release(l), 0);
  TRY(cio_task_await(t, NULL));
  return 0;
}

TEST(lock_no_barging) {
  CHECK_RUN(test_run_virtual(main_lock_no_barging, NULL), 0);
  CHECK_STR(test_log_text(), "a-got main-got ");
}

/* A waiter cancelled while queued leaves; the lock goes on to the next. */
static int main_lock_cancel_waiting(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  TRY(cio_lock_acquire(l));
  struct who a = {"a", l, 0}, b = {"b", l, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, lock_user, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, lock_user, &b));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(a.rc, CIO_ECANCELED);
  CHECK(cio_lock_is_locked(l));
  CHECK_EQ(cio_lock_release(l), 0);
  TRY(cio_task_await(tb, NULL));
  CHECK(!cio_lock_is_locked(l));
  return 0;
}

TEST(lock_cancel_waiting) {
  CHECK_RUN(test_run_virtual(main_lock_cancel_waiting, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got ");
}

/* test_cancel_release_race: the waiter the lock was released to is
 * cancelled before it runs; the next waiter must get the lock. */
static int main_lock_cancel_release_race(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  TRY(cio_lock_acquire(l));
  struct who a = {"a", l, 0}, b = {"b", l, 0}, c = {"c", l, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, lock_user, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, lock_user, &b));
  cio_task *tc;
  TRY(test_spawn(&tc, lock_user, &c));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_lock_release(l), 0); /* wakes a */
  CHECK_EQ(cio_task_cancel(ta), 1); /* before a runs */
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  TRY(cio_task_await(tb, NULL));
  TRY(cio_task_await(tc, NULL));
  CHECK(!cio_lock_is_locked(l));
  return 0;
}

TEST(lock_cancel_release_race) {
  CHECK_RUN(test_run_virtual(main_lock_cancel_release_race, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got c-got ");
}

/* test_cancel_race: the first waiter is cancelled (not yet run) when the
 * lock is released; the lock still reaches the second. */
static int main_lock_cancel_race(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  TRY(cio_lock_acquire(l));
  struct who b = {"b", l, 0}, c = {"c", l, 0};
  cio_task *tb;
  TRY(test_spawn(&tb, lock_user, &b));
  cio_task *tc;
  TRY(test_spawn(&tc, lock_user, &c));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(tb), 1);
  CHECK_EQ(cio_lock_release(l), 0);
  TRY_EQ(cio_task_await(tb, NULL), CIO_ECANCELED);
  TRY(cio_task_await(tc, NULL));
  return 0;
}

TEST(lock_cancel_race) {
  CHECK_RUN(test_run_virtual(main_lock_cancel_race, NULL), 0);
  CHECK_STR(test_log_text(), "b-ECANCELED c-got ");
}

/* Jumping the queue is allowed when every waiter is cancelled. */
static int main_lock_all_cancelled_fast_path(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  TRY(cio_lock_acquire(l));
  struct who a = {"a", l, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, lock_user, &a));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_lock_release(l), 0);
  TRY(cio_lock_acquire(l)); /* fast path: a is cancelled */
  test_log("main-got");
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_lock_release(l), 0);
  return 0;
}

TEST(lock_all_cancelled_fast_path) {
  CHECK_RUN(test_run_virtual(main_lock_all_cancelled_fast_path, NULL), 0);
  CHECK_STR(test_log_text(), "main-got a-ECANCELED ");
}

/* Seed 002: 5 tasks x 1000 increments with a yield inside the critical
 * section end at exactly 5000. */
struct counter {
  cio_lock *lock;
  long value;
};

static int incrementer(void *arg, void **result) {
  (void)result;
  struct counter *c = arg;
  for (int i = 0; i < 1000; i++) {
    TRY(cio_lock_acquire(c->lock));
    long tmp = c->value;
    TRY(cio_sleep(0));
    c->value = tmp + 1;
    CHECK_EQ(cio_lock_release(c->lock), 0);
  }
  return 0;
}

static int main_lock_counter(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct counter c = {0};
  TRY(cio_lock_new(&c.lock));
  DEFER(c.lock);
  cio_task *t[5];
  for (int i = 0; i < 5; i++)
    TRY(test_spawn(&t[i], incrementer, &c));
  for (int i = 0; i < 5; i++)
    TRY(cio_task_await(t[i], NULL));
  CHECK_EQ(c.value, 5000);
  return 0;
}

TEST(lock_counter_5x1000) {
  CHECK_RUN(test_run_virtual(main_lock_counter, NULL), 0);
}

/* ====================================================================
 * Event
 * ================================================================== */

static int event_waiter(void *arg, void **result) {
  (void)result;
  struct who *w = arg;
  w->rc = cio_event_wait(w->obj);
  test_log("%s-%s", w->name, w->rc == 0 ? "woke" : cio_err_name(w->rc));
  return w->rc;
}

static int main_event_set_wakes_all(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_event *e;
  TRY(cio_event_new(&e));
  DEFER(e);
  CHECK(!cio_event_is_set(e));
  struct who a = {"a", e, 0}, b = {"b", e, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, event_waiter, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, event_waiter, &b));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_event_set(e), 0);
  CHECK(cio_event_is_set(e));
  /* Waking is scheduling: a wait() started now returns first. */
  TRY(cio_event_wait(e));
  test_log("main");
  CHECK_EQ(cio_event_clear(e), 0); /* a and b were woken already */
  CHECK(!cio_event_is_set(e));
  TRY(cio_task_await(ta, NULL));
  TRY(cio_task_await(tb, NULL));
  CHECK_EQ(cio_event_set(e), 0);
  CHECK_EQ(cio_event_set(e), 0); /* idempotent */
  CHECK_EQ(cio_event_wait(NULL), CIO_EINVAL);
  return 0;
}

TEST(event_set_wakes_all) {
  CHECK_RUN(test_run_virtual(main_event_set_wakes_all, NULL), 0);
  CHECK_STR(test_log_text(), "main a-woke b-woke ");
}

static int main_event_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_event *e;
  TRY(cio_event_new(&e));
  DEFER(e);
  struct who a = {"a", e, 0}, b = {"b", e, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, event_waiter, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, event_waiter, &b));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  TRY(cio_sleep(5));
  CHECK(!cio_task_is_done(tb));
  CHECK_EQ(cio_event_set(e), 0);
  TRY(cio_task_await(tb, NULL));
  /* Freeing e when the run ends asserts that no waiter was left behind. */
  return 0;
}

TEST(event_cancelled_wait_leaves_nothing) {
  CHECK_RUN(test_run_virtual(main_event_cancel, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-woke ");
}

/* A waiter woken by set() then cancelled before it runs ends cancelled,
 * as in CPython (the CancelledError is thrown into the coroutine). */
static int main_event_woken_then_cancelled(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_event *e;
  TRY(cio_event_new(&e));
  DEFER(e);
  struct who a = {"a", e, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, event_waiter, &a));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_event_set(e), 0);
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  return 0;
}

TEST(event_woken_then_cancelled) {
  CHECK_RUN(test_run_virtual(main_event_woken_then_cancelled, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED ");
}

/* ====================================================================
 * Condition
 * ================================================================== */

static int cond_waiter(void *arg, void **result) {
  (void)result;
  struct who *w = arg;
  cio_condition *c = w->obj;
  TRY(cio_condition_acquire(c));
  w->rc = cio_condition_wait(c);
  /* The lock is held again on return, cancelled or not. */
  CHECK(cio_condition_is_locked(c));
  test_log("%s-%s", w->name, w->rc == 0 ? "woke" : cio_err_name(w->rc));
  CHECK_EQ(cio_condition_release(c), 0);
  return w->rc;
}

static int main_cond_notify(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  TRY(cio_condition_new(&c, NULL));
  DEFER(c);
  struct who w[3] = {{"a", c, 0}, {"b", c, 0}, {"c", c, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], cond_waiter, &w[i]));
  TRY(test_yield_n(1));
  TRY(cio_condition_acquire(c));
  CHECK_EQ(cio_condition_notify(c, 1), 0);
  test_log("notified1");
  TRY(test_yield_n(3));
  test_log("still-held"); /* a needs the lock to return */
  CHECK_EQ(cio_condition_release(c), 0);
  TRY(test_yield_n(3));
  TRY(cio_condition_acquire(c));
  CHECK_EQ(cio_condition_notify(c, 2), 0);
  CHECK_EQ(cio_condition_release(c), 0);
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(condition_notify_n_fifo) {
  CHECK_RUN(test_run_virtual(main_cond_notify, NULL), 0);
  CHECK_STR(test_log_text(), "notified1 still-held a-woke b-woke c-woke ");
}

static int main_cond_notify_all(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  TRY(cio_lock_new(&l));
  DEFER(l);
  cio_condition *c;
  TRY(cio_condition_new(&c, l));
  DEFER(c);
  CHECK(cio_condition_lock(c) == l);
  struct who w[3] = {{"a", c, 0}, {"b", c, 0}, {"c", c, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], cond_waiter, &w[i]));
  TRY(test_yield_n(1));
  TRY(cio_lock_acquire(l));
  CHECK(cio_condition_is_locked(c));
  CHECK_EQ(cio_condition_notify_all(c), 0);
  CHECK_EQ(cio_lock_release(l), 0);
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(condition_notify_all_shared_lock) {
  CHECK_RUN(test_run_virtual(main_cond_notify_all, NULL), 0);
  CHECK_STR(test_log_text(), "a-woke b-woke c-woke ");
}

static int main_cond_needs_lock(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  TRY(cio_condition_new(&c, NULL));
  DEFER(c);
  CHECK_EQ(cio_condition_wait(c), CIO_EPERM);
  CHECK_EQ(cio_condition_notify(c, 1), CIO_EPERM);
  CHECK_EQ(cio_condition_notify_all(c), CIO_EPERM);
  CHECK_EQ(cio_condition_release(c), CIO_EPERM);
  CHECK_EQ(cio_condition_new(NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_condition_wait(NULL), CIO_EINVAL);
  return 0;
}

TEST(condition_requires_lock) {
  CHECK_RUN(test_run_virtual(main_cond_needs_lock, NULL), 0);
}

struct pred_state {
  cio_condition *c;
  int value;
  int calls;
};

static bool value_reached_3(void *arg) {
  struct pred_state *p = arg;
  p->calls++;
  return p->value >= 3;
}

static int wait_for_3(void *arg, void **result) {
  (void)result;
  struct pred_state *p = arg;
  TRY(cio_condition_acquire(p->c));
  TRY(cio_condition_wait_for(p->c, value_reached_3, p));
  test_log("reached-%d", p->value);
  CHECK_EQ(cio_condition_release(p->c), 0);
  return 0;
}

static int main_cond_wait_for(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct pred_state p = {0};
  TRY(cio_condition_new(&p.c, NULL));
  DEFER(p.c);
  cio_task *t;
  TRY(test_spawn(&t, wait_for_3, &p));
  for (int i = 0; i < 3; i++) {
    TRY(test_yield_n(2));
    TRY(cio_condition_acquire(p.c));
    p.value++;
    CHECK_EQ(cio_condition_notify(p.c, 1), 0);
    CHECK_EQ(cio_condition_release(p.c), 0);
  }
  TRY(cio_task_await(t, NULL));
  CHECK_EQ(p.calls, 4); /* once at the start, once per notification */
  /* A true predicate does not need the lock. */
  TRY(cio_condition_wait_for(p.c, value_reached_3, &p));
  CHECK_EQ(cio_condition_wait_for(p.c, NULL, NULL), CIO_EINVAL);
  return 0;
}

TEST(condition_wait_for) {
  CHECK_RUN(test_run_virtual(main_cond_wait_for, NULL), 0);
  CHECK_STR(test_log_text(), "reached-3 ");
}

/* test_wait_cancel_contested: a cancelled wait re-acquires the lock
 * before returning, waiting for it if someone else holds it. */
static int main_cond_cancel_reacquires(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  TRY(cio_condition_new(&c, NULL));
  DEFER(c);
  struct who a = {"a", c, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, cond_waiter, &a));
  TRY(test_yield_n(1));
  TRY(cio_condition_acquire(c));
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY(test_yield_n(3));
  CHECK(!cio_task_is_done(ta)); /* blocked re-acquiring */
  test_log("main-release");
  CHECK_EQ(cio_condition_release(c), 0);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  CHECK(!cio_condition_is_locked(c));
  return 0;
}

TEST(condition_cancelled_wait_reacquires) {
  CHECK_RUN(test_run_virtual(main_cond_cancel_reacquires, NULL), 0);
  CHECK_STR(test_log_text(), "main-release a-ECANCELED ");
}

/* A cancellation while re-acquiring is held until the lock is back. */
static int main_cond_cancel_during_reacquire(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  TRY(cio_condition_new(&c, NULL));
  DEFER(c);
  struct who a = {"a", c, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, cond_waiter, &a));
  TRY(test_yield_n(1));
  TRY(cio_condition_acquire(c));
  CHECK_EQ(cio_condition_notify(c, 1), 0);
  TRY(test_yield_n(2)); /* a now waits for the lock */
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY(test_yield_n(2));
  CHECK(!cio_task_is_done(ta));
  CHECK_EQ(cio_condition_release(c), 0);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  return 0;
}

TEST(condition_cancel_during_reacquire) {
  CHECK_RUN(test_run_virtual(main_cond_cancel_during_reacquire, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED ");
}

/* test_cancelled_wakeup: a notified waiter cancelled before it runs passes
 * the notification on, so b still wakes. */
static int main_cond_cancelled_wakeup(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  TRY(cio_condition_new(&c, NULL));
  DEFER(c);
  struct who a = {"a", c, 0}, b = {"b", c, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, cond_waiter, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, cond_waiter, &b));
  TRY(test_yield_n(1));
  TRY(cio_condition_acquire(c));
  CHECK_EQ(cio_condition_notify(c, 1), 0); /* a */
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_condition_release(c), 0);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  TRY(cio_task_await(tb, NULL));
  return 0;
}

TEST(condition_cancelled_wakeup_passed_on) {
  CHECK_RUN(test_run_virtual(main_cond_cancelled_wakeup, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-woke ");
}

/* ====================================================================
 * Semaphore and BoundedSemaphore
 * ================================================================== */

struct limit {
  cio_semaphore *sem;
  int inside, max_inside, done;
};

static int limited_worker(void *arg, void **result) {
  (void)result;
  struct limit *lim = arg;
  TRY(cio_semaphore_acquire(lim->sem));
  lim->inside++;
  if (lim->inside > lim->max_inside)
    lim->max_inside = lim->inside;
  TRY(cio_sleep(0.1 * (1 + lim->done % 4)));
  lim->inside--;
  lim->done++;
  CHECK_EQ(cio_semaphore_release(lim->sem), 0);
  return 0;
}

static int main_sem_limit(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct limit lim = {0};
  TRY(cio_semaphore_new(&lim.sem, 3));
  DEFER(lim.sem);
  cio_task *t[10];
  for (int i = 0; i < 10; i++)
    TRY(test_spawn(&t[i], limited_worker, &lim));
  for (int i = 0; i < 10; i++)
    TRY(cio_task_await(t[i], NULL));
  CHECK_EQ(lim.max_inside, 3);
  CHECK_EQ(lim.done, 10);
  CHECK_EQ(cio_semaphore_value(lim.sem), 3);
  return 0;
}

TEST(semaphore_limits_concurrency) {
  CHECK_RUN(test_run_virtual(main_sem_limit, NULL), 0);
}

static int sem_user(void *arg, void **result) {
  (void)result;
  struct who *w = arg;
  w->rc = cio_semaphore_acquire(w->obj);
  test_log("%s-%s", w->name, w->rc == 0 ? "got" : cio_err_name(w->rc));
  return w->rc;
}

static int main_sem_fifo(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s;
  TRY(cio_semaphore_new(&s, 0));
  DEFER(s);
  CHECK(cio_semaphore_is_locked(s));
  struct who w[3] = {{"a", s, 0}, {"b", s, 0}, {"c", s, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], sem_user, &w[i]));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_semaphore_release(s), 0); /* handed to a */
  CHECK_EQ(cio_semaphore_value(s), 0);
  CHECK(cio_semaphore_is_locked(s));
  /* A newcomer waits its turn behind b and c. */
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 1);
  /* a, b and c were woken but have not run: they still count as queued
   * (locked()), so main waits although a permit is free; the first of
   * them to run wakes it. */
  CHECK(cio_semaphore_is_locked(s));
  TRY(cio_semaphore_acquire(s));
  test_log("main-got");
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  CHECK_EQ(cio_semaphore_value(s), 0);
  return 0;
}

TEST(semaphore_fifo) {
  CHECK_RUN(test_run_virtual(main_sem_fifo, NULL), 0);
  CHECK_STR(test_log_text(), "a-got b-got c-got main-got ");
}

/* locked() while a waiter that is not cancelled exists: a newcomer queues
 * behind it even when the waiter was already handed the permit. */
static int releaser(void *arg, void **result) {
  (void)result;
  for (int i = 0; i < 2; i++) {
    TRY(cio_sleep(1));
    test_log("release");
    CHECK_EQ(cio_semaphore_release(arg), 0);
  }
  return 0;
}

static int main_sem_newcomer_queues(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s;
  TRY(cio_semaphore_new(&s, 0));
  DEFER(s);
  struct who a = {"a", s, 0}, b = {"b", s, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, sem_user, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, sem_user, &b));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_semaphore_release(s), 0); /* to a */
  cio_task *r;
  TRY(test_spawn(&r, releaser, s));
  TRY(cio_semaphore_acquire(s)); /* behind b: two releases */
  test_log("main-got");
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  TRY(cio_task_await(r, NULL));
  TRY(cio_task_await(ta, NULL));
  TRY(cio_task_await(tb, NULL));
  return 0;
}

TEST(semaphore_newcomer_queues) {
  CHECK_RUN(test_run_virtual(main_sem_newcomer_queues, NULL), 0);
  CHECK_STR(test_log_text(), "a-got release b-got release main-got ");
}

/* test_acquire_cancel_after_release: a woken waiter cancelled before it
 * runs gives its permit back and the next waiter gets it. */
static int main_sem_cancel_woken(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s;
  TRY(cio_semaphore_new(&s, 0));
  DEFER(s);
  struct who a = {"a", s, 0}, b = {"b", s, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, sem_user, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, sem_user, &b));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_semaphore_release(s), 0); /* to a */
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  TRY(cio_task_await(tb, NULL));
  CHECK_EQ(cio_semaphore_value(s), 0);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 1);
  CHECK(!cio_semaphore_is_locked(s));
  return 0;
}

TEST(semaphore_cancel_after_release) {
  CHECK_RUN(test_run_virtual(main_sem_cancel_woken, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got ");
}

static int main_sem_cancel_waiting(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s;
  TRY(cio_semaphore_new(&s, 0));
  DEFER(s);
  struct who a = {"a", s, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, sem_user, &a));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK(cio_semaphore_is_locked(s)); /* value 0 */
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 1); /* nobody took it */
  CHECK(!cio_semaphore_is_locked(s));
  TRY(cio_semaphore_acquire(s));
  return 0;
}

TEST(semaphore_cancel_waiting) {
  CHECK_RUN(test_run_virtual(main_sem_cancel_waiting, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED ");
}

static int main_sem_errors(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s = (cio_semaphore *)1;
  CHECK_EQ(cio_semaphore_new(&s, -1), CIO_EINVAL); /* ValueError */
  CHECK(s == NULL);
  CHECK_EQ(cio_bounded_semaphore_new(&s, -1), CIO_EINVAL);
  TRY(cio_bounded_semaphore_new(&s, 2));
  DEFER(s);
  CHECK_EQ(cio_semaphore_release(s), CIO_EOVERFLOW);
  TRY(cio_semaphore_acquire(s));
  TRY(cio_semaphore_acquire(s));
  CHECK(cio_semaphore_is_locked(s));
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_release(s), CIO_EOVERFLOW);
  CHECK_EQ(cio_semaphore_value(s), 2);
  /* A plain semaphore may go above its initial value. */
  TRY(cio_semaphore_new(&s, 1));
  DEFER(s);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 2);
  CHECK_EQ(cio_semaphore_acquire(NULL), CIO_EINVAL);
  CHECK_EQ(cio_semaphore_release(NULL), CIO_EINVAL);
  return 0;
}

TEST(semaphore_errors_and_bound) {
  CHECK_RUN(test_run_virtual(main_sem_errors, NULL), 0);
}

/* ====================================================================
 * Barrier
 * ================================================================== */

struct party {
  const char *name;
  cio_barrier *b;
  int index;
  int rc;
  int rounds;
};

static int barrier_party(void *arg, void **result) {
  (void)result;
  struct party *p = arg;
  for (int r = 0; r < (p->rounds ? p->rounds : 1); r++) {
    p->rc = cio_barrier_wait(p->b, &p->index);
    test_log("%s%d-%s", p->name, r,
             p->rc == 0 ? "passed" : cio_err_name(p->rc));
    if (p->rc < 0)
      return p->rc;
  }
  return 0;
}

static int main_barrier_indices(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  TRY(cio_barrier_new(&b, 3));
  DEFER(b);
  CHECK_EQ(cio_barrier_parties(b), 3);
  struct party p[3] = {{"a", b, 0, 0, 0}, {"b", b, 0, 0, 0}, {"c", b, 0, 0, 0}};
  cio_task *t[3];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&t[i], barrier_party, &p[i]));
  TRY(test_yield_n(2));
  CHECK_EQ(cio_barrier_n_waiting(b), 2);
  TRY(test_spawn(&t[2], barrier_party, &p[2]));
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  CHECK_EQ(p[0].index, 0);
  CHECK_EQ(p[1].index, 1);
  CHECK_EQ(p[2].index, 2);
  CHECK_EQ(cio_barrier_n_waiting(b), 0);
  CHECK(!cio_barrier_is_broken(b));
  return 0;
}

TEST(barrier_indices) {
  CHECK_RUN(test_run_virtual(main_barrier_indices, NULL), 0);
  /* The last to arrive passes first; the others follow in order. */
  CHECK_STR(test_log_text(), "c0-passed a0-passed b0-passed ");
}

/* Several rounds: a task that comes back while the barrier drains waits
 * for the next round; every round hands out 0 .. parties-1. */
struct rounds {
  cio_barrier *b;
  int seen[4][2]; /* round x index -> count */
};

static int round_party(void *arg, void **result) {
  (void)result;
  struct rounds *r = arg;
  for (int round = 0; round < 4; round++) {
    int index;
    TRY(cio_barrier_wait(r->b, &index));
    CHECK(index >= 0 && index < 2);
    r->seen[round][index]++;
  }
  return 0;
}

static int main_barrier_rounds(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct rounds r = {0};
  TRY(cio_barrier_new(&r.b, 2));
  DEFER(r.b);
  cio_task *t1;
  TRY(test_spawn(&t1, round_party, &r));
  cio_task *t2;
  TRY(test_spawn(&t2, round_party, &r));
  TRY(cio_task_await(t1, NULL));
  TRY(cio_task_await(t2, NULL));
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(r.seen[i][0], 1);
    CHECK_EQ(r.seen[i][1], 1);
  }
  return 0;
}

TEST(barrier_rounds) {
  CHECK_RUN(test_run_virtual(main_barrier_rounds, NULL), 0);
}

static int main_barrier_abort(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  TRY(cio_barrier_new(&b, 3));
  DEFER(b);
  struct party p[2] = {{"a", b, 0, 0, 0}, {"b", b, 0, 0, 0}};
  cio_task *t[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&t[i], barrier_party, &p[i]));
  TRY(test_yield_n(2));
  CHECK_EQ(cio_barrier_abort(b), 0);
  CHECK(cio_barrier_is_broken(b));
  for (int i = 0; i < 2; i++)
    TRY_EQ(cio_task_await(t[i], NULL), CIO_ENOTRECOVERABLE);
  int index = 7;
  TRY_EQ(cio_barrier_wait(b, &index), CIO_ENOTRECOVERABLE);
  CHECK_EQ(index, -1);
  CHECK_EQ(cio_barrier_reset(b), 0); /* usable again */
  CHECK(!cio_barrier_is_broken(b));
  struct party q[2] = {{"c", b, 0, 0, 0}, {"d", b, 0, 0, 0}};
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&t[i], barrier_party, &q[i]));
  TRY(test_yield_n(2));
  TRY(cio_barrier_wait(b, &index));
  CHECK_EQ(index, 2);
  for (int i = 0; i < 2; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(barrier_abort_then_reset) {
  CHECK_RUN(test_run_virtual(main_barrier_abort, NULL), 0);
  CHECK_STR(test_log_text(), "a0-ENOTRECOVERABLE b0-ENOTRECOVERABLE "
                             "c0-passed d0-passed ");
}

static int main_barrier_reset(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  TRY(cio_barrier_new(&b, 3));
  DEFER(b);
  struct party p[2] = {{"a", b, 0, 0, 0}, {"b", b, 0, 0, 0}};
  cio_task *t[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&t[i], barrier_party, &p[i]));
  TRY(test_yield_n(2));
  CHECK_EQ(cio_barrier_reset(b), 0);
  CHECK(!cio_barrier_is_broken(b));
  CHECK_EQ(cio_barrier_n_waiting(b), 0); /* resetting */
  for (int i = 0; i < 2; i++)
    TRY_EQ(cio_task_await(t[i], NULL), CIO_ENOTRECOVERABLE);
  CHECK_EQ(cio_barrier_n_waiting(b), 0);
  /* Back to filling: a full round passes. */
  struct party q[2] = {{"c", b, 0, 0, 0}, {"d", b, 0, 0, 0}};
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&t[i], barrier_party, &q[i]));
  TRY(test_yield_n(2));
  int index;
  TRY(cio_barrier_wait(b, &index));
  CHECK_EQ(index, 2);
  for (int i = 0; i < 2; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(barrier_reset_breaks_waiters) {
  CHECK_RUN(test_run_virtual(main_barrier_reset, NULL), 0);
  CHECK_STR(test_log_text(), "a0-ENOTRECOVERABLE b0-ENOTRECOVERABLE "
                             "c0-passed d0-passed ");
}

static int main_barrier_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  TRY(cio_barrier_new(&b, 2));
  DEFER(b);
  struct party a = {"a", b, 0, 0, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, barrier_party, &a));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_barrier_n_waiting(b), 1);
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_barrier_n_waiting(b), 0);
  struct party c = {"c", b, 0, 0, 0};
  cio_task *tc;
  TRY(test_spawn(&tc, barrier_party, &c));
  TRY(test_yield_n(1));
  int index;
  TRY(cio_barrier_wait(b, &index));
  TRY(cio_task_await(tc, NULL));
  CHECK_EQ(c.index, 0);
  CHECK_EQ(index, 1);
  return 0;
}

TEST(barrier_cancelled_waiter_leaves) {
  CHECK_RUN(test_run_virtual(main_barrier_cancel, NULL), 0);
  CHECK_STR(test_log_text(), "a0-ECANCELED c0-passed ");
}

static int main_barrier_single(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  TRY(cio_barrier_new(&b, 1));
  DEFER(b);
  int index;
  TRY(cio_barrier_wait(b, &index)); /* parties 1: passes */
  CHECK_EQ(index, 0);
  TRY(cio_barrier_wait(b, &index));
  CHECK_EQ(index, 0);
  CHECK_EQ(cio_barrier_new(&b, 0), CIO_EINVAL); /* ValueError */
  CHECK(b == NULL);
  CHECK_EQ(cio_barrier_wait(NULL, NULL), CIO_EINVAL);
  return 0;
}

TEST(barrier_single_party) {
  CHECK_RUN(test_run_virtual(main_barrier_single, NULL), 0);
}

/* ====================================================================
 * Timeouts: a timed-out wait (a cancellation underneath) leaves the
 * primitive as if the waiter had never come.
 * ================================================================== */

static int main_timeouts(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  cio_semaphore *s;
  cio_event *e;
  TRY(cio_lock_new(&l));
  DEFER(l);
  TRY(cio_semaphore_new(&s, 0));
  DEFER(s);
  TRY(cio_event_new(&e));
  DEFER(e);
  TRY(cio_lock_acquire(l));
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  TRY_EQ(cio_timeout_exit(&to, cio_lock_acquire(l)), CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time(), 1.0, 1e-9);
  CHECK_EQ(cio_lock_release(l), 0);
  TRY(cio_lock_acquire(l)); /* fast path: no waiter left */
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  TRY_EQ(cio_timeout_exit(&to, cio_semaphore_acquire(s)), CIO_ETIMEDOUT);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 1);
  CHECK(!cio_semaphore_is_locked(s));
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  TRY_EQ(cio_timeout_exit(&to, cio_event_wait(e)), CIO_ETIMEDOUT);
  return 0;
}

TEST(timeouts_leave_primitives_consistent) {
  CHECK_RUN(test_run_virtual(main_timeouts, NULL), 0);
}
