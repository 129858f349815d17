/* Waiting on any file descriptor: cio_fd_wait() for a task, and asyncio's
 * add_reader/add_writer callbacks.  What libpq, libcurl and other
 * libraries that own their sockets are driven with.
 *
 * Each fd with any interest has one `struct fd_watch` in loop->fd_watches
 * (indexed by fd) owning one uv_poll_t, since libuv allows one poll
 * handle per fd.  A watch has two sides (read, write) with at most one
 * callback each, and a list of tasks waiting in cio_fd_wait for either or
 * both (struct fd_wait records, woken by the first event they asked for).
 *
 *   (none) -> ACTIVE    first interest               watch_get()
 *   ACTIVE -> IDLE      last interest gone           watch_update()
 *   IDLE -> ACTIVE      interest again, same batch   watch_update()
 *   IDLE -> CLOSING     the sweep after that batch   sweep()
 *   CLOSING -> freed    uv_close callback            on_closed()
 *
 * (1) An ACTIVE or IDLE watch is in loop->fd_watches[fd]; a CLOSING one is
 *     not (so a new watch for the same fd may start while it closes).
 * (2) The poll handle is started for exactly the events some callback or
 *     waiter wants, and stopped (epoll_ctl DEL, synchronous) as soon as
 *     nothing does: the program may close the fd once its waits ended and
 *     its callbacks were removed, as asyncio requires.
 * (3) A side's `queued` callback node is in the ready queue only while its
 *     callback is registered.
 * (4) A CLOSING watch counts in loop->uv_handles_open until freed.
 * (5) An IDLE watch is in loop->fd_idle and the sweep is queued.  Keeping
 *     it (stopped) until the sweep makes the common "remove, then add
 *     again in the same batch" (a task waiting again, libcurl moving a
 *     socket between readers) cost no handle close and re-creation.  The
 *     re-used handle skips uv_poll_init's checks, so waiting on an fd that
 *     was closed and reopened as a casyncio stream in between is not
 *     caught as CIO_EEXIST (a misuse either way).
 */
#include <math.h>
#include <string.h>

#include "internal.h"

enum watch_state { WATCH_ACTIVE, WATCH_IDLE, WATCH_CLOSING };
enum { SIDE_READ, SIDE_WRITE };

struct fd_side {
  cio_callback_fn cb; /* add_reader / add_writer, or NULL */
  void *arg;
  struct cio__ctx *ctx; /* the context it was registered from */
  struct cio__callback queued; /* runs cb on the ready queue */
};

struct fd_watch {
  uv_poll_t poll;
  cio_loop *loop;
  int fd;
  uint8_t state;              /* watch_state */
  int polling;                /* UV_* events the handle is started for */
  struct cio__list idle_node; /* in loop->fd_idle while IDLE */
  struct fd_side side[2];
  struct cio__list waiters; /* struct fd_wait, in arrival order */
};

/* A task in cio_fd_wait, on its stack. */
struct fd_wait {
  struct cio__wait wait; /* in watch->waiters */
  int fd;
  int events;            /* CIO_READABLE | CIO_WRITABLE asked for */
  struct cio__timer timer;
};

static struct fd_wait *fd_wait_of(struct cio__list *n) {
  return cio__container_of(cio__wait_of(n), struct fd_wait, wait);
}

/* CIO_READABLE / CIO_WRITABLE: what callbacks and waiters want. */
static int wanted(const struct fd_watch *w) {
  int want = (w->side[SIDE_READ].cb ? CIO_READABLE : 0) |
             (w->side[SIDE_WRITE].cb ? CIO_WRITABLE : 0);
  cio__list_foreach(it, &w->waiters) {
    want |= fd_wait_of((struct cio__list *)it)->events;
  }
  return want;
}

static bool watch_check(const struct fd_watch *w) {
  if (w->state == WATCH_CLOSING)
    return w->loop->fd_watches == NULL || (size_t)w->fd >= w->loop->fd_cap ||
           w->loop->fd_watches[w->fd] != w;
  if (w->loop->fd_watches[w->fd] != w)
    return false;
  if ((w->state == WATCH_IDLE) != cio__list_linked(&w->idle_node))
    return false;
  for (int i = 0; i < 2; i++)
    if (w->side[i].cb == NULL && cio__list_linked(&w->side[i].queued.node))
      return false;
  return true;
}

/* ---- the table --------------------------------------------------------- */

static void sweep(struct cio__callback *self);

static int table_reserve(cio_loop *loop, int fd) {
  if ((size_t)fd < loop->fd_cap)
    return 0;
  if (loop->fd_cap == 0) { /* first use */
    cio__list_init(&loop->fd_idle);
    cio__list_init(&loop->fd_sweep.node);
    loop->fd_sweep.run = sweep;
  }
  size_t cap = loop->fd_cap ? loop->fd_cap : 64;
  while (cap <= (size_t)fd)
    cap *= 2;
  struct fd_watch **t = cio__calloc(loop, cap, sizeof *t);
  if (t == NULL)
    return CIO_ENOMEM;
  if (loop->fd_cap > 0)
    memcpy(t, loop->fd_watches, loop->fd_cap * sizeof *t);
  cio__free(loop, loop->fd_watches);
  loop->fd_watches = t;
  loop->fd_cap = cap;
  return 0;
}

static struct fd_watch *watch_find(cio_loop *loop, int fd) {
  return (size_t)fd < loop->fd_cap ? loop->fd_watches[fd] : NULL;
}

/* ---- libuv side -------------------------------------------------------- */

static void side_run(struct cio__callback *self);

static void on_closed(uv_handle_t *h) {
  struct fd_watch *w = h->data;
  cio_loop *loop = w->loop;
  loop->uv_handles_open--;
  cio__free(loop, w);
}

static void queue_side(struct fd_watch *w, int which) {
  struct fd_side *s = &w->side[which];
  if (s->cb != NULL && !cio__list_linked(&s->queued.node))
    cio__ready_push(w->loop, &s->queued);
}

/* Wake every waiter that asked for one of `ready`, with what it got. */
static void wake_waiters(struct fd_watch *w, int ready) {
  struct cio__list *it = w->waiters.next;
  while (it != &w->waiters) {
    struct cio__list *next = it->next; /* a woken record is unlinked */
    struct fd_wait *fw = fd_wait_of(it);
    if (fw->events & ready)
      cio__wait_wake(&fw->wait, fw->events & ready);
    it = next;
  }
}

static void watch_update(struct fd_watch *w);

static void on_poll(uv_poll_t *h, int status, int events) {
  struct fd_watch *w = h->data;
  if (status < 0) {
    /* POLLERR (a failed connect, a reset): libuv stopped the handle.  The
     * fd is "ready" both ways; the next read or write says what failed,
     * as selectors report EPOLLERR to asyncio. */
    w->polling = 0;
    events = UV_READABLE | UV_WRITABLE;
  }
  int ready = (events & (UV_READABLE | UV_DISCONNECT) ? CIO_READABLE : 0) |
              (events & UV_WRITABLE ? CIO_WRITABLE : 0);
  wake_waiters(w, ready);
  if (ready & CIO_READABLE)
    queue_side(w, SIDE_READ);
  if (ready & CIO_WRITABLE)
    queue_side(w, SIDE_WRITE);
  watch_update(w);
}

/* Start the handle for what is wanted now, stop it when nothing is, and
 * close the watch when nobody will want it again. */
static void watch_update(struct fd_watch *w) {
  CIO_ASSERT(watch_check(w));
  int events = wanted(w), want = 0;
  if (events & CIO_READABLE)
    want |= UV_READABLE | UV_DISCONNECT;
  if (events & CIO_WRITABLE)
    want |= UV_WRITABLE;
  cio_loop *loop = w->loop;
  if (want == 0) {
    if (w->polling != 0)
      uv_poll_stop(&w->poll); /* epoll_ctl DEL now: (2) */
    w->polling = 0;
    if (w->state == WATCH_ACTIVE) {
      w->state = WATCH_IDLE;
      cio__list_push_back(&loop->fd_idle, &w->idle_node);
      if (!cio__list_linked(&loop->fd_sweep.node))
        cio__ready_push(loop, &loop->fd_sweep);
    }
    return;
  }
  if (w->state == WATCH_IDLE) {
    w->state = WATCH_ACTIVE;
    cio__list_remove(&w->idle_node);
  }
  if (want != w->polling)
    uv_poll_start(&w->poll, want, on_poll);
  w->polling = want;
}

static void close_watch(struct fd_watch *w) {
  w->loop->fd_watches[w->fd] = NULL;
  w->state = WATCH_CLOSING;
  cio__list_remove(&w->idle_node);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

/* Close the watches nobody took back since they went idle. */
static void sweep(struct cio__callback *self) {
  cio_loop *loop = cio__container_of(self, cio_loop, fd_sweep);
  struct cio__list *n;
  while ((n = cio__list_pop_front(&loop->fd_idle)) != NULL) {
    struct fd_watch *w = cio__container_of(n, struct fd_watch, idle_node);
    cio__list_init(&w->idle_node);
    close_watch(w);
  }
}

/* The ACTIVE watch of `fd`, made if needed.  Returns 0, CIO_EEXIST (libuv
 * already watches `fd`: a casyncio stream owns it), CIO_EPERM (a regular
 * file cannot be polled), CIO_EBADF, CIO_ENOMEM. */
static int watch_get(cio_loop *loop, int fd, struct fd_watch **out) {
  *out = watch_find(loop, fd);
  if (*out != NULL)
    return 0;
  int rc = table_reserve(loop, fd);
  if (rc < 0)
    return rc;
  struct fd_watch *w = cio__calloc(loop, 1, sizeof *w);
  if (w == NULL)
    return CIO_ENOMEM;
  rc = uv_poll_init(loop->uv, &w->poll, fd);
  if (rc < 0) {
    cio__free(loop, w);
    return cio__uv_error(rc);
  }
  w->poll.data = w;
  w->loop = loop;
  w->fd = fd;
  w->state = WATCH_ACTIVE;
  cio__list_init(&w->idle_node);
  cio__list_init(&w->waiters);
  for (int i = 0; i < 2; i++) {
    cio__list_init(&w->side[i].queued.node);
    w->side[i].queued.run = side_run;
  }
  loop->fd_watches[fd] = w;
  loop->uv_handles_open++;
  *out = w;
  return 0;
}

static void side_keep_ctx(struct fd_side *s, struct cio__ctx *ctx) {
  if (s->ctx == ctx)
    return;
  cio__ctx_release(s->ctx);
  s->ctx = cio__ctx_retain(ctx);
}

static void side_clear(struct fd_side *s) {
  s->cb = NULL;
  s->arg = NULL;
  side_keep_ctx(s, NULL);
  cio__list_remove(&s->queued.node);
}

static void side_run(struct cio__callback *self) {
  struct fd_side *s = cio__container_of(self, struct fd_side, queued);
  /* Level-triggered, as asyncio's selector: called again after the next
   * poll while the fd stays ready and the callback registered.  It runs in
   * the context it was registered from, and what it sets there is seen by
   * its next call, as asyncio's Handle runs in one Context each time. */
  struct cio__ctx *saved = cio__ctx_enter(s->ctx);
  s->cb(s->arg);
  if (s->cb != NULL)
    side_keep_ctx(s, cio__ctx_current());
  cio__ctx_leave(saved);
}

/* ---- waiting ------------------------------------------------------------ */

static void on_wait_timeout(struct cio__callback *cb) {
  struct fd_wait *fw = cio__container_of(cb, struct fd_wait, timer.cb);
  cio__wait_try_wake(&fw->wait, CIO_ETIMEDOUT);
}

static void fd_wait_describe(cio_loop *loop, const void *obj,
                             struct cio__text *out) {
  const struct fd_wait *fw = obj;
  cio__text_printf(out, "fd %d %s%s%s", fw->fd,
                   fw->events & CIO_READABLE ? "readable" : "",
                   fw->events == (CIO_READABLE | CIO_WRITABLE) ? " or " : "",
                   fw->events & CIO_WRITABLE ? "writable" : "");
  if (fw->timer.in_heap)
    cio__text_printf(out, ", timeout in %.3f s",
                     (double)(fw->timer.when_ns - cio__now_ns(loop)) / 1e9);
}

static const struct cio__wait_kind fd_wait_kind = {
    .what = "fd", .describe = fd_wait_describe};

int cio_fd_wait(int fd, int events, double timeout) {
  if (fd < 0)
    return CIO_EBADF;
  if (events == 0 || (events & ~(CIO_READABLE | CIO_WRITABLE)) != 0 ||
      isnan(timeout))
    return CIO_EINVAL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  cio_loop *loop = self->fut.loop;
  struct fd_watch *w;
  rc = watch_get(loop, fd, &w);
  if (rc < 0)
    return rc;
  struct fd_wait fw = {.fd = fd, .events = events};
  cio__wait_init(&fw.wait, self, 0);
  cio__wait_about(&fw.wait, &fd_wait_kind, &fw);
  cio__list_init(&fw.timer.cb.node);
  cio__list_push_back(&w->waiters, &fw.wait.cb.node);
  watch_update(w);
  if (timeout != CIO_NO_TIMEOUT)
    cio__timer_start(loop, &fw.timer, cio__deadline_after(loop, timeout),
                     on_wait_timeout);
  rc = cio__wait_park(&fw.wait);
  cio__timer_stop(loop, &fw.timer);
  cio__list_remove(&fw.wait.cb.node);
  if ((w = watch_find(loop, fd)) != NULL)
    watch_update(w);
  return rc;
}

/* ---- callbacks (asyncio's add_reader / add_writer) ----------------------- */

static int add_callback(cio_loop *loop, int fd, int which, cio_callback_fn cb,
                        void *arg) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL || cb == NULL)
    return CIO_EINVAL;
  if (fd < 0)
    return CIO_EBADF;
  if (loop->closing)
    return CIO_ESHUTDOWN;
  struct fd_watch *w;
  int rc = watch_get(loop, fd, &w);
  if (rc < 0)
    return rc;
  /* Registering again replaces the callback, as in asyncio. */
  w->side[which].cb = cb;
  w->side[which].arg = arg;
  side_keep_ctx(&w->side[which], cio__ctx_current());
  watch_update(w);
  return 0;
}

static int remove_callback(cio_loop *loop, int fd, int which) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL)
    return CIO_EINVAL;
  struct fd_watch *w = fd >= 0 ? watch_find(loop, fd) : NULL;
  if (w == NULL || w->side[which].cb == NULL)
    return 0;
  side_clear(&w->side[which]);
  watch_update(w);
  return 1;
}

int cio_loop_add_reader(cio_loop *loop, int fd, cio_callback_fn cb, void *arg) {
  return add_callback(loop, fd, SIDE_READ, cb, arg);
}

int cio_loop_remove_reader(cio_loop *loop, int fd) {
  return remove_callback(loop, fd, SIDE_READ);
}

int cio_loop_add_writer(cio_loop *loop, int fd, cio_callback_fn cb, void *arg) {
  return add_callback(loop, fd, SIDE_WRITE, cb, arg);
}

int cio_loop_remove_writer(cio_loop *loop, int fd) {
  return remove_callback(loop, fd, SIDE_WRITE);
}

/* cio_loop_close: callbacks still registered are removed, as closing
 * asyncio's selector drops them.  No task waits here (none is alive). */
void cio__fd_watches_close(cio_loop *loop) {
  for (size_t fd = 0; fd < loop->fd_cap; fd++) {
    struct fd_watch *w = loop->fd_watches[fd];
    if (w == NULL)
      continue;
    CIO_ASSERT(cio__list_empty(&w->waiters));
    for (int i = 0; i < 2; i++)
      side_clear(&w->side[i]);
    watch_update(w);
  }
  if (loop->fd_cap > 0) {
    cio__list_remove(&loop->fd_sweep.node);
    sweep(&loop->fd_sweep);
  }
  cio__free(loop, loop->fd_watches);
  loop->fd_watches = NULL;
  loop->fd_cap = 0;
}
