/* Echo server written directly on libuv callbacks: the baseline that
 * casyncio's streams add their coroutine layer to.
 *
 *   echo_uv PORT
 *
 * Each read is written back from the buffer it arrived in; the buffer is
 * freed when the write completes.  Runs until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

struct write_req {
  uv_write_t req;
  uv_buf_t buf;
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void on_close(uv_handle_t *h) {
  free(h);
}

static void on_written(uv_write_t *req, int status) {
  struct write_req *w = (struct write_req *)req;
  uv_handle_t *stream = (uv_handle_t *)req->handle;
  free(w->buf.base);
  free(w);
  if (status < 0 && !uv_is_closing(stream))
    uv_close(stream, on_close);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  if (n > 0) {
    struct write_req *w = malloc(sizeof *w);
    w->buf = uv_buf_init(buf->base, (unsigned)n);
    if (uv_write(&w->req, s, &w->buf, 1, on_written) == 0)
      return;
    free(w);
  }
  free(buf->base);
  if (n < 0 && !uv_is_closing((uv_handle_t *)s))
    uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0)
    return;
  uv_tcp_t *c = malloc(sizeof *c);
  uv_tcp_init(server->loop, c);
  if (uv_accept(server, (uv_stream_t *)c) == 0) {
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
  } else {
    uv_close((uv_handle_t *)c, on_close);
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
