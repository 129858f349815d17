/* Files: libuv's uv_fs_* requests run on its thread pool while the calling
 * task waits, so a task reading or writing files never blocks the loop.
 *
 * Each call keeps its uv_fs_t on the task's stack and parks on a
 * cio__uvwait.  A cancellation calls uv_cancel(): a request still queued
 * ends with UV_ECANCELED at once; one already running on a pool thread
 * cannot be stopped, so the task waits for it (the request lives on its
 * stack) and then returns CIO_ECANCELED.  What such a finished request did
 * stays done (bytes written, a file renamed), except that a file opened
 * for a cancelled cio_fs_open is closed again, so no descriptor leaks. */
#include <limits.h>

#include "internal.h"

struct fs_call {
  uv_fs_t req;
  struct cio__uvwait w;
};

static void fs_done(uv_fs_t *req) {
  struct fs_call *c = cio__container_of(req, struct fs_call, req);
  cio__uvwait_complete(&c->w, 0);
}

static void fs_cancel(struct cio__uvwait *w) {
  struct fs_call *c = w->data;
  uv_cancel((uv_req_t *)&c->req); /* fails harmlessly once it runs */
}

/* Start the request with `start` (its uv_fs_* call returned `rc`), wait
 * for it, and return the request's result (>= 0) or a CIO_E code.  The
 * request is cleaned up unless `keep` (the caller still reads it and calls
 * uv_fs_req_cleanup itself). */
static ssize_t fs_wait(struct fs_call *c, int rc, bool keep) {
  if (rc < 0) {
    uv_fs_req_cleanup(&c->req);
    return cio__uv_error(rc);
  }
  int prc = cio__uvwait_park(&c->w);
  ssize_t result = c->req.result;
  if (!keep)
    uv_fs_req_cleanup(&c->req);
  if (prc == CIO_ECANCELED)
    return CIO_ECANCELED;
  return result < 0 ? cio__uv_error((int)result) : result;
}

static const char *fs_op_name(uv_fs_type type) {
  switch (type) {
  case UV_FS_OPEN:
    return "open";
  case UV_FS_CLOSE:
    return "close";
  case UV_FS_READ:
    return "read";
  case UV_FS_WRITE:
    return "write";
  case UV_FS_STAT:
  case UV_FS_LSTAT:
  case UV_FS_FSTAT:
    return "stat";
  case UV_FS_SENDFILE:
    return "sendfile";
  default:
    return "call";
  }
}

/* "read", or "open 'data.txt'": the request once started. */
static void fs_describe(cio_loop *loop, const void *obj,
                        struct cio__text *out) {
  (void)loop;
  const struct fs_call *c = obj;
  cio__text_put(out, fs_op_name(c->req.fs_type));
  if (c->req.path != NULL)
    cio__text_printf(out, " '%s'", c->req.path);
}

static const struct cio__wait_kind fs_kind = {.what = "file",
                                              .describe = fs_describe};

/* Set up `c` for the running task; NULL with *rc = CIO_EPERM outside one. */
static cio_loop *fs_begin(struct fs_call *c, int *rc) {
  cio_task *self = cio__task_for_suspend(rc);
  if (self == NULL)
    return NULL;
  cio__uvwait_init(&c->w, self, fs_cancel);
  cio__wait_about(&c->w.wait, &fs_kind, c);
  c->w.data = c;
  return self->fut.loop;
}

int cio_fs_open(const char *path, int flags, int mode, int *fd) {
  if (fd != NULL)
    *fd = -1;
  if (path == NULL || fd == NULL)
    return CIO_EINVAL;
  struct fs_call c;
  int rc;
  cio_loop *loop = fs_begin(&c, &rc);
  if (loop == NULL)
    return rc;
  rc = uv_fs_open(loop->uv, &c.req, path, flags, mode, fs_done);
  ssize_t r = fs_wait(&c, rc, false);
  if (r == CIO_ECANCELED && c.req.result >= 0) {
    /* Opened after all: nobody will get the descriptor, so close it
     * (synchronously; closing a file just opened does not block). */
    uv_fs_t close_req;
    uv_fs_close(loop->uv, &close_req, (uv_file)c.req.result, NULL);
    uv_fs_req_cleanup(&close_req);
  }
  if (r < 0)
    return (int)r;
  *fd = (int)r;
  return 0;
}

int cio_fs_close(int fd) {
  if (fd < 0)
    return CIO_EBADF;
  struct fs_call c;
  int rc;
  cio_loop *loop = fs_begin(&c, &rc);
  if (loop == NULL)
    return rc;
  rc = uv_fs_close(loop->uv, &c.req, fd, fs_done);
  return (int)fs_wait(&c, rc, false);
}

/* One read or write of at most `nbytes` at `offset` (-1: the file
 * position).  Returns the count or a CIO_E code. */
static ssize_t fs_rw_once(bool write, int fd, void *buf, size_t nbytes,
                          int64_t offset) {
  struct fs_call c;
  int rc;
  cio_loop *loop = fs_begin(&c, &rc);
  if (loop == NULL)
    return rc;
  if (nbytes > (size_t)SSIZE_MAX)
    nbytes = (size_t)SSIZE_MAX;
  uv_buf_t b = uv_buf_init(buf, 0);
  b.len = nbytes; /* uv_buf_init takes an unsigned int */
  if (write)
    rc = uv_fs_write(loop->uv, &c.req, fd, &b, 1, offset, fs_done);
  else
    rc = uv_fs_read(loop->uv, &c.req, fd, &b, 1, offset, fs_done);
  return fs_wait(&c, rc, false);
}

ssize_t cio_fs_read(int fd, void *buf, size_t nbytes) {
  if (buf == NULL && nbytes > 0)
    return CIO_EINVAL;
  return fs_rw_once(false, fd, buf, nbytes, -1);
}

ssize_t cio_fs_pread(int fd, void *buf, size_t nbytes, int64_t offset) {
  if ((buf == NULL && nbytes > 0) || offset < 0)
    return CIO_EINVAL;
  return fs_rw_once(false, fd, buf, nbytes, offset);
}

/* Write all `nbytes` (a short write continues where it stopped). */
static ssize_t fs_write_all(int fd, const void *buf, size_t nbytes,
                            int64_t offset) {
  if (buf == NULL && nbytes > 0)
    return CIO_EINVAL;
  size_t done = 0;
  do {
    int64_t at = offset < 0 ? -1 : offset + (int64_t)done;
    ssize_t n = fs_rw_once(true, fd, (char *)buf + done, nbytes - done, at);
    if (n < 0)
      return n;
    if (n == 0 && nbytes > 0)
      return CIO_EIO; /* no progress: do not spin */
    done += (size_t)n;
  } while (done < nbytes);
  return (ssize_t)done;
}

ssize_t cio_fs_write(int fd, const void *buf, size_t nbytes) {
  return fs_write_all(fd, buf, nbytes, -1);
}

ssize_t cio_fs_pwrite(int fd, const void *buf, size_t nbytes, int64_t offset) {
  if (offset < 0)
    return CIO_EINVAL;
  return fs_write_all(fd, buf, nbytes, offset);
}

static double ts_seconds(uv_timespec_t ts) {
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stat_copy(cio_stat *st, const uv_stat_t *s) {
  *st = (cio_stat){
      .size = s->st_size,
      .mode = s->st_mode,
      .nlink = s->st_nlink,
      .uid = s->st_uid,
      .gid = s->st_gid,
      .ino = s->st_ino,
      .dev = s->st_dev,
      .blksize = s->st_blksize,
      .blocks = s->st_blocks,
      .atime = ts_seconds(s->st_atim),
      .mtime = ts_seconds(s->st_mtim),
      .ctime = ts_seconds(s->st_ctim),
  };
}

/* stat (path != NULL) or fstat (fd). */
static int fs_stat(const char *path, int fd, cio_stat *st) {
  if (st == NULL)
    return CIO_EINVAL;
  *st = (cio_stat){0};
  struct fs_call c;
  int rc;
  cio_loop *loop = fs_begin(&c, &rc);
  if (loop == NULL)
    return rc;
  if (path != NULL)
    rc = uv_fs_stat(loop->uv, &c.req, path, fs_done);
  else
    rc = uv_fs_fstat(loop->uv, &c.req, fd, fs_done);
  ssize_t r = fs_wait(&c, rc, true);
  if (r >= 0)
    stat_copy(st, &c.req.statbuf);
  if (rc >= 0)
    uv_fs_req_cleanup(&c.req);
  return r < 0 ? (int)r : 0;
}

int cio_fs_stat(const char *path, cio_stat *st) {
  if (path == NULL)
    return CIO_EINVAL;
  return fs_stat(path, -1, st);
}

int cio_fs_fstat(int fd, cio_stat *st) {
  if (fd < 0)
    return CIO_EBADF;
  return fs_stat(NULL, fd, st);
}

int cio_fs_fsync(int fd) {
  struct fs_call c;
  int rc;
  cio_loop *loop = fs_begin(&c, &rc);
  if (loop == NULL)
    return rc;
  rc = uv_fs_fsync(loop->uv, &c.req, fd, fs_done);
  return (int)fs_wait(&c, rc, false);
}

int cio_fs_unlink(const char *path) {
  if (path == NULL)
    return CIO_EINVAL;
  struct fs_call c;
  int rc;
  cio_loop *loop = fs_begin(&c, &rc);
  if (loop == NULL)
    return rc;
  rc = uv_fs_unlink(loop->uv, &c.req, path, fs_done);
  return (int)fs_wait(&c, rc, false);
}

int cio_fs_rename(const char *from, const char *to) {
  if (from == NULL || to == NULL)
    return CIO_EINVAL;
  struct fs_call c;
  int rc;
  cio_loop *loop = fs_begin(&c, &rc);
  if (loop == NULL)
    return rc;
  rc = uv_fs_rename(loop->uv, &c.req, from, to, fs_done);
  return (int)fs_wait(&c, rc, false);
}
