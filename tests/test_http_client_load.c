/* The HTTP client against a casyncio streams server in the same loop,
 * which counts connections: keep-alive reuse, 1,000 concurrent requests
 * through a limit of 100 (and a per-host limit), and cancellation of
 * requests in flight (direct, wait_for, timeout scope, TaskGroup, closing
 * the session), 500 at once: each cancelled request is gone from the
 * session at once, and the loop closes with nothing left. */
#include <sys/resource.h>

#include "http_client_peers.h"

/* ---- the server: HTTP/1.1 keep-alive, "ok" to every request ----------------
 */

static struct {
  cio_server *srv;
  int port;
  int conns, cur, max; /* connections: in all, open now, most at once */
  int requests;
  double delay;    /* before each answer */
  cio_event *hold; /* if not NULL, answers wait until it is set */
} sv;

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: "
                            "2\r\nContent-Type: text/plain\r\n\r\nok";

static int serve(cio_stream *s, void *arg) {
  (void)arg;
  sv.conns++;
  if (++sv.cur > sv.max)
    sv.max = sv.cur;
  char buf[4096];
  for (;;) {
    if (cio_stream_readuntil(s, "\r\n\r\n", 4, buf, sizeof buf, NULL) <= 0)
      break;
    sv.requests++;
    if (sv.hold != NULL && cio_event_wait(sv.hold) < 0)
      break;
    if (sv.delay > 0 && cio_sleep(sv.delay) < 0)
      break;
    if (cio_stream_write(s, reply, sizeof reply - 1) < 0)
      break;
  }
  sv.cur--;
  return 0;
}

static void server_open(void) {
  memset(&sv, 0, sizeof sv);
  CHECK_EQ(cio_start_server(&sv.srv, serve, NULL, "127.0.0.1", 0, NULL), 0);
  sv.port = cio_server_port(sv.srv);
}

static void server_close(void) {
  if (sv.hold != NULL)
    cio_event_set(sv.hold);
  CHECK_EQ(cio_server_close(sv.srv), 0);
  cio_event_free(sv.hold);
  sv.hold = NULL;
}

static char the_url[64];

static const char *url(void) {
  snprintf(the_url, sizeof the_url, "http://127.0.0.1:%d/x", sv.port);
  return the_url;
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur < 2500)
    test_skip("needs 2,500 file descriptors, the limit is %ld",
              (long)rl.rlim_cur);
}

/* One GET to the server, body checked; returns its status. */
static int fetch_ok(void *arg, void **result) {
  (void)result;
  cio_http_session *s = arg;
  cio_http_response *r;
  int rc = cio_http_get(s, the_url, &r);
  if (rc < 0)
    return rc;
  void *body;
  size_t len;
  rc = cio_http_response_read(r, &body, &len, 100);
  if (rc == 0) {
    if (cio_http_response_status(r) != 200 || strcmp(body, "ok") != 0)
      rc = CIO_EPROTO;
    free(body);
  }
  cio_http_response_close(r);
  return rc;
}

/* ---- keep-alive and limits ---------------------------------------------- */

static int keepalive_main(void *arg, void **result) {
  (void)arg, (void)result;
  server_open();
  url();
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, NULL), 0);
  for (int i = 0; i < 50; i++)
    CHECK_EQ(fetch_ok(s, NULL), 0);
  CHECK_EQ(sv.requests, 50);
  CHECK_EQ(sv.conns, 1);
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(s, &st), 0);
  CHECK_EQ(st.connections, 1);
  CHECK_EQ(st.requests, 50);
  CHECK_EQ(cio_http_session_close(s), 0);
  server_close();
  return 0;
}

TEST(keep_alive_counted_by_the_server) {
  run_main(keepalive_main, NULL);
}

struct many {
  int n;
  cio_http_session_opts opts;
};

static int many_main(void *arg, void **result) {
  (void)result;
  struct many *m = arg;
  server_open();
  sv.delay = 0.005; /* so that requests overlap */
  url();
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, &m->opts), 0);
  cio_call *calls = calloc((size_t)m->n, sizeof *calls);
  int *errors = calloc((size_t)m->n, sizeof *errors);
  for (int i = 0; i < m->n; i++)
    calls[i] = (cio_call){fetch_ok, s};
  CHECK_EQ(cio_gather_calls(calls, (size_t)m->n, NULL, errors, true), 0);
  for (int i = 0; i < m->n; i++)
    if (errors[i] != 0)
      test_fail(__FILE__, __LINE__, "request %d: %s", i,
                cio_strerror(errors[i]));
  CHECK_EQ(sv.requests, m->n);
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(s, &st), 0);
  CHECK_EQ(st.requests, m->n);
  CHECK_EQ(st.connections, sv.conns);
  free(calls);
  free(errors);
  CHECK_EQ(cio_http_session_close(s), 0);
  server_close();
  return 0;
}

TEST(thousand_concurrent_requests_through_a_limit_of_100) {
  raise_fd_limit();
  struct many m = {.n = 1000}; /* the default limit: 100 */
  run_main(many_main, &m);
  printf("connections %d, at most %d at once\n", sv.conns, sv.max);
  CHECK(sv.max <= 100);
  CHECK(sv.max >= 50);    /* they did run concurrently */
  CHECK(sv.conns <= 100); /* reused, never more than the limit */
}

TEST(per_host_limit) {
  struct many m = {.n = 200, .opts = {.limit_per_host = 10}};
  run_main(many_main, &m);
  CHECK(sv.max <= 10);
  CHECK(sv.conns <= 10);
}

/* ---- cancellation -------------------------------------------------------- */

/* A GET the server holds until released. */
static int fetch_held(void *arg, void **result) {
  (void)result;
  cio_http_response *r;
  int rc = cio_http_get(arg, the_url, &r);
  if (rc == 0)
    cio_http_response_close(r);
  return rc;
}

static int in_flight(cio_http_session *s) {
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(s, &st), 0);
  return (int)st.in_flight;
}

/* Wait until the server holds `n` requests. */
static void wait_held(int n) {
  double end = cio_time() + 20;
  while (sv.requests < n && cio_time() < end)
    CHECK_EQ(cio_sleep(0.01), 0);
  CHECK_EQ(sv.requests, n);
}

static void held_server(void) {
  server_open();
  CHECK_EQ(cio_event_new(&sv.hold), 0);
  url();
}

static int cancel_many_main(void *arg, void **result) {
  (void)arg, (void)result;
  enum { N = 500 };
  held_server();
  cio_http_session *s;
  cio_http_session_opts o = {.limit = N};
  CHECK_EQ(cio_http_session_open(&s, &o), 0);
  static cio_task *t[N];
  for (int i = 0; i < N; i++)
    CHECK_EQ(cio_create_task(NULL, &t[i], fetch_held, s, NULL), 0);
  wait_held(N);
  CHECK_EQ(in_flight(s), N);
  for (int i = 0; i < N; i++)
    CHECK_EQ(cio_task_cancel(t[i]), 1);
  for (int i = 0; i < N; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), CIO_ECANCELED);
  CHECK_EQ(in_flight(s), 0);
  cio_http_session_stats st;
  CHECK_EQ(cio_http_session_stats_get(s, &st), 0);
  CHECK_EQ(st.open_connections, 0); /* unfinished: closed, not reused */
  CHECK_EQ(cio_http_session_close(s), 0);
  server_close();
  return 0;
}

TEST(cancel_500_requests_in_flight) {
  raise_fd_limit();
  run_main(cancel_many_main, NULL); /* ASan: and nothing leaks */
}

static int wait_for_main(void *arg, void **result) {
  (void)arg, (void)result;
  held_server();
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, NULL), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, fetch_held, s, NULL), 0);
  double t0 = cio_time();
  CHECK_EQ(cio_wait_for(cio_task_future(t), 0.2, NULL), CIO_ETIMEDOUT);
  CHECK_NEAR(cio_time() - t0, 0.2, 0.1);
  CHECK_EQ(in_flight(s), 0);
  cio_task_release(t);
  /* The session still works. */
  server_close();
  server_open();
  url();
  CHECK_EQ(fetch_ok(s, NULL), 0);
  CHECK_EQ(cio_http_session_close(s), 0);
  server_close();
  return 0;
}

TEST(wait_for_cancels_the_request) {
  run_main(wait_for_main, NULL);
}

static int scope_main(void *arg, void **result) {
  (void)arg, (void)result;
  held_server();
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, NULL), 0);
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.2), 0);
  int rc = fetch_held(s, NULL);
  CHECK_EQ(rc, CIO_ECANCELED);
  CHECK_EQ(in_flight(s), 0);
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT);
  CHECK_EQ(cio_http_session_close(s), 0);
  server_close();
  return 0;
}

TEST(timeout_scope_cancels_the_request) {
  run_main(scope_main, NULL);
}

static int fail_soon(void *arg, void **result) {
  (void)arg, (void)result;
  wait_held(3);
  return CIO_EIO;
}

static int taskgroup_main(void *arg, void **result) {
  (void)arg, (void)result;
  held_server();
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, NULL), 0);
  cio_taskgroup *tg;
  CHECK_EQ(cio_taskgroup_enter(&tg), 0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_taskgroup_create_task(tg, NULL, fetch_held, s, NULL), 0);
  CHECK_EQ(cio_taskgroup_create_task(tg, NULL, fail_soon, NULL, NULL), 0);
  CHECK_EQ(cio_taskgroup_exit(tg, 0), CIO_ECHILD);
  int codes[4];
  CHECK_EQ(cio_taskgroup_errors(tg, codes, 4), 1);
  CHECK_EQ(codes[0], CIO_EIO);
  CHECK_EQ(cio_taskgroup_free(tg), 0);
  CHECK_EQ(in_flight(s), 0);
  CHECK_EQ(cio_http_session_close(s), 0);
  server_close();
  return 0;
}

TEST(taskgroup_failure_cancels_the_requests) {
  run_main(taskgroup_main, NULL);
}

static int close_main(void *arg, void **result) {
  (void)arg, (void)result;
  held_server();
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, NULL), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, fetch_held, s, NULL), 0);
  wait_held(1);
  CHECK_EQ(cio_http_session_close(s), 0);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECLOSED);
  server_close();
  return 0;
}

TEST(closing_the_session_ends_requests_in_flight) {
  run_main(close_main, NULL);
}

/* A response still held when the session closes stays readable. */
static int close_with_response_main(void *arg, void **result) {
  (void)arg, (void)result;
  server_open();
  url();
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(&s, NULL), 0);
  cio_http_response *r;
  CHECK_EQ(cio_http_get(s, the_url, &r), 0);
  CHECK_EQ(cio_sleep(0.05), 0); /* the body is in */
  CHECK_EQ(cio_http_session_close(s), 0);
  CHECK_EQ(cio_http_response_status(r), 200);
  char *text = read_text(r);
  CHECK_STR(text, "ok");
  free(text);
  cio_http_response_close(r); /* frees the session */
  server_close();
  return 0;
}

TEST(response_outlives_its_session) {
  run_main(close_with_response_main, NULL);
}
