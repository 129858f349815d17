/* Making a request: a pooled transfer gets the session's settings, then
 * the request's URL, method, headers and body, joins the multi handle,
 * and its task waits until the final response's head is there (or the
 * transfer ended).  A body file is read on the thread pool by that same
 * task, chunk by chunk, while libcurl's upload waits (CURL_READFUNC_PAUSE).
 */
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client.h"
#include "http/token.h"

/* ---- URL ------------------------------------------------------------------
 */

static int set_url(cio_http_session *s, cio_http_response *t,
                   const cio_http_request *req) {
  if (s->base_url == NULL && req->n_params == 0)
    return curl_easy_setopt(t->easy, CURLOPT_URL, req->url) == CURLE_OK
               ? 0
               : CIO_ENOMEM;
  CURLU *u = t->curlu = curl_url();
  if (u == NULL)
    return CIO_ENOMEM;
  if (s->base_url != NULL &&
      curl_url_set(u, CURLUPART_URL, s->base_url, 0) != CURLUE_OK)
    return CIO_EINVAL;
  /* With a base set, a relative reference resolves against it. */
  if (curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK)
    return CIO_EINVAL;
  for (size_t i = 0; i < req->n_params; i++) {
    const cio_http_field *p = &req->params[i];
    if (p->name == NULL || p->value == NULL)
      return CIO_EINVAL;
    size_t n = strlen(p->name) + strlen(p->value) + 2;
    char *kv = cio__malloc(s->loop, n);
    if (kv == NULL)
      return CIO_ENOMEM;
    snprintf(kv, n, "%s=%s", p->name, p->value);
    /* URLENCODE encodes all but the first '=' of an appended pair. */
    CURLUcode uc = curl_url_set(u, CURLUPART_QUERY, kv,
                                CURLU_APPENDQUERY | CURLU_URLENCODE);
    cio__free(s->loop, kv);
    if (uc != CURLUE_OK)
      return uc == CURLUE_OUT_OF_MEMORY ? CIO_ENOMEM : CIO_EINVAL;
  }
  curl_easy_setopt(t->easy, CURLOPT_CURLU, u);
  return 0;
}

/* Whether the request may go over HTTP/2 and so should wait for a
 * connection being set up (ALPN not known yet) rather than open another:
 * libcurl's PIPEWAIT.  Never for HTTP/1.1 only, where waiting would
 * serialise requests behind the first one's answer. */
static bool may_multiplex(cio_http_session *s, cio_http_response *t,
                          const cio_http_request *req) {
  if (s->http_version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
    return !s->h2c_no_reuse;
  if (s->http_version == CURL_HTTP_VERSION_1_1)
    return false;
  if (t->curlu == NULL)
    return strncasecmp(req->url, "https:", 6) == 0;
  char *scheme = NULL;
  bool tls =
      curl_url_get(t->curlu, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      strcasecmp(scheme, "https") == 0;
  curl_free(scheme);
  return tls;
}

/* ---- headers ----------------------------------------------------------------
 */

/* Does `line` ("Name: v" or "Name;") name `name`? */
static bool line_names(const char *line, const char *name) {
  size_t n = strlen(name);
  return strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ';');
}

static bool req_has(const cio_http_request *req, const char *name) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (strcasecmp(req->headers[i].name, name) == 0)
      return true;
  return false;
}

static bool overridden(const cio_http_request *req, const char *line) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (line_names(line, req->headers[i].name))
      return true;
  return false;
}

static int append(struct curl_slist **l, const char *line) {
  struct curl_slist *n = curl_slist_append(*l, line);
  if (n == NULL)
    return CIO_ENOMEM;
  *l = n;
  return 0;
}

static int append_field(cio_loop *loop, struct curl_slist **l,
                        const cio_http_field *h) {
  size_t n = strlen(h->name) + strlen(h->value) + 3;
  char *line = cio__malloc(loop, n);
  if (line == NULL)
    return CIO_ENOMEM;
  if (h->value[0] == '\0')
    snprintf(line, n, "%s;", h->name); /* libcurl's empty value */
  else
    snprintf(line, n, "%s: %s", h->name, h->value);
  int rc = append(l, line);
  cio__free(loop, line);
  return rc;
}

/* The session's headers, the request's (same name: the request's wins),
 * and the body's Content-Type unless one was given. */
static int set_headers(cio_http_session *s, cio_http_response *t,
                       const cio_http_request *req, const char *ctype) {
  if (req->n_headers == 0 && ctype == NULL) {
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, s->headers);
    return 0;
  }
  struct curl_slist **l = &t->req_headers;
  bool session_ctype = false;
  int rc = 0;
  for (struct curl_slist *it = s->headers; it && rc == 0; it = it->next) {
    if (overridden(req, it->data))
      continue;
    session_ctype |= line_names(it->data, "content-type");
    rc = append(l, it->data);
  }
  for (size_t i = 0; i < req->n_headers && rc == 0; i++)
    rc = append_field(s->loop, l, &req->headers[i]);
  if (rc == 0 && ctype != NULL) {
    if (!session_ctype && !req_has(req, "content-type"))
      rc = append_field(s->loop, l, &(cio_http_field){"Content-Type", ctype});
    /* No "Expect: 100-continue" round trip for large bodies (aiohttp sends
     * none either). */
    if (rc == 0 && !req_has(req, "expect"))
      rc = append(l, "Expect:");
  }
  if (rc == 0)
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, *l);
  return rc;
}

/* ---- method and body
 * --------------------------------------------------------- */

static size_t on_read(char *buf, size_t size, size_t n, void *ud) {
  cio_http_response *t = ud;
  size_t cap = size * n;
  if (t->up_off < t->up_len) {
    size_t k = t->up_len - t->up_off;
    if (k > cap)
      k = cap;
    memcpy(buf, t->up_buf + t->up_off, k);
    t->up_off += k;
    return k;
  }
  if (t->up_eof)
    return 0;
  if (t->in_request) { /* the requesting task reads the next chunk */
    t->up_need = true;
    t->up_paused = true;
    cio__http_xfer_notify(t);
    return CURL_READFUNC_PAUSE;
  }
  /* The head came before the upload ended (an early answer) and the task
   * has left: read here, a regular file does not block for long. */
  ssize_t k = read(t->up_fd, buf, cap);
  if (k < 0) {
    t->preset = CIO_EIO;
    return CURL_READFUNC_ABORT;
  }
  t->up_eof = k == 0;
  return (size_t)k;
}

/* Open the body file: its size goes in Content-Length. */
static int open_body_file(cio_http_response *t, const char *path,
                          curl_off_t *size) {
  int fd;
  int rc = cio_fs_open(path, O_RDONLY, 0, &fd);
  if (rc < 0)
    return rc;
  t->up_fd = fd;
  cio_stat st;
  rc = cio_fs_fstat(fd, &st);
  if (rc < 0)
    return rc;
  t->up_buf = malloc(CIO__HTTP_FILE_CHUNK);
  if (t->up_buf == NULL)
    return CIO_ENOMEM;
  *size = (curl_off_t)st.size;
  return 0;
}

static int set_body(cio_http_response *t, const cio_http_request *req,
                    const char **ctype) {
  CURL *e = t->easy;
  *ctype = NULL;
  if (req->json != NULL) {
    char *txt = json_dumps((json_t *)req->json, JSON_COMPACT | JSON_ENCODE_ANY);
    if (txt == NULL)
      return CIO_EINVAL;
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(txt));
    CURLcode c = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, txt);
    free(txt);
    *ctype = "application/json";
    return c == CURLE_OK ? 0 : CIO_ENOMEM;
  }
  if (req->body_file != NULL) {
    curl_off_t size;
    int rc = open_body_file(t, req->body_file, &size);
    if (rc < 0)
      return rc;
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, size);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    t->had_read = true;
    *ctype = "application/octet-stream";
    return 0;
  }
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  CURLcode c = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
                                req->body ? (const char *)req->body : "");
  *ctype = "application/octet-stream";
  return c == CURLE_OK ? 0 : CIO_ENOMEM;
}

static int set_method(cio_http_response *t, const cio_http_request *req,
                      const char **ctype) {
  int bodies = (req->body != NULL || req->body_len > 0) +
               (req->body_file != NULL) + (req->json != NULL);
  if (bodies > 1 || (req->body == NULL && req->body_len > 0))
    return CIO_EINVAL;
  const char *m = req->method ? req->method : bodies ? "POST" : "GET";
  if (bodies > 0 && strcmp(m, "HEAD") == 0)
    return CIO_EINVAL; /* libcurl would wait for a body never sent */
  *ctype = NULL;
  if (bodies > 0) {
    int rc = set_body(t, req, ctype);
    if (rc < 0)
      return rc;
    if (strcmp(m, "POST") != 0) {
      curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, m);
      t->had_custom = true;
    }
    return 0;
  }
  if (strcmp(m, "GET") == 0)
    return 0;
  if (strcmp(m, "HEAD") == 0) {
    curl_easy_setopt(t->easy, CURLOPT_NOBODY, 1L);
    return 0;
  }
  if (strcmp(m, "POST") == 0) { /* an empty POST: Content-Length: 0 */
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, "");
    return 0;
  }
  curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, m);
  t->had_custom = true;
  return 0;
}

static int setup(cio_http_session *s, cio_http_response *t,
                 const cio_http_request *req) {
  if (isnan(req->timeout) || req->timeout < 0 ||
      (req->n_headers > 0 && req->headers == NULL) ||
      (req->n_params > 0 && req->params == NULL))
    return CIO_EINVAL;
  CURL *e = t->easy;
  /* The handle may come from an earlier request: every option a request
   * sets is set (or undone) here. */
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* also undoes NOBODY, POST */
  if (t->had_custom)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
  if (t->had_read) {
    curl_easy_setopt(e, CURLOPT_READFUNCTION, NULL);
    curl_easy_setopt(e, CURLOPT_READDATA, NULL);
  }
  t->had_custom = t->had_read = false;
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   cio__http_ms(req->timeout, s->timeout_ms));
  t->follow = !req->no_redirects && s->max_redirects >= 0;
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->follow ? 1L : 0L);
  if (t->follow)
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, s->max_redirects);
  int rc = set_url(s, t, req);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                   rc == 0 && may_multiplex(s, t, req) ? 1L : 0L);
  const char *ctype = NULL;
  if (rc == 0)
    rc = set_method(t, req, &ctype);
  if (rc == 0)
    rc = set_headers(s, t, req, ctype);
  return rc;
}

/* ---- the request call ------------------------------------------------------
 */

/* Read the next chunk of the body file for libcurl's upload. */
static int feed_upload(cio_http_response *t) {
  t->up_need = false;
  ssize_t k = cio_fs_read(t->up_fd, t->up_buf, CIO__HTTP_FILE_CHUNK);
  if (k < 0)
    return (int)k;
  t->up_off = 0;
  t->up_len = (size_t)k;
  t->up_eof = k == 0;
  if (t->up_paused &&
      (t->state == CIO__XFER_SENDING || t->state == CIO__XFER_HEADERS)) {
    t->up_paused = false;
    curl_easy_pause(t->easy, t->paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
  }
  return 0;
}

static int wait_head(cio_http_response *t) {
  while (t->state == CIO__XFER_SENDING) {
    int rc = t->up_need ? feed_upload(t) : cio__http_xfer_wait(t);
    if (rc < 0)
      return rc;
  }
  /* A transfer that failed after its head (closed mid-body) still gives
   * the response; reading the body reports the failure. */
  return t->state == CIO__XFER_DONE && !t->head_seen ? t->result : 0;
}

/* What libcurl would send as given: a method or header name that is not a
 * token, a header value with CR or LF, a URL with a control character
 * would let the caller's data start another header or request (header
 * injection).  Refused before anything is set up. */
static int check_request(const cio_http_request *req) {
  if (req->url == NULL || !cio__http_valid_url(req->url))
    return CIO_EINVAL;
  if (req->method != NULL && !cio__http_is_token(req->method))
    return CIO_EINVAL;
  if (req->n_headers > 0 && req->headers == NULL)
    return CIO_EINVAL;
  for (size_t i = 0; i < req->n_headers; i++) {
    const cio_http_field *h = &req->headers[i];
    if (h->name == NULL || h->value == NULL || !cio__http_is_token(h->name) ||
        !cio__http_valid_value(h->value))
      return CIO_EINVAL;
  }
  return 0;
}

int cio_http_session_request(cio_http_session *s, const cio_http_request *req,
                             cio_http_response **out) {
  if (out != NULL)
    *out = NULL;
  if (s == NULL || req == NULL || out == NULL || check_request(req) < 0)
    return CIO_EINVAL;
  if (req->error != NULL && req->error_cap > 0)
    req->error[0] = '\0';
  if (s->state != CIO__SESSION_OPEN)
    return CIO_ECLOSED;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  cio_http_response *t;
  int rc = cio__http_xfer_get(s, &t);
  if (rc < 0)
    return rc;
  rc = setup(s, t, req);
  if (rc == 0)
    rc = cio__http_xfer_start(t);
  if (rc == 0) {
    t->in_request = true;
    rc = wait_head(t);
    t->in_request = false;
  }
  if (rc < 0) {
    if (req->error != NULL && req->error_cap > 0)
      snprintf(req->error, req->error_cap, "%s",
               t->errbuf[0] ? t->errbuf : cio_strerror(rc));
    cio__http_xfer_put(t); /* still running (cancelled): removed now */
    return rc;
  }
  *out = t;
  return 0;
}

/* ---- shorthands ------------------------------------------------------------
 */

static int simple(cio_http_session *s, const char *method, const char *url,
                  const void *body, size_t len, cio_http_response **out) {
  cio_http_request req = {
      .method = method, .url = url, .body = body, .body_len = len};
  if (body == NULL && len == 0 && strcmp(method, "GET") != 0 &&
      strcmp(method, "DELETE") != 0)
    req.body = ""; /* POST / PUT / PATCH with an empty body */
  return cio_http_session_request(s, &req, out);
}

int cio_http_get(cio_http_session *s, const char *url,
                 cio_http_response **out) {
  return simple(s, "GET", url, NULL, 0, out);
}

int cio_http_delete(cio_http_session *s, const char *url,
                    cio_http_response **out) {
  return simple(s, "DELETE", url, NULL, 0, out);
}

int cio_http_post(cio_http_session *s, const char *url, const void *body,
                  size_t len, cio_http_response **out) {
  return simple(s, "POST", url, body, len, out);
}

int cio_http_put(cio_http_session *s, const char *url, const void *body,
                 size_t len, cio_http_response **out) {
  return simple(s, "PUT", url, body, len, out);
}

int cio_http_patch(cio_http_session *s, const char *url, const void *body,
                   size_t len, cio_http_response **out) {
  return simple(s, "PATCH", url, body, len, out);
}

int cio_http_post_json(cio_http_session *s, const char *url,
                       const struct json_t *json, cio_http_response **out) {
  if (json == NULL)
    return CIO_EINVAL;
  cio_http_request req = {.method = "POST", .url = url, .json = json};
  return cio_http_session_request(s, &req, out);
}
