/* Socket calls libuv does not offer, for POSIX systems: listening
 * sockets with SO_REUSEPORT, accept4, Unix socket file cleanup, and the
 * SIGPIPE disposition. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"

static int set_int_opt(int fd, int level, int name) {
  int one = 1;
  return setsockopt(fd, level, name, &one, sizeof one) == 0 ? 0 : -errno;
}

int cio__sock_pending_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return 0;
  return err != 0 ? cio__uv_error(-err) : 0;
}

int cio__sock_set_reuseport(uv_os_sock_t fd) {
#if defined(SO_REUSEPORT)
  return set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT);
#else
  (void)fd;
  return CIO_ENOTSUP;
#endif
}

static int make_socket(int family) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
#else
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0)
    return -errno;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
#endif
}

int cio__sock_listen(const cio_addr *addr, int backlog, bool reuse_port,
                     uv_os_sock_t *out) {
  int family = cio__addr_family(addr);
  int fd = make_socket(family);
  if (fd < 0)
    return fd;
  int rc = 0;
  if (family != AF_UNIX)
    rc = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR);
  if (rc == 0 && reuse_port)
    rc = cio__sock_set_reuseport(fd);
  if (rc == 0 && family == AF_INET6)
    rc = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY);
  if (rc == 0 && bind(fd, (const struct sockaddr *)addr,
                      (socklen_t)cio__addr_len(addr)) < 0)
    rc = -errno;
  if (rc == 0 && listen(fd, backlog) < 0)
    rc = -errno;
  if (rc < 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

int cio__sock_accept(uv_os_sock_t fd, uv_os_sock_t *out) {
  for (;;) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC) && defined(__linux__)
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int c = accept(fd, NULL, NULL);
    if (c >= 0 && (fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK) < 0 ||
                   fcntl(c, F_SETFD, FD_CLOEXEC) < 0)) {
      close(c);
      c = -1;
    }
#endif
    if (c >= 0) {
      *out = c;
      return 0;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return CIO_EAGAIN;
    return -errno;
  }
}

ssize_t cio__sock_try_write(int fd, const void *p, size_t n) {
  ssize_t k;
  do {
    k = write(fd, p, n);
  } while (k < 0 && errno == EINTR);
  if (k >= 0)
    return k;
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return 0;
  return -errno;
}

void cio__sock_close(uv_os_sock_t fd) {
  close(fd);
}

int cio__sock_name(uv_os_sock_t fd, cio_addr *out) {
  socklen_t len = sizeof *out;
  memset(out, 0, sizeof *out);
  return getsockname(fd, (struct sockaddr *)out, &len) == 0 ? 0 : -errno;
}

void cio__sock_unlink_unix(const char *path) {
  struct stat st;
  if (path[0] != '\0' && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
    unlink(path);
}

/* Writing to a socket or pipe whose reader is gone raises SIGPIPE, which
 * kills the process by default.  Like Python (at startup), Node and Go,
 * turn that into EPIPE from the write, unless the program chose a
 * disposition itself.  Children get the default back (libuv resets
 * signal dispositions in the child). */
void cio__sock_ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
      !(sa.sa_flags & SA_SIGINFO)) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

int cio__sock_describe(int fd, struct cio__fd_kind *out) {
  struct stat st;
  *out = (struct cio__fd_kind){0};
  if (fstat(fd, &st) != 0)
    return -errno;
  if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    out->pipe_like = true;
    return 0;
  }
  if (!S_ISSOCK(st.st_mode))
    return CIO_EINVAL; /* a regular file or directory: not a stream */
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  int type = 0;
  socklen_t tlen = sizeof type;
  memset(&addr, 0, sizeof addr);
  if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
    return -errno;
  out->is_socket = true;
  out->family = addr.ss_family;
  out->stream = type == SOCK_STREAM;
  return 0;
}
