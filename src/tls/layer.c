/* The TLS layer under a stream: the ops of the stream's transport seam
 * (src/net/stream.h) and the BIO that connects OpenSSL to them.
 *
 *   socket -> on_alloc/feed -> `in` -> [SSL] -> pump -> stream buffer
 *   write() -> [SSL] -> `out` -> flush -> cio__stream_raw_write -> socket
 *
 * The machine and invariants of struct cio__tls are in tls.h. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

#define IN_MIN_FREE (16 * 1024 + 512) /* a whole record fits */
#define OUT_KEEP (64 * 1024)          /* bigger `out` buffers are freed */
#define DISCARD_CHUNK 4096

/* ---- our BIO: memory in both directions -------------------------------- */

static int bio_write(BIO *b, const char *data, size_t n, size_t *written) {
  struct cio__tls *t = BIO_get_data(b);
  if (t->out_cap - t->out_len < n) {
    size_t cap = t->out_cap ? t->out_cap : 4096;
    while (cap - t->out_len < n)
      cap *= 2;
    char *p = cio__malloc(t->s->loop, cap);
    if (p == NULL)
      return 0;
    if (t->out_len > 0)
      memcpy(p, t->out, t->out_len);
    cio__free(t->s->loop, t->out);
    t->out = p;
    t->out_cap = cap;
  }
  memcpy(t->out + t->out_len, data, n);
  t->out_len += n;
  *written = n;
  return 1;
}

static int bio_read(BIO *b, char *data, size_t n, size_t *got) {
  struct cio__tls *t = BIO_get_data(b);
  size_t avail = t->in_end - t->in_start;
  BIO_clear_retry_flags(b);
  if (avail == 0) {
    BIO_set_retry_read(b); /* SSL_ERROR_WANT_READ: wait for the socket */
    return 0;
  }
  size_t k = avail < n ? avail : n;
  memcpy(data, t->in + t->in_start, k);
  t->in_start += k;
  if (t->in_start == t->in_end)
    t->in_start = t->in_end = 0;
  *got = k;
  return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *bio_method;
static uv_once_t bio_once = UV_ONCE_INIT;

static void bio_method_init(void) {
  BIO_METHOD *m =
      BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "casyncio");
  if (m != NULL &&
      (!BIO_meth_set_write_ex(m, bio_write) ||
       !BIO_meth_set_read_ex(m, bio_read) || !BIO_meth_set_ctrl(m, bio_ctrl))) {
    BIO_meth_free(m);
    m = NULL;
  }
  bio_method = m;
}

/* ---- sending and receiving ---------------------------------------------- */

int cio__tls_flush(struct cio__tls *t) {
  if (t->out_len == 0)
    return 0;
  int rc = cio__stream_raw_write(t->s, t->out, t->out_len);
  t->out_len = 0;
  if (t->out_cap > OUT_KEEP) { /* after a big write: give the memory back */
    cio__free(t->s->loop, t->out);
    t->out = NULL;
    t->out_cap = 0;
  }
  return rc;
}

static void wake_all(struct cio__tls *t) {
  cio__wait_wake_all(&t->waiters, 0);
}

int cio__tls_fail(struct cio__tls *t, int code, const char *reason) {
  if (t->state != CIO__TLS_FAILED) {
    t->state = CIO__TLS_FAILED;
    t->error = code;
    snprintf(t->reason, sizeof t->reason, "%s", reason);
  }
  ERR_clear_error();
  t->in_start = t->in_end = 0;
  cio__stream_feed_end(t->s, t->error);
  wake_all(t);
  return t->error;
}

/* SSL_get_error, with the common case first: the BIO ran dry (it also
 * keeps an error left on this thread's queue by other code from turning
 * a plain "want read" into a failure). */
static int ssl_error(struct cio__tls *t, int r) {
  return SSL_want_read(t->ssl) ? SSL_ERROR_WANT_READ : SSL_get_error(t->ssl, r);
}

void cio__tls_pump(struct cio__tls *t) {
  ERR_clear_error(); /* once per batch of records, not per call */
  for (;;) {
    size_t avail;
    char *p = cio__stream_reserve(t->s, 16 * 1024, &avail);
    if (p == NULL) {
      cio__tls_fail(t, CIO_ENOMEM, "out of memory");
      return;
    }
    size_t got = 0;
    int r = SSL_read_ex(t->ssl, p, avail, &got);
    if (r == 1) {
      cio__stream_commit(t->s, got);
      /* Nothing more to decrypt: skip the call that would say so. */
      if (t->in_start == t->in_end && !SSL_has_pending(t->ssl) &&
          t->out_len == 0)
        return;
      continue;
    }
    int e = ssl_error(t, r);
    if (cio__tls_flush(t) < 0 && e == SSL_ERROR_WANT_READ)
      return; /* the write error is the stream's already */
    if (e == SSL_ERROR_WANT_READ)
      return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      cio__stream_feed_end(t->s, 0); /* close_notify: a clean end */
      return;
    }
    cio__tls_fail_ssl(t, e);
    return;
  }
}

/* After our close_notify: read until the peer's (application data is
 * dropped), then DONE. */
static void shutdown_step(struct cio__tls *t) {
  char junk[DISCARD_CHUNK];
  for (;;) {
    size_t got;
    ERR_clear_error();
    int r = SSL_read_ex(t->ssl, junk, sizeof junk, &got);
    if (r == 1)
      continue;
    int e = SSL_get_error(t->ssl, r);
    (void)!cio__tls_flush(t);
    if (e == SSL_ERROR_WANT_READ)
      return;
    ERR_clear_error();
    t->state = CIO__TLS_DONE; /* close_notify, or an error: either ends */
    wake_all(t);
    return;
  }
}

/* ---- the stream's transport seam ------------------------------------------
 */

static void tls_alloc(cio_stream *s, uv_buf_t *buf) {
  struct cio__tls *t = s->layer;
  if (t->in_start > 0 && t->in_cap - t->in_end < IN_MIN_FREE) {
    memmove(t->in, t->in + t->in_start, t->in_end - t->in_start);
    t->in_end -= t->in_start;
    t->in_start = 0;
  }
  if (t->in_cap - t->in_end < IN_MIN_FREE) {
    size_t cap = t->in_cap ? t->in_cap * 2 : 2 * IN_MIN_FREE;
    char *p = cio__malloc(s->loop, cap);
    if (p == NULL) {
      *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
      return;
    }
    if (t->in_end > 0)
      memcpy(p, t->in, t->in_end);
    cio__free(s->loop, t->in);
    t->in = p;
    t->in_cap = cap;
  }
  *buf = uv_buf_init(t->in + t->in_end, (unsigned)(t->in_cap - t->in_end));
}

static void tls_feed(cio_stream *s, const char *data, size_t n) {
  struct cio__tls *t = s->layer;
  if (data != t->in + t->in_end) { /* bytes from before the layer */
    uv_buf_t b;
    while (n > 0) {
      tls_alloc(s, &b);
      if (b.len == 0) {
        cio__tls_fail(t, CIO_ENOMEM, "out of memory");
        return;
      }
      size_t k = n < b.len ? n : b.len;
      memcpy(b.base, data, k);
      t->in_end += k;
      data += k;
      n -= k;
    }
  } else {
    t->in_end += n;
  }
  switch (t->state) {
  case CIO__TLS_HANDSHAKE:
    wake_all(t); /* the handshaking task goes on */
    break;
  case CIO__TLS_OPEN:
    cio__tls_pump(t);
    break;
  case CIO__TLS_SHUTDOWN:
    shutdown_step(t);
    break;
  default:
    t->in_start = t->in_end = 0; /* nobody wants them */
  }
}

static void tls_feed_end(cio_stream *s, int err) {
  struct cio__tls *t = s->layer;
  if (t->sock_end)
    return; /* the socket's end, then the close: once is enough */
  t->sock_end = true;
  t->sock_err = err;
  switch (t->state) {
  case CIO__TLS_OPEN:
    if (err == CIO_ECLOSED) { /* closed on this side: a plain end */
      t->state = CIO__TLS_DONE;
      cio__stream_feed_end(s, 0);
      break;
    }
    cio__tls_pump(t); /* what arrived before the end */
    if (t->state == CIO__TLS_OPEN &&
        !(SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN))
      cio__tls_fail(t, err ? err : CIO_ETLS,
                    "the peer closed the connection without close_notify "
                    "(truncated)");
    break;
  case CIO__TLS_SHUTDOWN:
    t->state = CIO__TLS_DONE;
    cio__stream_feed_end(s, 0);
    break;
  case CIO__TLS_HANDSHAKE: /* the handshake says why */
    break;
  default:
    cio__stream_feed_end(s, 0);
  }
  wake_all(t);
}

static int tls_write(cio_stream *s, const char *p, size_t n) {
  struct cio__tls *t = s->layer;
  if (t->state == CIO__TLS_FAILED)
    return t->error;
  if (t->state == CIO__TLS_HANDSHAKE)
    return CIO_EBUSY;
  if (t->state != CIO__TLS_OPEN)
    return CIO_ECLOSED;
  ERR_clear_error();
  while (n > 0) {
    size_t done = 0;
    int r = SSL_write_ex(t->ssl, p, n, &done);
    if (r != 1) {
      (void)!cio__tls_flush(t);
      return cio__tls_fail_ssl(t, SSL_get_error(t->ssl, r));
    }
    p += done;
    n -= done;
  }
  return cio__tls_flush(t);
}

/* Send close_notify; reading goes on (TLS 1.3 half-close; OpenSSL reads
 * after its own close_notify too). */
static int tls_write_eof(cio_stream *s) {
  struct cio__tls *t = s->layer;
  if (t->state == CIO__TLS_FAILED)
    return t->error;
  if (t->state != CIO__TLS_OPEN)
    return t->state == CIO__TLS_HANDSHAKE ? CIO_EBUSY : CIO_ECLOSED;
  ERR_clear_error();
  (void)SSL_shutdown(t->ssl);
  ERR_clear_error();
  return cio__tls_flush(t);
}

static void tls_describe(cio_loop *loop, const void *obj,
                         struct cio__text *out) {
  const struct cio__tls *t = obj;
  cio__text_put(out, "TLS over ");
  cio__stream_describe(loop, t->s, out);
}

const struct cio__wait_kind cio__tls_handshake_kind = {
    .what = "TLS handshake", .describe = tls_describe};
const struct cio__wait_kind cio__tls_shutdown_kind = {.what = "TLS shutdown",
                                                      .describe = tls_describe};

static int wait_goodbye(struct cio__tls *t, cio_task *task) {
  cio_timeout to;
  int rc = cio_timeout_enter(&to, t->shutdown_timeout);
  while (rc == 0 && t->state == CIO__TLS_SHUTDOWN) {
    cio__stream_read_anyway(t->s);
    rc = cio__wait_in(&t->waiters, task, 0, &cio__tls_shutdown_kind, t);
  }
  rc = cio_timeout_exit(&to, rc);
  if (rc == CIO_ETIMEDOUT)
    snprintf(t->reason, sizeof t->reason,
             "no close_notify from the peer within the shutdown timeout");
  return rc;
}

/* close(): close_notify, then (in a task) wait for the peer's, bounded by
 * the shutdown timeout, as asyncio's SSL transport does. */
static int tls_close(cio_stream *s, cio_task *task) {
  struct cio__tls *t = s->layer;
  if (t->state != CIO__TLS_OPEN)
    return 0; /* no session to end: just close the socket */
  t->state = CIO__TLS_SHUTDOWN;
  ERR_clear_error();
  int r = SSL_shutdown(t->ssl);
  ERR_clear_error();
  if (cio__tls_flush(t) < 0 || r == 1 || t->sock_end || task == NULL) {
    t->state = CIO__TLS_DONE;
    return 0;
  }
  shutdown_step(t); /* the goodbye may be buffered already */
  int rc = t->state == CIO__TLS_SHUTDOWN ? wait_goodbye(t, task) : 0;
  t->state = CIO__TLS_DONE;
  return rc;
}

static void tls_free(cio_stream *s) {
  struct cio__tls *t = s->layer;
  CIO_ASSERT(cio__list_empty(&t->waiters));
  SSL_free(t->ssl); /* and our BIO */
  cio__free(s->loop, t->in);
  cio__free(s->loop, t->out);
  cio_tls_context_free(t->ctx);
  cio__free(s->loop, t);
  s->layer = NULL;
}

static const struct cio__stream_layer_ops tls_ops = {
    .alloc = tls_alloc,
    .feed = tls_feed,
    .feed_end = tls_feed_end,
    .write = tls_write,
    .write_eof = tls_write_eof,
    .close = tls_close,
    .free = tls_free,
};

struct cio__tls *cio__tls_of(const cio_stream *s) {
  return s != NULL && s->lops == &tls_ops ? s->layer : NULL;
}

/* ---- attaching ------------------------------------------------------------
 */

static bool is_ip(const char *name) {
  cio_addr a;
  return cio_addr_parse(&a, name, 0) == 0;
}

/* Client: SNI, the name to check, a cached session. */
static int client_setup(struct cio__tls *t, const char *name, int port) {
  if (name == NULL)
    return 0;
  X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
  bool ip = is_ip(name);
  if (!ip && !SSL_set_tlsext_host_name(t->ssl, name))
    return CIO_ETLS;
  if (t->ctx->check_hostname && t->ctx->verify != CIO_TLS_VERIFY_NONE) {
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip ? !X509_VERIFY_PARAM_set1_ip_asc(param, name)
           : !SSL_set1_host(t->ssl, name))
      return CIO_ETLS;
  }
  snprintf(t->key, sizeof t->key, "%s:%d", name, port);
  SSL_SESSION *sess = cio__tls_session_get(t->ctx, t->key);
  if (sess != NULL) {
    SSL_set_session(t->ssl, sess);
    SSL_SESSION_free(sess);
  }
  return 0;
}

static int make_ssl(struct cio__tls *t, const char *name, int port) {
  uv_once(&bio_once, bio_method_init);
  if (bio_method == NULL)
    return CIO_ENOMEM;
  t->ssl = SSL_new(t->ctx->ssl_ctx);
  if (t->ssl == NULL)
    return CIO_ENOMEM;
  BIO *b = BIO_new(bio_method);
  if (b == NULL)
    return CIO_ENOMEM;
  BIO_set_data(b, t);
  BIO_set_init(b, 1);
  SSL_set_bio(t->ssl, b, b); /* one BIO, both directions: SSL owns it */
  SSL_set_app_data(t->ssl, t);
  if (t->ctx->side == CIO_TLS_SERVER) {
    SSL_set_accept_state(t->ssl);
    return 0;
  }
  SSL_set_connect_state(t->ssl);
  return client_setup(t, name, port);
}

int cio__tls_attach(cio_stream *s, cio_tls_context *ctx,
                    const char *server_name, int port,
                    double shutdown_timeout) {
  struct cio__tls *t = cio__calloc(s->loop, 1, sizeof *t);
  if (t == NULL)
    return CIO_ENOMEM;
  t->s = s;
  t->ctx = ctx;
  t->shutdown_timeout = shutdown_timeout;
  cio__list_init(&t->waiters);
  cio__tls_context_retain(ctx);
  ERR_clear_error();
  int rc = make_ssl(t, server_name, port);
  if (rc < 0) {
    ERR_clear_error();
    SSL_free(t->ssl);
    cio_tls_context_free(ctx);
    cio__free(s->loop, t);
    return rc;
  }
  cio__stream_set_layer(s, &tls_ops, t);
  return 0;
}
