/* The routing table: patterns split into segments at registration, and a
 * request path matched against every route (apps have tens of routes;
 * a scan over them costs less than the syscalls of one request).
 *
 * (1) An app is mutable only while no server uses it (users == 0); after
 *     that any number of threads read it.
 * (2) Each route has a distinct pattern; its methods are distinct, at
 *     most one of them NULL (any method).
 * (3) Of the routes matching a path, the most specific wins: kinds
 *     compared segment by segment, literal < parameter < rest.  Two
 *     different patterns matching one path always differ somewhere in
 *     kind (literals that differ cannot both match), so the winner is
 *     unique.
 */
#include <string.h>
#include <strings.h>

#include "http/server/httpd.h"

/* App memory is plain malloc: an app is shared by the loops of several
 * threads and belongs to none of them. */

int cio_web_app_new(cio_web_app **out) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : CIO_ENOMEM;
}

static void route_free(struct cio__http_route *r) {
  for (size_t i = 0; i < r->nsegs; i++)
    free(r->segs[i].text);
  for (size_t i = 0; i < r->nmethods; i++)
    free(r->methods[i].method);
  free(r->segs);
  free(r->methods);
  free(r->pattern);
}

void cio_web_app_free(cio_web_app *app) {
  if (app == NULL)
    return;
  for (size_t i = 0; i < app->nroutes; i++)
    route_free(&app->routes[i]);
  free(app->routes);
  free(app);
}

/* ---- parsing patterns -------------------------------------------------- */

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p != NULL) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* One segment of a pattern (the bytes between two slashes). */
static int parse_seg(const char *s, size_t n, bool last,
                     struct cio__http_seg *seg) {
  seg->kind = CIO__HTTP_SEG_LIT;
  if (n > 0 && s[0] == '{') {
    if (s[n - 1] != '}' || n < 3)
      return CIO_EINVAL;
    s++;
    n -= 2;
    seg->kind = CIO__HTTP_SEG_PARAM;
    if (n > 3 && memcmp(s + n - 3, "...", 3) == 0) {
      if (!last)
        return CIO_EINVAL;
      seg->kind = CIO__HTTP_SEG_REST;
      n -= 3;
    }
    for (size_t i = 0; i < n; i++)
      if (strchr("{}/", s[i]) != NULL)
        return CIO_EINVAL;
  } else if (memchr(s, '{', n) != NULL || memchr(s, '}', n) != NULL) {
    return CIO_EINVAL; /* "{" inside a literal: a typo, surely */
  }
  seg->len = n;
  seg->text = dup_n(s, n);
  return seg->text ? 0 : CIO_ENOMEM;
}

static int parse_pattern(const char *pattern, struct cio__http_route *r) {
  if (pattern[0] != '/')
    return CIO_EINVAL;
  size_t n = 0;
  for (const char *p = pattern; *p; p++)
    n += *p == '/';
  r->segs = calloc(n, sizeof *r->segs);
  if (r->segs == NULL)
    return CIO_ENOMEM;
  const char *s = pattern + 1;
  for (size_t i = 0; i < n; i++) {
    const char *end = strchr(s, '/');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    int rc = parse_seg(s, len, i + 1 == n, &r->segs[i]);
    if (rc < 0)
      return rc;
    r->nsegs++;
    r->nparams += r->segs[i].kind != CIO__HTTP_SEG_LIT;
    s += len + 1;
  }
  return 0;
}

/* ---- registering ---------------------------------------------------- */

static struct cio__http_route *find_route(cio_web_app *app,
                                          const char *pattern) {
  for (size_t i = 0; i < app->nroutes; i++)
    if (strcmp(app->routes[i].pattern, pattern) == 0)
      return &app->routes[i];
  return NULL;
}

static int new_route(cio_web_app *app, const char *pattern,
                     struct cio__http_route **out) {
  struct cio__http_route r = {0};
  int rc = parse_pattern(pattern, &r);
  if (rc == 0 && r.nsegs > CIO__HTTP_MAX_SEGS)
    rc = CIO_EINVAL;
  r.pattern_len = strlen(pattern);
  if (rc == 0 && (r.pattern = dup_n(pattern, r.pattern_len)) == NULL)
    rc = CIO_ENOMEM;
  if (rc == 0 && app->nroutes == app->cap) {
    size_t cap = app->cap ? 2 * app->cap : 8;
    void *p = realloc(app->routes, cap * sizeof *app->routes);
    if (p == NULL)
      rc = CIO_ENOMEM;
    else {
      app->routes = p;
      app->cap = cap;
    }
  }
  if (rc < 0) {
    route_free(&r);
    return rc;
  }
  app->routes[app->nroutes] = r;
  *out = &app->routes[app->nroutes++];
  return 0;
}

static struct cio__http_method *find_method(const struct cio__http_route *r,
                                            const char *method) {
  for (size_t i = 0; i < r->nmethods; i++) {
    const char *m = r->methods[i].method;
    if (m == method || (m && method && strcmp(m, method) == 0))
      return &r->methods[i];
  }
  return NULL;
}

/* http-parser's number for `method`, or -1 (it never parses that one,
 * so such a route only shows in Allow). */
static int method_code(const char *method) {
  for (int i = 0;; i++) {
    const char *name = http_method_str((enum http_method)i);
    if (strcmp(name, "<unknown>") == 0)
      return -1;
    if (strcmp(name, method) == 0)
      return i;
  }
}

static int add_method(struct cio__http_route *r, const char *method,
                      cio_web_handler fn, void *arg) {
  struct cio__http_method m = {.fn = fn, .arg = arg,
                               .code = method ? method_code(method) : -1};
  if (method != NULL && (m.method = dup_n(method, strlen(method))) == NULL)
    return CIO_ENOMEM;
  void *p = realloc(r->methods, (r->nmethods + 1) * sizeof *r->methods);
  if (p == NULL) {
    free(m.method);
    return CIO_ENOMEM;
  }
  r->methods = p;
  r->methods[r->nmethods++] = m;
  return 0;
}

int cio_web_app_route(cio_web_app *app, const char *method,
                       const char *pattern, cio_web_handler fn, void *arg) {
  if (app == NULL || pattern == NULL || fn == NULL)
    return CIO_EINVAL;
  if (method != NULL && strcmp(method, "*") == 0)
    method = NULL;
  if (method != NULL && !cio__http_is_token(method))
    return CIO_EINVAL;
  if (app->users > 0)
    return CIO_EBUSY;
  struct cio__http_route *r = find_route(app, pattern);
  if (r == NULL) {
    int rc = new_route(app, pattern, &r);
    if (rc < 0)
      return rc;
  } else if (find_method(r, method) != NULL) {
    return CIO_EEXIST;
  }
  int rc = add_method(r, method, fn, arg);
  if (rc < 0 && r->nmethods == 0) { /* drop the route just made */
    route_free(r);
    app->nroutes--;
  }
  return rc;
}

/* ---- matching ------------------------------------------------------ */

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch |= 0x20;
  return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Does the raw path segment `s` decode to the literal `lit`? */
static bool seg_equals(const char *s, size_t n, const char *lit,
                       size_t lit_len) {
  if (memchr(s, '%', n) == NULL)
    return n == lit_len && memcmp(s, lit, n) == 0;
  size_t j = 0;
  for (size_t i = 0; i < n; i++, j++) {
    int ch = (unsigned char)s[i];
    if (ch == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
        hexval(s[i + 2]) >= 0 && (s[i + 1] != '0' || s[i + 2] != '0')) {
      ch = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
      i += 2;
    }
    if (j >= lit_len || lit[j] != ch)
      return false;
  }
  return j == lit_len;
}

/* Split the raw path ("/a/b") into segment spans; cap + 1 if deeper. */
static size_t split_path(const char *path, size_t len,
                         struct cio__http_span *segs, size_t cap) {
  size_t n = 0, start = 1;
  for (size_t i = 1; i <= len; i++) {
    if (i == len || path[i] == '/') {
      if (n == cap)
        return cap + 1;
      segs[n++] = (struct cio__http_span){(uint32_t)start,
                                          (uint32_t)(i - start)};
      start = i + 1;
    }
  }
  return n;
}

/* Match route `r` against the path's segments; store its parameters'
 * spans in `params`. */
static bool route_matches(const struct cio__http_route *r, const char *path,
                          size_t path_len, const struct cio__http_span *segs,
                          size_t nsegs, struct cio__http_span *params) {
  size_t np = 0;
  for (size_t i = 0; i < r->nsegs; i++) {
    const struct cio__http_seg *g = &r->segs[i];
    if (g->kind == CIO__HTTP_SEG_REST) {
      if (i >= nsegs)
        return false;
      params[np++] = (struct cio__http_span){
          segs[i].off, (uint32_t)(path_len - segs[i].off)};
      return true;
    }
    if (i >= nsegs)
      return false;
    if (g->kind == CIO__HTTP_SEG_PARAM)
      params[np++] = segs[i];
    else if (!seg_equals(path + segs[i].off, segs[i].len, g->text, g->len))
      return false;
  }
  return r->nsegs == nsegs;
}

/* Is `a` more specific than `b` (both match the same path)? */
static bool more_specific(const struct cio__http_route *a,
                          const struct cio__http_route *b) {
  for (size_t i = 0; i < a->nsegs && i < b->nsegs; i++)
    if (a->segs[i].kind != b->segs[i].kind)
      return a->segs[i].kind < b->segs[i].kind;
  return a->nsegs > b->nsegs;
}

/* The handler of `r` for request method `code`: its own, else GET's for
 * HEAD, else the any-method one. */
static const struct cio__http_method *
method_for(const struct cio__http_route *r, int code) {
  const struct cio__http_method *any = NULL, *get = NULL;
  for (size_t i = 0; i < r->nmethods; i++) {
    const struct cio__http_method *m = &r->methods[i];
    if (m->method != NULL && m->code == code)
      return m;
    if (m->method == NULL)
      any = m;
    else if (m->code == HTTP_GET)
      get = m;
  }
  return code == HTTP_HEAD && get != NULL ? get : any;
}

/* A route without parameters spelled exactly as the path: nothing can
 * be more specific.  Saves splitting the path for the commonest case. */
static bool match_static(const cio_web_app *app, int method,
                         const char *path, size_t path_len,
                         struct cio__http_match *m) {
  if (memchr(path, '%', path_len) != NULL)
    return false;
  for (size_t i = 0; i < app->nroutes; i++) {
    const struct cio__http_route *r = &app->routes[i];
    if (r->nparams == 0 && r->pattern_len == path_len &&
        memcmp(r->pattern, path, path_len) == 0) {
      m->m = method_for(r, method);
      m->route = m->m ? r : NULL;
      return m->m != NULL;
    }
  }
  return false;
}

void cio__http_app_match(const cio_web_app *app, int method,
                         const char *path, size_t path_len,
                         struct cio__http_match *m) {
  m->route = NULL;
  m->m = NULL;
  m->path_matched = false;
  if (match_static(app, method, path, path_len, m)) {
    m->path_matched = true;
    return;
  }
  struct cio__http_span segs[CIO__HTTP_MAX_SEGS + 1];
  struct cio__http_span params[CIO__HTTP_MAX_SEGS];
  size_t nsegs = split_path(path, path_len, segs, CIO__HTTP_MAX_SEGS);
  if (nsegs > CIO__HTTP_MAX_SEGS)
    nsegs = CIO__HTTP_MAX_SEGS; /* only a rest parameter can match */
  for (size_t i = 0; i < app->nroutes; i++) {
    const struct cio__http_route *r = &app->routes[i];
    if (!route_matches(r, path, path_len, segs, nsegs, params))
      continue;
    m->path_matched = true;
    const struct cio__http_method *hm = method_for(r, method);
    if (hm == NULL || (m->route != NULL && !more_specific(r, m->route)))
      continue;
    m->route = r;
    m->m = hm;
    memcpy(m->params, params, r->nparams * sizeof *params);
  }
}

/* Is `method` in the comma-separated list at b->p + start? */
static bool listed(const struct cio__http_buf *b, size_t start,
                   const char *method) {
  size_t n = strlen(method);
  const char *end = b->p + b->len;
  for (const char *p = b->p + start; b->p != NULL && p < end;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
    if (len == n && memcmp(p, method, n) == 0)
      return true;
    p = comma ? comma + 2 : end;
  }
  return false;
}

static int allow_add(cio_loop *loop, struct cio__http_buf *b, size_t start,
                     const char *method) {
  if (listed(b, start, method))
    return 0;
  if (b->len > start && cio__http_buf_append(loop, b, ", ", 2) < 0)
    return CIO_ENOMEM;
  return cio__http_buf_append(loop, b, method, strlen(method));
}

int cio__http_app_allow(const cio_web_app *app, cio_loop *loop,
                        const char *path, size_t path_len,
                        struct cio__http_buf *b) {
  struct cio__http_span segs[CIO__HTTP_MAX_SEGS + 1];
  struct cio__http_span params[CIO__HTTP_MAX_SEGS];
  size_t nsegs = split_path(path, path_len, segs, CIO__HTTP_MAX_SEGS);
  if (nsegs > CIO__HTTP_MAX_SEGS)
    nsegs = CIO__HTTP_MAX_SEGS;
  int rc = 0;
  size_t start = b->len;
  for (size_t i = 0; i < app->nroutes && rc == 0; i++) {
    const struct cio__http_route *r = &app->routes[i];
    if (!route_matches(r, path, path_len, segs, nsegs, params))
      continue;
    for (size_t k = 0; k < r->nmethods && rc == 0; k++) {
      const char *m = r->methods[k].method;
      if (m == NULL)
        continue; /* any method: the request would have matched it */
      rc = allow_add(loop, b, start, m);
      if (rc == 0 && strcmp(m, "GET") == 0)
        rc = allow_add(loop, b, start, "HEAD");
    }
  }
  return rc;
}
