/* UDP endpoints (IPv4, IPv6, connected, cancellation) and name lookups
 * (getaddrinfo / getnameinfo, numeric and by name). */
#include <netdb.h>
#include <sys/socket.h>

#include "casyncio.h"
#include "test.h"

static int udp_roundtrip(const char *ip) {
  cio_datagram *a, *b;
  int rc = cio_datagram_open(&a, ip, 0, NULL, 0, NULL);
  if (rc < 0)
    return rc;
  CHECK_EQ(cio_datagram_open(&b, ip, 0, NULL, 0, NULL), 0);
  cio_addr aa, ba, from;
  CHECK_EQ(cio_datagram_sock_addr(a, &aa), 0);
  CHECK_EQ(cio_datagram_sock_addr(b, &ba), 0);
  CHECK_EQ(cio_datagram_sendto(a, "ping", 4, &ba), 0);
  char buf[16];
  CHECK_EQ(cio_datagram_recvfrom(b, buf, sizeof buf, &from), 4);
  CHECK(memcmp(buf, "ping", 4) == 0);
  char host[64];
  int pa, pf;
  CHECK_EQ(cio_addr_format(&aa, NULL, 0, &pa), 0);
  CHECK_EQ(cio_addr_format(&from, host, sizeof host, &pf), 0);
  CHECK_STR(host, ip);
  CHECK_EQ(pf, pa);
  /* Reply to the sender's address; two datagrams stay two. */
  CHECK_EQ(cio_datagram_sendto(b, "pong", 4, &from), 0);
  CHECK_EQ(cio_datagram_sendto(b, "!", 1, &from), 0);
  CHECK_EQ(cio_datagram_recvfrom(a, buf, sizeof buf, NULL), 4);
  CHECK(memcmp(buf, "pong", 4) == 0);
  CHECK_EQ(cio_datagram_recvfrom(a, buf, sizeof buf, NULL), 1);
  CHECK_EQ(cio_datagram_close(a), 0);
  CHECK_EQ(cio_datagram_close(b), 0);
  return 0;
}

static int udp4_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_EQ(udp_roundtrip("127.0.0.1"), 0);
  return 0;
}

TEST(udp_ipv4_sendto_recvfrom) {
  test_run_main(udp4_main, NULL);
}

static int udp6_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = udp_roundtrip("::1");
  if (rc == CIO_EADDRNOTAVAIL || rc == CIO_EAFNOSUPPORT)
    fprintf(stderr, "skipped: no IPv6 loopback (%s)\n", cio_err_name(rc));
  else
    CHECK_EQ(rc, 0);
  return 0;
}

TEST(udp_ipv6_sendto_recvfrom) {
  test_run_main(udp6_main, NULL);
}

struct recv_ctx {
  cio_datagram *d;
  ssize_t rc;
};

static int recv_task(void *arg, void **result) {
  (void)result;
  struct recv_ctx *c = arg;
  char buf[16];
  c->rc = cio_datagram_recvfrom(c->d, buf, sizeof buf, NULL);
  return 0;
}

static int connected_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_datagram *srv, *cl;
  CHECK_EQ(cio_datagram_open(&srv, "127.0.0.1", 0, NULL, 0, NULL), 0);
  cio_addr sa;
  CHECK_EQ(cio_datagram_sock_addr(srv, &sa), 0);
  int port;
  CHECK_EQ(cio_addr_format(&sa, NULL, 0, &port), 0);
  CHECK_EQ(cio_datagram_open(&cl, NULL, 0, "127.0.0.1", port, NULL), 0);
  CHECK_EQ(cio_datagram_sendto(cl, "x", 1, &sa), CIO_EISCONN);
  /* A receive under a timeout: ETIMEDOUT, the endpoint still works. */
  char buf[16];
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.05), 0);
  ssize_t n = cio_datagram_recvfrom(srv, buf, sizeof buf, NULL);
  CHECK_EQ(cio_timeout_exit(&to, (int)n), CIO_ETIMEDOUT);
  /* Second receiver: EBUSY. */
  struct recv_ctx a = {.d = srv}, b = {.d = srv};
  cio_task *ta, *tb;
  CHECK_EQ(cio_create_task(NULL, &ta, recv_task, &a, NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0);
  CHECK_EQ(cio_create_task(NULL, &tb, recv_task, &b, NULL), 0);
  CHECK_EQ(cio_task_join(tb, NULL), 0);
  CHECK_EQ(b.rc, CIO_EBUSY);
  CHECK_EQ(cio_datagram_sendto(cl, "hello", 5, NULL), 0);
  CHECK_EQ(cio_task_join(ta, NULL), 0);
  CHECK_EQ(a.rc, 5);
  /* Closing wakes a receiver with ECLOSED. */
  a.rc = 0;
  CHECK_EQ(cio_create_task(NULL, &ta, recv_task, &a, NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0);
  CHECK_EQ(cio_datagram_close(srv), 0);
  CHECK_EQ(cio_task_join(ta, NULL), 0);
  CHECK_EQ(a.rc, CIO_ECLOSED);
  CHECK_EQ(cio_datagram_close(cl), 0);
  return 0;
}

TEST(udp_connected_timeout_and_close) {
  test_run_main(connected_main, NULL);
}

/* ---- name resolution ------------------------------------------------ */

static bool has_addr(struct addrinfo *res, const char *want) {
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    cio_addr a;
    memset(&a, 0, sizeof a);
    memcpy(&a, ai->ai_addr, ai->ai_addrlen);
    char host[64];
    if (cio_addr_format(&a, host, sizeof host, NULL) == 0 &&
        strcmp(host, want) == 0)
      return true;
  }
  return false;
}

static int dns_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res;
  CHECK_EQ(cio_getaddrinfo("localhost", "80", &hints, &res), 0);
  CHECK(has_addr(res, "127.0.0.1"));
  cio_freeaddrinfo(res);
  hints.ai_family = AF_INET6;
  hints.ai_flags = AI_NUMERICHOST;
  CHECK_EQ(cio_getaddrinfo("::1", "443", &hints, &res), 0);
  CHECK(has_addr(res, "::1"));
  cio_freeaddrinfo(res);
  int rc = cio_getaddrinfo("no-such-host.invalid", NULL, NULL, &res);
  CHECK(rc == CIO_EAI_NONAME || rc == CIO_EAI_AGAIN || rc == CIO_EAI_FAIL ||
        rc == CIO_EAI_NODATA);
  CHECK(res == NULL);
  CHECK_EQ(cio_getaddrinfo(NULL, NULL, NULL, &res), CIO_EINVAL);

  cio_addr a;
  CHECK_EQ(cio_addr_parse(&a, "127.0.0.1", 80), 0);
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  CHECK_EQ(cio_getnameinfo(&a, NI_NUMERICHOST | NI_NUMERICSERV, host,
                           sizeof host, serv, sizeof serv),
           0);
  CHECK_STR(host, "127.0.0.1");
  CHECK_STR(serv, "80");
  CHECK_EQ(cio_getnameinfo(&a, NI_NUMERICHOST, host, 3, NULL, 0), CIO_ENOSPC);
  CHECK_EQ(cio_addr_parse(&a, "::1", 8080), 0);
  CHECK_EQ(cio_getnameinfo(&a, NI_NUMERICHOST | NI_NUMERICSERV, host,
                           sizeof host, serv, sizeof serv),
           0);
  CHECK_STR(host, "::1");
  CHECK_STR(serv, "8080");
  CHECK_EQ(cio_addr_parse(&a, "not an ip", 1), CIO_EINVAL);
  return 0;
}

TEST(getaddrinfo_and_getnameinfo) {
  test_run_main(dns_main, NULL);
}

/* cio_getaddrinfo outside a task, and a connection made by name. */
static int echo_once(cio_stream *s, void *arg) {
  (void)arg;
  char buf[16];
  ssize_t n = cio_stream_readline(s, buf, sizeof buf);
  return n > 0 ? cio_stream_write(s, buf, (size_t)n) : (int)n;
}

static int by_name_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_server *srv;
  CHECK_EQ(cio_start_server(&srv, echo_once, NULL, "localhost", 0, NULL), 0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "localhost", cio_server_port(srv), NULL), 0);
  CHECK_EQ(cio_stream_write(s, "hi\n", 3), 0);
  char buf[8];
  CHECK_EQ(cio_stream_readline(s, buf, sizeof buf), 3);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  return 0;
}

TEST(connect_by_name) {
  struct addrinfo *res;
  CHECK_EQ(cio_getaddrinfo("localhost", NULL, NULL, &res), CIO_EPERM);
  test_run_main(by_name_main, NULL);
}
