/* HTTP server written directly on libuv callbacks, with no parser: the
 * floor for bench/suites/http_server.py.  It answers wrk's keep-alive GET
 * requests and nothing else properly.
 *
 *   http_uv PORT
 *
 * Each connection reads into its own buffer; every "\r\n\r\n" ends a
 * request (wrk sends no bodies), whose request line picks the route:
 * "GET /json " gets {"message":"Hello, World!"} as application/json,
 * anything else "Hello, World!" as text/plain.  The responses are the
 * same bytes casyncio's server sends (Date header included, formatted
 * once a second), written with uv_try_write (a copy into a uv_write_t
 * only for what the kernel did not take), all the responses to one read
 * in one write.  Runs until killed. */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define BUF (64 * 1024)

struct conn {
  uv_tcp_t tcp;
  size_t len;     /* bytes of an unfinished request kept in buf */
  char buf[BUF];
  char out[BUF];
};

struct write_req {
  uv_write_t req;
  char data[];
};

static char date[64];
static time_t date_sec;

static void update_date(void) {
  time_t now = time(NULL);
  if (now == date_sec)
    return;
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  date_sec = now;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  struct conn *c = (struct conn *)h;
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(BUF - c->len));
}

static void on_close(uv_handle_t *h) {
  free(h);
}

static void on_written(uv_write_t *req, int status) {
  uv_handle_t *stream = (uv_handle_t *)req->handle;
  free(req);
  if (status < 0 && !uv_is_closing(stream))
    uv_close(stream, on_close);
}

static int send_all(uv_stream_t *s, const char *data, size_t n) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int sent = uv_try_write(s, &b, 1);
  if (sent == (int)n)
    return 0;
  if (sent < 0 && sent != UV_EAGAIN)
    return sent;
  size_t off = sent > 0 ? (size_t)sent : 0;
  struct write_req *w = malloc(sizeof *w + (n - off));
  if (w == NULL)
    return UV_ENOMEM;
  memcpy(w->data, data + off, n - off);
  b = uv_buf_init(w->data, (unsigned)(n - off));
  int rc = uv_write(&w->req, s, &b, 1, on_written);
  if (rc < 0)
    free(w);
  return rc;
}

static size_t respond(char *out, bool json) {
  static const char text[] = "Hello, World!";
  static const char js[] = "{\"message\":\"Hello, World!\"}";
  return (size_t)sprintf(out,
                         "HTTP/1.1 200 OK\r\n%sContent-Length: %zu\r\n"
                         "Content-Type: %s\r\n\r\n%s",
                         date, json ? sizeof js - 1 : sizeof text - 1,
                         json ? "application/json" : "text/plain; charset=utf-8",
                         json ? js : text);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  struct conn *c = (struct conn *)s;
  if (n <= 0) {
    if (n != 0 && !uv_is_closing((uv_handle_t *)s))
      uv_close((uv_handle_t *)s, on_close);
    return;
  }
  c->len += (size_t)n;
  update_date();
  size_t start = 0, out = 0;
  char *end;
  while ((end = memmem(c->buf + start, c->len - start, "\r\n\r\n", 4))) {
    bool json = c->len - start > 10 && memcmp(c->buf + start, "GET /json ",
                                              10) == 0;
    if (out + 512 > BUF)
      break;
    out += respond(c->out + out, json);
    start = (size_t)(end - c->buf) + 4;
  }
  memmove(c->buf, c->buf + start, c->len - start);
  c->len -= start;
  if ((out > 0 && send_all(s, c->out, out) < 0) || c->len == BUF) {
    if (!uv_is_closing((uv_handle_t *)s))
      uv_close((uv_handle_t *)s, on_close);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0)
    return;
  struct conn *c = malloc(sizeof *c);
  c->len = 0;
  uv_tcp_init(server->loop, &c->tcp);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  } else {
    uv_close((uv_handle_t *)&c->tcp, on_close);
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8080;
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  struct sockaddr_in addr;
  uv_tcp_init(loop, &server);
  uv_ip4_addr("127.0.0.1", port, &addr);
  if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&server, 4096, on_connection) != 0) {
    fprintf(stderr, "http_uv: cannot listen on port %d\n", port);
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
