/* asyncio.Condition (Lib/asyncio/locks.py) over a Lock, its own or the
 * caller's.
 *
 * wait() releases the lock, parks until notified, then re-acquires the
 * lock whatever happened, cancellation included; a cancellation surfaces
 * only once the lock is held again.  A wait that ends with an error may
 * have been notified, so it passes one notification on (CPython's
 * `except BaseException: self._notify(1)`): no wake-up is lost, at the
 * price of an allowed spurious one.
 */
#include "sync/sync.h"

void cio__condition_init(struct cio_condition *c, struct cio_lock *lock) {
  c->loop = NULL;
  cio__lock_init(&c->own_lock);
  c->lock = lock != NULL ? lock : &c->own_lock;
  cio__list_init(&c->waiters);
}

int cio_condition_new(cio_condition **out, cio_lock *lock) {
  if (out == NULL)
    return CIO_EINVAL;
  cio_loop *loop = cio__sync_alloc_loop();
  cio_condition *c = cio__malloc(loop, sizeof *c);
  *out = c;
  if (c == NULL)
    return CIO_ENOMEM;
  cio__condition_init(c, lock);
  c->loop = loop;
  return 0;
}

void cio_condition_free(cio_condition *c) {
  if (c == NULL)
    return;
  CIO_ASSERT(cio__list_empty(&c->waiters));
  CIO_ASSERT(cio__list_empty(&c->own_lock.waiters));
  cio__free(c->loop, c);
}

cio_lock *cio_condition_lock(cio_condition *c) {
  return c != NULL ? c->lock : NULL;
}

int cio_condition_acquire(cio_condition *c) {
  return c != NULL ? cio_lock_acquire(c->lock) : CIO_EINVAL;
}

int cio_condition_release(cio_condition *c) {
  return c != NULL ? cio_lock_release(c->lock) : CIO_EINVAL;
}

bool cio_condition_is_locked(const cio_condition *c) {
  return c != NULL && c->lock->locked;
}

/* Wake up to `n` waiters not yet woken, oldest first. */
static void notify_n(cio_condition *c, size_t n) {
  cio__wait_wake_n(&c->waiters, n, 0);
}

static void cond_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const cio_condition *c = obj;
  cio__text_printf(out, "condition %p (%zu waiting)", obj,
                   cio__wait_count(&c->waiters));
}

static const struct cio__wait_kind wait_kind = {.what = "condition wait",
                                                .describe = cond_describe};

int cio_condition_wait(cio_condition *c) {
  if (c == NULL)
    return CIO_EINVAL;
  if (!c->lock->locked)
    return CIO_EPERM;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  cio_lock_release(c->lock);
  struct cio__wait w;
  cio__wait_init(&w, self, CIO__WAIT_STAY_LINKED);
  cio__wait_about(&w, &wait_kind, c);
  int err = cio__wait_on(&c->waiters, &w);
  /* Must re-acquire even if cancelled; a cancellation while re-acquiring
   * is remembered and the acquire retried, as locks.py does. */
  while ((rc = cio_lock_acquire(c->lock)) != 0) {
    CIO_ASSERT(rc == CIO_ECANCELED);
    err = rc;
  }
  if (err < 0) {
    notify_n(c, 1);
    return err;
  }
  return 0;
}

int cio_condition_wait_for(cio_condition *c, bool (*pred)(void *arg),
                           void *arg) {
  if (c == NULL || pred == NULL)
    return CIO_EINVAL;
  while (!pred(arg)) {
    int rc = cio_condition_wait(c);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int cio_condition_notify(cio_condition *c, size_t n) {
  if (c == NULL)
    return CIO_EINVAL;
  if (!c->lock->locked)
    return CIO_EPERM;
  notify_n(c, n);
  return 0;
}

int cio_condition_notify_all(cio_condition *c) {
  return cio_condition_notify(c, SIZE_MAX);
}
