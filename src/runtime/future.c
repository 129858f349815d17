/* Futures: a result slot with waiters and done-callbacks.
 *
 *   PENDING -> RESULT | ERROR | CANCELLED    cio__future_complete()
 *
 * (1) `callbacks` is empty once the future is done: completion moves every
 *     waiter and callback to the ready queue, in registration order, so
 *     nothing ever runs inside set_result/set_error/cancel (asyncio §1.3).
 * (2) A done-callback waiting in the ready queue holds a reference on its
 *     future; a waiter is covered by the reference cio_await() holds.
 */
#include "internal.h"

struct done_cb {
  struct cio__callback cb;
  cio_future *f;
  cio_done_fn fn;
  void *arg;
};

void cio__future_init(struct cio_future *f, cio_loop *loop, bool is_task) {
  f->loop = loop;
  f->state = CIO__FUT_PENDING;
  f->is_task = is_task;
  f->retrieved = true;
  f->refs = 1;
  f->error = 0;
  f->result = NULL;
  cio__list_init(&f->callbacks);
}

static void done_cb_run(struct cio__callback *self) {
  struct done_cb *d = cio__container_of(self, struct done_cb, cb);
  cio_future *f = d->f;
  d->fn(f, d->arg);
  cio__free(f->loop, d);
  cio_future_release(f);
}

bool cio__done_cb_try_drop(struct cio__callback *cb) {
  if (cb->run != done_cb_run)
    return false;
  struct done_cb *d = cio__container_of(cb, struct done_cb, cb);
  cio_future *f = d->f;
  cio__free(f->loop, d);
  cio_future_release(f);
  return true;
}

void cio__future_complete(struct cio_future *f, int state, void *result,
                          int error) {
  CIO_ASSERT(f->state == CIO__FUT_PENDING);
  f->state = (uint8_t)state;
  f->result = state == CIO__FUT_RESULT ? result : NULL;
  f->error = state == CIO__FUT_ERROR ? error : 0;
  f->retrieved = state != CIO__FUT_ERROR;
  struct cio__list *n;
  while ((n = cio__list_pop_front(&f->callbacks)) != NULL) {
    struct cio__callback *cb = cio__container_of(n, struct cio__callback, node);
    if (cio__callback_is_wait(cb)) {
      cio__wait_wake(cio__wait_of(n), 0); /* a task awaiting `f` */
    } else {
      cio_future_retain(f);
      cio__ready_push(f->loop, cb);
    }
  }
}

int cio__future_outcome(struct cio_future *f, void **result) {
  if (result != NULL)
    *result = NULL;
  switch (f->state) {
  case CIO__FUT_PENDING:
    return CIO_EINPROGRESS;
  case CIO__FUT_CANCELLED:
    return CIO_ECANCELED;
  case CIO__FUT_ERROR:
    f->retrieved = true;
    return f->error;
  default:
    if (result != NULL)
      *result = f->result;
    return 0;
  }
}

void cio__future_free_callbacks(struct cio_future *f) {
  struct cio__list *n;
  while ((n = cio__list_pop_front(&f->callbacks)) != NULL) {
    struct cio__callback *cb = cio__container_of(n, struct cio__callback, node);
    CIO_ASSERT(!cio__callback_is_wait(cb));
    cio__free(f->loop, cio__container_of(cb, struct done_cb, cb));
  }
}

void cio__future_report_unretrieved(struct cio_future *f, const char *what,
                                    const char *name) {
  if (f->state != CIO__FUT_ERROR || f->retrieved)
    return;
  fprintf(stderr, "casyncio: %s exception was never retrieved%s%s%s: %s (%s)\n",
          what, name ? ": '" : "", name ? name : "", name ? "'" : "",
          cio_err_name(f->error), cio_strerror(f->error));
}

/* ---- public API ------------------------------------------------------ */

int cio_future_new(cio_loop *loop, cio_future **out) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  loop = cio__loop_or_current(loop);
  if (loop == NULL)
    return CIO_EINVAL;
  cio_future *f = cio__malloc(loop, sizeof *f);
  if (f == NULL)
    return CIO_ENOMEM;
  cio__future_init(f, loop, false);
  loop->objects++;
  *out = f;
  return 0;
}

cio_future *cio_future_retain(cio_future *f) {
  if (f != NULL)
    f->refs++;
  return f;
}

void cio_future_release(cio_future *f) {
  if (f == NULL)
    return;
  if (f->is_task) {
    cio_task_release(cio_future_task(f));
    return;
  }
  CIO_ASSERT(f->refs > 0);
  if (--f->refs > 0)
    return;
  cio_loop *loop = f->loop;
  cio__future_report_unretrieved(f, "Future", NULL);
  cio__future_free_callbacks(f);
  loop->objects--;
  cio__free(loop, f);
}

int cio_future_set_result(cio_future *f, void *result) {
  if (f == NULL || f->is_task)
    return CIO_EINVAL;
  if (f->state != CIO__FUT_PENDING)
    return CIO_EALREADY;
  cio__future_complete(f, CIO__FUT_RESULT, result, 0);
  return 0;
}

int cio_future_set_error(cio_future *f, int error) {
  if (f == NULL || f->is_task || error >= 0 || error == CIO_ECANCELED)
    return CIO_EINVAL;
  if (f->state != CIO__FUT_PENDING)
    return CIO_EALREADY;
  cio__future_complete(f, CIO__FUT_ERROR, NULL, error);
  return 0;
}

int cio_future_cancel(cio_future *f) {
  if (f == NULL)
    return CIO_EINVAL;
  if (f->is_task)
    return cio_task_cancel(cio_future_task(f));
  if (f->state != CIO__FUT_PENDING)
    return 0;
  cio__future_complete(f, CIO__FUT_CANCELLED, NULL, 0);
  return 1;
}

bool cio_future_is_done(const cio_future *f) {
  return f != NULL && f->state != CIO__FUT_PENDING;
}

bool cio_future_is_cancelled(const cio_future *f) {
  return f != NULL && f->state == CIO__FUT_CANCELLED;
}

int cio_future_result(cio_future *f, void **result) {
  if (result != NULL)
    *result = NULL;
  if (f == NULL)
    return CIO_EINVAL;
  return cio__future_outcome(f, result);
}

int cio_future_error(cio_future *f) {
  if (f == NULL)
    return CIO_EINVAL;
  return cio__future_outcome(f, NULL);
}

cio_loop *cio_future_loop(const cio_future *f) {
  return f ? f->loop : NULL;
}

/* Cancelling a task that awaits `f` cancels what it awaits (for a task:
 * asks it to cancel), as asyncio's Task.cancel does with _fut_waiter; the
 * task is woken when `f` completes.  Without propagation the default
 * cancel applies: the waiter leaves quietly. */
static bool await_interrupt(struct cio__wait *w) {
  return cio_future_cancel(w->ctx) == 1;
}

int cio__future_wait(cio_future *f, bool propagate) {
  CIO_ASSERT(f->state == CIO__FUT_PENDING); /* nothing would wake us */
  struct cio__wait w;
  cio__wait_init(&w, cio__loop_current()->current, 0);
  if (propagate) {
    w.interrupt = await_interrupt;
    w.ctx = f;
  }
  cio_future_retain(f);
  int rc = cio__wait_on(&f->callbacks, &w);
  cio_future_release(f);
  return rc;
}

int cio__await(cio_future *f, void **result, bool propagate) {
  if (result != NULL)
    *result = NULL;
  if (f == NULL)
    return CIO_EINVAL;
  if (f->state != CIO__FUT_PENDING)
    return cio__future_outcome(f, result);
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  if (&self->fut == f)
    return CIO_EDEADLK;
  if (f->loop != self->fut.loop)
    return CIO_EINVAL;
  rc = cio__future_wait(f, propagate);
  if (rc == 0)
    rc = cio__future_outcome(f, result);
  return rc;
}

int cio_await(cio_future *f, void **result) {
  return cio__await(f, result, true);
}

int cio__futures_check(cio_future *const *futs, size_t n,
                       const cio_loop *loop) {
  if (n > 0 && futs == NULL)
    return CIO_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (futs[i] == NULL || futs[i]->loop != loop)
      return CIO_EINVAL;
  return 0;
}

/* ---- links ----------------------------------------------------------- */

/* A link holds its own reference on the future while attached, so the
 * future (and its callback list) outlives it; once queued it holds one
 * more, taken by cio__future_complete as for any callback. */
void cio__link_attach(struct cio__link *l, cio_future *f,
                      void (*run)(struct cio__callback *), void *owner,
                      size_t index) {
  l->cb.run = run;
  l->f = cio_future_retain(f);
  l->owner = owner;
  l->index = index;
  cio__list_init(&l->cb.node);
  if (f->state == CIO__FUT_PENDING) {
    cio__list_push_back(&f->callbacks, &l->cb.node);
  } else {
    cio_future_retain(f);
    cio__ready_push(f->loop, &l->cb);
  }
}

void cio__link_done(struct cio__link *l) {
  cio_future_release(l->f); /* the one taken when it was queued */
  cio_future_release(l->f); /* its own */
}

void cio__link_detach(struct cio__link *l) {
  if (!cio__list_linked(&l->cb.node))
    return; /* never attached, or already ran */
  cio__list_remove(&l->cb.node);
  if (l->f->state != CIO__FUT_PENDING)
    cio_future_release(l->f); /* it was queued, holding a reference */
  cio_future_release(l->f);
}

int cio_future_add_done_callback(cio_future *f, cio_done_fn fn, void *arg) {
  if (f == NULL || fn == NULL)
    return CIO_EINVAL;
  struct done_cb *d = cio__malloc(f->loop, sizeof *d);
  if (d == NULL)
    return CIO_ENOMEM;
  d->cb.run = done_cb_run;
  d->f = f;
  d->fn = fn;
  d->arg = arg;
  cio__list_init(&d->cb.node);
  if (f->state == CIO__FUT_PENDING) {
    cio__list_push_back(&f->callbacks, &d->cb.node);
  } else {
    cio_future_retain(f);
    cio__ready_push(f->loop, &d->cb);
  }
  return 0;
}

int cio_future_remove_done_callback(cio_future *f, cio_done_fn fn, void *arg) {
  if (f == NULL)
    return CIO_EINVAL;
  int removed = 0;
  struct cio__list *n = f->callbacks.next;
  while (n != &f->callbacks) {
    struct cio__list *next = n->next;
    struct cio__callback *cb = cio__container_of(n, struct cio__callback, node);
    if (cb->run == done_cb_run) {
      struct done_cb *d = cio__container_of(cb, struct done_cb, cb);
      if (d->fn == fn && d->arg == arg) {
        cio__list_remove(n);
        cio__free(f->loop, d);
        removed++;
      }
    }
    n = next;
  }
  return removed;
}
