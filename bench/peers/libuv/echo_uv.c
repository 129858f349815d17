/* Echo server written directly on libuv callbacks: the baseline that
 * casyncio's streams add their coroutine layer to.
 *
 *   echo_uv PORT
 *
 * Written as a careful libuv user would: each connection reads into its
 * own buffer, and what arrives is written back with uv_try_write(), which
 * needs no request and no copy when the kernel takes it all (the usual
 * case for an echo); only a remainder is copied into a uv_write_t.  The
 * naive version (malloc per read, uv_write per chunk) spends about twice
 * the CPU per round trip.  Runs until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct conn {
  uv_tcp_t tcp;
  char buf[64 * 1024];
};

struct write_req {
  uv_write_t req;
  char data[]; /* the part uv_try_write could not send */
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  struct conn *c = (struct conn *)h;
  *buf = uv_buf_init(c->buf, sizeof c->buf);
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

/* Send `n` bytes of `data`: directly if the kernel takes them, else queue
 * a copy of the rest (libuv keeps queued writes in order). */
static int echo_back(uv_stream_t *s, const char *data, size_t n) {
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

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  if (n > 0 && echo_back(s, buf->base, (size_t)n) == 0)
    return;
  if (n != 0 && !uv_is_closing((uv_handle_t *)s))
    uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0)
    return;
  struct conn *c = malloc(sizeof *c);
  uv_tcp_init(server->loop, &c->tcp);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  } else {
    uv_close((uv_handle_t *)&c->tcp, on_close);
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9000;
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  struct sockaddr_in addr;
  uv_tcp_init(loop, &server);
  uv_ip4_addr("127.0.0.1", port, &addr);
  int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
  if (rc < 0) {
    fprintf(stderr, "echo_uv: %s\n", uv_strerror(rc));
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
