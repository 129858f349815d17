/* The HTTP server against real clients: curl and CPython's http.client
 * (Debian's python3), and raw sockets for pipelining.  Routing, request
 * and response features, keep-alive, chunked bodies both ways, HEAD,
 * Expect: 100-continue, files, Unix sockets. */
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>

#include "http_server_test.h"

/* ---- handlers -------------------------------------------------------- */

static int h_hello(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  return cio_web_response_set_text(res, 200, "hello\n");
}

static int h_item(cio_web_request *req, cio_web_response *res, void *a) {
  char text[256];
  snprintf(text, sizeof text, "%s item [%s] route %s\n",
           cio_web_request_method(req), cio_web_request_param(req, "id"),
           cio_web_request_route(req));
  (void)a;
  return cio_web_response_set_text(res, 200, text);
}

static int h_new(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  return cio_web_response_set_text(res, 200, "the new-item form\n");
}

static int h_rest(cio_web_request *req, cio_web_response *res, void *a) {
  char text[512];
  snprintf(text, sizeof text, "rest [%s] path [%s]\n",
           cio_web_request_param(req, "path"), cio_web_request_path(req));
  (void)a;
  return cio_web_response_set_text(res, 200, text);
}

static int h_query(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  const char *names[] = {"a", "b", "flag", "missing"};
  char text[512];
  size_t n = 0;
  for (int i = 0; i < 4; i++) {
    const char *v = cio_web_request_query_param(req, names[i]);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s=%s%s%s;", names[i],
                          v ? "[" : "", v ? v : "NULL", v ? "]" : "");
  }
  snprintf(text + n, sizeof text - n, " raw=%s\n", cio_web_request_query(req));
  return cio_web_response_set_text(res, 200, text);
}

/* Echo the body back, with its length in a header. */
static int h_echo(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  size_t len;
  const void *body = cio_web_request_body(req, &len);
  char n[32];
  snprintf(n, sizeof n, "%zu", len);
  const char *type = cio_web_request_header(req, "content-type");
  int rc = cio_web_response_add_header(res, "X-Body-Length", n);
  if (rc == 0 && type != NULL)
    rc = cio_web_response_set_header(res, "Content-Type", type);
  return rc < 0 ? rc : cio_web_response_set_body(res, body, len);
}

static int h_headers(cio_web_request *req, cio_web_response *res,
                     void *a) {
  (void)a;
  char text[1024];
  size_t n = (size_t)snprintf(
      text, sizeof text, "x-test=[%s] X-TEST=[%s] count=%zu version=%d\n",
      cio_web_request_header(req, "x-test"),
      cio_web_request_header(req, "X-TEST"),
      cio_web_request_header_count(req), cio_web_request_version(req));
  for (size_t i = 0; i < cio_web_request_header_count(req); i++) {
    const char *name, *value;
    CHECK_EQ(cio_web_request_header_at(req, i, &name, &value), 0);
    n += (size_t)snprintf(text + n, sizeof text - n, "%s: %s\n", name, value);
  }
  CHECK_EQ(cio_web_request_header_at(req, 999, NULL, NULL), CIO_ERANGE);
  return cio_web_response_set_text(res, 200, text);
}

/* Three chunks, awaiting between them. */
static int h_stream(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  CHECK_EQ(cio_web_response_set_header(res, "Content-Type", "text/plain"),
           0);
  for (int i = 1; i <= 3; i++) {
    char chunk[32];
    snprintf(chunk, sizeof chunk, "part %d\n", i);
    int rc = cio_web_response_write(res, chunk, strlen(chunk));
    if (rc == 0)
      rc = cio_sleep(0.02);
    if (rc < 0)
      return rc;
  }
  CHECK(cio_web_response_is_started(res));
  CHECK_EQ(cio_web_response_set_status(res, 201), CIO_EALREADY);
  return 0; /* the final chunk goes out when the handler returns */
}

static int h_json(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  json_t *in = NULL;
  int rc = cio_web_request_json(req, &in);
  json_t *out = json_pack("{s:s, s:o}", "method",
                          cio_web_request_method(req), "got",
                          rc == 0 ? in : json_null());
  rc = cio_web_response_set_json(res, 200, out);
  json_decref(out);
  return rc;
}

static int h_file(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  int rc = cio_web_response_send_file(res, a, "application/x-test");
  if (rc == CIO_ENOENT)
    return cio_web_response_set_text(res, 404, "no file\n");
  return rc;
}

static int h_status(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  int code = atoi(cio_web_request_param(req, "code"));
  int rc = cio_web_response_set_status(res, code);
  if (rc == CIO_EINVAL)
    return cio_web_response_set_text(res, 400, "bad status\n");
  return rc < 0 ? rc : cio_web_response_set_body(res, "body", 4);
}

static int h_any(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  char text[64];
  snprintf(text, sizeof text, "any %s\n", cio_web_request_method(req));
  return cio_web_response_set_text(res, 200, text);
}

static char file_path[256];

static void make_app(struct fx *f) {
  CHECK_EQ(cio_web_app_new(&f->app), 0);
  cio_web_app *app = f->app;
  CHECK_EQ(cio_web_app_route(app, "GET", "/hello", h_hello, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/items/{id}", h_item, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "PUT", "/items/{id}", h_item, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/items/new", h_new, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/files/{path...}", h_rest, NULL),
           0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/query", h_query, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "POST", "/echo", h_echo, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/headers", h_headers, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/stream", h_stream, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "POST", "/json", h_json, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/file", h_file, file_path), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/status/{code}", h_status, NULL),
           0);
  CHECK_EQ(cio_web_app_route(app, "*", "/any", h_any, NULL), 0);
}

/* ---- the routing table ----------------------------------------------- */

static int dummy(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)res;
  (void)a;
  return 0;
}

TEST(route_patterns_are_checked) {
  cio_web_app *app;
  CHECK_EQ(cio_web_app_new(&app), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/a/{id}", dummy, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/a/{id}", dummy, NULL), CIO_EEXIST);
  CHECK_EQ(cio_web_app_route(app, "POST", "/a/{id}", dummy, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, NULL, "/a/{id}", dummy, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "*", "/a/{id}", dummy, NULL), CIO_EEXIST);
  CHECK_EQ(cio_web_app_route(app, "GET", "a", dummy, NULL), CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(app, "GET", "/{}", dummy, NULL), CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(app, "GET", "/{x", dummy, NULL), CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(app, "GET", "/a{x}", dummy, NULL), CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(app, "GET", "/{r...}/x", dummy, NULL),
           CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(app, "G T", "/b", dummy, NULL), CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(app, "GET", "/b", NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(NULL, "GET", "/b", dummy, NULL), CIO_EINVAL);
  CHECK_EQ(cio_web_app_route(app, "GET", "/", dummy, NULL), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/{r...}", dummy, NULL), 0);
  cio_web_app_free(app);
  cio_web_app_free(NULL);
}

static int frozen_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  CHECK_EQ(cio_web_app_route(f.app, "GET", "/late", dummy, NULL), CIO_EBUSY);
  cio_web_server_opts bad = {.header_timeout = -1};
  cio_web_server *s2;
  CHECK_EQ(cio_web_server_open(&s2, f.app, "127.0.0.1", 0, &bad),
           CIO_EINVAL);
  CHECK(s2 == NULL);
  CHECK_EQ(cio_web_server_open(&s2, f.app, "127.0.0.1", f.port, NULL),
           CIO_EADDRINUSE);
  fx_close(&f);
  return 0;
}

TEST(an_app_in_use_is_read_only) {
  run_main(frozen_main, NULL);
}

/* ---- curl ------------------------------------------------------------- */

static char *curl(const struct fx *f, const char *const *args) {
  need_program(CURL);
  const char *argv[32] = {CURL, "-sS", "--max-time", "20"};
  int n = 4;
  for (; *args; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  (void)f;
  char *out;
  int code = client_run(argv, NULL, &out);
  if (code != 0)
    test_fail(__FILE__, __LINE__, "curl exited with %d:\n%s", code, out);
  return out;
}

static int curl_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  char url[128];
  snprintf(url, sizeof url, "%s/hello", f.base);
  char *out = curl(&f, (const char *[]){"-i", url, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 200 OK\r\n");
  CHECK_HAS(out, "\r\nContent-Length: 6\r\n");
  CHECK_HAS(out, "\r\nContent-Type: text/plain; charset=utf-8\r\n");
  CHECK_HAS(out, "\r\n\r\nhello\n");
  /* Date: Sun, 06 Nov 1994 08:49:37 GMT */
  const char *d = strstr(out, "\r\nDate: ");
  CHECK(d != NULL);
  char day[4], mon[4], tz[4];
  int dd, yy, hh, mm, ss;
  CHECK_EQ(sscanf(d + 8, "%3s, %d %3s %d %d:%d:%d %3s", day, &dd, mon, &yy,
                  &hh, &mm, &ss, tz),
           8);
  CHECK_STR(tz, "GMT");
  CHECK(yy >= 2024);
  free(out);

  /* Several URLs on one keep-alive connection: curl reuses it. */
  char u1[128], u2[128], u3[128], u4[128];
  snprintf(u1, sizeof u1, "%s/items/42", f.base);
  snprintf(u2, sizeof u2, "%s/items/new", f.base);
  snprintf(u3, sizeof u3, "%s/files/a/b%%20c/", f.base);
  snprintf(u4, sizeof u4, "%s/items/a%%2Fb%%20c", f.base);
  out = curl(&f, (const char *[]){"-v", u1, u2, u3, u4, NULL});
  CHECK_HAS(out, "GET item [42] route /items/{id}\n");
  CHECK_HAS(out, "the new-item form\n");
  CHECK_HAS(out, "rest [a/b c/] path [/files/a/b c/]\n");
  CHECK_HAS(out, "GET item [a/b c] route /items/{id}\n");
  CHECK_HAS(out, "Re-using existing connection");
  free(out);

  /* PUT on the same pattern; 405 with Allow; 404; any method. */
  out = curl(&f, (const char *[]){"-X", "PUT", u1, NULL});
  CHECK_STR(out, "PUT item [42] route /items/{id}\n");
  free(out);
  snprintf(u1, sizeof u1, "%s/items/7", f.base);
  out = curl(&f, (const char *[]){"-i", "-X", "DELETE", u1, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 405 Method Not Allowed\r\n");
  CHECK_HAS(out, "\r\nAllow: GET, HEAD, PUT\r\n");
  free(out);
  snprintf(u1, sizeof u1, "%s/nowhere", f.base);
  out = curl(&f, (const char *[]){"-i", u1, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 404 Not Found\r\n");
  free(out);
  snprintf(u1, sizeof u1, "%s/any", f.base);
  out = curl(&f, (const char *[]){"-X", "PURGE", u1, NULL});
  CHECK_STR(out, "any PURGE\n");
  free(out);
  fx_close(&f);
  return 0;
}

TEST(curl_routes_params_and_keep_alive) {
  run_main(curl_main, NULL);
}

static int curl_query_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  char url[256];
  snprintf(url, sizeof url,
           "%s/query?a=1+2%%263&b=%%E2%%82%%AC&flag&a=second&z=%%00", f.base);
  char *out = curl(&f, (const char *[]){url, NULL});
  CHECK_STR(out, "a=[1 2&3];b=[\xE2\x82\xAC];flag=[];missing=NULL; "
                 "raw=a=1+2%263&b=%E2%82%AC&flag&a=second&z=%00\n");
  free(out);
  /* "." and ".." segments are refused, encoded or not. */
  snprintf(url, sizeof url, "%s/files/a/%%2e%%2E/b", f.base);
  out = curl(&f, (const char *[]){"-i", "--path-as-is", url, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 400 ");
  free(out);
  snprintf(url, sizeof url, "%s/files/../etc/passwd", f.base);
  out = curl(&f, (const char *[]){"-i", "--path-as-is", url, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 400 ");
  free(out);
  snprintf(url, sizeof url, "%s/files/a..b/.c", f.base);
  out = curl(&f, (const char *[]){"--path-as-is", url, NULL});
  CHECK_STR(out, "rest [a..b/.c] path [/files/a..b/.c]\n");
  free(out);
  fx_close(&f);
  return 0;
}

TEST(curl_query_decoding_and_clean_paths) {
  run_main(curl_query_main, NULL);
}

static int curl_body_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  char url[128];
  snprintf(url, sizeof url, "%s/echo", f.base);
  /* A chunked request body from stdin. */
  need_program(CURL);
  const char *argv[] = {CURL, "-sS", "-i", "-H", "Transfer-Encoding: chunked",
                        "-H", "Content-Type: text/x-stdin", "--data-binary",
                        "@-", url, NULL};
  char *out;
  CHECK_EQ(client_run(argv, "line one\nline two\n", &out), 0);
  CHECK_HAS(out, "\r\nX-Body-Length: 18\r\n");
  CHECK_HAS(out, "\r\nContent-Type: text/x-stdin\r\n");
  CHECK_HAS(out, "\r\n\r\nline one\nline two\n");
  free(out);
  /* Expect: 100-continue: curl waits for the interim response. */
  out = curl(&f, (const char *[]){"-v", "-H", "Expect: 100-continue",
                                  "--data-binary", "payload", url, NULL});
  CHECK_HAS(out, "< HTTP/1.1 100 Continue");
  CHECK_HAS(out, "< HTTP/1.1 200 OK");
  CHECK_HAS(out, "payload");
  free(out);
  /* JSON in, JSON out. */
  snprintf(url, sizeof url, "%s/json", f.base);
  out = curl(&f, (const char *[]){"-H", "Content-Type: application/json",
                                  "-d", "{\"n\": [1, 2]}", url, NULL});
  CHECK_STR(out, "{\"method\":\"POST\",\"got\":{\"n\":[1,2]}}");
  free(out);
  out = curl(&f, (const char *[]){"-d", "not json", url, NULL});
  CHECK_STR(out, "{\"method\":\"POST\",\"got\":null}");
  free(out);
  fx_close(&f);
  return 0;
}

TEST(curl_request_bodies_chunked_and_expect_continue) {
  run_main(curl_body_main, NULL);
}

static int curl_stream_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  char url[128];
  snprintf(url, sizeof url, "%s/stream", f.base);
  char *out = curl(&f, (const char *[]){"-i", "--raw", url, NULL});
  CHECK_HAS(out, "\r\nTransfer-Encoding: chunked\r\n");
  CHECK_HAS(out, "\r\n\r\n7\r\npart 1\n\r\n7\r\npart 2\n\r\n7\r\npart 3\n\r\n"
                 "0\r\n\r\n");
  CHECK_LACKS(out, "Content-Length");
  free(out);
  /* HTTP/1.0 has no chunks: the body ends when the connection does. */
  out = curl(&f, (const char *[]){"-i", "--http1.0", url, NULL});
  CHECK_HAS(out, "\r\nConnection: close\r\n");
  CHECK_HAS(out, "\r\n\r\npart 1\npart 2\npart 3\n");
  CHECK_LACKS(out, "chunked");
  free(out);
  /* HEAD: the head a GET would get, no body. */
  snprintf(url, sizeof url, "%s/hello", f.base);
  out = curl(&f, (const char *[]){"-I", url, NULL});
  CHECK_HAS(out, "\r\nContent-Length: 6\r\n");
  CHECK_LACKS(out, "hello");
  free(out);
  /* 204 and 304 carry no body nor length. */
  snprintf(url, sizeof url, "%s/status/204", f.base);
  out = curl(&f, (const char *[]){"-i", url, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 204 No Content\r\n");
  CHECK_LACKS(out, "Content-Length");
  CHECK_LACKS(out, "body");
  free(out);
  snprintf(url, sizeof url, "%s/status/99", f.base);
  out = curl(&f, (const char *[]){"-i", url, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 400 Bad Request\r\n");
  free(out);
  fx_close(&f);
  return 0;
}

TEST(curl_streamed_responses_head_and_bodiless_statuses) {
  run_main(curl_stream_main, NULL);
}

static int curl_file_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  snprintf(file_path, sizeof file_path, "/tmp/cio_http_file_%d", getpid());
  int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  char block[1000];
  for (int i = 0; i < 300; i++) { /* 300 kB, each block numbered */
    memset(block, 'a' + i % 26, sizeof block);
    CHECK_EQ(write(fd, block, sizeof block), (ssize_t)sizeof block);
  }
  close(fd);
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  char url[128], copy[300];
  snprintf(url, sizeof url, "%s/file", f.base);
  snprintf(copy, sizeof copy, "%s.copy", file_path);
  char *out = curl(&f, (const char *[]){"-D", "-", "-o", copy, url, NULL});
  CHECK_HAS(out, "\r\nContent-Length: 300000\r\n");
  CHECK_HAS(out, "\r\nContent-Type: application/x-test\r\n");
  free(out);
  need_program("/usr/bin/cmp");
  const char *cmp[] = {"/usr/bin/cmp", file_path, copy, NULL};
  CHECK_EQ(client_run(cmp, NULL, NULL), 0);
  out = curl(&f, (const char *[]){"-I", url, NULL});
  CHECK_HAS(out, "\r\nContent-Length: 300000\r\n");
  free(out);
  unlink(copy);
  unlink(file_path);
  out = curl(&f, (const char *[]){"-i", url, NULL});
  CHECK_PREFIX(out, "HTTP/1.1 404 Not Found\r\n");
  CHECK_HAS(out, "no file\n");
  free(out);
  fx_close(&f);
  return 0;
}

TEST(curl_downloads_a_file_sent_with_sendfile) {
  run_main(curl_file_main, NULL);
}

static int unix_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  char path[108];
  snprintf(path, sizeof path, "/tmp/cio_http_%d.sock", getpid());
  CHECK_EQ(cio_web_server_open_unix(&f.srv, f.app, path, NULL), 0);
  CHECK_EQ(cio_web_server_port(f.srv), -1);
  char *out = curl(&f, (const char *[]){"--unix-socket", path,
                                        "http://localhost/items/9", NULL});
  CHECK_STR(out, "GET item [9] route /items/{id}\n");
  free(out);
  fx_close(&f);
  CHECK(access(path, F_OK) != 0); /* removed on close */
  return 0;
}

TEST(curl_over_a_unix_socket) {
  run_main(unix_main, NULL);
}

/* ---- CPython's http.client ------------------------------------------- */

static const char py_client[] =
    "import http.client, sys\n"
    "c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))\n"
    "ports = set()\n"
    "for i in range(5):\n"
    "    c.request('GET', '/items/%d' % i, headers={'X-Test': 'v%d' % i})\n"
    "    r = c.getresponse()\n"
    "    print(r.status, r.read().decode().strip())\n"
    "    ports.add(c.sock.getsockname()[1])\n"
    "c.request('POST', '/echo', body=b'x' * 200000,\n"
    "          headers={'Content-Type': 'application/octet-stream'})\n"
    "r = c.getresponse()\n"
    "b = r.read()\n"
    "print(r.status, len(b), b == b'x' * 200000, r.getheader('X-Body-Length'))\n"
    "def gen():\n"
    "    for part in (b'abc', b'', b'defgh', b'ij'):\n"
    "        yield part\n"
    "c.request('POST', '/echo', body=gen(), encode_chunked=True)\n"
    "r = c.getresponse()\n"
    "print(r.status, r.read())\n"
    "c.request('GET', '/stream')\n"
    "r = c.getresponse()\n"
    "print(r.status, r.getheader('Transfer-Encoding'), repr(r.read()))\n"
    "c.request('GET', '/headers', headers={'X-Test': '  padded  '})\n"
    "r = c.getresponse()\n"
    "print(r.read().decode().splitlines()[0])\n"
    "ports.add(c.sock.getsockname()[1])\n"
    "print('connections', len(ports))\n";

static int py_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  char *out;
  CHECK_EQ(py_run(py_client, &f, &out), 0);
  CHECK_STR(out,
            "200 GET item [0] route /items/{id}\n"
            "200 GET item [1] route /items/{id}\n"
            "200 GET item [2] route /items/{id}\n"
            "200 GET item [3] route /items/{id}\n"
            "200 GET item [4] route /items/{id}\n"
            "200 200000 True 200000\n"
            "200 b'abcdefghij'\n"
            "200 chunked b'part 1\\npart 2\\npart 3\\n'\n"
            "x-test=[padded] X-TEST=[padded] count=3 version=11\n"
            "connections 1\n");
  free(out);
  fx_close(&f);
  return 0;
}

TEST(python_http_client_keep_alive_chunked_both_ways) {
  run_main(py_main, NULL);
}

/* ---- pipelining ---------------------------------------------------------- */

static int slow_ms(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  const char *ms = cio_web_request_param(req, "ms");
  int rc = cio_sleep(atoi(ms) / 1000.0);
  if (rc < 0)
    return rc;
  char text[32];
  snprintf(text, sizeof text, "slept %s\n", ms);
  return cio_web_response_set_text(res, 200, text);
}

static int pipeline_main(void *arg, void **result) {
  bool in_tasks = arg != NULL;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  CHECK_EQ(cio_web_app_route(f.app, "GET", "/sleep/{ms}", slow_ms, NULL), 0);
  cio_web_server_opts o = {.cancel_on_disconnect = in_tasks};
  fx_open(&f, &o);
  /* Four requests in one write, the first the slowest, a body in the
   * middle: the answers come in request order. */
  static const char reqs[] =
      "GET /sleep/60 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /sleep/0 HTTP/1.1\r\nHost: x\r\n\r\n"
      "\r\n" /* a stray blank line between requests is allowed */
      "GET /items/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  bool closed;
  char *out = raw_exchange(f.port, reqs, sizeof reqs - 1, 5, NULL, &closed);
  CHECK(closed);
  CHECK_EQ(count_of(out, "HTTP/1.1 200 OK\r\n"), 4);
  const char *a = strstr(out, "slept 60\n");
  const char *b = strstr(out, "\r\n\r\nhello");
  const char *c = strstr(out, "slept 0\n");
  const char *d = strstr(out, "GET item [3]");
  CHECK(a && b && c && d && a < b && b < c && c < d);
  CHECK_EQ(count_of(out, "Connection: close"), 1);
  free(out);
  fx_close(&f);
  return 0;
}

TEST(pipelined_requests_answered_in_order) {
  run_main(pipeline_main, NULL);
}

TEST(pipelined_requests_answered_in_order_with_handler_tasks) {
  run_main(pipeline_main, "tasks");
}

/* ---- HTTP/1.0 and keep-alive choices -------------------------------------- */

static int http10_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  bool closed;
  char *out = raw_exchange(f.port, "GET /hello HTTP/1.0\r\n\r\n", 23, 5, NULL,
                           &closed);
  CHECK(closed);
  CHECK_HAS(out, "HTTP/1.1 200 OK\r\n");
  CHECK_HAS(out, "Connection: close\r\n");
  free(out);
  static const char ka[] = "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                           "GET /hello HTTP/1.0\r\n\r\n";
  out = raw_exchange(f.port, ka, sizeof ka - 1, 5, NULL, &closed);
  CHECK(closed);
  CHECK_EQ(count_of(out, "hello\n"), 2);
  CHECK_EQ(count_of(out, "Connection: keep-alive\r\n"), 1);
  free(out);
  /* HTTP/1.1 keeps the connection: the client's timeout ends it. */
  out = raw_exchange(f.port, "GET /hello HTTP/1.1\r\n\r\n", 23, 0.3, NULL,
                     &closed);
  CHECK(!closed);
  CHECK_LACKS(out, "Connection:");
  free(out);
  out = raw_exchange(f.port, "GET /hello HTTP/2.0\r\n\r\n", 23, 5, NULL,
                     &closed);
  CHECK(closed);
  CHECK_HAS(out, "HTTP/1.1 505 ");
  free(out);
  fx_close(&f);
  return 0;
}

TEST(http_1_0_and_keep_alive) {
  run_main(http10_main, NULL);
}
