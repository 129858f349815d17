/* The TLS handshake (bounded by the handshake timeout), and the calls
 * that do one: cio_stream_start_tls, cio_tls_open_connection and the
 * servers of cio_tls_start_server.  Also the translation of OpenSSL's
 * failures into a code and a sentence. */
#include <math.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

#define DEFAULT_HANDSHAKE_TIMEOUT 60.0 /* asyncio's SSL_HANDSHAKE_TIMEOUT */
#define DEFAULT_SHUTDOWN_TIMEOUT 30.0  /* asyncio's SSL_SHUTDOWN_TIMEOUT */

/* ---- errors ------------------------------------------------------------ */

static int verify_failure(struct cio__tls *t) {
  long vr = SSL_get_verify_result(t->ssl);
  char why[256];
  int n = snprintf(why, sizeof why, "certificate verify failed: %s",
                   X509_verify_cert_error_string(vr));
  if ((vr == X509_V_ERR_HOSTNAME_MISMATCH ||
       vr == X509_V_ERR_IP_ADDRESS_MISMATCH) &&
      n > 0 && (size_t)n < sizeof why) {
    /* As Python says it: the name the certificate is not valid for (the
     * session key is "name:port"). */
    const char *port = strrchr(t->key, ':');
    int len = port ? (int)(port - t->key) : (int)strlen(t->key);
    snprintf(why + n, sizeof why - (size_t)n,
             ", the certificate is not valid for '%.*s'", len, t->key);
  }
  return cio__tls_fail(t, CIO_ECERT, why);
}

int cio__tls_fail_ssl(struct cio__tls *t, int e) {
  unsigned long err = ERR_peek_last_error();
  if (err != 0 && ERR_GET_LIB(err) == ERR_LIB_SSL &&
      ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED)
    return verify_failure(t);
  const char *why = err ? ERR_reason_error_string(err) : NULL;
  if (why == NULL)
    why = e == SSL_ERROR_SYSCALL ? "unexpected end of the connection"
                                 : "TLS protocol error";
  return cio__tls_fail(t, CIO_ETLS, why);
}

/* ---- the handshake ------------------------------------------------------ */

static int handshake_steps(struct cio__tls *t, cio_task *task) {
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
    int frc = cio__tls_flush(t);
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
      return cio__tls_fail_ssl(t, e);
    if (frc < 0)
      return cio__tls_fail(t, frc, "cannot send the handshake");
    if (r == 1)
      return 0;
    if (t->sock_end && t->sock_err == CIO_ECLOSED)
      return cio__tls_fail(t, CIO_ECLOSED,
                           "the stream was closed during the TLS handshake");
    if (t->sock_end)
      return cio__tls_fail(t, t->sock_err ? t->sock_err : CIO_ECONNRESET,
                           "the peer closed the connection during the TLS "
                           "handshake");
    cio__stream_read_anyway(t->s);
    int rc = cio__wait_in(&t->waiters, task, 0, &cio__tls_handshake_kind, t);
    if (rc < 0)
      return rc;
  }
}

/* Handshake as the calling task, within `timeout` seconds. */
static int handshake(struct cio__tls *t, cio_task *task, double timeout) {
  cio_timeout to;
  int rc = cio_timeout_enter(&to, timeout);
  if (rc == 0)
    rc = handshake_steps(t, task);
  rc = cio_timeout_exit(&to, rc);
  if (rc == 0) {
    t->state = CIO__TLS_OPEN;
    cio__tls_pump(t); /* application data right behind the handshake */
    return t->state == CIO__TLS_FAILED ? t->error : 0;
  }
  if (rc == CIO_ETIMEDOUT)
    return cio__tls_fail(t, CIO_ETIMEDOUT, "TLS handshake timed out");
  if (t->state != CIO__TLS_FAILED) /* cancelled */
    return cio__tls_fail(t, rc, "TLS handshake cancelled");
  return rc;
}

static int check_opts(const cio_tls_opts *tls) {
  if (tls == NULL || tls->context == NULL || tls->handshake_timeout < 0 ||
      tls->shutdown_timeout < 0 || isnan(tls->handshake_timeout) ||
      isnan(tls->shutdown_timeout))
    return CIO_EINVAL;
  return 0;
}

/* A client that checks the host name needs one to check against: without
 * it the check would be skipped silently.  CPython refuses the same
 * (ValueError "check_hostname requires server_hostname"). */
static int check_name(const cio_tls_opts *tls, const char *name) {
  const cio_tls_context *ctx = tls->context;
  if (ctx->side == CIO_TLS_CLIENT && ctx->check_hostname &&
      ctx->verify != CIO_TLS_VERIFY_NONE && (name == NULL || name[0] == '\0'))
    return CIO_EINVAL;
  return 0;
}

static double or_default(double v, double dflt) {
  return v > 0 ? v : dflt;
}

static void report(const cio_tls_opts *tls, const char *reason) {
  if (tls->error_buf != NULL && tls->error_cap > 0)
    snprintf(tls->error_buf, tls->error_cap, "%s", reason);
}

/* Attach and handshake: what start_tls, open_connection and a server's
 * connection share. */
static int upgrade(cio_stream *s, const cio_tls_opts *tls, const char *name,
                   int port, cio_task *task) {
  if (tls->error_buf != NULL && tls->error_cap > 0)
    tls->error_buf[0] = '\0';
  int rc = cio__tls_attach(
      s, tls->context, name, port,
      or_default(tls->shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT));
  if (rc < 0) {
    report(tls, "cannot set up TLS");
    return rc;
  }
  struct cio__tls *t = s->layer;
  rc = handshake(t, task,
                 or_default(tls->handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT));
  if (rc < 0)
    report(tls, t->reason);
  return rc;
}

/* ---- the calls ------------------------------------------------------------
 */

int cio_stream_start_tls(cio_stream *s, const cio_tls_opts *tls) {
  if (s == NULL || check_opts(tls) < 0 ||
      check_name(tls, tls->server_hostname) < 0)
    return CIO_EINVAL;
  int rc;
  cio_task *task = cio__task_for_suspend(&rc);
  if (task == NULL)
    return rc;
  if (s->lops != NULL)
    return CIO_EALREADY;
  if (s->state != CIO__SS_OPEN || s->wstate != CIO__WS_OPEN ||
      s->rstate == CIO__RS_EOF || s->error != 0)
    return s->error ? s->error : CIO_ECLOSED;
  int port = 0;
  cio_addr peer;
  if (cio_stream_peer_addr(s, &peer) == 0)
    (void)!cio_addr_format(&peer, NULL, 0, &port); /* no host */
  cio__stream_ref(s);
  rc = upgrade(s, tls, tls->server_hostname, port, task);
  cio__stream_unref(s);
  return rc;
}

int cio_tls_open_connection(cio_stream **out, const char *host, int port,
                            const cio_stream_opts *opts,
                            const cio_tls_opts *tls) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (host == NULL || check_opts(tls) < 0 ||
      tls->context->side != CIO_TLS_CLIENT)
    return CIO_EINVAL;
  const char *name = tls->server_hostname ? tls->server_hostname : host;
  if (check_name(tls, name) < 0)
    return CIO_EINVAL;
  int rc;
  cio_task *task = cio__task_for_suspend(&rc);
  if (task == NULL)
    return rc;
  cio_stream *s;
  rc = cio_open_connection(&s, host, port, opts);
  if (rc < 0)
    return rc;
  rc = upgrade(s, tls, name, port, task);
  if (rc < 0) {
    (void)!cio_stream_close(s); /* FAILED: no goodbye, just the socket */
    return rc;
  }
  *out = s;
  return 0;
}

/* ---- servers ----------------------------------------------------------------
 */

struct server_tls {
  cio_tls_context *ctx;
  double handshake_timeout, shutdown_timeout;
};

static int server_wrap(cio_stream *s, void *arg) {
  struct server_tls *st = arg;
  cio_tls_opts tls = {.context = st->ctx,
                      .handshake_timeout = st->handshake_timeout,
                      .shutdown_timeout = st->shutdown_timeout};
  int rc;
  cio_task *task = cio__task_for_suspend(&rc);
  if (task == NULL)
    return rc;
  return upgrade(s, &tls, NULL, 0, task);
}

static void server_tls_free(void *arg) {
  struct server_tls *st = arg;
  cio_tls_context_free(st->ctx);
  free(st);
}

int cio_tls_start_server(cio_server **out, cio_server_handler handler,
                         void *arg, const char *host, int port,
                         const cio_server_opts *opts, const cio_tls_opts *tls) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (check_opts(tls) < 0 || tls->context->side != CIO_TLS_SERVER)
    return CIO_EINVAL;
  /* Not the loop's allocator: the server may outlive nothing else, but
   * its wrap context is freed by the server, whose loop counts it. */
  struct server_tls *st = malloc(sizeof *st);
  if (st == NULL)
    return CIO_ENOMEM;
  *st = (struct server_tls){.ctx = tls->context,
                            .handshake_timeout = tls->handshake_timeout,
                            .shutdown_timeout = tls->shutdown_timeout};
  cio__tls_context_retain(st->ctx);
  struct cio__server_wrap wrap = {server_wrap, server_tls_free, st};
  int rc = cio__start_server_wrapped(out, handler, arg, host, port, NULL, opts,
                                     &wrap);
  if (rc < 0)
    server_tls_free(st);
  return rc;
}
