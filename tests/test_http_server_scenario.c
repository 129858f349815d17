/* HTTP server scenario for the cancellation sweep (`make test-cancel`):
 * two keep-alive clients (plain streams speaking HTTP/1.1) send requests
 * to a handler that waits a little before it answers, then the main task
 * shuts the server down gracefully; any task (a client, the main task, a
 * connection) may be cancelled at any suspension.  The law: every
 * response a client reads is whole and is the answer to its own request,
 * never more answers than the handler gave, all of them when nothing was
 * cancelled; the server, its connections and the app freed (the runner's
 * leak checks). */
#include "casyncio.h"
#include "casyncio/http_server.h"
#include "test.h"

struct site {
  int port;
  long handled, answered;
};

static int hello(cio_web_request *req, cio_web_response *res, void *arg) {
  struct site *st = arg;
  int rc = cio_sleep(0.001);
  if (rc < 0)
    return rc;
  char body[64];
  snprintf(body, sizeof body, "hello %s", cio_web_request_param(req, "who"));
  st->handled++;
  return cio_web_response_set_text(res, 200, body);
}

/* One request and its response on `s`; 0 when the answer was right. */
static int ask(cio_stream *s, int i) {
  char req[96], head[1024], want[64], body[64];
  int len = snprintf(req, sizeof req,
                     "GET /hello/c%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
  int rc = cio_stream_write(s, req, (size_t)len);
  if (rc < 0)
    return rc;
  ssize_t n = cio_stream_readuntil(s, "\r\n\r\n", 4, head, sizeof head - 1,
                                   NULL);
  if (n < 0)
    return (int)n;
  head[n] = '\0';
  CHECK(strncmp(head, "HTTP/1.1 200 ", 13) == 0);
  int blen = snprintf(want, sizeof want, "hello c%d", i);
  char *cl = strstr(head, "Content-Length: ");
  if (cl == NULL)
    cl = strstr(head, "content-length: ");
  CHECK(cl != NULL);
  CHECK_EQ(atoi(cl + 16), blen);
  size_t got;
  rc = cio_stream_readexactly(s, body, (size_t)blen, &got);
  if (rc < 0)
    return rc;
  CHECK(memcmp(body, want, (size_t)blen) == 0);
  return 0;
}

struct client_arg {
  struct site *st;
  int id;
};

static int client(void *arg, void **result) {
  (void)result;
  struct client_arg *c = arg;
  cio_stream *s;
  int rc = cio_open_connection(&s, "127.0.0.1", c->st->port, NULL);
  if (rc < 0)
    return rc;
  for (int k = 0; k < 3 && rc == 0; k++) {
    rc = ask(s, c->id * 10 + k);
    if (rc == 0)
      c->st->answered++;
  }
  int crc = cio_stream_close(s);
  return rc != 0 ? rc : crc;
}

static void free_app(void *app) {
  cio_web_app_free(app);
}

static void close_server(void *srv) {
  (void)!cio_web_server_close(srv);
}

static int main_site(void *arg, void **result) {
  (void)result;
  struct site *st = arg;
  cio_web_app *app;
  TRY(cio_web_app_new(&app));
  DEFER_CALL(free_app, app);
  TRY(cio_web_app_route(app, "GET", "/hello/{who}", hello, st));
  cio_web_server *srv;
  TRY(cio_web_server_open(&srv, app, "127.0.0.1", 0, NULL));
  DEFER_CALL(close_server, srv);
  st->port = cio_web_server_port(srv);
  struct client_arg ca[2] = {{st, 1}, {st, 2}};
  cio_task *c[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&c[i], client, &ca[i]));
  for (int i = 0; i < 2; i++) {
    int rc = cio_task_await(c[i], NULL);
    /* The connection's task was the one cancelled: the server closed
     * the connection under the client (end of file or a reset). */
    if ((rc == CIO_ENODATA || rc == CIO_ECONNRESET || rc == CIO_EPIPE) &&
        test_cancel_injected())
      rc = 0;
    TRY(rc);
  }
  TRY(cio_web_server_shutdown(srv, 1.0));
  return 0;
}

SCENARIO(http_server_keep_alive_clients) {
  struct site st = {0};
  CHECK_OUTCOME(test_run(main_site, &st));
  CHECK(st.answered <= st.handled);
  if (!test_cancel_injected())
    CHECK_EQ(st.answered, 6);
}
