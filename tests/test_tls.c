/* TLS streams, casyncio client against casyncio server, with throwaway
 * certificates made at test time (tls_certs.h): the whole stream API over
 * TLS, peer information, refused certificates (expired, wrong host name,
 * self-signed, unknown CA) with their reasons, handshake timeout, a peer
 * closing mid-handshake or sending garbage, client certificates, session
 * resumption, start_tls, write_eof, cancellation at each stage, 1 MiB
 * both ways and 1,000 concurrent connections. */
#include <sys/resource.h>

#include "casyncio.h"
#include "casyncio/tls.h"
#include "test.h"
#include "tls_certs.h"

/* Make the certificates, run `fn` as the main task of a fresh loop
 * (test_run_main: the loop closes cleanly, nothing leaks) and remove the
 * certificates. */
static void run_main(cio_task_fn fn, void *arg) {
  tls_certs_make();
  test_run_main(fn, arg);
  tls_certs_remove();
}

static cio_tls_context *server_ctx(const char *stem) {
  char cert[64], key[64];
  snprintf(cert, sizeof cert, "%s.pem", stem);
  snprintf(key, sizeof key, "%s.key", stem);
  cio_tls_context *ctx;
  CHECK_EQ(cio_tls_context_new(&ctx, CIO_TLS_SERVER), 0);
  CHECK_EQ(cio_tls_context_load_cert_chain(ctx, tls_path(cert), tls_path(key),
                                           NULL, NULL),
           0);
  return ctx;
}

static cio_tls_context *client_ctx(void) {
  cio_tls_context *ctx;
  CHECK_EQ(cio_tls_context_new(&ctx, CIO_TLS_CLIENT), 0);
  CHECK_EQ(cio_tls_context_load_verify_locations(ctx, tls_path("ca.pem"), NULL),
           0);
  return ctx;
}

static int echo_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[16384];
  for (;;) {
    ssize_t n = cio_stream_read(s, buf, sizeof buf);
    if (n <= 0)
      return (int)n;
    int rc = cio_stream_write(s, buf, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
}

static cio_server *tls_server(cio_server_handler h, void *arg,
                              cio_tls_context *ctx, int *port) {
  cio_server *srv;
  cio_tls_opts o = {.context = ctx};
  CHECK_EQ(cio_tls_start_server(&srv, h, arg, "127.0.0.1", 0, NULL, &o), 0);
  *port = cio_server_port(srv);
  return srv;
}

/* ---- the stream API over TLS ---------------------------------------- */

/* Reads "name\n" lines and answers; "info\n" answers the client's view
 * of the session; "bye\n" closes. */
static int lines_handler(cio_stream *s, void *arg) {
  (void)arg;
  char line[256];
  for (;;) {
    ssize_t n = cio_stream_readline(s, line, sizeof line);
    if (n <= 0)
      return (int)n;
    if (n == 4 && memcmp(line, "bye\n", 4) == 0)
      return cio_stream_close(s);
    CHECK_EQ(cio_stream_write(s, line, (size_t)n), 0);
    CHECK_EQ(cio_stream_drain(s), 0);
  }
}

static int api_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  const char *sprotos[] = {"http/1.1"};
  const char *cprotos[] = {"h2", "http/1.1"};
  CHECK_EQ(cio_tls_context_set_alpn(sctx, sprotos, 1), 0);
  CHECK_EQ(cio_tls_context_set_alpn(cctx, cprotos, 2), 0);
  int port;
  cio_server *srv = tls_server(lines_handler, NULL, sctx, &port);
  cio_stream *s;
  char err[256] = "x";
  cio_tls_opts o = {.context = cctx, .error_buf = err, .error_cap = sizeof err};
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL, &o), 0);
  CHECK_STR(err, "");
  CHECK(cio_stream_is_tls(s));
  CHECK_STR(cio_tls_version(s), "TLSv1.3");
  CHECK(cio_tls_cipher(s) != NULL);
  char buf[512];
  CHECK_EQ(cio_tls_alpn(s, buf, sizeof buf), 8);
  CHECK_STR(buf, "http/1.1");
  CHECK(cio_tls_peer_subject(s, buf, sizeof buf) > 0);
  CHECK(strstr(buf, "CN=localhost") != NULL);
  CHECK(cio_tls_peer_sans(s, buf, sizeof buf) > 0);
  CHECK_STR(buf, "DNS:localhost, IP Address:127.0.0.1");
  unsigned char fp[32], der[4096];
  CHECK_EQ(cio_tls_peer_fingerprint(s, fp), 0);
  int dlen = cio_tls_peer_cert_der(s, der, sizeof der);
  CHECK(dlen > 100);
  unsigned char fp2[32];
  unsigned int fplen;
  CHECK(EVP_Digest(der, (size_t)dlen, fp2, &fplen, EVP_sha256(), NULL));
  CHECK(memcmp(fp, fp2, 32) == 0);
  CHECK_EQ(cio_tls_peer_subject(s, buf, 4), CIO_ENOSPC);
  /* readline, readuntil, readexactly, write, drain. */
  CHECK_EQ(cio_stream_write(s, "one\ntwo\nthree\n", 14), 0);
  CHECK_EQ(cio_stream_drain(s), 0);
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), 4);
  CHECK(memcmp(buf, "one\n", 4) == 0);
  size_t n;
  CHECK_EQ(cio_stream_readuntil(s, "o\n", 2, buf, sizeof buf, &n), 4);
  CHECK(memcmp(buf, "two\n", 4) == 0);
  CHECK_EQ(cio_stream_readexactly(s, buf, 6, &n), 0);
  CHECK(memcmp(buf, "three\n", 6) == 0);
  cio_addr peer;
  int pport;
  CHECK_EQ(cio_stream_peer_addr(s, &peer), 0);
  CHECK_EQ(cio_addr_format(&peer, NULL, 0, &pport), 0);
  CHECK_EQ(pport, port);
  /* "bye": the server closes (close_notify): read_all ends cleanly. */
  CHECK_EQ(cio_stream_write(s, "bye\n", 4), 0);
  void *all;
  size_t len;
  CHECK_EQ(cio_stream_read_all(s, &all, &len), 0);
  CHECK_EQ(len, 0);
  free(all);
  CHECK(cio_stream_at_eof(s));
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(stream_api_works_over_tls) {
  run_main(api_main, NULL);
}

/* An IP address is checked against the IP SANs (no SNI is sent). */
static int ip_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  int port;
  cio_server *srv = tls_server(echo_handler, NULL, sctx, &port);
  cio_stream *s;
  CHECK_EQ(cio_tls_open_connection(&s, "127.0.0.1", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  char buf[8];
  CHECK_EQ(cio_stream_write(s, "ping", 4), 0);
  CHECK_EQ(cio_stream_readexactly(s, buf, 4, NULL), 0);
  CHECK(memcmp(buf, "ping", 4) == 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(ip_address_is_checked_against_ip_sans) {
  run_main(ip_main, NULL);
}

/* ---- refused certificates --------------------------------------------- */

struct refusal {
  const char *server_stem; /* the server's certificate */
  bool no_ca;              /* the client trusts only the system's CAs */
  int code;
  const char *reason; /* a part of the reason */
};

static int refused_main(void *arg, void **result) {
  (void)result;
  struct refusal *r = arg;
  cio_tls_context *sctx = server_ctx(r->server_stem);
  cio_tls_context *cctx;
  if (r->no_ca)
    CHECK_EQ(cio_tls_context_new(&cctx, CIO_TLS_CLIENT), 0);
  else
    cctx = client_ctx();
  int port;
  cio_server *srv = tls_server(echo_handler, NULL, sctx, &port);
  cio_stream *s = (cio_stream *)1;
  char err[256];
  cio_tls_opts o = {.context = cctx, .error_buf = err, .error_cap = sizeof err};
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL, &o), r->code);
  CHECK(s == NULL);
  if (strstr(err, r->reason) == NULL)
    test_fail(__FILE__, __LINE__, "reason \"%s\" lacks \"%s\"", err,
              r->reason);
  /* The server goes on serving. */
  CHECK_EQ(cio_tls_context_set_verify(cctx, CIO_TLS_VERIFY_NONE), 0);
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL, &o), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(expired_certificate_is_refused) {
  struct refusal r = {"expired", false, CIO_ECERT,
                      "certificate verify failed: certificate has expired"};
  run_main(refused_main, &r);
}

TEST(wrong_hostname_is_refused) {
  struct refusal r = {"other", false, CIO_ECERT,
                      "hostname mismatch, the certificate is not valid for "
                      "'localhost'"};
  run_main(refused_main, &r);
}

TEST(self_signed_certificate_is_refused) {
  struct refusal r = {"self", false, CIO_ECERT, "self-signed certificate"};
  run_main(refused_main, &r);
}

TEST(unknown_ca_is_refused) {
  struct refusal r = {"server", true, CIO_ECERT,
                      "unable to get local issuer certificate"};
  run_main(refused_main, &r);
}

/* ---- misbehaving peers -------------------------------------------------- */

/* A plain server that says nothing and waits for the client to go. */
static int silent_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[4096];
  while (cio_stream_read(s, buf, sizeof buf) > 0)
    ;
  return 0;
}

static int silent_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *cctx = client_ctx();
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, silent_handler, NULL, "127.0.0.1", 0, NULL),
           0);
  cio_stream *s;
  char err[256];
  cio_tls_opts o = {.context = cctx,
                    .handshake_timeout = 0.3,
                    .error_buf = err,
                    .error_cap = sizeof err};
  double t0 = test_now();
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", cio_server_port(srv), NULL,
                                   &o),
           CIO_ETIMEDOUT);
  double dt = test_now() - t0;
  CHECK(dt >= 0.29 && dt < 2.0);
  CHECK_STR(err, "TLS handshake timed out");
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(silent_peer_hits_handshake_timeout) {
  run_main(silent_main, NULL);
}

/* Reads the ClientHello, then closes. */
static int hangup_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[4096];
  CHECK(cio_stream_read(s, buf, sizeof buf) > 0);
  return 0;
}

/* Answers a ClientHello with an HTTP error. */
static int garbage_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[4096];
  CHECK(cio_stream_read(s, buf, sizeof buf) > 0);
  const char *msg = "HTTP/1.1 400 Bad Request\r\n\r\n";
  CHECK_EQ(cio_stream_write(s, msg, strlen(msg)), 0);
  return 0;
}

struct bad_peer {
  cio_server_handler handler;
  int code;
  const char *reason;
};

static int bad_peer_main(void *arg, void **result) {
  (void)result;
  struct bad_peer *b = arg;
  cio_tls_context *cctx = client_ctx();
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, b->handler, NULL, "127.0.0.1", 0, NULL), 0);
  cio_stream *s;
  char err[256];
  cio_tls_opts o = {.context = cctx, .error_buf = err, .error_cap = sizeof err};
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", cio_server_port(srv), NULL,
                                   &o),
           b->code);
  if (strstr(err, b->reason) == NULL)
    test_fail(__FILE__, __LINE__, "reason \"%s\" lacks \"%s\"", err,
              b->reason);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(peer_closing_mid_handshake_gives_a_clear_error) {
  struct bad_peer b = {hangup_handler, CIO_ECONNRESET,
                       "closed the connection during the TLS handshake"};
  run_main(bad_peer_main, &b);
}

TEST(server_sending_garbage_gives_a_clear_error) {
  struct bad_peer b = {garbage_handler, CIO_ETLS, "wrong version number"};
  run_main(bad_peer_main, &b);
}

/* A client sending an HTTP request to a TLS server: the handshake fails,
 * the handler never runs, the server goes on. */
static int called_handler(cio_stream *s, void *arg) {
  (*(int *)arg)++;
  return echo_handler(s, NULL);
}

static int garbage_client_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  int port, calls = 0;
  cio_server *srv = tls_server(called_handler, &calls, sctx, &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  const char *req = "GET / HTTP/1.0\r\n\r\n";
  CHECK_EQ(cio_stream_write(s, req, strlen(req)), 0);
  void *data;
  size_t len;
  int rc = cio_stream_read_all(s, &data, &len); /* an alert, then the end */
  CHECK(rc == 0 || rc == CIO_ECONNRESET);
  if (rc == 0)
    free(data);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(calls, 0);
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  CHECK_EQ(cio_stream_write(s, "x", 1), 0);
  char c;
  CHECK_EQ(cio_stream_readexactly(s, &c, 1, NULL), 0);
  CHECK_EQ(calls, 1);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(client_sending_garbage_is_refused_and_server_goes_on) {
  run_main(garbage_client_main, NULL);
}

/* ---- client certificates, passphrases, resumption ---------------------- */

/* Answers the client certificate's subject, then closes. */
static int whoami_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[256];
  int n = cio_tls_peer_subject(s, buf, sizeof buf);
  if (n == CIO_ENOENT)
    n = snprintf(buf, sizeof buf, "anonymous");
  CHECK(n > 0);
  CHECK_EQ(cio_stream_write(s, buf, (size_t)n), 0);
  return cio_stream_close(s);
}

static int client_cert_main(void *arg, void **result) {
  (void)result;
  int mode = *(int *)arg;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx(),
                  *anon = client_ctx();
  CHECK_EQ(cio_tls_context_set_verify(sctx, mode), 0);
  CHECK_EQ(
      cio_tls_context_load_verify_locations(sctx, tls_path("ca.pem"), NULL), 0);
  CHECK_EQ(cio_tls_context_load_cert_chain(cctx, tls_path("client.pem"),
                                           tls_path("client.key"), NULL, NULL),
           0);
  int port;
  cio_server *srv = tls_server(whoami_handler, NULL, sctx, &port);
  cio_stream *s;
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  void *data;
  size_t len;
  CHECK_EQ(cio_stream_read_all(s, &data, &len), 0);
  CHECK(len > 0 && memmem(data, len, "CN=casyncio client", 18) != NULL);
  free(data);
  CHECK_EQ(cio_stream_close(s), 0);
  /* Without a certificate: OPTIONAL lets the client in anonymously;
   * REQUIRED refuses it (in TLS 1.3 the client learns it from the
   * server's alert, on its first read). */
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = anon}),
           0);
  int rc = cio_stream_read_all(s, &data, &len);
  if (mode == CIO_TLS_VERIFY_OPTIONAL) {
    CHECK_EQ(rc, 0);
    CHECK(len == 9 && memcmp(data, "anonymous", 9) == 0);
    free(data);
  } else {
    CHECK_EQ(rc, CIO_ETLS);
    if (strstr(cio_tls_error_reason(s), "certificate required") == NULL)
      test_fail(__FILE__, __LINE__, "reason: %s", cio_tls_error_reason(s));
  }
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  cio_tls_context_free(anon);
  return 0;
}

TEST(server_requires_a_client_certificate) {
  int mode = CIO_TLS_VERIFY_REQUIRED;
  run_main(client_cert_main, &mode);
}

TEST(server_asks_for_an_optional_client_certificate) {
  int mode = CIO_TLS_VERIFY_OPTIONAL;
  run_main(client_cert_main, &mode);
}

static int passphrase_cb(char *buf, size_t cap, void *arg) {
  const char *pw = arg;
  size_t n = strlen(pw);
  if (n > cap)
    return -1;
  memcpy(buf, pw, n);
  return (int)n;
}

TEST(encrypted_key_loads_with_its_passphrase) {
  tls_certs_make();
  cio_tls_context *ctx;
  CHECK_EQ(cio_tls_context_new(&ctx, CIO_TLS_SERVER), 0);
  CHECK_EQ(cio_tls_context_load_cert_chain(ctx, tls_path("server.pem"),
                                           tls_path("secret.key"),
                                           passphrase_cb, "wrong"),
           CIO_ETLS);
  CHECK(strstr(cio_tls_context_error_reason(ctx), "private key") != NULL);
  CHECK_EQ(cio_tls_context_load_cert_chain(ctx, tls_path("server.pem"),
                                           tls_path("secret.key"), NULL, NULL),
           CIO_ETLS);
  CHECK_EQ(cio_tls_context_load_cert_chain(ctx, tls_path("server.pem"),
                                           tls_path("secret.key"),
                                           passphrase_cb, "hunter2"),
           0);
  CHECK_EQ(cio_tls_context_load_cert_chain(ctx, tls_path("missing.pem"), NULL,
                                           NULL, NULL),
           CIO_ETLS);
  cio_tls_context_free(ctx);
  tls_certs_remove();
}

static int resume_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  int port;
  cio_server *srv = tls_server(echo_handler, NULL, sctx, &port);
  for (int i = 0; i < 3; i++) {
    cio_stream *s;
    CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                     &(cio_tls_opts){.context = cctx}),
             0);
    CHECK_EQ(cio_tls_session_reused(s), i > 0);
    char c;
    CHECK_EQ(cio_stream_write(s, "r", 1), 0);
    CHECK_EQ(cio_stream_readexactly(s, &c, 1, NULL), 0);
    CHECK_EQ(cio_stream_close(s), 0);
  }
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(client_resumes_its_session) {
  run_main(resume_main, NULL);
}

static int tls12_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  CHECK_EQ(cio_tls_context_set_max_version(cctx, CIO_TLS_VERSION_1_2), 0);
  CHECK_EQ(cio_tls_context_set_min_version(cctx, 0x0301), CIO_EINVAL);
  int port;
  cio_server *srv = tls_server(echo_handler, NULL, sctx, &port);
  for (int i = 0; i < 2; i++) {
    cio_stream *s;
    CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                     &(cio_tls_opts){.context = cctx}),
             0);
    CHECK_STR(cio_tls_version(s), "TLSv1.2");
    CHECK_EQ(cio_tls_session_reused(s), i > 0);
    char c;
    CHECK_EQ(cio_stream_write(s, "r", 1), 0);
    CHECK_EQ(cio_stream_readexactly(s, &c, 1, NULL), 0);
    CHECK_EQ(cio_stream_close(s), 0);
  }
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(tls12_works_and_resumes) {
  run_main(tls12_main, NULL);
}

/* ---- start_tls and write_eof ---------------------------------------------- */

/* Plain "STARTTLS\n" -> "OK\n", then TLS echo. */
static int starttls_handler(cio_stream *s, void *arg) {
  cio_tls_context *ctx = arg;
  char line[64];
  CHECK_EQ(cio_stream_readline(s, line, sizeof line), 9);
  CHECK(memcmp(line, "STARTTLS\n", 9) == 0);
  CHECK_EQ(cio_stream_write(s, "OK\n", 3), 0);
  CHECK_EQ(cio_stream_start_tls(s, &(cio_tls_opts){.context = ctx}), 0);
  CHECK(cio_stream_is_tls(s));
  return echo_handler(s, NULL);
}

static int starttls_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, starttls_handler, sctx, "127.0.0.1", 0, NULL),
           0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", cio_server_port(srv), NULL), 0);
  CHECK(!cio_stream_is_tls(s));
  CHECK_EQ(cio_stream_write(s, "STARTTLS\n", 9), 0);
  char line[64];
  CHECK_EQ(cio_stream_readline(s, line, sizeof line), 3);
  cio_tls_opts o = {.context = cctx, .server_hostname = "localhost"};
  CHECK_EQ(cio_stream_start_tls(s, &o), 0);
  CHECK_EQ(cio_stream_start_tls(s, &o), CIO_EALREADY);
  CHECK_STR(cio_tls_version(s), "TLSv1.3");
  CHECK_EQ(cio_stream_write(s, "secret", 6), 0);
  CHECK_EQ(cio_stream_readexactly(s, line, 6, NULL), 0);
  CHECK(memcmp(line, "secret", 6) == 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(start_tls_upgrades_a_plain_stream) {
  run_main(starttls_main, NULL);
}

/* A client that checks host names needs a name to check: without one
 * start_tls and open_connection refuse (CPython's ValueError "check_hostname
 * requires server_hostname") before anything is sent, instead of skipping
 * the check. */
static int noname_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, starttls_handler, sctx, "127.0.0.1", 0, NULL),
           0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", cio_server_port(srv), NULL), 0);
  /* Refused first: the stream stays plain and the server has seen nothing
   * (it reads "STARTTLS\n" next, not a ClientHello). */
  CHECK_EQ(cio_stream_start_tls(s, &(cio_tls_opts){.context = cctx}),
           CIO_EINVAL);
  CHECK_EQ(cio_stream_start_tls(
               s, &(cio_tls_opts){.context = cctx, .server_hostname = ""}),
           CIO_EINVAL);
  CHECK(!cio_stream_is_tls(s));
  CHECK_EQ(cio_stream_write(s, "STARTTLS\n", 9), 0);
  char line[64];
  CHECK_EQ(cio_stream_readline(s, line, sizeof line), 3);
  /* With the check off, no name is needed (the chain is still verified). */
  CHECK_EQ(cio_tls_context_set_check_hostname(cctx, false), 0);
  CHECK_EQ(cio_stream_start_tls(s, &(cio_tls_opts){.context = cctx}), 0);
  CHECK_EQ(cio_stream_write(s, "secret", 6), 0);
  CHECK_EQ(cio_stream_readexactly(s, line, 6, NULL), 0);
  CHECK(memcmp(line, "secret", 6) == 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_tls_context_set_check_hostname(cctx, true), 0);
  /* open_connection checks the host given, or server_hostname when set:
   * "" is refused before connecting (port 1: nothing listens there). */
  CHECK_EQ(cio_tls_open_connection(
               &s, "localhost", 1, NULL,
               &(cio_tls_opts){.context = cctx, .server_hostname = ""}),
           CIO_EINVAL);
  CHECK(s == NULL);
  CHECK_EQ(cio_tls_open_connection(&s, "", 1, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           CIO_EINVAL);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(check_hostname_requires_server_hostname) {
  run_main(noname_main, NULL);
}

/* Reads to end of file, answers the byte count. */
static int count_handler(cio_stream *s, void *arg) {
  (void)arg;
  void *data;
  size_t len;
  CHECK_EQ(cio_stream_read_all(s, &data, &len), 0);
  free(data);
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%zu", len);
  CHECK_EQ(cio_stream_write(s, buf, (size_t)n), 0);
  return cio_stream_close(s);
}

static int eof_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  int port;
  cio_server *srv = tls_server(count_handler, NULL, sctx, &port);
  cio_stream *s;
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  CHECK_EQ(cio_stream_write(s, "hello world", 11), 0);
  CHECK_EQ(cio_stream_write_eof(s), 0); /* close_notify; reading goes on */
  CHECK_EQ(cio_stream_write(s, "x", 1), CIO_ECLOSED);
  char buf[32];
  ssize_t n = cio_stream_read(s, buf, sizeof buf);
  CHECK_EQ(n, 2);
  CHECK(memcmp(buf, "11", 2) == 0);
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(write_eof_sends_close_notify_and_reading_goes_on) {
  run_main(eof_main, NULL);
}

/* ---- cancellation and timeouts at every stage ------------------------------ */

struct connect_ctx {
  cio_tls_context *ctx;
  int port;
  int rc;
};

static int connect_task(void *arg, void **result) {
  (void)result;
  struct connect_ctx *c = arg;
  cio_stream *s;
  c->rc = cio_tls_open_connection(&s, "localhost", c->port, NULL,
                                  &(cio_tls_opts){.context = c->ctx});
  if (c->rc == 0)
    (void)!cio_stream_close(s);
  return 0;
}

/* Waits for the client's goodbye without ever sending its own. */
static int rude_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[256];
  while (cio_stream_read(s, buf, sizeof buf) > 0)
    ;
  return cio_sleep(0.3);
}

static int cancel_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  /* 1. Cancelled in the handshake (the peer says nothing). */
  cio_server *silent;
  CHECK_EQ(cio_start_server(&silent, silent_handler, NULL, "127.0.0.1", 0,
                            NULL),
           0);
  struct connect_ctx c = {cctx, cio_server_port(silent), 1};
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, connect_task, &c, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK(cio_task_cancel(t));
  CHECK_EQ(cio_task_join(t, NULL), 0);
  CHECK_EQ(c.rc, CIO_ECANCELED);
  CHECK_EQ(cio_server_close(silent), 0);
  /* 2. A read under a timeout: the stream stays usable. */
  int port;
  cio_server *srv = tls_server(echo_handler, NULL, sctx, &port);
  cio_stream *s;
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.05), 0);
  char buf[8];
  ssize_t n = cio_stream_read(s, buf, sizeof buf);
  CHECK_EQ(cio_timeout_exit(&to, (int)n), CIO_ETIMEDOUT);
  CHECK_EQ(cio_stream_write(s, "ok", 2), 0);
  CHECK_EQ(cio_stream_readexactly(s, buf, 2, NULL), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  /* 3. A peer that never says goodbye: close() gives up after the
   * shutdown timeout (asyncio: TimeoutError), the stream is freed. */
  srv = tls_server(rude_handler, NULL, sctx, &port);
  CHECK_EQ(cio_tls_open_connection(
               &s, "localhost", port, NULL,
               &(cio_tls_opts){.context = cctx, .shutdown_timeout = 0.1}),
           0);
  double t0 = test_now();
  CHECK_EQ(cio_stream_close(s), CIO_ETIMEDOUT);
  CHECK(test_now() - t0 < 2.0);
  /* 4. The same close cancelled: CIO_ECANCELED, still freed. */
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  CHECK_EQ(cio_timeout_enter(&to, 0.05), 0);
  CHECK_EQ(cio_timeout_exit(&to, cio_stream_close(s)), CIO_ETIMEDOUT);
  CHECK_EQ(cio_server_close_clients(srv), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(cancellation_and_timeouts_at_every_stage_leak_nothing) {
  run_main(cancel_main, NULL);
}

/* ---- volume ------------------------------------------------------------------ */

#define MIB (1024 * 1024)

struct bulk {
  cio_stream *s;
  int rc;
};

static int bulk_writer(void *arg, void **result) {
  (void)result;
  struct bulk *b = arg;
  char *data = malloc(MIB);
  for (size_t i = 0; i < MIB; i++)
    data[i] = (char)(i * 7 + i / 1000);
  b->rc = cio_stream_write(b->s, data, MIB);
  if (b->rc == 0)
    b->rc = cio_stream_drain(b->s);
  free(data);
  return 0;
}

static int bulk_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  int port;
  cio_server *srv = tls_server(echo_handler, NULL, sctx, &port);
  cio_stream *s;
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  struct bulk b = {s, 1};
  cio_task *w;
  CHECK_EQ(cio_create_task(NULL, &w, bulk_writer, &b, NULL), 0);
  char *back = malloc(MIB);
  size_t n;
  CHECK_EQ(cio_stream_readexactly(s, back, MIB, &n), 0);
  CHECK_EQ(cio_task_join(w, NULL), 0);
  CHECK_EQ(b.rc, 0);
  for (size_t i = 0; i < MIB; i++)
    if (back[i] != (char)(i * 7 + i / 1000))
      test_fail(__FILE__, __LINE__, "byte %zu differs", i);
  free(back);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(one_mib_both_ways) {
  run_main(bulk_main, NULL);
}

#define CONNS 1000

struct many {
  cio_tls_context *ctx;
  int port;
  int ok;
};

static int one_client(void *arg, void **result) {
  (void)result;
  struct many *m = arg;
  cio_stream *s;
  int rc = cio_tls_open_connection(&s, "localhost", m->port, NULL,
                                   &(cio_tls_opts){.context = m->ctx});
  if (rc < 0)
    return rc;
  char buf[16];
  rc = cio_stream_write(s, "hello\n", 6);
  if (rc == 0)
    rc = cio_stream_readline(s, buf, sizeof buf) == 6 ? 0 : CIO_EPROTO;
  int crc = cio_stream_close(s);
  if (rc == 0 && crc == 0)
    m->ok++;
  return rc < 0 ? rc : crc;
}

static int many_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  cio_server *srv;
  cio_tls_opts so = {.context = sctx};
  CHECK_EQ(cio_tls_start_server(&srv, echo_handler, NULL, "127.0.0.1", 0,
                                &(cio_server_opts){.backlog = 2048}, &so),
           0);
  struct many m = {cctx, cio_server_port(srv), 0};
  static cio_task *tasks[CONNS];
  for (int i = 0; i < CONNS; i++)
    CHECK_EQ(cio_create_task(NULL, &tasks[i], one_client, &m, NULL), 0);
  for (int i = 0; i < CONNS; i++) {
    int rc = cio_task_join(tasks[i], NULL);
    if (rc != 0)
      test_fail(__FILE__, __LINE__, "client %d: %s", i, cio_err_name(rc));
  }
  CHECK_EQ(m.ok, CONNS);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(thousand_concurrent_tls_connections) {
  struct rlimit rl;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 2 * CONNS + 100) {
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  run_main(many_main, NULL);
}

/* ---- closing from the server's side ----------------------------------------- */

static int close_clients_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *sctx = server_ctx("server"), *cctx = client_ctx();
  int port, calls = 0;
  cio_server *srv = tls_server(called_handler, &calls, sctx, &port);
  /* One client in its handshake (a plain client saying nothing), one
   * connected over TLS. */
  cio_stream *quiet, *s;
  CHECK_EQ(cio_open_connection(&quiet, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL,
                                   &(cio_tls_opts){.context = cctx}),
           0);
  char c;
  CHECK_EQ(cio_stream_write(s, "x", 1), 0);
  CHECK_EQ(cio_stream_readexactly(s, &c, 1, NULL), 0);
  CHECK_EQ(cio_server_connections(srv), 2);
  /* close_clients: the handshake ends at once (not at its 60 s timeout),
   * the TLS client gets close_notify: a clean end of file. */
  double t0 = test_now();
  CHECK_EQ(cio_server_close_clients(srv), 0);
  CHECK_EQ(cio_stream_read(s, &c, 1), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  CHECK(test_now() - t0 < 2.0);
  CHECK_EQ(calls, 1);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_stream_close(quiet), 0);
  cio_tls_context_free(sctx);
  cio_tls_context_free(cctx);
  return 0;
}

TEST(close_clients_ends_handshakes_and_sends_close_notify) {
  run_main(close_clients_main, NULL);
}
