/* wait, after CPython's tasks._wait: links on every future count
 * completions; the caller wakes on the first, the first error, or the
 * last, or when the timeout passes.  Nothing is ever cancelled, and the
 * outcome is read when the caller resumes. */
#include "internal.h"

struct waiter_set {
  struct cio__wait wait; /* the caller's */
  struct cio__timer timer;
  size_t remaining;
  size_t n;
  int return_when;
  struct cio__link links[];
};

static size_t wait_awaits(const void *obj, cio_future **out, size_t cap) {
  const struct waiter_set *w = obj;
  return cio__links_pending(w->links, w->n, out, cap);
}

static const struct cio__wait_kind wait_kind = {.what = "wait",
                                                .awaits = wait_awaits};

static void wake_once(struct waiter_set *w) {
  cio__wait_try_wake(&w->wait, 0);
}

static void on_completion(struct cio__callback *cb) {
  struct cio__link *l = cio__container_of(cb, struct cio__link, cb);
  struct waiter_set *w = l->owner;
  cio_future *f = l->f;
  w->remaining--;
  /* Reading the error here marks it retrieved, as f.exception() does. */
  bool failed = f->state == CIO__FUT_ERROR && cio_future_error(f) < 0;
  if (w->remaining == 0 || w->return_when == CIO_FIRST_COMPLETED ||
      (w->return_when == CIO_FIRST_EXCEPTION && failed))
    wake_once(w);
  cio__link_done(l);
}

static void on_timeout(struct cio__callback *cb) {
  wake_once(cio__container_of(cb, struct waiter_set, timer.cb));
}

int cio_wait(cio_future *const *futs, size_t n, double timeout, int return_when,
             bool *done, size_t *ndone) {
  if (ndone != NULL)
    *ndone = 0;
  if (futs == NULL || n == 0 || done == NULL || isnan(timeout) ||
      return_when < CIO_ALL_COMPLETED || return_when > CIO_FIRST_EXCEPTION)
    return CIO_EINVAL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  cio_loop *loop = self->fut.loop;
  if (cio__futures_check(futs, n, loop) < 0)
    return CIO_EINVAL;
  struct waiter_set *w =
      cio__malloc(loop, sizeof *w + n * sizeof(struct cio__link));
  if (w == NULL)
    return CIO_ENOMEM;
  *w = (struct waiter_set){.remaining = n, .n = n, .return_when = return_when};
  cio__wait_init(&w->wait, self, 0);
  cio__wait_about(&w->wait, &wait_kind, w);
  cio__list_init(&w->timer.cb.node);
  if (timeout != CIO_NO_TIMEOUT)
    cio__timer_start(loop, &w->timer, cio__deadline_after(loop, timeout),
                     on_timeout);
  for (size_t i = 0; i < n; i++)
    cio__link_attach(&w->links[i], futs[i], on_completion, w, i);
  rc = cio__wait_park(&w->wait);
  cio__timer_stop(loop, &w->timer);
  for (size_t i = 0; i < n; i++)
    cio__link_detach(&w->links[i]);
  cio__free(loop, w);
  if (rc < 0)
    return rc;
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    done[i] = futs[i]->state != CIO__FUT_PENDING;
    count += done[i];
  }
  if (ndone != NULL)
    *ndone = count;
  return 0;
}
