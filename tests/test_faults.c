/* Faults from outside, each made deterministic: a peer that resets right
 * after sending, a server out of file descriptors, children killed in the
 * middle of a pipe transfer, a full disk. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

static int listen_loopback(int backlog, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  CHECK_EQ(listen(fd, backlog), 0);
  socklen_t len = sizeof sin;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  *port = ntohs(sin.sin_port);
  return fd;
}

static void block_loop_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- a peer that resets right after sending ----------------------------
 *
 * The peer (a plain socket on a thread) accepts, waits for the client's
 * byte, sends a whole line and the start of another, and closes with
 * SO_LINGER 0: a reset, never a FIN, whatever the timing.  The documented
 * outcome (include/casyncio.h, Streams): every byte received before the
 * reset is read first (complete lines by readline, the rest by read),
 * then the reads return CIO_ECONNRESET; never a clean end of file. */

#define SENT "line one\npartial"

struct rude {
  int lfd;
};

static void *rude_peer(void *arg) {
  struct rude *r = arg;
  int c = accept(r->lfd, NULL, NULL);
  char b;
  if (c >= 0 && read(c, &b, 1) == 1) {
    CHECK_EQ(write(c, SENT, strlen(SENT)), (ssize_t)strlen(SENT));
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(c);
  return NULL;
}

/* When the client looks: already reading when the bytes and the reset
 * arrive; after both arrived; or after both arrived *and* it wrote
 * first, which takes the reset's error from the socket so that the next
 * read(2) returns 0, a clean end of file to anyone not careful. */
enum timing { READING_FIRST, LOOKS_LATE, WRITES_FIRST };

static int reset_main(void *arg, void **result) {
  (void)result;
  int *a = arg;
  int port = a[0];
  enum timing timing = (enum timing)a[1];
  cio_stream *s;
  TRY(cio_open_connection(&s, "127.0.0.1", port, NULL));
  CHECK_EQ(cio_stream_write(s, "g", 1), 0);
  TRY(cio_stream_drain(s));
  if (timing != READING_FIRST)
    block_loop_ms(200); /* the loop reads nothing meanwhile */
  if (timing == WRITES_FIRST) {
    int rc = cio_stream_write(s, "more", 4);
    CHECK(rc == CIO_ECONNRESET || rc == CIO_EPIPE);
  }
  char buf[64];
  ssize_t n = cio_stream_readline(s, buf, sizeof buf);
  CHECK_EQ(n, 9);
  CHECK(memcmp(buf, "line one\n", 9) == 0);
  /* The partial line is not a line: the reset is reported, and the
   * bytes stay buffered for read. */
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), CIO_ECONNRESET);
  CHECK_EQ(cio_stream_buffered(s), 7);
  size_t got;
  CHECK_EQ(cio_stream_readexactly(s, buf, 8, &got), CIO_ECONNRESET);
  CHECK_EQ(got, 0);
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), 7);
  CHECK(memcmp(buf, "partial", 7) == 0);
  CHECK_EQ(cio_stream_read(s, buf, sizeof buf), CIO_ECONNRESET);
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), CIO_ECONNRESET);
  CHECK_EQ(cio_stream_error(s), CIO_ECONNRESET);
  CHECK(!cio_stream_at_eof(s) || cio_stream_error(s) != 0);
  CHECK_EQ(cio_stream_close(s), 0);
  return 0;
}

static void reset_case(enum timing timing) {
  struct rude r;
  int port;
  r.lfd = listen_loopback(1, &port);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, rude_peer, &r), 0);
  int a[2] = {port, (int)timing};
  test_run_main(reset_main, a);
  pthread_join(th, NULL);
  close(r.lfd);
}

TEST(reset_after_send_reader_waiting) {
  reset_case(READING_FIRST);
}

TEST(reset_after_send_reader_late) {
  reset_case(LOOKS_LATE);
}

TEST(reset_after_send_write_took_the_error) {
  reset_case(WRITES_FIRST);
}

/* ---- a storm of clients against a server out of descriptors -------------
 *
 * The server's process may hold only a few descriptors more than it has;
 * a client process (not limited) opens CLIENTS connections at once, each
 * sends a line and waits for its echo.  The server accepts what it can,
 * backs off while accept fails with EMFILE (the others wait in the
 * backlog) and goes on as its handlers end and free descriptors: every
 * client is answered, and the server still serves. */

#define CLIENTS 300
#define SPARE_FDS 24

/* The client process: plain non-blocking sockets and poll.  Exits 0 when
 * every client got its echo back within the time limit. */
static int client_storm(int port) {
  struct pollfd pf[CLIENTS];
  char line[CLIENTS][32];
  size_t got[CLIENTS] = {0};
  int done = 0;
  for (int i = 0; i < CLIENTS; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
      return 2;
    snprintf(line[i], sizeof line[i], "client %d\n", i);
    if (write(fd, line[i], strlen(line[i])) != (ssize_t)strlen(line[i]))
      return 3;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    pf[i] = (struct pollfd){.fd = fd, .events = POLLIN};
  }
  double t0 = test_now();
  while (done < CLIENTS && test_now() - t0 < 60) {
    if (poll(pf, CLIENTS, 1000) < 0)
      return 4;
    for (int i = 0; i < CLIENTS; i++) {
      if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buf[64];
      ssize_t n = read(pf[i].fd, buf, sizeof buf);
      if (n <= 0)
        return 5; /* closed or reset before its echo */
      if (memcmp(buf, line[i] + got[i], (size_t)n) != 0)
        return 6;
      got[i] += (size_t)n;
      if (got[i] == strlen(line[i])) {
        close(pf[i].fd);
        pf[i].fd = -1;
        done++;
      }
    }
  }
  return done == CLIENTS ? 0 : 7;
}

struct storm_server {
  int port;
  pid_t clients;
  int served, live, max_live;
};

static int echo_once(cio_stream *s, void *arg) {
  struct storm_server *st = arg;
  st->live++;
  if (st->live > st->max_live)
    st->max_live = st->live;
  char line[64];
  ssize_t n = cio_stream_readline(s, line, sizeof line);
  int rc = n > 0 ? cio_stream_write(s, line, (size_t)n) : (int)n;
  if (rc == 0)
    rc = cio_stream_drain(s);
  if (rc == 0) {
    st->served++;
    while ((n = cio_stream_read(s, line, sizeof line)) > 0)
      ; /* until the client closes */
  }
  st->live--;
  return rc;
}

static int emfile_storm_main(void *arg, void **result) {
  (void)result;
  struct storm_server *st = arg;
  cio_server *srv;
  cio_server_opts o = {.backlog = 1024};
  CHECK_EQ(cio_start_server(&srv, echo_once, st, "127.0.0.1", 0, &o), 0);
  st->port = cio_server_port(srv);
  /* Lower the limit now: the loop, the server and SPARE_FDS more. */
  int fd = 0;
  for (int free_slots = 0; free_slots < SPARE_FDS; fd++)
    if (fcntl(fd, F_GETFD) == -1)
      free_slots++;
  struct rlimit rl;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = (rlim_t)fd;
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  st->clients = fork();
  if (st->clients == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    _exit(client_storm(st->port));
  }
  CHECK(st->clients > 0);
  double t0 = test_now();
  while (st->served < CLIENTS && test_now() - t0 < 60)
    CHECK_EQ(cio_sleep(0.05), 0);
  int status;
  CHECK_EQ(waitpid(st->clients, &status, 0), st->clients);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0); /* every client got its echo */
  CHECK_EQ(st->served, CLIENTS);
  CHECK(st->max_live < SPARE_FDS); /* it really was short of descriptors */
  CHECK(cio_server_is_serving(srv));
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(emfile_storm_server_keeps_serving) {
  struct rlimit was;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &was), 0);
  struct storm_server st = {0};
  test_run_main(emfile_storm_main, &st);
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &was), 0);
  printf("%d clients served, at most %d at once\n", st.served, st.max_live);
}

/* ---- children killed in the middle of a pipe transfer --------------------
 *
 * `cat` copies what one task writes to its stdin back to another task
 * reading its stdout; a third kills it with SIGKILL part way.  The writer
 * gets CIO_EPIPE (or CIO_ECONNRESET) from write or drain, the reader the
 * bytes cat had written (in order: a prefix of what went in) and then end
 * of file, the wait the signal; nothing leaks and no zombie is left. */

#define PIPE_TOTAL (8 << 20)

struct mid_pipe {
  cio_process *p;
  size_t written, read;
  int write_rc, read_rc;
  bool corrupt;
};

static unsigned char pipe_byte(size_t i) {
  return (unsigned char)(i % 251);
}

static int pipe_writer(void *arg, void **result) {
  (void)result;
  struct mid_pipe *m = arg;
  cio_stream *in = cio_process_stdin(m->p);
  static unsigned char buf[65536];
  int rc = 0;
  while (rc == 0 && m->written < PIPE_TOTAL) {
    for (size_t i = 0; i < sizeof buf; i++)
      buf[i] = pipe_byte(m->written + i);
    rc = cio_stream_write(in, buf, sizeof buf);
    if (rc == 0) {
      m->written += sizeof buf;
      rc = cio_stream_drain(in);
    }
  }
  m->write_rc = rc;
  return 0;
}

static int pipe_reader(void *arg, void **result) {
  (void)result;
  struct mid_pipe *m = arg;
  unsigned char buf[32768];
  ssize_t n;
  while ((n = cio_stream_read(cio_process_stdout(m->p), buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++)
      if (buf[i] != pipe_byte(m->read + (size_t)i))
        m->corrupt = true;
    m->read += (size_t)n;
  }
  m->read_rc = (int)n;
  return 0;
}

static int killed_mid_pipe_main(void *arg, void **result) {
  (void)arg, (void)result;
  struct mid_pipe m = {0};
  const char *argv[] = {"cat", NULL};
  cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
                        .stdout_mode = CIO_STDIO_PIPE};
  CHECK_EQ(cio_create_subprocess_exec(&m.p, argv, &o), 0);
  cio_task *w, *r;
  CHECK_EQ(cio_create_task(NULL, &w, pipe_writer, &m, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &r, pipe_reader, &m, NULL), 0);
  while (m.read < (1 << 20))
    CHECK_EQ(cio_sleep(0.001), 0);
  CHECK_EQ(cio_process_kill(m.p), 0);
  CHECK_EQ(cio_task_join(w, NULL), 0);
  CHECK_EQ(cio_task_join(r, NULL), 0);
  CHECK(m.write_rc == CIO_EPIPE || m.write_rc == CIO_ECONNRESET);
  CHECK_EQ(m.read_rc, 0); /* end of file, after what cat wrote */
  CHECK(!m.corrupt);
  CHECK(m.read >= (1 << 20) && m.read <= m.written && m.read < PIPE_TOTAL);
  int code;
  CHECK_EQ(cio_process_wait(m.p, &code), 0);
  CHECK_EQ(code, -SIGKILL);
  CHECK_EQ(cio_process_close(m.p), 0);
  return 0;
}

TEST(child_killed_mid_pipe) {
  test_run_main(killed_mid_pipe_main, NULL);
}

/* The same during communicate(): a child that stops reading its input is
 * not an error; what it wrote before it died comes back, the return code
 * says how it died. */
static int kill_later(void *arg, void **result) {
  (void)result;
  int rc = cio_sleep(0.05);
  if (rc == 0)
    rc = cio_process_kill(arg);
  return rc;
}

static int killed_in_communicate_main(void *arg, void **result) {
  (void)arg, (void)result;
  /* Copies its input, slowly enough to be killed in the middle. */
  const char *argv[] = {"sh", "-c", "while read l; do echo \"$l\"; done",
                        NULL};
  cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
                        .stdout_mode = CIO_STDIO_PIPE};
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(&p, argv, &o), 0);
  size_t len = 4 << 20;
  char *input = malloc(len);
  for (size_t i = 0; i < len; i++)
    input[i] = i % 10 == 9 ? '\n' : (char)('0' + i % 10);
  cio_task *k;
  CHECK_EQ(cio_create_task(NULL, &k, kill_later, p, NULL), 0);
  void *out;
  size_t out_len;
  CHECK_EQ(cio_process_communicate(p, input, len, &out, &out_len, NULL, NULL),
           0);
  CHECK(out_len < len);
  CHECK(memcmp(out, input, out_len) == 0); /* a prefix, in order */
  free(out);
  free(input);
  int code;
  CHECK_EQ(cio_process_returncode(p, &code), 0);
  CHECK_EQ(code, -SIGKILL);
  CHECK_EQ(cio_task_join(k, NULL), 0);
  CHECK_EQ(cio_process_close(p), 0);
  return 0;
}

TEST(child_killed_during_communicate) {
  test_run_main(killed_in_communicate_main, NULL);
}

/* ---- a full disk ----------------------------------------------------------
 *
 * A 64 KiB tmpfs, mounted by the test in a mount namespace of its own (so
 * it vanishes with the process, however the test ends): writes that do
 * not fit fail with CIO_ENOSPC, the bytes that fitted are on disk, and
 * once space is freed writing works again.  Needs root (CAP_SYS_ADMIN);
 * elsewhere the case is skipped, saying why. */

static char full_dir[64];

static void mount_small_tmpfs(void) {
  if (unshare(CLONE_NEWNS) != 0)
    test_skip("cannot make a mount namespace (unshare: %s): needs root",
              strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    test_skip("cannot make mounts private: %s", strerror(errno));
  snprintf(full_dir, sizeof full_dir, "/tmp/cio-full.XXXXXX");
  CHECK(mkdtemp(full_dir) != NULL);
  if (mount("tmpfs", full_dir, "tmpfs", 0, "size=64k") != 0) {
    int err = errno;
    rmdir(full_dir);
    test_skip("cannot mount a 64 KiB tmpfs on %s: %s", full_dir,
              strerror(err));
  }
}

static int disk_full_main(void *arg, void **result) {
  (void)arg, (void)result;
  char path[96], other[96];
  snprintf(path, sizeof path, "%s/big", full_dir);
  snprintf(other, sizeof other, "%s/small", full_dir);
  size_t len = 1 << 20;
  char *data = malloc(len);
  memset(data, 'x', len);
  int fd;
  CHECK_EQ(cio_fs_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd), 0);
  CHECK_EQ(cio_fs_write(fd, data, len), CIO_ENOSPC);
  cio_stat st;
  CHECK_EQ(cio_fs_fstat(fd, &st), 0);
  CHECK(st.size > 0 && st.size <= 64 * 1024); /* what fitted is there */
  CHECK_EQ(cio_fs_pwrite(fd, data, len, (int64_t)st.size), CIO_ENOSPC);
  CHECK_EQ(cio_fs_write(fd, "y", 1), CIO_ENOSPC); /* still full */
  CHECK_EQ(cio_fs_fsync(fd), 0);
  CHECK_EQ(cio_fs_close(fd), 0);
  /* Another file cannot grow either; freeing space lets it. */
  CHECK_EQ(cio_fs_open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd), 0);
  CHECK_EQ(cio_fs_write(fd, data, 8192), CIO_ENOSPC);
  CHECK_EQ(cio_fs_unlink(path), 0);
  CHECK_EQ(cio_fs_pwrite(fd, data, 8192, 0), 8192);
  CHECK_EQ(cio_fs_close(fd), 0);
  /* A stream to a file on the full disk (a pipe to a child writing it):
   * the child's failure comes back as its exit status. */
  CHECK_EQ(cio_fs_unlink(other), 0);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "cat > %s/copy", full_dir);
  cio_process *p;
  cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
                        .stderr_mode = CIO_STDIO_DEVNULL};
  CHECK_EQ(cio_create_subprocess_shell(&p, cmd, &o), 0);
  CHECK_EQ(cio_process_communicate(p, data, len, NULL, NULL, NULL, NULL), 0);
  int code;
  CHECK_EQ(cio_process_returncode(p, &code), 0);
  CHECK(code != 0); /* cat: write error: No space left on device */
  CHECK_EQ(cio_process_close(p), 0);
  free(data);
  return 0;
}

TEST(disk_full_for_file_writes) {
  mount_small_tmpfs();
  test_run_main(disk_full_main, NULL);
  CHECK_EQ(umount(full_dir), 0);
  CHECK_EQ(rmdir(full_dir), 0);
}
