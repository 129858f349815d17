/* TLS scenario for the cancellation sweep (`make test-cancel`): a TLS
 * echo server and two clients that connect (handshake), send lines and
 * read them back, while any task (a client, the main task, a connection
 * handler in its handshake or its echo loop) may be cancelled at any
 * suspension.  The law: every line read back is the line sent, in order,
 * never more lines read than sent, all of them when nothing was
 * cancelled; every stream, the server and both contexts freed (the
 * runner's leak checks: allocations, handles, descriptors). */
#include "casyncio.h"
#include "casyncio/tls.h"
#include "test.h"
#include "tls_certs.h"

struct echo {
  int port;
  cio_tls_context *sctx, *cctx;
  long sent, echoed, handlers_ended;
};

static int echo_lines(cio_stream *s, void *arg) {
  struct echo *e = arg;
  char line[128];
  int rc;
  for (;;) {
    ssize_t n = cio_stream_readline(s, line, sizeof line);
    if (n <= 0) {
      rc = (int)n;
      break;
    }
    rc = cio_stream_write(s, line, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      break;
  }
  e->handlers_ended++;
  /* A client that went away (the task cancelled) is no error. */
  if (rc == CIO_ECANCELED || rc == CIO_ECONNRESET || rc == CIO_EPIPE ||
      rc == CIO_ETLS)
    rc = 0;
  return rc;
}

static int client(void *arg, void **result) {
  (void)result;
  struct echo *e = arg;
  cio_tls_opts o = {.context = e->cctx};
  cio_stream *s;
  int rc = cio_tls_open_connection(&s, "localhost", e->port, NULL, &o);
  if (rc < 0)
    return rc;
  for (int i = 0; i < 3 && rc == 0; i++) {
    char line[64], back[64];
    int len = snprintf(line, sizeof line, "line %d from %p\n", i, (void *)s);
    rc = cio_stream_write(s, line, (size_t)len);
    if (rc < 0)
      break;
    e->sent++;
    ssize_t n = cio_stream_readline(s, back, sizeof back);
    if (n == 0)
      rc = CIO_ENODATA; /* the handler ended: it was cancelled */
    else if (n < 0)
      rc = (int)n;
    else {
      CHECK_EQ(n, len);
      CHECK(memcmp(back, line, (size_t)len) == 0);
      e->echoed++;
    }
  }
  int crc = cio_stream_close(s);
  return rc != 0 ? rc : crc;
}

static void free_ctx(void *ctx) {
  cio_tls_context_free(ctx);
}

static int main_tls(void *arg, void **result) {
  (void)result;
  struct echo *e = arg;
  TRY(cio_tls_context_new(&e->sctx, CIO_TLS_SERVER));
  DEFER_CALL(free_ctx, e->sctx);
  TRY(cio_tls_context_load_cert_chain(e->sctx, tls_path("server.pem"),
                                      tls_path("server.key"), NULL, NULL));
  TRY(cio_tls_context_new(&e->cctx, CIO_TLS_CLIENT));
  DEFER_CALL(free_ctx, e->cctx);
  TRY(cio_tls_context_load_verify_locations(e->cctx, tls_path("ca.pem"),
                                            NULL));
  cio_server *srv;
  cio_tls_opts so = {.context = e->sctx};
  TRY(cio_tls_start_server(&srv, echo_lines, e, "127.0.0.1", 0, NULL, &so));
  DEFER(srv);
  e->port = cio_server_port(srv);
  cio_task *c[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&c[i], client, e));
  for (int i = 0; i < 2; i++) {
    int rc = cio_task_await(c[i], NULL);
    /* Its handler was the task cancelled (in the handshake or later):
     * the server closed the connection under the client. */
    if ((rc == CIO_ENODATA || rc == CIO_ECONNRESET || rc == CIO_EPIPE ||
         rc == CIO_ETLS) &&
        test_cancel_injected())
      rc = 0;
    TRY(rc);
  }
  return 0;
}

SCENARIO(tls_echo_clients) {
  tls_certs_make();
  struct echo e = {0};
  CHECK_OUTCOME(test_run(main_tls, &e));
  tls_certs_remove();
  CHECK(e.echoed <= e.sent);
  if (!test_cancel_injected()) {
    CHECK_EQ(e.echoed, 6);
    CHECK_EQ(e.handlers_ended, 2);
  }
}
