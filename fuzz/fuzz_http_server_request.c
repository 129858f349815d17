/* libFuzzer harness over the HTTP server's request path: the bytes a
 * client sends go through http-parser, the head checks and limits, the
 * router, the handlers (which read headers, parameters, query and body,
 * and answer with text, JSON, streamed chunks, or an error) and the
 * response writer, exactly as on a socket: cio__http_conn_serve() runs
 * in a task on a transport that hands the input over in pieces.
 *
 *   sh scripts/fuzz.sh 20 fuzz_http_server_request
 *
 * Input: byte 0 picks the piece size (1..32 bytes, or everything at once)
 * and whether handlers run in tasks of their own (cancel_on_disconnect); the rest is what the
 * client sends, then end of stream.  Checked besides ASan/UBSan: nothing
 * is leaked on the loop's allocator, and what the server wrote is a
 * sequence of responses starting with a status line. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http/server/httpd.h"

struct mem_io {
  const uint8_t *data;
  size_t len, pos, piece;
  struct cio__http_buf out;
  cio_loop *loop;
};

static ssize_t m_read(void *ctx, void *buf, size_t cap) {
  struct mem_io *m = ctx;
  if (m->pos == m->len)
    return 0;
  int rc = cio_sleep(0); /* suspend, as a socket read would */
  if (rc < 0)
    return rc;
  size_t n = m->len - m->pos;
  if (n > m->piece)
    n = m->piece;
  if (n > cap)
    n = cap;
  memcpy(buf, m->data + m->pos, n);
  m->pos += n;
  return (ssize_t)n;
}

static int m_write(void *ctx, const void *p, size_t n) {
  struct mem_io *m = ctx;
  if (m->out.len + n > (1 << 20))
    return 0; /* enough to check */
  return cio__http_buf_append(m->loop, &m->out, p, n);
}

static int m_drain(void *ctx) {
  (void)ctx;
  return 0;
}

static bool m_at_eof(void *ctx) {
  struct mem_io *m = ctx;
  return m->pos == m->len;
}

static ssize_t m_sendfile(void *ctx, int fd, int64_t off, size_t n) {
  (void)ctx;
  (void)fd;
  (void)off;
  (void)n;
  return CIO_ENOSYS;
}

static int m_shutdown(void *ctx) {
  (void)ctx;
  return 0;
}

static const struct cio__http_io_ops mem_ops = {
    .read = m_read,
    .write = m_write,
    .drain = m_drain,
    .at_eof = m_at_eof,
    .sendfile = m_sendfile,
    .shutdown = m_shutdown,
};

/* ---- handlers that touch everything a request offers ------------------ */

static int h_item(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  const char *id = cio_web_request_param(req, "id");
  const char *q = cio_web_request_query_param(req, "q");
  const char *h = cio_web_request_header(req, "x-test");
  cio_web_request_path(req);
  char text[256];
  snprintf(text, sizeof text, "%s %s %s %s\n", cio_web_request_method(req),
           id ? id : "-", q ? q : "-", h ? h : "-");
  int rc = cio_web_response_add_header(res, "X-Id", id ? id : "none");
  if (rc == CIO_EINVAL) /* an id with CR/LF: refused, not sent */
    rc = 0;
  return rc < 0 ? rc : cio_web_response_set_text(res, 200, text);
}

static int h_echo(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  size_t len;
  const char *body = cio_web_request_body(req, &len);
  if (body[len] != '\0')
    __builtin_trap(); /* the body is NUL-terminated */
  json_t *j = NULL;
  if (cio_web_request_json(req, &j) == 0) {
    int rc = cio_web_response_set_json(res, 201, j);
    json_decref(j);
    return rc;
  }
  return cio_web_response_set_body(res, body, len);
}

static int h_stream(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  for (size_t i = 0; i < cio_web_request_header_count(req); i++) {
    const char *name, *value;
    if (cio_web_request_header_at(req, i, &name, &value) != 0)
      __builtin_trap(); /* i is in range */
    int rc = cio_web_response_write(res, name, strlen(name));
    if (rc == 0)
      rc = cio_sleep(0);
    if (rc < 0)
      return rc;
  }
  return cio_web_response_end(res);
}

static int h_fail(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  int rc = cio_web_response_set_header(res, "X-Before", "failure");
  return rc < 0 ? rc : CIO_EIO;
}

static int h_rest(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  const char *p = cio_web_request_param(req, "p");
  return cio_web_response_set_text(res, 200, p ? p : "");
}

static void quiet(void *arg, const char *line) {
  (void)arg;
  (void)line;
}

/* ---- one input -------------------------------------------------------------- */

struct run {
  struct cio__http_shared *sh;
  struct mem_io *io;
};

static int serve(void *arg, void **result) {
  (void)result;
  struct run *r = arg;
  struct cio__http_conn c;
  cio__http_conn_init(&c, r->sh,
                      &(struct cio__http_io){.ops = &mem_ops, .ctx = r->io});
  cio__http_conn_serve(&c);
  cio__http_conn_destroy(&c);
  return 0;
}

static cio_loop *loop;
static cio_web_app *app;
static size_t baseline_allocs;

static void run_one(const uint8_t *data, size_t size);

static void setup(void) {
  if (cio_loop_open(&loop, NULL) != 0)
    __builtin_trap();
  static const struct {
    const char *method, *pattern;
    cio_web_handler fn;
  } routes[] = {
      {"GET", "/items/{id}", h_item},  {"PUT", "/items/{id}", h_item},
      {"GET", "/items/new", h_item},   {"POST", "/echo", h_echo},
      {NULL, "/stream", h_stream},     {"GET", "/fail", h_fail},
      {"GET", "/static/{p...}", h_rest},
  };
  if (cio_web_app_new(&app) != 0)
    __builtin_trap();
  for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
    if (cio_web_app_route(app, routes[i].method, routes[i].pattern,
                           routes[i].fn, NULL) != 0)
      __builtin_trap();
  app->users = 1;
  /* Warm the loop's caches (task structs) with a request answered in a
   * handler task, so that what stays allocated afterwards is a leak. */
  static const char warm[] = "\x21GET /items/1 HTTP/1.1\r\n\r\n";
  run_one((const uint8_t *)warm, sizeof warm - 1);
  baseline_allocs = loop->live_allocs;
}

/* Every response starts with a status line. */
static void check_output(const struct cio__http_buf *out) {
  if (out->len > 0 && (out->len < 9 || memcmp(out->p, "HTTP/1.1 ", 9) != 0))
    __builtin_trap();
}

static void run_one(const uint8_t *data, size_t size) {
  uint8_t mode = data[0];
  struct mem_io io = {.data = data + 1, .len = size - 1, .loop = loop};
  io.piece = (mode & 31) == 0 ? SIZE_MAX : (size_t)(mode & 31);
  cio_web_server_opts o = {.max_header_size = 2048, .max_headers = 16,
                            .max_body_size = 4096,
                            .cancel_on_disconnect = (mode & 32) != 0,
                            .log = quiet};
  struct cio__http_shared sh = {.loop = loop, .app = app};
  cio__http_limits_init(&sh.lim, &o);
  cio__list_init(&sh.conns);
  struct run r = {&sh, &io};
  cio_task *t;
  if (cio_create_task(loop, &t, serve, &r, NULL) != 0)
    __builtin_trap();
  if (cio_loop_run_until_complete(loop, t, NULL) != 0)
    __builtin_trap();
  cio_task_release(t);
  check_output(&io.out);
  cio__http_buf_free(loop, &io.out);
  if (sh.nconns != 0)
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (loop == NULL)
    setup();
  if (size == 0)
    return 0;
  run_one(data, size);
  /* Task structs the loop caches for reuse keep their name (allocated
   * when a log line asked for it) until reused: one each at most. */
  if (loop->live_allocs > baseline_allocs + loop->task_cache_count) {
    fprintf(stderr, "live_allocs %zu, baseline %zu + %zu cached tasks\n",
            loop->live_allocs, baseline_allocs, loop->task_cache_count);
    __builtin_trap(); /* a leak */
  }
  return 0;
}
