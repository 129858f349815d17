/* Servers: serve_forever / close / wait_closed, a failing handler closing
 * only its own connection, close_clients, SO_REUSEPORT, and accept going
 * on after the process ran out of file descriptors. */
#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

/* Echo lines; the line "fail" makes the handler return an error. */
static int line_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[256];
  for (;;) {
    ssize_t n = cio_stream_readline(s, buf, sizeof buf);
    if (n <= 0)
      return (int)n;
    if (n == 5 && memcmp(buf, "fail\n", 5) == 0)
      return CIO_EPROTO;
    int rc = cio_stream_write(s, buf, (size_t)n);
    if (rc < 0)
      return rc;
  }
}

static int ask(cio_stream *s, const char *line) {
  char buf[256];
  int rc = cio_stream_write(s, line, strlen(line));
  if (rc < 0)
    return rc;
  ssize_t n = cio_stream_readline(s, buf, sizeof buf);
  if (n < 0)
    return (int)n;
  if ((size_t)n != strlen(line) || memcmp(buf, line, (size_t)n) != 0)
    return CIO_EPROTO;
  return 0;
}

/* ---- serve_forever ---------------------------------------------------- */

struct serve_ctx {
  cio_server *srv;
  int rc;
};

static int serve_task(void *arg, void **result) {
  (void)result;
  struct serve_ctx *c = arg;
  c->rc = cio_server_serve_forever(c->srv);
  return 0;
}

static int serve_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct serve_ctx c = {.rc = 1}, c2 = {.rc = 1};
  CHECK_EQ(cio_start_server(&c.srv, line_handler, NULL, "127.0.0.1", 0, NULL),
           0);
  c2.srv = c.srv;
  CHECK(cio_server_is_serving(c.srv));
  cio_task *t, *t2;
  CHECK_EQ(cio_create_task(NULL, &t, serve_task, &c, NULL), 0);
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_create_task(NULL, &t2, serve_task, &c2, NULL), 0);
  CHECK_EQ(cio_task_join(t2, NULL), 0);
  CHECK_EQ(c2.rc, CIO_EBUSY); /* serve_forever twice */
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", cio_server_port(c.srv), NULL),
           0);
  CHECK_EQ(ask(s, "hi\n"), 0);
  CHECK_EQ(cio_server_connections(c.srv), 1);
  CHECK(!cio_task_is_done(t));
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(c.srv), 0); /* wakes serve_forever */
  CHECK_EQ(cio_task_join(t, NULL), 0);
  CHECK_EQ(c.rc, 0);
  return 0;
}

TEST(serve_forever_until_closed) {
  test_run_main(serve_main, NULL);
}

static int serve_cancel_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct serve_ctx c = {.rc = 1};
  CHECK_EQ(cio_start_server(&c.srv, line_handler, NULL, "127.0.0.1", 0, NULL),
           0);
  int port = cio_server_port(c.srv);
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, serve_task, &c, NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0);
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  CHECK_EQ(c.rc, CIO_ECANCELED);
  /* Cancelling serve_forever closed the server. */
  CHECK(!cio_server_is_serving(c.srv));
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), CIO_ECONNREFUSED);
  CHECK_EQ(cio_server_close(c.srv), 0);
  return 0;
}

TEST(cancelling_serve_forever_closes_the_server) {
  test_run_main(serve_cancel_main, NULL);
}

/* ---- failing handlers and closing clients ----------------------------- */

static int failing_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, line_handler, NULL, "127.0.0.1", 0, NULL), 0);
  int port = cio_server_port(srv);
  cio_stream *good, *bad;
  CHECK_EQ(cio_open_connection(&good, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(cio_open_connection(&bad, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(ask(good, "one\n"), 0);
  CHECK_EQ(cio_stream_write(bad, "fail\n", 5), 0);
  char buf[16];
  CHECK_EQ(cio_stream_read(bad, buf, sizeof buf), 0); /* closed: EOF */
  CHECK_EQ(ask(good, "two\n"), 0);                    /* unaffected */
  CHECK(cio_server_is_serving(srv));
  CHECK_EQ(cio_stream_close(bad), 0);
  CHECK_EQ(cio_stream_close(good), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(failing_handler_closes_only_its_connection) {
  test_run_main(failing_main, NULL);
}

struct waiter_ctx {
  cio_server *srv;
  int rc;
  bool done;
};

static int wait_closed_task(void *arg, void **result) {
  (void)result;
  struct waiter_ctx *c = arg;
  c->rc = cio_server_wait_closed(c->srv);
  c->done = true;
  return 0;
}

static int clients_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, line_handler, NULL, "127.0.0.1", 0, NULL), 0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", cio_server_port(srv), NULL), 0);
  CHECK_EQ(ask(s, "x\n"), 0);
  struct waiter_ctx w = {.srv = srv, .rc = 1};
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, wait_closed_task, &w, NULL), 0);
  CHECK_EQ(cio_sleep(0.02), 0);
  CHECK(!w.done);
  /* close_clients ends the handler (its read sees EOF). */
  CHECK_EQ(cio_server_close_clients(srv), 0);
  char buf[8];
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  CHECK(w.done);
  CHECK_EQ(w.rc, 0);
  CHECK_EQ(cio_stream_close(s), 0);
  return 0;
}

TEST(close_clients_and_wait_closed) {
  test_run_main(clients_main, NULL);
}

static int reuseport_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_server_opts o = {.reuse_port = true};
  cio_server *a, *b, *c;
  CHECK_EQ(cio_start_server(&a, line_handler, NULL, "127.0.0.1", 0, &o), 0);
  int port = cio_server_port(a);
  CHECK_EQ(cio_start_server(&b, line_handler, NULL, "127.0.0.1", port, &o), 0);
  CHECK_EQ(cio_server_port(b), port);
  CHECK_EQ(cio_start_server(&c, line_handler, NULL, "127.0.0.1", port, NULL),
           CIO_EADDRINUSE);
  CHECK(c == NULL);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(ask(s, "shared\n"), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(a), 0);
  CHECK_EQ(cio_server_close(b), 0);
  return 0;
}

TEST(reuse_port_lets_two_servers_share_a_port) {
  test_run_main(reuseport_main, NULL);
}

/* ---- out of file descriptors ------------------------------------------ */

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

#define MAXC 64

static int emfile_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, line_handler, NULL, "127.0.0.1", 0, NULL), 0);
  int port = cio_server_port(srv);
  cio_stream *cl[MAXC];
  int n = 0, stuck = -1, eaten = -1;
  /* Connect until the server cannot accept (its echo times out) or the
   * client itself runs out of descriptors. */
  while (n < MAXC) {
    int rc = cio_open_connection(&cl[n], "127.0.0.1", port, NULL);
    if (rc == CIO_EMFILE)
      break;
    CHECK_EQ(rc, 0);
    cio_timeout to;
    CHECK_EQ(cio_timeout_enter(&to, 0.3), 0);
    rc = cio_timeout_exit(&to, ask(cl[n], "ping\n"));
    n++;
    if (rc == CIO_ETIMEDOUT) {
      stuck = n - 1;
      break;
    }
    CHECK_EQ(rc, 0);
  }
  CHECK(n < MAXC);
  if (stuck < 0) {
    /* The client hit EMFILE first.  Closing one client frees its
     * descriptor and, once the server's handler ends, the server's: eat
     * one, so that the next client connects but cannot be accepted. */
    CHECK(n >= 2);
    CHECK_EQ(cio_stream_close(cl[--n]), 0);
    CHECK_EQ(cio_sleep(0.05), 0);
    eaten = open("/dev/null", O_RDONLY);
    CHECK(eaten >= 0);
    CHECK_EQ(cio_open_connection(&cl[n], "127.0.0.1", port, NULL), 0);
    cio_timeout to;
    CHECK_EQ(cio_timeout_enter(&to, 0.3), 0);
    CHECK_EQ(cio_timeout_exit(&to, ask(cl[n], "ping\n")), CIO_ETIMEDOUT);
    stuck = n++;
  }
  /* The server backs off instead of spinning on accept. */
  double c0 = cpu_seconds();
  CHECK_EQ(cio_sleep(0.3), 0);
  double used = cpu_seconds() - c0;
  CHECK(used < 0.1);
  /* Free descriptors: the waiting client is accepted and answered (its
   * line was already sent). */
  CHECK_EQ(cio_stream_close(cl[0]), 0);
  CHECK_EQ(cio_stream_close(cl[1]), 0);
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 2.0), 0);
  char buf[16];
  ssize_t r = cio_stream_readline(cl[stuck], buf, sizeof buf);
  CHECK_EQ(cio_timeout_exit(&to, (int)r), 5);
  CHECK_EQ(ask(cl[stuck], "again\n"), 0);
  for (int i = 2; i < n; i++)
    CHECK_EQ(cio_stream_close(cl[i]), 0);
  CHECK(cio_server_is_serving(srv));
  CHECK_EQ(cio_server_close(srv), 0);
  if (eaten >= 0)
    close(eaten);
  return 0;
}

TEST(accept_backs_off_when_out_of_descriptors) {
  /* Valgrind emulates RLIMIT_NOFILE with descriptors of its own. */
  const char *pre = getenv("LD_PRELOAD");
  if (pre != NULL && strstr(pre, "vgpreload") != NULL) {
    fprintf(stderr, "skipped under valgrind\n");
    return;
  }
  /* Room for the loop, the server, a few clients and their peers: new
   * descriptors take the lowest free numbers, so the limit goes where 24
   * numbers are free below it. */
  int fd = 0;
  for (int free_slots = 0; free_slots < 24; fd++)
    if (fcntl(fd, F_GETFD) == -1)
      free_slots++;
  struct rlimit rl, was;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  was = rl;
  rl.rlim_cur = (rlim_t)fd;
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  test_run_main(emfile_main, NULL);
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &was), 0);
}

/* ---- wait_closed wakes in the next iteration ------------------------- */

struct spin_ctx {
  bool stop;
  long iterations;
};

/* One loop iteration per step: sleep(0) as asyncio's. */
static int spin_task(void *arg, void **result) {
  (void)result;
  struct spin_ctx *c = arg;
  while (!c->stop) {
    c->iterations++;
    if (cio_sleep(0) < 0)
      break;
  }
  return 0;
}

struct quick_ctx {
  struct spin_ctx *spin;
  long handler_done_at;
};

/* Answers one line, waits for the client's end of file and returns,
 * recording the iteration: the server closes the connection. */
static int one_line_handler(cio_stream *s, void *arg) {
  struct quick_ctx *q = arg;
  char buf[64];
  ssize_t n = cio_stream_readline(s, buf, sizeof buf);
  if (n > 0)
    CHECK_EQ(cio_stream_write(s, buf, (size_t)n), 0);
  while (cio_stream_read(s, buf, sizeof buf) > 0)
    ;
  q->handler_done_at = q->spin->iterations;
  return 0;
}

static int close_server_task(void *arg, void **result) {
  (void)result;
  return cio_server_close(arg);
}

static int quick_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct spin_ctx spin = {0};
  struct quick_ctx q = {.spin = &spin, .handler_done_at = -1};
  cio_server *srv;
  CHECK_EQ(
      cio_start_server(&srv, one_line_handler, &q, "127.0.0.1", 0, NULL), 0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", cio_server_port(srv), NULL), 0);
  CHECK_EQ(ask(s, "hi\n"), 0);
  struct waiter_ctx w = {.srv = srv, .rc = 1};
  cio_task *spinner, *waiter, *closer;
  CHECK_EQ(cio_create_task(NULL, &waiter, wait_closed_task, &w, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &closer, close_server_task, srv, NULL), 0);
  CHECK_EQ(cio_sleep(0.02), 0); /* closed, but one connection still runs */
  CHECK(!w.done);
  CHECK_EQ(cio_create_task(NULL, &spinner, spin_task, &spin, NULL), 0);
  CHECK_EQ(cio_stream_close(s), 0); /* the handler reads EOF and ends */
  CHECK_EQ(cio_task_join(waiter, NULL), 0);
  long woke_at = spin.iterations;
  spin.stop = true;
  CHECK_EQ(cio_task_join(spinner, NULL), 0);
  CHECK_EQ(cio_task_join(closer, NULL), 0);
  CHECK_EQ(w.rc, 0);
  CHECK(q.handler_done_at >= 0);
  /* CPython: transport.close() -> connection_lost (next iteration) ->
   * Server._detach -> _wakeup -> the waiter's task runs an iteration or
   * two later; never a thousand scheduler steps later. */
  if (woke_at - q.handler_done_at > 8)
    test_fail(__FILE__, __LINE__,
              "woke %ld iterations after the last connection ended",
              woke_at - q.handler_done_at);
  return 0;
}

TEST(wait_closed_wakes_in_the_next_iteration_after_the_last_connection) {
  test_run_main(quick_main, NULL);
}

/* ---- max_connections -------------------------------------------------- */

static int max_conns_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_server *srv;
  cio_server_opts o = {.max_connections = 2};
  CHECK_EQ(cio_start_server(&srv, line_handler, NULL, "127.0.0.1", 0, &o), 0);
  int port = cio_server_port(srv);
  cio_stream *c[3];
  for (int i = 0; i < 3; i++) /* the third waits in the backlog */
    CHECK_EQ(cio_open_connection(&c[i], "127.0.0.1", port, NULL), 0);
  CHECK_EQ(ask(c[0], "a\n"), 0);
  CHECK_EQ(ask(c[1], "b\n"), 0);
  CHECK_EQ(cio_stream_write(c[2], "c\n", 2), 0);
  char buf[16];
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.2), 0);
  ssize_t n = cio_stream_readline(c[2], buf, sizeof buf);
  CHECK_EQ(cio_timeout_exit(&to, (int)n), CIO_ETIMEDOUT);
  CHECK_EQ(cio_server_connections(srv), 2);
  CHECK(cio_server_is_serving(srv));
  /* One connection ends: the waiting client is accepted and answered. */
  CHECK_EQ(cio_stream_close(c[0]), 0);
  CHECK_EQ(cio_stream_readline(c[2], buf, sizeof buf), 2);
  CHECK_EQ(memcmp(buf, "c\n", 2), 0);
  CHECK_EQ(cio_server_connections(srv), 2);
  CHECK_EQ(cio_stream_close(c[1]), 0);
  CHECK_EQ(cio_stream_close(c[2]), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(max_connections_pauses_accepting) {
  test_run_main(max_conns_main, NULL);
}
