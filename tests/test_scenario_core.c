/* Scenarios for the cancellation sweep (`make test-cancel`): tasks,
 * futures, sleeps, await chains, shield, uncancel.  The law: every task
 * ends, and every heap result a task returns is taken by whoever awaits
 * it or given to the task's dispose function, exactly once. */
#include <stdatomic.h>

#include "casyncio.h"
#include "test.h"

/* Heap results: made by the tasks, freed by the reader or by dispose. */
static atomic_long results_live, results_made;

static void *result_new(int value) {
  int *p = malloc(sizeof *p);
  CHECK(p != NULL);
  *p = value;
  atomic_fetch_add(&results_live, 1);
  atomic_fetch_add(&results_made, 1);
  return p;
}

static void result_free(void *p) {
  if (p != NULL) {
    atomic_fetch_sub(&results_live, 1);
    free(p);
  }
}

static void dispose_result(void *arg, void *result, int status) {
  (void)arg;
  (void)status;
  result_free(result);
}

static int spawn_owned(cio_task **t, cio_task_fn fn, void *arg) {
  cio_task_opts o = {.dispose = dispose_result};
  int rc = cio_create_task(NULL, t, fn, arg, &o);
  DEFER(*t);
  return rc;
}

static void check_results_law(void) {
  CHECK_EQ(atomic_load(&results_live), 0);
}

/* ---- an await chain with heap results ------------------------------- */

static int leaf(void *arg, void **result) {
  int rc = cio_sleep(0.01 * (double)(intptr_t)arg);
  if (rc < 0)
    return rc;
  *result = result_new((int)(intptr_t)arg);
  return 0;
}

static int middle(void *arg, void **result) {
  (void)arg;
  cio_task *a, *b;
  int rc = spawn_owned(&a, leaf, (void *)(intptr_t)1);
  if (rc == 0)
    rc = spawn_owned(&b, leaf, (void *)(intptr_t)2);
  if (rc < 0)
    return rc;
  void *ra = NULL, *rb = NULL;
  rc = cio_task_await(a, &ra);
  if (rc == 0)
    rc = cio_task_await(b, &rb);
  int sum = (ra ? *(int *)ra : 0) + (rb ? *(int *)rb : 0);
  result_free(ra);
  result_free(rb);
  if (rc < 0)
    return rc; /* b, if not awaited, is cancelled by the run's end */
  *result = result_new(sum);
  return 0;
}

static int main_chain(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *m1, *m2;
  TRY(spawn_owned(&m1, middle, NULL));
  TRY(spawn_owned(&m2, middle, NULL));
  void *r = NULL;
  TRY(cio_task_await(m1, &r));
  CHECK_EQ(*(int *)r, 3);
  result_free(r);
  TRY(cio_sleep(0));
  TRY(cio_task_await(m2, &r));
  CHECK_EQ(*(int *)r, 3);
  result_free(r);
  return 0;
}

SCENARIO(await_chain_heap_results) {
  CHECK_OUTCOME(test_run_virtual(main_chain, NULL));
  check_results_law();
  if (!test_cancel_injected())
    CHECK_EQ(atomic_load(&results_made), 6);
}

/* ---- futures set by callbacks and tasks ----------------------------- */

static void set_later(void *arg) {
  cio_future *f = arg;
  if (!cio_future_is_done(f))
    CHECK_EQ(cio_future_set_result(f, (void *)(intptr_t)7), 0);
}

/* Whoever sets a future and cannot cancels it, so no one waits for ever
 * (what a careful asyncio program does in `finally`). */
static int setter(void *arg, void **result) {
  (void)result;
  int rc = cio_sleep(0.02);
  if (rc == 0 && !cio_future_is_done(arg))
    CHECK_EQ(cio_future_set_result(arg, (void *)(intptr_t)9), 0);
  if (rc < 0)
    cio_future_cancel(arg);
  return rc;
}

static int awaiter(void *arg, void **result) {
  void *v = NULL;
  int rc = cio_await(arg, &v);
  *result = v;
  return rc;
}

static int main_futures(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f1, *f2;
  TRY(cio_future_new(NULL, &f1));
  DEFER(f1);
  TRY(cio_future_new(NULL, &f2));
  DEFER(f2);
  cio_handle *h;
  TRY(cio_loop_call_later(NULL, 0.01, set_later, f1, &h));
  DEFER(h);
  cio_task *s, *w;
  TRY(test_spawn(&s, setter, f2));
  TRY(test_spawn(&w, awaiter, f2));
  void *v;
  TRY(cio_await(f1, &v));
  CHECK_EQ((intptr_t)v, 7);
  TRY(cio_task_await(w, &v));
  CHECK_EQ((intptr_t)v, 9);
  TRY(cio_task_await(s, NULL));
  return 0;
}

SCENARIO(futures_set_by_callbacks_and_tasks) {
  CHECK_OUTCOME(test_run_virtual(main_futures, NULL));
}

/* ---- shield: the inner task always runs to its end ------------------ */

static int shielded_work(void *arg, void **result) {
  int *done = arg;
  int rc = cio_sleep(0.03);
  if (rc < 0)
    return rc;
  (*done)++;
  *result = result_new(1);
  return 0;
}

static int shielder(void *arg, void **result) {
  (void)result;
  cio_task *inner;
  int rc = spawn_owned(&inner, shielded_work, arg);
  if (rc < 0)
    return rc;
  void *r = NULL;
  rc = cio_shield(cio_task_future(inner), &r);
  result_free(r); /* taken when the shield returned the outcome */
  if (rc == CIO_ECANCELED && !cio_task_is_done(inner)) {
    /* The inner task goes on: wait for it, shielded again. */
    int rc2;
    do {
      rc2 = cio_shield(cio_task_future(inner), &r);
    } while (rc2 == CIO_ECANCELED && !cio_task_is_done(inner));
    if (rc2 == 0)
      result_free(r);
  }
  return rc;
}

static int main_shield(void *arg, void **result) {
  (void)result;
  cio_task *t;
  TRY(test_spawn(&t, shielder, arg));
  TRY(cio_sleep(0.01));
  /* Done already only if a cancellation injected into the inner task
   * ended it (and so the shield). */
  int made = cio_task_cancel(t);
  CHECK(made == 1 || (made == 0 && test_cancel_injected()));
  CHECK_EQ(cio_task_await(t, NULL), CIO_ECANCELED);
  return 0;
}

SCENARIO(shield_keeps_inner_running) {
  int done = 0;
  CHECK_OUTCOME(test_run_virtual(main_shield, &done));
  check_results_law();
  /* Only a cancellation injected into the inner task itself stops it. */
  if (!test_cancel_injected())
    CHECK_EQ(done, 1);
}

/* ---- uncancel: a task that handles its cancellation goes on --------- */

static int stubborn(void *arg, void **result) {
  (void)arg;
  int handled = 0;
  for (int i = 0; i < 3; i++) {
    int rc = cio_sleep(0.01);
    if (rc == CIO_ECANCELED && handled == 0) {
      handled++;
      cio_task_uncancel(cio_current_task());
      continue;
    }
    if (rc < 0)
      return rc;
  }
  *result = result_new(handled);
  return 0;
}

static int main_uncancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(spawn_owned(&t, stubborn, NULL));
  TRY(cio_sleep(0.015));
  cio_task_cancel(t);
  void *r = NULL;
  int rc = cio_task_await(t, &r);
  result_free(r);
  TRY_EQ(rc == CIO_ECANCELED ? 0 : rc, 0);
  return 0;
}

SCENARIO(uncancel_and_go_on) {
  CHECK_OUTCOME(test_run_virtual(main_uncancel, NULL));
  check_results_law();
}
