/* Socket addresses and name resolution shared by the net files: the
 * cio_addr helpers, and resolving a host and port to addresses (numeric
 * without suspending, names through cio_getaddrinfo). */
#include <string.h>
#include <sys/un.h> /* sockaddr_un (libuv includes the rest) */

#include "net/net.h"

_Static_assert(sizeof(cio_addr) >= sizeof(struct sockaddr_storage),
               "cio_addr holds any socket address");

/* ---- addresses ------------------------------------------------------ */

int cio__addr_family(const cio_addr *a) {
  return ((const struct sockaddr *)a)->sa_family;
}

int cio__addr_len(const cio_addr *a) {
  switch (cio__addr_family(a)) {
  case AF_INET:
    return (int)sizeof(struct sockaddr_in);
  case AF_INET6:
    return (int)sizeof(struct sockaddr_in6);
  case AF_UNIX:
    return (int)sizeof(struct sockaddr_un);
  default:
    return 0;
  }
}

int cio_addr_parse(cio_addr *out, const char *ip, int port) {
  if (out == NULL || ip == NULL || port < 0 || port > 65535)
    return CIO_EINVAL;
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)out) == 0)
    return 0;
  memset(out, 0, sizeof *out);
  if (strchr(ip, ':') != NULL &&
      uv_ip6_addr(ip, port, (struct sockaddr_in6 *)out) == 0)
    return 0;
  memset(out, 0, sizeof *out);
  return CIO_EINVAL;
}

int cio_addr_format(const cio_addr *a, char *host, size_t cap, int *port) {
  if (port != NULL)
    *port = 0;
  if (a == NULL)
    return CIO_EINVAL;
  char tmp[sizeof(struct sockaddr_un)];
  int p = 0, rc;
  switch (cio__addr_family(a)) {
  case AF_INET: {
    const struct sockaddr_in *sin = (const void *)a;
    rc = uv_ip4_name(sin, tmp, sizeof tmp);
    p = ntohs(sin->sin_port);
    break;
  }
  case AF_INET6: {
    const struct sockaddr_in6 *sin6 = (const void *)a;
    rc = uv_ip6_name(sin6, tmp, sizeof tmp);
    p = ntohs(sin6->sin6_port);
    break;
  }
  case AF_UNIX: {
    const struct sockaddr_un *sun = (const void *)a;
    snprintf(tmp, sizeof tmp, "%.*s", (int)sizeof sun->sun_path, sun->sun_path);
    rc = 0;
    break;
  }
  default:
    return CIO_EINVAL;
  }
  if (rc < 0)
    return cio__uv_error(rc);
  if (port != NULL)
    *port = p;
  if (host != NULL) {
    if (strlen(tmp) + 1 > cap)
      return CIO_ENOSPC;
    memcpy(host, tmp, strlen(tmp) + 1);
  }
  return 0;
}

/* ---- resolution ----------------------------------------------------- */

static int resolve_name(const char *host, int port, int socktype, bool passive,
                        cio_addr *addrs) {
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype};
  if (passive)
    hints.ai_flags = AI_PASSIVE;
  struct addrinfo *res;
  int rc = cio_getaddrinfo(host, service, &hints, &res);
  if (rc < 0)
    return rc;
  int n = 0;
  for (struct addrinfo *ai = res; ai != NULL && n < CIO__NET_MAX_ADDRS;
       ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof addrs[n])
      continue;
    memset(&addrs[n], 0, sizeof addrs[n]);
    memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
    n++;
  }
  cio_freeaddrinfo(res);
  return n > 0 ? n : CIO_EAI_NONAME;
}

int cio__net_resolve(const char *host, int port, int socktype, bool passive,
                     cio_addr *addrs) {
  if (port < 0 || port > 65535)
    return CIO_EINVAL;
  if (host == NULL || host[0] == '\0') {
    if (!passive)
      return CIO_EINVAL;
    host = "0.0.0.0";
  }
  if (cio_addr_parse(&addrs[0], host, port) == 0)
    return 1;
  return resolve_name(host, port, socktype, passive, addrs);
}

/* "host:port", "[v6]:port" or a Unix path. */
void cio__addr_describe(const cio_addr *a, struct cio__text *out) {
  char host[128];
  int port = 0;
  if (cio_addr_format(a, host, sizeof host, &port) < 0) {
    cio__text_put(out, "?");
    return;
  }
  const struct sockaddr *sa = (const struct sockaddr *)a;
  if (sa->sa_family == AF_UNIX)
    cio__text_put(out, host);
  else if (sa->sa_family == AF_INET6)
    cio__text_printf(out, "[%s]:%d", host, port);
  else
    cio__text_printf(out, "%s:%d", host, port);
}
