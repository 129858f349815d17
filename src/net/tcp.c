/* The client side of streams: cio_open_connection and
 * cio_open_unix_connection (addresses and resolution are in addr.c). */
#include <string.h>
#include <sys/un.h> /* sockaddr_un (libuv includes the rest) */

#include "net/net.h"
#include "net/stream.h"

/* ---- connecting ----------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status) {
  cio__uvwait_complete(req->data, status);
}

/* A cancelled connect closes the handle: libuv then calls the connect
 * callback with UV_ECANCELED. */
static void connect_cancel(struct cio__uvwait *w) {
  cio__stream_abort(w->data);
}

static void connect_describe(cio_loop *loop, const void *obj,
                             struct cio__text *out) {
  (void)loop;
  cio__text_put(out, "to ");
  cio__addr_describe(obj, out);
}

static void unix_connect_describe(cio_loop *loop, const void *obj,
                                  struct cio__text *out) {
  (void)loop;
  cio__text_printf(out, "to %s", (const char *)obj);
}

static const struct cio__wait_kind connect_kind = {
    .what = "connect", .describe = connect_describe};
static const struct cio__wait_kind unix_connect_kind = {
    .what = "connect", .describe = unix_connect_describe};

/* Connect the unopened stream `s`; on failure close it (waiting for the
 * close callback) and free it. */
static int connect_stream(cio_stream *s, cio_task *t, const cio_addr *addr,
                          const char *path) {
  uv_connect_t req;
  struct cio__uvwait w;
  cio__uvwait_init(&w, t, connect_cancel);
  if (path != NULL)
    cio__wait_about(&w.wait, &unix_connect_kind, path);
  else
    cio__wait_about(&w.wait, &connect_kind, addr);
  w.data = s;
  req.data = &w;
  int rc = 0;
  if (path != NULL)
    uv_pipe_connect(&req, &s->h.pipe, path, on_connect);
  else
    rc = uv_tcp_connect(&req, &s->h.tcp, (const struct sockaddr *)addr,
                        on_connect);
  rc = rc < 0 ? cio__uv_error(rc) : cio__uvwait_park(&w);
  if (rc == 0)
    rc = cio__stream_start(s, CIO__STREAM_READ | CIO__STREAM_WRITE);
  if (rc == 0)
    return 0;
  cio__stream_ref(s);
  cio__stream_discard(s);
  int crc = cio__stream_wait_uv_closed(s, t);
  cio__stream_unref(s);
  return crc < 0 ? crc : rc;
}

static int connect_one(cio_loop *loop, cio_task *t, const cio_addr *addr,
                       const char *path, const cio_stream_opts *opts,
                       cio_stream **out) {
  cio_stream *s;
  int kind = path != NULL ? CIO__STREAM_PIPE : CIO__STREAM_TCP;
  int rc = cio__stream_new(loop, kind, opts, &s);
  if (rc < 0)
    return rc;
  rc = connect_stream(s, t, addr, path);
  if (rc == 0)
    *out = s;
  return rc;
}

int cio_open_connection(cio_stream **out, const char *host, int port,
                        const cio_stream_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  if (host == NULL || cio__stream_opts_check(opts) < 0)
    return CIO_EINVAL;
  cio_addr addrs[CIO__NET_MAX_ADDRS];
  int n = cio__net_resolve(host, port, SOCK_STREAM, false, addrs);
  if (n < 0)
    return n;
  for (int i = 0; i < n; i++) {
    rc = connect_one(t->fut.loop, t, &addrs[i], NULL, opts, out);
    if (rc == 0 || rc == CIO_ECANCELED || rc == CIO_ENOMEM)
      break;
  }
  return rc;
}

int cio_open_unix_connection(cio_stream **out, const char *path,
                             const cio_stream_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  if (path == NULL || cio__stream_opts_check(opts) < 0)
    return CIO_EINVAL;
  return connect_one(t->fut.loop, t, NULL, path, opts, out);
}
