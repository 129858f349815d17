/* Echo load client: C connections, each sending one SIZE-byte message,
 * waiting for all SIZE bytes to come back, and sending the next, for
 * WARMUP + SECONDS seconds on a single epoll thread.
 *
 *   echo_client HOST PORT CONNS SIZE SECONDS [SERVER_PID]
 *
 * Prints one line in the suite's format, counted over the last SECONDS
 * (the first half second warms up connections and caches):
 *
 *   echo/<SIZE>B/c<CONNS> <rt/s> ops/s <ns> ns/op server_user_us=..
 *     server_sys_us=.. client_cpu=..
 *
 * server_*_us are the server's user and system CPU microseconds per round
 * trip, read from /proc/SERVER_PID/stat at the start and end of the window
 * (omitted without SERVER_PID).  client_cpu is this process's CPU time over
 * the window divided by the window: near 1.0 means the client, not the
 * server, is the limit.
 *
 * The client is as lean as an echo client gets: level-triggered epoll, one
 * read() and usually one write() per round trip, no allocation after
 * connect, TCP_NODELAY.  Run it pinned to the core the server is not on. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
  int fd;
  size_t sent;     /* bytes of the current message written so far */
  size_t received; /* bytes of the current echo read so far */
  bool want_out;   /* EPOLLOUT registered because a write was short */
};

static size_t msg_size;
static char *out_buf, *in_buf;
static int epfd;
static uint64_t round_trips;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime and stime of `pid` in clock ticks; false if unreadable. */
static bool proc_cpu(long pid, unsigned long long *ut, unsigned long long *st) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* comm may hold spaces */
  if (p == NULL)
    return false;
  /* After ") ": state(3) ... utime is field 14, stime 15. */
  return sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                ut, st) == 2;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void set_out(struct conn *c, bool on) {
  if (c->want_out == on)
    return;
  c->want_out = on;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
                           .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
    die("epoll_ctl");
}

/* Write what is left of the current message. */
static void pump_out(struct conn *c) {
  while (c->sent < msg_size) {
    ssize_t n = write(c->fd, out_buf + c->sent, msg_size - c->sent);
    if (n < 0) {
      if (errno == EAGAIN)
        break;
      die("write");
    }
    c->sent += (size_t)n;
  }
  set_out(c, c->sent < msg_size);
}

static void pump_in(struct conn *c) {
  ssize_t n = read(c->fd, in_buf, msg_size - c->received);
  if (n < 0) {
    if (errno == EAGAIN)
      return;
    die("read");
  }
  if (n == 0) {
    fprintf(stderr, "echo_client: server closed a connection\n");
    exit(1);
  }
  c->received += (size_t)n;
  if (c->received == msg_size) { /* a full echo: next message */
    round_trips++;
    c->received = 0;
    c->sent = 0;
    pump_out(c);
  }
}

static int connect_one(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0)
    die("socket");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "echo_client: bad address %s\n", host);
    exit(2);
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 &&
      errno != EINPROGRESS)
    die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr,
            "usage: echo_client HOST PORT CONNS SIZE SECONDS [SERVER_PID]\n");
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  int nconns = atoi(argv[3]);
  msg_size = (size_t)atol(argv[4]);
  double seconds = atof(argv[5]);
  long server_pid = argc > 6 ? atol(argv[6]) : 0;
  if (nconns <= 0 || msg_size == 0 || seconds <= 0)
    return 2;

  out_buf = malloc(msg_size);
  in_buf = malloc(msg_size);
  struct conn *conns = calloc((size_t)nconns, sizeof *conns);
  struct epoll_event *evs = calloc((size_t)nconns, sizeof *evs);
  if (!out_buf || !in_buf || !conns || !evs)
    die("malloc");
  memset(out_buf, 'x', msg_size);
  epfd = epoll_create1(0);
  if (epfd < 0)
    die("epoll_create1");
  /* Connect all first, then start: a non-blocking connect completes on
   * the first writability, which pump_out() waits for like a short write. */
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = connect_one(host, port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
      die("epoll_ctl");
  }
  for (int i = 0; i < nconns; i++)
    set_out(&conns[i], true);

  double warmup = 0.5, t_start = now_s(), t_measure = t_start + warmup;
  double t_end = t_measure + seconds, cpu0 = 0;
  uint64_t rt0 = 0;
  unsigned long long ut0 = 0, st0 = 0, ut1 = 0, st1 = 0;
  bool measuring = false, have_server = false;
  for (;;) {
    int n = epoll_wait(epfd, evs, nconns, 100);
    if (n < 0 && errno != EINTR)
      die("epoll_wait");
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
        fprintf(stderr, "echo_client: connection failed\n");
        return 1;
      }
      if (evs[i].events & EPOLLOUT)
        pump_out(c);
      if (evs[i].events & EPOLLIN)
        pump_in(c);
    }
    double t = now_s();
    if (!measuring && t >= t_measure) {
      measuring = true;
      t_measure = t;
      t_end = t + seconds;
      rt0 = round_trips;
      cpu0 = cpu_s();
      have_server = server_pid > 0 && proc_cpu(server_pid, &ut0, &st0);
    } else if (measuring && t >= t_end) {
      if (have_server)
        have_server = proc_cpu(server_pid, &ut1, &st1);
      double elapsed = t - t_measure;
      double cpu = (cpu_s() - cpu0) / elapsed;
      double rts = (double)(round_trips - rt0);
      if (rts == 0) {
        fprintf(stderr, "echo_client: no round trips\n");
        return 1;
      }
      printf("echo/%zuB/c%d %.0f ops/s %.2f ns/op", msg_size, nconns,
             rts / elapsed, elapsed * 1e9 / rts);
      if (have_server) {
        double us_per_tick = 1e6 / (double)sysconf(_SC_CLK_TCK);
        printf(" server_user_us=%.3f server_sys_us=%.3f",
               (double)(ut1 - ut0) * us_per_tick / rts,
               (double)(st1 - st0) * us_per_tick / rts);
      }
      printf(" client_cpu=%.2f\n", cpu);
      return 0;
    }
  }
}
