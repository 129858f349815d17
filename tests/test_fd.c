/* Waiting on arbitrary file descriptors (cio_fd_wait, add_reader /
 * add_writer) and streams over descriptors the program already has
 * (open_connection(sock=), connect_read_pipe / connect_write_pipe), on
 * real pipes and sockets. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "casyncio.h"
#include "test.h"

/* ---- cio_fd_wait ------------------------------------------------------ */

struct pipe_pair {
  int r, w;
  double delay;
};

static int write_later(void *arg, void **result) {
  (void)result;
  struct pipe_pair *p = arg;
  int rc = cio_sleep(p->delay);
  if (rc < 0)
    return rc;
  test_log("write");
  CHECK_EQ(write(p->w, "x", 1), 1);
  return 0;
}

static int wait_readable_main(void *arg, void **result) {
  (void)arg, (void)result;
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  struct pipe_pair p = {fds[0], fds[1], 0.05};
  cio_task *w;
  CHECK_EQ(cio_create_task(NULL, &w, write_later, &p, NULL), 0);
  double t0 = test_now();
  int rc = cio_fd_wait(fds[0], CIO_READABLE, CIO_NO_TIMEOUT);
  test_log("woken");
  CHECK_EQ(rc, CIO_READABLE);
  CHECK(test_now() - t0 >= 0.045);
  char c;
  CHECK_EQ(read(fds[0], &c, 1), 1);
  CHECK_EQ(cio_task_join(w, NULL), 0);
  CHECK_STR(test_log_text(), "write woken ");
  close(fds[0]);
  close(fds[1]);
  return 0;
}

TEST(fd_wait_wakes_when_readable) {
  test_run_main(wait_readable_main, NULL);
}

static int both_events_main(void *arg, void **result) {
  (void)arg, (void)result;
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  /* Nothing to read, room to write: only CIO_WRITABLE comes back. */
  CHECK_EQ(cio_fd_wait(sv[0], CIO_READABLE | CIO_WRITABLE, 1.0), CIO_WRITABLE);
  CHECK_EQ(write(sv[1], "ab", 2), 2);
  CHECK_EQ(cio_fd_wait(sv[0], CIO_READABLE, 1.0), CIO_READABLE);
  CHECK_EQ(cio_fd_wait(sv[0], CIO_READABLE | CIO_WRITABLE, 1.0),
           CIO_READABLE | CIO_WRITABLE);
  close(sv[0]);
  close(sv[1]);
  return 0;
}

TEST(fd_wait_reports_the_events_that_are_ready) {
  test_run_main(both_events_main, NULL);
}

static int timeout_main(void *arg, void **result) {
  (void)arg, (void)result;
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  double t0 = test_now();
  CHECK_EQ(cio_fd_wait(fds[0], CIO_READABLE, 0.05), CIO_ETIMEDOUT);
  double dt = test_now() - t0;
  CHECK(dt >= 0.045 && dt < 1.0);
  /* The watch is gone: the fd can be closed and its number reused. */
  close(fds[0]);
  close(fds[1]);
  return 0;
}

TEST(fd_wait_times_out) {
  test_run_main(timeout_main, NULL);
}

static int waiter(void *arg, void **result) {
  int fd = *(int *)arg;
  int rc = cio_fd_wait(fd, CIO_READABLE, CIO_NO_TIMEOUT);
  *result = (void *)(intptr_t)rc;
  return rc < 0 ? rc : 0;
}

static int cancel_main(void *arg, void **result) {
  (void)arg, (void)result;
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, waiter, &fds[0], NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0);
  CHECK_EQ(cio_task_cancel(t), 1);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  /* No watch is left: a stream may take the same descriptor now. */
  cio_stream *s;
  CHECK_EQ(cio_connect_read_pipe(&s, fds[0], NULL), 0);
  CHECK_EQ(write(fds[1], "hi", 2), 2);
  char buf[8];
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 2);
  CHECK_EQ(cio_stream_close(s), 0);
  close(fds[1]);
  return 0;
}

TEST(fd_wait_cancelled_leaves_no_watch) {
  test_run_main(cancel_main, NULL);
}

static int two_waiters_main(void *arg, void **result) {
  (void)arg, (void)result;
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  cio_task *a, *b;
  CHECK_EQ(cio_create_task(NULL, &a, waiter, &fds[0], NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &b, waiter, &fds[0], NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0);
  CHECK_EQ(write(fds[1], "x", 1), 1);
  void *ra, *rb;
  CHECK_EQ(cio_task_join(a, &ra), 0);
  CHECK_EQ(cio_task_join(b, &rb), 0);
  CHECK_EQ((intptr_t)ra, CIO_READABLE);
  CHECK_EQ((intptr_t)rb, CIO_READABLE);
  close(fds[0]);
  close(fds[1]);
  return 0;
}

TEST(fd_wait_wakes_every_waiter) {
  test_run_main(two_waiters_main, NULL);
}

static int refused_main(void *arg, void **result) {
  (void)arg, (void)result;
  /* A port nobody listens on: bind one, then close it. */
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
  socklen_t len = sizeof sin;
  CHECK_EQ(getsockname(l, (struct sockaddr *)&sin, &len), 0);
  close(l);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
  CHECK(rc == 0 || errno == EINPROGRESS || errno == ECONNREFUSED);
  if (rc != 0 && errno == EINPROGRESS) {
    /* The failure makes the socket "ready": the caller then asks it. */
    CHECK(cio_fd_wait(fd, CIO_WRITABLE, 5.0) & CIO_WRITABLE);
    int err = 0;
    socklen_t elen = sizeof err;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
    CHECK_EQ(err, ECONNREFUSED);
  }
  close(fd);
  return 0;
}

TEST(fd_wait_reports_a_failed_connect_as_ready) {
  test_run_main(refused_main, NULL);
}

static int bad_args_main(void *arg, void **result) {
  (void)arg, (void)result;
  CHECK_EQ(cio_fd_wait(-1, CIO_READABLE, 1.0), CIO_EBADF);
  CHECK_EQ(cio_fd_wait(0, 0, 1.0), CIO_EINVAL);
  CHECK_EQ(cio_fd_wait(0, 4, 1.0), CIO_EINVAL);
  CHECK_EQ(cio_fd_wait(0, CIO_READABLE, NAN), CIO_EINVAL);
  char path[] = "/tmp/cio_fd_XXXXXX";
  int f = mkstemp(path);
  CHECK(f >= 0);
  unlink(path);
  CHECK_EQ(cio_fd_wait(f, CIO_READABLE, 1.0), CIO_EPERM);
  CHECK_EQ(cio_loop_add_reader(NULL, f, (cio_callback_fn)abort, NULL),
           CIO_EPERM);
  /* Closed descriptor. */
  close(f);
  CHECK_EQ(cio_fd_wait(f, CIO_READABLE, 1.0), CIO_EBADF);
  /* A descriptor a stream owns. */
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection_sock(&s, sv[0], NULL), 0);
  CHECK_EQ(cio_fd_wait(sv[0], CIO_READABLE, 1.0), CIO_EEXIST);
  CHECK_EQ(cio_stream_close(s), 0);
  close(sv[1]);
  return 0;
}

TEST(fd_wait_refuses_bad_arguments) {
  CHECK_EQ(cio_fd_wait(0, CIO_READABLE, 1.0), CIO_EPERM); /* no task */
  test_run_main(bad_args_main, NULL);
}

/* ---- add_reader / add_writer ----------------------------------------- */

struct reader_state {
  int fd;
  int calls;
  cio_event *done;
};

static void on_readable(void *arg) {
  struct reader_state *r = arg;
  r->calls++;
  test_log("r%d", r->calls);
  if (r->calls == 3) {
    /* Level-triggered: unread data keeps calling until it is read. */
    char buf[16];
    CHECK(read(r->fd, buf, sizeof buf) > 0);
    CHECK_EQ(cio_loop_remove_reader(NULL, r->fd), 1);
    cio_event_set(r->done);
  }
}

static int reader_main(void *arg, void **result) {
  (void)arg, (void)result;
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  struct reader_state r = {.fd = fds[0]};
  CHECK_EQ(cio_event_new(&r.done), 0);
  CHECK_EQ(cio_loop_add_reader(NULL, fds[0], on_readable, &r), 0);
  CHECK_EQ(cio_sleep(0.02), 0);
  CHECK_EQ(r.calls, 0); /* nothing to read yet */
  CHECK_EQ(write(fds[1], "x", 1), 1);
  CHECK_EQ(cio_event_wait(r.done), 0);
  CHECK_EQ(cio_sleep(0.02), 0);
  CHECK_EQ(r.calls, 3); /* removed: no more calls */
  CHECK_STR(test_log_text(), "r1 r2 r3 ");
  CHECK_EQ(cio_loop_remove_reader(NULL, fds[0]), 0);
  cio_event_free(r.done);
  close(fds[0]);
  close(fds[1]);
  return 0;
}

TEST(add_reader_is_level_triggered_until_removed) {
  test_run_main(reader_main, NULL);
}

static void first_cb(void *arg) {
  (void)arg;
  test_log("first");
}

static void second_cb(void *arg) {
  int fd = *(int *)arg;
  test_log("second");
  cio_loop_remove_writer(NULL, fd);
}

static int writer_main(void *arg, void **result) {
  (void)arg, (void)result;
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  /* Registering again replaces the callback, as asyncio does. */
  CHECK_EQ(cio_loop_add_writer(NULL, sv[0], first_cb, NULL), 0);
  CHECK_EQ(cio_loop_add_writer(NULL, sv[0], second_cb, &sv[0]), 0);
  CHECK_EQ(cio_sleep(0.02), 0);
  CHECK_STR(test_log_text(), "second ");
  CHECK_EQ(cio_loop_remove_writer(NULL, sv[0]), 0);
  close(sv[0]);
  close(sv[1]);
  return 0;
}

TEST(add_writer_replaces_and_removes) {
  test_run_main(writer_main, NULL);
}

static void never(void *arg) {
  (void)arg;
}

static int leftover_main(void *arg, void **result) {
  (void)result;
  int *fds = arg;
  CHECK_EQ(cio_loop_add_reader(NULL, fds[0], never, NULL), 0);
  return 0; /* still registered: cio_run's close removes it */
}

TEST(loop_close_removes_leftover_readers) {
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  test_run_main(leftover_main, fds);
  close(fds[0]);
  close(fds[1]);
}

/* ---- streams over existing descriptors ------------------------------- */

static int sock_stream_main(void *arg, void **result) {
  (void)arg, (void)result;
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection_sock(&s, sv[0], NULL), 0);
  CHECK_EQ(write(sv[1], "ping\n", 5), 5);
  char line[16];
  CHECK_EQ(cio_stream_readline(s, line, sizeof line), 5);
  CHECK_EQ(cio_stream_write(s, "pong", 4), 0);
  CHECK_EQ(cio_stream_drain(s), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  /* The stream closed sv[0]: the peer reads the bytes, then EOF. */
  char buf[8];
  CHECK_EQ(read(sv[1], buf, sizeof buf), 4);
  CHECK_EQ(read(sv[1], buf, sizeof buf), 0);
  close(sv[1]);
  return 0;
}

TEST(open_connection_sock_adopts_a_connected_socket) {
  test_run_main(sock_stream_main, NULL);
}

static int pipes_main(void *arg, void **result) {
  (void)arg, (void)result;
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  cio_stream *r, *w;
  CHECK_EQ(cio_connect_read_pipe(&r, fds[0], NULL), 0);
  CHECK_EQ(cio_connect_write_pipe(&w, fds[1], NULL), 0);
  CHECK_EQ(cio_stream_write(w, "through the pipe", 16), 0);
  CHECK_EQ(cio_stream_close(w), 0);
  void *data;
  size_t len;
  CHECK_EQ(cio_stream_read_all(r, &data, &len), 0);
  CHECK_EQ(len, 16);
  CHECK(memcmp(data, "through the pipe", 16) == 0);
  free(data);
  CHECK_EQ(cio_stream_close(r), 0);
  return 0;
}

TEST(connect_read_and_write_pipe) {
  test_run_main(pipes_main, NULL);
}

static int adopt_errors_main(void *arg, void **result) {
  (void)arg, (void)result;
  cio_stream *s = (cio_stream *)&s;
  char path[] = "/tmp/cio_fd_XXXXXX";
  int f = mkstemp(path);
  unlink(path);
  CHECK_EQ(cio_connect_read_pipe(&s, f, NULL), CIO_EINVAL);
  CHECK(s == NULL);
  CHECK(fcntl(f, F_GETFD) >= 0); /* still the caller's */
  close(f);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  CHECK_EQ(cio_open_connection_sock(&s, u, NULL), CIO_EINVAL);
  close(u);
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  CHECK_EQ(cio_open_connection_sock(&s, fds[0], NULL), CIO_EINVAL);
  close(fds[0]);
  close(fds[1]);
  CHECK_EQ(cio_connect_read_pipe(&s, -1, NULL), CIO_EBADF);
  CHECK_EQ(cio_connect_read_pipe(NULL, 0, NULL), CIO_EINVAL);
  return 0;
}

TEST(adopting_refuses_what_is_not_a_stream) {
  test_run_main(adopt_errors_main, NULL);
}

static void readd_cb(void *arg) {
  int *fds = arg;
  char c;
  CHECK_EQ(read(fds[0], &c, 1), 1);
  test_log("got:%c", c);
  /* Removed and added again in the same batch, as libcurl and libpq do:
   * the watch is reused, and the next byte is still seen. */
  CHECK_EQ(cio_loop_remove_reader(NULL, fds[0]), 1);
  if (c == 'a')
    CHECK_EQ(cio_loop_add_reader(NULL, fds[0], readd_cb, fds), 0);
}

static int readd_main(void *arg, void **result) {
  (void)arg, (void)result;
  static int fds[2];
  CHECK_EQ(pipe(fds), 0);
  TRY(cio_loop_add_reader(NULL, fds[0], readd_cb, fds));
  CHECK_EQ(write(fds[1], "a", 1), 1);
  TRY(cio_sleep(0.02));
  CHECK_EQ(write(fds[1], "b", 1), 1);
  TRY(cio_sleep(0.02));
  CHECK_STR(test_log_text(), "got:a got:b ");
  close(fds[0]);
  close(fds[1]);
  return 0;
}

TEST(reader_removed_and_added_again_in_one_batch_keeps_working) {
  test_run_main(readd_main, NULL);
}
