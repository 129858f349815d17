/* Streams against real sockets on 127.0.0.1 and Unix sockets: partial
 * reads, readexactly/readline/readuntil with EOF and limits, a second
 * reader, cancellation and timeouts on connect and read, half-close, peer
 * reset, drain backpressure against a slow reader, 1,000 connections. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "casyncio.h"
#include "test.h"

static int listen_loopback(int backlog, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  CHECK_EQ(listen(fd, backlog), 0);
  socklen_t len = sizeof sin;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  *port = ntohs(sin.sin_port);
  return fd;
}

/* ---- handlers ------------------------------------------------------ */

static int echo_handler(cio_stream *s, void *arg) {
  (void)arg;
  char buf[4096];
  for (;;) {
    ssize_t n = cio_stream_read(s, buf, sizeof buf);
    if (n <= 0)
      return (int)n;
    int rc = cio_stream_write(s, buf, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
}

/* Sends the string arg, then closes (EOF for the client). */
static int send_and_close_handler(cio_stream *s, void *arg) {
  const char *msg = arg;
  CHECK_EQ(cio_stream_write(s, msg, strlen(msg)), 0);
  return cio_stream_close(s);
}

/* Sends arg, then waits for the client to close. */
static int send_and_wait_handler(cio_stream *s, void *arg) {
  const char *msg = arg;
  CHECK_EQ(cio_stream_write(s, msg, strlen(msg)), 0);
  char c;
  while (cio_stream_read(s, &c, 1) > 0)
    ;
  return 0;
}

static cio_server *start(cio_server_handler h, void *arg, int *port) {
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, h, arg, "127.0.0.1", 0, NULL), 0);
  *port = cio_server_port(srv);
  CHECK(*port > 0);
  return srv;
}

/* ---- echo and addresses ---------------------------------------------- */

static int echo_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(echo_handler, NULL, &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(cio_stream_write(s, "hello, world", 12), 0);
  CHECK_EQ(cio_stream_drain(s), 0);
  char buf[16];
  size_t n;
  CHECK_EQ(cio_stream_readexactly(s, buf, 12, &n), 0);
  CHECK_EQ(n, 12);
  CHECK(memcmp(buf, "hello, world", 12) == 0);
  cio_addr peer, me;
  char host[64];
  int p;
  CHECK_EQ(cio_stream_peer_addr(s, &peer), 0);
  CHECK_EQ(cio_addr_format(&peer, host, sizeof host, &p), 0);
  CHECK_STR(host, "127.0.0.1");
  CHECK_EQ(p, port);
  CHECK_EQ(cio_stream_sock_addr(s, &me), 0);
  CHECK_EQ(cio_addr_format(&me, host, sizeof host, &p), 0);
  CHECK(p > 0 && p != port);
  CHECK(!cio_stream_is_closing(s));
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(echo_roundtrip_and_addresses) {
  test_run_main(echo_main, NULL);
}

/* ---- partial reads, readexactly at EOF ------------------------------ */

static int partial_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_and_wait_handler, "hello", &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  char buf[100];
  /* read(n) returns as soon as anything is there: 5 bytes, not 100. */
  ssize_t n = cio_stream_read(s, buf, sizeof buf);
  CHECK_EQ(n, 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_EQ(cio_stream_read(s, buf, 0), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(read_returns_partial_data) {
  test_run_main(partial_main, NULL);
}

static int exactly_eof_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_and_close_handler, "abcdefg", &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  char buf[16];
  size_t n = 99;
  CHECK_EQ(cio_stream_readexactly(s, buf, 3, &n), 0);
  CHECK_EQ(n, 3);
  CHECK(memcmp(buf, "abc", 3) == 0);
  /* EOF in the middle: the partial bytes come back with ENODATA. */
  CHECK_EQ(cio_stream_readexactly(s, buf, 10, &n), CIO_ENODATA);
  CHECK_EQ(n, 4);
  CHECK(memcmp(buf, "defg", 4) == 0);
  CHECK(cio_stream_at_eof(s));
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
  CHECK_EQ(cio_stream_readexactly(s, buf, 0, &n), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(readexactly_eof_in_the_middle) {
  test_run_main(exactly_eof_main, NULL);
}

/* ---- lines, separators and limits ---------------------------------- */

static int lines_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_and_close_handler, "a\nbb\r\nccc", &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  char buf[64];
  size_t n;
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), 2);
  CHECK(memcmp(buf, "a\n", 2) == 0);
  CHECK_EQ(cio_stream_readuntil(s, "\r\n", 2, buf, sizeof buf, &n), 4);
  CHECK(memcmp(buf, "bb\r\n", 4) == 0);
  CHECK_EQ(cio_stream_readuntil(s, "", 0, buf, sizeof buf, &n), CIO_EINVAL);
  /* The last line has no newline: readline returns it at EOF. */
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), 3);
  CHECK(memcmp(buf, "ccc", 3) == 0);
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), 0);
  CHECK_EQ(cio_stream_readuntil(s, "\n", 1, buf, sizeof buf, &n), CIO_ENODATA);
  CHECK_EQ(n, 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(readline_and_readuntil) {
  test_run_main(lines_main, NULL);
}

static int limit_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv =
      start(send_and_close_handler, "0123456789abcdef\n1234567\nxyz", &port);
  cio_stream *s;
  cio_stream_opts o = {.limit = 8};
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, &o), 0);
  char buf[64];
  size_t n;
  /* Wait until everything is buffered, so the outcome is deterministic. */
  while (!cio_stream_at_eof(s) && cio_stream_buffered(s) < 28)
    CHECK_EQ(cio_sleep(0.01), 0);
  size_t before = cio_stream_buffered(s);
  CHECK_EQ(cio_stream_readuntil(s, "\n", 1, buf, sizeof buf, &n), CIO_ENOBUFS);
  CHECK_EQ(n, 16); /* "Separator is found, but chunk is longer than limit" */
  CHECK_EQ(cio_stream_buffered(s), before); /* untouched, still usable */
  /* A small buffer lowers the limit too. */
  CHECK_EQ(cio_stream_readuntil(s, "\n", 1, buf, 4, &n), CIO_ENOBUFS);
  /* readline drops the long line through its newline (ValueError). */
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), CIO_EMSGSIZE);
  /* The limit does not count the separator: 7 + '\n' with limit 8 fits,
   * as does exactly `limit` bytes. */
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), 8);
  CHECK(memcmp(buf, "1234567\n", 8) == 0);
  CHECK_EQ(cio_stream_readuntil(s, "!", 1, buf, sizeof buf, &n), CIO_ENODATA);
  CHECK_EQ(n, 3);
  CHECK(memcmp(buf, "xyz", 3) == 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(limit_overrun_leaves_stream_usable) {
  test_run_main(limit_main, NULL);
}

/* Reading pauses above 2 * limit and resumes when the buffer drains. */
static int big_sender(cio_stream *s, void *arg) {
  (void)arg;
  static char block[65536];
  for (int i = 0; i < 32; i++) {
    int rc = cio_stream_write(s, block, sizeof block);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
  return cio_stream_close(s);
}

static int pause_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(big_sender, NULL, &port);
  cio_stream *s;
  cio_stream_opts o = {.limit = 1024};
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, &o), 0);
  CHECK_EQ(cio_sleep(0.2), 0);
  /* At most one read beyond 2 * limit. */
  CHECK(cio_stream_buffered(s) > 0);
  CHECK(cio_stream_buffered(s) <= 2 * 1024 + 16 * 1024);
  void *all;
  size_t len;
  CHECK_EQ(cio_stream_read_all(s, &all, &len), 0);
  CHECK_EQ(len, 32 * 65536);
  free(all);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(reading_pauses_at_twice_the_limit) {
  test_run_main(pause_main, NULL);
}

/* ---- concurrent readers, cancellation, timeouts ---------------------- */

struct reader_ctx {
  cio_stream *s;
  ssize_t rc;
};

static int reader_task(void *arg, void **result) {
  (void)result;
  struct reader_ctx *c = arg;
  char buf[8];
  c->rc = cio_stream_read(c->s, buf, sizeof buf);
  return 0;
}

static int send_later_handler(cio_stream *s, void *arg) {
  (void)arg;
  CHECK_EQ(cio_sleep(0.3), 0);
  CHECK_EQ(cio_stream_write(s, "late", 4), 0);
  char c;
  while (cio_stream_read(s, &c, 1) > 0)
    ;
  return 0;
}

static int readers_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_later_handler, NULL, &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  /* A read under a timeout scope: ETIMEDOUT, nothing lost. */
  char buf[8];
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.05), 0);
  ssize_t n = cio_stream_read(s, buf, sizeof buf);
  CHECK_EQ(cio_timeout_exit(&to, (int)n), CIO_ETIMEDOUT);
  /* A second reader while one waits: EBUSY. */
  struct reader_ctx a = {.s = s}, b = {.s = s};
  cio_task *ta, *tb;
  CHECK_EQ(cio_create_task(NULL, &ta, reader_task, &a, NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0);
  CHECK_EQ(cio_create_task(NULL, &tb, reader_task, &b, NULL), 0);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  CHECK_EQ(b.rc, CIO_EBUSY);
  CHECK_EQ(cio_task_join(ta, NULL), 0);
  CHECK_EQ(a.rc, 4);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(read_timeout_and_second_reader) {
  test_run_main(readers_main, NULL);
}

/* A reader blocked in one task sees EOF when another task closes. */
static int close_wakes_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_and_wait_handler, "", &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  struct reader_ctx a = {.s = s};
  cio_task *ta;
  CHECK_EQ(cio_create_task(NULL, &ta, reader_task, &a, NULL), 0);
  CHECK_EQ(cio_sleep(0.02), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_task_join(ta, NULL), 0);
  CHECK_EQ(a.rc, 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(close_wakes_a_blocked_reader) {
  test_run_main(close_wakes_main, NULL);
}

/* A listening socket that never accepts, with a full backlog, leaves
 * further connects hanging: the timeout scope cancels them. */
static int connect_timeout_main(void *arg, void **result) {
  (void)result;
  int port = *(int *)arg;
  cio_stream *streams[16];
  int nopen = 0, rc = 0;
  for (int i = 0; i < 16; i++) {
    cio_timeout to;
    CHECK_EQ(cio_timeout_enter(&to, 0.3), 0);
    rc = cio_open_connection(&streams[nopen], "127.0.0.1", port, NULL);
    rc = cio_timeout_exit(&to, rc);
    if (rc != 0)
      break;
    nopen++;
  }
  CHECK_EQ(rc, CIO_ETIMEDOUT);
  for (int i = 0; i < nopen; i++)
    CHECK_EQ(cio_stream_close(streams[i]), 0);
  return 0;
}

TEST(connect_timeout) {
  int port;
  int fd = listen_loopback(0, &port);
  test_run_main(connect_timeout_main, &port);
  close(fd);
}

static int refused_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  /* Bind a port, close it: nothing listens there. */
  int port;
  cio_server *srv = start(echo_handler, NULL, &port);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_stream *s = (cio_stream *)1;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), CIO_ECONNREFUSED);
  CHECK(s == NULL);
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", 70000, NULL), CIO_EINVAL);
  return 0;
}

TEST(connect_refused) {
  test_run_main(refused_main, NULL);
}

/* ---- half-close, reset, write after close ---------------------------- */

static int count_handler(cio_stream *s, void *arg) {
  (void)arg;
  void *data;
  size_t len;
  int rc = cio_stream_read_all(s, &data, &len);
  if (rc < 0)
    return rc;
  free(data);
  char reply[32];
  int n = snprintf(reply, sizeof reply, "got %zu\n", len);
  return cio_stream_write(s, reply, (size_t)n);
}

static int half_close_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(count_handler, NULL, &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(cio_stream_write(s, "12345", 5), 0);
  CHECK_EQ(cio_stream_write_eof(s), 0);
  CHECK_EQ(cio_stream_write(s, "x", 1), CIO_ECLOSED);
  /* Our side still reads after sending EOF. */
  char buf[32];
  ssize_t n = cio_stream_readline(s, buf, sizeof buf);
  CHECK_EQ(n, 6);
  CHECK(memcmp(buf, "got 5\n", 6) == 0);
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(half_close) {
  test_run_main(half_close_main, NULL);
}

/* A plain socket peer on a thread: accepts one client, waits for its
 * first byte, and closes with SO_LINGER 0, which sends a reset. */
static void *rude_peer(void *arg) {
  int lfd = *(int *)arg;
  int c = accept(lfd, NULL, NULL);
  char b;
  if (c >= 0 && read(c, &b, 1) == 1) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(c);
  return NULL;
}

static int reset_main(void *arg, void **result) {
  (void)result;
  int port = *(int *)arg;
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(cio_stream_write(s, "unread data", 11), 0);
  char buf[16];
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), CIO_ECONNRESET);
  CHECK_EQ(cio_stream_error(s), CIO_ECONNRESET);
  /* The stored error comes first from every read, and from drain. */
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), CIO_ECONNRESET);
  CHECK_EQ(cio_stream_drain(s), CIO_ECONNRESET);
  CHECK_EQ(cio_stream_write(s, "x", 1), CIO_ECONNRESET);
  CHECK_EQ(cio_stream_close(s), 0);
  return 0;
}

TEST(peer_reset) {
  int port;
  int lfd = listen_loopback(1, &port);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, rude_peer, &lfd), 0);
  test_run_main(reset_main, &port);
  pthread_join(th, NULL);
  close(lfd);
}

/* ---- drain against a slow reader ----------------------------------- */

struct slow_ctx {
  size_t received;
};

static int slow_reader(cio_stream *s, void *arg) {
  struct slow_ctx *c = arg;
  CHECK_EQ(cio_sleep(0.4), 0); /* not reading: the client's queue fills */
  static char buf[65536];
  ssize_t n;
  while ((n = cio_stream_read(s, buf, sizeof buf)) > 0)
    c->received += (size_t)n;
  return (int)n;
}

static int drain_main(void *arg, void **result) {
  (void)result;
  struct slow_ctx *c = arg;
  int port;
  cio_server *srv = start(slow_reader, c, &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  static char block[1 << 20];
  size_t sent = 0;
  /* Write without draining until libuv queues far more than the kernel's
   * socket buffers can take (they grow on loopback): draining it down to
   * the low-water mark then needs the reader. */
  while (cio_stream_write_buffer_size(s) <= (16u << 20)) {
    CHECK_EQ(cio_stream_write(s, block, sizeof block), 0);
    sent += sizeof block;
    CHECK(sent < (256u << 20));
  }
  double t0 = test_now();
  CHECK_EQ(cio_stream_drain(s), 0);
  double waited = test_now() - t0;
  CHECK(waited > 0.2); /* suspended until the reader woke up */
  CHECK(cio_stream_write_buffer_size(s) <= 16 * 1024);
  CHECK_EQ(cio_stream_close(s), 0); /* flushes the rest */
  CHECK_EQ(cio_server_close(srv), 0);
  CHECK_EQ(c->received, sent);
  return 0;
}

TEST(drain_waits_for_a_slow_reader) {
  struct slow_ctx c = {0};
  test_run_main(drain_main, &c);
}

/* ---- Unix sockets ----------------------------------------------------- */

static int unix_main(void *arg, void **result) {
  (void)result;
  const char *path = arg;
  cio_server *srv;
  CHECK_EQ(cio_start_unix_server(&srv, echo_handler, NULL, path, NULL), 0);
  CHECK_EQ(cio_server_port(srv), -1);
  CHECK_EQ(access(path, F_OK), 0);
  cio_stream *s;
  CHECK_EQ(cio_open_unix_connection(&s, path, NULL), 0);
  CHECK_EQ(cio_stream_write(s, "ping\n", 5), 0);
  char buf[16];
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), 5);
  CHECK(memcmp(buf, "ping\n", 5) == 0);
  cio_addr a;
  CHECK_EQ(cio_stream_peer_addr(s, &a), CIO_ENOTSUP);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  CHECK(access(path, F_OK) != 0); /* removed on close */
  CHECK_EQ(cio_open_unix_connection(&s, path, NULL), CIO_ENOENT);
  return 0;
}

TEST(unix_socket_echo) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/cio-test-%d.sock", (int)getpid());
  test_run_main(unix_main, path);
}

/* ---- 1,000 concurrent connections -------------------------------------- */

#define NCONN 1000

static int client_task(void *arg, void **result) {
  (void)result;
  int port = *(int *)arg;
  cio_stream *s;
  int rc = cio_open_connection(&s, "127.0.0.1", port, NULL);
  if (rc < 0)
    return rc;
  char msg[32], buf[32];
  int n = snprintf(msg, sizeof msg, "hello %p\n", (void *)&msg);
  rc = cio_stream_write(s, msg, (size_t)n);
  if (rc == 0)
    rc = (int)cio_stream_readline(s, buf, sizeof buf);
  if (rc == n && memcmp(buf, msg, (size_t)n) != 0)
    rc = CIO_EPROTO;
  int crc = cio_stream_close(s);
  return rc < 0 ? rc : crc;
}

static int thousand_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, echo_handler, NULL, "127.0.0.1", 0,
                            &(cio_server_opts){.backlog = 1024}),
           0);
  port = cio_server_port(srv);
  static cio_call calls[NCONN];
  static int errors[NCONN];
  for (int i = 0; i < NCONN; i++)
    calls[i] = (cio_call){client_task, &port};
  CHECK_EQ(cio_gather_calls(calls, NCONN, NULL, errors, true), 0);
  for (int i = 0; i < NCONN; i++)
    if (errors[i] != 0)
      test_fail(__FILE__, __LINE__, "client %d: %s", i,
                cio_err_name(errors[i]));
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(thousand_concurrent_connections) {
  struct rlimit rl;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 2 * NCONN + 64) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur < 2 * NCONN + 64) {
    fprintf(stderr, "skipped: RLIMIT_NOFILE %ld\n", (long)rl.rlim_cur);
    return;
  }
  test_run_main(thousand_main, NULL);
}

/* ---- a reader cancelled after data landed in its own buffer ---------- */

/* A waiting reader lends its buffer to libuv.  If it is cancelled after
 * the bytes arrived there but before it resumed, the bytes go back into
 * the stream for the next read (asyncio keeps unread data buffered).
 * To hit that window: a plain-socket peer thread writes while the loop
 * thread is held, an application prepare handle (just before the poll
 * that will deliver the bytes) arms, and an application check handle
 * (libuv runs check handles newest first: before casyncio's round)
 * cancels the reader that the poll just woke. */
struct direct_ctx {
  cio_task *reader;
  ssize_t reader_rc;
  cio_stream *s;
  int listen_fd;
  _Atomic int go, wrote;
  bool armed;
  int cancels;
};

static void *direct_peer(void *arg) {
  struct direct_ctx *c = arg;
  int fd = accept(c->listen_fd, NULL, NULL);
  CHECK(fd >= 0);
  while (!c->go)
    usleep(100);
  CHECK_EQ(send(fd, "precious", 8, 0), 8);
  c->wrote = 1;
  char b;
  while (recv(fd, &b, 1, 0) > 0) /* until the client closes */
    ;
  close(fd);
  return NULL;
}

static void arm_before_poll(uv_prepare_t *h) {
  struct direct_ctx *c = h->data;
  if (c->wrote == 1) {
    c->wrote = 2; /* once */
    c->armed = true;
  }
}

static void cancel_woken_reader(uv_check_t *h) {
  struct direct_ctx *c = h->data;
  if (c->armed) {
    c->armed = false;
    c->cancels += cio_task_cancel(c->reader) == 1;
  }
}

static int direct_reader(void *arg, void **result) {
  (void)result;
  struct direct_ctx *c = arg;
  char buf[64];
  c->reader_rc = cio_stream_read(c->s, buf, sizeof buf);
  return 0;
}

static int direct_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct direct_ctx c = {0};
  int port;
  c.listen_fd = listen_loopback(1, &port);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, direct_peer, &c), 0);
  CHECK_EQ(cio_open_connection(&c.s, "127.0.0.1", port, NULL), 0);
  uv_loop_t *uv = cio_loop_uv(cio_get_running_loop());
  uv_prepare_t prepare;
  uv_check_t check;
  uv_prepare_init(uv, &prepare);
  uv_check_init(uv, &check);
  prepare.data = check.data = &c;
  uv_prepare_start(&prepare, arm_before_poll);
  uv_check_start(&check, cancel_woken_reader);
  CHECK_EQ(cio_create_task(NULL, &c.reader, direct_reader, &c, NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0); /* the reader waits, its buffer lent */
  c.go = 1;
  while (c.wrote == 0) /* hold the loop thread: no poll meanwhile */
    usleep(100);
  CHECK_EQ(cio_task_join(c.reader, NULL), 0);
  CHECK_EQ(c.cancels, 1);
  CHECK_EQ(c.reader_rc, CIO_ECANCELED);
  char buf[64];
  cio_timeout to; /* lost bytes would make this read wait for ever */
  CHECK_EQ(cio_timeout_enter(&to, 2.0), 0);
  ssize_t n = cio_stream_read(c.s, buf, sizeof buf);
  CHECK_EQ(cio_timeout_exit(&to, (int)n), 8);
  CHECK(memcmp(buf, "precious", 8) == 0);
  uv_close((uv_handle_t *)&prepare, NULL);
  uv_close((uv_handle_t *)&check, NULL);
  CHECK_EQ(cio_stream_close(c.s), 0);
  pthread_join(th, NULL);
  close(c.listen_fd);
  return 0;
}

TEST(cancelled_reader_keeps_bytes_read_into_its_buffer) {
  test_run_main(direct_main, NULL);
}

/* ---- asyncio 3.13 parity: limits, several separators, water marks ---- */

static int nonpositive_limit_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_and_close_handler, "x", &port);
  cio_stream *s = (cio_stream *)1;
  /* CPython: open_connection(limit=0) and limit=-1 raise
   * ValueError('Limit cannot be <= 0'); 0 never means the default. */
  cio_stream_opts zero = {.limit = 0}, neg = {.limit = -1};
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, &zero), CIO_EINVAL);
  CHECK(s == NULL);
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, &neg), CIO_EINVAL);
  cio_server *bad = (cio_server *)1;
  CHECK_EQ(cio_start_server(&bad, echo_handler, NULL, "127.0.0.1", 0,
                            &(cio_server_opts){.stream = &zero}),
           CIO_EINVAL);
  CHECK(bad == NULL);
  const char *argv[] = {"true", NULL};
  cio_process *p = (cio_process *)1;
  CHECK_EQ(cio_create_subprocess_exec(
               &p, argv, &(cio_process_opts){.stream = &neg}),
           CIO_EINVAL);
  CHECK(p == NULL);
  /* NULL options (and options without stream options) are the defaults. */
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(limit_of_zero_or_less_is_refused) {
  test_run_main(nonpositive_limit_main, NULL);
}

/* Read the server's whole message into the buffer before asserting. */
static cio_stream *connect_buffered(int port, size_t want,
                                    const cio_stream_opts *o) {
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, o), 0);
  while (!cio_stream_at_eof(s) && cio_stream_buffered(s) < want)
    CHECK_EQ(cio_sleep(0.01), 0);
  return s;
}

static int seps_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv =
      start(send_and_close_handler, "ab\r\ncd\nef!!gh|xyz", &port);
  cio_stream *s = connect_buffered(port, 17, NULL);
  const void *seps[] = {"\n", "\r\n", "!!"};
  size_t lens[] = {1, 2, 2};
  char buf[64];
  size_t n;
  /* CPython 3.13: readuntil((b'\n', b'\r\n', b'!!')) on b'ab\r\ncd\n...'
   * returns b'ab\r\n': both "\r\n" and "\n" end at 4, the first match
   * (the one ending first, the shorter on a tie) wins; the chunk keeps
   * the whole b'\r\n'. */
  CHECK_EQ(cio_stream_readuntil_any(s, seps, lens, 3, buf, sizeof buf, &n), 4);
  CHECK(memcmp(buf, "ab\r\n", 4) == 0);
  CHECK_EQ(cio_stream_readuntil_any(s, seps, lens, 3, buf, sizeof buf, &n), 3);
  CHECK(memcmp(buf, "cd\n", 3) == 0);
  CHECK_EQ(cio_stream_readuntil_any(s, seps, lens, 3, buf, sizeof buf, &n), 4);
  CHECK(memcmp(buf, "ef!!", 4) == 0);
  /* Then b'gh|' ... with b'|' added: b'gh|'. */
  const void *more[] = {"!!", "|"};
  size_t mlens[] = {2, 1};
  CHECK_EQ(cio_stream_readuntil_any(s, more, mlens, 2, buf, sizeof buf, &n), 3);
  CHECK(memcmp(buf, "gh|", 3) == 0);
  /* EOF first: IncompleteReadError(partial=b'xyz'). */
  CHECK_EQ(cio_stream_readuntil_any(s, seps, lens, 3, buf, sizeof buf, &n),
           CIO_ENODATA);
  CHECK_EQ(n, 3);
  /* ValueError for an empty tuple or an empty separator. */
  CHECK_EQ(cio_stream_readuntil_any(s, seps, lens, 0, buf, sizeof buf, &n),
           CIO_EINVAL);
  size_t zero[] = {1, 0};
  CHECK_EQ(cio_stream_readuntil_any(s, seps, zero, 2, buf, sizeof buf, &n),
           CIO_EINVAL);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(readuntil_several_separators_first_match_wins) {
  test_run_main(seps_main, NULL);
}

static int seps_limit_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_and_close_handler, "0123456789", &port);
  cio_stream_opts o = {.limit = 5};
  cio_stream *s = connect_buffered(port, 10, &o);
  const void *seps[] = {"#", "####"};
  size_t lens[] = {1, 4};
  char buf[64];
  size_t n;
  /* CPython 3.13, limit=5, buffer b'0123456789', separators (b'#',
   * b'####'): LimitOverrunError('Separator is not found, and chunk
   * exceed the limit', consumed=7): the scan stops at len + 1 - the
   * longest separator, 11 - 4 = 7; the buffer is untouched. */
  CHECK_EQ(cio_stream_readuntil_any(s, seps, lens, 2, buf, sizeof buf, &n),
           CIO_ENOBUFS);
  CHECK_EQ(n, 7);
  CHECK_EQ(cio_stream_buffered(s), 10);
  /* With b'#' alone the same buffer reports consumed=10. */
  CHECK_EQ(cio_stream_readuntil(s, "#", 1, buf, sizeof buf, &n), CIO_ENOBUFS);
  CHECK_EQ(n, 10);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(readuntil_several_separators_limit_counts_to_the_longest) {
  test_run_main(seps_limit_main, NULL);
}

static int limits_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port;
  cio_server *srv = start(send_and_wait_handler, "x", &port);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  size_t high = 0, low = 0;
  /* CPython: get_write_buffer_limits() is (16384, 65536) by default:
   * (low, high) with low = high // 4. */
  CHECK_EQ(cio_stream_get_write_buffer_limits(s, &high, &low), 0);
  CHECK_EQ(high, 65536);
  CHECK_EQ(low, 16384);
  /* set_write_buffer_limits(high=1000) gives (250, 1000). */
  CHECK_EQ(cio_stream_set_write_buffer_limits(s, 1000, 0), 0);
  CHECK_EQ(cio_stream_get_write_buffer_limits(s, &high, &low), 0);
  CHECK_EQ(high, 1000);
  CHECK_EQ(low, 250);
  CHECK_EQ(cio_stream_get_write_buffer_limits(s, NULL, NULL), 0);
  CHECK_EQ(cio_stream_get_write_buffer_limits(NULL, &high, &low), CIO_EINVAL);
  CHECK_EQ(cio_stream_close(s), 0);
  cio_stream_opts o = {.limit = CIO_STREAM_DEFAULT_LIMIT,
                       .write_high_water = 4096, .write_low_water = 100};
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, &o), 0);
  CHECK_EQ(cio_stream_get_write_buffer_limits(s, &high, &low), 0);
  CHECK_EQ(high, 4096);
  CHECK_EQ(low, 100);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(write_buffer_limits_can_be_read_back) {
  test_run_main(limits_main, NULL);
}
