/* HTTPS and HTTP/2.  A test CA and a certificate for 127.0.0.1 are made
 * with the openssl command for each test; the servers are Debian's
 * python3 http.server wrapped in TLS (HTTP/1.1) and nghttpd from
 * nghttp2-server (HTTP/2 over TLS with ALPN, and h2c with prior
 * knowledge), where the client must multiplex many requests over one
 * connection. */
#include <curl/curl.h>

#include "http_client_peers.h"

#define NGHTTPD "/usr/sbin/nghttpd"

static struct peer srv;
static char ca_dir[256];
static char path_buf[512];

static const char *ca_path(const char *file) {
  snprintf(path_buf, sizeof path_buf, "%s/%s", ca_dir, file);
  return path_buf;
}

struct tls_case {
  const char *url_host; /* "127.0.0.1" or "localhost" */
  const char *ca_file;
  bool insecure;
  int want_rc;
  const char *want_error; /* in libcurl's message */
};

static int tls_main(void *arg, void **result) {
  (void)result;
  struct tls_case *c = arg;
  cio_http_session_opts o = {.ca_file = c->ca_file, .insecure = c->insecure};
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, &o), 0);
  char url[128], err[CIO_HTTP_ERROR_SIZE];
  snprintf(url, sizeof url, "https://%s:%d/hello", c->url_host, srv.port);
  cio_http_request req = {.url = url, .error = err, .error_cap = sizeof err};
  cio_http_response *r;
  int rc = cio_http_session_request(s, &req, &r);
  if (rc != c->want_rc)
    test_fail(__FILE__, __LINE__, "%s: %s (%s), wanted %s", url,
              cio_strerror(rc), err, cio_strerror(c->want_rc));
  if (rc == 0) {
    CHECK_EQ(cio_http_response_status(r), 200);
    CHECK_EQ(cio_http_response_version(r), 11); /* http.server: no h2 */
    char *text = read_text(r);
    CHECK_STR(text, "hello world");
    free(text);
    cio_http_response_close(r);
  } else if (strstr(err, c->want_error) == NULL) {
    test_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", err,
              c->want_error);
  }
  CHECK_EQ(cio_http_session_close(s), 0);
  return 0;
}

static void run_tls(struct tls_case c) {
  make_test_ca(ca_dir, sizeof ca_dir);
  char cert[512], key[512];
  snprintf(cert, sizeof cert, "%s/server.pem", ca_dir);
  snprintf(key, sizeof key, "%s/server.key", ca_dir);
  py_server_start(&srv, cert, key);
  char ca[512];
  snprintf(ca, sizeof ca, "%s/ca.pem", ca_dir);
  if (c.ca_file != NULL)
    c.ca_file = ca;
  run_main(tls_main, &c);
  peer_stop(&srv);
  remove_dir(ca_dir);
}

TEST(https_verified_with_the_test_ca) {
  run_tls((struct tls_case){.url_host = "127.0.0.1", .ca_file = "ca"});
}

TEST(https_unknown_ca_is_refused) {
  run_tls((struct tls_case){.url_host = "127.0.0.1",
                            .want_rc = CIO_ECERT,
                            .want_error = "certificate"});
}

TEST(https_wrong_host_name_is_refused) {
  /* The certificate names 127.0.0.1 only. */
  run_tls((struct tls_case){.url_host = "localhost",
                            .ca_file = "ca",
                            .want_rc = CIO_ECERT,
                            .want_error = "localhost"});
}

TEST(https_insecure_skips_verification) {
  run_tls((struct tls_case){.url_host = "127.0.0.1", .insecure = true});
}

/* ---- HTTP/2 with nghttpd ----------------------------------------------- */

struct h2_case {
  const char *scheme;
  int http_version;
  char ca[512];
};

static int h2_fetch(void *arg, void **result) {
  (void)result;
  cio_http_response *r;
  char url[128];
  struct {
    cio_http_session *s;
    const char *scheme;
  } *a = arg;
  snprintf(url, sizeof url, "%s://127.0.0.1:%d/hello.txt", a->scheme, srv.port);
  char err[CIO_HTTP_ERROR_SIZE];
  cio_http_request req = {.url = url, .error = err, .error_cap = sizeof err};
  int rc = cio_http_session_request(a->s, &req, &r);
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", url, err);
    return rc;
  }
  if (cio_http_response_version(r) != 20 ||
      cio_http_response_status(r) != 200 ||
      strcmp(cio_http_response_reason(r), "OK") != 0)
    rc = CIO_EPROTO;
  void *body;
  size_t len;
  if (rc == 0 && (rc = cio_http_response_read(r, &body, &len, 0)) == 0) {
    if (strcmp(body, "hello over h2\n") != 0)
      rc = CIO_EPROTO;
    free(body);
  }
  cio_http_response_close(r);
  return rc;
}

static int h2_main(void *arg, void **result) {
  (void)result;
  struct h2_case *c = arg;
  cio_http_session_opts o = {.http_version = c->http_version,
                             .ca_file = c->ca[0] ? c->ca : NULL};
  struct {
    cio_http_session *s;
    const char *scheme;
  } a = {NULL, c->scheme};
  CHECK_EQ(cio_http_session_open(&a.s, &o), 0);
  enum { N = 50 };
  cio_call calls[N];
  int errors[N];
  for (int i = 0; i < N; i++)
    calls[i] = (cio_call){h2_fetch, &a};
  CHECK_EQ(cio_gather_calls(calls, N, NULL, errors, true), 0);
  for (int i = 0; i < N; i++)
    if (errors[i] != 0)
      test_fail(__FILE__, __LINE__, "request %d: %s", i,
                cio_strerror(errors[i]));
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(a.s, &st), 0);
  CHECK_EQ(st.requests, N);
  /* All multiplexed on one connection; but h2c on libcurl 7.88 gets one
   * connection per request (see CIO_HTTP_2_PRIOR_KNOWLEDGE). */
  unsigned ver = curl_version_info(CURLVERSION_NOW)->version_num;
  bool broken = c->http_version == CIO_HTTP_2_PRIOR_KNOWLEDGE && ver < 0x080000;
  CHECK_EQ(st.connections, broken ? N : 1);
  CHECK_EQ(cio_http_session_close(a.s), 0);
  return 0;
}

static void run_h2(bool tls) {
  if (access(NGHTTPD, X_OK) != 0)
    test_skip("%s is missing (apt-get install nghttp2-server)", NGHTTPD);
  make_test_ca(ca_dir, sizeof ca_dir);
  FILE *f = fopen(ca_path("hello.txt"), "w");
  CHECK(f != NULL);
  fputs("hello over h2\n", f);
  fclose(f);
  srv.port = free_port();
  char port[16], key[512], cert[512];
  snprintf(port, sizeof port, "%d", srv.port);
  snprintf(key, sizeof key, "%s/server.key", ca_dir);
  snprintf(cert, sizeof cert, "%s/server.pem", ca_dir);
  char *tls_argv[] = {NGHTTPD, "-a", "127.0.0.1", "-d", ca_dir,
                      port,    key,  cert,        NULL};
  char *h2c_argv[] = {NGHTTPD, "--no-tls", "-a", "127.0.0.1",
                      "-d",    ca_dir,     port, NULL};
  peer_spawn(&srv, tls ? tls_argv : h2c_argv, false);
  wait_listening(srv.port);
  struct h2_case c = {.scheme = tls ? "https" : "http",
                      .http_version =
                          tls ? CIO_HTTP_AUTO : CIO_HTTP_2_PRIOR_KNOWLEDGE};
  if (tls)
    snprintf(c.ca, sizeof c.ca, "%s/ca.pem", ca_dir);
  run_main(h2_main, &c);
  peer_stop(&srv);
  remove_dir(ca_dir);
}

TEST(h2_over_tls_negotiated_and_multiplexed) {
  run_h2(true);
}

TEST(h2c_with_prior_knowledge) {
  run_h2(false);
}
