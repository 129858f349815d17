/* as_completed, after CPython 3.13's _AsCompletedIterator: each future is
 * handed back (the original object) in the order it finished.  When the
 * overall timeout passes, what already finished is still handed back,
 * then every further call reports CIO_ETIMEDOUT; nothing is cancelled. */
#include "internal.h"

struct cio_as_completed {
  cio_loop *loop;
  struct cio__list waiter; /* the task waiting in _next, if any */
  struct cio__timer timer;
  struct cio__list finished; /* links of finished futures, in order */
  size_t remaining;          /* not yet handed back */
  bool timed_out;
  size_t n;
  struct cio__link links[];
};

static size_t ac_awaits(const void *obj, cio_future **out, size_t cap) {
  const cio_as_completed *ac = obj;
  return cio__links_pending(ac->links, ac->n, out, cap);
}

static const struct cio__wait_kind ac_kind = {.what = "as_completed",
                                              .awaits = ac_awaits};

static void wake_parked(cio_as_completed *ac) {
  cio__wait_wake_first(&ac->waiter, 0);
}

static void on_finished(struct cio__callback *cb) {
  struct cio__link *l = cio__container_of(cb, struct cio__link, cb);
  cio_as_completed *ac = l->owner;
  /* Re-use the link's node for the finished queue; it ran, so it is free. */
  cio__list_push_back(&ac->finished, &l->cb.node);
  cio__link_done(l);
  wake_parked(ac);
}

/* CPython's _handle_timeout removes the done callbacks: what finishes
 * later is never handed back. */
static void on_timeout(struct cio__callback *cb) {
  cio_as_completed *ac = cio__container_of(cb, cio_as_completed, timer.cb);
  ac->timed_out = true;
  for (size_t i = 0; i < ac->n; i++)
    if (cio__list_linked(&ac->links[i].cb.node) &&
        ac->links[i].f->state == CIO__FUT_PENDING)
      cio__link_detach(&ac->links[i]);
  wake_parked(ac);
}

static bool seen_before(cio_future *const *futs, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (futs[j] == futs[i])
      return true;
  return false;
}

int cio_as_completed_new(cio_as_completed **out, cio_future *const *futs,
                         size_t n, double timeout) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (isnan(timeout))
    return CIO_EINVAL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  cio_loop *loop = self->fut.loop;
  if (cio__futures_check(futs, n, loop) < 0)
    return CIO_EINVAL;
  cio_as_completed *ac =
      cio__malloc(loop, sizeof *ac + n * sizeof(struct cio__link));
  if (ac == NULL)
    return CIO_ENOMEM;
  *ac = (cio_as_completed){.loop = loop, .n = n};
  cio__list_init(&ac->finished);
  cio__list_init(&ac->waiter);
  cio__list_init(&ac->timer.cb.node);
  for (size_t i = 0; i < n; i++) {
    cio__list_init(&ac->links[i].cb.node);
    ac->links[i].f = futs[i];
    if (seen_before(futs, i))
      continue; /* duplicates collapse into one */
    ac->remaining++;
    cio__link_attach(&ac->links[i], futs[i], on_finished, ac, i);
  }
  if (timeout != CIO_NO_TIMEOUT)
    cio__timer_start(loop, &ac->timer, cio__deadline_after(loop, timeout),
                     on_timeout);
  *out = ac;
  return 0;
}

int cio_as_completed_next(cio_as_completed *ac, cio_future **next) {
  if (next != NULL)
    *next = NULL;
  if (ac == NULL || next == NULL)
    return CIO_EINVAL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  for (;;) {
    struct cio__list *n = cio__list_pop_front(&ac->finished);
    if (n != NULL) {
      struct cio__link *l = cio__container_of(n, struct cio__link, cb.node);
      ac->remaining--;
      *next = l->f;
      return 1;
    }
    if (ac->remaining == 0)
      return 0;
    if (ac->timed_out)
      return CIO_ETIMEDOUT;
    if (!cio__list_empty(&ac->waiter))
      return CIO_EBUSY; /* another task is already waiting here */
    struct cio__wait w;
    cio__wait_init(&w, self, 0);
    cio__wait_about(&w, &ac_kind, ac);
    rc = cio__wait_on(&ac->waiter, &w);
    if (rc < 0)
      return rc;
  }
}

void cio_as_completed_free(cio_as_completed *ac) {
  if (ac == NULL)
    return;
  cio__timer_stop(ac->loop, &ac->timer);
  struct cio__list *n;
  while ((n = cio__list_pop_front(&ac->finished)) != NULL)
    ; /* their references were dropped when they ran */
  for (size_t i = 0; i < ac->n; i++)
    cio__link_detach(&ac->links[i]);
  cio__free(ac->loop, ac);
}
