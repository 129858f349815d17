/* Receiving a response: libcurl's header and body callbacks fill the
 * transfer, pausing when the task does not read; the accessors and reads
 * of the public API take from it.
 *
 * The head: every response libcurl reads (1xx, redirects it follows, the
 * final one) starts with a status line, which resets the stored head; the
 * blank line ending a head that libcurl will not follow (see is_final)
 * makes the transfer HEADERS and wakes the requesting task.  Trailers
 * after the body are ignored.
 *
 * The body: appended to a malloc()ed buffer that the task drains.  At 64
 * KiB buffered the body callback refuses the chunk (CURL_WRITEFUNC_PAUSE:
 * libcurl keeps it and stops reading the socket); a read that drains the
 * buffer below 16 KiB resumes.  A whole-body read takes everything up to
 * its cap and gets the buffer itself, without a copy.
 */
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client.h"

/* ---- the head ------------------------------------------------------------ */

static int hbuf_add(cio_http_response *t, const char *p, size_t n,
                    uint32_t *off) {
  if (t->hlen + n + 1 > t->hcap) {
    size_t cap = t->hcap ? t->hcap : 512;
    while (cap < t->hlen + n + 1)
      cap *= 2;
    char *b = realloc(t->hbuf, cap);
    if (b == NULL)
      return CIO_ENOMEM;
    t->hbuf = b;
    t->hcap = cap;
  }
  *off = (uint32_t)t->hlen;
  memcpy(t->hbuf + t->hlen, p, n);
  t->hbuf[t->hlen + n] = '\0';
  t->hlen += n + 1;
  return 0;
}

static size_t trim_end(const char *p, size_t n) {
  while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' ||
                   p[n - 1] == '\t'))
    n--;
  return n;
}

/* "HTTP/1.1 404 Not Found": a new head begins. */
static int status_line(cio_http_response *t, const char *p, size_t n) {
  n = trim_end(p, n);
  t->hlen = 0;
  t->nhdrs = 0;
  t->saw_location = false;
  size_t i = 5;
  int major = 0, minor = 0;
  while (i < n && p[i] >= '0' && p[i] <= '9')
    major = major * 10 + (p[i++] - '0');
  if (i < n && p[i] == '.') {
    i++;
    while (i < n && p[i] >= '0' && p[i] <= '9')
      minor = minor * 10 + (p[i++] - '0');
  }
  t->version = major * 10 + minor;
  while (i < n && p[i] == ' ')
    i++;
  int status = 0, digits = 0;
  while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 3) {
    status = status * 10 + (p[i++] - '0');
    digits++;
  }
  t->status = digits == 3 ? status : 0;
  while (i < n && p[i] == ' ')
    i++;
  return hbuf_add(t, p + i, n - i, &t->reason);
}

static int header_line(cio_http_response *t, const char *p, size_t n) {
  n = trim_end(p, n);
  const char *colon = memchr(p, ':', n);
  if (colon == NULL || colon == p)
    return 0; /* not a header (libcurl passes what the server sent) */
  size_t nlen = trim_end(p, (size_t)(colon - p));
  const char *v = colon + 1;
  while (v < p + n && (*v == ' ' || *v == '\t'))
    v++;
  if (t->nhdrs == t->hdrs_cap) {
    size_t cap = t->hdrs_cap ? t->hdrs_cap * 2 : 16;
    struct cio__http_hdr *h = realloc(t->hdrs, cap * sizeof *h);
    if (h == NULL)
      return CIO_ENOMEM;
    t->hdrs = h;
    t->hdrs_cap = cap;
  }
  struct cio__http_hdr *h = &t->hdrs[t->nhdrs];
  int rc = hbuf_add(t, p, nlen, &h->name);
  if (rc == 0)
    rc = hbuf_add(t, v, (size_t)(p + n - v), &h->value);
  if (rc < 0)
    return rc;
  t->nhdrs++;
  if (nlen == 8 && strncasecmp(p, "location", 8) == 0)
    t->saw_location = true;
  return 0;
}

/* A head libcurl will not follow: the response the user gets. */
static bool is_final(const cio_http_response *t) {
  if (t->status < 200)
    return false;
  return !(t->follow && t->status >= 300 && t->status < 400 && t->saw_location);
}

static void head_done(cio_http_response *t) {
  t->state = CIO__XFER_HEADERS;
  t->head_seen = true;
  curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, (char **)&t->url);
  cio__http_xfer_notify(t);
}

static void touch(cio_http_response *t) {
  if (t->s->read_timeout > 0)
    t->last_io = cio_loop_time(t->s->loop);
}

int cio__http_head_line(cio_http_response *t, const char *p, size_t len) {
  if (t->state != CIO__XFER_SENDING)
    return 0; /* trailers */
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
    return status_line(t, p, len);
  if (trim_end(p, len) == 0) {
    if (is_final(t))
      head_done(t);
    return 0;
  }
  return header_line(t, p, len);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  cio_http_response *t = ud;
  size_t len = size * n;
  touch(t);
  int rc = cio__http_head_line(t, p, len);
  if (rc < 0) {
    t->preset = rc;
    return 0; /* libcurl aborts the transfer */
  }
  return len;
}

/* ---- the body ------------------------------------------------------------ */

static int body_reserve(cio_http_response *t, size_t extra) {
  if (t->body_off > 0 && t->body_off == t->body_len)
    t->body_off = t->body_len = 0;
  size_t need = t->body_len + extra + 1; /* room for a NUL */
  if (need <= t->body_cap)
    return 0;
  if (t->body_off > 0) { /* slide the unread part to the front first */
    memmove(t->body, t->body + t->body_off, t->body_len - t->body_off);
    t->body_len -= t->body_off;
    t->body_off = 0;
    need = t->body_len + extra + 1;
    if (need <= t->body_cap)
      return 0;
  }
  size_t cap = t->body_cap ? t->body_cap : 4096;
  while (cap < need)
    cap *= 2;
  char *b = realloc(t->body, cap);
  if (b == NULL)
    return CIO_ENOMEM;
  t->body = b;
  t->body_cap = cap;
  return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  cio_http_response *t = ud;
  size_t len = size * n;
  if (t->state == CIO__XFER_SENDING)
    head_done(t); /* a body means libcurl is done with heads */
  size_t buffered = t->body_len - t->body_off;
  if (t->whole) {
    if (t->max_size > 0 && buffered + len > t->max_size) {
      t->preset = CIO_EMSGSIZE;
      return 0;
    }
  } else if (buffered >= CIO__HTTP_HIGH_WATER) {
    t->paused = true; /* libcurl keeps this chunk for later */
    return CURL_WRITEFUNC_PAUSE;
  }
  if (body_reserve(t, len) < 0) {
    t->preset = CIO_ENOMEM;
    return 0;
  }
  memcpy(t->body + t->body_len, p, len);
  t->body_len += len;
  t->received += len;
  touch(t);
  cio__http_xfer_notify(t);
  return len;
}

/* ---- silence between reads ------------------------------------------------
 */

static void read_timer_arm(cio_http_response *t, double delay);

static void read_timer_fire(void *arg) {
  cio_http_response *t = arg;
  cio_handle_release(t->read_timer);
  t->read_timer = NULL;
  double rt = t->s->read_timeout;
  if (t->paused) { /* the reader's silence, not the server's */
    read_timer_arm(t, rt);
    return;
  }
  double idle = cio_loop_time(t->s->loop) - t->last_io;
  if (idle >= rt - 1e-6) {
    char why[80];
    snprintf(why, sizeof why, "no data received for %g s (read timeout)", rt);
    cio__http_xfer_abort(t, CIO_ETIMEDOUT, why);
    return;
  }
  read_timer_arm(t, rt - idle);
}

static void read_timer_arm(cio_http_response *t, double delay) {
  if (cio_loop_call_later(t->s->loop, delay, read_timer_fire, t,
                          &t->read_timer) < 0)
    t->read_timer = NULL; /* out of memory: no read timeout, the total
                             timeout still bounds the transfer */
}

void cio__http_read_timer_stop(cio_http_response *t) {
  if (t->read_timer != NULL) {
    cio_handle_cancel(t->read_timer);
    cio_handle_release(t->read_timer);
    t->read_timer = NULL;
  }
}

/* CURLOPT_PREREQFUNCTION: connected, the request is about to go out. */
static int on_prereq(void *clientp, char *primary_ip, char *local_ip,
                     int primary_port, int local_port) {
  (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
  cio_http_response *t = clientp;
  t->last_io = cio_loop_time(t->s->loop);
  if (t->read_timer == NULL)
    read_timer_arm(t, t->s->read_timeout);
  return CURL_PREREQFUNC_OK;
}

/* ---- set-up and reuse ------------------------------------------------------
 */

void cio__http_recv_attach(cio_http_response *t) {
  CURL *e = t->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  if (t->s->read_timeout > 0) {
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
  }
}

void cio__http_recv_setup(cio_http_response *t) {
  t->errbuf[0] = '\0';
  t->status = t->version = 0;
  t->hlen = t->nhdrs = 0;
  t->url = NULL;
  t->body_off = t->body_len = 0;
  t->received = 0;
  t->max_size = 0;
  t->result = t->preset = 0;
  t->paused = t->whole = t->saw_location = t->head_seen = false;
}

void cio__http_recv_reset(cio_http_response *t) {
  cio__http_read_timer_stop(t);
  /* The easy handle is reused as it is (no curl_easy_reset, which would
   * cost every option again): let go of what it points to. */
  if (t->req_headers != NULL) {
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(t->req_headers);
    t->req_headers = NULL;
  }
  if (t->curlu != NULL) {
    curl_easy_setopt(t->easy, CURLOPT_CURLU, NULL);
    curl_url_cleanup(t->curlu);
    t->curlu = NULL;
  }
  if (t->up_fd >= 0)
    close(t->up_fd);
  t->up_fd = -1;
  free(t->up_buf);
  t->up_buf = NULL;
  t->up_off = t->up_len = 0;
  t->up_eof = t->up_need = t->up_paused = false;
  /* Keep a small body buffer for the next transfer. */
  if (t->body_cap > CIO__HTTP_HIGH_WATER) {
    free(t->body);
    t->body = NULL;
    t->body_cap = 0;
  }
}

void cio__http_recv_free(cio_http_response *t) {
  free(t->body);
  free(t->hbuf);
  free(t->hdrs);
  t->body = t->hbuf = NULL;
  t->hdrs = NULL;
}

const char *cio__http_preset_text(int code) {
  switch (code) {
  case CIO_EMSGSIZE:
    return "the body is larger than the cap given to read";
  case CIO_ENOMEM:
    return "out of memory while receiving";
  default:
    return cio_strerror(code);
  }
}

/* Resume receiving once the buffer has room (or at once with `force`). */
static void resume(cio_http_response *t, bool force) {
  if (!t->paused || t->state != CIO__XFER_HEADERS)
    return;
  if (!force && t->body_len - t->body_off >= CIO__HTTP_LOW_WATER)
    return;
  t->paused = false;
  touch(t);
  /* May call on_write at once with what libcurl held back. */
  curl_easy_pause(t->easy, t->up_paused ? CURLPAUSE_SEND : CURLPAUSE_CONT);
}

void cio__http_resume(cio_http_response *t) {
  resume(t, false);
}

/* ---- the public accessors -------------------------------------------------
 */

int cio_http_response_status(const cio_http_response *r) {
  return r ? r->status : 0;
}

bool cio_http_response_ok(const cio_http_response *r) {
  return r != NULL && r->status > 0 && r->status < 400;
}

static const char *standard_reason(int status) {
  static const struct {
    int status;
    const char *reason;
  } table[] = {
      {100, "Continue"},
      {101, "Switching Protocols"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {413, "Content Too Large"},
      {415, "Unsupported Media Type"},
      {422, "Unprocessable Content"},
      {429, "Too Many Requests"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].status == status)
      return table[i].reason;
  return "";
}

const char *cio_http_response_reason(const cio_http_response *r) {
  if (r == NULL || r->hbuf == NULL)
    return "";
  const char *reason = r->hbuf + r->reason;
  return reason[0] ? reason : standard_reason(r->status);
}

int cio_http_response_version(const cio_http_response *r) {
  return r ? r->version : 0;
}

const char *cio_http_response_url(const cio_http_response *r) {
  return r && r->url ? r->url : "";
}

size_t cio_http_response_header_all(const cio_http_response *r,
                                    const char *name, const char **values,
                                    size_t cap) {
  if (r == NULL || name == NULL)
    return 0;
  size_t found = 0;
  for (size_t i = 0; i < r->nhdrs; i++) {
    if (strcasecmp(r->hbuf + r->hdrs[i].name, name) != 0)
      continue;
    if (found < cap && values != NULL)
      values[found] = r->hbuf + r->hdrs[i].value;
    found++;
  }
  return found;
}

const char *cio_http_response_header(const cio_http_response *r,
                                     const char *name) {
  const char *v = NULL;
  return cio_http_response_header_all(r, name, &v, 1) ? v : NULL;
}

size_t cio_http_response_header_count(const cio_http_response *r) {
  return r ? r->nhdrs : 0;
}

int cio_http_response_header_at(const cio_http_response *r, size_t i,
                                const char **name, const char **value) {
  if (r == NULL)
    return CIO_EINVAL;
  if (i >= r->nhdrs)
    return CIO_ERANGE;
  if (name)
    *name = r->hbuf + r->hdrs[i].name;
  if (value)
    *value = r->hbuf + r->hdrs[i].value;
  return 0;
}

int64_t cio_http_response_content_length(const cio_http_response *r) {
  const char *v = cio_http_response_header(r, "content-length");
  if (v == NULL || *v < '0' || *v > '9')
    return -1;
  char *end;
  long long n = strtoll(v, &end, 10);
  return *end == '\0' && n >= 0 ? (int64_t)n : -1;
}

const char *cio_http_response_error(const cio_http_response *r) {
  return r ? r->errbuf : "";
}

/* ---- reading the body ------------------------------------------------------
 */

static int check_reader(cio_http_response *r) {
  if (r == NULL || r->state == CIO__XFER_IDLE)
    return CIO_EINVAL;
  return cio_current_task() ? 0 : CIO_EPERM;
}

ssize_t cio_http_response_read_some(cio_http_response *r, void *buf,
                                    size_t cap) {
  int rc = check_reader(r);
  if (rc < 0)
    return rc;
  if (buf == NULL && cap > 0)
    return CIO_EINVAL;
  for (;;) {
    size_t avail = r->body_len - r->body_off;
    if (avail > 0 && cap > 0) {
      size_t n = avail < cap ? avail : cap;
      memcpy(buf, r->body + r->body_off, n);
      r->body_off += n;
      resume(r, false);
      return (ssize_t)n;
    }
    if (r->state == CIO__XFER_DONE)
      return r->result < 0 ? r->result : 0;
    if (cap == 0)
      return 0;
    resume(r, true);
    if (r->state == CIO__XFER_DONE || r->body_len > r->body_off)
      continue; /* resuming delivered something */
    rc = cio__http_xfer_wait(r);
    if (rc < 0)
      return rc;
  }
}

/* Hand the buffered body to the caller, NUL-terminated. */
static int take_body(cio_http_response *r, void **body, size_t *len) {
  size_t n = r->body_len - r->body_off;
  if (r->body == NULL) {
    *body = malloc(1);
    if (*body == NULL)
      return CIO_ENOMEM;
  } else {
    if (r->body_off > 0)
      memmove(r->body, r->body + r->body_off, n);
    *body = r->body; /* body_reserve keeps room for the NUL */
    r->body = NULL;
    r->body_cap = 0;
  }
  ((char *)*body)[n] = '\0';
  *len = n;
  r->body_off = r->body_len = 0;
  return 0;
}

static bool too_big(cio_http_response *r, size_t max_size) {
  size_t buffered = r->body_len - r->body_off;
  if (buffered > max_size)
    return true;
  /* Content-Length speaks of the encoded body: only trust it alone. */
  int64_t cl = cio_http_response_content_length(r);
  if (cl < 0 || cio_http_response_header(r, "content-encoding") != NULL)
    return false;
  uint64_t taken = r->received - buffered;
  return (uint64_t)cl > taken && (uint64_t)cl - taken > max_size;
}

int cio_http_response_read(cio_http_response *r, void **body, size_t *len,
                           size_t max_size) {
  if (body)
    *body = NULL;
  if (len)
    *len = 0;
  if (body == NULL || len == NULL)
    return CIO_EINVAL;
  int rc = check_reader(r);
  if (rc < 0)
    return rc;
  if (max_size > 0 && too_big(r, max_size)) {
    cio__http_xfer_abort(r, CIO_EMSGSIZE, cio__http_preset_text(CIO_EMSGSIZE));
    return CIO_EMSGSIZE;
  }
  r->whole = true;
  r->max_size = max_size;
  int64_t cl = cio_http_response_content_length(r);
  if (cl > 0 && cl < (int64_t)1 << 30 && r->state != CIO__XFER_DONE)
    body_reserve(r, (size_t)cl); /* one allocation; failing is harmless */
  resume(r, true);
  while (r->state != CIO__XFER_DONE) {
    rc = cio__http_xfer_wait(r);
    if (rc < 0) {
      r->whole = false;
      return rc;
    }
  }
  if (r->result < 0)
    return r->result;
  return take_body(r, body, len);
}

int cio_http_response_json(cio_http_response *r, json_t **json,
                           size_t max_size) {
  if (json == NULL)
    return CIO_EINVAL;
  *json = NULL;
  void *body;
  size_t len;
  int rc = cio_http_response_read(r, &body, &len, max_size);
  if (rc < 0)
    return rc;
  json_error_t err;
  *json = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  free(body);
  if (*json == NULL) {
    snprintf(r->errbuf, sizeof r->errbuf, "invalid JSON: %s (line %d)",
             err.text, err.line);
    return CIO_EINVAL;
  }
  return 0;
}

void cio_http_response_close(cio_http_response *r) {
  if (r != NULL && r->state != CIO__XFER_IDLE)
    cio__http_xfer_put(r);
}
