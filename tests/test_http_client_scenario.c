/* HTTP client scenario for the cancellation sweep (`make test-cancel`):
 * three tasks fetch from a keep-alive casyncio server in the same loop
 * through one session while any task (a fetcher, the main task, a
 * connection handler) may be cancelled at any suspension.  The law: every
 * response read is the server's, whole; never more answers than
 * requests the server saw; no transfer left in flight once the fetchers
 * ended; all of them when nothing was cancelled; the session, its
 * connections and the server freed (the runner's leak checks). */
#include "casyncio.h"
#include "casyncio/http_client.h"
#include "test.h"

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                            "Content-Type: text/plain\r\n\r\nok";

struct web {
  int port;
  char url[64];
  cio_http_session *session;
  long served, fetched;
};

static int serve(cio_stream *s, void *arg) {
  struct web *w = arg;
  char buf[4096];
  for (;;) {
    if (cio_stream_readuntil(s, "\r\n\r\n", 4, buf, sizeof buf, NULL) <= 0)
      break;
    if (cio_sleep(0.001) < 0 ||
        cio_stream_write(s, reply, sizeof reply - 1) < 0)
      break;
    w->served++;
  }
  return 0;
}

static int fetcher(void *arg, void **result) {
  (void)result;
  struct web *w = arg;
  for (int i = 0; i < 2; i++) {
    cio_http_response *r;
    int rc = cio_http_get(w->session, w->url, &r);
    if (rc < 0)
      return rc;
    void *body;
    size_t len;
    rc = cio_http_response_read(r, &body, &len, 100);
    if (rc == 0) {
      CHECK_EQ(cio_http_response_status(r), 200);
      CHECK_EQ(len, 2);
      CHECK(memcmp(body, "ok", 2) == 0);
      free(body);
      w->fetched++;
    }
    cio_http_response_close(r);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static void close_session(void *s) {
  (void)cio_http_session_close(s);
}

static int main_web(void *arg, void **result) {
  (void)result;
  struct web *w = arg;
  cio_server *srv;
  TRY(cio_start_server(&srv, serve, w, "127.0.0.1", 0, NULL));
  DEFER(srv);
  w->port = cio_server_port(srv);
  snprintf(w->url, sizeof w->url, "http://127.0.0.1:%d/x", w->port);
  TRY(cio_http_session_open(&w->session, NULL));
  DEFER_CALL(close_session, w->session);
  cio_task *f[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&f[i], fetcher, w));
  for (int i = 0; i < 3; i++) {
    int rc = cio_task_await(f[i], NULL);
    /* A cancelled connection handler closed the fetcher's connection:
     * libcurl reports the broken transfer. */
    if (rc < 0 && rc != CIO_ECANCELED && test_cancel_injected())
      rc = 0;
    TRY(rc);
  }
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(w->session, &st), 0);
  CHECK_EQ(st.in_flight, 0);
  return 0;
}

SCENARIO(http_client_fetchers) {
  struct web w = {0};
  CHECK_OUTCOME(test_run(main_web, &w));
  CHECK(w.fetched <= w.served);
  if (!test_cancel_injected())
    CHECK_EQ(w.fetched, 6);
}
