/* Signal handlers that run on the loop (asyncio's add_signal_handler).
 *
 * Each handler owns a uv_signal_t.  libuv catches the signal in signal
 * context, writes it to a pipe and calls our callback from its poll phase
 * on the loop's thread, so the handler is a plain loop callback and may
 * call anything a callback may (set an event, cancel a task, stop the
 * loop, add or remove handlers, itself included).
 *
 *   (none) -> ACTIVE    cio_loop_add_signal_handler     (in loop->signals)
 *   ACTIVE -> ACTIVE    add again: callback replaced, handle kept
 *   ACTIVE -> CLOSING   cio_loop_remove_signal_handler, cio__signals_close
 *   CLOSING -> freed    uv_close callback
 * (1) loop->signals holds exactly the ACTIVE handlers, one per signal.
 * (2) A CLOSING handler counts in loop->uv_handles_open, so
 *     cio_loop_close runs libuv until it is freed.
 * (3) The handles are ref'd: a task waiting for a signal keeps the loop
 *     waiting instead of being reported as deadlocked. */
#include <signal.h>

#include "internal.h"

struct sig_handler {
  uv_signal_t handle;
  struct cio__list node; /* in loop->signals */
  cio_loop *loop;
  cio_callback_fn cb;
  void *arg;
  struct cio__ctx *ctx; /* the context it was added from */
};

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  struct sig_handler *s = cio__container_of(h, struct sig_handler, handle);
  struct cio__ctx *saved = cio__ctx_enter(s->ctx); /* as asyncio's Handle */
  s->cb(s->arg);
  cio__ctx_leave(saved);
}

static void on_closed(uv_handle_t *h) {
  struct sig_handler *s =
      cio__container_of((uv_signal_t *)h, struct sig_handler, handle);
  cio_loop *loop = s->loop;
  loop->uv_handles_open--;
  cio__ctx_release(s->ctx);
  cio__free(loop, s);
}

/* ACTIVE (or never started) -> CLOSING. */
static void handler_close(struct sig_handler *s) {
  cio__list_remove(&s->node);
  s->loop->uv_handles_open++;
  uv_close((uv_handle_t *)&s->handle, on_closed);
}

static struct sig_handler *find(cio_loop *loop, int signum) {
  cio__list_foreach(it, &loop->signals) {
    struct sig_handler *s = cio__container_of(it, struct sig_handler, node);
    if (s->handle.signum == signum)
      return s;
  }
  return NULL;
}

static bool valid_signal(int signum) {
  return signum >= 1 && signum < NSIG;
}

int cio_loop_add_signal_handler(cio_loop *loop, int signum, cio_callback_fn cb,
                                void *arg) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL || cb == NULL || !valid_signal(signum) ||
      signum == SIGKILL || signum == SIGSTOP)
    return CIO_EINVAL;
  if (loop->closing)
    return CIO_ESHUTDOWN;
  struct sig_handler *s = find(loop, signum);
  if (s != NULL) { /* asyncio replaces the handler in place */
    s->cb = cb;
    s->arg = arg;
    cio__ctx_release(s->ctx);
    s->ctx = cio__ctx_retain(cio__ctx_current());
    return 0;
  }
  s = cio__malloc(loop, sizeof *s);
  if (s == NULL)
    return CIO_ENOMEM;
  *s = (struct sig_handler){.loop = loop, .cb = cb, .arg = arg,
                            .ctx = cio__ctx_retain(cio__ctx_current())};
  cio__list_init(&s->node);
  int rc = uv_signal_init(loop->uv, &s->handle);
  if (rc < 0) {
    cio__free(loop, s);
    return cio__uv_error(rc);
  }
  rc = uv_signal_start(&s->handle, on_signal, signum);
  if (rc < 0) {
    handler_close(s);
    return cio__uv_error(rc);
  }
  cio__list_push_back(&loop->signals, &s->node);
  return 0;
}

int cio_loop_remove_signal_handler(cio_loop *loop, int signum) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL || !valid_signal(signum))
    return CIO_EINVAL;
  struct sig_handler *s = find(loop, signum);
  if (s == NULL)
    return 0;
  handler_close(s); /* libuv restores the default disposition */
  return 1;
}

void cio__signals_close(cio_loop *loop) {
  struct cio__list *n;
  while ((n = loop->signals.next) != &loop->signals)
    handler_close(cio__container_of(n, struct sig_handler, node));
}
