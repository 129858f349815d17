/* asyncio.Barrier (Lib/asyncio/locks.py, 3.11), built as CPython builds
 * it: on a Condition, so that waiters leave one at a time, each
 * re-acquiring the condition's lock.
 *
 *   FILLING   -> DRAINING   the parties-th task arrives     cio_barrier_wait
 *   DRAINING  -> FILLING    the last waiter left            barrier_exit
 *   FILLING   -> RESETTING  reset() with tasks inside       cio_barrier_reset
 *   RESETTING -> FILLING    the last waiter left            barrier_exit
 *   any       -> BROKEN     abort()                         cio_barrier_abort
 *   BROKEN    -> FILLING    reset() with no task inside     cio_barrier_reset
 *
 * (1) count is the number of tasks between taking an index and leaving.
 * (2) A task arriving while DRAINING or RESETTING waits for FILLING.
 */
#include "sync/sync.h"

enum barrier_state { FILLING, DRAINING, RESETTING, BROKEN };

struct cio_barrier {
  cio_loop *loop;
  struct cio_condition cond;
  int parties;
  int state; /* barrier_state */
  int count;
};

int cio_barrier_new(cio_barrier **out, int parties) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (parties < 1)
    return CIO_EINVAL;
  cio_loop *loop = cio__sync_alloc_loop();
  cio_barrier *b = cio__malloc(loop, sizeof *b);
  if (b == NULL)
    return CIO_ENOMEM;
  b->loop = loop;
  cio__condition_init(&b->cond, NULL);
  b->parties = parties;
  b->state = FILLING;
  b->count = 0;
  *out = b;
  return 0;
}

void cio_barrier_free(cio_barrier *b) {
  if (b == NULL)
    return;
  CIO_ASSERT(cio__list_empty(&b->cond.waiters));
  CIO_ASSERT(cio__list_empty(&b->cond.own_lock.waiters));
  cio__free(b->loop, b);
}

static bool not_draining(void *arg) {
  cio_barrier *b = arg;
  return b->state != DRAINING && b->state != RESETTING;
}

static bool not_filling(void *arg) {
  cio_barrier *b = arg;
  return b->state != FILLING;
}

/* Wait while the barrier drains or resets; fail if it is broken. */
static int barrier_block(cio_barrier *b) {
  int rc = cio_condition_wait_for(&b->cond, not_draining, b);
  if (rc < 0)
    return rc;
  return b->state == BROKEN ? CIO_ENOTRECOVERABLE : 0;
}

/* Wait until released; fail if reset or aborted meanwhile. */
static int barrier_wait_released(cio_barrier *b) {
  int rc = cio_condition_wait_for(&b->cond, not_filling, b);
  if (rc < 0)
    return rc;
  if (b->state == BROKEN || b->state == RESETTING)
    return CIO_ENOTRECOVERABLE;
  return 0;
}

/* The last task out lets the tasks blocked at the door in. */
static void barrier_exit(cio_barrier *b) {
  if (b->count != 0)
    return;
  if (b->state == RESETTING || b->state == DRAINING)
    b->state = FILLING;
  cio_condition_notify_all(&b->cond);
}

int cio_barrier_wait(cio_barrier *b, int *index) {
  if (index != NULL)
    *index = -1;
  if (b == NULL)
    return CIO_EINVAL;
  int rc;
  if (cio__task_for_suspend(&rc) == NULL)
    return rc;
  rc = cio_condition_acquire(&b->cond);
  if (rc < 0)
    return rc;
  rc = barrier_block(b);
  if (rc == 0) {
    int i = b->count++;
    if (i + 1 == b->parties) {
      b->state = DRAINING;
      cio_condition_notify_all(&b->cond);
    } else {
      rc = barrier_wait_released(b);
    }
    b->count--;
    barrier_exit(b);
    if (rc == 0 && index != NULL)
      *index = i;
  }
  cio_condition_release(&b->cond);
  return rc;
}

int cio_barrier_reset(cio_barrier *b) {
  if (b == NULL)
    return CIO_EINVAL;
  int rc;
  if (cio__task_for_suspend(&rc) == NULL)
    return rc;
  rc = cio_condition_acquire(&b->cond);
  if (rc < 0)
    return rc;
  if (b->count > 0)
    b->state = RESETTING;
  else
    b->state = FILLING;
  cio_condition_notify_all(&b->cond);
  cio_condition_release(&b->cond);
  return 0;
}

int cio_barrier_abort(cio_barrier *b) {
  if (b == NULL)
    return CIO_EINVAL;
  int rc;
  if (cio__task_for_suspend(&rc) == NULL)
    return rc;
  rc = cio_condition_acquire(&b->cond);
  if (rc < 0)
    return rc;
  b->state = BROKEN;
  cio_condition_notify_all(&b->cond);
  cio_condition_release(&b->cond);
  return 0;
}

int cio_barrier_parties(const cio_barrier *b) {
  return b != NULL ? b->parties : 0;
}

int cio_barrier_n_waiting(const cio_barrier *b) {
  return b != NULL && b->state == FILLING ? b->count : 0;
}

bool cio_barrier_is_broken(const cio_barrier *b) {
  return b != NULL && b->state == BROKEN;
}
