/* The HTTP client's private types: a session (libcurl's multi handle on
 * the casyncio loop) and its transfers (one easy handle each; a transfer
 * is the response the user holds).
 *
 * Files: session.c   the session, libcurl's socket and timer callbacks,
 *                    the transfer pool and completion
 *        request.c   building a transfer from a cio_http_request, the
 *                    request call and its shorthands
 *        response.c  receiving (header and body callbacks, pause and
 *                    resume), the response's accessors and reads
 *        errors.c    libcurl's codes as casyncio codes
 *        retry.c     Retry-After and the retrying request
 *
 * A transfer's life:
 *
 *   IDLE    -> SENDING   added to the multi handle        request.c
 *   SENDING -> HEADERS   the final response's blank line  response.c
 *   SENDING/HEADERS -> DONE  libcurl finished it, or it was aborted
 *                        (cancel, close, cap, read timeout)  session.c
 *   any     -> IDLE      given back to the pool (or freed)   session.c
 *
 * (1) A transfer is in the multi handle exactly while SENDING or HEADERS,
 *     and then on the session's `active` list; DONE and out of the pool
 *     it is on `done`; IDLE on `idle`.
 * (2) Once a transfer left the multi handle libcurl never calls its
 *     callbacks again, and its read timer is cancelled.
 * (3) `paused` means libcurl holds back received data for it because the
 *     body buffer is full; only HEADERS transfers pause.
 * (4) The session lives while the user holds it or any transfer is out of
 *     the pool (`refs`).
 */
#ifndef CIO_HTTP_CLIENT_INTERNAL_H
#define CIO_HTTP_CLIENT_INTERNAL_H

#include <curl/curl.h>

#include "casyncio/http_client.h"
#include "internal.h"

/* Buffered body bytes at which receiving pauses, and below which it
 * resumes (aiohttp's 64 KiB read buffer). */
#define CIO__HTTP_HIGH_WATER (64 * 1024)
#define CIO__HTTP_LOW_WATER (16 * 1024)
/* Upload chunks read from a body file. */
#define CIO__HTTP_FILE_CHUNK (64 * 1024)
/* Easy handles kept for reuse by an idle session. */
#define CIO__HTTP_POOL_MAX 256

enum cio__xfer_state {
  CIO__XFER_IDLE,
  CIO__XFER_SENDING,
  CIO__XFER_HEADERS,
  CIO__XFER_DONE,
};

enum cio__session_state {
  CIO__SESSION_OPEN,
  CIO__SESSION_CLOSED,
};

struct cio__http_hdr {
  uint32_t name, value; /* offsets into hbuf */
};

struct cio_http_response {
  cio_http_session *s;
  CURL *easy;
  uint8_t state; /* cio__xfer_state */
  bool paused;   /* (3) */
  bool whole;    /* cio_http_response_read: no pausing, capped */
  bool follow;   /* libcurl follows 3xx with a Location */
  bool saw_location;
  bool head_seen;  /* the final head arrived (HEADERS, or DONE after) */
  bool in_request; /* its task is inside cio_http_session_request */
  bool had_custom, had_read; /* options the next request must undo */
  int result;                /* DONE: 0 or a code */
  int preset;    /* an error our callbacks decided, before libcurl ends */
  cio_event *ev; /* set whenever something the owner waits for happens */
  struct cio__list node; /* (1) */

  /* The request. */
  struct curl_slist *req_headers; /* NULL: the session's list is used */
  CURLU *curlu;                   /* the resolved URL, when built */

  /* Upload from a file: fed by the requesting task (cio_fs_read). */
  int up_fd;
  char *up_buf;
  size_t up_off, up_len;
  bool up_eof, up_need, up_paused;

  /* The final response's head. */
  int status, version;
  uint32_t reason; /* offset into hbuf */
  char *hbuf;      /* "name\0value\0" ..., the reason, the URL */
  size_t hlen, hcap;
  struct cio__http_hdr *hdrs;
  size_t nhdrs, hdrs_cap;
  const char *url; /* effective URL, libcurl's string */

  /* The body: malloc()ed (handed to the user whole when possible). */
  char *body;
  size_t body_off, body_len, body_cap;
  size_t max_size; /* for `whole`; 0: none */
  uint64_t received;

  /* Silence between reads (session's read_timeout). */
  cio_handle *read_timer;
  double last_io;

  char errbuf[CURL_ERROR_SIZE];
};

struct cio_http_session {
  cio_loop *loop;
  CURLM *multi;
  CURLSH *share;
  uint8_t state;     /* cio__session_state */
  int refs;          /* (4) */
  cio_handle *timer; /* libcurl's timeout */
  struct cio__list active, done, idle;
  size_t n_idle;
  struct cio__list socks;        /* struct cio__http_sock, watched fds */
  struct cio__http_sock **owned; /* by fd: the sockets we opened */
  size_t owned_cap;

  /* Options, resolved to what libcurl takes. */
  char *base_url;
  struct curl_slist *headers; /* the session's own, "Expect:" excluded */
  long timeout_ms, connect_timeout_ms;
  double read_timeout; /* 0: none */
  long max_redirects;  /* -1: do not follow */
  long http_version;   /* CURL_HTTP_VERSION_* */
  bool cookies;
  bool h2c_no_reuse; /* see options_of() */
  bool insecure;
  char *ca_file, *cert_file, *key_file, *proxy;

  cio_http_session_stats stats;
};

/* A socket libcurl asked the loop to watch, or one we opened for it
 * (a connection: from on_open_socket to on_close_socket). */
struct cio__http_sock {
  cio_http_session *s;
  curl_socket_t fd;
  int what;  /* CURL_POLL_IN / OUT bits registered with the loop */
  bool ours; /* opened by on_open_socket, closed by on_close_socket */
  bool idle; /* libcurl removed it; a reader may still be registered */
  struct cio__list node;
};

/* session.c */
/* Seconds as libcurl's milliseconds: 0 gives `dflt`, CIO_NO_TIMEOUT (or
 * anything beyond 23 days) 0, libcurl's "none"; at least 1 ms. */
long cio__http_ms(double seconds, long dflt);
/* Set what the session decides on a transfer's easy handle. */
void cio__http_session_apply(cio_http_session *s, CURL *e);
int cio__http_xfer_get(cio_http_session *s, cio_http_response **out);
void cio__http_xfer_put(cio_http_response *t);
int cio__http_xfer_start(cio_http_response *t);
void cio__http_xfer_abort(cio_http_response *t, int code, const char *why);
/* Set the transfer's event: its owner has something to look at. */
static inline void cio__http_xfer_notify(cio_http_response *t) {
  cio_event_set(t->ev);
}
/* Wait on the transfer's event (cleared first).  Returns 0 or
 * CIO_ECANCELED. */
int cio__http_xfer_wait(cio_http_response *t);

/* response.c */
/* One line of a response head as libcurl passes it (status line, header
 * or the blank line; CRLF included).  Returns 0 or CIO_ENOMEM.  Also what
 * fuzz/fuzz_http_client_head.c feeds. */
int cio__http_head_line(cio_http_response *t, const char *p, size_t len);
/* Once per easy handle: the callbacks. */
void cio__http_recv_attach(cio_http_response *t);
/* Before each transfer: the receiving state. */
void cio__http_recv_setup(cio_http_response *t);
void cio__http_recv_reset(cio_http_response *t);
void cio__http_read_timer_stop(cio_http_response *t);
void cio__http_recv_free(cio_http_response *t);
/* Resume receiving if paused and the buffer drained below low water. */
void cio__http_resume(cio_http_response *t);
/* The message of an error our own callbacks decided. */
const char *cio__http_preset_text(int code);

/* errors.c */
int cio__http_curl_error(CURLcode code, CURL *easy);
int cio__http_curlm_error(CURLMcode code);

#endif
