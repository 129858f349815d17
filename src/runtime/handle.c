/* call_soon / call_later / call_at and their cancellable handles.
 *
 * A handle holds one reference for the loop while it is scheduled and one
 * for the caller if the caller asked for the handle.
 *   SCHEDULED (in ready queue or timer heap) -> RUN       handle_run()
 *   SCHEDULED -> CANCELLED                                cio_handle_cancel()
 * (1) A handle is in at most one of: ready queue, timer heap. */
#include <math.h>

#include "internal.h"

struct cio_handle {
  struct cio__timer timer; /* timer.cb is the ready-queue node */
  cio_loop *loop;
  cio_callback_fn fn;
  void *arg;
  struct cio__ctx *ctx; /* the context it was scheduled from */
  int refs;
  bool cancelled;
  bool scheduled;
  bool is_timer;
};

/* "calls tick (app.c:12)" (object lists). */
static void handle_describe(cio_loop *loop, const void *obj,
                            struct cio__text *out) {
  (void)loop;
  const cio_handle *h = obj;
  cio__text_put(out, "calls ");
  cio__text_code_name(out, CIO__CODE_ADDR(h->fn));
}

static void handle_unref(cio_handle *h) {
  if (--h->refs > 0)
    return;
  cio_loop *loop = h->loop;
  cio__ctx_release(h->ctx);
  cio__obj_remove(loop, CIO__OBJ_HANDLE, h);
  cio__free(loop, h);
}

static void handle_run(struct cio__callback *cb) {
  cio_handle *h = cio__container_of(cb, cio_handle, timer.cb);
  h->scheduled = false;
  struct cio__ctx *saved = cio__ctx_enter(h->ctx);
  h->fn(h->arg);
  cio__ctx_leave(saved);
  handle_unref(h);
}

const void *cio__handle_code(const struct cio__callback *cb) {
  if (cb->run != handle_run)
    return NULL;
  const cio_handle *h = cio__container_of(cb, cio_handle, timer.cb);
  return CIO__CODE_ADDR(h->fn);
}

/* Give the caller its reference, or drop the one taken for it. */
static void return_handle(cio_handle *h, cio_handle **out) {
  if (out != NULL)
    *out = h;
  else
    handle_unref(h);
}

/* A handle with the loop's reference and one for the caller. */
static int handle_new(cio_loop **loopp, cio_callback_fn cb, void *arg,
                      cio_handle **out) {
  *out = NULL;
  cio_loop *loop = cio__loop_or_current(*loopp);
  if (loop == NULL || cb == NULL)
    return CIO_EINVAL;
  if (loop->closing)
    return CIO_ESHUTDOWN;
  cio_handle *h = cio__calloc(loop, 1, sizeof *h);
  if (h == NULL)
    return CIO_ENOMEM;
  cio__obj_add(loop, CIO__OBJ_HANDLE, h, handle_describe);
  h->loop = loop;
  h->fn = cb;
  h->arg = arg;
  h->ctx = cio__ctx_retain(cio__ctx_current());
  h->refs = 2;
  h->scheduled = true;
  cio__list_init(&h->timer.cb.node);
  h->timer.cb.run = handle_run;
  *out = h;
  *loopp = loop;
  return 0;
}

int cio_loop_call_soon(cio_loop *loop, cio_callback_fn cb, void *arg,
                       cio_handle **out) {
  if (out != NULL)
    *out = NULL;
  cio_handle *h;
  int rc = handle_new(&loop, cb, arg, &h);
  if (rc < 0)
    return rc;
  cio__ready_push(loop, &h->timer.cb);
  return_handle(h, out);
  return 0;
}

static int call_at_ns(cio_loop *loop, int64_t when_ns, cio_callback_fn cb,
                      void *arg, cio_handle **out) {
  cio_handle *h;
  int rc = handle_new(&loop, cb, arg, &h);
  if (rc < 0)
    return rc;
  h->is_timer = true;
  cio__timer_start(loop, &h->timer, when_ns, handle_run);
  cio__sched_update_handles(loop);
  return_handle(h, out);
  return 0;
}

int cio_loop_call_later(cio_loop *loop, double delay, cio_callback_fn cb,
                        void *arg, cio_handle **out) {
  if (out != NULL)
    *out = NULL;
  if (isnan(delay))
    return CIO_EINVAL;
  cio_loop *l = cio__loop_or_current(loop);
  if (l == NULL)
    return CIO_EINVAL;
  return call_at_ns(l, cio__deadline_after(l, delay), cb, arg, out);
}

int cio_loop_call_at(cio_loop *loop, double when, cio_callback_fn cb, void *arg,
                     cio_handle **out) {
  if (out != NULL)
    *out = NULL;
  if (isnan(when))
    return CIO_EINVAL;
  cio_loop *l = cio__loop_or_current(loop);
  if (l == NULL)
    return CIO_EINVAL;
  return call_at_ns(l, cio__seconds_to_ns(when), cb, arg, out);
}

void cio_handle_cancel(cio_handle *h) {
  if (h == NULL || h->cancelled)
    return;
  h->cancelled = true;
  if (!h->scheduled)
    return;
  h->scheduled = false;
  cio__timer_stop(h->loop, &h->timer);
  cio__sched_update_handles(h->loop);
  handle_unref(h);
}

bool cio_handle_is_cancelled(const cio_handle *h) {
  return h != NULL && h->cancelled;
}

double cio_handle_when(const cio_handle *h) {
  if (h == NULL || !h->is_timer)
    return -1.0;
  return (double)h->timer.when_ns / 1e9;
}

void cio_handle_release(cio_handle *h) {
  if (h != NULL)
    handle_unref(h);
}

bool cio__handle_try_drop(struct cio__callback *cb) {
  if (cb->run != handle_run)
    return false;
  cio_handle *h = cio__container_of(cb, cio_handle, timer.cb);
  h->scheduled = false;
  h->cancelled = true;
  handle_unref(h);
  return true;
}
