/* Test hook: cancellation injected at a chosen suspension point.
 *
 * The test runner (tests/runner.c, CIO_TEST_CANCEL) reruns a scenario
 * cancelling one task at its 1st, 2nd, ... suspension, as trio's
 * checkpoint tests do, to prove that every suspending call cleans up
 * after a cancellation arriving exactly there.  Every suspension goes
 * through the wait kernel (cio__task_park_on) or a yield
 * (cio__task_yield), which call the functions below when armed.
 *
 * The target is the `task`-th task created since arming (1: the first,
 * the main task of a test run) and its `n`-th suspension.  The cancel
 * lands in one of two phases:
 *   PARK  as the task parks: cio_task_cancel() on the running task just
 *         before it suspends, so the cancellation is aimed at the new
 *         wait at once (the path a cancel of a WAITING task takes);
 *   WAKE  once that wait was woken (by what it waited for) and before the
 *         task resumes: the race of a cancel arriving after the lock was
 *         handed over, the item taken, the executor job finished.
 * A yield has no wait to wake; it is injected in the PARK phase only.
 *
 * Like the allocation hooks (alloc.c) the state is process-wide atomics;
 * disarmed, a suspension pays one relaxed load (cio__inject_armed). */
#include "internal.h"

atomic_bool cio__inject_on;

static atomic_uint_fast64_t base_id;  /* task ids issued before arming */
static atomic_uint_fast64_t target;   /* task ordinal since arming */
static atomic_long at;                /* the suspension to cancel, 1-based */
static atomic_int phase;              /* CIO__INJECT_PARK or _WAKE */
static atomic_long seen;              /* suspensions of the target */
static atomic_long injected;          /* cancellations injected */
static struct cio__wait *armed_wait;  /* WAKE: the wait to watch */

void cio__test_inject_cancel(uint64_t task, long n, int when) {
  atomic_store(&cio__inject_on, false);
  atomic_store(&seen, 0);
  atomic_store(&injected, 0);
  armed_wait = NULL;
  atomic_store(&base_id, cio__task_ids_issued());
  atomic_store(&target, task);
  atomic_store(&at, n);
  atomic_store(&phase, when);
  atomic_store(&cio__inject_on, task > 0 && n > 0);
}

long cio__test_inject_seen(void) {
  return atomic_load(&seen);
}

long cio__test_inject_count(void) {
  return atomic_load(&injected);
}

uint64_t cio__test_inject_tasks(void) {
  return cio__task_ids_issued() - atomic_load(&base_id);
}

static bool is_target(const cio_task *t) {
  return t->id - atomic_load(&base_id) == atomic_load(&target);
}

static void inject(cio_task *t) {
  atomic_fetch_add(&injected, 1);
  cio__task_cancel_msg(t, NULL);
}

/* `t` is about to park on `w` (NULL: a yield); it is still RUNNING. */
void cio__inject_park(cio_task *t, struct cio__wait *w) {
  if (!is_target(t))
    return;
  long n = atomic_fetch_add(&seen, 1) + 1;
  if (n != atomic_load(&at))
    return;
  if (atomic_load(&phase) == CIO__INJECT_PARK)
    inject(t);
  else if (w != NULL)
    armed_wait = w;
}

/* `t` was made ready; `w` is the wait it was parked on. */
void cio__inject_ready(cio_task *t, struct cio__wait *w) {
  if (w == NULL || w != armed_wait || !is_target(t))
    return;
  armed_wait = NULL;
  if (w->state == CIO__WAIT_WOKEN)
    inject(t);
}
