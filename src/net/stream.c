/* Streams: lifecycle and the read side (asyncio's StreamReader over a
 * libuv stream).  The write side and close are in stream_write.c.
 *
 * Lifecycle (s->state), each edge with the function that takes it:
 *   NEW -> OPEN               cio__stream_start()               this file
 *   NEW|OPEN -> CLOSING       cio__stream_begin_close(), writes
 *                             still queued                      stream_write.c
 *   NEW|OPEN|CLOSING -> UV_CLOSING
 *                             cio__stream_abort(): begin_close
 *                             with nothing queued, the last
 *                             queued write called back, a
 *                             cancelled close or connect,
 *                             cio__stream_discard()             stream_write.c
 *   UV_CLOSING -> CLOSED      libuv's close callback            on_close()
 *   CLOSED -> freed           last reference dropped cio__stream_unref()
 *
 * Read side (s->rstate):
 *   IDLE -> READING           start_reading(): started, a reader
 *                             waits, or the buffer drained to
 *                             `limit`                           this file
 *   READING -> IDLE           stop_reading(): buffer above
 *                             2 * limit (on_read); abort        this file,
 * stream_write.c IDLE|READING -> EOF       end of file or an error (on_read),
 *                             uv_read_start failed, the close
 *                             callback (cio__stream_feed_closed) this file
 *
 * Write side (s->wstate):
 *   OPEN -> SHUT              cio_stream_write_eof()            stream_write.c
 *
 * Invariants, checked by cio__stream_check() at public entry points:
 * (1) The buffer holds bytes [rstart, rend) of rbuf, rend <= rcap; the
 *     read calls take from it first and park only when it cannot satisfy
 *     them.
 * (2) READING only while OPEN or CLOSING and the stream was started for
 *     reading: libuv reads while the stream is readable, not at EOF, and
 *     either the buffer holds at most 2 * limit (asyncio pauses above
 *     that) or a reader waits; once paused, reading resumes when the
 *     buffer drops to `limit` (asyncio's _maybe_resume_transport).
 * (3) At most one task waits for data (s->reader; a second gets EBUSY),
 *     and it waits only while READING or once uv_close() was called (the
 *     close callback wakes it).  A lent buffer (`direct`) has a reader.
 * (4) NEW has no directions; a SHUT write side was started for writing.
 * (5) user_released: close() was called (it is set before close() lets
 *     a layer say goodbye, so a second close() is a no-op) or the stream
 *     was discarded; the user's reference goes with it.
 * (6) CLOSED: read side at EOF, no write pending (libuv cancels them
 *     before the close callback), not paused, no reader.
 * (7) refs counts the user, the open handle (dropped in on_close) and
 *     every public call in progress, so a stream closed by one task stays
 *     valid for another task still inside a call on it; it is > 0 for
 *     any stream a caller can hold.
 * (8) A server's connection is in its server's list exactly while
 *     `server` is set.
 */
#include <string.h>

#include "net/net.h"
#include "net/stream.h"

#define READ_CHUNK (16 * 1024) /* free space offered to each read */
#define DEFAULT_LIMIT CIO_STREAM_DEFAULT_LIMIT
#define DEFAULT_HIGH_WATER (64 * 1024)

/* ---- waiters --------------------------------------------------------- */

/* A task waits for data and was not woken yet (woken records leave the
 * list at once). */
static bool reader_waiting(const cio_stream *s) {
  return !cio__list_empty(&s->reader);
}

/* ---- the whole-object check ----------------------------------------- */

bool cio__stream_check(const cio_stream *s) {
  if (s->refs <= 0 || s->state > CIO__SS_CLOSED || s->rstate > CIO__RS_EOF ||
      s->wstate > CIO__WS_SHUT)
    return false;
  if (s->rstart > s->rend || s->rend > s->rcap ||
      (s->rbuf == NULL && s->rcap != 0)) /* (1) */
    return false;
  if (s->rstate == CIO__RS_READING &&
      (s->state < CIO__SS_OPEN || s->state > CIO__SS_CLOSING ||
       !(s->dirs & CIO__STREAM_READ))) /* (2) */
    return false;
  if (reader_waiting(s) && s->rstate != CIO__RS_READING &&
      s->state < CIO__SS_UV_CLOSING) /* (3) */
    return false;
  if (s->direct != NULL && !reader_waiting(s))
    return false;
  if ((s->state == CIO__SS_NEW && s->dirs != 0) ||
      (s->wstate == CIO__WS_SHUT && !(s->dirs & CIO__STREAM_WRITE))) /* (4) */
    return false;
  if (s->state == CIO__SS_CLOSED &&
      (s->rstate != CIO__RS_EOF || s->pending_writes != 0 || s->write_paused ||
       reader_waiting(s))) /* (6) */
    return false;
  return (s->server != NULL) == !cio__list_empty(&s->server_node); /* (8) */
}

/* ---- lifecycle ------------------------------------------------------- */

int cio__stream_opts_check(const cio_stream_opts *opts) {
  return opts != NULL && opts->limit <= 0 ? CIO_EINVAL : 0;
}

static void apply_opts(cio_stream *s, const cio_stream_opts *opts) {
  cio_stream_opts o = opts ? *opts : (cio_stream_opts){.limit = DEFAULT_LIMIT};
  CIO_ASSERT(o.limit > 0);
  s->limit = (size_t)o.limit;
  s->high_water = o.write_high_water ? o.write_high_water : DEFAULT_HIGH_WATER;
  s->low_water = o.write_low_water ? o.write_low_water : s->high_water / 4;
  if (s->low_water > s->high_water)
    s->low_water = s->high_water;
}

int cio__stream_new(cio_loop *loop, int kind, const cio_stream_opts *opts,
                    cio_stream **out) {
  *out = NULL;
  cio_stream *s = cio__calloc(loop, 1, sizeof *s);
  if (s == NULL)
    return CIO_ENOMEM;
  int rc = kind == CIO__STREAM_TCP ? uv_tcp_init(loop->uv, &s->h.tcp)
                                   : uv_pipe_init(loop->uv, &s->h.pipe, 0);
  if (rc < 0) {
    cio__free(loop, s);
    return cio__uv_error(rc);
  }
  s->h.handle.data = s;
  s->loop = loop;
  s->kind = (uint8_t)kind;
  s->refs = 2; /* the user's and the handle's */
  s->fd = -1;
  apply_opts(s, opts);
  cio__list_init(&s->reader);
  cio__list_init(&s->drainers);
  cio__list_init(&s->closers);
  cio__list_init(&s->server_node);
  cio__obj_add(loop, CIO__OBJ_STREAM, s, cio__stream_describe);
  *out = s;
  return 0;
}

static void stream_free(cio_stream *s) {
  CIO_ASSERT(s->state == CIO__SS_CLOSED && !reader_waiting(s));
  CIO_ASSERT(cio__list_empty(&s->drainers) && cio__list_empty(&s->closers));
  cio_loop *loop = s->loop;
  if (s->lops != NULL)
    s->lops->free(s);
  cio__free(loop, s->rbuf);
  cio__obj_remove(loop, CIO__OBJ_STREAM, s);
  cio__free(loop, s);
}

void cio__stream_ref(cio_stream *s) {
  s->refs++;
}

void cio__stream_unref(cio_stream *s) {
  CIO_ASSERT(s->refs > 0);
  if (--s->refs == 0)
    stream_free(s);
}

/* ---- reading from libuv ---------------------------------------------- */

static size_t buffered(const cio_stream *s) {
  return s->rend - s->rstart;
}

static bool at_eof(const cio_stream *s) {
  return s->rstate == CIO__RS_EOF;
}

/* Make room for `want` bytes after rend: compact, or grow by doubling. */
static int ensure_space(cio_stream *s, size_t want) {
  if (s->rstart == s->rend)
    s->rstart = s->rend = 0;
  if (s->rcap - s->rend >= want)
    return 0;
  size_t len = buffered(s);
  if (s->rstart > 0 && s->rcap - len >= want && len <= s->rcap / 2) {
    memmove(s->rbuf, s->rbuf + s->rstart, len);
    s->rstart = 0;
    s->rend = len;
    return 0;
  }
  size_t cap = s->rcap ? s->rcap * 2 : READ_CHUNK;
  while (cap - len < want)
    cap *= 2;
  char *p = cio__malloc(s->loop, cap);
  if (p == NULL)
    return CIO_ENOMEM;
  if (len > 0)
    memcpy(p, s->rbuf + s->rstart, len);
  cio__free(s->loop, s->rbuf);
  s->rbuf = p;
  s->rcap = cap;
  s->rstart = 0;
  s->rend = len;
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  cio_stream *s = h->data;
  if (s->lops != NULL) {
    s->lops->alloc(s, buf);
    return;
  }
  if (s->direct != NULL && buffered(s) == 0) {
    size_t cap = s->direct_cap < UINT32_MAX ? s->direct_cap : UINT32_MAX;
    *buf = uv_buf_init(s->direct, (unsigned)cap);
    return;
  }
  if (ensure_space(s, READ_CHUNK) < 0) {
    *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init(s->rbuf + s->rend, (unsigned)(s->rcap - s->rend));
}

static void wake_reader(cio_stream *s) {
  cio__wait_wake_first(&s->reader, 0);
}

static void stop_reading(cio_stream *s) {
  if (s->rstate == CIO__RS_READING) {
    s->rstate = CIO__RS_IDLE;
    uv_read_stop(&s->h.stream);
  }
}

/* The read side reached its end (end of file, an error, the close). */
static void read_side_ended(cio_stream *s) {
  stop_reading(s);
  s->rstate = CIO__RS_EOF;
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

static void start_reading(cio_stream *s) {
  if (s->rstate != CIO__RS_IDLE || s->state < CIO__SS_OPEN ||
      s->state > CIO__SS_CLOSING || !(s->dirs & CIO__STREAM_READ))
    return;
  int rc = uv_read_start(&s->h.stream, on_alloc, on_read);
  if (rc < 0) {
    s->error = cio__uv_error(rc);
    s->rstate = CIO__RS_EOF;
    return;
  }
  s->rstate = CIO__RS_READING;
}

/* The connection failed or ended: what asyncio's connection_lost(exc) and
 * feed_eof() do to the reader and to tasks in drain(). */
static void feed_error(cio_stream *s, int err) {
  if (s->error == 0)
    s->error = err;
  if (s->write_error == 0)
    s->write_error = err;
  s->write_paused = false;
  cio__wait_wake_all(&s->drainers, 0);
}

/* libuv reports end of file on a hang-up after a short read without
 * reading again, so a reset right after data passes for a clean end of
 * file: ask the socket for its pending error, and take a reset that a
 * write collected first (the kernel hands it out once, then read(2) says
 * 0).  0 for a clean end of file. */
static int eof_error(const cio_stream *s) {
  int err = cio__sock_pending_error(s->fd);
  if (err == 0 && s->write_error == CIO_ECONNRESET)
    err = CIO_ECONNRESET;
  return err;
}

static int read_error(const cio_stream *s, ssize_t nread) {
  if (nread == UV_EOF)
    return eof_error(s);
  return nread == UV_ENOBUFS ? CIO_ENOMEM : cio__uv_error((int)nread);
}

/* Bytes for the layer; it feeds the buffer itself. */
static void layer_read(cio_stream *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread > 0) {
    s->lops->feed(s, buf->base, (size_t)nread);
  } else if (nread < 0) {
    stop_reading(s);
    s->lops->feed_end(s, read_error(s, nread));
  }
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  cio_stream *s = h->data;
  if (s->lops != NULL) {
    layer_read(s, nread, buf);
    return;
  }
  if (nread > 0 && buf->base == s->direct && s->direct != NULL) {
    s->direct_got = (size_t)nread; /* straight into the reader's buffer */
    s->direct = NULL;
    wake_reader(s);
    return;
  }
  if (nread > 0) {
    s->rend += (size_t)nread;
    if (buffered(s) > 2 * s->limit && !reader_waiting(s))
      stop_reading(s); /* paused: maybe_resume() restarts it */
    wake_reader(s);
    return;
  }
  if (nread == 0)
    return; /* EAGAIN */
  read_side_ended(s);
  int err = read_error(s, nread);
  if (err != 0)
    feed_error(s, err);
  wake_reader(s);
}

/* ---- the transport seam (see stream.h) ------------------------------- */

char *cio__stream_reserve(cio_stream *s, size_t want, size_t *avail) {
  if (ensure_space(s, want) < 0)
    return NULL;
  *avail = s->rcap - s->rend;
  return s->rbuf + s->rend;
}

void cio__stream_commit(cio_stream *s, size_t n) {
  CIO_ASSERT(n <= s->rcap - s->rend);
  s->rend += n;
  if (buffered(s) > 2 * s->limit && !reader_waiting(s))
    stop_reading(s); /* paused, as on_read does */
  wake_reader(s);
}

void cio__stream_feed_end(cio_stream *s, int err) {
  read_side_ended(s);
  if (err != 0)
    feed_error(s, err);
  wake_reader(s);
}

void cio__stream_read_anyway(cio_stream *s) {
  start_reading(s);
}

void cio__stream_set_layer(cio_stream *s,
                           const struct cio__stream_layer_ops *ops,
                           void *layer) {
  CIO_ASSERT(s->lops == NULL && s->state == CIO__SS_OPEN);
  s->lops = ops;
  s->layer = layer;
  size_t n = buffered(s);
  if (n == 0)
    return;
  /* Bytes read before the layer existed are the layer's (they are moved
   * out first: feeding them may refill the buffer). */
  char *early = s->rbuf + s->rstart;
  char *tmp = cio__malloc(s->loop, n);
  if (tmp == NULL) {
    cio__stream_feed_end(s, CIO_ENOMEM);
    return;
  }
  memcpy(tmp, early, n);
  s->rstart = s->rend = 0;
  ops->feed(s, tmp, n);
  cio__free(s->loop, tmp);
}

int cio__stream_start(cio_stream *s, int dirs) {
  CIO_ASSERT(s->state == CIO__SS_NEW);
  s->state = CIO__SS_OPEN;
  s->dirs = (uint8_t)dirs;
  uv_os_fd_t fd;
  s->fd = uv_fileno(&s->h.handle, &fd) == 0 ? (int)fd : -1;
  if (s->kind == CIO__STREAM_TCP)
    uv_tcp_nodelay(&s->h.tcp, 1); /* as asyncio does for every TCP stream */
  start_reading(s);
  return s->error;
}

void cio__stream_feed_closed(cio_stream *s) {
  read_side_ended(s);
  wake_reader(s);
}

/* ---- the read calls ---------------------------------------------------- */

static const struct cio__wait_kind read_kind = {
    .what = "stream read", .describe = cio__stream_describe};

/* Park until the buffer grows, EOF or an error (asyncio's
 * _wait_for_data); the caller looks at which.  Returns 0, EBUSY,
 * ENOTSUP, ECANCELED. */
static int wait_for_data(cio_stream *s) {
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  if (reader_waiting(s))
    return CIO_EBUSY;
  if (!(s->dirs & CIO__STREAM_READ))
    return CIO_ENOTSUP;
  start_reading(s); /* resumes a paused stream, as asyncio does */
  if (s->rstate == CIO__RS_EOF)
    return 0; /* could not start: nothing will come */
  return cio__wait_in(&s->reader, t, 0, &read_kind, s);
}

static void consume(cio_stream *s, void *dst, size_t n) {
  if (n == 0)
    return;
  if (dst != NULL)
    memcpy(dst, s->rbuf + s->rstart, n);
  s->rstart += n;
  if (s->rstart == s->rend)
    s->rstart = s->rend = 0;
  if (s->rstate == CIO__RS_IDLE && buffered(s) <= s->limit)
    start_reading(s);
}

/* Put `n` bytes back at the front of the buffer (a cancelled reader's
 * direct read): asyncio's read keeps unread data for the next reader. */
static int unconsume(cio_stream *s, const char *data, size_t n) {
  size_t len = buffered(s);
  if (ensure_space(s, n) < 0)
    return CIO_ENOMEM;
  memmove(s->rbuf + s->rstart + n, s->rbuf + s->rstart, len);
  memcpy(s->rbuf + s->rstart, data, n);
  s->rend += n;
  return 0;
}

/* Wait for data with `buf` lent to libuv: bytes may land straight in it
 * (returned as a count > 0) or in the stream's buffer (0). */
static ssize_t wait_direct(cio_stream *s, char *buf, size_t n) {
  if (reader_waiting(s))
    return CIO_EBUSY; /* before lending: the waiting reader's buffer stays */
  s->direct = buf;
  s->direct_cap = n;
  s->direct_got = 0;
  int rc = wait_for_data(s);
  s->direct = NULL;
  size_t got = s->direct_got;
  s->direct_got = 0;
  if (got > 0 && rc < 0) {
    int urc = unconsume(s, buf, got); /* cancelled: keep the bytes */
    return urc < 0 ? urc : rc;
  }
  return rc < 0 ? rc : (ssize_t)got;
}

/* Bytes received before a connection error are read first; the error
 * comes once the buffer cannot satisfy a call (at eof, which an error
 * always sets). */
static ssize_t read_some(cio_stream *s, void *buf, size_t n) {
  if (n == 0)
    return buffered(s) == 0 ? s->error : 0;
  while (buffered(s) == 0 && !at_eof(s)) {
    ssize_t rc = wait_direct(s, buf, n);
    if (rc != 0)
      return rc;
  }
  if (buffered(s) == 0)
    return s->error;
  size_t k = buffered(s) < n ? buffered(s) : n;
  consume(s, buf, k);
  return (ssize_t)k;
}

ssize_t cio_stream_read(cio_stream *s, void *buf, size_t n) {
  if (s == NULL || (buf == NULL && n > 0))
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  s->refs++;
  ssize_t rc = read_some(s, buf, n);
  cio__stream_unref(s);
  return rc;
}

/* Append the buffered bytes to the malloc'd (*data, *len). */
static int take_all(cio_stream *s, char **data, size_t *len) {
  size_t k = buffered(s);
  if (k == 0)
    return 0;
  char *p = realloc(*data, *len + k + 1);
  if (p == NULL)
    return CIO_ENOMEM;
  *data = p;
  consume(s, p + *len, k);
  *len += k;
  return 0;
}

static int read_all(cio_stream *s, char **data, size_t *len) {
  for (;;) {
    int rc = take_all(s, data, len);
    if (rc == 0 && at_eof(s))
      return s->error;
    if (rc == 0)
      rc = wait_for_data(s);
    if (rc < 0)
      return rc;
  }
}

int cio_stream_read_all(cio_stream *s, void **data, size_t *len) {
  if (data != NULL)
    *data = NULL;
  if (len != NULL)
    *len = 0;
  if (s == NULL || data == NULL || len == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  char *p = malloc(1);
  if (p == NULL)
    return CIO_ENOMEM;
  s->refs++;
  int rc = read_all(s, &p, len);
  cio__stream_unref(s);
  if (rc < 0) {
    free(p);
    *len = 0;
    return rc;
  }
  *data = p;
  return 0;
}

static int readexactly(cio_stream *s, void *buf, size_t n, size_t *nread) {
  while (buffered(s) < n) {
    if (s->error)
      return s->error; /* the bytes stay for read() */
    if (at_eof(s)) {
      *nread = buffered(s);
      consume(s, buf, *nread);
      return CIO_ENODATA;
    }
    int rc = wait_for_data(s);
    if (rc < 0)
      return rc;
  }
  consume(s, buf, n);
  *nread = n;
  return 0;
}

int cio_stream_readexactly(cio_stream *s, void *buf, size_t n, size_t *nread) {
  size_t dummy;
  if (nread == NULL)
    nread = &dummy;
  *nread = 0;
  if (s == NULL || (buf == NULL && n > 0))
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  if (n == 0)
    return s->error;
  s->refs++;
  int rc = readexactly(s, buf, n, nread);
  cio__stream_unref(s);
  return rc;
}

/* Offset of `sep` in the buffer at or after `from`, or -1. */
static ssize_t find_sep(const cio_stream *s, size_t from, const char *sep,
                        size_t seplen) {
  const char *base = s->rbuf + s->rstart;
  size_t len = buffered(s);
  while (from + seplen <= len) {
    const char *p = memchr(base + from, sep[0], len - from - seplen + 1);
    if (p == NULL)
      return -1;
    if (memcmp(p, sep, seplen) == 0)
      return p - base;
    from = (size_t)(p - base) + 1;
  }
  return -1;
}

/* A list of separators (asyncio 3.13's readuntil(tuple)). */
struct seps {
  const char *const *sep;
  const size_t *len;
  size_t n;
  size_t min_len, max_len;
};

/* The match ending first at or after `from` (the shorter separator on a
 * tie, as CPython sorts the tuple by length): its start in *start and its
 * end in *end.  False when no separator is buffered. */
static bool find_first(const cio_stream *s, size_t from, const struct seps *ss,
                       size_t *start, size_t *end) {
  bool found = false;
  for (size_t i = 0; i < ss->n; i++) {
    ssize_t at = find_sep(s, from, ss->sep[i], ss->len[i]);
    if (at < 0)
      continue;
    size_t e = (size_t)at + ss->len[i];
    if (!found || e < *end || (e == *end && (size_t)at > *start)) {
      *start = (size_t)at;
      *end = e;
      found = true;
    }
  }
  return found;
}

/* asyncio's readuntil, with the limit lowered so the chunk fits `cap`. */
static ssize_t readuntil(cio_stream *s, const struct seps *ss, char *buf,
                         size_t cap, size_t *n) {
  size_t limit = cap - ss->max_len < s->limit ? cap - ss->max_len : s->limit;
  size_t offset = 0, start = 0, end = 0;
  for (;;) {
    size_t len = buffered(s);
    if (len - offset >= ss->min_len) {
      if (find_first(s, offset, ss, &start, &end))
        break;
      offset = len + 1 > ss->max_len ? len + 1 - ss->max_len : 0;
      if (offset > limit) {
        *n = offset;
        return CIO_ENOBUFS;
      }
    }
    if (s->error)
      return s->error; /* no separator: the bytes stay for read() */
    if (at_eof(s)) {
      *n = len < cap ? len : cap;
      consume(s, buf, *n);
      s->rstart = s->rend = 0;
      return CIO_ENODATA;
    }
    int rc = wait_for_data(s);
    if (rc < 0)
      return rc;
  }
  if (start > limit) {
    *n = start;
    return CIO_ENOBUFS;
  }
  *n = end;
  consume(s, buf, *n);
  return (ssize_t)*n;
}

static ssize_t readuntil_call(cio_stream *s, const struct seps *ss, void *buf,
                              size_t cap, size_t *n) {
  CIO_ASSERT(cio__stream_check(s));
  s->refs++;
  ssize_t rc = readuntil(s, ss, buf, cap, n);
  cio__stream_unref(s);
  return rc;
}

ssize_t cio_stream_readuntil(cio_stream *s, const void *sep, size_t seplen,
                             void *buf, size_t cap, size_t *n) {
  size_t dummy;
  if (n == NULL)
    n = &dummy;
  *n = 0;
  if (s == NULL || sep == NULL || seplen == 0 || buf == NULL || cap < seplen)
    return CIO_EINVAL;
  const char *one = sep;
  struct seps ss = {&one, &seplen, 1, seplen, seplen};
  return readuntil_call(s, &ss, buf, cap, n);
}

ssize_t cio_stream_readuntil_any(cio_stream *s, const void *const *seps,
                                 const size_t *seplens, size_t nseps, void *buf,
                                 size_t cap, size_t *n) {
  size_t dummy;
  if (n == NULL)
    n = &dummy;
  *n = 0;
  if (s == NULL || seps == NULL || seplens == NULL || nseps == 0 || buf == NULL)
    return CIO_EINVAL;
  struct seps ss = {(const char *const *)seps, seplens, nseps, SIZE_MAX, 0};
  for (size_t i = 0; i < nseps; i++) {
    if (seps[i] == NULL || seplens[i] == 0)
      return CIO_EINVAL;
    ss.min_len = seplens[i] < ss.min_len ? seplens[i] : ss.min_len;
    ss.max_len = seplens[i] > ss.max_len ? seplens[i] : ss.max_len;
  }
  if (cap < ss.max_len)
    return CIO_EINVAL;
  return readuntil_call(s, &ss, buf, cap, n);
}

static ssize_t readline(cio_stream *s, char *buf, size_t cap) {
  size_t n, one = 1;
  const char *nl = "\n";
  struct seps ss = {&nl, &one, 1, 1, 1};
  ssize_t rc = readuntil(s, &ss, buf, cap, &n);
  if (rc == CIO_ENODATA)
    return (ssize_t)n;
  if (rc != CIO_ENOBUFS)
    return rc;
  /* Drop the line through its newline if it is buffered, else all. */
  if (n < buffered(s) && s->rbuf[s->rstart + n] == '\n')
    consume(s, NULL, n + 1);
  else
    consume(s, NULL, buffered(s));
  return CIO_EMSGSIZE;
}

ssize_t cio_stream_readline(cio_stream *s, void *buf, size_t cap) {
  if (s == NULL || buf == NULL || cap == 0)
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  s->refs++;
  ssize_t rc = readline(s, buf, cap);
  cio__stream_unref(s);
  return rc;
}

bool cio_stream_at_eof(const cio_stream *s) {
  return s != NULL && at_eof(s) && buffered(s) == 0;
}

size_t cio_stream_buffered(const cio_stream *s) {
  return s ? buffered(s) : 0;
}

int cio_stream_error(const cio_stream *s) {
  return s ? s->error : CIO_EINVAL;
}
