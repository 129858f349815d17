/* Name resolution: getaddrinfo and getnameinfo on libuv's thread pool,
 * with the calling task parked until libuv calls back.  A cancelled
 * lookup is uv_cancel()ed; one already running on a pool thread cannot
 * be stopped, so the task waits for it and drops its result. */
#include <string.h>

#include "net/net.h"

struct gai_op {
  uv_getaddrinfo_t req;
  struct cio__uvwait w;
  struct addrinfo *res;
};

struct gni_op {
  uv_getnameinfo_t req;
  struct cio__uvwait w;
};

static void on_getaddrinfo(uv_getaddrinfo_t *req, int status,
                           struct addrinfo *res) {
  struct gai_op *op = cio__container_of(req, struct gai_op, req);
  if (status < 0 && res != NULL) {
    uv_freeaddrinfo(res);
    res = NULL;
  }
  op->res = res;
  cio__uvwait_complete(&op->w, status);
}

static void cancel_work(struct cio__uvwait *w) {
  uv_cancel(w->data);
}

static void gai_describe(cio_loop *loop, const void *obj,
                         struct cio__text *out) {
  (void)loop;
  cio__text_printf(out, "'%s'", obj ? (const char *)obj : "");
}

static const struct cio__wait_kind gai_kind = {.what = "getaddrinfo",
                                               .describe = gai_describe};
static const struct cio__wait_kind gni_kind = {.what = "getnameinfo"};

int cio_getaddrinfo(const char *host, const char *service,
                    const struct addrinfo *hints, struct addrinfo **res) {
  if (res == NULL)
    return CIO_EINVAL;
  *res = NULL;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  if (host == NULL && service == NULL)
    return CIO_EINVAL;
  struct gai_op op = {.res = NULL};
  cio__uvwait_init(&op.w, t, cancel_work);
  cio__wait_about(&op.w.wait, &gai_kind, host);
  op.w.data = &op.req;
  rc = uv_getaddrinfo(t->fut.loop->uv, &op.req, on_getaddrinfo, host, service,
                      hints);
  if (rc < 0)
    return cio__uv_error(rc);
  rc = cio__uvwait_park(&op.w);
  if (rc < 0) {
    if (op.res != NULL)
      uv_freeaddrinfo(op.res);
    return rc == CIO_EAI_CANCELED ? CIO_ECANCELED : cio__uv_error(rc);
  }
  *res = op.res;
  return 0;
}

void cio_freeaddrinfo(struct addrinfo *res) {
  if (res != NULL)
    uv_freeaddrinfo(res);
}

static void on_getnameinfo(uv_getnameinfo_t *req, int status, const char *host,
                           const char *serv) {
  (void)host;
  (void)serv;
  struct gni_op *op = cio__container_of(req, struct gni_op, req);
  cio__uvwait_complete(&op->w, status);
}

static int copy_out(char *dst, size_t cap, const char *src) {
  if (dst == NULL)
    return 0;
  size_t n = strlen(src);
  if (n + 1 > cap)
    return CIO_ENOSPC;
  memcpy(dst, src, n + 1);
  return 0;
}

int cio_getnameinfo(const cio_addr *addr, int flags, char *host, size_t hostcap,
                    char *serv, size_t servcap) {
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  if (addr == NULL)
    return CIO_EINVAL;
  struct gni_op op;
  cio__uvwait_init(&op.w, t, cancel_work);
  cio__wait_about(&op.w.wait, &gni_kind, addr);
  op.w.data = &op.req;
  rc = uv_getnameinfo(t->fut.loop->uv, &op.req, on_getnameinfo,
                      (const struct sockaddr *)addr, flags);
  if (rc < 0)
    return cio__uv_error(rc);
  rc = cio__uvwait_park(&op.w);
  if (rc < 0)
    return rc == CIO_EAI_CANCELED ? CIO_ECANCELED : cio__uv_error(rc);
  rc = copy_out(host, hostcap, op.req.host);
  if (rc == 0)
    rc = copy_out(serv, servcap, op.req.service);
  return rc;
}
