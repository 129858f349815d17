/* A server on one loop: a cio_server accepting connections (a task each,
 * running conn.c on the stream), a timer sweeping the connections'
 * deadlines, and the graceful shutdown.
 *
 *   SERVING -> DRAINING   cio_web_server_shutdown(): the closer task
 *                         stops the listener and waits for connections
 *   DRAINING -> DONE      every connection ended (the closer returned)
 *   DONE -> freed         cio_web_server_close()
 *
 * (1) sh.conns lists the connections whose task runs conn.c; a
 *     connection leaves it before its task returns to the cio_server.
 * (2) The closer task owns the cio_server from the shutdown on: once it
 *     is done, no connection task and no stream of this server is left.
 * (3) The sweep timer runs while the server is not DONE; every tick it
 *     wakes the connections whose read phase is past its deadline (again
 *     at each tick until they notice).
 */
#include <string.h>

#include "casyncio/config.h"
#include "http/server/httpd.h"
#if CIO_HAVE_TLS
#include "casyncio/tls.h"
#include "tls/tls.h" /* cio__tls_context_retain */
#endif

#define DEFAULT_HEADER_TIMEOUT 10.0
#define DEFAULT_BODY_TIMEOUT 30.0
#define DEFAULT_KEEP_ALIVE_TIMEOUT 5.0
#define DEFAULT_MAX_HEADER_SIZE (16 * 1024)
#define DEFAULT_MAX_HEADERS 100
#define DEFAULT_MAX_BODY_SIZE (1024 * 1024)
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_BACKLOG 1024

enum server_state { SERVING, DRAINING, DONE };

struct cio_web_server {
  struct cio__http_shared sh;
  cio_web_app *app;
  cio_server *listener; /* until the closer takes it */
  cio_task *closer;     /* runs cio_server_close() during shutdown */
  cio_handle *sweep;
  double tick;          /* seconds between sweeps */
  int state;            /* enum server_state */
  int port;
#if CIO_HAVE_TLS
  /* A Unix socket over TLS: each connection upgrades with start_tls (TCP
   * uses cio_tls_start_server instead).  The context is retained. */
  cio_tls_opts tls;
  bool tls_on_accept;
#endif
};

/* ---- options ---------------------------------------------------------- */

static bool bad_timeout(double t) {
  return isnan(t) || t < 0;
}

static double or_default(double v, double def) {
  return v == 0 ? def : v;
}

/* Seconds to whole milliseconds (at least 1); 0 for CIO_NO_TIMEOUT. */
static uint64_t to_ms(double seconds) {
  if (seconds >= 1e12)
    return 0;
  return (uint64_t)(seconds * 1000.0) + 1;
}

int cio__http_limits_init(struct cio__http_limits *lim,
                          const cio_web_server_opts *opts) {
  cio_web_server_opts o = opts ? *opts : (cio_web_server_opts){0};
  if (bad_timeout(o.header_timeout) || bad_timeout(o.body_timeout) ||
      bad_timeout(o.keep_alive_timeout) || bad_timeout(o.shutdown_timeout) ||
      o.workers < 0 || o.backlog < 0)
    return CIO_EINVAL;
  *lim = (struct cio__http_limits){
      .header_timeout = or_default(o.header_timeout, DEFAULT_HEADER_TIMEOUT),
      .body_timeout = or_default(o.body_timeout, DEFAULT_BODY_TIMEOUT),
      .keep_alive_timeout =
          or_default(o.keep_alive_timeout, DEFAULT_KEEP_ALIVE_TIMEOUT),
      .max_header_size =
          o.max_header_size ? o.max_header_size : DEFAULT_MAX_HEADER_SIZE,
      .max_headers = o.max_headers ? o.max_headers : DEFAULT_MAX_HEADERS,
      .max_body_size =
          o.max_body_size ? o.max_body_size : DEFAULT_MAX_BODY_SIZE,
      .cancel_on_disconnect = o.cancel_on_disconnect,
      .stack_size = o.stack_size,
      .log = o.log,
      .log_arg = o.log_arg,
      .wrap = o.wrap,
      .wrap_arg = o.wrap_arg,
  };
  if (lim->max_header_size > UINT32_MAX / 2)
    return CIO_EINVAL; /* offsets into the head are 32-bit */
  lim->header_ms = to_ms(lim->header_timeout);
  lim->body_ms = to_ms(lim->body_timeout);
  lim->keep_alive_ms = to_ms(lim->keep_alive_timeout);
  return 0;
}

/* A quarter of the shortest timeout, between 10 ms and 1 s. */
static double sweep_tick(const struct cio__http_limits *lim) {
  double t = lim->header_timeout;
  if (lim->body_timeout < t)
    t = lim->body_timeout;
  if (lim->keep_alive_timeout < t)
    t = lim->keep_alive_timeout;
  t /= 4;
  return t < 0.01 ? 0.01 : t > 1.0 ? 1.0 : t;
}

/* ---- the stream transport ---------------------------------------------- */

static ssize_t s_read(void *ctx, void *buf, size_t cap) {
  return cio_stream_read(ctx, buf, cap);
}
static int s_write(void *ctx, const void *p, size_t n) {
  return cio_stream_write(ctx, p, n);
}
static int s_drain(void *ctx) {
  return cio_stream_drain(ctx);
}
static bool s_at_eof(void *ctx) {
  return cio_stream_at_eof(ctx) || cio_stream_error(ctx) != 0;
}
static ssize_t s_sendfile(void *ctx, int fd, int64_t offset, size_t count) {
  return cio_fs_sendfile(ctx, fd, offset, count);
}
static int s_peer_addr(void *ctx, cio_addr *out) {
  return cio_stream_peer_addr(ctx, out);
}
static int s_shutdown(void *ctx) {
  return cio_stream_write_eof(ctx);
}

static const struct cio__http_io_ops stream_ops = {
    .read = s_read,
    .write = s_write,
    .drain = s_drain,
    .at_eof = s_at_eof,
    .sendfile = s_sendfile,
    .peer_addr = s_peer_addr,
    .shutdown = s_shutdown,
};

/* ---- connections ------------------------------------------------------- */

/* The cio_server's handler: one connection, in its own task. */
static int on_connection(cio_stream *raw, void *arg) {
  cio_web_server *srv = arg;
  cio_stream *s = raw;
#if CIO_HAVE_TLS
  if (srv->tls_on_accept) {
    int rc = cio_stream_start_tls(raw, &srv->tls);
    if (rc < 0) /* a failed handshake is the client's business */
      return rc == CIO_ECANCELED ? rc : 0;
  }
#endif
  if (srv->sh.lim.wrap != NULL) {
    int rc = srv->sh.lim.wrap(raw, &s, srv->sh.lim.wrap_arg);
    if (rc < 0 || s == NULL)
      return rc == CIO_ECANCELED ? rc : 0;
  }
  struct cio__http_conn c;
  cio__http_conn_init(&c, &srv->sh,
                      &(struct cio__http_io){.ops = &stream_ops, .ctx = s});
  int rc = cio__http_conn_serve(&c);
  cio__http_conn_destroy(&c);
  if (s != raw) {
    int crc = cio_stream_close(s);
    if (rc == 0)
      rc = crc;
  }
  /* Connection errors are the clients' business, not worth a report. */
  return rc == CIO_ECANCELED ? rc : 0;
}

/* ---- the sweep timer ----------------------------------------------------- */

static void sweep(void *arg);

static void sweep_schedule(cio_web_server *srv) {
  cio_handle_release(srv->sweep);
  srv->sweep = NULL;
  if (srv->state != DONE &&
      cio_loop_call_later(srv->sh.loop, srv->tick, sweep, srv, &srv->sweep) <
          0)
    cio__http_log(&srv->sh, "casyncio http: out of memory: timeouts are no "
                            "longer enforced on this server");
}

static bool reads(const struct cio__http_conn *c) {
  return c->phase == CIO__HTTP_IDLE || c->phase == CIO__HTTP_HEAD ||
         c->phase == CIO__HTTP_BODY;
}

static void sweep(void *arg) {
  cio_web_server *srv = arg;
  uint64_t now = uv_now(srv->sh.loop->uv);
  cio__list_foreach(it, &srv->sh.conns) {
    struct cio__http_conn *c =
        cio__container_of(it, struct cio__http_conn, node);
    if (reads(c) && c->deadline_ms != 0 && now >= c->deadline_ms)
      cio__http_conn_wake(c, CIO__HTTP_WAKE_TIMEOUT);
  }
  sweep_schedule(srv);
}

/* ---- opening ------------------------------------------------------------ */

static int server_new(cio_web_server **out, cio_web_app *app,
                      const cio_web_server_opts *opts,
                      cio_server_opts *so) {
  *out = NULL;
  cio_loop *loop = cio__loop_current();
  if (loop == NULL || app == NULL)
    return CIO_EINVAL;
  struct cio__http_limits lim;
  int rc = cio__http_limits_init(&lim, opts);
  if (rc < 0)
    return rc;
  cio_web_server *srv = cio__calloc(loop, 1, sizeof *srv);
  if (srv == NULL)
    return CIO_ENOMEM;
  rc = cio_event_new(&srv->sh.idle);
  if (rc < 0) {
    cio__free(loop, srv);
    return rc;
  }
  srv->sh.loop = loop;
  srv->sh.app = app;
  srv->sh.lim = lim;
  cio__list_init(&srv->sh.conns);
  srv->app = app;
  srv->tick = sweep_tick(&lim);
  srv->port = -1;
  cio_web_server_opts o = opts ? *opts : (cio_web_server_opts){0};
  *so = (cio_server_opts){
      .backlog = o.backlog ? o.backlog : DEFAULT_BACKLOG,
      .reuse_port = o.reuse_port || o.workers > 1,
      .max_connections =
          o.max_connections ? o.max_connections : DEFAULT_MAX_CONNECTIONS,
  };
  *out = srv;
  return 0;
}

static void server_free(cio_web_server *srv) {
  cio_loop *loop = srv->sh.loop;
#if CIO_HAVE_TLS
  if (srv->tls_on_accept)
    cio_tls_context_free(srv->tls.context);
#endif
  cio_handle_cancel(srv->sweep);
  cio_handle_release(srv->sweep);
  cio_event_free(srv->sh.idle);
  cio__free(loop, srv);
}

/* The listener is up: start sweeping and freeze the app. */
static int server_started(cio_web_server *srv, cio_web_server **out) {
  srv->port = cio_server_port(srv->listener);
  srv->app->users++;
  sweep_schedule(srv);
  *out = srv;
  return 0;
}

static bool wants_tls(const cio_web_server_opts *opts) {
  return opts != NULL && opts->tls != NULL;
}

/* TLS options usable by a server (a context), else CIO_EINVAL; without
 * the TLS battery, CIO_ENOTSUP. */
static int check_tls(const cio_web_server_opts *opts) {
  if (!wants_tls(opts))
    return 0;
#if CIO_HAVE_TLS
  return opts->tls->context != NULL ? 0 : CIO_EINVAL;
#else
  return CIO_ENOTSUP;
#endif
}

int cio_web_server_open(cio_web_server **out, cio_web_app *app,
                         const char *host, int port,
                         const cio_web_server_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  int rc = check_tls(opts);
  if (rc < 0)
    return rc;
  cio_server_opts so;
  cio_web_server *srv;
  rc = server_new(&srv, app, opts, &so);
  if (rc < 0)
    return rc;
#if CIO_HAVE_TLS
  if (wants_tls(opts))
    rc = cio_tls_start_server(&srv->listener, on_connection, srv, host, port,
                              &so, opts->tls);
  else
#endif
    rc = cio_start_server(&srv->listener, on_connection, srv, host, port,
                          &so);
  if (rc < 0) {
    server_free(srv);
    return rc;
  }
  return server_started(srv, out);
}

int cio_web_server_open_unix(cio_web_server **out, cio_web_app *app,
                              const char *path,
                              const cio_web_server_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  int rc = check_tls(opts);
  if (path == NULL || rc < 0)
    return path == NULL ? CIO_EINVAL : rc;
  cio_server_opts so;
  cio_web_server *srv;
  rc = server_new(&srv, app, opts, &so);
  if (rc < 0)
    return rc;
#if CIO_HAVE_TLS
  if (wants_tls(opts)) {
    srv->tls = *opts->tls;
    srv->tls.error_buf = NULL; /* shared by every connection: unused */
    srv->tls.error_cap = 0;
    cio__tls_context_retain(srv->tls.context);
    srv->tls_on_accept = true;
  }
#endif
  rc = cio_start_unix_server(&srv->listener, on_connection, srv, path, &so);
  if (rc < 0) {
    server_free(srv);
    return rc;
  }
  return server_started(srv, out);
}

int cio_web_server_port(const cio_web_server *srv) {
  return srv ? srv->port : -1;
}

size_t cio_web_server_connections(const cio_web_server *srv) {
  return srv ? srv->sh.nconns : 0;
}

/* ---- shutting down ------------------------------------------------------- */

static int closer_main(void *arg, void **result) {
  (void)result;
  return cio_server_close(arg);
}

/* Stop accepting and close the idle connections; the closer task waits
 * for the others. */
static int begin_shutdown(cio_web_server *srv) {
  srv->state = DRAINING;
  srv->sh.draining = true;
  cio__list_foreach(it, &srv->sh.conns) {
    struct cio__http_conn *c =
        cio__container_of(it, struct cio__http_conn, node);
    if (c->phase == CIO__HTTP_IDLE)
      cio__http_conn_wake(c, CIO__HTTP_WAKE_SHUTDOWN);
  }
  cio_task_opts o = {.name = "http-server-closer"};
  cio_server *listener = srv->listener;
  srv->listener = NULL;
  int rc = cio_create_task(srv->sh.loop, &srv->closer, closer_main, listener,
                           &o);
  if (rc < 0) /* out of memory: close here, without a deadline */
    return cio_server_close(listener);
  return 0;
}

/* Connections with a request in flight (not idle). */
static bool any_busy(cio_web_server *srv) {
  cio__list_foreach(it, &srv->sh.conns) {
    if (cio__container_of(it, struct cio__http_conn, node)->phase !=
        CIO__HTTP_IDLE)
      return true;
  }
  return false;
}

static void cancel_all(cio_web_server *srv) {
  cio__list_foreach(it, &srv->sh.conns) {
    cio_task_cancel(
        cio__container_of(it, struct cio__http_conn, node)->task);
  }
}

/* Wait for the closer, however often this task is cancelled meanwhile:
 * the connections end soon, being cancelled.  Returns CIO_ECANCELED if
 * it was. */
static int await_closer(cio_web_server *srv) {
  int rc = 0;
  while (!cio_task_is_done(srv->closer)) {
    if (cio_shield(cio_task_future(srv->closer), NULL) == CIO_ECANCELED &&
        !cio_task_is_done(srv->closer)) {
      rc = CIO_ECANCELED;
      cancel_all(srv);
    }
  }
  return rc;
}

/* Is the calling task one of this server's connections or handlers? */
static bool called_from_inside(cio_web_server *srv) {
  cio_task *self = cio_current_task();
  cio__list_foreach(it, &srv->sh.conns) {
    struct cio__http_conn *c =
        cio__container_of(it, struct cio__http_conn, node);
    if (c->task == self || c->handler == self)
      return true;
  }
  return false;
}

int cio_web_server_shutdown(cio_web_server *srv, double timeout) {
  if (srv == NULL || bad_timeout(timeout))
    return CIO_EINVAL;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  if (called_from_inside(srv))
    return CIO_EDEADLK; /* it would wait for its own request */
  int rc = 0;
  if (srv->state == SERVING)
    rc = begin_shutdown(srv);
  if (srv->closer != NULL && !cio_task_is_done(srv->closer)) {
    cio_future *f = cio_task_future(srv->closer);
    bool done = false;
    if (timeout > 0)
      rc = cio_wait(&f, 1, timeout, CIO_ALL_COMPLETED, &done, NULL);
    if (rc == 0 && !done) {
      rc = timeout > 0 || any_busy(srv) ? CIO_ETIMEDOUT : 0;
      cancel_all(srv);
    } else if (rc == CIO_ECANCELED) {
      cancel_all(srv);
    }
    int arc = await_closer(srv);
    if (arc < 0)
      rc = arc;
  }
  srv->state = DONE;
  return rc;
}

int cio_web_server_close(cio_web_server *srv) {
  if (srv == NULL)
    return 0;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  if (called_from_inside(srv))
    return CIO_EDEADLK;
  int rc = 0;
  if (srv->state != DONE) {
    rc = cio_web_server_shutdown(srv, 0);
    rc = rc == CIO_ECANCELED ? rc : 0;
  }
  if (srv->closer != NULL) {
    cio_task_error(srv->closer); /* read: nothing to report */
    cio_task_release(srv->closer);
  }
  srv->app->users--;
  server_free(srv);
  return rc;
}
