/* UDP endpoints.  Receiving is pull-based: libuv reads only while a task
 * waits in recvfrom, straight into that task's buffer (no copy, no
 * queue); between calls datagrams wait in the kernel's socket buffer.
 * Sending tries uv_udp_try_send and falls back to uv_udp_send with the
 * task parked until libuv is done with the caller's buffer.
 *
 * (1) libuv reads (uv_udp_recv_start) exactly while a receiver waits in
 *     d->receiver (a list of at most one wait record).
 * (2) refs counts the user, the open handle and calls in progress.
 */
#include <string.h>

#include "net/net.h"

struct receiver {
  struct cio__wait wait; /* in d->receiver */
  cio_datagram *d;
  char *buf;
  size_t cap;
  cio_addr *from;
  ssize_t result;
  bool done;
};

struct cio_datagram {
  uv_udp_t udp;
  cio_loop *loop;
  int refs;
  bool closing, closed;
  bool connected;
  struct cio__list receiver; /* struct receiver, at most one */
  struct cio__list closers;
};

/* "datagram endpoint 127.0.0.1:5000" (waits, object lists). */
static void dgram_describe(cio_loop *loop, const void *obj,
                           struct cio__text *out) {
  (void)loop;
  cio_datagram *d = (cio_datagram *)obj;
  cio__text_put(out, "datagram endpoint");
  cio_addr a;
  int len = (int)sizeof a;
  if (!d->closed &&
      uv_udp_getsockname(&d->udp, (struct sockaddr *)&a, &len) == 0) {
    cio__text_put(out, " ");
    cio__addr_describe(&a, out);
  }
}

static const struct cio__wait_kind receive_kind = {.what = "datagram receive",
                                                   .describe = dgram_describe};
static const struct cio__wait_kind send_kind = {.what = "datagram send",
                                                .describe = dgram_describe};
static const struct cio__wait_kind dclose_kind = {.what = "datagram close",
                                                  .describe = dgram_describe};

static void dgram_unref(cio_datagram *d) {
  if (--d->refs > 0)
    return;
  cio__obj_remove(d->loop, CIO__OBJ_DATAGRAM, d);
  cio__free(d->loop, d);
}

/* ---- receiving ------------------------------------------------------ */

static struct receiver *receiver_of(cio_datagram *d) {
  struct cio__wait *w = cio__wait_first(&d->receiver);
  return w ? cio__container_of(w, struct receiver, wait) : NULL;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  struct receiver *r = receiver_of(h->data);
  *buf = r ? uv_buf_init(r->buf, (unsigned)r->cap) : uv_buf_init(NULL, 0);
}

static void finish_receive(cio_datagram *d, ssize_t result) {
  struct receiver *r = receiver_of(d);
  uv_udp_recv_stop(&d->udp);
  r->result = result;
  r->done = true;
  cio__wait_wake(&r->wait, 0);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  (void)buf;
  (void)flags;
  cio_datagram *d = h->data;
  struct receiver *r = receiver_of(d);
  if (r == NULL || (nread == 0 && addr == NULL))
    return; /* nothing more to read for now */
  if (nread >= 0 && addr != NULL && r->from != NULL) {
    memset(r->from, 0, sizeof *r->from);
    memcpy(r->from, addr,
           addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in));
  }
  finish_receive(d, nread < 0 ? cio__uv_error((int)nread) : nread);
}

/* Stop reading at once: a datagram arriving before the task resumes
 * stays in the kernel for the next receiver. */
static bool receive_interrupt(struct cio__wait *w) {
  struct receiver *r = cio__container_of(w, struct receiver, wait);
  uv_udp_recv_stop(&r->d->udp);
  return cio__wait_cancel_default(w);
}

ssize_t cio_datagram_recvfrom(cio_datagram *d, void *buf, size_t cap,
                              cio_addr *from) {
  if (d == NULL || (buf == NULL && cap > 0))
    return CIO_EINVAL;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  if (d->closing)
    return CIO_ECLOSED;
  if (!cio__list_empty(&d->receiver))
    return CIO_EBUSY;
  struct receiver r = {.d = d, .buf = buf, .cap = cap, .from = from};
  cio__wait_init(&r.wait, t, 0);
  cio__wait_about(&r.wait, &receive_kind, d);
  r.wait.interrupt = receive_interrupt;
  rc = uv_udp_recv_start(&d->udp, on_alloc, on_recv);
  if (rc < 0)
    return cio__uv_error(rc);
  d->refs++;
  rc = cio__wait_on(&d->receiver, &r.wait);
  dgram_unref(d);
  if (rc < 0)
    return rc;
  return r.done ? r.result : CIO_ECLOSED;
}

/* ---- sending ------------------------------------------------------ */

static void on_send(uv_udp_send_t *req, int status) {
  cio__uvwait_complete(req->data, status);
}

int cio_datagram_sendto(cio_datagram *d, const void *data, size_t n,
                        const cio_addr *to) {
  if (d == NULL || (data == NULL && n > 0))
    return CIO_EINVAL;
  if (d->closing)
    return CIO_ECLOSED;
  const struct sockaddr *sa = (const struct sockaddr *)to;
  if (sa == NULL && !d->connected)
    return CIO_EINVAL;
  if (sa != NULL && d->connected)
    return CIO_EISCONN;
  if (n > UINT32_MAX)
    return CIO_EMSGSIZE; /* no datagram is that large */
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int rc = uv_udp_try_send(&d->udp, &b, 1, sa);
  if (rc >= 0)
    return 0;
  if (rc != UV_EAGAIN && rc != UV_ENOSYS)
    return cio__uv_error(rc);
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  uv_udp_send_t req;
  struct cio__uvwait w;
  cio__uvwait_init(&w, t, NULL); /* libuv holds `data` until called back */
  cio__wait_about(&w.wait, &send_kind, d);
  req.data = &w;
  rc = uv_udp_send(&req, &d->udp, &b, 1, sa, on_send);
  if (rc < 0)
    return cio__uv_error(rc);
  d->refs++;
  rc = cio__uvwait_park(&w);
  dgram_unref(d);
  if (rc == CIO_ECANCELED && d->closing)
    return CIO_ECLOSED;
  return cio__uv_error(rc);
}

/* ---- opening and closing -------------------------------------------- */

static int dgram_setup(cio_datagram *d, const char *local_host, int local_port,
                       const char *remote_host, int remote_port,
                       const cio_datagram_opts *o) {
  cio_addr local, remote[CIO__NET_MAX_ADDRS];
  int rc;
  if (remote_host != NULL) {
    rc = cio__net_resolve(remote_host, remote_port, SOCK_DGRAM, false, remote);
    if (rc < 0)
      return rc;
  }
  if (local_host == NULL && remote_host != NULL &&
      cio__addr_family(&remote[0]) == AF_INET6)
    local_host = "::";
  rc = cio__net_resolve(local_host, local_port, SOCK_DGRAM, true, &local);
  if (rc < 0)
    return rc;
  uv_os_sock_t fd;
  if (o->reuse_port && uv_fileno((uv_handle_t *)&d->udp, &fd) == 0)
    rc = cio__sock_set_reuseport(fd);
  if (rc >= 0 && o->allow_broadcast)
    rc = uv_udp_set_broadcast(&d->udp, 1);
  if (rc >= 0)
    rc = uv_udp_bind(&d->udp, (const struct sockaddr *)&local, 0);
  if (rc >= 0 && remote_host != NULL) {
    rc = uv_udp_connect(&d->udp, (const struct sockaddr *)&remote[0]);
    d->connected = rc == 0;
  }
  return rc < 0 ? cio__uv_error(rc) : 0;
}

static void on_close(uv_handle_t *h) {
  cio_datagram *d = h->data;
  d->closed = true;
  cio__wait_wake_all(&d->closers, 0);
  dgram_unref(d);
}

static void begin_close(cio_datagram *d) {
  if (d->closing)
    return;
  d->closing = true;
  if (receiver_of(d) != NULL) {
    uv_udp_recv_stop(&d->udp);
    cio__wait_wake_first(&d->receiver, 0); /* not done: CIO_ECLOSED */
  }
  uv_close((uv_handle_t *)&d->udp, on_close);
}

/* The family the socket needs: that of the local or remote address. */
static int pick_family(const char *local_host, const char *remote_host) {
  const char *h = local_host ? local_host : remote_host;
  cio_addr a;
  if (h != NULL && cio_addr_parse(&a, h, 0) == 0)
    return cio__addr_family(&a);
  return AF_UNSPEC;
}

int cio_datagram_open(cio_datagram **out, const char *local_host,
                      int local_port, const char *remote_host, int remote_port,
                      const cio_datagram_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  cio_loop *loop = cio__loop_current();
  if (loop == NULL)
    return CIO_EINVAL;
  cio_datagram_opts o = opts ? *opts : (cio_datagram_opts){0};
  cio_datagram *d = cio__calloc(loop, 1, sizeof *d);
  if (d == NULL)
    return CIO_ENOMEM;
  int family = pick_family(local_host, remote_host);
  int rc = uv_udp_init_ex(loop->uv, &d->udp, (unsigned)family);
  if (rc < 0) {
    cio__free(loop, d);
    return cio__uv_error(rc);
  }
  d->udp.data = d;
  d->loop = loop;
  d->refs = 2; /* the user's and the handle's */
  cio__list_init(&d->receiver);
  cio__list_init(&d->closers);
  cio__obj_add(loop, CIO__OBJ_DATAGRAM, d, dgram_describe);
  rc = dgram_setup(d, local_host, local_port, remote_host, remote_port, &o);
  if (rc < 0) {
    (void)!cio_datagram_close(d); /* the setup error is what matters */
    return rc;
  }
  *out = d;
  return 0;
}

int cio_datagram_close(cio_datagram *d) {
  if (d == NULL)
    return 0;
  begin_close(d);
  cio_task *t = d->loop->current;
  int rc = 0;
  d->refs++;
  /* libuv's close callback comes within an iteration: a cancellation
   * is delivered once the endpoint is closed. */
  while (t != NULL && !d->closed) {
    struct cio__wait w;
    cio__wait_init(&w, t, CIO__WAIT_SHIELDED);
    cio__wait_about(&w, &dclose_kind, d);
    if (cio__wait_on(&d->closers, &w) == CIO_ECANCELED)
      rc = CIO_ECANCELED;
  }
  dgram_unref(d);
  dgram_unref(d); /* the user's */
  return rc;
}

int cio_datagram_sock_addr(cio_datagram *d, cio_addr *out) {
  if (d == NULL || out == NULL)
    return CIO_EINVAL;
  memset(out, 0, sizeof *out);
  int len = (int)sizeof *out;
  return cio__uv_error(
      uv_udp_getsockname(&d->udp, (struct sockaddr *)out, &len));
}
