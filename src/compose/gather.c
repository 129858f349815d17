/* gather, after CPython's tasks.gather and _GatheringFuture.
 *
 * The caller parks while links on every child count completions.  Default
 * mode finishes at the first error; collecting mode when all are done.
 * Cancelling the caller cancels the children; the call then waits for all
 * of them and reports CIO_ECANCELED (even in collecting mode).
 * (1) `finished` is set once; the caller is woken exactly then. */
#include "internal.h"

struct gather {
  struct cio__wait wait; /* the caller's, parked until `finished` */
  size_t n, done;
  int first_error;
  cio_future *first_failed; /* whose error (or cancellation) ends it */
  bool return_exceptions;
  bool finished;
  bool cancel_requested;
  struct cio__link links[];
};

static void finish(struct gather *g) {
  g->finished = true;
  cio__wait_try_wake(&g->wait, 0);
}

static void on_child_done(struct cio__callback *cb) {
  struct cio__link *l = cio__container_of(cb, struct cio__link, cb);
  struct gather *g = l->owner;
  cio_future *f = l->f;
  g->done++;
  if (!g->finished) {
    if (!g->return_exceptions && f->state != CIO__FUT_RESULT) {
      g->first_error = cio__future_outcome(f, NULL);
      g->first_failed = f;
      finish(g);
    } else if (g->done == g->n) {
      finish(g);
    }
  }
  cio__link_done(l);
}

static size_t gather_awaits(const void *obj, cio_future **out, size_t cap) {
  const struct gather *g = obj;
  return cio__links_pending(g->links, g->n, out, cap);
}

static const struct cio__wait_kind gather_kind = {.what = "gather",
                                                  .awaits = gather_awaits};

/* Cancelling the caller cancels the children (_GatheringFuture.cancel);
 * the caller is woken when they finish.  If none took it (their results
 * are about to be counted), CIO_ECANCELED comes when gather finishes. */
static bool gather_interrupt(struct cio__wait *w) {
  struct gather *g = cio__container_of(w, struct gather, wait);
  CIO_ASSERT(!g->finished);
  bool any = false;
  for (size_t i = 0; i < g->n; i++)
    if (cio__future_cancel_msg(g->links[i].f, w->task->cancel_request) == 1)
      any = true;
  if (any)
    g->cancel_requested = true;
  return any;
}

static void collect(cio_future *const *futs, size_t n, void **results,
                    int *errors) {
  for (size_t i = 0; i < n; i++) {
    void *r = NULL;
    int rc = cio__future_outcome(futs[i], results != NULL ? &r : NULL);
    if (results != NULL)
      results[i] = r;
    if (errors != NULL)
      errors[i] = rc;
  }
}

/* Children already done count at once, as 3.12's gather calls its done
 * callback directly for them: a done failure ends a default-mode gather
 * without suspending. */
static void count_done(struct gather *g, cio_future *const *futs) {
  for (size_t i = 0; i < g->n; i++) {
    g->links[i].f = futs[i];
    cio__list_init(&g->links[i].cb.node); /* inert until attached */
  }
  for (size_t i = 0; i < g->n && !g->finished; i++) {
    cio_future *f = futs[i];
    if (f->state == CIO__FUT_PENDING)
      continue;
    g->done++;
    if (!g->return_exceptions && f->state != CIO__FUT_RESULT) {
      g->first_error = cio__future_outcome(f, NULL);
      g->first_failed = f;
      g->finished = true;
    }
  }
  if (g->done == g->n)
    g->finished = true;
}

int cio_gather(cio_future *const *futs, size_t n, void **results, int *errors,
               bool return_exceptions) {
  if (return_exceptions && errors == NULL)
    return CIO_EINVAL;
  cio_loop *loop = cio__loop_current();
  if (n == 0)
    return 0;
  if (loop == NULL)
    return CIO_EPERM;
  if (cio__futures_check(futs, n, loop) < 0)
    return CIO_EINVAL;
  struct gather *g =
      cio__malloc(loop, sizeof *g + n * sizeof(struct cio__link));
  if (g == NULL)
    return CIO_ENOMEM;
  *g = (struct gather){.n = n, .return_exceptions = return_exceptions};
  count_done(g, futs);
  int rc = 0;
  if (!g->finished) {
    cio_task *self = cio__task_for_suspend(&rc);
    if (self == NULL)
      goto out;
    cio__wait_init(&g->wait, self, 0);
    cio__wait_about(&g->wait, &gather_kind, g);
    g->wait.interrupt = gather_interrupt;
    for (size_t i = 0; i < n; i++)
      if (futs[i]->state == CIO__FUT_PENDING)
        cio__link_attach(&g->links[i], futs[i], on_child_done, g, i);
  }
  while (!g->finished) {
    rc = cio__wait_park(&g->wait);
    if (rc < 0 && !g->finished)
      break; /* cancelled, and no child took the cancellation */
  }
  for (size_t i = 0; i < n; i++)
    cio__link_detach(&g->links[i]);
  /* A child's error wins over the caller's cancellation: CPython's
   * default-mode done callback sets it on the outer future at once, and
   * _cancel_requested only matters when every child succeeded. */
  if (rc == 0 && !return_exceptions && g->first_error != 0)
    rc = g->first_error;
  else if (rc == 0 && g->cancel_requested)
    rc = CIO_ECANCELED;
  if (rc == 0 || (return_exceptions && rc != CIO_ECANCELED))
    collect(futs, n, results, errors);
  /* The CancelledError gather raises is the child's (_make_cancelled_error
   * of the child that finished it), carrying its message. */
  cio_task *self = loop->current;
  if (rc == CIO_ECANCELED && self != NULL && g->first_failed != NULL &&
      g->first_error == CIO_ECANCELED)
    cio__task_received_cancel(self, g->first_failed->cancel_msg);
  else if (rc == CIO_ECANCELED && self != NULL && g->cancel_requested)
    cio__task_received_cancel(self, self->cancel_request);
out:
  cio__free(loop, g);
  return rc;
}

/* Mark a late child error as handled, as _GatheringFuture's callback does
 * for children finishing after the outer future. */
static void mark_retrieved(cio_future *f, void *arg) {
  (void)arg;
  (void)!cio_future_error(f);
}

int cio_gather_calls(const cio_call *calls, size_t n, void **results,
                     int *errors, bool return_exceptions) {
  if (n > 0 && calls == NULL)
    return CIO_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (calls[i].fn == NULL)
      return CIO_EINVAL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  cio_loop *loop = self->fut.loop;
  cio_future **futs = cio__calloc(loop, n ? n : 1, sizeof *futs);
  if (futs == NULL)
    return CIO_ENOMEM;
  size_t started = 0;
  for (; started < n; started++) {
    cio_task *t;
    rc = cio_create_task(loop, &t, calls[started].fn, calls[started].arg, NULL);
    if (rc < 0)
      break;
    futs[started] = cio_task_future(t);
  }
  if (started == n)
    rc = cio_gather(futs, n, results, errors, return_exceptions);
  for (size_t i = 0; i < started; i++) {
    if (!cio_future_is_done(futs[i])) {
      if (started < n)
        cio_future_cancel(futs[i]); /* could not start them all */
      /* Without memory for it, a late error is reported as unread. */
      (void)!cio_future_add_done_callback(futs[i], mark_retrieved, NULL);
    }
    cio_future_release(futs[i]);
  }
  cio__free(loop, futs);
  return rc;
}
