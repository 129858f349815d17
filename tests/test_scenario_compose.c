/* Scenarios for the cancellation sweep (`make test-cancel`): gather,
 * wait, as_completed, wait_for, timeout scopes and TaskGroup.  The law:
 * every child ends (nothing outlives its composition when the caller is
 * cancelled), and each child's heap result is taken by the composition's
 * caller or given to its dispose function, exactly once. */
#include <stdatomic.h>

#include "casyncio.h"
#include "test.h"

static atomic_long live; /* heap results not yet freed */

static void *result_new(intptr_t v) {
  intptr_t *p = malloc(sizeof *p);
  CHECK(p != NULL);
  *p = v;
  atomic_fetch_add(&live, 1);
  return p;
}

static void result_free(void *p) {
  if (p != NULL) {
    atomic_fetch_sub(&live, 1);
    free(p);
  }
}

static void dispose_result(void *arg, void *result, int status) {
  (void)arg;
  (void)status;
  result_free(result);
}

static const cio_task_opts owned = {.dispose = dispose_result};

/* Sleeps arg / 100 s, then returns a heap result. */
static int child(void *arg, void **result) {
  int rc = cio_sleep((double)(intptr_t)arg / 100);
  if (rc < 0)
    return rc;
  *result = result_new((intptr_t)arg);
  return 0;
}

static int spawn_children(cio_task **t, int n) {
  for (int i = 0; i < n; i++) {
    int rc = cio_create_task(NULL, &t[i], child, (void *)(intptr_t)(i + 1),
                             &owned);
    DEFER(t[i]);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static void check_law(void) {
  CHECK_EQ(atomic_load(&live), 0);
}

/* ---- gather ---------------------------------------------------------- */

static int main_gather(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t[3];
  TRY(spawn_children(t, 3));
  cio_future *f[3];
  for (int i = 0; i < 3; i++)
    f[i] = cio_task_future(t[i]);
  void *r[3] = {0};
  int rc = cio_gather(f, 3, r, NULL, false);
  for (int i = 0; i < 3; i++)
    result_free(r[i]); /* gather took the results it handed back */
  TRY(rc);
  /* Collecting mode over the same (done) children: outcomes again. */
  int e[3];
  TRY(cio_gather(f, 3, NULL, e, true));
  return 0;
}

SCENARIO(gather_children) {
  CHECK_OUTCOME(test_run_virtual(main_gather, NULL));
  check_law();
}

/* ---- gather_calls: children made by gather itself ------------------- */

static int leaf_int(void *arg, void **result) {
  int rc = cio_sleep((double)(intptr_t)arg / 100);
  *result = (void *)arg;
  return rc;
}

static int main_gather_calls(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_call calls[3] = {{leaf_int, (void *)1}, {leaf_int, (void *)2},
                       {leaf_int, (void *)3}};
  void *r[3];
  int e[3];
  TRY(cio_gather_calls(calls, 3, r, e, true));
  for (int i = 0; i < 3; i++)
    if (e[i] == 0)
      CHECK_EQ((intptr_t)r[i], i + 1);
    else
      CHECK(e[i] == CIO_ECANCELED && test_cancel_injected());
  return 0;
}

SCENARIO(gather_calls_collecting) {
  CHECK_OUTCOME(test_run_virtual(main_gather_calls, NULL));
}

/* ---- wait and as_completed: never cancel, never take ---------------- */

static int main_wait(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t[3];
  TRY(spawn_children(t, 3));
  cio_future *f[3];
  for (int i = 0; i < 3; i++)
    f[i] = cio_task_future(t[i]);
  bool done[3];
  size_t ndone;
  TRY(cio_wait(f, 3, CIO_NO_TIMEOUT, CIO_FIRST_COMPLETED, done, &ndone));
  CHECK(ndone >= 1);
  TRY(cio_wait(f, 3, 0.015, CIO_ALL_COMPLETED, done, &ndone));
  cio_as_completed *ac;
  TRY(cio_as_completed_new(&ac, f, 3, CIO_NO_TIMEOUT));
  DEFER(ac);
  cio_future *next;
  int rc;
  while ((rc = cio_as_completed_next(ac, &next)) == 1) {
    void *r = NULL;
    int st = cio_future_result(next, &r);
    result_free(r);
    CHECK(st == 0 || (st == CIO_ECANCELED && test_cancel_injected()));
  }
  TRY(rc);
  return 0;
}

SCENARIO(wait_and_as_completed) {
  CHECK_OUTCOME(test_run_virtual(main_wait, NULL));
  check_law();
}

/* ---- wait_for: a timeout that fires, one that does not -------------- */

static int main_wait_for(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t[2];
  TRY(spawn_children(t, 2));
  void *r = NULL;
  int rc = cio_wait_for(cio_task_future(t[0]), 0.5, &r);
  result_free(r);
  TRY(rc);
  r = NULL;
  rc = cio_wait_for(cio_task_future(t[1]), 0.005, &r);
  result_free(r);
  TRY_EQ(rc, CIO_ETIMEDOUT);
  CHECK(cio_task_is_cancelled(t[1]));
  return 0;
}

SCENARIO(wait_for_in_time_and_late) {
  CHECK_OUTCOME(test_run_virtual(main_wait_for, NULL));
  check_law();
}

/* ---- timeout scopes, nested ----------------------------------------- */

static int main_timeout(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_timeout outer, inner;
  TRY(cio_timeout_enter(&outer, 0.05));
  int rc = cio_timeout_enter(&inner, 0.01);
  if (rc == 0) {
    rc = cio_sleep(1);
    rc = cio_timeout_exit(&inner, rc);
    if (rc == CIO_ETIMEDOUT)
      rc = cio_sleep(0.01); /* the outer scope still runs */
  }
  rc = cio_timeout_exit(&outer, rc);
  TRY(rc);
  CHECK(!cio_timeout_expired(&outer));
  /* One that expires while the body waits in a gather. */
  cio_task *t[2];
  TRY(spawn_children(t, 2));
  cio_future *f[2] = {cio_task_future(t[0]), cio_task_future(t[1])};
  TRY(cio_timeout_enter(&outer, 0.015));
  void *r[2] = {0};
  rc = cio_gather(f, 2, r, NULL, false);
  result_free(r[0]);
  result_free(r[1]);
  rc = cio_timeout_exit(&outer, rc);
  TRY_EQ(rc, CIO_ETIMEDOUT);
  return 0;
}

SCENARIO(timeout_scopes) {
  CHECK_OUTCOME(test_run_virtual(main_timeout, NULL));
  check_law();
}

/* ---- TaskGroup -------------------------------------------------------- */

struct group {
  int bodies_done;
};

static int main_taskgroup(void *arg, void **result) {
  (void)result;
  struct group *g = arg;
  cio_taskgroup *tg;
  TRY(cio_taskgroup_enter(&tg));
  int rc = 0;
  for (int i = 1; i <= 3 && rc == 0; i++)
    rc = cio_taskgroup_create_task(tg, NULL, child, (void *)(intptr_t)i,
                                   &owned);
  if (rc == 0)
    rc = cio_sleep(0.015); /* the body works meanwhile */
  if (rc == 0)
    g->bodies_done++;
  rc = cio_taskgroup_exit(tg, rc);
  CHECK_EQ(cio_taskgroup_free(tg), 0); /* no child outlives the group */
  TRY(rc);
  return 0;
}

SCENARIO(taskgroup_children) {
  struct group g = {0};
  CHECK_OUTCOME(test_run_virtual(main_taskgroup, &g));
  check_law();
  if (!test_cancel_injected())
    CHECK_EQ(g.bodies_done, 1);
}
