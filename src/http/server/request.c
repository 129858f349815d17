/* What a handler reads.  The head's strings live NUL-terminated in the
 * connection's input buffer (conn.c finalises them); whatever needs
 * decoding is decoded on first use into the request's arena, so a
 * handler pays only for what it asks. */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "http/server/httpd.h"

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch |= 0x20;
  return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

size_t cio__http_decode(char *dst, const char *src, size_t n, bool form) {
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    int ch = (unsigned char)src[i];
    if (ch == '+' && form) {
      ch = ' ';
    } else if (ch == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 &&
               hexval(src[i + 2]) >= 0 &&
               (src[i + 1] != '0' || src[i + 2] != '0')) {
      ch = hexval(src[i + 1]) * 16 + hexval(src[i + 2]);
      i += 2;
    }
    dst[j++] = (char)ch;
  }
  dst[j] = '\0';
  return j;
}

static char *decode_into_arena(cio_web_request *req, const char *s, size_t n,
                               bool form) {
  char *p = cio__http_arena_alloc(req->conn, n + 1);
  if (p != NULL)
    cio__http_decode(p, s, n, form);
  return p;
}

const char *cio_web_request_method(const cio_web_request *req) {
  return req ? req->method : NULL;
}

const char *cio_web_request_target(const cio_web_request *req) {
  return req ? req->target : NULL;
}

const char *cio_web_request_path(cio_web_request *req) {
  if (req == NULL)
    return NULL;
  if (req->path_decoded == NULL)
    req->path_decoded = decode_into_arena(req, req->path_raw, req->path_len,
                                          false);
  return req->path_decoded;
}

const char *cio_web_request_query(const cio_web_request *req) {
  return req ? req->query : NULL;
}

const char *cio_web_request_route(const cio_web_request *req) {
  return req && req->match.route ? req->match.route->pattern : NULL;
}

int cio_web_request_version(const cio_web_request *req) {
  return req ? req->version : 0;
}

const char *cio_web_request_header(const cio_web_request *req,
                                    const char *name) {
  if (req == NULL || name == NULL)
    return NULL;
  size_t n = strlen(name);
  for (size_t i = 0; i < req->nheaders; i++) {
    const struct cio__http_header *h = &req->headers[i];
    if (h->name_len == n && strncasecmp(h->name, name, n) == 0)
      return h->value;
  }
  return NULL;
}

size_t cio_web_request_header_count(const cio_web_request *req) {
  return req ? req->nheaders : 0;
}

int cio_web_request_header_at(const cio_web_request *req, size_t i,
                               const char **name, const char **value) {
  if (name != NULL)
    *name = NULL;
  if (value != NULL)
    *value = NULL;
  if (req == NULL)
    return CIO_EINVAL;
  if (i >= req->nheaders)
    return CIO_ERANGE;
  if (name != NULL)
    *name = req->headers[i].name;
  if (value != NULL)
    *value = req->headers[i].value;
  return 0;
}

/* ---- path parameters -------------------------------------------------- */

const char *cio_web_request_param(cio_web_request *req, const char *name) {
  if (req == NULL || name == NULL || req->match.route == NULL)
    return NULL;
  const struct cio__http_route *r = req->match.route;
  if (req->param_values == NULL) {
    req->param_values =
        cio__http_arena_alloc(req->conn, r->nparams * sizeof(char *) + 1);
    if (req->param_values == NULL)
      return NULL;
    memset(req->param_values, 0, r->nparams * sizeof(char *));
  }
  size_t k = 0;
  for (size_t i = 0; i < r->nsegs; i++) {
    const struct cio__http_seg *g = &r->segs[i];
    if (g->kind == CIO__HTTP_SEG_LIT)
      continue;
    if (strcmp(g->text, name) == 0) {
      if (req->param_values[k] == NULL) {
        const struct cio__http_span *sp = &req->match.params[k];
        req->param_values[k] =
            decode_into_arena(req, req->path_raw + sp->off, sp->len, false);
      }
      return req->param_values[k];
    }
    k++;
  }
  return NULL;
}

/* ---- query parameters ------------------------------------------------- */

static int parse_query(cio_web_request *req) {
  const char *q = req->query;
  size_t n = 1;
  for (const char *p = q; *p; p++)
    n += *p == '&';
  req->query_pairs = cio__http_arena_alloc(req->conn, n * sizeof
                                           *req->query_pairs);
  if (req->query_pairs == NULL)
    return CIO_ENOMEM;
  req->nquery = 0;
  while (*q) {
    size_t len = strcspn(q, "&");
    size_t klen = strcspn(q, "=");
    if (klen > len)
      klen = len;
    if (len > 0) {
      struct cio__http_query_pair *qp = &req->query_pairs[req->nquery];
      qp->name = decode_into_arena(req, q, klen, true);
      const char *v = q + klen + (klen < len);
      qp->value = decode_into_arena(req, v, len - (size_t)(v - q), true);
      if (qp->name == NULL || qp->value == NULL)
        return CIO_ENOMEM;
      req->nquery++;
    }
    q += len + (q[len] == '&');
  }
  req->query_parsed = true;
  return 0;
}

const char *cio_web_request_query_param(cio_web_request *req,
                                         const char *name) {
  if (req == NULL || name == NULL)
    return NULL;
  if (!req->query_parsed && parse_query(req) < 0)
    return NULL;
  for (size_t i = 0; i < req->nquery; i++)
    if (strcmp(req->query_pairs[i].name, name) == 0)
      return req->query_pairs[i].value;
  return NULL;
}

/* ---- body -------------------------------------------------------- */

const void *cio_web_request_body(const cio_web_request *req, size_t *len) {
  if (len != NULL)
    *len = req ? req->body_len : 0;
  return req ? req->body : NULL;
}

int cio_web_request_json(const cio_web_request *req, struct json_t **out) {
  if (out != NULL)
    *out = NULL;
  if (req == NULL || out == NULL)
    return CIO_EINVAL;
  json_error_t err;
  *out = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
  return *out ? 0 : CIO_EINVAL;
}

int cio_web_request_peer_addr(const cio_web_request *req, cio_addr *out) {
  if (req == NULL || out == NULL)
    return CIO_EINVAL;
  struct cio__http_io *io = &req->conn->io;
  return io->ops->peer_addr ? io->ops->peer_addr(io->ctx, out) : CIO_ENOTSUP;
}
