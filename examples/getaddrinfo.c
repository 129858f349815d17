/* getaddrinfo: resolve host names without blocking the loop.
 *
 *   getaddrinfo [host...]        (default: localhost)
 *
 * Mirrors Python's `await loop.getaddrinfo(host, 80, type=SOCK_STREAM)`
 * and `await loop.getnameinfo(addr)`: every host is looked up in a task
 * of its own, so the lookups run at the same time (on libuv's thread
 * pool) while the loop goes on; each is bounded by a 5 second timeout
 * scope, since a resolver may wait long for a DNS server.  Then the first
 * address of each is turned back into a name.
 *
 * Output for localhost (with /etc/hosts mapping it to 127.0.0.1 and ::1):
 *
 *   localhost: 127.0.0.1 port 80
 *   localhost: ::1 port 80
 *   127.0.0.1 port 80 is localhost, service http
 */
#define _POSIX_C_SOURCE 200809L

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "casyncio.h"

struct lookup {
  const char *host;
  char first[64]; /* the first numeric address found */
};

static int resolve(void *arg, void **result) {
  (void)result;
  struct lookup *l = arg;
  struct addrinfo hints, *res;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  cio_timeout to;
  int rc = cio_timeout_enter(&to, 5.0);
  if (rc < 0)
    return rc;
  rc = cio_getaddrinfo(l->host, "80", &hints, &res);
  rc = cio_timeout_exit(&to, rc);
  if (rc < 0) {
    printf("%s: %s\n", l->host, cio_strerror(rc));
    return 0; /* reported; the other lookups go on */
  }
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    char host[64], port[16];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, port,
                    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      continue;
    printf("%s: %s port %s\n", l->host, host, port);
    if (l->first[0] == '\0')
      snprintf(l->first, sizeof l->first, "%s", host);
  }
  cio_freeaddrinfo(res);
  return 0;
}

/* The way back: an address to a name, with cio_getnameinfo(). */
static int reverse(const char *ip) {
  cio_addr addr;
  int rc = cio_addr_parse(&addr, ip, 80);
  if (rc < 0)
    return rc;
  char host[256], serv[32];
  rc = cio_getnameinfo(&addr, 0, host, sizeof host, serv, sizeof serv);
  if (rc < 0)
    return rc;
  printf("%s port 80 is %s, service %s\n", ip, host, serv);
  return 0;
}

struct args {
  int n;
  char **hosts;
};

static int amain(void *arg, void **result) {
  (void)result;
  struct args *a = arg;
  struct lookup lookups[16];
  cio_call calls[16];
  int n = a->n < 16 ? a->n : 16;
  for (int i = 0; i < n; i++) {
    lookups[i] = (struct lookup){.host = a->hosts[i]};
    calls[i] = (cio_call){resolve, &lookups[i]};
  }
  int rc = cio_gather_calls(calls, (size_t)n, NULL, NULL, false);
  for (int i = 0; i < n && rc == 0; i++)
    if (lookups[i].first[0] != '\0')
      rc = reverse(lookups[i].first);
  return rc;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  static char *localhost[] = {"localhost"};
  struct args a = {argc - 1, argv + 1};
  if (a.n == 0)
    a = (struct args){1, localhost};
  int rc = cio_run(amain, &a);
  if (rc < 0) {
    fprintf(stderr, "getaddrinfo: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
