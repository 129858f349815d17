/* One connection: read, parse with http-parser, check the limits,
 * dispatch each request to its handler, answer, and keep going while the
 * connection is kept alive.  Runs in the connection's task.
 *
 *   IDLE -> HEAD          first byte of a request       on_message_begin()
 *   HEAD -> BODY          end of the head               on_headers_complete()
 *   BODY -> HANDLER       end of the message            on_message_complete()
 *   HEAD|BODY -> HANDLER  a limit or a parse error (c->reject)
 *   HANDLER -> IDLE       response sent, kept alive     next_request()
 *   any -> CLOSING        end of stream, error, timeout, shutdown, close
 *
 * (1) The input buffer holds the current message from offset 0 (the
 *     previous one is compacted away before it begins), then whatever
 *     followed it (pipelined requests).  Header and URL positions are
 *     offsets until the head is complete; then they become pointers and
 *     the buffer never moves until the request is done.
 * (2) The head never exceeds max_header_size; body bytes are copied out
 *     as they are parsed and their space in the buffer reused.
 * (3) http-parser is paused at the end of the head and of each message,
 *     so one request is handled at a time and pipelined bytes wait.
 * (4) Internal wake-ups: the server (timeouts, shutdown) and the handler
 *     task wake this task by cancelling it while it waits in a read, and
 *     count it in wakes_pending; every read absorbs them with uncancel,
 *     so a cancellation from outside is never mistaken for one of ours
 *     nor lost.  They target a task only in the phases where it reads:
 *     IDLE, HEAD and BODY (timeouts, shutdown) or `watching` (handler
 *     done).
 */
#include <string.h>
#include <strings.h>

#include "http/server/httpd.h"

#define IN_START 4096   /* first input buffer */
#define READ_ROOM 2048  /* free space kept after a head for the body */
#define WOKEN (-100000) /* a read ended by an internal wake-up */
#define LINGER_MS 1000  /* reading what follows a refused request */
#define LINGER_BYTES (256 * 1024)

static const http_parser_settings settings;

/* uv_now() + `ms`, or 0 (no deadline) for 0: uv_now() is the loop's
 * clock cached at each poll, so a deadline costs no system call. */
static uint64_t deadline_after(struct cio__http_conn *c, uint64_t ms) {
  return ms ? uv_now(c->sh->loop->uv) + ms : 0;
}

/* ---- internal wake-ups ------------------------------------------------ */

void cio__http_conn_wake(struct cio__http_conn *c, int reason) {
  c->wake |= reason;
  if (cio_task_cancel(c->task) == 1)
    c->wakes_pending++;
}

/* Withdraw our own cancellations after a wait; WOKEN if one of them, and
 * not a cancellation from outside, ended it. */
static ssize_t absorb(struct cio__http_conn *c, ssize_t rc) {
  if (c->wakes_pending == 0)
    return rc;
  for (; c->wakes_pending > 0; c->wakes_pending--)
    cio_task_uncancel(c->task);
  if (rc == CIO_ECANCELED && cio_task_cancelling(c->task) == 0)
    return WOKEN;
  return rc;
}

/* ---- parser callbacks ------------------------------------------------- */

static uint32_t off_of(struct cio__http_conn *c, const char *at) {
  return (uint32_t)(at - c->in);
}

static int on_message_begin(http_parser *p) {
  struct cio__http_conn *c = p->data;
  c->phase = CIO__HTTP_HEAD;
  c->deadline_ms = deadline_after(c, c->sh->lim.header_ms);
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  struct cio__http_conn *c = p->data;
  if (c->url_len == 0)
    c->url_off = off_of(c, at);
  c->url_len += (uint32_t)len; /* pieces are contiguous, see (1) */
  return 0;
}

static int grow_headers(struct cio__http_conn *c) {
  size_t cap = c->hoff_cap ? 2 * c->hoff_cap : 16;
  if (cap > c->sh->lim.max_headers)
    cap = c->sh->lim.max_headers;
  cio_loop *loop = c->sh->loop;
  struct cio__http_header_off *h = cio__malloc(loop, cap * sizeof *h);
  struct cio__http_header *f = cio__malloc(loop, cap * sizeof *f);
  if (h == NULL || f == NULL) {
    cio__free(loop, h);
    cio__free(loop, f);
    return CIO_ENOMEM;
  }
  if (c->nhoff > 0)
    memcpy(h, c->hoff, c->nhoff * sizeof *h);
  cio__free(loop, c->hoff);
  cio__free(loop, c->headers);
  c->hoff = h;
  c->headers = f;
  c->hoff_cap = cap;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  struct cio__http_conn *c = p->data;
  if (c->head_done)
    return 0; /* a trailer after a chunked body: not kept */
  if (c->nhoff > 0 && !c->in_value) {
    c->hoff[c->nhoff - 1].name_len += (uint32_t)len;
    return 0;
  }
  if (c->nhoff == c->sh->lim.max_headers) {
    c->reject = 431;
    return -1;
  }
  if (c->nhoff == c->hoff_cap && grow_headers(c) < 0) {
    c->reject = 503;
    return -1;
  }
  c->hoff[c->nhoff++] = (struct cio__http_header_off){
      .name_off = off_of(c, at), .name_len = (uint32_t)len};
  c->in_value = false;
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  struct cio__http_conn *c = p->data;
  if (c->head_done)
    return 0;
  struct cio__http_header_off *h = &c->hoff[c->nhoff - 1];
  if (!c->in_value) {
    h->value_off = off_of(c, at);
    h->value_len = (uint32_t)len;
    c->in_value = true;
  } else if (off_of(c, at) == h->value_off + h->value_len) {
    h->value_len += (uint32_t)len;
  } else {
    c->reject = 400; /* obs-fold: a server may refuse it (RFC 9112 5.2) */
    return -1;
  }
  return 0;
}

/* ---- checks at the end of the head ----------------------------------- */

/* http-parser, built without its strict mode, lets "HTTX/1.1" and bare
 * CRs through in the request line: after the target comes exactly
 * " HTTP/d.d" and the end of the line. */
static bool request_line_ok(const struct cio__http_conn *c) {
  const char *p = c->in + c->url_off + c->url_len;
  return memcmp(p, " HTTP/", 6) == 0 && p[6] >= '0' && p[6] <= '9' &&
         p[7] == '.' && p[8] >= '0' && p[8] <= '9' &&
         (p[9] == '\n' || (p[9] == '\r' && p[10] == '\n'));
}

/* Where the head's bytes that finalise_head() writes end: after the
 * target and the last header value.  The body may reuse what follows. */
static size_t head_extent(const struct cio__http_conn *c) {
  size_t end = c->url_off + c->url_len + 1;
  for (size_t i = 0; i < c->nhoff; i++) {
    const struct cio__http_header_off *h = &c->hoff[i];
    size_t e = (size_t)h->value_off + h->value_len + 1;
    size_t n = (size_t)h->name_off + h->name_len + 1;
    end = e > end ? e : end;
    end = n > end ? n : end;
  }
  return end;
}

/* Header `name` (`n` bytes) while parsing: its value's offset, or -1. */
static long header_off(const struct cio__http_conn *c, const char *name,
                       size_t n, uint32_t *len) {
  for (size_t i = 0; i < c->nhoff; i++) {
    const struct cio__http_header_off *h = &c->hoff[i];
    if (h->name_len == n && strncasecmp(c->in + h->name_off, name, n) == 0) {
      *len = h->value_len;
      return (long)h->value_off;
    }
  }
  return -1;
}

/* Expect: 100-continue asks to hear that the body is welcome. */
static void handle_expect(struct cio__http_conn *c) {
  uint32_t len;
  long off = header_off(c, "expect", 6, &len);
  if (off < 0)
    return;
  const char *v = c->in + off;
  while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
    len--;
  if (len != 12 || strncasecmp(v, "100-continue", 12) != 0) {
    c->reject = 417;
    return;
  }
  bool body = (c->parser.flags & F_CHUNKED) ||
              (c->parser.content_length > 0 &&
               c->parser.content_length != ULLONG_MAX);
  if (body && c->parser.http_minor >= 1)
    c->io.ops->write(c->io.ctx, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* The head is complete (still inside the parser: offsets only, the
 * buffer must not move).  Refuse what can be refused before the body. */
static int on_headers_complete(http_parser *p) {
  struct cio__http_conn *c = p->data;
  c->phase = CIO__HTTP_BODY;
  c->deadline_ms = deadline_after(c, c->sh->lim.body_ms);
  c->head_done = true; /* header callbacks from now on are trailers */
  c->head_end = head_extent(c);
  if (c->head_end > c->sh->lim.max_header_size)
    c->reject = 431;
  else if (!request_line_ok(c))
    c->reject = 400;
  else if (p->content_length != ULLONG_MAX && !(p->flags & F_CHUNKED) &&
           p->content_length > c->sh->lim.max_body_size)
    c->reject = 413; /* refused before the client sends it */
  else
    handle_expect(c);
  return c->reject ? -1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  struct cio__http_conn *c = p->data;
  if (c->body.len + len > c->sh->lim.max_body_size) {
    c->reject = 413;
    return -1;
  }
  if (cio__http_buf_append(c->sh->loop, &c->body, at, len) < 0) {
    c->reject = 503;
    return -1;
  }
  return 0;
}

static int on_message_complete(http_parser *p) {
  struct cio__http_conn *c = p->data;
  c->phase = CIO__HTTP_HANDLER;
  c->deadline_ms = 0;
  http_parser_pause(p, 1); /* one request at a time, see (3) */
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- the head, once the message is complete ------------------------------ */

/* NUL-terminate the name and value of header `i` in place (the bytes
 * after them, ':' and CR, are parsed already) and point at them.  False
 * for a name that is no token (http-parser lets spaces through). */
static bool finalise_header(struct cio__http_conn *c, size_t i) {
  struct cio__http_header_off *h = &c->hoff[i];
  char *name = c->in + h->name_off, *value = c->in + h->value_off;
  if (h->name_len == 0)
    return false;
  for (uint32_t k = 0; k < h->name_len; k++)
    if (!cio__http_tchar[(unsigned char)name[k]])
      return false;
  uint32_t vlen = h->value_len;
  while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
    vlen--;
  name[h->name_len] = '\0';
  value[vlen] = '\0';
  c->headers[i] = (struct cio__http_header){name, value, h->name_len, vlen};
  return true;
}

/* The message is in: its strings become NUL-terminated pointers into the
 * input buffer, which stays put until the request is done (1). */
static void finalise_head(struct cio__http_conn *c) {
  for (size_t i = 0; i < c->nhoff; i++)
    if (!finalise_header(c, i)) {
      c->reject = 400;
      return;
    }
  c->in[c->url_off + c->url_len] = '\0';
  c->req.headers = c->headers;
  c->req.nheaders = c->nhoff;
  c->req.version = c->parser.http_major * 10 + c->parser.http_minor;
}

/* ---- reading ------------------------------------------------------------ */

/* The input buffer may grow up to a head of max_header_size plus room to
 * read the body after it. */
static size_t in_limit(struct cio__http_conn *c) {
  return c->sh->lim.max_header_size + READ_ROOM;
}

/* Feed the unparsed input to the parser.  Returns 1 when a request is
 * ready (or refused: c->reject), 0 when more input is needed. */
static int parse_some(struct cio__http_conn *c) {
  if (c->parsed < c->in_len) {
    size_t n = http_parser_execute(&c->parser, &settings, c->in + c->parsed,
                                   c->in_len - c->parsed);
    c->parsed += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
      finalise_head(c);
      return 1;
    }
    if (e != HPE_OK) {
      if (c->reject == 0)
        c->reject = e == HPE_HEADER_OVERFLOW ? 431 : 400;
      return 1;
    }
  }
  if (c->phase == CIO__HTTP_HEAD && c->parsed > c->sh->lim.max_header_size) {
    c->reject = 431;
    return 1;
  }
  if (c->phase == CIO__HTTP_BODY) /* body bytes are copied out: reuse */
    c->in_len = c->parsed = c->head_end;
  else if (c->phase == CIO__HTTP_IDLE) /* only blank lines so far */
    c->in_len = c->parsed = 0;
  return 0;
}

/* Make room for a read: the buffer grows while the head does, up to the
 * limit (no pointer into it exists before the message is complete). */
static int make_room(struct cio__http_conn *c) {
  if (c->in_cap > c->in_len)
    return 0;
  if (c->in_cap >= in_limit(c)) {
    c->reject = 431;
    return 1;
  }
  size_t cap = c->in_cap ? 2 * c->in_cap : IN_START;
  if (cap > in_limit(c))
    cap = in_limit(c);
  char *p = cio__malloc(c->sh->loop, cap + 1);
  if (p == NULL)
    return CIO_ENOMEM;
  if (c->in_len > 0)
    memcpy(p, c->in, c->in_len);
  cio__free(c->sh->loop, c->in);
  c->in = p;
  c->in_cap = cap;
  return 0;
}

/* Read more input.  Returns 0 with more bytes, 1 when a request is to be
 * answered anyway (c->reject), -1 when the connection should just close,
 * or an error (CIO_ECANCELED...). */
static int read_more(struct cio__http_conn *c) {
  int rc = make_room(c);
  if (rc != 0)
    return rc;
  ssize_t n = c->io.ops->read(c->io.ctx, c->in + c->in_len,
                              c->in_cap - c->in_len);
  n = absorb(c, n);
  if (n > 0) {
    c->in_len += (size_t)n;
    return 0;
  }
  if (n == WOKEN) {
    bool idle = c->phase == CIO__HTTP_IDLE;
    if (c->wake & CIO__HTTP_WAKE_TIMEOUT) {
      c->reject = idle ? 0 : 408;
      return idle ? -1 : 1;
    }
    return idle && c->sh->draining ? -1 : 0; /* in flight: finish it */
  }
  if (n == 0 || n == CIO_ECONNRESET || n == CIO_EPIPE)
    return -1; /* the client left, maybe in the middle of a request */
  return (int)n;
}

/* Read until a whole request is in (or refused).  Returns 1, -1 (close
 * quietly) or an error. */
static int read_request(struct cio__http_conn *c) {
  for (;;) {
    if (c->parsed < c->in_len && parse_some(c) == 1)
      return 1;
    if (c->phase == CIO__HTTP_IDLE && c->sh->draining)
      return -1;
    c->wake = 0;
    int rc = read_more(c);
    if (rc != 0)
      return rc;
  }
}

/* ---- the request line -------------------------------------------------- */

/* Split the target into path and query; false if it has no usable path. */
static bool split_target(struct cio__http_conn *c) {
  cio_web_request *req = &c->req;
  char *t = req->target;
  size_t len = c->url_len;
  if (t[0] != '/') { /* absolute-form: http://host/path?query */
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(t, len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH)))
      return false;
    req->path_raw = t + u.field_data[UF_PATH].off;
    req->path_len = u.field_data[UF_PATH].len;
    req->path_plain = false; /* rare: path_is_clean() looks */
  } else { /* a byte loop: shorter than strcspn's setup for a path */
    bool plain = true;
    size_t i = 0;
    for (; t[i] != '\0' && t[i] != '?' && t[i] != '#'; i++)
      plain &= t[i] != '.' && t[i] != '%';
    req->path_raw = t;
    req->path_len = i;
    req->path_plain = plain;
  }
  const char *q = req->path_raw + req->path_len;
  req->query = "";
  if (*q == '?') {
    size_t qlen = strcspn(q + 1, "#");
    if (q[1 + qlen] == '\0') {
      req->query = q + 1;
    } else { /* a fragment: copy the query out rather than cut target */
      char *copy = cio__http_arena_alloc(c, qlen + 1);
      if (copy == NULL)
        return false;
      memcpy(copy, q + 1, qlen);
      copy[qlen] = '\0';
      req->query = copy;
    }
  }
  return req->path_len > 0 && req->path_raw[0] == '/';
}

/* No "." or ".." segment, encoded or not. */
static bool path_is_clean(struct cio__http_conn *c) {
  const char *p = c->req.path_raw;
  size_t n = c->req.path_len;
  if (c->req.path_plain ||
      (memchr(p, '.', n) == NULL && memchr(p, '%', n) == NULL))
    return true;
  char *d = cio__http_arena_alloc(c, n + 1);
  if (d == NULL)
    return false;
  size_t len = cio__http_decode(d, p, n, false);
  for (size_t i = 0; i < len; i++) {
    if (d[i] != '/')
      continue;
    size_t k = i + 1;
    while (k < len && d[k] == '.')
      k++;
    if ((k == i + 2 || k == i + 3) && (k == len || d[k] == '/'))
      return false;
  }
  return true;
}

/* ---- dispatching --------------------------------------------------------- */

static void log_failure(struct cio__http_conn *c, int rc) {
  cio_task *t = cio_current_task();
  cio__http_log(c->sh, "casyncio http: handler of %s %s failed in task %s: "
                       "%s (%s)",
                c->req.method, c->req.match.route->pattern,
                t ? cio_task_get_name(t) : "?", cio_err_name(rc),
                cio_strerror(rc));
}

/* Call the handler and send what it left (500 if it failed). */
static int run_handler(struct cio__http_conn *c) {
  const struct cio__http_method *m = c->req.match.m;
  int rc = m->fn(&c->req, &c->res, m->arg);
  if (rc == CIO_ECANCELED) {
    c->keep_alive = false; /* nothing (or half a response) was sent */
    return rc;
  }
  if (rc < 0) {
    log_failure(c, rc);
    if (c->res.state != CIO__HTTP_RES_FRESH) {
      c->keep_alive = false; /* a truncated body: the client must see it */
      return 0;
    }
    return cio__http_send_simple(c, 500, NULL, false);
  }
  return cio__http_response_finish(&c->res);
}

static int handler_main(void *arg, void **result) {
  (void)result;
  struct cio__http_conn *c = arg;
  int rc = run_handler(c);
  c->handler_done = true;
  if (c->watching)
    cio__http_conn_wake(c, CIO__HTTP_WAKE_HANDLER);
  return rc == CIO_ECANCELED ? rc : 0;
}

static int await_handler(struct cio__http_conn *c) {
  int rc = 0;
  while (!cio_task_is_done(c->handler)) {
    int arc = cio_task_await(c->handler, NULL);
    if (arc == CIO_ECANCELED && !cio_task_is_done(c->handler))
      rc = CIO_ECANCELED; /* passed on to the handler; wait for it */
  }
  return rc;
}

/* The client went away, or this task was cancelled: cancel the handler
 * and wait for it. */
static int stop_handler(struct cio__http_conn *c, int why) {
  c->keep_alive = false;
  cio_task_cancel(c->handler);
  int rc = await_handler(c);
  return why == CIO_ECANCELED ? why : rc;
}

/* Run the handler in a task of its own while this task watches the
 * connection: a client that leaves gets its handler cancelled.  Bytes
 * that arrive meanwhile (pipelined requests) are kept. */
static int run_in_task(struct cio__http_conn *c) {
  cio_task_opts o = {.stack_size = c->sh->lim.stack_size};
  c->handler_done = false;
  int rc = cio_create_task(c->sh->loop, &c->handler, handler_main, c, &o);
  if (rc < 0)
    return rc;
  while (rc == 0 && !c->handler_done) {
    if (c->in_len == c->in_cap || c->io.ops->at_eof(c->io.ctx)) {
      rc = await_handler(c); /* nothing more to watch */
      break;
    }
    c->watching = true;
    ssize_t n = c->io.ops->read(c->io.ctx, c->in + c->in_len,
                                c->in_cap - c->in_len);
    c->watching = false;
    n = absorb(c, n);
    if (n > 0)
      c->in_len += (size_t)n;
    else if (n != WOKEN)
      rc = stop_handler(c, n == CIO_ECANCELED ? CIO_ECANCELED : 0);
  }
  if (rc == 0 && !cio_task_is_done(c->handler))
    rc = await_handler(c);
  cio_task_release(c->handler);
  c->handler = NULL;
  return rc;
}

static int answer_unrouted(struct cio__http_conn *c) {
  if (!c->req.match.path_matched)
    return cio__http_send_simple(c, 404, NULL, false);
  struct cio__http_buf allow = {0};
  cio_loop *loop = c->sh->loop;
  int rc = cio__http_buf_append(loop, &allow, "Allow: ", 7);
  if (rc == 0)
    rc = cio__http_app_allow(c->sh->app, loop, c->req.path_raw,
                             c->req.path_len, &allow);
  if (rc == 0)
    rc = cio__http_buf_append(loop, &allow, "\r\n", 3); /* with the NUL */
  if (rc == 0)
    rc = cio__http_send_simple(c, 405, allow.p, false);
  cio__http_buf_free(loop, &allow);
  return rc;
}

/* Everything about the request the handler sees. */
static int prepare_request(struct cio__http_conn *c) {
  cio_web_request *req = &c->req;
  req->method = http_method_str((enum http_method)c->parser.method);
  req->target = c->in + c->url_off;
  c->is_head = c->parser.method == HTTP_HEAD;
  c->keep_alive = http_should_keep_alive(&c->parser) && !c->parser.upgrade;
  req->body = "";
  req->body_len = c->body.len;
  if (c->body.len > 0) { /* a NUL after it, for string-minded handlers */
    if (cio__http_buf_append(c->sh->loop, &c->body, "", 1) < 0)
      return 503;
    c->body.len--;
    req->body = c->body.p;
  }
  if (c->parser.http_major != 1)
    return 505;
  if (c->parser.method == HTTP_CONNECT || !split_target(c) ||
      !path_is_clean(c))
    return 400;
  return 0;
}

static int dispatch(struct cio__http_conn *c) {
  int status = prepare_request(c);
  if (status != 0)
    return cio__http_send_simple(c, status, NULL, true);
  cio__http_app_match(c->sh->app, c->parser.method, c->req.path_raw,
                      c->req.path_len, &c->req.match);
  if (c->req.match.route == NULL)
    return answer_unrouted(c);
  cio__http_response_reset(&c->res);
  if (c->sh->lim.cancel_on_disconnect)
    return run_in_task(c);
  return run_handler(c);
}

/* ---- refusing ------------------------------------------------------------ */

/* Read and drop what the client still sends (for a short while) after a
 * refusal, so that closing does not reset the connection before the
 * client has read the answer (nginx's lingering close). */
static void linger(struct cio__http_conn *c) {
  if (c->io.ops->shutdown == NULL || c->in_cap == 0 ||
      c->io.ops->shutdown(c->io.ctx) < 0)
    return;
  cio_timeout to;
  if (cio_timeout_enter(&to, LINGER_MS / 1000.0) < 0)
    return;
  size_t total = 0;
  int rc = 0;
  while (rc == 0 && total < LINGER_BYTES) {
    ssize_t n = c->io.ops->read(c->io.ctx, c->in, c->in_cap);
    if (n <= 0)
      rc = n < 0 ? (int)n : 1;
    else
      total += (size_t)n;
  }
  (void)!cio_timeout_exit(&to, rc < 0 ? rc : 0); /* best effort */
}

static int refuse(struct cio__http_conn *c) {
  int rc = cio__http_send_simple(c, c->reject, NULL, true);
  if (rc == 0)
    rc = c->io.ops->drain(c->io.ctx);
  if (rc == 0)
    linger(c);
  return rc;
}

/* ---- the connection's loop ---------------------------------------------- */

/* Forget what the handler saw (the arena that held it is reset too). */
static void request_reset(cio_web_request *req) {
  req->headers = NULL;
  req->nheaders = 0;
  req->match.route = NULL;
  req->match.m = NULL;
  req->path_decoded = NULL;
  req->param_values = NULL;
  req->query_pairs = NULL;
  req->nquery = 0;
  req->query_parsed = false;
}

/* After a response: forget the request, keep the pipelined bytes. */
static void next_request(struct cio__http_conn *c) {
  size_t rest = c->in_len - c->parsed;
  if (rest > 0 && c->parsed > 0)
    memmove(c->in, c->in + c->parsed, rest);
  c->in_len = rest;
  c->parsed = c->head_end = 0;
  c->url_off = c->url_len = 0;
  c->nhoff = 0;
  c->in_value = c->head_done = false;
  c->body.len = 0;
  c->reject = 0;
  request_reset(&c->req);
  cio__http_arena_reset(c, true);
  c->phase = CIO__HTTP_IDLE;
  c->deadline_ms = deadline_after(c, c->sh->lim.keep_alive_ms);
}

int cio__http_conn_serve(struct cio__http_conn *c) {
  for (;;) {
    int rc = read_request(c);
    if (rc < 0)
      return rc == -1 ? 0 : rc;
    c->phase = CIO__HTTP_HANDLER; /* no internal wake-ups from here */
    c->deadline_ms = 0;
    if (c->reject) {
      rc = refuse(c);
      return rc == CIO_ECANCELED ? rc : 0;
    }
    rc = dispatch(c);
    if (rc < 0 || !c->keep_alive || c->res.failed)
      return rc == CIO_ECANCELED ? rc : 0;
    next_request(c);
  }
}

void cio__http_conn_init(struct cio__http_conn *c,
                         struct cio__http_shared *sh,
                         const struct cio__http_io *io) {
  memset(c, 0, sizeof *c);
  c->sh = sh;
  c->io = *io;
  c->task = cio_current_task();
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->req.conn = c;
  c->res.conn = c;
  c->phase = CIO__HTTP_IDLE;
  c->deadline_ms = deadline_after(c, sh->lim.header_ms);
  cio__list_push_back(&sh->conns, &c->node);
  sh->nconns++;
}

void cio__http_conn_destroy(struct cio__http_conn *c) {
  cio_loop *loop = c->sh->loop;
  c->phase = CIO__HTTP_CLOSING;
  cio__list_remove(&c->node);
  if (--c->sh->nconns == 0 && c->sh->idle != NULL)
    cio_event_set(c->sh->idle);
  cio__http_arena_reset(c, false);
  cio__free(loop, c->in);
  cio__free(loop, c->hoff);
  cio__free(loop, c->headers);
  cio__http_buf_free(loop, &c->body);
  cio__http_buf_free(loop, &c->out);
  cio__http_buf_free(loop, &c->res.headers);
  cio__http_buf_free(loop, &c->res.body);
}
