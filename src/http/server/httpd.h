/* Private side of the HTTP server (casyncio/http_server.h).
 *
 * Files:
 *   app.c       the routing table and matching a path against it
 *   request.c   what a handler reads: headers, parameters, query, body
 *   response.c  what a handler fills, and writing responses out
 *   conn.c      one connection: reading, parsing (http-parser), limits,
 *               dispatching requests to handlers, keep-alive
 *   server.c    a server on one loop: accepting, timeouts, shutdown
 *   run.c       cio_web_run: worker threads and signals
 *
 * A connection talks through `struct cio__http_io`, a stream in the
 * server and a buffer in the fuzzer (fuzz/fuzz_http_server_request.c),
 * which drives conn.c with cio__http_conn_serve() without sockets.
 */
#ifndef CIO_HTTP_SERVER_HTTPD_H
#define CIO_HTTP_SERVER_HTTPD_H

#include <http_parser.h>
#include <string.h>

#include "casyncio/http_server.h"
#include "http/token.h" /* cio__http_tchar, shared with the client */
#include "internal.h"

/* ---- growable byte buffers on the loop allocator ---------------------- */

struct cio__http_buf {
  char *p;
  size_t len, cap;
};

/* Make room for `more` bytes after len.  Returns 0 or CIO_ENOMEM. */
int cio__http_buf_reserve(cio_loop *loop, struct cio__http_buf *b,
                          size_t more);
int cio__http_buf_append(cio_loop *loop, struct cio__http_buf *b,
                         const void *p, size_t n);
void cio__http_buf_free(cio_loop *loop, struct cio__http_buf *b);

/* cio__http_buf_append with the common case (room already) inline. */
static inline int cio__http_buf_put(cio_loop *loop, struct cio__http_buf *b,
                                    const void *p, size_t n) {
  if (n > 0 && b->cap - b->len >= n) {
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
  }
  return cio__http_buf_append(loop, b, p, n);
}

/* ---- the transport -------------------------------------------------- */

struct cio__http_io_ops {
  /* Up to `cap` bytes into `buf`: the count, 0 at end of stream, or an
   * error (CIO_ECANCELED...).  May suspend. */
  ssize_t (*read)(void *ctx, void *buf, size_t cap);
  /* Queue `n` bytes.  Never suspends.  0 or an error. */
  int (*write)(void *ctx, const void *p, size_t n);
  /* Wait until the queue is below its low-water mark.  May suspend. */
  int (*drain)(void *ctx);
  /* End of stream already received and nothing left to read. */
  bool (*at_eof)(void *ctx);
  /* `count` bytes of file `fd` from `offset`.  May suspend. */
  ssize_t (*sendfile)(void *ctx, int fd, int64_t offset, size_t count);
  int (*peer_addr)(void *ctx, cio_addr *out);
  /* Half-close: end of stream to the peer once the queue is flushed. */
  int (*shutdown)(void *ctx);
};

struct cio__http_io {
  const struct cio__http_io_ops *ops;
  void *ctx;
};

/* ---- the routing table (app.c) ------------------------------------- */

enum cio__http_seg_kind {
  CIO__HTTP_SEG_LIT,   /* a literal segment */
  CIO__HTTP_SEG_PARAM, /* {name}: one segment */
  CIO__HTTP_SEG_REST,  /* {name...}: the rest, last only */
};

struct cio__http_seg {
  uint8_t kind;
  size_t len;
  char *text; /* the literal, or the parameter's name */
};

struct cio__http_method {
  char *method; /* NULL: any */
  int code;     /* http-parser's enum http_method; -1: none of them */
  cio_web_handler fn;
  void *arg;
};

struct cio__http_route {
  char *pattern;
  size_t pattern_len;
  struct cio__http_seg *segs;
  size_t nsegs;
  size_t nparams;
  struct cio__http_method *methods;
  size_t nmethods;
};

struct cio_web_app {
  struct cio__http_route *routes;
  size_t nroutes, cap;
  _Atomic int users; /* servers using it: read-only while > 0 */
};

/* A segment of the request path: bytes [off, off + len) of the raw path. */
struct cio__http_span {
  uint32_t off, len;
};

#define CIO__HTTP_MAX_SEGS 64 /* deeper paths only match rest params */

/* The outcome of routing a request. */
struct cio__http_match {
  const struct cio__http_route *route; /* NULL: 404, or 405 with allow */
  const struct cio__http_method *m;
  /* For each parameter of `route`, in pattern order: its raw value. */
  struct cio__http_span params[CIO__HTTP_MAX_SEGS];
  bool path_matched; /* some route matched the path (405 if no method) */
};

/* Route `method` (http-parser's enum http_method) + the raw `path` (no
 * query).  Fills `m`.  The Allow
 * header value of a 405 comes from cio__http_app_allow(). */
void cio__http_app_match(const cio_web_app *app, int method,
                         const char *path, size_t path_len,
                         struct cio__http_match *m);
/* Append "GET, HEAD, POST", the methods routed for `path`, to `b`. */
int cio__http_app_allow(const cio_web_app *app, cio_loop *loop,
                        const char *path, size_t path_len,
                        struct cio__http_buf *b);

/* ---- percent-decoding (request.c) --------------------------------- */

/* Decode `n` bytes of `src` into `dst` (room for n + 1), NUL-terminated;
 * `form`: '+' is a space.  "%00" and invalid escapes stay as they are.
 * Returns the decoded length. */
size_t cio__http_decode(char *dst, const char *src, size_t n, bool form);

/* ---- requests and responses ---------------------------------------- */

struct cio__http_header {
  const char *name, *value;
  uint32_t name_len, value_len;
};

/* Offsets of a header while the head is parsed (relative to the start of
 * the message in the input buffer, which may move). */
struct cio__http_header_off {
  uint32_t name_off, name_len, value_off, value_len;
};

struct cio__http_conn;

struct cio__http_query_pair {
  char *name, *value; /* decoded, in the arena */
};

struct cio_web_request {
  struct cio__http_conn *conn;
  const char *method;
  char *target; /* NUL-terminated in the input buffer */
  const char *path_raw; /* into target */
  size_t path_len;
  bool path_plain; /* no '.' nor '%' in the path: clean, nothing to decode */
  const char *query; /* into target, or "" */
  int version;
  struct cio__http_header *headers;
  size_t nheaders;
  const char *body;
  size_t body_len;
  struct cio__http_match match;
  char *path_decoded;        /* lazily, in the arena */
  char **param_values;       /* lazily decoded, per route parameter */
  struct cio__http_query_pair *query_pairs; /* lazily parsed */
  size_t nquery;
  bool query_parsed;
};

/* The response's progress. */
enum cio__http_res_state {
  CIO__HTTP_RES_FRESH,     /* nothing sent: status, headers, body settable */
  CIO__HTTP_RES_STREAMING, /* head sent, body chunks follow */
  CIO__HTTP_RES_DONE,      /* all sent (or given up) */
};

struct cio_web_response {
  struct cio__http_conn *conn;
  int status;
  uint8_t state;     /* cio__http_res_state */
  bool chunked;      /* streaming with chunked framing */
  bool has_type;     /* a Content-Type was set */
  bool has_date;     /* the handler set its own Date */
  bool close;        /* Connection: close after this response */
  bool failed;       /* a write failed: the connection is done */
  struct cio__http_buf headers; /* "Name: value\r\n" lines */
  struct cio__http_buf body;
};

/* ---- the server (server.c) and its connections (conn.c) -------------- */

enum cio__http_phase {
  CIO__HTTP_IDLE,    /* between requests: waiting for the first byte */
  CIO__HTTP_HEAD,    /* reading the request line and headers */
  CIO__HTTP_BODY,    /* reading the body */
  CIO__HTTP_HANDLER, /* a handler runs or the response is written */
  CIO__HTTP_CLOSING, /* done: the connection ends */
};

/* Why the server woke a connection's task (by cancelling it: see
 * conn.c's "internal wake-ups"). */
enum {
  CIO__HTTP_WAKE_TIMEOUT = 1,  /* its deadline passed */
  CIO__HTTP_WAKE_SHUTDOWN = 2, /* the server shuts down */
  CIO__HTTP_WAKE_HANDLER = 4,  /* its handler task finished */
};

/* Options with the defaults filled in. */
struct cio__http_limits {
  double header_timeout, body_timeout, keep_alive_timeout;
  /* The same in milliseconds, 0 for none (what the per-request code
   * adds to uv_now()). */
  uint64_t header_ms, body_ms, keep_alive_ms;
  size_t max_header_size, max_headers, max_body_size;
  bool cancel_on_disconnect;
  size_t stack_size;
  void (*log)(void *arg, const char *line);
  void *log_arg;
  int (*wrap)(cio_stream *raw, cio_stream **out, void *arg);
  void *wrap_arg;
};

/* What a connection needs from its server; the fuzzer fills one too. */
struct cio__http_shared {
  cio_loop *loop;
  const cio_web_app *app;
  struct cio__http_limits lim;
  bool draining;        /* graceful shutdown: close after each response */
  uint64_t date_next_ms; /* uv_now() at which `date` is stale */
  char date[40];        /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
  size_t date_len;
  struct cio__list conns; /* cio__http_conn.node */
  size_t nconns;
  cio_event *idle;      /* set when nconns drops to 0 */
};

/* Fill `lim` from `opts` (NULL: defaults).  Returns 0 or CIO_EINVAL. */
int cio__http_limits_init(struct cio__http_limits *lim,
                          const cio_web_server_opts *opts);

/* A connection's life (conn.c's comment has the state machine). */
struct cio__http_conn {
  struct cio__http_shared *sh;
  struct cio__http_io io;
  cio_task *task;    /* the connection's task */
  cio_task *handler; /* the handler's task while it runs, or NULL */
  struct cio__list node; /* in sh->conns */
  uint8_t phase;     /* cio__http_phase */
  bool watching;     /* parked reading while the handler task runs */
  bool handler_done;
  bool keep_alive;   /* the current request allows another after it */
  bool head_done;    /* the head was finalised (pointers, NULs) */
  bool in_value;     /* the last header callback was a value */
  bool is_head;      /* a HEAD request */
  int wake;          /* CIO__HTTP_WAKE_* bits */
  int wakes_pending; /* cancellations requested as wake-ups */
  int reject;        /* status to answer instead of dispatching, or 0 */
  uint64_t deadline_ms; /* uv_now() the read phase must end by; 0: none */
  http_parser parser;

  /* Input: bytes [0, in_len) of `in`; parsed up to `parsed`; the current
   * message starts at msg_start and its head ends at head_end. */
  char *in;
  size_t in_len, in_cap, parsed, msg_start, head_end;
  uint32_t url_off, url_len;
  struct cio__http_header_off *hoff;
  size_t nhoff, hoff_cap;
  struct cio__http_header *headers; /* finalised, hoff_cap of them */
  struct cio__http_buf body;
  struct cio__http_buf out; /* a response head being assembled */

  /* Per-request scratch memory (decoded strings), reset after each. */
  struct cio__http_arena_block *arena;

  cio_web_request req;
  cio_web_response res;
};

/* Serve requests on `c` (set up with cio__http_conn_init) until the
 * connection ends; runs in the connection's task.  Returns 0 or an error
 * (CIO_ECANCELED when the task was cancelled). */
int cio__http_conn_serve(struct cio__http_conn *c);
void cio__http_conn_init(struct cio__http_conn *c,
                         struct cio__http_shared *sh,
                         const struct cio__http_io *io);
void cio__http_conn_destroy(struct cio__http_conn *c);

/* Wake the connection's task for `reason` (CIO__HTTP_WAKE_*). */
void cio__http_conn_wake(struct cio__http_conn *c, int reason);

/* Scratch memory for the current request (freed after it).  NULL when
 * out of memory. */
void *cio__http_arena_alloc(struct cio__http_conn *c, size_t n);
/* After a request: free the arena, keeping one block to reuse if `keep`. */
void cio__http_arena_reset(struct cio__http_conn *c, bool keep);

/* response.c */
void cio__http_response_reset(cio_web_response *res);
/* Send what the handler left (or an error status): the whole response if
 * FRESH, the final chunk if STREAMING.  May suspend (flow control). */
int cio__http_response_finish(cio_web_response *res);
/* A response of the server's own: `status` with a short text body,
 * optional extra header lines ("Allow: GET\r\n"), Connection: close if
 * `close`.  Never suspends (the bytes are queued). */
int cio__http_send_simple(struct cio__http_conn *c, int status,
                          const char *extra_headers, bool close);
const char *cio__http_reason(int status);
/* Log a line through the server's log function (printf-style). */
void cio__http_log(struct cio__http_shared *sh, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
