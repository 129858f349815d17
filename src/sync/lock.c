/* asyncio.Lock (Lib/asyncio/locks.py): not owned, FIFO, no barging.
 *
 *   unlocked -> locked     cio_lock_acquire(): fast path, or its waiter ran
 *   locked   -> unlocked   cio_lock_release(), which wakes the first waiter
 *                          without handing the lock over
 *
 * (1) The fast path is taken only when the lock is free and every waiter
 *     is CANCELLED: a woken waiter that has not run yet keeps its turn.
 * (2) While the lock is free and a waiter is not CANCELLED, the first
 *     waiter is WOKEN or about to be (a cancelled acquire that leaves the
 *     lock free wakes the next one: _wake_up_first after CancelledError).
 */
#include "sync/sync.h"

void cio__lock_init(struct cio_lock *l) {
  l->loop = NULL;
  cio__list_init(&l->waiters);
  l->locked = false;
}

int cio_lock_new(cio_lock **out) {
  if (out == NULL)
    return CIO_EINVAL;
  cio_loop *loop = cio__sync_alloc_loop();
  cio_lock *l = cio__malloc(loop, sizeof *l);
  *out = l;
  if (l == NULL)
    return CIO_ENOMEM;
  cio__lock_init(l);
  l->loop = loop;
  return 0;
}

void cio_lock_free(cio_lock *l) {
  if (l == NULL)
    return;
  CIO_ASSERT(cio__list_empty(&l->waiters));
  cio__free(l->loop, l);
}

bool cio_lock_is_locked(const cio_lock *l) {
  return l != NULL && l->locked;
}

/* Make sure the first waiter will run; one already woken will. */
static void wake_up_first(cio_lock *l) {
  if (cio__list_empty(&l->waiters))
    return;
  struct cio__wait *w = cio__wait_of(l->waiters.next);
  if (w->state == CIO__WAIT_WAITING)
    cio__wait_wake(w, 0);
}

static void lock_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const cio_lock *l = obj;
  cio__text_printf(out, "lock %p (%s, %zu waiting)", obj,
                   l->locked ? "locked" : "free", cio__wait_count(&l->waiters));
}

static const struct cio__wait_kind acquire_kind = {.what = "lock acquire",
                                                   .describe = lock_describe};

int cio_lock_acquire(cio_lock *l) {
  if (l == NULL)
    return CIO_EINVAL;
  if (!l->locked && cio__wait_all_cancelled(&l->waiters)) {
    l->locked = true;
    return 0;
  }
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct cio__wait w;
  cio__wait_init(&w, self, CIO__WAIT_STAY_LINKED);
  cio__wait_about(&w, &acquire_kind, l);
  rc = cio__wait_on(&l->waiters, &w);
  if (rc < 0) {
    /* Woken and cancelled before running, or cancelled while waiting with
     * the lock freed meanwhile: the turn goes to the next in line. */
    if (!l->locked)
      wake_up_first(l);
    return rc;
  }
  CIO_ASSERT(!l->locked);
  l->locked = true;
  return 0;
}

int cio_lock_release(cio_lock *l) {
  if (l == NULL)
    return CIO_EINVAL;
  if (!l->locked)
    return CIO_EPERM;
  l->locked = false;
  wake_up_first(l);
  return 0;
}
