/* What a handler fills, and putting responses on the wire.
 *
 *   FRESH -> DONE        handler returned / end()     finish()
 *   FRESH -> DONE        send_file()                  this file
 *   FRESH -> STREAMING   first write()                start_streaming()
 *   STREAMING -> DONE    end() / handler returned     finish()
 *
 * (1) In FRESH nothing is on the wire; status, headers and body can
 *     change.  After it, every setter returns CIO_EALREADY.
 * (2) A head goes out in one write, with the body too when it is small,
 *     so that a typical response costs one send(2).
 * (3) A failed write marks the response failed and the connection not
 *     reusable; nothing more is written to it.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/server/httpd.h"

#define INLINE_BODY (16 * 1024) /* bodies up to this go out with the head */

const char *cio__http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return status < 300 ? "OK" : status < 400 ? "Redirect" : "Error";
  }
}

void cio__http_log(struct cio__http_shared *sh, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (sh->lim.log != NULL)
    sh->lim.log(sh->lim.log_arg, line);
  else
    fprintf(stderr, "%s\n", line);
}

/* ---- the Date header, formatted once a second -------------------------- */

/* Reformatted when the wall clock enters a new second; between, one
 * comparison with the loop's cached clock (uv_now) decides. */
static void update_date(struct cio__http_shared *sh) {
  uint64_t now_ms = uv_now(sh->loop->uv);
  if (now_ms < sh->date_next_ms)
    return;
  static const char days[][4] = {"Sun", "Mon", "Tue", "Wed",
                                 "Thu", "Fri", "Sat"};
  static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(sh->date, sizeof sh->date,
                   "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                   days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  sh->date_len = n > 0 && (size_t)n < sizeof sh->date ? (size_t)n : 0;
  /* uv_now() lags the real clock by up to a loop iteration: look again
   * at the next millisecond past the second's end. */
  sh->date_next_ms = now_ms + (uint64_t)(1000 - ts.tv_nsec / 1000000);
}

/* ---- setters ------------------------------------------------------------ */

void cio__http_response_reset(cio_web_response *res) {
  res->status = 200;
  res->state = CIO__HTTP_RES_FRESH;
  res->chunked = res->has_type = res->has_date = false;
  res->close = res->failed = false;
  res->headers.len = 0;
  res->body.len = 0;
}

static int check_fresh(const cio_web_response *res) {
  if (res == NULL)
    return CIO_EINVAL;
  return res->state == CIO__HTTP_RES_FRESH ? 0 : CIO_EALREADY;
}

int cio_web_response_set_status(cio_web_response *res, int status) {
  int rc = check_fresh(res);
  if (rc < 0)
    return rc;
  if (status < 200 || status > 599)
    return CIO_EINVAL;
  res->status = status;
  return 0;
}

static bool name_is(const char *name, size_t n, const char *what,
                    size_t wn) {
  return n == wn && strcasecmp(name, what) == 0;
}

/* Headers the server owns or interprets.  Returns 1 when the header is
 * consumed here, 0 to store it, or CIO_EINVAL.  Lengths first: most
 * names are none of these. */
static int special_header(cio_web_response *res, const char *name, size_t n,
                          const char *value) {
  if (name_is(name, n, "Content-Length", 14) ||
      name_is(name, n, "Transfer-Encoding", 17))
    return CIO_EINVAL;
  if (name_is(name, n, "Connection", 10)) {
    if (strcasecmp(value, "close") == 0)
      res->close = true;
    else if (strcasecmp(value, "keep-alive") != 0)
      return CIO_EINVAL;
    return 1;
  }
  if (name_is(name, n, "Content-Type", 12))
    res->has_type = true;
  else if (name_is(name, n, "Date", 4))
    res->has_date = true;
  return 0;
}

int cio_web_response_add_header(cio_web_response *res, const char *name,
                                 const char *value) {
  int rc = check_fresh(res);
  if (rc < 0)
    return rc;
  if (name == NULL || value == NULL || !cio__http_is_token(name) ||
      !cio__http_valid_value(value))
    return CIO_EINVAL;
  size_t n = strlen(name), v = strlen(value);
  rc = special_header(res, name, n, value);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  cio_loop *loop = res->conn->sh->loop;
  rc = cio__http_buf_reserve(loop, &res->headers, n + v + 4);
  if (rc < 0)
    return rc;
  struct cio__http_buf *b = &res->headers;
  memcpy(b->p + b->len, name, n);
  memcpy(b->p + b->len + n, ": ", 2);
  memcpy(b->p + b->len + n + 2, value, v);
  memcpy(b->p + b->len + n + 2 + v, "\r\n", 2);
  b->len += n + v + 4;
  return 0;
}

/* Drop the header lines called `name` from the buffer. */
static void remove_header(cio_web_response *res, const char *name) {
  struct cio__http_buf *b = &res->headers;
  size_t n = strlen(name), at = 0;
  while (at < b->len) {
    char *line = b->p + at;
    char *end = memchr(line, '\n', b->len - at);
    size_t len = (size_t)(end - line) + 1;
    if (len > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
      memmove(line, line + len, b->len - at - len);
      b->len -= len;
    } else {
      at += len;
    }
  }
}

int cio_web_response_set_header(cio_web_response *res, const char *name,
                                 const char *value) {
  int rc = check_fresh(res);
  if (rc < 0)
    return rc;
  if (name == NULL || value == NULL || !cio__http_is_token(name) ||
      !cio__http_valid_value(value))
    return CIO_EINVAL;
  remove_header(res, name);
  return cio_web_response_add_header(res, name, value);
}

int cio_web_response_set_body(cio_web_response *res, const void *data,
                               size_t len) {
  int rc = check_fresh(res);
  if (rc < 0)
    return rc;
  if (data == NULL && len > 0)
    return CIO_EINVAL;
  res->body.len = 0;
  return cio__http_buf_put(res->conn->sh->loop, &res->body, data, len);
}

/* Status and a Content-Type line of our own (no checks needed), for the
 * typed setters: the common path, kept short. */
static int set_typed(cio_web_response *res, int status, const char *line,
                     size_t n) {
  int rc = cio_web_response_set_status(res, status);
  if (rc < 0)
    return rc;
  if (res->has_type)
    remove_header(res, "Content-Type");
  res->has_type = true;
  return cio__http_buf_put(res->conn->sh->loop, &res->headers, line, n);
}

#define TEXT_TYPE "Content-Type: text/plain; charset=utf-8\r\n"
#define JSON_TYPE "Content-Type: application/json\r\n"

int cio_web_response_set_text(cio_web_response *res, int status,
                               const char *text) {
  if (text == NULL)
    return CIO_EINVAL;
  int rc = set_typed(res, status, TEXT_TYPE, sizeof TEXT_TYPE - 1);
  return rc < 0 ? rc : cio_web_response_set_body(res, text, strlen(text));
}

/* Serialise straight into the body buffer (jansson's json_dumpb says how
 * much it needed when the buffer was too small: then once more). */
int cio_web_response_set_json(cio_web_response *res, int status,
                               const struct json_t *json) {
  if (json == NULL)
    return CIO_EINVAL;
  int rc = set_typed(res, status, JSON_TYPE, sizeof JSON_TYPE - 1);
  if (rc < 0)
    return rc;
  const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
  cio_loop *loop = res->conn->sh->loop;
  size_t need = 256;
  res->body.len = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (cio__http_buf_reserve(loop, &res->body, need) < 0)
      return CIO_ENOMEM;
    need = json_dumpb(json, res->body.p, res->body.cap, flags);
    if (need == 0)
      return CIO_EINVAL; /* jansson could not encode it */
    if (need <= res->body.cap) {
      res->body.len = need;
      return 0;
    }
  }
  return CIO_ENOMEM; /* not reached: the second pass had room */
}

bool cio_web_response_is_started(const cio_web_response *res) {
  return res != NULL && res->state != CIO__HTTP_RES_FRESH;
}

/* ---- the head ------------------------------------------------------------ */

enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_UNTIL_CLOSE, FRAME_NONE };

static bool no_body_status(int status) {
  return status == 204 || status == 304 || status < 200;
}

static char *put(char *p, const char *s, size_t n) {
  if (n > 0) /* s may be NULL then: an empty buffer */
    memcpy(p, s, n);
  return p + n;
}

static char *put_size(char *p, size_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0)
    *p++ = tmp[--n];
  return p;
}

/* Assemble the head into conn->out (emptied first). */
static int build_head(cio_web_response *res, enum framing fr, size_t length) {
  struct cio__http_conn *c = res->conn;
  struct cio__http_shared *sh = c->sh;
  if (res->close || sh->draining || fr == FRAME_UNTIL_CLOSE)
    c->keep_alive = false;
  update_date(sh);
  size_t need = 160 + sh->date_len + res->headers.len;
  c->out.len = 0;
  int rc = cio__http_buf_reserve(sh->loop, &c->out, need);
  if (rc < 0)
    return rc;
  char *p = c->out.p;
  if (res->status == 200) {
    p = put(p, "HTTP/1.1 200 OK\r\n", 17);
  } else {
    const char *reason = cio__http_reason(res->status); /* < 40 bytes */
    p = put(p, "HTTP/1.1 ", 9);
    p = put_size(p, (size_t)res->status);
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    p = put(p, "\r\n", 2);
  }
  if (!res->has_date)
    p = put(p, sh->date, sh->date_len);
  if (fr == FRAME_LENGTH) {
    p = put(p, "Content-Length: ", 16);
    p = put_size(p, length);
    p = put(p, "\r\n", 2);
  } else if (fr == FRAME_CHUNKED) {
    p = put(p, "Transfer-Encoding: chunked\r\n", 28);
  }
  p = put(p, res->headers.p, res->headers.len);
  if (!c->keep_alive)
    p = put(p, "Connection: close\r\n", 19);
  else if (c->req.version == 10)
    p = put(p, "Connection: keep-alive\r\n", 24);
  p = put(p, "\r\n", 2);
  c->out.len = (size_t)(p - c->out.p);
  return 0;
}

static int io_write(cio_web_response *res, const void *p, size_t n) {
  struct cio__http_io *io = &res->conn->io;
  int rc = io->ops->write(io->ctx, p, n);
  if (rc < 0) {
    res->failed = true;
    res->conn->keep_alive = false;
  }
  return rc;
}

static int io_drain(cio_web_response *res) {
  struct cio__http_io *io = &res->conn->io;
  int rc = io->ops->drain(io->ctx);
  if (rc < 0 && rc != CIO_ECANCELED) {
    res->failed = true;
    res->conn->keep_alive = false;
  }
  return rc;
}

/* The whole response of a FRESH state: head and body in one write when
 * the body is small.  Drains when `drain` (may suspend). */
static int send_whole(cio_web_response *res, bool drain) {
  struct cio__http_conn *c = res->conn;
  bool nobody = no_body_status(res->status);
  size_t blen = nobody ? 0 : res->body.len;
  int rc = build_head(res, nobody ? FRAME_NONE : FRAME_LENGTH, blen);
  res->state = CIO__HTTP_RES_DONE;
  if (rc < 0)
    return rc;
  if (c->is_head)
    blen = 0;
  if (blen > 0 && blen <= INLINE_BODY) {
    rc = cio__http_buf_put(c->sh->loop, &c->out, res->body.p, blen);
    if (rc < 0)
      return rc;
    blen = 0;
  }
  rc = io_write(res, c->out.p, c->out.len);
  if (rc == 0 && blen > 0)
    rc = io_write(res, res->body.p, blen);
  if (rc == 0 && drain)
    rc = io_drain(res);
  return rc;
}

int cio__http_response_finish(cio_web_response *res) {
  if (res->failed)
    return 0;
  if (res->state == CIO__HTTP_RES_FRESH)
    return send_whole(res, true);
  if (res->state != CIO__HTTP_RES_STREAMING)
    return 0;
  res->state = CIO__HTTP_RES_DONE;
  if (!res->chunked || res->conn->is_head)
    return 0;
  int rc = io_write(res, "0\r\n\r\n", 5);
  return rc < 0 ? rc : io_drain(res);
}

int cio__http_send_simple(struct cio__http_conn *c, int status,
                          const char *extra_headers, bool close) {
  cio_web_response *res = &c->res;
  cio__http_response_reset(res);
  res->status = status;
  res->close = close;
  cio_loop *loop = c->sh->loop;
  const char *reason = cio__http_reason(status);
  int rc = cio__http_buf_append(loop, &res->headers, TEXT_TYPE,
                                sizeof TEXT_TYPE - 1);
  if (rc == 0 && extra_headers != NULL)
    rc = cio__http_buf_append(loop, &res->headers, extra_headers,
                              strlen(extra_headers));
  if (rc == 0)
    rc = cio__http_buf_append(loop, &res->body, reason, strlen(reason));
  if (rc == 0)
    rc = cio__http_buf_append(loop, &res->body, "\n", 1);
  if (rc < 0) {
    c->keep_alive = false;
    return rc;
  }
  return send_whole(res, false);
}

/* ---- streaming ------------------------------------------------------------ */

static int start_streaming(cio_web_response *res) {
  struct cio__http_conn *c = res->conn;
  res->body.len = 0;
  enum framing fr = FRAME_CHUNKED;
  if (no_body_status(res->status))
    fr = FRAME_NONE;
  else if (c->req.version < 11)
    fr = FRAME_UNTIL_CLOSE;
  int rc = build_head(res, fr, 0);
  res->state = CIO__HTTP_RES_STREAMING;
  res->chunked = fr == FRAME_CHUNKED;
  if (rc < 0) {
    res->failed = true;
    c->keep_alive = false;
    return rc;
  }
  if (fr == FRAME_NONE)
    c->is_head = true; /* nothing may follow the head */
  return io_write(res, c->out.p, c->out.len);
}

static int write_chunk(cio_web_response *res, const void *data, size_t len) {
  struct cio__http_conn *c = res->conn;
  if (!res->chunked)
    return io_write(res, data, len);
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  c->out.len = 0;
  int rc = cio__http_buf_reserve(c->sh->loop, &c->out, (size_t)n + len + 2);
  if (rc < 0)
    return rc;
  memcpy(c->out.p, size, (size_t)n);
  memcpy(c->out.p + n, data, len);
  memcpy(c->out.p + n + len, "\r\n", 2);
  c->out.len = (size_t)n + len + 2;
  return io_write(res, c->out.p, c->out.len);
}

int cio_web_response_write(cio_web_response *res, const void *data,
                            size_t len) {
  if (res == NULL || (data == NULL && len > 0))
    return CIO_EINVAL;
  if (res->state == CIO__HTTP_RES_DONE)
    return CIO_EALREADY;
  if (res->failed)
    return CIO_EPIPE;
  int rc = 0;
  if (res->state == CIO__HTTP_RES_FRESH)
    rc = start_streaming(res);
  if (rc == 0 && len > 0 && !res->conn->is_head)
    rc = write_chunk(res, data, len);
  return rc < 0 ? rc : io_drain(res);
}

int cio_web_response_end(cio_web_response *res) {
  if (res == NULL)
    return CIO_EINVAL;
  if (res->state == CIO__HTTP_RES_DONE)
    return CIO_EALREADY;
  return cio__http_response_finish(res);
}

/* ---- files ---------------------------------------------------------------- */

int cio_web_response_send_file(cio_web_response *res, const char *path,
                                const char *content_type) {
  int rc = check_fresh(res);
  if (rc < 0)
    return rc;
  if (path == NULL ||
      (content_type != NULL && !cio__http_valid_value(content_type)))
    return CIO_EINVAL;
  int fd;
  rc = cio_fs_open(path, O_RDONLY, 0, &fd);
  if (rc < 0)
    return rc;
  cio_stat st;
  rc = cio_fs_fstat(fd, &st);
  if (rc == 0 && !S_ISREG(st.mode))
    rc = CIO_EISDIR;
  if (rc == 0 && content_type != NULL)
    rc = cio_web_response_set_header(res, "Content-Type", content_type);
  else if (rc == 0 && !res->has_type)
    rc = cio_web_response_set_header(res, "Content-Type",
                                      "application/octet-stream");
  if (rc == 0)
    rc = build_head(res, FRAME_LENGTH, (size_t)st.size);
  if (rc == 0) {
    res->state = CIO__HTTP_RES_DONE;
    rc = io_write(res, res->conn->out.p, res->conn->out.len);
  }
  if (rc == 0 && !res->conn->is_head && st.size > 0) {
    struct cio__http_io *io = &res->conn->io;
    ssize_t n = io->ops->sendfile(io->ctx, fd, 0, (size_t)st.size);
    if (n >= 0 && (uint64_t)n != st.size)
      n = CIO_EIO; /* the file shrank: the length sent is a lie */
    if (n < 0) {
      res->failed = true;
      res->conn->keep_alive = false;
      rc = (int)n;
    }
  }
  close(fd); /* a regular file: close(2) does not block */
  return rc;
}
