/* fd_wait: wait for a file descriptor casyncio does not own.
 *
 * Libraries such as libpq, libcurl or an SSL library keep their own
 * sockets and say "call me when this descriptor is readable".  Two ways
 * to do that:
 *
 * 1. A callback (asyncio's loop.add_reader), as in the example of
 *    Python's documentation that watches one end of a socket pair:
 *
 *      rsock, wsock = socket.socketpair()
 *      def reader():
 *          data = rsock.recv(100)
 *          print("Received:", data.decode())
 *          loop.remove_reader(rsock)
 *      loop.add_reader(rsock, reader)
 *      loop.call_soon(wsock.send, 'abc'.encode())
 *
 * 2. A task that waits in line (cio_fd_wait), with a timeout: the first
 *    wait gives up after 0.1 s because nothing has been written yet; the
 *    second is woken when a writer task sends, 0.3 s in.
 *
 * Output:
 *
 *   add_reader: received abc
 *   fd_wait: nothing after 0.1 s (timed out)
 *   writer: sending 'hello'
 *   fd_wait: readable, read 'hello'
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "casyncio.h"

struct pair {
  int rfd, wfd;
  cio_event *got;
};

/* 1. The reader callback: runs on the loop whenever rfd is readable. */
static void reader(void *arg) {
  struct pair *p = arg;
  char buf[100];
  ssize_t n = read(p->rfd, buf, sizeof buf);
  if (n > 0)
    printf("add_reader: received %.*s\n", (int)n, buf);
  cio_loop_remove_reader(NULL, p->rfd);
  cio_event_set(p->got);
}

static void send_abc(void *arg) {
  struct pair *p = arg;
  if (write(p->wfd, "abc", 3) != 3)
    perror("write");
}

/* 2. A writer task, and a task waiting with cio_fd_wait(). */
static int writer(void *arg, void **result) {
  (void)result;
  struct pair *p = arg;
  int rc = cio_sleep(0.3);
  if (rc < 0)
    return rc;
  printf("writer: sending 'hello'\n");
  return write(p->wfd, "hello", 5) == 5 ? 0 : CIO_EIO;
}

static int wait_and_read(struct pair *p) {
  int rc = cio_fd_wait(p->rfd, CIO_READABLE, 0.1);
  if (rc == CIO_ETIMEDOUT)
    printf("fd_wait: nothing after 0.1 s (timed out)\n");
  rc = cio_fd_wait(p->rfd, CIO_READABLE, 2.0);
  if (rc < 0)
    return rc;
  char buf[100];
  ssize_t n = read(p->rfd, buf, sizeof buf);
  if (n < 0)
    return CIO_EIO;
  printf("fd_wait: readable, read '%.*s'\n", (int)n, buf);
  return 0;
}

static int amain(void *arg, void **result) {
  (void)result;
  struct pair *p = arg;
  int rc = cio_event_new(&p->got);
  if (rc == 0)
    rc = cio_loop_add_reader(NULL, p->rfd, reader, p);
  if (rc == 0)
    rc = cio_loop_call_soon(NULL, send_abc, p, NULL);
  if (rc == 0)
    rc = cio_event_wait(p->got);
  cio_task *w = NULL;
  if (rc == 0)
    rc = cio_create_task(NULL, &w, writer, p, NULL);
  if (rc == 0)
    rc = wait_and_read(p);
  if (w != NULL) {
    int wrc = cio_task_join(w, NULL);
    rc = rc < 0 ? rc : wrc;
  }
  cio_loop_remove_reader(NULL, p->rfd); /* harmless if already removed */
  cio_event_free(p->got);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    perror("socketpair");
    return 1;
  }
  /* The descriptor stays ours: casyncio only watches it. */
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  struct pair p = {sv[0], sv[1], NULL};
  int rc = cio_run(amain, &p);
  close(sv[0]);
  close(sv[1]);
  if (rc < 0) {
    fprintf(stderr, "fd_wait: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
