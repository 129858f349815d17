/* Private helpers shared by the net files: address resolution and the
 * socket calls libuv does not offer (sock_posix.c). */
#ifndef CIO_NET_NET_H
#define CIO_NET_NET_H

#include "internal.h"

#define CIO__NET_MAX_ADDRS 8

/* Resolve `host`:`port` to up to CIO__NET_MAX_ADDRS addresses.  A numeric
 * host is parsed without suspending; a name needs a task (getaddrinfo on
 * libuv's pool).  `host` NULL with `passive` gives 0.0.0.0.  Returns the
 * count (> 0) or an error (CIO_EAI_*, CIO_EPERM outside a task...). */
int cio__net_resolve(const char *host, int port, int socktype, bool passive,
                     cio_addr *addrs);

/* The length of the sockaddr in `a` (by family), 0 if unknown. */
int cio__addr_len(const cio_addr *a);
int cio__addr_family(const cio_addr *a);
/* Append "host:port", "[v6]:port" or a Unix path (for dumps). */
void cio__addr_describe(const cio_addr *a, struct cio__text *out);

/* sock_posix.c: listening sockets made and accepted by hand, so that the
 * server can set SO_REUSEPORT and back off when accept fails for lack of
 * descriptors (libuv would close the waiting clients instead). */
int cio__sock_listen(const cio_addr *addr, int backlog, bool reuse_port,
                     uv_os_sock_t *out);
/* Accept one connection, non-blocking and close-on-exec.  Returns 0 with
 * `*out` set, CIO_EAGAIN when none is waiting, or the accept error. */
int cio__sock_accept(uv_os_sock_t fd, uv_os_sock_t *out);
void cio__sock_close(uv_os_sock_t fd);
/* write(2) straight to a non-blocking socket or pipe, for a stream with no
 * libuv write queued: what uv_try_write does without its bookkeeping.
 * Returns the bytes written, 0 if it would block, or a negative code. */
ssize_t cio__sock_try_write(int fd, const void *p, size_t n);
int cio__sock_name(uv_os_sock_t fd, cio_addr *out);
/* Remove a stale Unix socket file at `path` (if it is a socket). */
void cio__sock_unlink_unix(const char *path);
/* What kind of descriptor `fd` is, for adopting it as a stream. */
struct cio__fd_kind {
  bool is_socket; /* else a pipe, FIFO or character device */
  bool pipe_like;
  bool stream;    /* SOCK_STREAM */
  int family;     /* AF_INET, AF_INET6, AF_UNIX for sockets */
};
/* Returns 0, CIO_EINVAL (not a socket, pipe or device), or fstat's /
 * getsockname's error (CIO_EBADF...). */
int cio__sock_describe(int fd, struct cio__fd_kind *out);

/* The error pending on socket `fd` (SO_ERROR, which the kernel hands out
 * once), or 0: none, or `fd` is no socket. */
int cio__sock_pending_error(int fd);

/* SO_REUSEPORT (and SO_BROADCAST) on a socket libuv made. */
int cio__sock_set_reuseport(uv_os_sock_t fd);

#endif
