/* Private side of cio_stream: the stream object over any uv_stream_t, for
 * TCP (tcp.c, server.c), Unix sockets and pipes (subprocess stdio).
 *
 * A stream owns its libuv handle, embedded in the struct.  The way to make
 * one for another kind of pipe (subprocess stdio):
 *
 *   cio_stream *s;
 *   int rc = cio__stream_new(loop, CIO__STREAM_PIPE, NULL, &s);
 *   // s->h.pipe is uv_pipe_init()ed (ipc = 0): hand it to uv_spawn()'s
 *   // stdio containers (UV_CREATE_PIPE) or uv_pipe_open() an fd on it.
 *   rc = cio__stream_start(s, CIO__STREAM_READ);   // stdout / stderr
 *   rc = cio__stream_start(s, CIO__STREAM_WRITE);  // stdin
 *   ...
 *   cio_stream_close(s);  // public; also right when never started
 *
 * Until cio__stream_start the handle is not read from and write() returns
 * CIO_ENOTCONN.  Write errors (CIO_EPIPE when a child exits) are returned
 * by the next write() and drain(), as asyncio's BrokenPipeError.
 */
#ifndef CIO_NET_STREAM_H
#define CIO_NET_STREAM_H

#include "internal.h"

enum cio__stream_kind { CIO__STREAM_TCP, CIO__STREAM_PIPE };

/* Directions for cio__stream_start. */
enum {
  CIO__STREAM_READ = 1,
  CIO__STREAM_WRITE = 2,
};

/* The stream's lifecycle: the machine on top of stream.c. */
enum cio__stream_state {
  CIO__SS_NEW,        /* handle initialised, not started */
  CIO__SS_OPEN,       /* started: reads and writes allowed per `dirs` */
  CIO__SS_CLOSING,    /* close begun: flushing queued writes */
  CIO__SS_UV_CLOSING, /* uv_close() called */
  CIO__SS_CLOSED,     /* libuv's close callback ran */
};

/* The read side: whether libuv reads into the buffer. */
enum cio__stream_rstate {
  CIO__RS_IDLE,    /* not reading: not started, or paused above 2 * limit */
  CIO__RS_READING, /* uv_read_start is on */
  CIO__RS_EOF,     /* the peer's end of file (or an error) was fed */
};

/* The write side. */
enum cio__stream_wstate {
  CIO__WS_OPEN,
  CIO__WS_SHUT, /* write_eof(): no more writes; shutdown queued */
};

struct cio__stream_layer_ops;

struct cio_stream {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  cio_loop *loop;
  int refs;       /* user + calls in progress + open handle + server */
  uint8_t kind;   /* cio__stream_kind */
  uint8_t dirs;   /* CIO__STREAM_READ | _WRITE once started */
  uint8_t state;  /* cio__stream_state */
  uint8_t rstate; /* cio__stream_rstate */
  uint8_t wstate; /* cio__stream_wstate */
  /* Not lifecycle: flow control (asyncio's FlowControlMixin._paused: the
   * queue went above high water, drain() waits) and ownership (the user's
   * reference was dropped by close()). */
  bool write_paused;
  bool user_released;
  int error;       /* stored read-side error (asyncio's exception()) */
  int write_error;
  int fd;          /* the descriptor, for direct writes; -1 if unknown */
  size_t limit, high_water, low_water;

  /* Read buffer: bytes [rstart, rend) of rbuf. */
  char *rbuf;
  size_t rcap, rstart, rend;

  /* A reader waiting in cio_stream_read on an empty buffer lends its own
   * buffer: libuv reads straight into it, saving the copy (stream.c). */
  char *direct;
  size_t direct_cap, direct_got;

  size_t pending_writes; /* uv_write requests not yet called back */
  uv_shutdown_t shutdown_req;

  struct cio__list reader;   /* cio__wait: the one task waiting for data */
  struct cio__list drainers; /* cio__wait: tasks in drain() */
  struct cio__list closers;  /* cio__wait: waiting for the close callback */

  /* For connections of a server (server.c). */
  struct cio_server *server;
  struct cio__list server_node; /* in server->conns, or self-linked */

  /* A layer between the socket and the buffers (TLS), or NULL. */
  const struct cio__stream_layer_ops *lops;
  void *layer;
};

/* ---- the transport seam --------------------------------------------------
 * A layer (src/tls/) sits between the socket and the stream's buffers
 * without the stream knowing what it does: bytes from libuv land in the
 * layer's buffer and go to `feed`, which puts what the user should read in
 * the stream's buffer (cio__stream_reserve + cio__stream_commit); the
 * user's writes go to `write`, which sends what the peer should get with
 * cio__stream_raw_write.  Read-side flow control, readers, drain and the
 * socket's close stay the stream's.
 *
 *   ciphertext:  libuv -> alloc/feed -> [layer] -> reserve/commit -> rbuf
 *   plaintext:   write() -> [layer] -> cio__stream_raw_write -> socket
 */
struct cio__stream_layer_ops {
  /* A buffer for libuv to read into (the layer's own). */
  void (*alloc)(cio_stream *s, uv_buf_t *buf);
  /* `n` > 0 bytes arrived in the buffer from alloc. */
  void (*feed)(cio_stream *s, const char *data, size_t n);
  /* The socket's read side ended: 0 at end of file, else the error
   * (CIO_ECLOSED: the stream is being closed).  The layer ends the
   * stream's read side with cio__stream_feed_end.  May come twice. */
  void (*feed_end)(cio_stream *s, int err);
  /* Send `n` bytes the user wrote.  Returns 0 or a negative code. */
  int (*write)(cio_stream *s, const char *data, size_t n);
  /* write_eof(): end the sending side the layer's way. */
  int (*write_eof)(cio_stream *s);
  /* close() was called, before the queue is flushed and the socket
   * closed: say goodbye to the peer.  `t` is the closing task (it may be
   * parked, bounded in time), NULL outside a task (must not park).
   * Returns 0 or CIO_ECANCELED. */
  int (*close)(cio_stream *s, cio_task *t);
  /* The stream is being freed: free the layer. */
  void (*free)(cio_stream *s);
};

/* Put `layer` under `s`, which must be OPEN with no layer yet: bytes
 * buffered so far are handed to ops->feed (they came from the peer before
 * the layer existed, as a TLS ClientHello after STARTTLS may). */
void cio__stream_set_layer(cio_stream *s, const struct cio__stream_layer_ops *ops,
                           void *layer);

/* Write to the socket under any layer: what cio_stream_write does
 * without one (try the kernel, queue the rest, flow control). */
int cio__stream_raw_write(cio_stream *s, const char *p, size_t n);

/* Free space of at least `want` bytes at the end of the read buffer:
 * returns it (its size in *avail), or NULL without memory. */
char *cio__stream_reserve(cio_stream *s, size_t want, size_t *avail);

/* `n` bytes were written into the reserved space: the reader wakes;
 * reading from the socket pauses above 2 * limit. */
void cio__stream_commit(cio_stream *s, size_t n);

/* The read side ends: 0 is a clean end of file, else the connection's
 * error (stored for reads and writes, as asyncio's connection_lost). */
void cio__stream_feed_end(cio_stream *s, int err);

/* A server whose connections are wrapped (TLS) before their handler
 * runs: `wrap(s, ctx)` runs first in the connection's task; when it
 * fails the connection is closed without calling the handler (silently,
 * as asyncio reports failed TLS handshakes only in debug mode).
 * `ctx_free(ctx)` runs when the server is freed, not if opening fails. */
struct cio__server_wrap {
  int (*wrap)(cio_stream *s, void *ctx);
  void (*ctx_free)(void *ctx);
  void *ctx;
};

/* cio_start_server / cio_start_unix_server (path != NULL) with `wrap`. */
int cio__start_server_wrapped(cio_server **out, cio_server_handler handler,
                              void *arg, const char *host, int port,
                              const char *path, const cio_server_opts *opts,
                              const struct cio__server_wrap *wrap);

/* Have libuv read from the socket even though the buffer is above its
 * limit (a layer waiting for its peer's goodbye).  No-op at EOF. */
void cio__stream_read_anyway(cio_stream *s);

/* The whole-object check of the invariants listed in stream.c, run as
 * CIO_ASSERT(cio__stream_check(s)) at the entry of public calls. */
bool cio__stream_check(const cio_stream *s);

/* True once close() was called or the stream is closing for another
 * reason (state CLOSING or later). */
static inline bool cio__stream_closing(const cio_stream *s) {
  return s->state >= CIO__SS_CLOSING;
}

/* CIO_EINVAL if `opts` (NULL: the defaults) has a limit <= 0, else 0. */
int cio__stream_opts_check(const cio_stream_opts *opts);

/* Allocate a stream with an initialised, unopened handle of `kind`.
 * `opts` may be NULL; it must pass cio__stream_opts_check.  Counts as a loop object until freed.  Returns 0,
 * CIO_ENOMEM, or a libuv init error; on failure `*out` is NULL. */
int cio__stream_new(cio_loop *loop, int kind, const cio_stream_opts *opts,
                    cio_stream **out);

/* The handle is connected / open: allow `dirs` (CIO__STREAM_READ starts
 * reading into the buffer at once).  Returns 0 or a libuv error. */
int cio__stream_start(cio_stream *s, int dirs);

/* Start closing (flush, then uv_close).  Never suspends; idempotent. */
void cio__stream_begin_close(cio_stream *s);

/* uv_close now, abandoning queued writes.  Idempotent. */
void cio__stream_abort(cio_stream *s);

/* Throw away a stream never handed to the user (a failed connect, accept
 * or spawn): abort it and drop the user's reference. */
void cio__stream_discard(cio_stream *s);

/* Park the calling task until the close callback ran.  Cancellation does
 * not interrupt it (the callback comes within one iteration once
 * uv_close was called): it is returned afterwards.  Returns 0 or
 * CIO_ECANCELED. */
int cio__stream_wait_uv_closed(cio_stream *s, cio_task *t);

/* The close callback ran (stream_write.c's on_close): the reader sees end
 * of file (stream.c). */
void cio__stream_feed_closed(cio_stream *s);

/* References: the stream is freed when the last goes and it is closed. */
/* "stream fd 7, 127.0.0.1:5000 -> 127.0.0.1:41234" (a cio__wait_kind
 * describe function, also for object lists: `obj` is the stream). */
void cio__stream_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out);
/* The waits on a stream, for task dumps. */
extern const struct cio__wait_kind cio__stream_close_kind;

void cio__stream_ref(cio_stream *s);
void cio__stream_unref(cio_stream *s);

#endif
