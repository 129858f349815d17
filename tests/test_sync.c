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
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_lock_release(w->obj), 0);
  return 0;
}

static int main_lock_basics(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK(!cio_lock_is_locked(l));
  CHECK_EQ(cio_lock_release(l), CIO_EPERM); /* RuntimeError */
  cio_task *other = test_spawn(test_logger, "other");
  /* Uncontended: no suspension, so `other` has not run yet. */
  CHECK_EQ(cio_lock_acquire(l), 0);
  test_log("acquired");
  CHECK(cio_lock_is_locked(l));
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK(!cio_lock_is_locked(l));
  CHECK_EQ(cio_task_join(other, NULL), 0);
  CHECK_EQ(cio_lock_acquire(NULL), CIO_EINVAL);
  CHECK_EQ(cio_lock_release(NULL), CIO_EINVAL);
  CHECK_EQ(cio_lock_new(NULL), CIO_EINVAL);
  cio_lock_free(l);
  cio_lock_free(NULL);
  return 0;
}

TEST(lock_basics) {
  CHECK_EQ(test_run_virtual(main_lock_basics, NULL), 0);
  CHECK_STR(test_log_text(), "acquired other ");
}

/* Outside a task the fast path still works; waiting is refused. */
TEST(lock_outside_task) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  CHECK_EQ(cio_lock_acquire(l), CIO_EPERM);
  CHECK_EQ(cio_lock_release(l), 0);
  cio_lock_free(l);
  CHECK_EQ(cio_loop_close(loop), 0);
}

static int main_lock_fifo(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  struct who w[3] = {{"a", l, 0}, {"b", l, 0}, {"c", l, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    t[i] = test_spawn(lock_user, &w[i]);
  test_yield_n(1); /* all three queue, in creation order */
  test_log("release");
  CHECK_EQ(cio_lock_release(l), 0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  CHECK(!cio_lock_is_locked(l));
  cio_lock_free(l);
  return 0;
}

TEST(lock_fifo) {
  CHECK_EQ(test_run_virtual(main_lock_fifo, NULL), 0);
  CHECK_STR(test_log_text(), "release a-got b-got c-got ");
}

/* release() does not hand the lock over, yet a newcomer queues behind the
 * woken waiter: no barging. */
static int main_lock_no_barging(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  struct who a = {"a", l, 0};
  cio_task *t = test_spawn(lock_user, &a);
  test_yield_n(1);
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK(!cio_lock_is_locked(l));    /* woken, not yet run */
  CHECK_EQ(cio_lock_acquire(l), 0); /* waits for a's turn */
  test_log("main-got");
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  cio_lock_free(l);
  return 0;
}

TEST(lock_no_barging) {
  CHECK_EQ(test_run_virtual(main_lock_no_barging, NULL), 0);
  CHECK_STR(test_log_text(), "a-got main-got ");
}

/* A waiter cancelled while queued leaves; the lock goes on to the next. */
static int main_lock_cancel_waiting(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  struct who a = {"a", l, 0}, b = {"b", l, 0};
  cio_task *ta = test_spawn(lock_user, &a), *tb = test_spawn(lock_user, &b);
  test_yield_n(1);
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(a.rc, CIO_ECANCELED);
  CHECK(cio_lock_is_locked(l));
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  CHECK(!cio_lock_is_locked(l));
  cio_lock_free(l);
  return 0;
}

TEST(lock_cancel_waiting) {
  CHECK_EQ(test_run_virtual(main_lock_cancel_waiting, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got ");
}

/* test_cancel_release_race: the waiter the lock was released to is
 * cancelled before it runs; the next waiter must get the lock. */
static int main_lock_cancel_release_race(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  struct who a = {"a", l, 0}, b = {"b", l, 0}, c = {"c", l, 0};
  cio_task *ta = test_spawn(lock_user, &a), *tb = test_spawn(lock_user, &b),
           *tc = test_spawn(lock_user, &c);
  test_yield_n(1);
  CHECK_EQ(cio_lock_release(l), 0); /* wakes a */
  CHECK_EQ(cio_task_cancel(ta), 1); /* before a runs */
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  CHECK_EQ(cio_task_join(tc, NULL), 0);
  CHECK(!cio_lock_is_locked(l));
  cio_lock_free(l);
  return 0;
}

TEST(lock_cancel_release_race) {
  CHECK_EQ(test_run_virtual(main_lock_cancel_release_race, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got c-got ");
}

/* test_cancel_race: the first waiter is cancelled (not yet run) when the
 * lock is released; the lock still reaches the second. */
static int main_lock_cancel_race(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  struct who b = {"b", l, 0}, c = {"c", l, 0};
  cio_task *tb = test_spawn(lock_user, &b), *tc = test_spawn(lock_user, &c);
  test_yield_n(1);
  CHECK_EQ(cio_task_cancel(tb), 1);
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK_EQ(cio_task_join(tb, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_task_join(tc, NULL), 0);
  cio_lock_free(l);
  return 0;
}

TEST(lock_cancel_race) {
  CHECK_EQ(test_run_virtual(main_lock_cancel_race, NULL), 0);
  CHECK_STR(test_log_text(), "b-ECANCELED c-got ");
}

/* Jumping the queue is allowed when every waiter is cancelled. */
static int main_lock_all_cancelled_fast_path(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  struct who a = {"a", l, 0};
  cio_task *ta = test_spawn(lock_user, &a);
  test_yield_n(1);
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0); /* fast path: a is cancelled */
  test_log("main-got");
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_lock_release(l), 0);
  cio_lock_free(l);
  return 0;
}

TEST(lock_all_cancelled_fast_path) {
  CHECK_EQ(test_run_virtual(main_lock_all_cancelled_fast_path, NULL), 0);
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
    CHECK_EQ(cio_lock_acquire(c->lock), 0);
    long tmp = c->value;
    CHECK_EQ(cio_sleep(0), 0);
    c->value = tmp + 1;
    CHECK_EQ(cio_lock_release(c->lock), 0);
  }
  return 0;
}

static int main_lock_counter(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct counter c = {0};
  CHECK_EQ(cio_lock_new(&c.lock), 0);
  cio_task *t[5];
  for (int i = 0; i < 5; i++)
    t[i] = test_spawn(incrementer, &c);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  CHECK_EQ(c.value, 5000);
  cio_lock_free(c.lock);
  return 0;
}

TEST(lock_counter_5x1000) {
  CHECK_EQ(test_run_virtual(main_lock_counter, NULL), 0);
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
  CHECK_EQ(cio_event_new(&e), 0);
  CHECK(!cio_event_is_set(e));
  struct who a = {"a", e, 0}, b = {"b", e, 0};
  cio_task *ta = test_spawn(event_waiter, &a), *tb = test_spawn(event_waiter, &b);
  test_yield_n(1);
  CHECK_EQ(cio_event_set(e), 0);
  CHECK(cio_event_is_set(e));
  /* Waking is scheduling: a wait() started now returns first. */
  CHECK_EQ(cio_event_wait(e), 0);
  test_log("main");
  CHECK_EQ(cio_event_clear(e), 0); /* a and b were woken already */
  CHECK(!cio_event_is_set(e));
  CHECK_EQ(cio_task_join(ta, NULL), 0);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  CHECK_EQ(cio_event_set(e), 0);
  CHECK_EQ(cio_event_set(e), 0); /* idempotent */
  cio_event_free(e);
  CHECK_EQ(cio_event_wait(NULL), CIO_EINVAL);
  return 0;
}

TEST(event_set_wakes_all) {
  CHECK_EQ(test_run_virtual(main_event_set_wakes_all, NULL), 0);
  CHECK_STR(test_log_text(), "main a-woke b-woke ");
}

static int main_event_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_event *e;
  CHECK_EQ(cio_event_new(&e), 0);
  struct who a = {"a", e, 0}, b = {"b", e, 0};
  cio_task *ta = test_spawn(event_waiter, &a), *tb = test_spawn(event_waiter, &b);
  test_yield_n(1);
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_sleep(5), 0);
  CHECK(!cio_task_is_done(tb));
  CHECK_EQ(cio_event_set(e), 0);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  cio_event_free(e); /* asserts that no waiter was left behind */
  return 0;
}

TEST(event_cancelled_wait_leaves_nothing) {
  CHECK_EQ(test_run_virtual(main_event_cancel, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-woke ");
}

/* A waiter woken by set() then cancelled before it runs ends cancelled,
 * as in CPython (the CancelledError is thrown into the coroutine). */
static int main_event_woken_then_cancelled(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_event *e;
  CHECK_EQ(cio_event_new(&e), 0);
  struct who a = {"a", e, 0};
  cio_task *ta = test_spawn(event_waiter, &a);
  test_yield_n(1);
  CHECK_EQ(cio_event_set(e), 0);
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  cio_event_free(e);
  return 0;
}

TEST(event_woken_then_cancelled) {
  CHECK_EQ(test_run_virtual(main_event_woken_then_cancelled, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED ");
}

/* ====================================================================
 * Condition
 * ================================================================== */

static int cond_waiter(void *arg, void **result) {
  (void)result;
  struct who *w = arg;
  cio_condition *c = w->obj;
  CHECK_EQ(cio_condition_acquire(c), 0);
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
  CHECK_EQ(cio_condition_new(&c, NULL), 0);
  struct who w[3] = {{"a", c, 0}, {"b", c, 0}, {"c", c, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    t[i] = test_spawn(cond_waiter, &w[i]);
  test_yield_n(1);
  CHECK_EQ(cio_condition_acquire(c), 0);
  CHECK_EQ(cio_condition_notify(c, 1), 0);
  test_log("notified1");
  test_yield_n(3);
  test_log("still-held"); /* a needs the lock to return */
  CHECK_EQ(cio_condition_release(c), 0);
  test_yield_n(3);
  CHECK_EQ(cio_condition_acquire(c), 0);
  CHECK_EQ(cio_condition_notify(c, 2), 0);
  CHECK_EQ(cio_condition_release(c), 0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  cio_condition_free(c);
  return 0;
}

TEST(condition_notify_n_fifo) {
  CHECK_EQ(test_run_virtual(main_cond_notify, NULL), 0);
  CHECK_STR(test_log_text(), "notified1 still-held a-woke b-woke c-woke ");
}

static int main_cond_notify_all(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  CHECK_EQ(cio_lock_new(&l), 0);
  cio_condition *c;
  CHECK_EQ(cio_condition_new(&c, l), 0);
  CHECK(cio_condition_lock(c) == l);
  struct who w[3] = {{"a", c, 0}, {"b", c, 0}, {"c", c, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    t[i] = test_spawn(cond_waiter, &w[i]);
  test_yield_n(1);
  CHECK_EQ(cio_lock_acquire(l), 0);
  CHECK(cio_condition_is_locked(c));
  CHECK_EQ(cio_condition_notify_all(c), 0);
  CHECK_EQ(cio_lock_release(l), 0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  cio_condition_free(c);
  cio_lock_free(l);
  return 0;
}

TEST(condition_notify_all_shared_lock) {
  CHECK_EQ(test_run_virtual(main_cond_notify_all, NULL), 0);
  CHECK_STR(test_log_text(), "a-woke b-woke c-woke ");
}

static int main_cond_needs_lock(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  CHECK_EQ(cio_condition_new(&c, NULL), 0);
  CHECK_EQ(cio_condition_wait(c), CIO_EPERM);
  CHECK_EQ(cio_condition_notify(c, 1), CIO_EPERM);
  CHECK_EQ(cio_condition_notify_all(c), CIO_EPERM);
  CHECK_EQ(cio_condition_release(c), CIO_EPERM);
  CHECK_EQ(cio_condition_new(NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_condition_wait(NULL), CIO_EINVAL);
  cio_condition_free(c);
  return 0;
}

TEST(condition_requires_lock) {
  CHECK_EQ(test_run_virtual(main_cond_needs_lock, NULL), 0);
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
  CHECK_EQ(cio_condition_acquire(p->c), 0);
  CHECK_EQ(cio_condition_wait_for(p->c, value_reached_3, p), 0);
  test_log("reached-%d", p->value);
  CHECK_EQ(cio_condition_release(p->c), 0);
  return 0;
}

static int main_cond_wait_for(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct pred_state p = {0};
  CHECK_EQ(cio_condition_new(&p.c, NULL), 0);
  cio_task *t = test_spawn(wait_for_3, &p);
  for (int i = 0; i < 3; i++) {
    test_yield_n(2);
    CHECK_EQ(cio_condition_acquire(p.c), 0);
    p.value++;
    CHECK_EQ(cio_condition_notify(p.c, 1), 0);
    CHECK_EQ(cio_condition_release(p.c), 0);
  }
  CHECK_EQ(cio_task_join(t, NULL), 0);
  CHECK_EQ(p.calls, 4); /* once at the start, once per notification */
  /* A true predicate does not need the lock. */
  CHECK_EQ(cio_condition_wait_for(p.c, value_reached_3, &p), 0);
  CHECK_EQ(cio_condition_wait_for(p.c, NULL, NULL), CIO_EINVAL);
  cio_condition_free(p.c);
  return 0;
}

TEST(condition_wait_for) {
  CHECK_EQ(test_run_virtual(main_cond_wait_for, NULL), 0);
  CHECK_STR(test_log_text(), "reached-3 ");
}

/* test_wait_cancel_contested: a cancelled wait re-acquires the lock
 * before returning, waiting for it if someone else holds it. */
static int main_cond_cancel_reacquires(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  CHECK_EQ(cio_condition_new(&c, NULL), 0);
  struct who a = {"a", c, 0};
  cio_task *ta = test_spawn(cond_waiter, &a);
  test_yield_n(1);
  CHECK_EQ(cio_condition_acquire(c), 0);
  CHECK_EQ(cio_task_cancel(ta), 1);
  test_yield_n(3);
  CHECK(!cio_task_is_done(ta)); /* blocked re-acquiring */
  test_log("main-release");
  CHECK_EQ(cio_condition_release(c), 0);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK(!cio_condition_is_locked(c));
  cio_condition_free(c);
  return 0;
}

TEST(condition_cancelled_wait_reacquires) {
  CHECK_EQ(test_run_virtual(main_cond_cancel_reacquires, NULL), 0);
  CHECK_STR(test_log_text(), "main-release a-ECANCELED ");
}

/* A cancellation while re-acquiring is held until the lock is back. */
static int main_cond_cancel_during_reacquire(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  CHECK_EQ(cio_condition_new(&c, NULL), 0);
  struct who a = {"a", c, 0};
  cio_task *ta = test_spawn(cond_waiter, &a);
  test_yield_n(1);
  CHECK_EQ(cio_condition_acquire(c), 0);
  CHECK_EQ(cio_condition_notify(c, 1), 0);
  test_yield_n(2); /* a now waits for the lock */
  CHECK_EQ(cio_task_cancel(ta), 1);
  test_yield_n(2);
  CHECK(!cio_task_is_done(ta));
  CHECK_EQ(cio_condition_release(c), 0);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  cio_condition_free(c);
  return 0;
}

TEST(condition_cancel_during_reacquire) {
  CHECK_EQ(test_run_virtual(main_cond_cancel_during_reacquire, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED ");
}

/* test_cancelled_wakeup: a notified waiter cancelled before it runs passes
 * the notification on, so b still wakes. */
static int main_cond_cancelled_wakeup(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_condition *c;
  CHECK_EQ(cio_condition_new(&c, NULL), 0);
  struct who a = {"a", c, 0}, b = {"b", c, 0};
  cio_task *ta = test_spawn(cond_waiter, &a), *tb = test_spawn(cond_waiter, &b);
  test_yield_n(1);
  CHECK_EQ(cio_condition_acquire(c), 0);
  CHECK_EQ(cio_condition_notify(c, 1), 0); /* a */
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_condition_release(c), 0);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  cio_condition_free(c);
  return 0;
}

TEST(condition_cancelled_wakeup_passed_on) {
  CHECK_EQ(test_run_virtual(main_cond_cancelled_wakeup, NULL), 0);
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
  CHECK_EQ(cio_semaphore_acquire(lim->sem), 0);
  lim->inside++;
  if (lim->inside > lim->max_inside)
    lim->max_inside = lim->inside;
  CHECK_EQ(cio_sleep(0.1 * (1 + lim->done % 4)), 0);
  lim->inside--;
  lim->done++;
  CHECK_EQ(cio_semaphore_release(lim->sem), 0);
  return 0;
}

static int main_sem_limit(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct limit lim = {0};
  CHECK_EQ(cio_semaphore_new(&lim.sem, 3), 0);
  cio_task *t[10];
  for (int i = 0; i < 10; i++)
    t[i] = test_spawn(limited_worker, &lim);
  for (int i = 0; i < 10; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  CHECK_EQ(lim.max_inside, 3);
  CHECK_EQ(lim.done, 10);
  CHECK_EQ(cio_semaphore_value(lim.sem), 3);
  cio_semaphore_free(lim.sem);
  return 0;
}

TEST(semaphore_limits_concurrency) {
  CHECK_EQ(test_run_virtual(main_sem_limit, NULL), 0);
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
  CHECK_EQ(cio_semaphore_new(&s, 0), 0);
  CHECK(cio_semaphore_is_locked(s));
  struct who w[3] = {{"a", s, 0}, {"b", s, 0}, {"c", s, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    t[i] = test_spawn(sem_user, &w[i]);
  test_yield_n(1);
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
  CHECK_EQ(cio_semaphore_acquire(s), 0);
  test_log("main-got");
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  CHECK_EQ(cio_semaphore_value(s), 0);
  cio_semaphore_free(s);
  return 0;
}

TEST(semaphore_fifo) {
  CHECK_EQ(test_run_virtual(main_sem_fifo, NULL), 0);
  CHECK_STR(test_log_text(), "a-got b-got c-got main-got ");
}

/* locked() while a waiter that is not cancelled exists: a newcomer queues
 * behind it even when the waiter was already handed the permit. */
static int releaser(void *arg, void **result) {
  (void)result;
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(cio_sleep(1), 0);
    test_log("release");
    CHECK_EQ(cio_semaphore_release(arg), 0);
  }
  return 0;
}

static int main_sem_newcomer_queues(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s;
  CHECK_EQ(cio_semaphore_new(&s, 0), 0);
  struct who a = {"a", s, 0}, b = {"b", s, 0};
  cio_task *ta = test_spawn(sem_user, &a), *tb = test_spawn(sem_user, &b);
  test_yield_n(1);
  CHECK_EQ(cio_semaphore_release(s), 0); /* to a */
  cio_task *r = test_spawn(releaser, s);
  CHECK_EQ(cio_semaphore_acquire(s), 0); /* behind b: two releases */
  test_log("main-got");
  CHECK_NEAR(cio_time(), 2.0, 1e-9);
  CHECK_EQ(cio_task_join(r, NULL), 0);
  CHECK_EQ(cio_task_join(ta, NULL), 0);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  cio_semaphore_free(s);
  return 0;
}

TEST(semaphore_newcomer_queues) {
  CHECK_EQ(test_run_virtual(main_sem_newcomer_queues, NULL), 0);
  CHECK_STR(test_log_text(), "a-got release b-got release main-got ");
}

/* test_acquire_cancel_after_release: a woken waiter cancelled before it
 * runs gives its permit back and the next waiter gets it. */
static int main_sem_cancel_woken(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s;
  CHECK_EQ(cio_semaphore_new(&s, 0), 0);
  struct who a = {"a", s, 0}, b = {"b", s, 0};
  cio_task *ta = test_spawn(sem_user, &a), *tb = test_spawn(sem_user, &b);
  test_yield_n(1);
  CHECK_EQ(cio_semaphore_release(s), 0); /* to a */
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  CHECK_EQ(cio_semaphore_value(s), 0);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 1);
  CHECK(!cio_semaphore_is_locked(s));
  cio_semaphore_free(s);
  return 0;
}

TEST(semaphore_cancel_after_release) {
  CHECK_EQ(test_run_virtual(main_sem_cancel_woken, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got ");
}

static int main_sem_cancel_waiting(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s;
  CHECK_EQ(cio_semaphore_new(&s, 0), 0);
  struct who a = {"a", s, 0};
  cio_task *ta = test_spawn(sem_user, &a);
  test_yield_n(1);
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK(cio_semaphore_is_locked(s)); /* value 0 */
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 1); /* nobody took it */
  CHECK(!cio_semaphore_is_locked(s));
  CHECK_EQ(cio_semaphore_acquire(s), 0);
  cio_semaphore_free(s);
  return 0;
}

TEST(semaphore_cancel_waiting) {
  CHECK_EQ(test_run_virtual(main_sem_cancel_waiting, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED ");
}

static int main_sem_errors(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_semaphore *s = (cio_semaphore *)1;
  CHECK_EQ(cio_semaphore_new(&s, -1), CIO_EINVAL); /* ValueError */
  CHECK(s == NULL);
  CHECK_EQ(cio_bounded_semaphore_new(&s, -1), CIO_EINVAL);
  CHECK_EQ(cio_bounded_semaphore_new(&s, 2), 0);
  CHECK_EQ(cio_semaphore_release(s), CIO_EOVERFLOW);
  CHECK_EQ(cio_semaphore_acquire(s), 0);
  CHECK_EQ(cio_semaphore_acquire(s), 0);
  CHECK(cio_semaphore_is_locked(s));
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_release(s), CIO_EOVERFLOW);
  CHECK_EQ(cio_semaphore_value(s), 2);
  cio_semaphore_free(s);
  /* A plain semaphore may go above its initial value. */
  CHECK_EQ(cio_semaphore_new(&s, 1), 0);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 2);
  cio_semaphore_free(s);
  CHECK_EQ(cio_semaphore_acquire(NULL), CIO_EINVAL);
  CHECK_EQ(cio_semaphore_release(NULL), CIO_EINVAL);
  return 0;
}

TEST(semaphore_errors_and_bound) {
  CHECK_EQ(test_run_virtual(main_sem_errors, NULL), 0);
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
  CHECK_EQ(cio_barrier_new(&b, 3), 0);
  CHECK_EQ(cio_barrier_parties(b), 3);
  struct party p[3] = {{"a", b, 0, 0, 0}, {"b", b, 0, 0, 0}, {"c", b, 0, 0, 0}};
  cio_task *t[3];
  for (int i = 0; i < 2; i++)
    t[i] = test_spawn(barrier_party, &p[i]);
  test_yield_n(2);
  CHECK_EQ(cio_barrier_n_waiting(b), 2);
  t[2] = test_spawn(barrier_party, &p[2]);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  CHECK_EQ(p[0].index, 0);
  CHECK_EQ(p[1].index, 1);
  CHECK_EQ(p[2].index, 2);
  CHECK_EQ(cio_barrier_n_waiting(b), 0);
  CHECK(!cio_barrier_is_broken(b));
  cio_barrier_free(b);
  return 0;
}

TEST(barrier_indices) {
  CHECK_EQ(test_run_virtual(main_barrier_indices, NULL), 0);
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
    CHECK_EQ(cio_barrier_wait(r->b, &index), 0);
    CHECK(index >= 0 && index < 2);
    r->seen[round][index]++;
  }
  return 0;
}

static int main_barrier_rounds(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct rounds r = {0};
  CHECK_EQ(cio_barrier_new(&r.b, 2), 0);
  cio_task *t1 = test_spawn(round_party, &r), *t2 = test_spawn(round_party, &r);
  CHECK_EQ(cio_task_join(t1, NULL), 0);
  CHECK_EQ(cio_task_join(t2, NULL), 0);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(r.seen[i][0], 1);
    CHECK_EQ(r.seen[i][1], 1);
  }
  cio_barrier_free(r.b);
  return 0;
}

TEST(barrier_rounds) {
  CHECK_EQ(test_run_virtual(main_barrier_rounds, NULL), 0);
}

static int main_barrier_abort(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  CHECK_EQ(cio_barrier_new(&b, 3), 0);
  struct party p[2] = {{"a", b, 0, 0, 0}, {"b", b, 0, 0, 0}};
  cio_task *t[2];
  for (int i = 0; i < 2; i++)
    t[i] = test_spawn(barrier_party, &p[i]);
  test_yield_n(2);
  CHECK_EQ(cio_barrier_abort(b), 0);
  CHECK(cio_barrier_is_broken(b));
  for (int i = 0; i < 2; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), CIO_ENOTRECOVERABLE);
  int index = 7;
  CHECK_EQ(cio_barrier_wait(b, &index), CIO_ENOTRECOVERABLE);
  CHECK_EQ(index, -1);
  CHECK_EQ(cio_barrier_reset(b), 0); /* usable again */
  CHECK(!cio_barrier_is_broken(b));
  struct party q[2] = {{"c", b, 0, 0, 0}, {"d", b, 0, 0, 0}};
  for (int i = 0; i < 2; i++)
    t[i] = test_spawn(barrier_party, &q[i]);
  test_yield_n(2);
  CHECK_EQ(cio_barrier_wait(b, &index), 0);
  CHECK_EQ(index, 2);
  for (int i = 0; i < 2; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  cio_barrier_free(b);
  return 0;
}

TEST(barrier_abort_then_reset) {
  CHECK_EQ(test_run_virtual(main_barrier_abort, NULL), 0);
  CHECK_STR(test_log_text(), "a0-ENOTRECOVERABLE b0-ENOTRECOVERABLE "
                             "c0-passed d0-passed ");
}

static int main_barrier_reset(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  CHECK_EQ(cio_barrier_new(&b, 3), 0);
  struct party p[2] = {{"a", b, 0, 0, 0}, {"b", b, 0, 0, 0}};
  cio_task *t[2];
  for (int i = 0; i < 2; i++)
    t[i] = test_spawn(barrier_party, &p[i]);
  test_yield_n(2);
  CHECK_EQ(cio_barrier_reset(b), 0);
  CHECK(!cio_barrier_is_broken(b));
  CHECK_EQ(cio_barrier_n_waiting(b), 0); /* resetting */
  for (int i = 0; i < 2; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), CIO_ENOTRECOVERABLE);
  CHECK_EQ(cio_barrier_n_waiting(b), 0);
  /* Back to filling: a full round passes. */
  struct party q[2] = {{"c", b, 0, 0, 0}, {"d", b, 0, 0, 0}};
  for (int i = 0; i < 2; i++)
    t[i] = test_spawn(barrier_party, &q[i]);
  test_yield_n(2);
  int index;
  CHECK_EQ(cio_barrier_wait(b, &index), 0);
  CHECK_EQ(index, 2);
  for (int i = 0; i < 2; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  cio_barrier_free(b);
  return 0;
}

TEST(barrier_reset_breaks_waiters) {
  CHECK_EQ(test_run_virtual(main_barrier_reset, NULL), 0);
  CHECK_STR(test_log_text(), "a0-ENOTRECOVERABLE b0-ENOTRECOVERABLE "
                             "c0-passed d0-passed ");
}

static int main_barrier_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  CHECK_EQ(cio_barrier_new(&b, 2), 0);
  struct party a = {"a", b, 0, 0, 0};
  cio_task *ta = test_spawn(barrier_party, &a);
  test_yield_n(1);
  CHECK_EQ(cio_barrier_n_waiting(b), 1);
  CHECK_EQ(cio_task_cancel(ta), 1);
  CHECK_EQ(cio_task_join(ta, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_barrier_n_waiting(b), 0);
  struct party c = {"c", b, 0, 0, 0};
  cio_task *tc = test_spawn(barrier_party, &c);
  test_yield_n(1);
  int index;
  CHECK_EQ(cio_barrier_wait(b, &index), 0);
  CHECK_EQ(cio_task_join(tc, NULL), 0);
  CHECK_EQ(c.index, 0);
  CHECK_EQ(index, 1);
  cio_barrier_free(b);
  return 0;
}

TEST(barrier_cancelled_waiter_leaves) {
  CHECK_EQ(test_run_virtual(main_barrier_cancel, NULL), 0);
  CHECK_STR(test_log_text(), "a0-ECANCELED c0-passed ");
}

static int main_barrier_single(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_barrier *b;
  CHECK_EQ(cio_barrier_new(&b, 1), 0);
  int index;
  CHECK_EQ(cio_barrier_wait(b, &index), 0); /* parties 1: passes */
  CHECK_EQ(index, 0);
  CHECK_EQ(cio_barrier_wait(b, &index), 0);
  CHECK_EQ(index, 0);
  cio_barrier_free(b);
  CHECK_EQ(cio_barrier_new(&b, 0), CIO_EINVAL); /* ValueError */
  CHECK(b == NULL);
  CHECK_EQ(cio_barrier_wait(NULL, NULL), CIO_EINVAL);
  return 0;
}

TEST(barrier_single_party) {
  CHECK_EQ(test_run_virtual(main_barrier_single, NULL), 0);
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
  CHECK_EQ(cio_lock_new(&l), 0);
  CHECK_EQ(cio_semaphore_new(&s, 0), 0);
  CHECK_EQ(cio_event_new(&e), 0);
  CHECK_EQ(cio_lock_acquire(l), 0);
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  CHECK_EQ(cio_timeout_exit(&to, cio_lock_acquire(l)), CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time(), 1.0, 1e-9);
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK_EQ(cio_lock_acquire(l), 0); /* fast path: no waiter left */
  CHECK_EQ(cio_lock_release(l), 0);
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  CHECK_EQ(cio_timeout_exit(&to, cio_semaphore_acquire(s)), CIO_ETIMEDOUT);
  CHECK_EQ(cio_semaphore_release(s), 0);
  CHECK_EQ(cio_semaphore_value(s), 1);
  CHECK(!cio_semaphore_is_locked(s));
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  CHECK_EQ(cio_timeout_exit(&to, cio_event_wait(e)), CIO_ETIMEDOUT);
  cio_lock_free(l);
  cio_semaphore_free(s);
  cio_event_free(e);
  return 0;
}

TEST(timeouts_leave_primitives_consistent) {
  CHECK_EQ(test_run_virtual(main_timeouts, NULL), 0);
}
