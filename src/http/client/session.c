/* The session: libcurl's multi handle driven by the casyncio loop.
 *
 * libcurl says which sockets to watch (on_socket) and when to call it
 * back at the latest (on_timer); the loop's add_reader/add_writer
 * callbacks and a call_later handle do that, and each ends in
 * curl_multi_socket_action() followed by collecting finished transfers
 * (finish_done), whose tasks are woken through their events.  Every
 * libcurl call of the multi handle happens on the loop's thread, from a
 * loop callback or a task, never from inside another libcurl callback.
 * See client.h for the transfer's life and the invariants.
 */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "http/token.h"

static bool session_check(const cio_http_session *s) {
  if (s->state == CIO__SESSION_OPEN)
    return s->multi != NULL && s->refs >= 1;
  return s->multi == NULL && cio__list_empty(&s->active) &&
         cio__list_empty(&s->idle);
}

/* A transfer against the invariants of client.h. */
static bool xfer_check(const cio_http_response *t) {
  if (t->paused && t->state != CIO__XFER_HEADERS)
    return false; /* (3) */
  switch (t->state) {
  case CIO__XFER_SENDING:
  case CIO__XFER_HEADERS:
    return t->s->multi != NULL && cio__list_linked(&t->node); /* (1) */
  case CIO__XFER_DONE:
  case CIO__XFER_IDLE:
    return t->read_timer == NULL; /* (2) */
  default:
    return false;
  }
}

/* ---- sockets and the timer ------------------------------------------- */

static void finish_done(cio_http_session *s);

static void socket_action(cio_http_session *s, curl_socket_t fd, int flags) {
  int running;
  curl_multi_socket_action(s->multi, fd, flags, &running);
  finish_done(s);
}

static void sock_forget(cio_http_session *s, struct cio__http_sock *k);

static void on_readable(void *arg) {
  struct cio__http_sock *k = arg;
  if (k->idle) {
    /* An idle keep-alive connection became readable (the server closed
     * it, most likely): stop watching; libcurl finds out when it tries to
     * reuse it. */
    cio_loop_remove_reader(k->s->loop, k->fd);
    k->what &= ~CURL_POLL_IN;
    return;
  }
  socket_action(k->s, k->fd, CURL_CSELECT_IN); /* may free k */
}

static void on_writable(void *arg) {
  struct cio__http_sock *k = arg;
  socket_action(k->s, k->fd, CURL_CSELECT_OUT);
}

static struct cio__http_sock *sock_new(cio_http_session *s, curl_socket_t fd,
                                       bool ours) {
  if (ours && (size_t)fd >= s->owned_cap) {
    size_t cap = s->owned_cap ? s->owned_cap : 64;
    while (cap <= (size_t)fd)
      cap *= 2;
    struct cio__http_sock **t = cio__calloc(s->loop, cap, sizeof *t);
    if (t == NULL)
      return NULL;
    if (s->owned_cap > 0)
      memcpy(t, s->owned, s->owned_cap * sizeof *t);
    cio__free(s->loop, s->owned);
    s->owned = t;
    s->owned_cap = cap;
  }
  struct cio__http_sock *k = cio__calloc(s->loop, 1, sizeof *k);
  if (k == NULL)
    return NULL;
  k->s = s;
  k->fd = fd;
  k->ours = ours;
  cio__list_push_back(&s->socks, &k->node);
  if (ours)
    s->owned[fd] = k;
  return k;
}

static void sock_forget(cio_http_session *s, struct cio__http_sock *k) {
  if (k->what & CURL_POLL_IN)
    cio_loop_remove_reader(s->loop, k->fd);
  if (k->what & CURL_POLL_OUT)
    cio_loop_remove_writer(s->loop, k->fd);
  if (k->ours)
    s->owned[k->fd] = NULL;
  cio__list_remove(&k->node);
  cio__free(s->loop, k);
}

static struct cio__http_sock *sock_owned(cio_http_session *s,
                                         curl_socket_t fd) {
  return (size_t)fd < s->owned_cap ? s->owned[fd] : NULL;
}

/* libcurl is done with `k` for now.  A connection of ours going back to
 * the pool keeps its reader, so that the next request on it does not
 * have the loop drop and re-create its poll handle (two epoll_ctl calls
 * and a handle per request); it is removed when the socket is closed
 * (on_close_socket) or something arrives while idle (on_readable).
 * Other sockets (the resolver's) are closed by libcurl itself, so they
 * are forgotten at once. */
static void sock_remove(cio_http_session *s, struct cio__http_sock *k) {
  if (!k->ours) {
    sock_forget(s, k);
    return;
  }
  if (k->what & CURL_POLL_OUT)
    cio_loop_remove_writer(s->loop, k->fd);
  k->what &= CURL_POLL_IN;
  k->idle = true;
}

/* CURLMOPT_SOCKETFUNCTION: watch `fd` for `what`. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  (void)easy;
  cio_http_session *s = userp;
  struct cio__http_sock *k = socketp;
  if (k == NULL)
    k = sock_owned(s, fd);
  if (what == CURL_POLL_REMOVE) {
    if (k != NULL) {
      if (s->state == CIO__SESSION_OPEN && socketp != NULL)
        curl_multi_assign(s->multi, fd, NULL);
      sock_remove(s, k);
    }
    return 0;
  }
  if (k == NULL && (k = sock_new(s, fd, false)) == NULL)
    return -1;
  if (socketp == NULL)
    curl_multi_assign(s->multi, fd, k);
  k->idle = false;
  int rc = 0;
  if ((what & CURL_POLL_IN) && !(k->what & CURL_POLL_IN))
    rc = cio_loop_add_reader(s->loop, fd, on_readable, k);
  else if (!(what & CURL_POLL_IN) && (k->what & CURL_POLL_IN))
    cio_loop_remove_reader(s->loop, fd);
  if (rc == 0 && (what & CURL_POLL_OUT) && !(k->what & CURL_POLL_OUT))
    rc = cio_loop_add_writer(s->loop, fd, on_writable, k);
  else if (!(what & CURL_POLL_OUT) && (k->what & CURL_POLL_OUT))
    cio_loop_remove_writer(s->loop, fd);
  k->what = what & (CURL_POLL_IN | CURL_POLL_OUT);
  /* Only ENOMEM can fail here (libcurl owns the fd, no stream does);
   * the transfer then ends by its timeout. */
  return rc < 0 ? -1 : 0;
}

static void on_timeout(void *arg) {
  cio_http_session *s = arg;
  cio_handle_release(s->timer); /* it ran; on_timer may set a new one */
  s->timer = NULL;
  socket_action(s, CURL_SOCKET_TIMEOUT, 0);
}

static void timer_stop(cio_http_session *s) {
  if (s->timer != NULL) {
    cio_handle_cancel(s->timer);
    cio_handle_release(s->timer);
    s->timer = NULL;
  }
}

/* CURLMOPT_TIMERFUNCTION: call socket_action(TIMEOUT) in `ms` (-1: no
 * longer).  libcurl must not be called from here, so even 0 goes through
 * the loop. */
static int on_timer(CURLM *multi, long ms, void *userp) {
  (void)multi;
  cio_http_session *s = userp;
  if (ms >= 0 && s->timer != NULL) {
    /* Asked again for the same time (it does so on every transfer it
     * adds): keep the handle. */
    double when = cio_loop_time(s->loop) + (double)ms / 1000.0;
    double diff = when - cio_handle_when(s->timer);
    if (diff > -0.0005 && diff < 0.0005)
      return 0;
  }
  timer_stop(s);
  if (ms < 0)
    return 0;
  return cio_loop_call_later(s->loop, (double)ms / 1000.0, on_timeout, s,
                             &s->timer) < 0
             ? -1
             : 0;
}

/* CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION: count connections. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *a) {
  (void)purpose;
  cio_http_session *s = clientp;
  curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd == CURL_SOCKET_BAD)
    return fd;
  if (sock_new(s, fd, true) == NULL) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  s->stats.connections++;
  s->stats.open_connections++;
  return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd) {
  cio_http_session *s = clientp;
  struct cio__http_sock *k = sock_owned(s, fd);
  if (k != NULL) {
    s->stats.open_connections--;
    sock_forget(s, k); /* the loop stops watching before the fd goes */
  }
  return close(fd);
}

/* ---- transfers ----------------------------------------------------------- */

/* Take the transfers libcurl finished out of the multi handle and wake
 * their tasks. */
static void finish_done(cio_http_session *s) {
  CURLMsg *msg;
  int left;
  while (s->multi != NULL &&
         (msg = curl_multi_info_read(s->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    cio_http_response *t = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    CURLcode code = msg->data.result;
    curl_multi_remove_handle(s->multi, t->easy);
    cio__http_read_timer_stop(t);
    if (t->preset < 0) {
      t->result = t->preset;
      snprintf(t->errbuf, sizeof t->errbuf, "%s",
               cio__http_preset_text(t->preset));
    } else if (code != CURLE_OK) {
      t->result = cio__http_curl_error(code, t->easy);
      if (t->errbuf[0] == '\0')
        snprintf(t->errbuf, sizeof t->errbuf, "%s", curl_easy_strerror(code));
    }
    if (t->url == NULL)
      curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, (char **)&t->url);
    t->state = CIO__XFER_DONE;
    t->paused = false;
    s->stats.in_flight--;
    cio__list_remove(&t->node);
    cio__list_push_back(&s->done, &t->node);
    CIO_ASSERT(xfer_check(t));
    cio__http_xfer_notify(t);
  }
}

void cio__http_xfer_abort(cio_http_response *t, int code, const char *why) {
  cio_http_session *s = t->s;
  if (t->state != CIO__XFER_SENDING && t->state != CIO__XFER_HEADERS)
    return;
  curl_multi_remove_handle(s->multi, t->easy);
  cio__http_read_timer_stop(t);
  t->state = CIO__XFER_DONE;
  t->paused = false;
  t->result = code;
  if (why != NULL)
    snprintf(t->errbuf, sizeof t->errbuf, "%s", why);
  s->stats.in_flight--;
  cio__list_remove(&t->node);
  cio__list_push_back(&s->done, &t->node);
  CIO_ASSERT(xfer_check(t));
  cio__http_xfer_notify(t);
}

int cio__http_xfer_start(cio_http_response *t) {
  cio_http_session *s = t->s;
  CURLMcode mc = curl_multi_add_handle(s->multi, t->easy);
  if (mc != CURLM_OK)
    return cio__http_curlm_error(mc);
  t->state = CIO__XFER_SENDING;
  cio__list_remove(&t->node);
  cio__list_push_back(&s->active, &t->node);
  CIO_ASSERT(xfer_check(t));
  s->stats.requests++;
  s->stats.in_flight++;
  return 0;
}

int cio__http_xfer_wait(cio_http_response *t) {
  cio_event_clear(t->ev);
  return cio_event_wait(t->ev);
}

static void forget_cookie_files(cio_http_response *t) {
  if (t->s->cookies)
    curl_easy_setopt(t->easy, CURLOPT_COOKIEFILE, NULL);
}

static void xfer_free(cio_loop *loop, cio_http_response *t) {
  forget_cookie_files(t);
  cio__http_recv_reset(t);
  cio__http_recv_free(t);
  cio__list_remove(&t->node);
  curl_easy_cleanup(t->easy);
  cio_event_free(t->ev);
  cio__free(loop, t);
}

int cio__http_xfer_get(cio_http_session *s, cio_http_response **out) {
  *out = NULL;
  cio_http_response *t;
  if (!cio__list_empty(&s->idle)) {
    t = cio__container_of(s->idle.next, cio_http_response, node);
    s->n_idle--;
  } else {
    t = cio__calloc(s->loop, 1, sizeof *t);
    if (t == NULL)
      return CIO_ENOMEM;
    cio__list_init(&t->node);
    t->s = s;
    t->up_fd = -1;
    t->easy = curl_easy_init();
    if (t->easy == NULL || cio_event_new(&t->ev) < 0) {
      curl_easy_cleanup(t->easy);
      cio__free(s->loop, t);
      return CIO_ENOMEM;
    }
    cio__http_session_apply(s, t->easy);
    cio__http_recv_attach(t);
  }
  cio__list_remove(&t->node);
  cio__list_push_back(&s->done, &t->node);
  s->refs++;
  cio__http_recv_setup(t);
  *out = t;
  return 0;
}

static void session_free(cio_http_session *s);

void cio__http_xfer_put(cio_http_response *t) {
  cio_http_session *s = t->s;
  cio__http_xfer_abort(t, CIO_ECANCELED, NULL);
  cio__http_recv_reset(t);
  cio__list_remove(&t->node);
  if (s->state == CIO__SESSION_OPEN && s->n_idle < CIO__HTTP_POOL_MAX) {
    cio_event_clear(t->ev);
    t->state = CIO__XFER_IDLE;
    cio__list_push_back(&s->idle, &t->node);
    CIO_ASSERT(xfer_check(t));
    s->n_idle++;
  } else {
    xfer_free(s->loop, t);
  }
  if (--s->refs == 0)
    session_free(s);
}

/* ---- the session ------------------------------------------------------- */

static char *dup_opt(cio_loop *loop, const char *v, bool *fail) {
  if (v == NULL)
    return NULL;
  char *d = cio__strdup(loop, v);
  if (d == NULL)
    *fail = true;
  return d;
}

long cio__http_ms(double seconds, long dflt) {
  if (seconds == 0)
    return dflt;
  if (seconds == CIO_NO_TIMEOUT || seconds > 2e6)
    return 0; /* libcurl's "none" */
  long ms = (long)(seconds * 1000.0 + 0.5);
  return ms > 0 ? ms : 1;
}

static bool bad_timeout(double t) {
  return isnan(t) || t < 0;
}

static int version_of(int v, long *out) {
  switch (v) {
  case CIO_HTTP_AUTO:
    *out = CURL_HTTP_VERSION_2TLS;
    return 0;
  case CIO_HTTP_1_1:
    *out = CURL_HTTP_VERSION_1_1;
    return 0;
  case CIO_HTTP_2:
    *out = CURL_HTTP_VERSION_2_0;
    return 0;
  case CIO_HTTP_2_PRIOR_KNOWLEDGE:
    *out = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    return 0;
  default:
    return CIO_EINVAL;
  }
}

static int headers_of(cio_http_session *s, const cio_http_session_opts *o) {
  for (size_t i = 0; i < o->n_headers; i++) {
    const cio_http_field *h = &o->headers[i];
    if (h->name == NULL || h->value == NULL || !cio__http_is_token(h->name) ||
        !cio__http_valid_value(h->value))
      return CIO_EINVAL; /* libcurl would send them as given */
    size_t n = strlen(h->name) + strlen(h->value) + 3;
    char *line = cio__malloc(s->loop, n);
    if (line == NULL)
      return CIO_ENOMEM;
    /* "Name;" is libcurl's way to send a header with an empty value. */
    if (h->value[0] == '\0')
      snprintf(line, n, "%s;", h->name);
    else
      snprintf(line, n, "%s: %s", h->name, h->value);
    struct curl_slist *l = curl_slist_append(s->headers, line);
    cio__free(s->loop, line);
    if (l == NULL)
      return CIO_ENOMEM;
    s->headers = l;
  }
  return 0;
}

static int options_of(cio_http_session *s, const cio_http_session_opts *o) {
  if (o->limit < -1 || o->limit_per_host < 0 || bad_timeout(o->timeout) ||
      bad_timeout(o->connect_timeout) || bad_timeout(o->read_timeout) ||
      o->max_redirects < -1 || (o->n_headers > 0 && o->headers == NULL) ||
      (o->user_agent != NULL && !cio__http_valid_value(o->user_agent)) ||
      (o->base_url != NULL && !cio__http_valid_url(o->base_url)))
    return CIO_EINVAL;
  int rc = version_of(o->http_version, &s->http_version);
  if (rc < 0)
    return rc;
  /* libcurl 7.88.0 and 7.88.1 break an h2c prior-knowledge connection
   * when they reuse it ("Error in the HTTP2 framing layer", curl issue
   * 10634, fixed in 8.0.0): there, each request gets its own. */
  unsigned ver = curl_version_info(CURLVERSION_NOW)->version_num;
  s->h2c_no_reuse = s->http_version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE &&
                    ver >= 0x075800 && ver < 0x080000;
  s->timeout_ms = cio__http_ms(o->timeout, 300000);
  s->connect_timeout_ms = cio__http_ms(o->connect_timeout, 0);
  s->read_timeout = o->read_timeout == CIO_NO_TIMEOUT ? 0 : o->read_timeout;
  s->max_redirects = o->max_redirects == 0 ? 10 : o->max_redirects;
  s->cookies = o->cookie_jar;
  s->insecure = o->insecure;
  bool fail = false;
  s->base_url = dup_opt(s->loop, o->base_url, &fail);
  s->ca_file = dup_opt(s->loop, o->ca_file, &fail);
  s->cert_file = dup_opt(s->loop, o->cert_file, &fail);
  s->key_file = dup_opt(s->loop, o->key_file, &fail);
  s->proxy = dup_opt(s->loop, o->proxy, &fail);
  /* User-Agent goes in the session's header list, which libcurl copies
   * into the request as is (CURLOPT_USERAGENT formats it again for every
   * request), and which a request's own User-Agent replaces. */
  char ua[160];
  if (o->user_agent != NULL)
    snprintf(ua, sizeof ua, "User-Agent: %s", o->user_agent);
  else
    snprintf(ua, sizeof ua, "User-Agent: casyncio/%d.%d.%d libcurl/%s",
             CIO_VERSION_MAJOR, CIO_VERSION_MINOR, CIO_VERSION_PATCH,
             curl_version_info(CURLVERSION_NOW)->version);
  bool own_ua = false;
  for (size_t i = 0; i < o->n_headers; i++)
    own_ua |= o->headers[i].name != NULL &&
              strcasecmp(o->headers[i].name, "user-agent") == 0;
  if (!own_ua && o->user_agent != NULL && o->user_agent[0] == '\0')
    own_ua = true; /* "": send none */
  if (!own_ua && (s->headers = curl_slist_append(NULL, ua)) == NULL)
    fail = true;
  if (fail)
    return CIO_ENOMEM;
  return headers_of(s, o);
}

static int multi_setup(cio_http_session *s, const cio_http_session_opts *o) {
  s->multi = curl_multi_init();
  if (s->multi == NULL)
    return CIO_ENOMEM;
  long limit = o->limit == 0 ? 100 : o->limit < 0 ? 0 : o->limit;
  curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
  curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
  curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, limit);
  curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    (long)o->limit_per_host);
  /* Keep as many idle connections as may be open: all are reusable. */
  if (limit > 0)
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, limit);
  curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  /* The multi handle already shares its DNS cache and connections, and a
   * pooled easy handle keeps its TLS sessions; a share object (which
   * costs libcurl 7.88 a few thousand instructions a request) is made
   * only for a cookie jar.  One thread: it needs no lock callbacks. */
  if (o->cookie_jar) {
    s->share = curl_share_init();
    if (s->share == NULL)
      return CIO_ENOMEM;
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  return 0;
}

/* "0x... (base https://api.example.com, 2 requests in flight)": debug
 * mode's list of what was left open. */
static void session_describe(cio_loop *loop, const void *obj,
                             struct cio__text *out) {
  (void)loop;
  const cio_http_session *s = obj;
  size_t active = 0;
  cio__list_foreach(it, (struct cio__list *)&s->active) active++;
  cio__text_printf(out, "%p (", obj);
  if (s->base_url != NULL)
    cio__text_printf(out, "base %s, ", s->base_url);
  cio__text_printf(out, "%zu request%s in flight)", active,
                   active == 1 ? "" : "s");
}

int cio_http_session_open(cio_http_session **out,
                          const cio_http_session_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  cio_loop *loop = cio_get_running_loop();
  if (loop == NULL)
    return CIO_EINVAL;
  static const cio_http_session_opts defaults = {0};
  const cio_http_session_opts *o = opts ? opts : &defaults;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return CIO_ENOMEM;
  cio_http_session *s = cio__calloc(loop, 1, sizeof *s);
  if (s == NULL) {
    curl_global_cleanup();
    return CIO_ENOMEM;
  }
  s->loop = loop;
  s->refs = 1;
  s->state = CIO__SESSION_OPEN;
  cio__list_init(&s->active);
  cio__list_init(&s->done);
  cio__list_init(&s->idle);
  cio__list_init(&s->socks);
  int rc = options_of(s, o);
  if (rc == 0)
    rc = multi_setup(s, o);
  if (rc < 0) {
    s->state = CIO__SESSION_CLOSED;
    s->refs = 0; /* never handed out */
    curl_multi_cleanup(s->multi);
    s->multi = NULL;
    session_free(s);
    return rc;
  }
  CIO_ASSERT(session_check(s));
  cio__debug_track(loop, "HTTP session", s, session_describe);
  *out = s;
  return 0;
}

/* Everything a transfer takes from the session, set once on each easy
 * handle it makes (request.c sets what each request says). */
void cio__http_session_apply(cio_http_session *s, CURL *e) {
  if (s->share != NULL)
    curl_easy_setopt(e, CURLOPT_SHARE, s->share);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, s);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, s);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, s->http_version);
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (s->h2c_no_reuse)
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  if (s->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (s->ca_file)
    curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
  if (s->cert_file)
    curl_easy_setopt(e, CURLOPT_SSLCERT, s->cert_file);
  if (s->key_file)
    curl_easy_setopt(e, CURLOPT_SSLKEY, s->key_file);
  if (s->proxy)
    curl_easy_setopt(e, CURLOPT_PROXY, s->proxy);
  /* The cookie engine, on the share's jar.  The list of files this adds
   * to is dropped by forget_cookie_files(). */
  if (s->cookies)
    curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
}

static void session_free(cio_http_session *s) {
  cio_loop *loop = s->loop;
  CIO_ASSERT(s->refs == 0 && s->state == CIO__SESSION_CLOSED);
  if (s->share != NULL)
    curl_share_cleanup(s->share);
  curl_slist_free_all(s->headers);
  cio__free(loop, s->base_url);
  cio__free(loop, s->ca_file);
  cio__free(loop, s->cert_file);
  cio__free(loop, s->key_file);
  cio__free(loop, s->proxy);
  cio__free(loop, s);
  curl_global_cleanup();
}

int cio_http_session_close(cio_http_session *s) {
  if (s == NULL || s->state == CIO__SESSION_CLOSED)
    return 0;
  CIO_ASSERT(session_check(s));
  cio__debug_untrack(s->loop, s);
  while (!cio__list_empty(&s->active)) {
    cio_http_response *t =
        cio__container_of(s->active.next, cio_http_response, node);
    cio__http_xfer_abort(t, CIO_ECLOSED, "the session was closed");
  }
  while (!cio__list_empty(&s->idle))
    xfer_free(s->loop,
              cio__container_of(s->idle.next, cio_http_response, node));
  s->n_idle = 0;
  /* Responses the user still holds keep their easy handles, which must
   * let go of the share before it is freed. */
  if (s->share != NULL) {
    cio__list_foreach(it, &s->done) {
      cio_http_response *t = cio__container_of(it, cio_http_response, node);
      curl_easy_setopt(t->easy, CURLOPT_SHARE, NULL);
    }
  }
  s->state = CIO__SESSION_CLOSED;
  curl_multi_cleanup(s->multi); /* closes the idle connections */
  s->multi = NULL;
  while (!cio__list_empty(&s->socks))
    sock_forget(s,
                cio__container_of(s->socks.next, struct cio__http_sock, node));
  cio__free(s->loop, s->owned);
  s->owned = NULL;
  s->owned_cap = 0;
  timer_stop(s);
  CIO_ASSERT(session_check(s));
  if (--s->refs == 0)
    session_free(s);
  return 0;
}

int cio_http_session_stats_get(const cio_http_session *s,
                               cio_http_session_stats *st) {
  if (s == NULL || st == NULL)
    return CIO_EINVAL;
  *st = s->stats;
  return 0;
}
