/* Futures: a result slot with waiters and done-callbacks.
 *
 *   PENDING -> RESULT | ERROR | CANCELLED    cio__future_complete()
 *   any     -> FREED                         cio_future_release(), last
 *
 * (1) `callbacks` is empty once the future is done: completion moves every
 *     waiter and callback to the ready queue, in registration order, so
 *     nothing ever runs inside set_result/set_error/cancel (asyncio §1.3).
 * (2) A done-callback waiting in the ready queue holds a reference on its
 *     future; a waiter is covered by the reference cio_await() holds.
 * (3) refs > 0 until FREED; only CANCELLED has a cancel_msg; RESULT has a
 *     code >= 0, ERROR a code < 0 other than CIO_ECANCELED.
 * (4) A RESULT nobody took (result_taken) goes to `dispose` when FREED.
 */
#include <string.h>

#include "internal.h"

struct done_cb {
  struct cio__callback cb;
  cio_future *f;
  cio_done_fn fn;
  void *arg;
  struct cio__ctx *ctx; /* the context it was added from */
};

static void done_cb_free(cio_loop *loop, struct done_cb *d) {
  cio__ctx_release(d->ctx);
  cio__free(loop, d);
}

void cio__future_init(struct cio_future *f, cio_loop *loop, bool is_task) {
  *f = (struct cio_future){.loop = loop,
                           .state = CIO__FUT_PENDING,
                           .is_task = is_task,
                           .retrieved = true,
                           .refs = 1};
  cio__list_init(&f->callbacks);
}

bool cio__future_check(const struct cio_future *f) {
  if (f == NULL || f->loop == NULL || f->refs <= 0 ||
      f->state > CIO__FUT_CANCELLED)
    return false;
  if (f->state != CIO__FUT_PENDING && !cio__list_empty(&f->callbacks))
    return false;
  if (f->cancel_msg != NULL && f->state != CIO__FUT_CANCELLED)
    return false;
  if (f->state == CIO__FUT_RESULT && f->code < 0)
    return false;
  if (f->state == CIO__FUT_ERROR && (f->code >= 0 || f->code == CIO_ECANCELED))
    return false;
  return true;
}

/* ---- cancel messages --------------------------------------------------- */

struct cio__msg *cio__msg_new(cio_loop *loop, const char *text) {
  size_t n = strlen(text) + 1;
  struct cio__msg *m = cio__malloc(loop, sizeof *m + n);
  if (m != NULL) {
    m->refs = 1;
    memcpy(m->text, text, n);
  }
  return m;
}

struct cio__msg *cio__msg_retain(struct cio__msg *m) {
  if (m != NULL)
    m->refs++;
  return m;
}

void cio__msg_release(cio_loop *loop, struct cio__msg *m) {
  if (m != NULL && --m->refs == 0)
    cio__free(loop, m);
}

void cio__msg_set(cio_loop *loop, struct cio__msg **slot, struct cio__msg *m) {
  cio__msg_retain(m);
  cio__msg_release(loop, *slot);
  *slot = m;
}

static void done_cb_run(struct cio__callback *self) {
  struct done_cb *d = cio__container_of(self, struct done_cb, cb);
  cio_future *f = d->f;
  struct cio__ctx *saved = cio__ctx_enter(d->ctx);
  d->fn(f, d->arg);
  cio__ctx_leave(saved);
  done_cb_free(f->loop, d);
  cio_future_release(f);
}

bool cio__done_cb_try_drop(struct cio__callback *cb) {
  if (cb->run != done_cb_run)
    return false;
  struct done_cb *d = cio__container_of(cb, struct done_cb, cb);
  cio_future *f = d->f;
  done_cb_free(f->loop, d);
  cio_future_release(f);
  return true;
}

void cio__future_complete(struct cio_future *f, int state, void *result,
                          int code, struct cio__msg *msg) {
  CIO_ASSERT(f->state == CIO__FUT_PENDING);
  f->state = (uint8_t)state;
  f->result = state == CIO__FUT_RESULT ? result : NULL;
  f->code = state == CIO__FUT_RESULT || state == CIO__FUT_ERROR ? code : 0;
  f->retrieved = state != CIO__FUT_ERROR;
  if (state == CIO__FUT_CANCELLED)
    f->cancel_msg = cio__msg_retain(msg);
  struct cio__list *n;
  while ((n = cio__list_pop_front(&f->callbacks)) != NULL) {
    struct cio__callback *cb = cio__container_of(n, struct cio__callback, node);
    if (cio__callback_is_wait(cb)) {
      cio__wait_wake(cio__wait_of(n), 0); /* a task awaiting `f` */
    } else {
      cio__future_ref(f);
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
  case CIO__FUT_FREED:
    return CIO_EINVAL;
  case CIO__FUT_ERROR:
    f->retrieved = true;
    return f->code;
  default:
    /* Reading the outcome takes the result, pointer or not: whoever read
     * it owns it.  Only an outcome nobody read goes to `dispose`. */
    f->result_taken = true;
    if (result != NULL)
      *result = f->result;
    return f->code;
  }
}

/* The last reference: hand an untaken result to `dispose`, drop what the
 * future holds, and mark it FREED (the caller frees or caches it). */
void cio__future_finalize(struct cio_future *f) {
  if (f->state == CIO__FUT_RESULT && !f->result_taken && f->dispose != NULL)
    f->dispose(f->dispose_arg, f->result, f->code);
  cio__future_free_callbacks(f);
  cio__msg_release(f->loop, f->cancel_msg);
  f->cancel_msg = NULL;
  f->state = CIO__FUT_FREED;
}

void cio__report_double_release(const char *what, const void *obj,
                                const char *name) {
  cio__report(
      cio__loop_current(),
      &(cio_exception_context){.error = CIO_EINVAL, .source = "release"},
      "%s %p%s%s%s released once more after its last reference "
      "was dropped (a double release); ignored",
      what, obj, name ? " '" : "", name ? name : "", name ? "'" : "");
}

void cio__future_free_callbacks(struct cio_future *f) {
  struct cio__list *n;
  while ((n = cio__list_pop_front(&f->callbacks)) != NULL) {
    struct cio__callback *cb = cio__container_of(n, struct cio__callback, node);
    CIO_ASSERT(!cio__callback_is_wait(cb));
    done_cb_free(f->loop, cio__container_of(cb, struct done_cb, cb));
  }
}

void cio__future_report_unretrieved(struct cio_future *f, const char *what,
                                    const char *name) {
  if (f->state != CIO__FUT_ERROR || f->retrieved)
    return;
  cio__report_unretrieved(f, what, name);
}

/* ---- public API ------------------------------------------------------ */

/* A freed plain future stays FREED in memory until reused, so a second
 * release is seen and reported rather than corrupting the allocator. */
static cio_future *future_alloc(cio_loop *loop) {
  cio_future *f = loop->future_cache;
  if (f == NULL)
    return cio__malloc(loop, sizeof *f);
  loop->future_cache = f->result;
  loop->future_cache_count--;
  return f;
}

static void future_free(cio_loop *loop, cio_future *f) {
  if (loop->future_cache_count >= 4096) {
    cio__free(loop, f);
    return;
  }
  f->result = loop->future_cache;
  loop->future_cache = f;
  loop->future_cache_count++;
}

void cio__future_cache_drain(cio_loop *loop) {
  while (loop->future_cache != NULL) {
    cio_future *f = loop->future_cache;
    loop->future_cache = f->result;
    cio__free(loop, f);
  }
  loop->future_cache_count = 0;
}

int cio_future_new(cio_loop *loop, cio_future **out) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  loop = cio__loop_or_current(loop);
  if (loop == NULL)
    return CIO_EINVAL;
  cio_future *f = future_alloc(loop);
  if (f == NULL)
    return CIO_ENOMEM;
  cio__future_init(f, loop, false);
  *out = f;
  cio__obj_add(loop, CIO__OBJ_FUTURE, f, cio__future_describe);
  return 0;
}

cio_future *cio_future_retain(cio_future *f) {
  if (f == NULL)
    return NULL;
  if (f->is_task)
    return &cio_task_retain(cio_future_task(f))->fut;
  if (f->state == CIO__FUT_FREED) {
    cio__report_double_release("future (retained after its release)", f, NULL);
    return f;
  }
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
  if (f->state == CIO__FUT_FREED) {
    cio__report_double_release("future", f, NULL);
    return;
  }
  CIO_ASSERT(cio__future_check(f));
  if (--f->refs > 0)
    return;
  cio_loop *loop = f->loop;
  cio__future_report_unretrieved(f, "Future", NULL);
  cio__future_finalize(f);
  future_free(loop, f);
  cio__obj_remove(loop, CIO__OBJ_FUTURE, f);
}

int cio_future_set_result(cio_future *f, void *result) {
  if (f == NULL || f->is_task)
    return CIO_EINVAL;
  CIO_ASSERT(cio__future_check(f));
  if (f->state != CIO__FUT_PENDING)
    return CIO_EALREADY;
  cio__future_complete(f, CIO__FUT_RESULT, result, 0, NULL);
  return 0;
}

int cio_future_set_error(cio_future *f, int error) {
  if (f == NULL || f->is_task || error >= 0 || error == CIO_ECANCELED)
    return CIO_EINVAL;
  CIO_ASSERT(cio__future_check(f));
  if (f->state != CIO__FUT_PENDING)
    return CIO_EALREADY;
  cio__future_complete(f, CIO__FUT_ERROR, NULL, error, NULL);
  return 0;
}

int cio__future_cancel_msg(cio_future *f, struct cio__msg *msg) {
  if (f->is_task)
    return cio__task_cancel_msg(cio_future_task(f), msg);
  if (f->state != CIO__FUT_PENDING)
    return 0;
  cio__future_complete(f, CIO__FUT_CANCELLED, NULL, 0, msg);
  return 1;
}

int cio_future_cancel(cio_future *f) {
  if (f == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__future_check(f));
  return cio__future_cancel_msg(f, NULL);
}

int cio_future_cancel_msg(cio_future *f, const char *msg) {
  if (f == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__future_check(f));
  if (f->state != CIO__FUT_PENDING)
    return 0;
  struct cio__msg *m = NULL;
  if (msg != NULL && (m = cio__msg_new(f->loop, msg)) == NULL)
    return CIO_ENOMEM;
  int rc = cio__future_cancel_msg(f, m);
  cio__msg_release(f->loop, m);
  return rc;
}

const char *cio_future_cancel_message(const cio_future *f) {
  if (f == NULL || f->state != CIO__FUT_CANCELLED || f->cancel_msg == NULL)
    return NULL;
  return f->cancel_msg->text;
}

bool cio_future_is_done(const cio_future *f) {
  return f != NULL && f->state != CIO__FUT_PENDING;
}

bool cio_future_is_cancelled(const cio_future *f) {
  return f != NULL && f->state == CIO__FUT_CANCELLED;
}

/* Reading a cancelled outcome from a task is receiving its
 * CancelledError: cio_cancel_message() then gives its message. */
int cio__future_take(cio_future *f, void **result) {
  int rc = cio__future_outcome(f, result);
  cio_task *self = f->loop->current;
  if (rc == CIO_ECANCELED && self != NULL)
    cio__task_received_cancel(self, f->cancel_msg);
  return rc;
}

int cio_future_result(cio_future *f, void **result) {
  if (result != NULL)
    *result = NULL;
  if (f == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(f->state == CIO__FUT_FREED || cio__future_check(f));
  return cio__future_take(f, result);
}

int cio_future_error(cio_future *f) {
  if (f == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(f->state == CIO__FUT_FREED || cio__future_check(f));
  /* Asking for the error hands no result over: an untaken result stays
   * for its reader, or for `dispose`. */
  if (f->state == CIO__FUT_RESULT)
    return 0;
  return cio__future_take(f, NULL);
}

cio_loop *cio_future_loop(const cio_future *f) {
  return f ? f->loop : NULL;
}

/* Cancelling a task that awaits `f` cancels what it awaits (for a task:
 * asks it to cancel), with the task's cancel message, as asyncio's
 * Task.cancel does with _fut_waiter.cancel(msg); the task is woken when
 * `f` completes.  Without propagation the default cancel applies: the
 * waiter leaves quietly. */
static bool await_interrupt(struct cio__wait *w) {
  return cio__future_cancel_msg(w->ctx, w->task->cancel_request) == 1;
}

static void await_describe(cio_loop *loop, const void *obj,
                           struct cio__text *out) {
  (void)loop;
  const cio_future *f = obj;
  if (f->is_task) {
    cio_task *t = cio_future_task((cio_future *)f);
    cio__text_printf(out, "task '%s'", cio_task_get_name(t));
  } else {
    cio__text_printf(out, "future %p", obj);
  }
}

static size_t await_awaits(const void *obj, cio_future **out, size_t cap) {
  if (cap > 0)
    out[0] = (cio_future *)obj;
  return 1;
}

static const struct cio__wait_kind await_kind = {
    .what = "await", .describe = await_describe, .awaits = await_awaits};

int cio__future_wait(cio_future *f, bool propagate) {
  return cio__future_wait_about(f, propagate, &await_kind, f);
}

int cio__future_wait_about(cio_future *f, bool propagate,
                           const struct cio__wait_kind *kind, const void *obj) {
  CIO_ASSERT(f->state == CIO__FUT_PENDING); /* nothing would wake us */
  struct cio__wait w;
  cio__wait_init(&w, cio__loop_current()->current, 0);
  cio__wait_about(&w, kind, obj);
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
  if (f != NULL && f->state == CIO__FUT_RESULT) {
    /* The common case first: done with a result (cio__future_outcome). */
    CIO_ASSERT(cio__future_check(f));
    f->result_taken = true;
    if (result != NULL)
      *result = f->result;
    return f->code;
  }
  return cio__await_about(f, result, propagate, &await_kind, f);
}

int cio__await_about(cio_future *f, void **result, bool propagate,
                     const struct cio__wait_kind *kind, const void *obj) {
  if (result != NULL)
    *result = NULL;
  if (f == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__future_check(f));
  if (f->state != CIO__FUT_PENDING)
    return cio__future_take(f, result);
  int rc = cio__await_check(f);
  if (rc < 0)
    return rc;
  rc = cio__future_wait_about(f, propagate, kind, obj);
  if (rc == 0)
    rc = cio__future_take(f, result);
  return rc;
}

int cio__await_check(const cio_future *f) {
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  if (&self->fut == f)
    return CIO_EDEADLK; /* a task awaiting itself */
  if (f->loop != self->fut.loop)
    return CIO_EINVAL;
  return 0;
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
  l->f = cio__future_ref(f);
  l->owner = owner;
  l->index = index;
  cio__list_init(&l->cb.node);
  if (f->state == CIO__FUT_PENDING) {
    cio__list_push_back(&f->callbacks, &l->cb.node);
  } else {
    cio__future_ref(f);
    cio__ready_push(f->loop, &l->cb);
  }
}

size_t cio__links_pending(const struct cio__link *links, size_t n,
                          cio_future **out, size_t cap) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    cio_future *f = links[i].f;
    if (f == NULL || f->state != CIO__FUT_PENDING)
      continue;
    if (count < cap)
      out[count] = f;
    count++;
  }
  return count;
}

void cio__link_done(struct cio__link *l) {
  cio__future_unref(l->f); /* the one taken when it was queued */
  cio__future_unref(l->f); /* its own */
}

void cio__link_detach(struct cio__link *l) {
  if (!cio__list_linked(&l->cb.node))
    return; /* never attached, or already ran */
  cio__list_remove(&l->cb.node);
  if (l->f->state != CIO__FUT_PENDING)
    cio__future_unref(l->f); /* it was queued, holding a reference */
  cio__future_unref(l->f);
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
  d->ctx = cio__ctx_retain(cio__ctx_current());
  cio__list_init(&d->cb.node);
  if (f->state == CIO__FUT_PENDING) {
    cio__list_push_back(&f->callbacks, &d->cb.node);
  } else {
    cio__future_ref(f);
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
        done_cb_free(f->loop, d);
        removed++;
      }
    }
    n = next;
  }
  return removed;
}
