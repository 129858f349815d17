/* casyncio HTTP client: aiohttp's ClientSession in C, on libcurl.
 *
 *   cio_http_session *s;
 *   cio_http_session_open(&s, NULL);
 *   cio_http_response *r;
 *   int rc = cio_http_get(s, "https://example.com/", &r);
 *   if (rc == 0) {
 *     printf("%d %s\n", cio_http_response_status(r),
 *            cio_http_response_reason(r));
 *     char *body; size_t len;
 *     rc = cio_http_response_read(r, (void **)&body, &len, 1 << 20);
 *     ...
 *     free(body);
 *     cio_http_response_close(r);
 *   }
 *   cio_http_session_close(s);
 *
 * A session (aiohttp's ClientSession with its TCPConnector) keeps
 * connections alive and reuses them, limits how many are open (100 in all
 * by default, as aiohttp), shares a DNS cache, TLS sessions and an
 * optional cookie jar between its requests, and runs every transfer on
 * the casyncio loop: libcurl's multi interface is driven by the loop's fd
 * callbacks and timers, with no thread of its own.  A request suspends
 * only the calling task, so thousands may be in flight on one thread.
 *
 * HTTP/1.1 and HTTP/2 (libcurl's nghttp2: HTTPS negotiates h2 by ALPN and
 * multiplexes requests on one connection), HTTPS with certificate and
 * host name verification on by default, proxies (the *_proxy environment
 * variables, or the `proxy` option) and redirects as libcurl does them.
 *
 * A request returns once the status line and headers of the final
 * response (after redirects) arrived; the body is then read whole or
 * chunk by chunk as it arrives.  While the task does not read, the
 * transfer stops reading from the socket once 64 KiB are buffered (TCP
 * flow control slows the server down), as aiohttp does.
 *
 * Errors are casyncio codes; libcurl's message says more
 * (cio_http_response_error, cio_http_request.error):
 *   CIO_EAI_NONAME     unknown host          (ClientConnectorError)
 *   CIO_ECONNREFUSED   refused (and the other connect errnos)
 *   CIO_ECERT          certificate verification failed
 *   CIO_ETLS           another TLS failure
 *   CIO_ETIMEDOUT      a session or request timeout (ServerTimeoutError)
 *   CIO_EREDIRECT      more redirects than allowed (TooManyRedirects)
 *   CIO_EHTTP          malformed response, or the body ended early
 *                      (ClientPayloadError)
 *   CIO_ECONNRESET     the server closed the connection without an answer
 *                      (ServerDisconnectedError)
 *   CIO_EMSGSIZE       a body larger than the cap given to read
 *   CIO_ECLOSED        the session was closed under the request
 * A status of 404 or 500 is not an error: the response says it.
 *
 * Cancellation (cio_task_cancel, wait_for, timeout scopes, TaskGroup) of a
 * task in cio_http_session_request removes its transfer at once: nothing
 * is left behind and no callback runs for it afterwards.  A body read
 * that is cancelled leaves the response usable; closing it ends the
 * transfer.
 *
 * Objects belong to the loop (and thread) that opened the session.
 * Not thread-safe.
 */
#ifndef CASYNCIO_HTTP_CLIENT_H
#define CASYNCIO_HTTP_CLIENT_H

#include "casyncio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* jansson's document type; include <jansson.h> to build or read one. */
struct json_t;

typedef struct cio_http_session cio_http_session;

/* Enough room for any of libcurl's messages (its CURL_ERROR_SIZE). */
#define CIO_HTTP_ERROR_SIZE 256

typedef struct cio_http_response cio_http_response;

/* A header or query parameter: both strings borrowed for the call.  A
 * header's name must be a token (RFC 9110's tchar: letters, digits and
 * some punctuation, no space, colon or control character) and its value
 * may not hold CR or LF, or the call that takes it returns CIO_EINVAL
 * (they would go on the wire as given: header injection).  Query
 * parameters are percent-encoded: anything goes. */
typedef struct cio_http_field {
  const char *name;
  const char *value;
} cio_http_field;

/* Which HTTP versions a session speaks. */
enum cio_http_version {
  CIO_HTTP_AUTO = 0, /* HTTP/1.1, or HTTP/2 over TLS when the server
                        offers it (ALPN) */
  CIO_HTTP_1_1 = 11, /* HTTP/1.1 only */
  CIO_HTTP_2 = 20,   /* HTTP/2 over TLS, or h2c by Upgrade from 1.1 */
  /* h2c straight away (plain http).  With libcurl 7.88, which breaks such
   * a connection when it reuses it (fixed in 8.0), every request opens
   * its own connection. */
  CIO_HTTP_2_PRIOR_KNOWLEDGE = 21,
};

/* Options of a session.  Zero-initialise and set what you need; every
 * string is copied. */
typedef struct cio_http_session_opts {
  /* Relative request URLs are resolved against it (RFC 3986), e.g.
   * "http://127.0.0.1:8080/api/" with "users/1". */
  const char *base_url;
  const cio_http_field *headers; /* sent with every request */
  size_t n_headers;
  /* Connections open at once in all (0: 100, as aiohttp; -1: no limit)
   * and to one host:port (0: no limit).  Requests beyond wait for a
   * connection. */
  int limit;
  int limit_per_host;
  /* Timeouts in seconds (CIO_NO_TIMEOUT: none).  `timeout` bounds a
   * whole request, its body read included (0: 300, as aiohttp);
   * `connect_timeout` the connection set-up, TLS included (0: none);
   * `read_timeout` the silence between two reads once connected, while
   * the task reads or the buffer has room (0: none). */
  double timeout;
  double connect_timeout;
  double read_timeout;
  int max_redirects; /* redirects followed (0: 10, -1: none) */
  bool cookie_jar;   /* keep cookies the servers set, send them back */
  int http_version;  /* enum cio_http_version */
  /* TLS: verification is on unless `insecure` (aiohttp's ssl=False).
   * `ca_file`: a PEM bundle to trust instead of the system's. */
  bool insecure;
  const char *ca_file;
  const char *cert_file; /* client certificate (PEM), and its key */
  const char *key_file;
  /* "http://host:port" and friends; NULL: the *_proxy environment
   * variables, as libcurl and aiohttp (trust_env) do; "": none. */
  const char *proxy;
  /* NULL: "casyncio/<version> libcurl/<version>"; "": none.  A header
   * named User-Agent (session's or request's) wins.  Headers and
   * user_agent are checked as cio_http_field says, the base URL for
   * control characters: CIO_EINVAL. */
  const char *user_agent;
} cio_http_session_opts;

/* Open a session on the current loop.  `opts` may be NULL.  Does not
 * suspend and does no I/O.  Returns 0, CIO_EINVAL (no loop, a bad option),
 * CIO_ENOMEM.  On failure `*out` is NULL. */
CIO_API CIO_NODISCARD int cio_http_session_open(cio_http_session **out,
                                  const cio_http_session_opts *opts);

/* Close the session: requests still in flight end with CIO_ECLOSED, idle
 * connections are closed and the session is freed once the last of its
 * responses is closed.  Does not suspend.  Returns 0.  NULL is accepted. */
CIO_API int cio_http_session_close(cio_http_session *s);

/* What a session did so far. */
typedef struct cio_http_session_stats {
  uint64_t requests;       /* started */
  uint64_t connections;    /* sockets opened (a reused one counts once) */
  size_t open_connections; /* sockets open now */
  size_t in_flight;        /* transfers not yet finished */
} cio_http_session_stats;

/* Fill `*st`.  Returns 0 or CIO_EINVAL. */
CIO_API int cio_http_session_stats_get(const cio_http_session *s,
                                       cio_http_session_stats *st);

/* A request.  Zero-initialise and set what you need: {.url = "..."} is a
 * GET.  Borrowed for the call (the body is copied or, for a file, read
 * while the request is sent). */
typedef struct cio_http_request {
  const char *method;            /* "GET", "POST", ... (a token); NULL: GET,
                                    or POST when there is a body */
  const char *url; /* absolute, or relative to the base URL; no control
                      characters */
  const cio_http_field *headers; /* added to (or, same name, replacing)
                                    the session's */
  size_t n_headers;
  const cio_http_field *params; /* query parameters, percent-encoded and
                                   appended to the URL */
  size_t n_params;
  /* The body: at most one of `body` (`body_len` bytes), `body_file` (a
   * path, read on the loop's thread pool as it is sent) and `json`
   * (serialised compactly; Content-Type: application/json).  Other bodies
   * default to Content-Type: application/octet-stream. */
  const void *body;
  size_t body_len;
  const char *body_file;
  const struct json_t *json;
  double timeout;    /* this request's whole time; 0: the session's */
  bool no_redirects; /* return a 3xx as it is (allow_redirects=False) */
  /* If not NULL, receives libcurl's message when the request fails
   * (`error_cap` bytes, NUL-terminated). */
  char *error;
  size_t error_cap;
} cio_http_request;

/* Send `req` through `s` and wait for the final response's headers.
 * Suspends.  On success `*out` is a response to close with
 * cio_http_response_close().  Returns 0 (whatever the status), one of the
 * codes listed at the top of this header, CIO_ENOENT / CIO_EACCES (body
 * file), CIO_ECANCELED (the transfer is removed), CIO_EINVAL (no URL, two
 * bodies, a body with HEAD, a URL libcurl refuses or with a control
 * character, a method or header name that is not a token, a header value
 * with CR or LF: nothing is sent), CIO_ENOMEM, CIO_EPERM
 * outside a task.
 * On failure `*out` is NULL. */
CIO_API CIO_NODISCARD int cio_http_session_request(cio_http_session *s,
                                     const cio_http_request *req,
                                     cio_http_response **out);

/* Shorthands: GET `url`; DELETE `url`; POST / PUT / PATCH `url` with a
 * body of `len` bytes; POST `url` with a JSON body. */
CIO_API CIO_NODISCARD int cio_http_get(cio_http_session *s, const char *url,
                         cio_http_response **out);
CIO_API CIO_NODISCARD int cio_http_delete(cio_http_session *s, const char *url,
                            cio_http_response **out);
CIO_API CIO_NODISCARD int cio_http_post(cio_http_session *s, const char *url,
                          const void *body, size_t len,
                          cio_http_response **out);
CIO_API CIO_NODISCARD int cio_http_put(cio_http_session *s, const char *url, const void *body,
                         size_t len, cio_http_response **out);
CIO_API CIO_NODISCARD int cio_http_patch(cio_http_session *s, const char *url,
                           const void *body, size_t len,
                           cio_http_response **out);
CIO_API CIO_NODISCARD int cio_http_post_json(cio_http_session *s, const char *url,
                               const struct json_t *json,
                               cio_http_response **out);

/* -- The response.  The accessors do not suspend; strings stay valid
 * until the response is closed. */

/* Status code (200, 404...), 0 for NULL. */
CIO_API int cio_http_response_status(const cio_http_response *r);

/* True for a status below 400 (aiohttp's resp.ok). */
CIO_API bool cio_http_response_ok(const cio_http_response *r);

/* The reason phrase the server sent ("Not Found"); HTTP/2 sends none, so
 * the standard phrase of the status is given, or "". */
CIO_API const char *cio_http_response_reason(const cio_http_response *r);

/* 10, 11 or 20 for HTTP/1.0, 1.1 and 2. */
CIO_API int cio_http_response_version(const cio_http_response *r);

/* The URL that answered, after redirects. */
CIO_API const char *cio_http_response_url(const cio_http_response *r);

/* The value of the first header named `name` (any case), or NULL. */
CIO_API const char *cio_http_response_header(const cio_http_response *r,
                                             const char *name);

/* Every value of header `name` (any case) in the order received, up to
 * `cap` of them into `values`; returns how many there are. */
CIO_API size_t cio_http_response_header_all(const cio_http_response *r,
                                            const char *name,
                                            const char **values, size_t cap);

/* Number of header lines, and the i-th of them (0-based), as sent.
 * Returns 0 or CIO_ERANGE. */
CIO_API size_t cio_http_response_header_count(const cio_http_response *r);
CIO_API int cio_http_response_header_at(const cio_http_response *r, size_t i,
                                        const char **name, const char **value);

/* Content-Length, or -1 when the server did not say (chunked, HTTP/2
 * without it, HEAD...). */
CIO_API int64_t cio_http_response_content_length(const cio_http_response *r);

/* Read the rest of the body: `*body` gets a malloc()ed buffer (free with
 * free(); NUL-terminated one byte past `*len`, so text can be used as a
 * string) of `*len` bytes.  `max_size` caps it (0: no cap): a larger body
 * (by its Content-Length or as it arrives) gives CIO_EMSGSIZE and ends
 * the transfer.  Suspends.  Returns 0, CIO_EMSGSIZE, the transfer's error
 * (CIO_EHTTP when the server closed mid-body, CIO_ETIMEDOUT...),
 * CIO_ECANCELED (the response stays usable; nothing read is lost),
 * CIO_EINVAL, CIO_EPERM outside a task.  Outputs are NULL / 0 on error. */
CIO_API CIO_NODISCARD int cio_http_response_read(cio_http_response *r, void **body,
                                   size_t *len, size_t max_size);

/* Read up to `cap` bytes of the body into `buf` as soon as any are there:
 * the body chunk by chunk as it arrives (aiohttp's content.readany()).
 * Suspends while nothing is buffered.  Returns the count, 0 at the end of
 * the body, the transfer's error, CIO_ECANCELED (nothing lost),
 * CIO_EINVAL, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD ssize_t cio_http_response_read_some(cio_http_response *r, void *buf,
                                            size_t cap);

/* Read the whole body (capped as cio_http_response_read) and parse it as
 * JSON with jansson.  `*json` gets a new reference (json_decref it).
 * Returns as cio_http_response_read, and CIO_EINVAL for a body that is
 * not JSON (aiohttp's JSONDecodeError). */
CIO_API CIO_NODISCARD int cio_http_response_json(cio_http_response *r, struct json_t **json,
                                   size_t max_size);

/* libcurl's message about the transfer's failure ("Failure when receiving
 * data from the peer"), or "" while none. */
CIO_API const char *cio_http_response_error(const cio_http_response *r);

/* Close the response: a transfer still running is ended (its connection
 * closed, since the body was not read to its end: aiohttp's close()); a
 * finished one has already given its connection back for reuse.  Does
 * not suspend.  NULL is accepted. */
CIO_API void cio_http_response_close(cio_http_response *r);

/* -- Retrying requests (see cio_retry in casyncio.h). */

/* A cio_retry predicate for calls whose result is a cio_http_response *:
 * retries connection errors (cio_retry_is_transient) and the statuses 429,
 * 502, 503 and 504; a Retry-After header (seconds, or an HTTP date) sets
 * the delay. */
CIO_API bool cio_http_retry_if(int rc, void *result, double *delay, void *ctx);

/* The seconds a response's Retry-After asks to wait (>= 0), or -1 when it
 * has none (or one that cannot be read). */
CIO_API double cio_http_response_retry_after(const cio_http_response *r);

/* cio_http_session_request() under cio_retry(): a response with a
 * retried status is closed before waiting.  `opts` may be NULL (3
 * attempts); its retry_if NULL means cio_http_retry_if, and its on_retry
 * is called before the response is closed.  When the attempts or the
 * time run out on a retried status, that last response is returned (0),
 * as aiohttp-retry does.  Returns as cio_http_session_request(),
 * CIO_EINVAL for bad options. */
CIO_API CIO_NODISCARD int cio_http_session_request_retry(cio_http_session *s,
                                           const cio_http_request *req,
                                           cio_http_response **out,
                                           const cio_retry_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
