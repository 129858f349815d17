/* The HTTP client against Debian's python3 http.server (HTTP/1.1,
 * keep-alive), started by each test: bodies with Content-Length and
 * chunked, read whole and chunk by chunk, keep-alive reuse, redirects,
 * statuses, methods and bodies, headers, query parameters, cookies,
 * timeouts, a server closing mid-body, errors and their messages. */
#include <jansson.h>

#include "http_client_peers.h"

static struct peer srv;
static char url_buf[256];

/* http://127.0.0.1:<port><path> (one at a time: copy to keep). */
static const char *url(const char *path) {
  snprintf(url_buf, sizeof url_buf, "http://127.0.0.1:%d%s", srv.port, path);
  return url_buf;
}

typedef void (*body_fn)(cio_http_session *s);

/* Open a session with `opts`, run `fn`, close the session. */
struct scenario {
  body_fn fn;
  cio_http_session_opts opts;
};

static int scenario_main(void *arg, void **result) {
  (void)result;
  struct scenario *sc = arg;
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, &sc->opts), 0);
  sc->fn(s);
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(s, &st), 0);
  CHECK_EQ(st.in_flight, 0);
  CHECK_EQ(cio_http_session_close(s), 0);
  return 0;
}

static void run_with(body_fn fn, const cio_http_session_opts *opts) {
  py_server_start(&srv, NULL, NULL);
  struct scenario sc = {.fn = fn};
  if (opts != NULL)
    sc.opts = *opts;
  run_main(scenario_main, &sc);
  peer_stop(&srv);
}

static char *get_text(cio_http_session *s, const char *path, int status) {
  cio_http_response *r;
  int rc = cio_http_get(s, url(path), &r);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "GET %s: %s", path, cio_strerror(rc));
  CHECK_EQ(cio_http_response_status(r), status);
  char *text = read_text(r);
  cio_http_response_close(r);
  return text;
}

/* ---- bodies ------------------------------------------------------------ */

static void content_length(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/hello"), &r), 0);
  CHECK_EQ(cio_http_response_status(r), 200);
  CHECK(cio_http_response_ok(r));
  CHECK_STR(cio_http_response_reason(r), "OK");
  CHECK_EQ(cio_http_response_version(r), 11);
  CHECK_STR(cio_http_response_url(r), url("/hello"));
  CHECK_EQ(cio_http_response_content_length(r), 11);
  CHECK_STR(cio_http_response_header(r, "content-type"), "text/plain");
  CHECK_STR(cio_http_response_header(r, "CONTENT-TYPE"), "text/plain");
  CHECK(cio_http_response_header(r, "x-absent") == NULL);
  CHECK(cio_http_response_header_count(r) >= 3);
  const char *name, *value;
  CHECK_EQ(cio_http_response_header_at(r, 0, &name, &value), 0);
  CHECK_STR(name, "Server");
  CHECK_EQ(cio_http_response_header_at(r, 99, &name, &value), CIO_ERANGE);
  void *body;
  size_t len;
  CHECK_EQ(cio_http_response_read(r, &body, &len, 100), 0);
  CHECK_EQ(len, 11);
  CHECK_STR(body, "hello world");
  free(body);
  /* Read again: the body is gone, an empty one is given. */
  CHECK_EQ(cio_http_response_read(r, &body, &len, 0), 0);
  CHECK_EQ(len, 0);
  CHECK_STR(body, "");
  free(body);
  CHECK_EQ(cio_http_response_read_some(r, url_buf, 10), 0);
  cio_http_response_close(r);
}

TEST(get_with_content_length) {
  run_with(content_length, NULL);
}

static void chunked(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/chunked?n=4"), &r), 0);
  CHECK_EQ(cio_http_response_content_length(r), -1);
  CHECK_STR(cio_http_response_header(r, "transfer-encoding"), "chunked");
  char *text = read_text(r);
  CHECK_STR(text, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
  free(text);
  cio_http_response_close(r);
}

TEST(chunked_body_read_whole) {
  run_with(chunked, NULL);
}

/* The server sends a chunk every 0.3 s: each read returns one as soon as
 * it is there, long before the body is complete. */
static void chunk_by_chunk(cio_http_session *s) {
  double t0 = cio_time();
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/chunked?n=3&delay=0.3"), &r), 0);
  CHECK(cio_time() - t0 < 0.25); /* the head came with the first chunk */
  char buf[256];
  double at[4];
  int reads = 0;
  size_t total = 0;
  ssize_t n;
  while ((n = cio_http_response_read_some(r, buf + total, sizeof buf - total)) >
         0) {
    if (reads < 4)
      at[reads] = cio_time() - t0;
    reads++;
    total += (size_t)n;
  }
  CHECK_EQ(n, 0);
  buf[total] = '\0';
  CHECK_STR(buf, "chunk 0\nchunk 1\nchunk 2\n");
  CHECK_EQ(reads, 3);
  CHECK(at[0] < 0.25);
  CHECK_NEAR(at[1], 0.3, 0.2);
  CHECK_NEAR(at[2], 0.6, 0.2);
  cio_http_response_close(r);
}

TEST(body_read_chunk_by_chunk_as_it_arrives) {
  run_with(chunk_by_chunk, NULL);
}

static void gzip_body(cio_http_session *s) {
  char *text = get_text(s, "/gzip", 200);
  CHECK_EQ(strlen(text), 1100);
  CHECK(strncmp(text, "compressed compressed ", 22) == 0);
  free(text);
}

TEST(gzip_body_is_decompressed) {
  run_with(gzip_body, NULL);
}

/* ---- connections ----------------------------------------------------- */

static void keepalive(cio_http_session *s) {
  for (int i = 0; i < 5; i++)
    free(get_text(s, "/hello", 200));
  char *stats = get_text(s, "/stats", 200);
  json_t *doc = json_loads(stats, 0, NULL);
  CHECK(doc != NULL);
  CHECK_EQ(json_integer_value(json_object_get(doc, "connections")), 1);
  json_decref(doc);
  free(stats);
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(s, &st), 0);
  CHECK_EQ(st.connections, 1);
  CHECK_EQ(st.open_connections, 1);
  CHECK_EQ(st.requests, 6);
}

TEST(keep_alive_reuses_one_connection) {
  run_with(keepalive, NULL);
}

static void refused(cio_http_session *s) {
  cio_http_response *r = (void *)1;
  char err[CIO_HTTP_ERROR_SIZE];
  cio_http_request req = {
      .url = "http://127.0.0.1:1/", .error = err, .error_cap = sizeof err};
  CHECK_EQ(cio_http_session_request(s, &req, &r), CIO_ECONNREFUSED);
  CHECK(r == NULL);
  CHECK(strstr(err, "onnect") != NULL); /* libcurl's "Failed to connect" */
}

TEST(connection_refused) {
  run_with(refused, NULL);
}

static void unknown_host(cio_http_session *s) {
  cio_http_response *r;
  char err[CIO_HTTP_ERROR_SIZE];
  cio_http_request req = {.url = "http://no-such-host.invalid/",
                          .error = err,
                          .error_cap = sizeof err};
  CHECK_EQ(cio_http_session_request(s, &req, &r), CIO_EAI_NONAME);
  CHECK(strstr(err, "no-such-host.invalid") != NULL);
}

TEST(unknown_host) {
  run_with(unknown_host, NULL);
}

static void empty_reply(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/nothing"), &r), CIO_ECONNRESET);
}

TEST(server_closing_without_answer) {
  run_with(empty_reply, NULL);
}

static void mid_body(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/close-mid-body"), &r), 0);
  CHECK_EQ(cio_http_response_status(r), 200);
  void *body = (void *)1;
  size_t len = 1;
  CHECK_EQ(cio_http_response_read(r, &body, &len, 0), CIO_EHTTP);
  CHECK(body == NULL && len == 0);
  CHECK(strstr(cio_http_response_error(r), "900 bytes remaining") != NULL);
  cio_http_response_close(r);
}

TEST(server_closing_mid_body) {
  run_with(mid_body, NULL);
}

/* ---- redirects and statuses -------------------------------------------- */

static void redirects(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/redirect/3"), &r), 0);
  CHECK_EQ(cio_http_response_status(r), 200);
  CHECK_STR(cio_http_response_url(r), url("/redirect/0"));
  char *text = read_text(r);
  CHECK_STR(text, "redirected");
  free(text);
  cio_http_response_close(r);
  /* Not followed on request. */
  cio_http_request req = {.url = url("/redirect/3"), .no_redirects = true};
  CHECK_EQ(cio_http_session_request(s, &req, &r), 0);
  CHECK_EQ(cio_http_response_status(r), 302);
  CHECK_STR(cio_http_response_reason(r), "Found");
  CHECK_STR(cio_http_response_header(r, "location"), "/redirect/2");
  cio_http_response_close(r);
}

TEST(redirects_are_followed) {
  run_with(redirects, NULL);
}

static void too_many(cio_http_session *s) {
  cio_http_response *r;
  char err[CIO_HTTP_ERROR_SIZE];
  cio_http_request req = {
      .url = url("/redirect/5"), .error = err, .error_cap = sizeof err};
  CHECK_EQ(cio_http_session_request(s, &req, &r), CIO_EREDIRECT);
  CHECK(strstr(err, "edirects") != NULL);
  CHECK_EQ(cio_http_get(s, url("/redirect/2"), &r), 0); /* within 2 */
  cio_http_response_close(r);
}

TEST(too_many_redirects) {
  cio_http_session_opts o = {.max_redirects = 2};
  run_with(too_many, &o);
}

static void statuses(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/status/404"), &r), 0);
  CHECK_EQ(cio_http_response_status(r), 404);
  CHECK(!cio_http_response_ok(r));
  CHECK_STR(cio_http_response_reason(r), "Not Found");
  char *text = read_text(r);
  CHECK_STR(text, "status 404");
  free(text);
  cio_http_response_close(r);
  CHECK_EQ(cio_http_get(s, url("/status/500"), &r), 0);
  CHECK_EQ(cio_http_response_status(r), 500);
  CHECK_STR(cio_http_response_reason(r), "Internal Server Error");
  cio_http_response_close(r); /* unread: the connection is dropped */
  free(get_text(s, "/nowhere", 404));
}

TEST(statuses_404_and_500) {
  run_with(statuses, NULL);
}

/* ---- methods, bodies, headers, parameters -------------------------------- */

static json_t *echo(cio_http_session *s, const cio_http_request *req) {
  cio_http_response *r;
  int rc = cio_http_session_request(s, req, &r);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "request: %s", cio_strerror(rc));
  CHECK_EQ(cio_http_response_status(r), 200);
  json_t *doc;
  CHECK_EQ(cio_http_response_json(r, &doc, 1 << 22), 0);
  cio_http_response_close(r);
  return doc;
}

static const char *field(json_t *doc, const char *k) {
  return json_string_value(json_object_get(doc, k));
}

static const char *header(json_t *doc, const char *k) {
  return json_string_value(json_object_get(json_object_get(doc, "headers"), k));
}

static void methods(cio_http_session *s) {
  static const char *const with_body[] = {"POST", "PUT", "PATCH"};
  for (int i = 0; i < 3; i++) {
    cio_http_request req = {.method = with_body[i],
                            .url = url("/echo"),
                            .body = "a\0b",
                            .body_len = 3};
    json_t *doc = echo(s, &req);
    CHECK_STR(field(doc, "method"), with_body[i]);
    CHECK_EQ(json_integer_value(json_object_get(doc, "length")), 3);
    CHECK(memcmp(field(doc, "body"), "a\0b", 3) == 0);
    CHECK_STR(header(doc, "content-type"), "application/octet-stream");
    CHECK(header(doc, "expect") == NULL);
    json_decref(doc);
  }
  static const char *const without[] = {"GET", "DELETE", "OPTIONS"};
  for (int i = 0; i < 3; i++) {
    cio_http_request req = {.method = without[i], .url = url("/echo")};
    json_t *doc = echo(s, &req);
    CHECK_STR(field(doc, "method"), without[i]);
    CHECK_EQ(json_integer_value(json_object_get(doc, "length")), 0);
    json_decref(doc);
  }
  cio_http_response *r;
  cio_http_request head = {.method = "HEAD", .url = url("/hello")};
  CHECK_EQ(cio_http_session_request(s, &head, &r), 0);
  CHECK_EQ(cio_http_response_status(r), 200);
  CHECK_EQ(cio_http_response_content_length(r), 11);
  char *text = read_text(r);
  CHECK_STR(text, "");
  free(text);
  cio_http_response_close(r);
  CHECK_EQ(cio_http_delete(s, url("/echo"), &r), 0);
  cio_http_response_close(r);
  cio_http_request bad = {
      .method = "HEAD", .url = url("/echo"), .body = "x", .body_len = 1};
  CHECK_EQ(cio_http_session_request(s, &bad, &r), CIO_EINVAL);
  bad = (cio_http_request){.method = "GE T", .url = url("/echo")};
  CHECK_EQ(cio_http_session_request(s, &bad, &r), CIO_EINVAL);
}

TEST(methods_with_and_without_bodies) {
  run_with(methods, NULL);
}

static void json_body(cio_http_session *s) {
  json_t *in = json_pack("{s:s, s:i, s:[i,i]}", "name", "casyncio", "n", 3,
                         "list", 1, 2);
  cio_http_request req = {.url = url("/echo"), .json = in};
  json_t *doc = echo(s, &req);
  CHECK_STR(field(doc, "method"), "POST");
  CHECK_STR(header(doc, "content-type"), "application/json");
  json_t *sent = json_loads(field(doc, "body"), 0, NULL);
  CHECK(json_equal(sent, in));
  json_decref(sent);
  json_decref(doc);
  cio_http_response *r;
  CHECK_EQ(cio_http_post_json(s, url("/echo"), in, &r), 0);
  cio_http_response_close(r);
  json_decref(in);
  /* A body that is not JSON. */
  CHECK_EQ(cio_http_get(s, url("/hello"), &r), 0);
  CHECK_EQ(cio_http_response_json(r, &doc, 0), CIO_EINVAL);
  CHECK(strstr(cio_http_response_error(r), "invalid JSON") != NULL);
  cio_http_response_close(r);
}

TEST(json_request_and_response) {
  run_with(json_body, NULL);
}

static void file_body(cio_http_session *s) {
  char path[] = "/tmp/cio-http-body-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  size_t size = 300000; /* several chunks of the thread-pool reader */
  char *data = malloc(size);
  for (size_t i = 0; i < size; i++)
    data[i] = (char)('a' + i % 26);
  CHECK_EQ(write(fd, data, size), (ssize_t)size);
  close(fd);
  cio_http_request req = {
      .method = "PUT", .url = url("/echo"), .body_file = path};
  json_t *doc = echo(s, &req);
  CHECK_STR(field(doc, "method"), "PUT");
  CHECK_EQ(json_integer_value(json_object_get(doc, "length")), size);
  CHECK(memcmp(field(doc, "body"), data, size) == 0);
  json_decref(doc);
  unlink(path);
  free(data);
  cio_http_response *r;
  cio_http_request missing = {.url = url("/echo"), .body_file = path};
  CHECK_EQ(cio_http_session_request(s, &missing, &r), CIO_ENOENT);
  cio_http_request two = {
      .url = url("/echo"), .body_file = path, .body = "x", .body_len = 1};
  CHECK_EQ(cio_http_session_request(s, &two, &r), CIO_EINVAL);
}

TEST(body_from_a_file) {
  run_with(file_body, NULL);
}

static void params_headers(cio_http_session *s) {
  cio_http_field params[] = {{"q", "a b&c=d"}, {"lang", "한국어"}};
  cio_http_field hdrs[] = {{"X-Token", "secret"}, {"User-Agent", "mine/1"}};
  cio_http_request req = {.url = url("/echo?x=1"),
                          .params = params,
                          .n_params = 2,
                          .headers = hdrs,
                          .n_headers = 2};
  json_t *doc = echo(s, &req);
  json_t *q = json_object_get(doc, "query");
  CHECK_EQ(json_array_size(q), 3);
  CHECK_STR(json_string_value(json_array_get(json_array_get(q, 0), 1)), "1");
  CHECK_STR(json_string_value(json_array_get(json_array_get(q, 1), 1)),
            "a b&c=d");
  CHECK_STR(json_string_value(json_array_get(json_array_get(q, 2), 0)), "lang");
  CHECK_STR(header(doc, "x-token"), "secret");
  CHECK_STR(header(doc, "x-session"), "default");
  CHECK_STR(header(doc, "x-both"), "from the session");
  CHECK_STR(header(doc, "user-agent"), "mine/1");
  json_decref(doc);
  /* Same name in the request: it replaces the session's. */
  cio_http_field both[] = {{"x-BOTH", "from the request"}};
  cio_http_request req2 = {.url = "echo", .headers = both, .n_headers = 1};
  doc = echo(s, &req2);
  CHECK_STR(field(doc, "path"), "/echo"); /* relative to the base URL */
  CHECK_STR(header(doc, "x-both"), "from the request");
  CHECK(strncmp(header(doc, "user-agent"), "casyncio/", 9) == 0);
  json_decref(doc);
}

TEST(query_parameters_headers_and_base_url) {
  py_server_start(&srv, NULL, NULL);
  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d/", srv.port);
  cio_http_field hdrs[] = {{"X-Session", "default"},
                           {"X-Both", "from the session"}};
  struct scenario sc = {
      .fn = params_headers,
      .opts = {.base_url = base, .headers = hdrs, .n_headers = 2}};
  run_main(scenario_main, &sc);
  peer_stop(&srv);
}

/* Header injection: libcurl sends names, values, methods and URLs as
 * given, so a CR or LF in them would start a header (or a request) of the
 * caller's data.  Each is refused with CIO_EINVAL before anything is
 * sent: no request started, no connection opened. */
static void injection(cio_http_session *s) {
  static const cio_http_field bad_headers[][1] = {
      {{"X-Ok", "a\r\nX-Injected: 1"}},
      {{"X-Ok", "a\nX-Injected: 1"}},
      {{"X-Ok", "a\r"}},
      {{"X-Injected: 1\r\nX-Ok", "v"}},
      {{"X Bad", "v"}},
      {{"X-Bad:", "v"}},
      {{"", "v"}},
      {{"X-Ok", NULL}},
  };
  cio_http_response *r;
  for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
    cio_http_request req = {
        .url = url("/echo"), .headers = bad_headers[i], .n_headers = 1};
    CHECK_EQ(cio_http_session_request(s, &req, &r), CIO_EINVAL);
    CHECK(r == NULL);
  }
  static const char *const bad_methods[] = {
      "GET /echo HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET", "GET\n", "G ET",
      "", "GET\t"};
  for (size_t i = 0; i < sizeof bad_methods / sizeof bad_methods[0]; i++) {
    cio_http_request req = {.method = bad_methods[i], .url = url("/echo")};
    CHECK_EQ(cio_http_session_request(s, &req, &r), CIO_EINVAL);
  }
  char bad_url[300];
  snprintf(bad_url, sizeof bad_url, "%s\r\nX-Injected: 1", url("/echo"));
  CHECK_EQ(cio_http_get(s, bad_url, &r), CIO_EINVAL);
  snprintf(bad_url, sizeof bad_url, "%s\x7f", url("/echo"));
  CHECK_EQ(cio_http_get(s, bad_url, &r), CIO_EINVAL);
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(s, &st), 0);
  CHECK_EQ(st.requests, 0);
  CHECK_EQ(st.connections, 0);
  /* What is allowed goes through as given: a tab and UTF-8 in a value, a
   * custom method that is a token, anything in a query parameter. */
  cio_http_field ok[] = {{"X-Ok", "a\tb caf\xc3\xa9"}};
  cio_http_field params[] = {{"q", "a\r\nX-Injected: 1"}};
  cio_http_request req = {.method = "PATCH",
                          .url = url("/echo"),
                          .headers = ok,
                          .n_headers = 1,
                          .params = params,
                          .n_params = 1};
  json_t *doc = echo(s, &req);
  CHECK_STR(field(doc, "method"), "PATCH");
  CHECK(header(doc, "x-ok") != NULL);
  CHECK(header(doc, "x-injected") == NULL);
  CHECK_STR(json_string_value(json_array_get(
                json_array_get(json_object_get(doc, "query"), 0), 1)),
            "a\r\nX-Injected: 1");
  json_decref(doc);
}

TEST(header_injection_is_refused) {
  run_with(injection, NULL);
}

/* The session's headers, user agent and base URL are checked when it is
 * opened. */
static int injection_opts_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_http_field crlf[] = {{"X-Ok", "a\r\nX-Injected: 1"}};
  cio_http_field colon[] = {{"X-Bad:", "v"}};
  cio_http_field fine[] = {{"X-Ok", "v"}};
  const cio_http_session_opts bad[] = {
      {.headers = crlf, .n_headers = 1},
      {.headers = colon, .n_headers = 1},
      {.headers = fine, .n_headers = 1, .user_agent = "ua\r\nX-Injected: 1"},
      {.base_url = "http://127.0.0.1:1/\r\nX-Injected: 1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cio_http_session *s = (cio_http_session *)1;
    CHECK_EQ(cio_http_session_open(&s, &bad[i]), CIO_EINVAL);
    CHECK(s == NULL);
  }
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(
               &s, &(cio_http_session_opts){.headers = fine, .n_headers = 1,
                                            .user_agent = "mine/1 (x; y)"}),
           0);
  CHECK_EQ(cio_http_session_close(s), 0);
  return 0;
}

TEST(session_header_injection_is_refused) {
  run_main(injection_opts_main, NULL);
}

static void repeated(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/repeated"), &r), 0);
  const char *v[4];
  CHECK_EQ(cio_http_response_header_all(r, "X-MULTI", v, 4), 2);
  CHECK_STR(v[0], "one");
  CHECK_STR(v[1], "two");
  CHECK_EQ(cio_http_response_header_all(r, "x-multi", v, 1), 2);
  CHECK_STR(cio_http_response_header(r, "X-Multi"), "one");
  cio_http_response_close(r);
}

TEST(repeated_headers_case_insensitive) {
  run_with(repeated, NULL);
}

static void cookies_on(cio_http_session *s) {
  free(get_text(s, "/set-cookie", 200));
  char *text = get_text(s, "/cookies", 200);
  CHECK(strstr(text, "session=abc123") != NULL);
  CHECK(strstr(text, "theme=dark") != NULL);
  free(text);
}

static void cookies_off(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/set-cookie"), &r), 0);
  const char *v[2];
  CHECK_EQ(cio_http_response_header_all(r, "set-cookie", v, 2), 2);
  cio_http_response_close(r);
  char *text = get_text(s, "/cookies", 200);
  CHECK_STR(text, "");
  free(text);
}

TEST(cookie_jar) {
  cio_http_session_opts o = {.cookie_jar = true};
  run_with(cookies_on, &o);
  run_with(cookies_off, NULL);
}

/* ---- caps, back-pressure, timeouts ------------------------------------- */

static void caps(cio_http_session *s) {
  cio_http_response *r;
  void *body;
  size_t len;
  /* Content-Length says it is too big: refused before reading. */
  CHECK_EQ(cio_http_get(s, url("/big?size=100000"), &r), 0);
  CHECK_EQ(cio_http_response_read(r, &body, &len, 1000), CIO_EMSGSIZE);
  cio_http_response_close(r);
  /* Chunked: found out while reading. */
  CHECK_EQ(cio_http_get(s, url("/chunked?n=2000"), &r), 0);
  CHECK_EQ(cio_http_response_read(r, &body, &len, 1000), CIO_EMSGSIZE);
  CHECK(strstr(cio_http_response_error(r), "larger") != NULL);
  cio_http_response_close(r);
  /* Exactly at the cap is fine. */
  CHECK_EQ(cio_http_get(s, url("/big?size=1000"), &r), 0);
  CHECK_EQ(cio_http_response_read(r, &body, &len, 1000), 0);
  CHECK_EQ(len, 1000);
  free(body);
  cio_http_response_close(r);
}

TEST(body_size_cap) {
  run_with(caps, NULL);
}

static long drip_sent(cio_http_session *s) {
  char *stats = get_text(s, "/stats", 200);
  json_t *doc = json_loads(stats, 0, NULL);
  long sent = (long)json_integer_value(json_object_get(doc, "drip_sent"));
  json_decref(doc);
  free(stats);
  return sent;
}

/* A task that does not read stops the transfer: the server is held back
 * by TCP flow control instead of filling our memory. */
static void backpressure(cio_http_session *s) {
  long size = 256L << 20;
  char path[64];
  snprintf(path, sizeof path, "/drip?size=%ld", size);
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url(path), &r), 0);
  CHECK_EQ(cio_sleep(0.5), 0);
  long held = drip_sent(s);
  CHECK(held > 0 && held < size / 8);
  CHECK_EQ(cio_sleep(0.3), 0);
  CHECK(drip_sent(s) - held < (1 << 20)); /* still held */
  static char buf[1 << 16];
  long total = 0;
  ssize_t n;
  while ((n = cio_http_response_read_some(r, buf, sizeof buf)) > 0)
    total += n;
  CHECK_EQ(n, 0);
  CHECK_EQ(total, size);
  cio_http_response_close(r);
}

TEST(unread_body_pauses_the_transfer) {
  run_with(backpressure, NULL);
}

static void total_timeout(cio_http_session *s) {
  double t0 = cio_time();
  cio_http_response *r;
  char err[CIO_HTTP_ERROR_SIZE];
  cio_http_request req = {
      .url = url("/slow?delay=3"), .error = err, .error_cap = sizeof err};
  CHECK_EQ(cio_http_session_request(s, &req, &r), CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time() - t0, 0.5, 0.3);
  CHECK(strstr(err, "imed out") != NULL);
  /* A request's own timeout overrides the session's. */
  req.timeout = 0.2;
  t0 = cio_time();
  CHECK_EQ(cio_http_session_request(s, &req, &r), CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time() - t0, 0.2, 0.15);
}

TEST(slow_server_against_timeout) {
  cio_http_session_opts o = {.timeout = 0.5};
  run_with(total_timeout, &o);
}

static void read_timeout(cio_http_session *s) {
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, url("/stall?delay=2"), &r), 0);
  double t0 = cio_time();
  void *body;
  size_t len;
  CHECK_EQ(cio_http_response_read(r, &body, &len, 0), CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time() - t0, 0.4, 0.25);
  CHECK(strstr(cio_http_response_error(r), "read timeout") != NULL);
  cio_http_response_close(r);
  /* Data every 0.3 s keeps a 0.4 s read timeout happy. */
  CHECK_EQ(cio_http_get(s, url("/chunked?n=4&delay=0.3"), &r), 0);
  char *text = read_text(r);
  free(text);
  cio_http_response_close(r);
}

TEST(read_timeout_between_chunks) {
  cio_http_session_opts o = {.read_timeout = 0.4};
  run_with(read_timeout, &o);
}

/* ---- retrying ---------------------------------------------------------- */

static void retries(cio_http_session *s) {
  cio_http_response *r;
  cio_http_request req = {.url = url("/flaky?key=a&fail=2&retry_after=1")};
  double t0 = cio_time();
  CHECK_EQ(cio_http_session_request_retry(s, &req, &r, NULL), 0);
  CHECK_EQ(cio_http_response_status(r), 200);
  char *text = read_text(r);
  CHECK_STR(text, "ok after 2 failures");
  free(text);
  cio_http_response_close(r);
  CHECK_NEAR(cio_time() - t0, 2.0, 0.4); /* two Retry-After: 1 */
  /* Out of attempts: the last 503 is the answer. */
  cio_http_request req2 = {.url = url("/flaky?key=b&fail=5&code=429")};
  cio_retry_opts o = {.max_attempts = 2, .base_delay = 0.01};
  CHECK_EQ(cio_http_session_request_retry(s, &req2, &r, &o), 0);
  CHECK_EQ(cio_http_response_status(r), 429);
  CHECK_EQ(cio_http_response_retry_after(r), -1);
  cio_http_response_close(r);
  /* 404 is not retried. */
  cio_http_request req3 = {.url = url("/flaky?key=c&fail=1&code=404")};
  CHECK_EQ(cio_http_session_request_retry(s, &req3, &r, &o), 0);
  CHECK_EQ(cio_http_response_status(r), 404);
  cio_http_response_close(r);
  /* Refused connections are retried, then reported. */
  cio_http_request req4 = {.url = "http://127.0.0.1:1/"};
  CHECK_EQ(cio_http_session_request_retry(s, &req4, &r, &o), CIO_ECONNREFUSED);
  CHECK(r == NULL);
}

TEST(retry_honours_retry_after) {
  run_with(retries, NULL);
}

/* ---- proxies ------------------------------------------------------------- */

/* The test server answers absolute-form requests ("GET http://host/path")
 * as a forward proxy would pass them on: a request for a host that does
 * not even resolve reaches it only through the proxy. */
static void proxied(cio_http_session *s) {
  cio_http_request req = {.url = "http://no-such-host.invalid/echo?via=proxy"};
  json_t *doc = echo(s, &req);
  CHECK_STR(field(doc, "path"), "/echo");
  CHECK_STR(header(doc, "host"), "no-such-host.invalid");
  json_decref(doc);
}

TEST(proxy_option_routes_requests) {
  py_server_start(&srv, NULL, NULL);
  char proxy[64];
  snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", srv.port);
  struct scenario sc = {.fn = proxied, .opts = {.proxy = proxy}};
  run_main(scenario_main, &sc);
  peer_stop(&srv);
}
