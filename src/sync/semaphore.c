/* asyncio.Semaphore and BoundedSemaphore (Lib/asyncio/locks.py).
 *
 * release() hands its permit to the first waiter not yet woken (the value
 * is decremented on that waiter's behalf when it is woken).
 *
 * (1) value >= 0.
 * (2) A WOKEN waiter holds a permit until it runs; if it was cancelled in
 *     between it gives the permit back.
 * (3) After any acquire that waited returns, no waiter is left WAITING
 *     while value > 0 (the `finally` loop of acquire()).
 * (4) Bounded: value <= bound.
 */
#include <limits.h>

#include "sync/sync.h"

struct cio_semaphore {
  cio_loop *loop;
  struct cio__list waiters; /* cio__wait, FIFO */
  int value;
  int bound; /* INT_MAX for a plain semaphore */
};

static int sem_new(cio_semaphore **out, int value, int bound) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (value < 0)
    return CIO_EINVAL;
  cio_loop *loop = cio__sync_alloc_loop();
  cio_semaphore *s = cio__malloc(loop, sizeof *s);
  if (s == NULL)
    return CIO_ENOMEM;
  s->loop = loop;
  cio__list_init(&s->waiters);
  s->value = value;
  s->bound = bound;
  *out = s;
  return 0;
}

int cio_semaphore_new(cio_semaphore **out, int value) {
  return sem_new(out, value, INT_MAX);
}

int cio_bounded_semaphore_new(cio_semaphore **out, int value) {
  return sem_new(out, value, value);
}

void cio_semaphore_free(cio_semaphore *s) {
  if (s == NULL)
    return;
  CIO_ASSERT(cio__list_empty(&s->waiters));
  cio__free(s->loop, s);
}

int cio_semaphore_value(const cio_semaphore *s) {
  return s != NULL ? s->value : 0;
}

/* True when acquire() would wait: no permit, or someone queued first. */
bool cio_semaphore_is_locked(const cio_semaphore *s) {
  if (s == NULL)
    return false;
  return s->value == 0 || !cio__wait_all_cancelled(&s->waiters);
}

/* Hand up to `n` free permits to waiters not yet woken, in one pass. */
static void wake_up(cio_semaphore *s, int n) {
  s->value -= (int)cio__wait_wake_n(&s->waiters, (size_t)n, 0);
}

static void sem_describe(cio_loop *loop, const void *obj,
                         struct cio__text *out) {
  (void)loop;
  const cio_semaphore *s = obj;
  cio__text_printf(out, "semaphore %p (value %d, %zu waiting)", obj, s->value,
                   cio__wait_count(&s->waiters));
}

static const struct cio__wait_kind acquire_kind = {.what = "semaphore acquire",
                                                   .describe = sem_describe};

int cio_semaphore_acquire(cio_semaphore *s) {
  if (s == NULL)
    return CIO_EINVAL;
  if (!cio_semaphore_is_locked(s)) {
    s->value--;
    return 0;
  }
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct cio__wait w;
  cio__wait_init(&w, self, CIO__WAIT_STAY_LINKED);
  cio__wait_about(&w, &acquire_kind, s);
  rc = cio__wait_on(&s->waiters, &w);
  if (rc < 0 && w.state == CIO__WAIT_WOKEN)
    s->value++; /* given a permit but not taking it: give it back */
  /* Newcomers may have queued behind us (FIFO) while permits were free. */
  if (s->value > 0)
    wake_up(s, s->value);
  return rc;
}

int cio_semaphore_release(cio_semaphore *s) {
  if (s == NULL)
    return CIO_EINVAL;
  if (s->value >= s->bound)
    return CIO_EOVERFLOW;
  s->value++;
  wake_up(s, 1);
  return 0;
}
