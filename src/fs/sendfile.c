/* cio_fs_sendfile: a file's bytes to a stream, as asyncio's
 * loop.sendfile() does when the transport cannot use sendfile(2) (its
 * _sendfile_fallback): read a chunk on the thread pool, queue it on the
 * stream, drain, repeat.  sendfile(2) itself would need the stream's
 * socket to block or a way to wait for it to become writable that does
 * not fight the stream's own libuv watcher; the copy through one 64 KiB
 * buffer costs little next to the I/O and works for any stream (TCP,
 * Unix sockets, pipes), in order with bytes written before. */
#include "internal.h"

#define CHUNK (64 * 1024)

ssize_t cio_fs_sendfile(cio_stream *out, int fd, int64_t offset, size_t count) {
  if (out == NULL || offset < 0)
    return CIO_EINVAL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  char *buf = cio__malloc(self->fut.loop, CHUNK);
  if (buf == NULL)
    return CIO_ENOMEM;
  size_t sent = 0;
  while (count == 0 || sent < count) {
    size_t want = CHUNK;
    if (count != 0 && count - sent < want)
      want = count - sent;
    ssize_t n = cio_fs_pread(fd, buf, want, offset + (int64_t)sent);
    if (n <= 0) {
      rc = (int)n; /* 0: end of file */
      break;
    }
    rc = cio_stream_write(out, buf, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(out);
    if (rc < 0)
      break;
    sent += (size_t)n;
  }
  cio__free(self->fut.loop, buf);
  return rc < 0 ? rc : (ssize_t)sent;
}
