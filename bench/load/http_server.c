/* The server of the HTTP client benchmark: as fast as an HTTP/1.1 server
 * gets, so that the clients, not the server, are measured.
 *
 *   http_server PORT
 *
 * One thread, level-triggered epoll, keep-alive.  Every request (a head
 * ending in a blank line; the benchmark sends GETs without bodies) gets
 * the same 13-byte answer; requests that arrive together (pipelined) are
 * answered with one write.  No parsing beyond finding "\r\n\r\n", no
 * allocation after accept.  Run it pinned to the core the client is not
 * on; it serves until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char reply[] = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: text/plain\r\n"
                            "Content-Length: 13\r\n"
                            "\r\n"
                            "Hello, World!";
#define REPLY_LEN (sizeof reply - 1)
#define MAX_BATCH 64

struct conn {
  int fd;
  size_t have;    /* bytes of an unfinished head kept in buf */
  char buf[8192];
};

/* Count complete heads in c->buf and keep the unfinished tail. */
static int take_heads(struct conn *c) {
  int n = 0;
  char *p = c->buf, *end = c->buf + c->have;
  char *h;
  while ((h = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) != NULL) {
    n++;
    p = h + 4;
  }
  c->have = (size_t)(end - p);
  memmove(c->buf, p, c->have);
  return n;
}

static void drop(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

static void serve(int ep, struct conn *c) {
  static char out[REPLY_LEN * MAX_BATCH];
  ssize_t n = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    drop(ep, c);
    return;
  }
  c->have += (size_t)n;
  int heads = take_heads(c);
  if (c->have == sizeof c->buf) { /* a head larger than we take */
    drop(ep, c);
    return;
  }
  while (heads > 0) {
    int k = heads < MAX_BATCH ? heads : MAX_BATCH;
    for (int i = 0; i < k; i++)
      memcpy(out + (size_t)i * REPLY_LEN, reply, REPLY_LEN);
    size_t len = (size_t)k * REPLY_LEN, off = 0;
    while (off < len) { /* tiny answers: the socket buffer takes them */
      ssize_t w = write(c->fd, out + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        drop(ep, c);
        return;
      }
      off += (size_t)w;
    }
    heads -= k;
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8080;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
    perror("http_server");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c != NULL) {
        serve(ep, c);
        continue;
      }
      int fd;
      while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof *c);
        c->fd = fd;
        struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
      }
    }
  }
}
