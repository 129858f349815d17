/* Addresses, resolution, and the client side of streams:
 * cio_open_connection and cio_open_unix_connection. */
#include <string.h>
#include <sys/un.h> /* sockaddr_un (libuv includes the rest) */

#include "net/net.h"
#include "net/stream.h"

_Static_assert(sizeof(cio_addr) >= sizeof(struct sockaddr_storage),
               "cio_addr holds any socket address");

/* ---- addresses ------------------------------------------------------ */

int cio__addr_family(const cio_addr *a) {
  return ((const struct sockaddr *)a)->sa_family;
}

int cio__addr_len(const cio_addr *a) {
  switch (cio__addr_family(a)) {
  case AF_INET:
    return (int)sizeof(struct sockaddr_in);
  case AF_INET6:
    return (int)sizeof(struct sockaddr_in6);
  case AF_UNIX:
    return (int)sizeof(struct sockaddr_un);
  default:
    return 0;
  }
}

int cio_addr_parse(cio_addr *out, const char *ip, int port) {
  if (out == NULL || ip == NULL || port < 0 || port > 65535)
    return CIO_EINVAL;
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)out) == 0)
    return 0;
  memset(out, 0, sizeof *out);
  if (strchr(ip, ':') != NULL &&
      uv_ip6_addr(ip, port, (struct sockaddr_in6 *)out) == 0)
    return 0;
  memset(out, 0, sizeof *out);
  return CIO_EINVAL;
}

int cio_addr_format(const cio_addr *a, char *host, size_t cap, int *port) {
  if (port != NULL)
    *port = 0;
  if (a == NULL)
    return CIO_EINVAL;
  char tmp[sizeof(struct sockaddr_un)];
  int p = 0, rc;
  switch (cio__addr_family(a)) {
  case AF_INET: {
    const struct sockaddr_in *sin = (const void *)a;
    rc = uv_ip4_name(sin, tmp, sizeof tmp);
    p = ntohs(sin->sin_port);
    break;
  }
  case AF_INET6: {
    const struct sockaddr_in6 *sin6 = (const void *)a;
    rc = uv_ip6_name(sin6, tmp, sizeof tmp);
    p = ntohs(sin6->sin6_port);
    break;
  }
  case AF_UNIX: {
    const struct sockaddr_un *sun = (const void *)a;
    snprintf(tmp, sizeof tmp, "%.*s", (int)sizeof sun->sun_path, sun->sun_path);
    rc = 0;
    break;
  }
  default:
    return CIO_EINVAL;
  }
  if (rc < 0)
    return cio__uv_error(rc);
  if (port != NULL)
    *port = p;
  if (host != NULL) {
    if (strlen(tmp) + 1 > cap)
      return CIO_ENOSPC;
    memcpy(host, tmp, strlen(tmp) + 1);
  }
  return 0;
}

/* ---- resolution ----------------------------------------------------- */

static int resolve_name(const char *host, int port, int socktype, bool passive,
                        cio_addr *addrs) {
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype};
  if (passive)
    hints.ai_flags = AI_PASSIVE;
  struct addrinfo *res;
  int rc = cio_getaddrinfo(host, service, &hints, &res);
  if (rc < 0)
    return rc;
  int n = 0;
  for (struct addrinfo *ai = res; ai != NULL && n < CIO__NET_MAX_ADDRS;
       ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof addrs[n])
      continue;
    memset(&addrs[n], 0, sizeof addrs[n]);
    memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
    n++;
  }
  cio_freeaddrinfo(res);
  return n > 0 ? n : CIO_EAI_NONAME;
}

int cio__net_resolve(const char *host, int port, int socktype, bool passive,
                     cio_addr *addrs) {
  if (port < 0 || port > 65535)
    return CIO_EINVAL;
  if (host == NULL || host[0] == '\0') {
    if (!passive)
      return CIO_EINVAL;
    host = "0.0.0.0";
  }
  if (cio_addr_parse(&addrs[0], host, port) == 0)
    return 1;
  return resolve_name(host, port, socktype, passive, addrs);
}

/* ---- connecting ----------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status) {
  cio__uvwait_complete(req->data, status);
}

/* A cancelled connect closes the handle: libuv then calls the connect
 * callback with UV_ECANCELED. */
static void connect_cancel(struct cio__uvwait *w) {
  cio__stream_abort(w->data);
}

/* Connect the unopened stream `s`; on failure close it (waiting for the
 * close callback) and free it. */
static int connect_stream(cio_stream *s, cio_task *t, const cio_addr *addr,
                          const char *path) {
  uv_connect_t req;
  struct cio__uvwait w;
  cio__uvwait_init(&w, t, connect_cancel);
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
