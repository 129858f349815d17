/* Streams over a descriptor the program already has: a connected socket
 * (asyncio's open_connection(sock=...)) or a pipe end
 * (loop.connect_read_pipe / connect_write_pipe). */
#include "net/net.h"
#include "net/stream.h"

/* Open `fd` on a new stream of the right kind and start it for `dirs`.
 * On failure the stream is closed without closing `fd`. */
static int adopt(int fd, int dirs, bool need_socket,
                 const cio_stream_opts *opts, cio_stream **out) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (fd < 0)
    return CIO_EBADF;
  if (cio__stream_opts_check(opts) < 0)
    return CIO_EINVAL; /* a limit <= 0 */
  cio_loop *loop = cio__loop_current();
  if (loop == NULL)
    return CIO_EPERM;
  if (loop->closing)
    return CIO_ESHUTDOWN;
  struct cio__fd_kind k;
  int rc = cio__sock_describe(fd, &k);
  if (rc < 0)
    return rc;
  if (need_socket && !(k.is_socket && k.stream))
    return CIO_EINVAL;
  if (k.is_socket && !k.stream)
    return CIO_EINVAL; /* datagrams: cio_datagram_* */
  bool tcp = k.is_socket && (k.family == AF_INET || k.family == AF_INET6);
  cio_stream *s;
  rc =
      cio__stream_new(loop, tcp ? CIO__STREAM_TCP : CIO__STREAM_PIPE, opts, &s);
  if (rc < 0)
    return rc;
  rc = tcp ? uv_tcp_open(&s->h.tcp, fd) : uv_pipe_open(&s->h.pipe, fd);
  if (rc < 0) {
    (void)!cio_stream_close(s); /* the handle never took `fd` */
    return cio__uv_error(rc);
  }
  rc = cio__stream_start(s, dirs);
  if (rc < 0) {
    (void)!cio_stream_close(s); /* closes `fd` too: the stream owns it */
    return rc;
  }
  *out = s;
  return 0;
}

int cio_open_connection_sock(cio_stream **out, int fd,
                             const cio_stream_opts *opts) {
  return adopt(fd, CIO__STREAM_READ | CIO__STREAM_WRITE, true, opts, out);
}

int cio_connect_read_pipe(cio_stream **out, int fd,
                          const cio_stream_opts *opts) {
  return adopt(fd, CIO__STREAM_READ, false, opts, out);
}

int cio_connect_write_pipe(cio_stream **out, int fd,
                           const cio_stream_opts *opts) {
  return adopt(fd, CIO__STREAM_WRITE, false, opts, out);
}
