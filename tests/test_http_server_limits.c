/* The HTTP server against hostile and heavy clients: a corpus of
 * malformed requests (400 and close), the size limits (431, 413), the
 * timeouts (slowloris, idle keep-alive, trickled bodies: 408), the
 * connection limit (accepting pauses), and 10,000 requests over 100
 * keep-alive connections from CPython's http.client. */
#include "http_server_test.h"

static int n_handled;

static int h_hello(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  n_handled++;
  return cio_web_response_set_text(res, 200, "hello\n");
}

static int h_echo(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  size_t len;
  const void *body = cio_web_request_body(req, &len);
  return cio_web_response_set_body(res, body, len);
}

static int h_count(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  n_handled++;
  char text[64];
  snprintf(text, sizeof text, "n=%s\n", cio_web_request_param(req, "n"));
  return cio_web_response_set_text(res, 200, text);
}

static void make_app(struct fx *f) {
  CHECK_EQ(cio_web_app_new(&f->app), 0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/hello", h_hello, NULL), 0);
  CHECK_EQ(cio_web_app_route(f->app, "POST", "/echo", h_echo, NULL), 0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/count/{n}", h_count, NULL), 0);
}

/* ---- malformed requests ------------------------------------------------ */

static const struct {
  const char *req;
  size_t len; /* 0: strlen */
  const char *status;
} corpus[] = {
    {"GARBAGE\r\n\r\n", 0, "400"},
    {"GET /hello HTTX/1.1\r\n\r\n", 0, "400"},
    {"GET /hello HTTP/1.1 extra\r\n\r\n", 0, "400"},
    {"GET /he\x01llo HTTP/1.1\r\n\r\n", 0, "400"},
    {"GET /hello HTTP/9.9\r\nHost: x\r\n\r\n", 0, "505"},
    {"GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n", 0, "400"},
    {"GET /hello HTTP/1.1\r\n: no name\r\n\r\n", 0, "400"},
    {"GET /hello HTTP/1.1\r\nX-A: one\r\n  folded\r\n\r\n", 0, "400"},
    {"GET /hello HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 0, "400"},
    {"GET /hello HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     0, "400"},
    {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     0, "400"},
    {"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, "400"},
    {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
     "400"},
    {"POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     0, "400"},
    {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 0,
     "400"},
    {"GET /a/../hello HTTP/1.1\r\n\r\n", 0, "400"},
    {"GET hello HTTP/1.1\r\n\r\n", 0, "400"},
    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 a TLS hello", 0, "400"},
    {"GET /hello HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\n\r\n", 0,
     "417"},
    {"GET /hello HTTP/1.1\r\nX: a\0b\r\n\r\n", 30, "400"},
};

static int corpus_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++) {
    size_t n = corpus[i].len ? corpus[i].len : strlen(corpus[i].req);
    bool closed;
    char *out = raw_exchange(f.port, corpus[i].req, n, 5, NULL, &closed);
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %s ", corpus[i].status);
    if (strncmp(out, want, strlen(want)) != 0 || !closed)
      test_fail(__FILE__, __LINE__, "request %zu: %s, got (%s):\n%s", i,
                want, closed ? "closed" : "open", out);
    CHECK_HAS(out, "\r\nConnection: close\r\n");
    free(out);
  }
  CHECK_EQ(n_handled, 0);
  /* Still serving, and the absolute form is fine. */
  static const char ok[] =
      "GET http://example.com/hello?x=1 HTTP/1.1\r\nHost: example.com\r\n"
      "Connection: close\r\n\r\n";
  char *out = raw_exchange(f.port, ok, sizeof ok - 1, 5, NULL, NULL);
  CHECK_PREFIX(out, "HTTP/1.1 200 OK\r\n");
  free(out);
  CHECK_EQ(cio_web_server_connections(f.srv), 0);
  fx_close(&f);
  return 0;
}

TEST(malformed_requests_get_400_and_close) {
  run_main(corpus_main, NULL);
}

/* ---- size limits ---------------------------------------------------------- */

static int sizes_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.max_header_size = 4096, .max_headers = 20,
                            .max_body_size = 1000};
  fx_open(&f, &o);
  /* A 5 kB header: 431, even though the client never ends its head. */
  char *big = malloc(6000);
  int n = snprintf(big, 6000, "GET /hello HTTP/1.1\r\nX-Big: ");
  memset(big + n, 'a', 5000);
  bool closed;
  char *out = raw_exchange(f.port, big, (size_t)n + 5000, 5, NULL, &closed);
  CHECK_PREFIX(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
  CHECK(closed);
  free(out);
  /* ... and when it does, in one piece. */
  memcpy(big + n + 5000, "\r\n\r\n", 4);
  out = raw_exchange(f.port, big, (size_t)n + 5004, 5, NULL, &closed);
  CHECK_PREFIX(out, "HTTP/1.1 431 ");
  CHECK(closed);
  free(out);
  /* A head just under the limit is fine. */
  n = snprintf(big, 6000, "GET /hello HTTP/1.1\r\nX-Big: ");
  memset(big + n, 'b', 3900);
  memcpy(big + n + 3900, "\r\nConnection: close\r\n\r\n", 23);
  out = raw_exchange(f.port, big, (size_t)n + 3923, 5, NULL, &closed);
  CHECK_PREFIX(out, "HTTP/1.1 200 OK\r\n");
  free(out);
  /* 21 header fields. */
  n = snprintf(big, 6000, "GET /hello HTTP/1.1\r\n");
  for (int i = 0; i < 21; i++)
    n += snprintf(big + n, 6000 - (size_t)n, "X-%d: %d\r\n", i, i);
  n += snprintf(big + n, 6000 - (size_t)n, "\r\n");
  out = raw_exchange(f.port, big, (size_t)n, 5, NULL, &closed);
  CHECK_PREFIX(out, "HTTP/1.1 431 ");
  free(out);
  free(big);
  /* A declared body over the limit is refused before it is sent, with
   * or without Expect: 100-continue. */
  static const char cl[] = "POST /echo HTTP/1.1\r\nContent-Length: 1001\r\n"
                           "Expect: 100-continue\r\n\r\n";
  out = raw_exchange(f.port, cl, sizeof cl - 1, 5, NULL, &closed);
  CHECK_PREFIX(out, "HTTP/1.1 413 Content Too Large\r\n");
  CHECK_LACKS(out, "100 Continue");
  CHECK(closed);
  free(out);
  /* A chunked body that grows past it. */
  char chunked[2048];
  n = snprintf(chunked, sizeof chunked,
               "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 3; i++) {
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "190\r\n");
    memset(chunked + n, 'c', 400);
    n += 400;
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "\r\n");
  }
  out = raw_exchange(f.port, chunked, (size_t)n, 5, NULL, &closed);
  CHECK_PREFIX(out, "HTTP/1.1 413 ");
  free(out);
  /* curl sending 1000 bytes is fine; 1001 is not. */
  need_program(CURL);
  char url[96];
  snprintf(url, sizeof url, "%s/echo", f.base);
  char *body = malloc(1002);
  memset(body, 'd', 1001);
  body[1000] = '\0';
  const char *argv[] = {CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "--data-binary", "@-", url, NULL};
  CHECK_EQ(client_run(argv, body, &out), 0);
  CHECK_STR(out, "200");
  free(out);
  body[1000] = 'd';
  body[1001] = '\0';
  CHECK_EQ(client_run(argv, body, &out), 0);
  CHECK_STR(out, "413");
  free(out);
  free(body);
  fx_close(&f);
  return 0;
}

TEST(oversized_heads_and_bodies_get_431_and_413) {
  run_main(sizes_main, NULL);
}

/* ---- timeouts -------------------------------------------------------------- */

/* 20 slowloris clients trickle a head that never ends, one byte every
 * 0.1 s; each reports how it ended and when. */
static const char py_slowloris[] =
    "import socket, sys, time\n"
    "port = int(sys.argv[1])\n"
    "socks = []\n"
    "for i in range(20):\n"
    "    s = socket.create_connection(('127.0.0.1', port))\n"
    "    s.sendall(b'GET /hello HTTP/1.1\\r\\nX-Slow: ')\n"
    "    s.setblocking(False)\n"
    "    socks.append(s)\n"
    "start = time.monotonic()\n"
    "ended = {}\n"
    "while len(ended) < 20 and time.monotonic() - start < 10:\n"
    "    for i, s in enumerate(socks):\n"
    "        if i in ended: continue\n"
    "        try:\n"
    "            data = s.recv(4096)\n"
    "            ended[i] = (data[:12], time.monotonic() - start)\n"
    "            continue\n"
    "        except BlockingIOError:\n"
    "            pass\n"
    "        try:\n"
    "            s.send(b'a')\n"
    "        except OSError as e:\n"
    "            ended[i] = (b'send failed', time.monotonic() - start)\n"
    "    time.sleep(0.1)\n"
    "codes = set(v[0] for v in ended.values())\n"
    "times = [v[1] for v in ended.values()]\n"
    "print(len(ended), codes, round(min(times), 1) if times else -1,\n"
    "      round(max(times), 1) if times else -1)\n";

static int slowloris_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  need_program(PY);
  need_program(CURL);
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.header_timeout = 1.0};
  fx_open(&f, &o);
  const char *py[] = {PY, "-c", py_slowloris, f.port_s, NULL};
  cio_process *p;
  cio_process_opts po = {.stdout_mode = CIO_STDIO_PIPE};
  CHECK_EQ(cio_create_subprocess_exec(&p, py, &po), 0);
  CHECK_EQ(cio_sleep(0.3), 0); /* let them connect */
  /* Meanwhile other clients are served at once. */
  char url[96];
  snprintf(url, sizeof url, "%s/hello", f.base);
  const char *argv[] = {CURL, "-sS", url, NULL};
  for (int i = 0; i < 10; i++) {
    double t0 = mono_now();
    char *out;
    CHECK_EQ(client_run(argv, NULL, &out), 0);
    CHECK_STR(out, "hello\n");
    free(out);
    CHECK(mono_now() - t0 < 0.5);
  }
  CHECK(cio_web_server_connections(f.srv) >= 20);
  void *text;
  size_t len;
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &text, &len, NULL, NULL), 0);
  CHECK_EQ(cio_process_close(p), 0);
  /* All 20 got 408 about a second (the header timeout) after they began,
   * sweeps counted. */
  char *s = text;
  s[len - (len > 0)] = '\0';
  int ended;
  double tmin, tmax;
  char codes[128];
  CHECK_EQ(sscanf(s, "%d {%127[^}]} %lf %lf", &ended, codes, &tmin, &tmax), 4);
  CHECK_EQ(ended, 20);
  CHECK_STR(codes, "b'HTTP/1.1 408'");
  CHECK(tmin >= 0.5 && tmax <= 2.0);
  free(text);
  CHECK_EQ(n_handled, 10);
  fx_close(&f);
  return 0;
}

TEST(slowloris_clients_time_out_while_others_are_served) {
  run_main(slowloris_main, NULL);
}

static int idle_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.keep_alive_timeout = 0.3, .body_timeout = 0.3};
  fx_open(&f, &o);
  /* One request, then silence: closed quietly after about 0.3 s. */
  double t0 = mono_now();
  bool closed;
  char *out = raw_exchange(f.port, "GET /hello HTTP/1.1\r\n\r\n", 23, 5, NULL,
                           &closed);
  double waited = mono_now() - t0;
  CHECK(closed);
  CHECK(waited >= 0.25 && waited < 1.5);
  CHECK_EQ(count_of(out, "HTTP/1.1"), 1);
  CHECK_PREFIX(out, "HTTP/1.1 200 OK\r\n");
  free(out);
  /* A body that stops halfway: 408. */
  static const char half[] = "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n"
                             "\r\nabc";
  t0 = mono_now();
  out = raw_exchange(f.port, half, sizeof half - 1, 5, NULL, &closed);
  waited = mono_now() - t0;
  CHECK_PREFIX(out, "HTTP/1.1 408 Request Timeout\r\n");
  CHECK(closed);
  CHECK(waited >= 0.25 && waited < 2.5);
  free(out);
  fx_close(&f);
  return 0;
}

TEST(idle_keep_alive_and_trickled_bodies_time_out) {
  run_main(idle_main, NULL);
}

/* ---- the connection limit ----------------------------------------------- */

static int maxconn_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.max_connections = 2};
  fx_open(&f, &o);
  cio_stream *c[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_open_connection(&c[i], "127.0.0.1", f.port, NULL), 0);
  static const char req[] = "GET /hello HTTP/1.1\r\n\r\n";
  char buf[512];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_stream_write(c[i], req, sizeof req - 1), 0);
  for (int i = 0; i < 2; i++)
    CHECK(cio_stream_read(c[i], buf, sizeof buf) > 0);
  /* The third waits in the backlog: nothing refused, nothing answered. */
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.3), 0);
  ssize_t n = cio_stream_read(c[2], buf, sizeof buf);
  CHECK_EQ(cio_timeout_exit(&to, (int)n), CIO_ETIMEDOUT);
  CHECK_EQ(cio_web_server_connections(f.srv), 2);
  CHECK_EQ(cio_stream_close(c[0]), 0);
  n = cio_stream_read(c[2], buf, sizeof buf - 1);
  CHECK(n > 0);
  buf[n] = '\0';
  CHECK_PREFIX(buf, "HTTP/1.1 200 OK\r\n");
  CHECK_EQ(cio_stream_close(c[1]), 0);
  CHECK_EQ(cio_stream_close(c[2]), 0);
  fx_close(&f);
  return 0;
}

TEST(max_connections_pauses_accepting) {
  run_main(maxconn_main, NULL);
}

/* ---- load ---------------------------------------------------------------- */

static const char py_load[] =
    "import http.client, sys, threading\n"
    "port = int(sys.argv[1])\n"
    "ok = [0] * 100\n"
    "ports = set()\n"
    "def client(k):\n"
    "    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)\n"
    "    for i in range(100):\n"
    "        n = k * 100 + i\n"
    "        c.request('GET', '/count/%d' % n)\n"
    "        r = c.getresponse()\n"
    "        if r.status == 200 and r.read() == b'n=%d\\n' % n:\n"
    "            ok[k] += 1\n"
    "        ports.add(c.sock.getsockname()[1])\n"
    "    c.close()\n"
    "ts = [threading.Thread(target=client, args=(k,)) for k in range(100)]\n"
    "for t in ts: t.start()\n"
    "for t in ts: t.join()\n"
    "print(sum(ok), len(ports))\n";

static size_t max_conns;

static int watch_conns(void *arg, void **result) {
  (void)result;
  struct fx *f = arg;
  for (;;) {
    size_t n = cio_web_server_connections(f->srv);
    if (n > max_conns)
      max_conns = n;
    if (cio_sleep(0.01) < 0)
      return 0;
  }
}

static int load_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  cio_task *watch;
  CHECK_EQ(cio_create_task(NULL, &watch, watch_conns, &f, NULL), 0);
  char *out;
  CHECK_EQ(py_run(py_load, &f, &out), 0);
  CHECK_STR(out, "10000 100\n");
  free(out);
  CHECK_EQ(n_handled, 10000);
  CHECK(max_conns <= 100 && max_conns >= 50);
  cio_task_cancel(watch);
  CHECK_EQ(cio_task_join(watch, NULL), 0);
  fx_close(&f);
  return 0;
}

TEST(ten_thousand_requests_over_100_keep_alive_connections) {
  run_main(load_main, NULL);
}
