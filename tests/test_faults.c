/* Faults from outside, each made deterministic: a peer that resets right
 * after sending, a server out of file descriptors, children killed in the
 * middle of a pipe transfer, a full disk. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
