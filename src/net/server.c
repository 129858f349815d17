/* Servers: a listening socket polled by libuv and accepted by hand
 * (sock_posix.c), a task per connection running the user's handler.
 *
 * Lifecycle (srv->state), each edge with the function that takes it:
 *   LISTENING -> BACKING_OFF   accept failed for lack of resources back_off()
 *   BACKING_OFF -> LISTENING   100 ms later                      on_backoff()
 *   LISTENING -> FULL          max_connections reached        on_acceptable()
 *   FULL -> LISTENING          a connection ended               conn_detach()
 *   LISTENING|BACKING_OFF|FULL -> CLOSING
 *                              cio_server_close, a cancelled
 *                              serve_forever                    begin_close()
 *   CLOSING -> CLOSED          both libuv handles called back
 *                                                          on_handle_closed()
 *   CLOSED -> freed            last reference dropped          server_unref()
 * Connections end independently (nconns); "closed" for wait_closed is
 * CLOSED with no connection left.
 *
 * Invariants, checked by server_check() at public entry points:
 * (1) refs counts the user, each connection (its stream's `server`
 *     points here until its task ends) and the open libuv handles (one
 *     reference for both); the server is freed when it reaches 0.
 * (2) Every change that can end a wait (closing, handles closed, a
 *     connection ending) wakes all of srv->waiters, in the iteration it
 *     happens; they re-check.
 * (3) The poll handle is active only while LISTENING, so a server out of
 *     descriptors does not spin (it sleeps on the backoff timer) and a
 *     full one leaves new clients in the kernel's backlog.
 * (4) Both handles are open before CLOSING, at least one while CLOSING,
 *     none once CLOSED.
 * (5) nconns is the length of `conns`.
 * (6) user_released (close() was called) implies CLOSING or later.
 */
#include <string.h>
#include <sys/un.h>

#include "net/net.h"
#include "net/stream.h"

#define ACCEPT_BACKOFF_MS 100
#define ACCEPTS_PER_WAKEUP 64
#define DEFAULT_BACKLOG 128

enum server_state {
  SERVER_LISTENING,
  SERVER_BACKING_OFF,
  SERVER_FULL,
  SERVER_CLOSING,
  SERVER_CLOSED,
};

struct cio_server {
  cio_loop *loop;
  int refs;
  uv_poll_t poll;
  uv_timer_t backoff;
  int handles_open;
  uv_os_sock_t fd;
  uint8_t state;      /* server_state */
  bool user_released; /* ownership, not lifecycle: close() was called */
  int kind;           /* cio__stream_kind of accepted connections */
  size_t max_conns;   /* FULL at this many connections; 0: no limit */
  int port;
  char *path; /* Unix socket file to remove on close */
  cio_server_handler fn;
  void *arg;
  cio_stream_opts sopts;
  struct cio__list conns; /* streams of live connections (server_node) */
  size_t nconns;
  struct cio__list waiters;
  cio_task *serving;            /* the task in serve_forever */
  struct cio__server_wrap wrap; /* TLS, or all NULL */
  struct cio__ctx *ctx; /* where it was started: its handlers' context */
};

static bool server_closing(const cio_server *srv) {
  return srv->state >= SERVER_CLOSING;
}

/* "server fd 5, 127.0.0.1:8080" (waits on a server, object lists). */
static void server_describe(cio_loop *loop, const void *obj,
                            struct cio__text *out) {
  (void)loop;
  const cio_server *srv = obj;
  cio__text_printf(out, "server fd %d", (int)srv->fd);
  cio_addr a;
  if (srv->state < SERVER_CLOSED && cio__sock_name(srv->fd, &a) == 0) {
    cio__text_put(out, ", ");
    cio__addr_describe(&a, out);
  }
}

/* The whole-object check of the invariants above (5 only in O(1) form:
 * the list is empty exactly when the count is 0). */
static bool server_check(const cio_server *srv) {
  if (srv->refs <= 0 || srv->state > SERVER_CLOSED)
    return false;
  if (srv->state < SERVER_CLOSING && srv->handles_open != 2) /* (4) */
    return false;
  if (srv->state == SERVER_CLOSING &&
      (srv->handles_open < 1 || srv->handles_open > 2))
    return false;
  if (srv->state == SERVER_CLOSED && srv->handles_open != 0)
    return false;
  if ((srv->nconns == 0) != cio__list_empty(&srv->conns)) /* (5) */
    return false;
  return !srv->user_released || server_closing(srv); /* (6) */
}

static void server_unref(cio_server *srv) {
  if (--srv->refs > 0)
    return;
  CIO_ASSERT(srv->handles_open == 0 && srv->nconns == 0);
  cio_loop *loop = srv->loop;
  if (srv->wrap.ctx_free != NULL)
    srv->wrap.ctx_free(srv->wrap.ctx);
  cio__ctx_release(srv->ctx);
  cio__free(loop, srv->path);
  cio__obj_remove(loop, CIO__OBJ_SERVER, srv);
  cio__free(loop, srv);
}

static void server_changed(cio_server *srv) {
  cio__wait_wake_all(&srv->waiters, 0);
}

/* ---- connections ------------------------------------------------------ */

static void on_acceptable(uv_poll_t *h, int status, int events);

static void conn_detach(cio_stream *s) {
  cio_server *srv = s->server;
  s->server = NULL;
  cio__list_remove(&s->server_node);
  srv->nconns--;
  if (srv->state == SERVER_FULL) { /* a slot is free: accept again */
    srv->state = SERVER_LISTENING;
    uv_poll_start(&srv->poll, UV_READABLE, on_acceptable);
  }
  server_changed(srv);
  server_unref(srv);
}

static int conn_main(void *arg, void **result) {
  (void)result;
  cio_stream *s = arg;
  cio_server *srv = s->server;
  int rc = srv->wrap.wrap != NULL ? srv->wrap.wrap(s, srv->wrap.ctx) : 0;
  if (rc == 0)
    rc = srv->fn(s, srv->arg);
  else if (rc != CIO_ECANCELED)
    rc = 0; /* a failed TLS handshake: not the handler's error */
  if (rc < 0 && rc != CIO_ECANCELED)
    cio__report(s->loop,
                &(cio_exception_context){.error = rc,
                                         .source = "connection handler",
                                         .task = cio_current_task(),
                                         .stream = s},
                "unhandled error in connection handler: %s (%s)",
                cio_err_name(rc), cio_strerror(rc));
  /* Whatever the handler did, its connection ends with it. */
  int crc = cio_stream_close(s);
  return rc == CIO_ECANCELED || crc == CIO_ECANCELED ? CIO_ECANCELED : 0;
}

/* Runs once the connection's task is done, holding the task's reference
 * on the stream.  The connection leaves the server only here, so that
 * cio_server_close() returning means no callback of it is pending.  A
 * task cancelled before its body ran never closed its stream: do it. */
static void conn_done(cio_future *f, void *arg) {
  (void)f;
  cio_stream *s = arg;
  (void)!cio_stream_close(s); /* not in a task: starts the close */
  conn_detach(s);
  cio__stream_unref(s);
}

static int conn_spawn(cio_server *srv, cio_stream *s) {
  cio_task *t;
  /* The handler's task starts with a copy of the context the server was
   * started in, as asyncio's accept callback runs in it. */
  struct cio__ctx *saved = cio__ctx_enter(srv->ctx);
  int rc = cio_create_task(srv->loop, &t, conn_main, s, NULL);
  cio__ctx_leave(saved);
  if (rc < 0)
    return rc;
  rc = cio_task_add_done_callback(t, conn_done, s);
  if (rc < 0) {
    cio_task_cancel(t); /* never starts: nobody would clean up after it */
    cio_task_release(t);
    return rc;
  }
  cio_task_release(t);
  s->refs++; /* the task's, dropped by conn_done */
  s->server = srv;
  cio__list_push_back(&srv->conns, &s->server_node);
  srv->nconns++;
  srv->refs++;
  return 0;
}

/* Wrap the accepted descriptor in a stream and start its task. */
static int conn_open(cio_server *srv, uv_os_sock_t fd) {
  cio_stream *s;
  int rc = cio__stream_new(srv->loop, srv->kind, &srv->sopts, &s);
  if (rc < 0) {
    cio__sock_close(fd);
    return rc;
  }
  rc = srv->kind == CIO__STREAM_TCP ? uv_tcp_open(&s->h.tcp, fd)
                                    : uv_pipe_open(&s->h.pipe, fd);
  if (rc < 0)
    cio__sock_close(fd);
  if (rc == 0)
    rc = cio__stream_start(s, CIO__STREAM_READ | CIO__STREAM_WRITE);
  if (rc == 0)
    rc = conn_spawn(srv, s);
  if (rc < 0) {
    cio__stream_discard(s);
    return rc;
  }
  return 0;
}

/* ---- accepting ----------------------------------------------------- */

static void on_backoff(uv_timer_t *h) {
  cio_server *srv = h->data;
  if (srv->state != SERVER_BACKING_OFF)
    return;
  srv->state = SERVER_LISTENING;
  uv_poll_start(&srv->poll, UV_READABLE, on_acceptable);
}

/* Out of descriptors or memory: stop polling (the clients wait in the
 * backlog) and try again later, as uvloop and Go's net package do. */
static void back_off(cio_server *srv) {
  srv->state = SERVER_BACKING_OFF;
  uv_poll_stop(&srv->poll);
  uv_timer_start(&srv->backoff, on_backoff, ACCEPT_BACKOFF_MS, 0);
}

static bool is_resource_error(int rc) {
  return rc == CIO_EMFILE || rc == CIO_ENFILE || rc == CIO_ENOBUFS ||
         rc == CIO_ENOMEM;
}

static void on_acceptable(uv_poll_t *h, int status, int events) {
  (void)events;
  cio_server *srv = h->data;
  if (status < 0) {
    back_off(srv);
    return;
  }
  for (int i = 0; i < ACCEPTS_PER_WAKEUP && srv->state == SERVER_LISTENING;
       i++) {
    if (srv->max_conns != 0 && srv->nconns >= srv->max_conns) {
      srv->state = SERVER_FULL; /* the rest wait in the backlog */
      uv_poll_stop(&srv->poll);
      return;
    }
    uv_os_sock_t fd;
    int rc = cio__sock_accept(srv->fd, &fd);
    if (rc == CIO_EAGAIN)
      return;
    if (rc == 0)
      rc = conn_open(srv, fd);
    if (is_resource_error(rc)) {
      back_off(srv);
      return;
    }
    /* Others (ECONNABORTED, EPROTO, EPERM...) concern one client. */
  }
}

/* ---- opening -------------------------------------------------------- */

static int server_listen(cio_server *srv, const cio_addr *addr,
                         const cio_server_opts *o) {
  int backlog = o->backlog > 0 ? o->backlog : DEFAULT_BACKLOG;
  int rc = cio__sock_listen(addr, backlog, o->reuse_port, &srv->fd);
  if (rc < 0)
    return rc;
  cio_addr bound;
  srv->port = -1;
  if (srv->kind == CIO__STREAM_TCP && cio__sock_name(srv->fd, &bound) == 0)
    (void)!cio_addr_format(&bound, NULL, 0, &srv->port); /* no host */
  rc = uv_poll_init_socket(srv->loop->uv, &srv->poll, srv->fd);
  if (rc < 0) {
    cio__sock_close(srv->fd);
    return cio__uv_error(rc);
  }
  uv_timer_init(srv->loop->uv, &srv->backoff);
  srv->poll.data = srv->backoff.data = srv;
  srv->handles_open = 2;
  srv->refs++;
  uv_poll_start(&srv->poll, UV_READABLE, on_acceptable);
  return 0;
}

static int server_open(cio_server **out, cio_server_handler fn, void *arg,
                       const cio_addr *addr, const char *path,
                       const cio_server_opts *opts,
                       const struct cio__server_wrap *wrap) {
  cio_loop *loop = cio__loop_current();
  cio_server_opts o = opts ? *opts : (cio_server_opts){0};
  cio_server *srv = cio__calloc(loop, 1, sizeof *srv);
  if (srv == NULL)
    return CIO_ENOMEM;
  *srv = (cio_server){.loop = loop, .refs = 1, .fn = fn, .arg = arg,
                      .max_conns = o.max_connections};
  if (wrap != NULL)
    srv->wrap = *wrap;
  srv->sopts = o.stream ? *o.stream
                        : (cio_stream_opts){.limit = CIO_STREAM_DEFAULT_LIMIT};
  srv->kind = path != NULL ? CIO__STREAM_PIPE : CIO__STREAM_TCP;
  cio__list_init(&srv->conns);
  cio__list_init(&srv->waiters);
  int rc = 0;
  if (path != NULL && (srv->path = cio__strdup(loop, path)) == NULL)
    rc = CIO_ENOMEM;
  if (rc == 0)
    rc = server_listen(srv, addr, &o);
  if (rc < 0) {
    cio__free(loop, srv->path);
    cio__free(loop, srv);
    return rc;
  }
  srv->ctx = cio__ctx_retain(cio__ctx_current());
  cio__obj_add(loop, CIO__OBJ_SERVER, srv, server_describe);
  *out = srv;
  return 0;
}

static int start_tcp(cio_server **out, cio_server_handler handler, void *arg,
                     const char *host, int port, const cio_server_opts *opts,
                     const struct cio__server_wrap *wrap) {
  cio_addr addrs[CIO__NET_MAX_ADDRS];
  int n = cio__net_resolve(host, port, SOCK_STREAM, true, addrs);
  if (n < 0)
    return n;
  return server_open(out, handler, arg, &addrs[0], NULL, opts, wrap);
}

static int start_unix(cio_server **out, cio_server_handler handler, void *arg,
                      const char *path, const cio_server_opts *opts,
                      const struct cio__server_wrap *wrap) {
  cio_addr addr;
  memset(&addr, 0, sizeof addr);
  struct sockaddr_un *sun = (struct sockaddr_un *)&addr;
  if (strlen(path) >= sizeof sun->sun_path)
    return CIO_ENAMETOOLONG;
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, path, strlen(path) + 1);
  cio__sock_unlink_unix(path); /* a stale socket file, as asyncio does */
  return server_open(out, handler, arg, &addr, path, opts, wrap);
}

int cio__start_server_wrapped(cio_server **out, cio_server_handler handler,
                              void *arg, const char *host, int port,
                              const char *path, const cio_server_opts *opts,
                              const struct cio__server_wrap *wrap) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (handler == NULL || cio__loop_current() == NULL ||
      (opts != NULL && cio__stream_opts_check(opts->stream) < 0))
    return CIO_EINVAL;
  return path != NULL ? start_unix(out, handler, arg, path, opts, wrap)
                      : start_tcp(out, handler, arg, host, port, opts, wrap);
}

int cio_start_server(cio_server **out, cio_server_handler handler, void *arg,
                     const char *host, int port, const cio_server_opts *opts) {
  return cio__start_server_wrapped(out, handler, arg, host, port, NULL, opts,
                                   NULL);
}

int cio_start_unix_server(cio_server **out, cio_server_handler handler,
                          void *arg, const char *path,
                          const cio_server_opts *opts) {
  if (path == NULL) {
    if (out != NULL)
      *out = NULL;
    return CIO_EINVAL;
  }
  return cio__start_server_wrapped(out, handler, arg, NULL, 0, path, opts,
                                   NULL);
}

/* ---- closing -------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  cio_server *srv = h->data;
  if (--srv->handles_open > 0)
    return;
  srv->state = SERVER_CLOSED;
  server_changed(srv);
  server_unref(srv);
}

static void begin_close(cio_server *srv) {
  if (server_closing(srv))
    return;
  srv->state = SERVER_CLOSING;
  uv_close((uv_handle_t *)&srv->poll, on_handle_closed);
  uv_close((uv_handle_t *)&srv->backoff, on_handle_closed);
  cio__loop_poll_soon(srv->loop); /* the close callbacks end waits */
  cio__sock_close(srv->fd);       /* after the poll handle let go of it */
  if (srv->path != NULL)
    cio__sock_unlink_unix(srv->path);
  server_changed(srv);
}

/* Connections other than the calling task's own, in O(1): a connection
 * task runs conn_main on its stream, and stays attached (counted in
 * nconns) until conn_done, after it finished. */
static size_t other_conns(cio_server *srv, cio_task *self) {
  bool own = self != NULL && self->fn == conn_main &&
             ((cio_stream *)self->fut.dispose_arg)->server == srv;
  return srv->nconns - (own ? 1 : 0);
}

static const struct cio__wait_kind close_kind = {.what = "server close",
                                                 .describe = server_describe};
static const struct cio__wait_kind serve_kind = {.what = "server serve_forever",
                                                 .describe = server_describe};

static bool is_closed(cio_server *srv, cio_task *self) {
  return srv->state == SERVER_CLOSED && other_conns(srv, self) == 0;
}

int cio_server_close(cio_server *srv) {
  if (srv == NULL || srv->user_released)
    return 0;
  CIO_ASSERT(server_check(srv));
  begin_close(srv);
  srv->user_released = true;
  cio_task *t = srv->loop->current;
  int rc = 0;
  srv->refs++;
  while (t != NULL && rc == 0 && !is_closed(srv, t))
    rc = cio__wait_in(&srv->waiters, t, 0, &close_kind, srv);
  server_unref(srv);
  server_unref(srv); /* the user's */
  return rc;
}

int cio_server_wait_closed(cio_server *srv) {
  if (srv == NULL)
    return CIO_EINVAL;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  CIO_ASSERT(server_check(srv));
  srv->refs++;
  while (rc == 0 && !is_closed(srv, t))
    rc = cio__wait_in(&srv->waiters, t, 0, &close_kind, srv);
  server_unref(srv);
  return rc;
}

int cio_server_serve_forever(cio_server *srv) {
  if (srv == NULL)
    return CIO_EINVAL;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  CIO_ASSERT(server_check(srv));
  if (srv->serving != NULL)
    return CIO_EBUSY;
  srv->serving = t;
  srv->refs++;
  while (rc == 0 && !server_closing(srv))
    rc = cio__wait_in(&srv->waiters, t, 0, &serve_kind, srv);
  if (rc == CIO_ECANCELED)
    begin_close(srv); /* cancelling serve_forever closes the server */
  srv->serving = NULL;
  server_unref(srv);
  return rc;
}

bool cio_server_is_serving(const cio_server *srv) {
  return srv != NULL && !server_closing(srv);
}

size_t cio_server_connections(const cio_server *srv) {
  return srv ? srv->nconns : 0;
}

int cio_server_port(const cio_server *srv) {
  return srv ? srv->port : -1;
}

int cio_server_close_clients(cio_server *srv) {
  if (srv == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(server_check(srv));
  cio__list_foreach(it, &srv->conns) {
    cio__stream_begin_close(cio__container_of(it, cio_stream, server_node));
  }
  return 0;
}
