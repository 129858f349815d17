/* Streams: the write side (asyncio's StreamWriter), half-close and close.
 *
 * write() tries uv_try_write when nothing is queued, then copies the rest
 * into a request of its own (the caller's buffer may go away at once) and
 * queues it with uv_write.  Flow control follows asyncio's transports:
 * when libuv's write queue goes above high water the writer is "paused"
 * and drain() parks; the write callback that brings the queue down to low
 * water wakes every drainer.
 *
 * (1) pending_writes counts uv_write requests not yet called back; a
 *     closing stream is uv_close()d once it reaches 0 (the flush).
 * (2) write_paused implies the queue was above high water since the last
 *     time it was at or below low water.
 */
#include <string.h>

#include "net/net.h"
#include "net/stream.h"

struct write_req {
  uv_write_t req;
  cio_stream *s;
  char data[];
};

/* ---- closing --------------------------------------------------------- */

const struct cio__wait_kind cio__stream_close_kind = {
    .what = "stream close", .describe = cio__stream_describe};
static const struct cio__wait_kind drain_kind = {
    .what = "stream drain", .describe = cio__stream_describe};

static void on_close(uv_handle_t *h) {
  cio_stream *s = h->data;
  CIO_ASSERT(s->state == CIO__SS_UV_CLOSING && s->pending_writes == 0);
  s->state = CIO__SS_CLOSED;
  s->write_paused = false;
  cio__stream_feed_closed(s);
  /* asyncio's drain after connection_lost: "Connection lost". */
  cio__wait_wake_all(&s->drainers, CIO_ECONNRESET);
  cio__wait_wake_all(&s->closers, 0);
  cio__stream_unref(s); /* the handle's reference */
}

void cio__stream_abort(cio_stream *s) {
  if (s->state >= CIO__SS_UV_CLOSING)
    return;
  s->state = CIO__SS_UV_CLOSING;
  if (s->rstate == CIO__RS_READING) {
    s->rstate = CIO__RS_IDLE;
    uv_read_stop(&s->h.stream);
  }
  uv_close(&s->h.handle, on_close);
  /* Nothing more will come from the socket: a layer waiting for its peer
   * (a handshake) must know now, not at its timeout. */
  if (s->lops != NULL)
    s->lops->feed_end(s, CIO_ECLOSED);
  /* Waits on the close (close(), a server's wait_closed) end in its
   * callback: have libuv run it before the next batch, as asyncio runs
   * connection_lost in the next iteration. */
  cio__loop_poll_soon(s->loop);
}

void cio__stream_discard(cio_stream *s) {
  cio__stream_abort(s);
  s->user_released = true;
  cio__stream_unref(s);
}

void cio__stream_begin_close(cio_stream *s) {
  if (s->state >= CIO__SS_CLOSING)
    return;
  if (s->lops != NULL)
    (void)s->lops->close(s, NULL); /* goodbye, without waiting for one */
  s->state = CIO__SS_CLOSING;
  if (s->pending_writes == 0)
    cio__stream_abort(s);
}

int cio__stream_wait_uv_closed(cio_stream *s, cio_task *t) {
  int rc = 0;
  while (s->state != CIO__SS_CLOSED) {
    if (cio__wait_in(&s->closers, t, CIO__WAIT_SHIELDED,
                     &cio__stream_close_kind, s) == CIO_ECANCELED)
      rc = CIO_ECANCELED;
  }
  return rc;
}

/* A cancelled close stops flushing and closes at once; the task stays
 * parked until the close callback and then sees CIO_ECANCELED. */
static bool close_interrupt(struct cio__wait *w) {
  cio__stream_abort(w->ctx);
  return false;
}

static int wait_flushed_and_closed(cio_stream *s, cio_task *t) {
  int rc = 0;
  while (s->state != CIO__SS_CLOSED) {
    struct cio__wait w;
    cio__wait_init(&w, t, 0);
    cio__wait_about(&w, &cio__stream_close_kind, s);
    w.interrupt = close_interrupt;
    w.ctx = s;
    if (cio__wait_on(&s->closers, &w) == CIO_ECANCELED)
      rc = CIO_ECANCELED;
  }
  return rc;
}

int cio_stream_close(cio_stream *s) {
  if (s == NULL || s->user_released)
    return 0;
  CIO_ASSERT(cio__stream_check(s));
  s->user_released = true;
  cio_loop *loop = cio__loop_current();
  cio_task *t = loop ? loop->current : NULL;
  int rc = 0;
  s->refs++;
  if (s->lops != NULL && !cio__stream_closing(s))
    rc = s->lops->close(s, t); /* TLS: close_notify */
  if (rc == CIO_ECANCELED)
    cio__stream_abort(s); /* cancelled: no flush either */
  cio__stream_begin_close(s);
  if (t != NULL && s->state != CIO__SS_CLOSED) {
    int wrc = wait_flushed_and_closed(s, t);
    rc = rc < 0 ? rc : wrc;
  }
  cio__stream_unref(s);
  cio__stream_unref(s); /* the user's reference */
  return rc;
}

int cio_stream_wait_closed(cio_stream *s) {
  if (s == NULL)
    return CIO_EINVAL;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  CIO_ASSERT(cio__stream_check(s));
  s->refs++;
  while (s->state != CIO__SS_CLOSED && rc == 0)
    rc = cio__wait_in(&s->closers, t, 0, &cio__stream_close_kind, s);
  cio__stream_unref(s);
  return rc;
}

bool cio_stream_is_closing(const cio_stream *s) {
  return s != NULL && cio__stream_closing(s);
}

/* ---- writing ------------------------------------------------------- */

static size_t queue_size(const cio_stream *s) {
  return uv_stream_get_write_queue_size(&s->h.stream);
}

static void on_write(uv_write_t *req, int status) {
  struct write_req *wr = cio__container_of(req, struct write_req, req);
  cio_stream *s = wr->s;
  cio__free(s->loop, wr);
  s->pending_writes--;
  if (status < 0 && status != UV_ECANCELED && s->write_error == 0)
    s->write_error = cio__uv_error(status);
  if (s->write_paused &&
      (queue_size(s) <= s->low_water || s->write_error != 0)) {
    s->write_paused = false;
    cio__wait_wake_all(&s->drainers, 0);
  }
  if (s->pending_writes == 0 && s->state == CIO__SS_CLOSING)
    cio__stream_abort(s);
  cio__stream_unref(s); /* the request's reference */
}

static int queue_write(cio_stream *s, const char *data, size_t n) {
  struct write_req *wr = cio__malloc(s->loop, sizeof *wr + n);
  if (wr == NULL)
    return CIO_ENOMEM;
  wr->s = s;
  memcpy(wr->data, data, n);
  uv_buf_t b = {.base = wr->data, .len = n};
  int rc = uv_write(&wr->req, &s->h.stream, &b, 1, on_write);
  if (rc < 0) {
    cio__free(s->loop, wr);
    return cio__uv_error(rc);
  }
  s->pending_writes++;
  s->refs++;
  if (queue_size(s) > s->high_water)
    s->write_paused = true;
  return 0;
}

/* libuv buffers hold an `unsigned` length: bigger writes go in pieces. */
#define WRITE_PIECE ((size_t)1 << 30)

static int write_piece(cio_stream *s, const char *p, size_t n);

int cio_stream_write(cio_stream *s, const void *data, size_t n) {
  if (s == NULL || (data == NULL && n > 0))
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  if (cio__stream_closing(s) || s->wstate == CIO__WS_SHUT)
    return CIO_ECLOSED;
  if (!(s->dirs & CIO__STREAM_WRITE))
    return CIO_ENOTCONN;
  if (s->write_error)
    return s->write_error;
  if (s->lops != NULL)
    return n > 0 ? s->lops->write(s, data, n) : 0;
  return cio__stream_raw_write(s, data, n);
}

int cio__stream_raw_write(cio_stream *s, const char *p, size_t n) {
  if (s->state >= CIO__SS_UV_CLOSING)
    return CIO_ECLOSED; /* the descriptor is gone (maybe reused) */
  if (s->write_error)
    return s->write_error;
  while (n > 0) {
    size_t piece = n < WRITE_PIECE ? n : WRITE_PIECE;
    int rc = write_piece(s, p, piece);
    if (rc < 0)
      return rc;
    p += piece;
    n -= piece;
  }
  return 0;
}

/* Nothing queued: try the kernel first, straight on the descriptor
 * (uv_try_write's bookkeeping cost as much as the rest of a round trip);
 * whatever does not fit is queued with uv_write. */
static ssize_t try_write(cio_stream *s, const char *p, size_t n) {
  if (s->fd >= 0)
    return cio__sock_try_write(s->fd, p, n);
  uv_buf_t b = {.base = (char *)p, .len = n};
  int k = uv_try_write(&s->h.stream, &b, 1);
  return k == UV_EAGAIN || k == UV_ENOSYS ? 0 : k;
}

static int write_piece(cio_stream *s, const char *p, size_t n) {
  if (s->pending_writes == 0) {
    ssize_t k = try_write(s, p, n);
    if (k < 0) {
      s->write_error = cio__uv_error((int)k);
      return s->write_error;
    }
    if ((size_t)k == n)
      return 0;
    p += k;
    n -= (size_t)k;
  }
  return queue_write(s, p, n);
}

int cio_stream_drain(cio_stream *s) {
  if (s == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  if (s->error)
    return s->error;
  if (s->write_error)
    return s->write_error;
  if (s->state == CIO__SS_CLOSED)
    return CIO_ECONNRESET;
  if (!s->write_paused)
    return 0;
  int rc;
  cio_task *t = cio__task_for_suspend(&rc);
  if (t == NULL)
    return rc;
  s->refs++;
  while (s->write_paused && rc == 0)
    rc = cio__wait_in(&s->drainers, t, 0, &drain_kind, s);
  if (rc == 0)
    rc = s->write_error;
  cio__stream_unref(s);
  return rc;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  cio_stream *s = req->data;
  if (status < 0 && status != UV_ECANCELED && status != UV_ENOTCONN &&
      s->write_error == 0)
    s->write_error = cio__uv_error(status);
  cio__stream_unref(s);
}

int cio_stream_write_eof(cio_stream *s) {
  if (s == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  if (cio__stream_closing(s))
    return CIO_ECLOSED;
  if (s->wstate == CIO__WS_SHUT)
    return 0;
  if (!(s->dirs & CIO__STREAM_WRITE))
    return CIO_ENOTCONN;
  if (s->lops != NULL) {
    int lrc = s->lops->write_eof(s); /* TLS: close_notify */
    if (lrc == 0)
      s->wstate = CIO__WS_SHUT;
    return lrc;
  }
  s->shutdown_req.data = s;
  int rc = uv_shutdown(&s->shutdown_req, &s->h.stream, on_shutdown);
  if (rc < 0)
    return cio__uv_error(rc);
  s->wstate = CIO__WS_SHUT;
  s->refs++;
  return 0;
}

size_t cio_stream_write_buffer_size(const cio_stream *s) {
  return s ? queue_size(s) : 0;
}

int cio_stream_get_write_buffer_limits(const cio_stream *s, size_t *high,
                                       size_t *low) {
  if (s == NULL)
    return CIO_EINVAL;
  if (high != NULL)
    *high = s->high_water;
  if (low != NULL)
    *low = s->low_water;
  return 0;
}

int cio_stream_set_write_buffer_limits(cio_stream *s, size_t high, size_t low) {
  if (s == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  if (high == 0)
    high = 64 * 1024;
  if (low == 0)
    low = high / 4;
  if (low > high)
    return CIO_EINVAL;
  s->high_water = high;
  s->low_water = low;
  if (queue_size(s) > high) {
    s->write_paused = true;
  } else if (s->write_paused && queue_size(s) <= low) {
    s->write_paused = false;
    cio__wait_wake_all(&s->drainers, 0);
  }
  return 0;
}

/* ---- addresses ------------------------------------------------------ */

static int stream_addr(cio_stream *s, cio_addr *out, bool peer) {
  if (s == NULL || out == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__stream_check(s));
  memset(out, 0, sizeof *out);
  if (s->state >= CIO__SS_UV_CLOSING)
    return CIO_ENOTCONN;
  int len = (int)sizeof *out;
  struct sockaddr *sa = (struct sockaddr *)out;
  int rc;
  if (s->kind == CIO__STREAM_TCP) {
    rc = peer ? uv_tcp_getpeername(&s->h.tcp, sa, &len)
              : uv_tcp_getsockname(&s->h.tcp, sa, &len);
    return cio__uv_error(rc);
  }
  return CIO_ENOTSUP;
}

void cio__stream_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  cio_stream *s = (cio_stream *)obj;
  const char *what = s->kind == CIO__STREAM_TCP ? "stream" : "pipe";
  if (s->state >= CIO__SS_UV_CLOSING) {
    cio__text_printf(out, "%s %p (closed)", what, obj);
    return;
  }
  cio__text_printf(out, "%s fd %d", what, s->fd);
  cio_addr local, peer;
  if (stream_addr(s, &local, false) == 0 && stream_addr(s, &peer, true) == 0) {
    cio__text_put(out, ", ");
    cio__addr_describe(&local, out);
    cio__text_put(out, " -> ");
    cio__addr_describe(&peer, out);
  }
}

int cio_stream_peer_addr(cio_stream *s, cio_addr *out) {
  return stream_addr(s, out, true);
}

int cio_stream_sock_addr(cio_stream *s, cio_addr *out) {
  return stream_addr(s, out, false);
}
