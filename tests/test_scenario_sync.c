/* Scenarios for the cancellation sweep (`make test-cancel`): the sync
 * primitives and queues, each used by a few tasks, with the conservation
 * law checked after every run, whichever task was cancelled where.
 *
 * The objects are made before the loop opens (plain malloc, not counted
 * by a loop), so the law is checked after the run, whatever path it took,
 * and then they are freed. */
#include "casyncio.h"
#include "test.h"

#define P(i) ((void *)(intptr_t)(i))

/* ---- Lock: one holder at a time, free at the end ---------------------- */

struct locked {
  cio_lock *lock;
  int inside, max_inside, entered;
};

static int lock_worker(void *arg, void **result) {
  (void)result;
  struct locked *st = arg;
  for (int i = 0; i < 2; i++) {
    int rc = cio_lock_acquire(st->lock);
    if (rc < 0)
      return rc;
    st->inside++;
    st->entered++;
    if (st->inside > st->max_inside)
      st->max_inside = st->inside;
    rc = cio_sleep(0.01);
    st->inside--;
    CHECK_EQ(cio_lock_release(st->lock), 0);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int main_lock(void *arg, void **result) {
  (void)result;
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], lock_worker, arg));
  TRY(lock_worker(arg, NULL));
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

SCENARIO(lock_workers) {
  struct locked st = {0};
  CHECK_EQ(cio_lock_new(&st.lock), 0);
  int rc = test_run_virtual(main_lock, &st);
  CHECK_OUTCOME(rc);
  CHECK(!cio_lock_is_locked(st.lock));
  CHECK_EQ(st.inside, 0);
  CHECK_EQ(st.max_inside, 1);
  if (!test_cancel_injected())
    CHECK_EQ(st.entered, 8);
  cio_lock_free(st.lock);
}

/* ---- Semaphore: permits restored, never more holders than permits ---- */

struct permits {
  cio_semaphore *sem;
  int holding, max_holding;
};

static int sem_worker(void *arg, void **result) {
  (void)result;
  struct permits *st = arg;
  int rc = cio_semaphore_acquire(st->sem);
  if (rc < 0)
    return rc;
  st->holding++;
  if (st->holding > st->max_holding)
    st->max_holding = st->holding;
  rc = cio_sleep(0.01);
  st->holding--;
  CHECK_EQ(cio_semaphore_release(st->sem), 0);
  return rc;
}

static int main_sem(void *arg, void **result) {
  (void)result;
  cio_task *t[4];
  for (int i = 0; i < 4; i++)
    TRY(test_spawn(&t[i], sem_worker, arg));
  TRY(sem_worker(arg, NULL));
  for (int i = 0; i < 4; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

SCENARIO(semaphore_workers) {
  struct permits st = {0};
  CHECK_EQ(cio_bounded_semaphore_new(&st.sem, 2), 0);
  CHECK_OUTCOME(test_run_virtual(main_sem, &st));
  CHECK_EQ(cio_semaphore_value(st.sem), 2);
  CHECK_EQ(st.holding, 0);
  CHECK(st.max_holding <= 2);
  cio_semaphore_free(st.sem);
}

/* ---- Event and Condition: notified waiters, lock free at the end ------ */

struct cond_state {
  cio_condition *cond;
  cio_event *go;
  int made, items, taken;
};

static bool has_item(void *arg) {
  return ((struct cond_state *)arg)->items > 0;
}

static int cond_consumer(void *arg, void **result) {
  (void)result;
  struct cond_state *st = arg;
  int rc = cio_event_wait(st->go);
  if (rc < 0)
    return rc;
  rc = cio_condition_acquire(st->cond);
  if (rc < 0)
    return rc;
  rc = cio_condition_wait_for(st->cond, has_item, st);
  if (rc == 0) {
    st->items--;
    st->taken++;
  }
  CHECK_EQ(cio_condition_release(st->cond), 0);
  return rc;
}

static int main_cond(void *arg, void **result) {
  (void)result;
  struct cond_state *st = arg;
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], cond_consumer, st));
  TRY(test_yield_n(2));
  CHECK_EQ(cio_event_set(st->go), 0);
  for (int i = 0; i < 3; i++) {
    TRY(cio_condition_acquire(st->cond));
    st->items++;
    st->made++;
    CHECK_EQ(cio_condition_notify(st->cond, 1), 0);
    CHECK_EQ(cio_condition_release(st->cond), 0);
    TRY(cio_sleep(0.01));
  }
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

SCENARIO(event_and_condition) {
  struct cond_state st = {0};
  CHECK_EQ(cio_condition_new(&st.cond, NULL), 0);
  CHECK_EQ(cio_event_new(&st.go), 0);
  CHECK_OUTCOME(test_run_virtual(main_cond, &st));
  CHECK(!cio_condition_is_locked(st.cond));
  CHECK(st.items >= 0);
  CHECK_EQ(st.made, st.taken + st.items); /* no item lost or taken twice */
  if (!test_cancel_injected())
    CHECK_EQ(st.taken, 3);
  cio_event_free(st.go);
  cio_condition_free(st.cond);
}

/* ---- Barrier: a party that leaves breaks it for the others (as a
 * careful asyncio program does: abort() on the way out), no task is left
 * counted as waiting, and every party ends. */

struct parties {
  cio_barrier *b;
  int rc[3];
};

static int barrier_party(struct parties *st, int me) {
  int rc = 0;
  for (int round = 0; round < 2 && rc == 0; round++)
    rc = cio_barrier_wait(st->b, NULL);
  if (rc == CIO_ECANCELED)
    CHECK_EQ(cio_barrier_abort(st->b), 0);
  st->rc[me] = rc;
  return rc == CIO_ENOTRECOVERABLE ? 0 : rc;
}

struct party {
  struct parties *st;
  int me;
};

static int party_task(void *arg, void **result) {
  (void)result;
  struct party *p = arg;
  return barrier_party(p->st, p->me);
}

static int main_barrier(void *arg, void **result) {
  (void)result;
  struct parties *st = arg;
  struct party p[2] = {{st, 1}, {st, 2}};
  cio_task *t[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&t[i], party_task, &p[i]));
  TRY(barrier_party(st, 0));
  for (int i = 0; i < 2; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

SCENARIO(barrier_rounds) {
  struct parties st = {0};
  CHECK_EQ(cio_barrier_new(&st.b, 3), 0);
  CHECK_OUTCOME(test_run_virtual(main_barrier, &st));
  CHECK_EQ(cio_barrier_n_waiting(st.b), 0);
  for (int i = 0; i < 3; i++)
    if (!test_cancel_injected())
      CHECK_EQ(st.rc[i], 0);
    else
      CHECK(st.rc[i] == 0 || st.rc[i] == CIO_ECANCELED ||
            st.rc[i] == CIO_ENOTRECOVERABLE);
  cio_barrier_free(st.b);
}

/* ---- Queue: put = got + still queued; join releases ------------------ */

struct pc {
  cio_queue *q;
  long put, got, done;
};

static int producer(void *arg, void **result) {
  (void)result;
  struct pc *st = arg;
  for (int i = 1; i <= 4; i++) {
    int rc = cio_queue_put(st->q, P(i));
    if (rc < 0)
      return rc; /* the item was not added */
    st->put++;
  }
  return 0;
}

static int consumer(void *arg, void **result) {
  (void)result;
  struct pc *st = arg;
  for (;;) {
    void *item;
    int rc = cio_queue_get(st->q, &item);
    if (rc == CIO_ESHUTDOWN)
      return 0;
    if (rc < 0)
      return rc; /* no item taken */
    st->got++;
    rc = cio_sleep(0.001);
    CHECK_EQ(cio_queue_task_done(st->q), 0);
    st->done++;
    if (rc < 0)
      return rc;
  }
}

static int main_queue(void *arg, void **result) {
  (void)result;
  struct pc *st = arg;
  cio_task *p[2], *c[2];
  for (int i = 0; i < 2; i++) {
    TRY(test_spawn(&p[i], producer, st));
    TRY(test_spawn(&c[i], consumer, st));
  }
  for (int i = 0; i < 2; i++)
    TRY(cio_task_await(p[i], NULL));
  if (!test_cancel_injected())
    TRY(cio_queue_join(st->q)); /* a cancelled consumer may leave items */
  CHECK_EQ(cio_queue_shutdown(st->q, false), 0);
  for (int i = 0; i < 2; i++)
    TRY(cio_task_await(c[i], NULL));
  return 0;
}

SCENARIO(queue_producers_consumers) {
  struct pc st = {0};
  CHECK_EQ(cio_queue_new(&st.q, 2), 0);
  CHECK_OUTCOME(test_run_virtual(main_queue, &st));
  CHECK_EQ(st.put, st.got + (long)cio_queue_qsize(st.q));
  CHECK_EQ(st.got, st.done);
  if (!test_cancel_injected())
    CHECK_EQ(st.got, 8);
  cio_queue_free(st.q);
}
