/* The HTTP server's lifecycle: handler errors (500 and a log line),
 * clients that leave while their handler runs (cancelled with
 * cancel_on_disconnect, left to finish by default), graceful shutdown with requests in flight and its
 * deadline, the TLS seam (wrap), and cio_web_run with two workers. */
#include <pthread.h>
#include <signal.h>

#include "http_server_test.h"

static char log_text[2048];

static void capture_log(void *arg, const char *line) {
  (void)arg;
  size_t n = strlen(log_text);
  snprintf(log_text + n, sizeof log_text - n, "%s\n", line);
}

static int h_hello(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  return cio_web_response_set_text(res, 200, "hello\n");
}

static int h_fail(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)res;
  (void)a;
  return CIO_EIO;
}

/* Fails after the head and a chunk went out: the client must see a
 * truncated body, not a complete one. */
static int h_fail_late(cio_web_request *req, cio_web_response *res,
                       void *a) {
  (void)req;
  (void)a;
  int rc = cio_web_response_write(res, "partial\n", 8);
  return rc < 0 ? rc : CIO_EPROTO;
}

/* Sleeps ms milliseconds, counting starts, ends and cancellations. */
static int started, finished, cancelled;

static int h_sleep(cio_web_request *req, cio_web_response *res, void *a) {
  (void)a;
  started++;
  int rc = cio_sleep(atoi(cio_web_request_param(req, "ms")) / 1000.0);
  if (rc == CIO_ECANCELED) {
    cancelled++;
    return rc;
  }
  finished++;
  return cio_web_response_set_text(res, 200, "slept\n");
}

/* A handler may not shut its own server down (it would wait for itself). */
static cio_web_server *own_server;

static int h_shutdown(cio_web_request *req, cio_web_response *res,
                      void *a) {
  (void)req;
  (void)a;
  CHECK_EQ(cio_web_server_shutdown(own_server, 1.0), CIO_EDEADLK);
  CHECK_EQ(cio_web_server_close(own_server), CIO_EDEADLK);
  return cio_web_response_set_text(res, 200, "refused\n");
}

static void make_app(struct fx *f) {
  CHECK_EQ(cio_web_app_new(&f->app), 0);
  CHECK_EQ(cio_web_app_route(f->app, "POST", "/shutdown", h_shutdown, NULL),
           0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/hello", h_hello, NULL), 0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/fail", h_fail, NULL), 0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/fail/late", h_fail_late, NULL),
           0);
  CHECK_EQ(cio_web_app_route(f->app, "GET", "/sleep/{ms}", h_sleep, NULL),
           0);
}

/* ---- handler errors -------------------------------------------------- */

static int errors_main(void *arg, void **result) {
  bool in_tasks = arg != NULL;
  (void)result;
  need_program(CURL);
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.log = capture_log,
                            .cancel_on_disconnect = in_tasks};
  fx_open(&f, &o);
  char u1[96], u2[96];
  snprintf(u1, sizeof u1, "%s/fail", f.base);
  snprintf(u2, sizeof u2, "%s/hello", f.base);
  /* 500, and the connection goes on serving (curl reuses it). */
  const char *argv[] = {CURL, "-sS", "-v", u1, u2, NULL};
  char *out;
  CHECK_EQ(client_run(argv, NULL, &out), 0);
  CHECK_HAS(out, "< HTTP/1.1 500 Internal Server Error");
  CHECK_HAS(out, "Internal Server Error\nhello\n");
  CHECK_HAS(out, "Re-using existing connection");
  free(out);
  CHECK_PREFIX(log_text, "casyncio http: handler of GET /fail failed in task "
                         "Task-");
  CHECK_HAS(log_text, ": EIO (i/o error)\n");
  CHECK_EQ(count_of(log_text, "\n"), 1);
  /* Failing mid-stream: the connection is cut, the chunked body left
   * unfinished (curl: "transfer closed with outstanding read data"). */
  log_text[0] = '\0';
  snprintf(u1, sizeof u1, "%s/fail/late", f.base);
  const char *argv2[] = {CURL, "-sS", u1, NULL};
  int code = client_run(argv2, NULL, &out);
  CHECK_EQ(code, 18);
  CHECK_PREFIX(out, "partial\n");
  free(out);
  CHECK_HAS(log_text, "handler of GET /fail/late failed in task ");
  CHECK_HAS(log_text, "EPROTO");
  fx_close(&f);
  return 0;
}

TEST(a_failing_handler_gives_500_and_a_log_line) {
  run_main(errors_main, NULL);
}

TEST(a_failing_handler_gives_500_with_handler_tasks) {
  run_main(errors_main, "tasks");
}

/* ---- clients that leave --------------------------------------------------- */

static int disconnect_main(void *arg, void **result) {
  bool ignore = arg == NULL;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.cancel_on_disconnect = !ignore};
  fx_open(&f, &o);
  started = finished = cancelled = 0;
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", f.port, NULL), 0);
  static const char req[] = "GET /sleep/400 HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK_EQ(cio_stream_write(s, req, sizeof req - 1), 0);
  while (started == 0)
    CHECK_EQ(cio_sleep(0.01), 0);
  double t0 = mono_now();
  CHECK_EQ(cio_stream_close(s), 0); /* gone before the answer */
  while (cio_web_server_connections(f.srv) > 0)
    CHECK_EQ(cio_sleep(0.01), 0);
  double took = mono_now() - t0;
  if (ignore) {
    CHECK_EQ(finished, 1); /* ran to its end; its answer went nowhere */
    CHECK_EQ(cancelled, 0);
    CHECK(took >= 0.3);
  } else {
    CHECK_EQ(cancelled, 1);
    CHECK_EQ(finished, 0);
    CHECK(took < 0.2);
  }
  fx_close(&f);
  return 0;
}

TEST(cancel_on_disconnect_cancels_the_handler_of_a_client_that_left) {
  run_main(disconnect_main, "cancel");
}

TEST(by_default_the_handler_of_a_client_that_left_finishes) {
  run_main(disconnect_main, NULL);
}

/* A client that sends its request and half-closes at once (printf | nc)
 * still gets its answer: the end of stream came before the handler. */
static int halfclose_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.cancel_on_disconnect = true};
  fx_open(&f, &o);
  started = finished = cancelled = 0;
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", f.port, NULL), 0);
  static const char req[] = "GET /hello HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n";
  CHECK_EQ(cio_stream_write(s, req, sizeof req - 1), 0);
  CHECK_EQ(cio_stream_write_eof(s), 0);
  void *data;
  size_t len;
  CHECK_EQ(cio_stream_read_all(s, &data, &len), 0);
  ((char *)data)[len] = '\0'; /* read_all leaves room for it */
  CHECK_EQ(count_of(data, "hello\n"), 2);
  free(data);
  CHECK_EQ(cio_stream_close(s), 0);
  fx_close(&f);
  return 0;
}

TEST(a_half_closed_client_is_still_answered) {
  run_main(halfclose_main, NULL);
}

/* ---- graceful shutdown --------------------------------------------------- */

struct curl_job {
  const char *url;
  int code;
  char *out;
};

static int curl_task(void *arg, void **result) {
  (void)result;
  struct curl_job *j = arg;
  const char *argv[] = {CURL, "-sS", "-i", j->url, NULL};
  j->code = client_run(argv, NULL, &j->out);
  return 0;
}

static int shutdown_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  need_program(CURL);
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  started = finished = cancelled = 0;
  /* An idle keep-alive connection, and three requests in flight. */
  cio_stream *idle;
  CHECK_EQ(cio_open_connection(&idle, "127.0.0.1", f.port, NULL), 0);
  static const char req[] = "GET /hello HTTP/1.1\r\n\r\n";
  CHECK_EQ(cio_stream_write(idle, req, sizeof req - 1), 0);
  char buf[512];
  CHECK(cio_stream_read(idle, buf, sizeof buf) > 0);
  char url[96];
  snprintf(url, sizeof url, "%s/sleep/300", f.base);
  struct curl_job jobs[3];
  cio_task *tasks[3];
  for (int i = 0; i < 3; i++) {
    jobs[i] = (struct curl_job){.url = url};
    CHECK_EQ(cio_create_task(NULL, &tasks[i], curl_task, &jobs[i], NULL), 0);
  }
  while (started < 3)
    CHECK_EQ(cio_sleep(0.01), 0);
  double t0 = mono_now();
  CHECK_EQ(cio_web_server_shutdown(f.srv, 5.0), 0);
  double took = mono_now() - t0;
  CHECK(took > 0.15 && took < 1.0); /* waited for the requests, no longer */
  CHECK_EQ(finished, 3);
  CHECK_EQ(cancelled, 0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(cio_task_join(tasks[i], NULL), 0);
    CHECK_EQ(jobs[i].code, 0);
    CHECK_PREFIX(jobs[i].out, "HTTP/1.1 200 OK\r\n");
    CHECK_HAS(jobs[i].out, "\r\nConnection: close\r\n");
    free(jobs[i].out);
  }
  /* The idle connection was closed; nobody listens any more. */
  CHECK_EQ(cio_stream_read(idle, buf, sizeof buf), 0);
  CHECK_EQ(cio_stream_close(idle), 0);
  cio_stream *late;
  CHECK_EQ(cio_open_connection(&late, "127.0.0.1", f.port, NULL),
           CIO_ECONNREFUSED);
  CHECK_EQ(cio_web_server_shutdown(f.srv, 1.0), 0); /* again: done */
  fx_close(&f);
  return 0;
}

TEST(graceful_shutdown_lets_requests_in_flight_finish) {
  run_main(shutdown_main, NULL);
}

static int deadline_main(void *arg, void **result) {
  bool in_tasks = arg != NULL;
  (void)result;
  need_program(CURL);
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.cancel_on_disconnect = in_tasks};
  fx_open(&f, &o);
  started = finished = cancelled = 0;
  char url[96];
  snprintf(url, sizeof url, "%s/sleep/10000", f.base);
  struct curl_job job = {.url = url};
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, curl_task, &job, NULL), 0);
  while (started < 1)
    CHECK_EQ(cio_sleep(0.01), 0);
  double t0 = mono_now();
  CHECK_EQ(cio_web_server_shutdown(f.srv, 0.2), CIO_ETIMEDOUT);
  double took = mono_now() - t0;
  CHECK(took > 0.15 && took < 1.0);
  CHECK_EQ(cancelled, 1);
  CHECK_EQ(cio_web_server_connections(f.srv), 0);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  CHECK_EQ(job.code, 52); /* curl: empty reply from server */
  free(job.out);
  fx_close(&f);
  return 0;
}

TEST(shutdown_cancels_handlers_at_the_deadline) {
  run_main(deadline_main, NULL);
}

TEST(shutdown_cancels_handlers_at_the_deadline_with_handler_tasks) {
  run_main(deadline_main, "tasks");
}

/* Closing a server at once cancels what runs. */
static int close_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  fx_open(&f, NULL);
  started = finished = cancelled = 0;
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", f.port, NULL), 0);
  static const char req[] = "GET /sleep/10000 HTTP/1.1\r\n\r\n";
  CHECK_EQ(cio_stream_write(s, req, sizeof req - 1), 0);
  while (started < 1)
    CHECK_EQ(cio_sleep(0.01), 0);
  fx_close(&f);
  CHECK_EQ(cancelled, 1);
  CHECK_EQ(cio_stream_close(s), 0);
  return 0;
}

TEST(close_cancels_running_handlers) {
  run_main(close_main, NULL);
}

/* ---- the TLS seam ----------------------------------------------------------- */

static int wrapped;

static int wrap_plain(cio_stream *raw, cio_stream **out, void *arg) {
  CHECK(arg == &wrapped);
  wrapped++;
  *out = raw; /* a TLS wrap would hand its TLS stream here */
  return 0;
}

static int own_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  for (int tasks = 0; tasks < 2; tasks++) {
    struct fx f = {0};
    make_app(&f);
    cio_web_server_opts o = {.cancel_on_disconnect = tasks};
    fx_open(&f, &o);
    own_server = f.srv;
    static const char req[] = "POST /shutdown HTTP/1.0\r\n\r\n";
    char *out = raw_exchange(f.port, req, sizeof req - 1, 5, NULL, NULL);
    CHECK_HAS(out, "refused\n");
    free(out);
    fx_close(&f);
  }
  return 0;
}

TEST(a_handler_cannot_shut_its_own_server_down) {
  run_main(own_main, NULL);
}

static int wrap_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct fx f = {0};
  make_app(&f);
  cio_web_server_opts o = {.wrap = wrap_plain, .wrap_arg = &wrapped};
  fx_open(&f, &o);
  for (int i = 0; i < 2; i++) {
    char *out = raw_exchange(f.port, "GET /hello HTTP/1.0\r\n\r\n", 23, 5,
                             NULL, NULL);
    CHECK_HAS(out, "hello\n");
    free(out);
  }
  CHECK_EQ(wrapped, 2);
  fx_close(&f);
  return 0;
}

TEST(wrap_sees_every_connection) {
  run_main(wrap_main, NULL);
}

/* ---- cio_web_run and workers ----------------------------------------------- */

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static int run_port, run_started;
static pthread_t worker_threads[8];
static int n_worker_threads;

static int h_who(cio_web_request *req, cio_web_response *res, void *a) {
  (void)req;
  (void)a;
  pthread_t self = pthread_self();
  pthread_mutex_lock(&run_lock);
  bool seen = false;
  for (int i = 0; i < n_worker_threads; i++)
    seen |= pthread_equal(worker_threads[i], self) != 0;
  if (!seen && n_worker_threads < 8)
    worker_threads[n_worker_threads++] = self;
  pthread_mutex_unlock(&run_lock);
  return cio_web_response_set_text(res, 200, "who\n");
}

static int on_start(cio_web_server *srv, int worker, void *arg) {
  CHECK(arg == &run_port);
  CHECK(worker == 0 || worker == 1);
  pthread_mutex_lock(&run_lock);
  if (run_port == 0)
    run_port = cio_web_server_port(srv);
  CHECK_EQ(cio_web_server_port(srv), run_port);
  run_started++;
  pthread_mutex_unlock(&run_lock);
  return 0;
}

static int locked_read(const int *v) {
  pthread_mutex_lock(&run_lock);
  int x = *v;
  pthread_mutex_unlock(&run_lock);
  return x;
}

static void *run_thread(void *arg) {
  cio_web_app *app = arg;
  cio_web_server_opts o = {.workers = 2, .on_start = on_start,
                            .on_start_arg = &run_port,
                            .shutdown_timeout = 2};
  intptr_t rc = cio_web_run(app, "127.0.0.1", 0, &o);
  return (void *)rc;
}

TEST(run_with_two_workers_until_sigterm) {
  need_program(CURL);
  cio_web_app *app;
  CHECK_EQ(cio_web_app_new(&app), 0);
  CHECK_EQ(cio_web_app_route(app, "GET", "/who", h_who, NULL), 0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, run_thread, app), 0);
  for (int i = 0; i < 500 && locked_read(&run_started) < 2; i++)
    usleep(10000);
  CHECK_EQ(locked_read(&run_started), 2);
  int port = locked_read(&run_port);
  /* Fresh connections spread over both workers. */
  char cmd[256], out[4096];
  snprintf(cmd, sizeof cmd,
           "for i in $(seq 40); do %s -sS http://127.0.0.1:%d/who; done",
           CURL, port);
  int st = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK_EQ(count_of(out, "who\n"), 40);
  CHECK_EQ(locked_read(&n_worker_threads), 2);
  /* libuv's process-wide handler takes it to worker 0's loop. */
  CHECK_EQ(kill(getpid(), SIGTERM), 0);
  void *rc;
  CHECK_EQ(pthread_join(th, &rc), 0);
  CHECK_EQ((intptr_t)rc, 0);
  cio_web_app_free(app);
}
