/* TLS load client for bench/suites/tls.py: OpenSSL on non-blocking
 * sockets, one epoll thread, no certificate check (the server's cost is
 * what is measured; the handshake's own signature is still verified).
 *
 *   tls_client echo HOST PORT CONNS SIZE SECONDS [SERVER_PID]
 *     CONNS connections, each sending one SIZE-byte message, waiting for
 *     the whole echo and sending the next.
 *   tls_client handshake HOST PORT CONNS SECONDS [SERVER_PID]
 *     CONNS connections at a time, each: connect, full handshake (no
 *     resumption), close_notify, close; then the next.
 *
 * Prints one line in bench/bench.h's format over the last SECONDS (after
 * a half-second warm-up):
 *
 *   tls_echo/<SIZE>B/c<CONNS> <rt/s> ops/s <ns> ns/op server_user_us=..
 *     server_sys_us=.. client_cpu=..
 *   tls_handshake/c<CONNS> <hs/s> ops/s ... (the same fields, per
 *     handshake)
 *
 * server_*_us: the server's CPU microseconds per operation from
 * /proc/SERVER_PID/stat; client_cpu near 1.0 means this client is the
 * limit.  Build: cc -O2 tls_client.c $(pkg-config --cflags --libs openssl) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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

enum phase { CONNECTING, HANDSHAKING, SENDING, RECEIVING };

struct conn {
  int fd;
  SSL *ssl;
  enum phase phase;
  size_t sent, received;
};

static SSL_CTX *ctx;
static struct sockaddr_in addr;
static int epfd;
static size_t msg_size;
static char *out_buf, *in_buf;
static uint64_t ops;
static bool handshake_mode;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime and stime of `pid` in clock ticks, from /proc/PID/stat. */
static bool server_ticks(int pid, double *user, double *sys) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL)
    return false;
  unsigned long ut, st;
  /* After ")": state, then fields 4..13; utime and stime are 14 and 15. */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
             &ut, &st) != 2)
    return false;
  *user = (double)ut;
  *sys = (double)st;
  return true;
}

static void die(const char *what) {
  fprintf(stderr, "tls_client: %s: %s\n", what, strerror(errno));
  ERR_print_errors_fp(stderr);
  exit(1);
}

static void watch(struct conn *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
    die("epoll_ctl");
}

static void conn_open(struct conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0)
    die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 &&
      errno != EINPROGRESS)
    die("connect");
  c->ssl = SSL_new(ctx);
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_connect_state(c->ssl);
  c->phase = HANDSHAKING;
  c->sent = c->received = 0;
  watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
}

static void conn_close(struct conn *c) {
  SSL_shutdown(c->ssl); /* close_notify, not waiting for the answer */
  SSL_free(c->ssl);
  close(c->fd);
}

/* Wait for what OpenSSL asks for. */
static void want(struct conn *c, int r) {
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ)
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
  else if (e == SSL_ERROR_WANT_WRITE)
    watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  else {
    fprintf(stderr, "tls_client: TLS error %d\n", e);
    ERR_print_errors_fp(stderr);
    exit(1);
  }
}

/* Advance one connection as far as it goes without blocking. */
static void step(struct conn *c) {
  for (;;) {
    if (c->phase == HANDSHAKING) {
      int r = SSL_do_handshake(c->ssl);
      if (r != 1)
        return want(c, r);
      if (handshake_mode) {
        ops++;
        conn_close(c);
        conn_open(c);
        return;
      }
      c->phase = SENDING;
    }
    if (c->phase == SENDING) {
      size_t done;
      int r = SSL_write_ex(c->ssl, out_buf + c->sent, msg_size - c->sent,
                           &done);
      if (r != 1)
        return want(c, r);
      c->sent += done;
      if (c->sent < msg_size)
        continue;
      c->phase = RECEIVING;
      c->received = 0;
    }
    size_t got;
    int r = SSL_read_ex(c->ssl, in_buf, msg_size - c->received, &got);
    if (r != 1)
      return want(c, r);
    c->received += got;
    if (c->received == msg_size) {
      ops++;
      c->phase = SENDING;
      c->sent = 0;
    }
  }
}

static void run_for(double seconds) {
  double end = now_s() + seconds;
  struct epoll_event evs[256];
  while (now_s() < end) {
    int n = epoll_wait(epfd, evs, 256, 100);
    for (int i = 0; i < n; i++)
      step(evs[i].data.ptr);
  }
}

int main(int argc, char **argv) {
  handshake_mode = argc > 1 && strcmp(argv[1], "handshake") == 0;
  int base = handshake_mode ? 6 : 7;
  if (argc < base) {
    fprintf(stderr, "usage: tls_client echo HOST PORT CONNS SIZE SECONDS "
                    "[PID]\n       tls_client handshake HOST PORT CONNS "
                    "SECONDS [PID]\n");
    return 2;
  }
  int conns = atoi(argv[4]);
  msg_size = handshake_mode ? 1 : (size_t)atol(argv[5]);
  double seconds = atof(argv[base - 1]);
  int pid = argc > base ? atoi(argv[base]) : 0;
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[3]));
  inet_pton(AF_INET, argv[2], &addr.sin_addr);
  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  out_buf = calloc(1, msg_size);
  in_buf = calloc(1, msg_size);
  memset(out_buf, 'x', msg_size);
  epfd = epoll_create1(0);
  struct conn *cs = calloc((size_t)conns, sizeof *cs);
  for (int i = 0; i < conns; i++)
    conn_open(&cs[i]);
  run_for(0.5); /* warm-up */
  uint64_t ops0 = ops;
  double t0 = now_s(), c0 = cpu_s(), u0 = 0, s0 = 0, u1 = 0, s1 = 0;
  bool have = pid > 0 && server_ticks(pid, &u0, &s0);
  run_for(seconds);
  double dt = now_s() - t0, cpu = cpu_s() - c0;
  have = have && server_ticks(pid, &u1, &s1);
  double n = (double)(ops - ops0);
  if (n == 0) {
    fprintf(stderr, "tls_client: no operation completed\n");
    return 1;
  }
  char name[64];
  if (handshake_mode)
    snprintf(name, sizeof name, "tls_handshake/c%d", conns);
  else
    snprintf(name, sizeof name, "tls_echo/%zuB/c%d", msg_size, conns);
  printf("%s %.0f ops/s %.0f ns/op", name, n / dt, dt * 1e9 / n);
  if (have) {
    double tick_us = 1e6 / (double)sysconf(_SC_CLK_TCK);
    printf(" server_user_us=%.3f server_sys_us=%.3f", (u1 - u0) * tick_us / n,
           (s1 - s0) * tick_us / n);
  }
  printf(" client_cpu=%.2f\n", cpu / dt);
  return 0;
}
