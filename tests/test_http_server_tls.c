/* HTTPS: the HTTP server over TLS (casyncio/tls.h), on TCP and on a Unix
 * socket, against curl and CPython's http.client with ssl, with
 * certificates made at test time (tests/tls_certs.h). */
#include "casyncio/config.h"
#include "http_server_test.h"

#if CIO_HAVE_TLS
#include "casyncio/tls.h"
#include "tls_certs.h"

static int h_hello(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  return cio_web_response_set_text(res, 200, "hello over tls\n");
}

static int h_echo(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  size_t len;
  const void *body = cio_web_request_body(req, &len);
  return cio_web_response_set_body(res, body, len);
}

static int h_stream(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  for (int i = 0; i < 3; i++) {
    int rc = cio_web_response_write(res, "chunk\n", 6);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static cio_tls_context *server_context(void) {
  cio_tls_context *ctx;
  CHECK_EQ(cio_tls_context_new(&ctx, CIO_TLS_SERVER), 0);
  CHECK_EQ(cio_tls_context_load_cert_chain(ctx, tls_path("server.pem"),
                                           tls_path("server.key"), NULL,
                                           NULL),
           0);
  return ctx;
}

static void make_app(struct fx *f) {
  CHECK_EQ(cio_web_app_new(&f->app), 0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/hello", h_hello, NULL), 0);
  CHECK_EQ(cio_web_app_route(f->app, "POST", "/echo", h_echo, NULL), 0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/stream", h_stream, NULL), 0);
}

static const char py_https[] =
    "import http.client, ssl, sys\n"
    "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
    "c = http.client.HTTPSConnection('127.0.0.1', int(sys.argv[1]),\n"
    "                                 context=ctx)\n"
    "for i in range(3):\n"
    "    c.request('GET', '/hello')\n"
    "    r = c.getresponse()\n"
    "    print(r.status, r.read().decode().strip())\n"
    "c.request('POST', '/echo', body=iter([b'ab', b'cd']),\n"
    "          encode_chunked=True)\n"
    "print(c.getresponse().read())\n"
    "c.request('GET', '/stream')\n"
    "r = c.getresponse()\n"
    "print(r.getheader('Transfer-Encoding'), r.read())\n"
    "print(c.sock.version())\n";

static int https_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  need_program(CURL);
  need_program(PY);
  tls_certs_make();
  cio_tls_context *ctx = server_context();
  struct fx f = {0};
  make_app(&f);
  cio_tls_opts tls = {.context = ctx};
  cio_web_server_opts o = {.tls = &tls};
  fx_open(&f, &o);
  cio_tls_context_free(ctx); /* the server keeps its own reference */
  char url[96];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/hello", f.port);
  const char *argv[] = {CURL, "-sS", "--cacert", tls_path("ca.pem"), url,
                        url, NULL};
  char *out;
  CHECK_EQ(client_run(argv, NULL, &out), 0);
  CHECK_STR(out, "hello over tls\nhello over tls\n");
  free(out);
  const char *py[] = {PY, "-c", py_https, f.port_s, tls_path("ca.pem"), NULL};
  CHECK_EQ(client_run(py, NULL, &out), 0);
  CHECK_STR(out, "200 hello over tls\n200 hello over tls\n200 hello over tls\n"
                 "b'abcd'\nchunked b'chunk\\nchunk\\nchunk\\n'\nTLSv1.3\n");
  free(out);
  /* A plain HTTP client gets nothing (the handshake fails) and the
   * server goes on. */
  bool closed;
  out = raw_exchange(f.port, "GET /hello HTTP/1.1\r\n\r\n", 23, 5, NULL,
                     &closed);
  CHECK(closed);
  CHECK_LACKS(out, "hello over tls");
  free(out);
  CHECK_EQ(client_run(argv, NULL, &out), 0);
  CHECK_STR(out, "hello over tls\nhello over tls\n");
  free(out);
  fx_close(&f);
  tls_certs_remove();
  return 0;
}


static int https_unix_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  need_program(CURL);
  tls_certs_make();
  cio_tls_context *ctx = server_context();
  struct fx f = {0};
  make_app(&f);
  cio_tls_opts tls = {.context = ctx};
  cio_web_server_opts o = {.tls = &tls};
  char path[108];
  snprintf(path, sizeof path, "/tmp/cio_https_%d.sock", getpid());
  CHECK_EQ(cio_web_server_open_unix(&f.srv, f.app, path, &o), 0);
  cio_tls_context_free(ctx);
  const char *argv[] = {CURL, "-sS", "--cacert", tls_path("ca.pem"),
                        "--unix-socket", path, "https://localhost/hello",
                        NULL};
  char *out;
  CHECK_EQ(client_run(argv, NULL, &out), 0);
  CHECK_STR(out, "hello over tls\n");
  free(out);
  cio_tls_opts none = {0};
  cio_web_server_opts bad = {.tls = &none};
  cio_web_server *s2;
  CHECK_EQ(cio_web_server_open(&s2, f.app, "127.0.0.1", 0, &bad),
           CIO_EINVAL);
  fx_close(&f);
  tls_certs_remove();
  return 0;
}

#endif

TEST(https_with_curl_and_python) {
#if CIO_HAVE_TLS
  run_main(https_main, NULL);
#else
  test_skip("casyncio is built without TLS (CIO_WITH_TLS=OFF)");
#endif
}

TEST(https_over_a_unix_socket) {
#if CIO_HAVE_TLS
  run_main(https_unix_main, NULL);
#else
  test_skip("casyncio is built without TLS (CIO_WITH_TLS=OFF)");
#endif
}
