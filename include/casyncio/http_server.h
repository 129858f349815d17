/* casyncio/http_server.h: an HTTP/1.1 server whose handlers are tasks.
 *
 * What FastAPI and uvicorn give asyncio users, in C: a handler is an
 * ordinary function run as a task, so it may await anything (a database
 * query, an HTTP call, cio_sleep, an executor job) and then answer.
 *
 *   static int get_item(cio_web_request *req, cio_web_response *res,
 *                       void *arg) {
 *     const char *id = cio_web_request_param(req, "id");
 *     json_t *item;
 *     int rc = lookup_item(id, &item);        // suspends; others run
 *     if (rc == CIO_ENOENT)
 *       return cio_web_response_set_text(res, 404, "no such item\n");
 *     if (rc < 0)
 *       return rc;                            // 500, logged
 *     rc = cio_web_response_set_json(res, 200, item);
 *     json_decref(item);
 *     return rc;
 *   }
 *
 *   cio_web_app *app;
 *   cio_web_app_new(&app);
 *   cio_web_app_route(app, "GET", "/items/{id}", get_item, NULL);
 *   cio_web_server *srv;
 *   cio_web_server_open(&srv, app, "127.0.0.1", 8000, NULL);  // in a task
 *   ...                                     // serve until told to stop
 *   cio_web_server_shutdown(srv, 10.0);    // graceful, with a deadline
 *   cio_web_server_close(srv);
 *   cio_web_app_free(app);
 *
 * or, uvicorn-style, cio_web_run(app, host, port, &opts) runs one loop
 * per worker thread until SIGINT or SIGTERM and shuts down gracefully.
 *
 * Over TCP, Unix sockets, and TLS on either (cio_web_server_opts.tls).
 *
 * The protocol: HTTP/1.0 and 1.1 with keep-alive and pipelining
 * (responses go out in request order), chunked request and response
 * bodies, HEAD (served by the GET handler without a body), Expect:
 * 100-continue, a Date header on every response.  Requests are parsed by
 * node's http-parser (Debian's libhttp-parser).  Hostile clients meet
 * limits, each with a default and an option: see cio_web_server_opts.
 *
 * Memory: the app (routes) is not tied to a loop and may be shared by
 * servers of several threads.  A server belongs to the loop that opened
 * it.  Request and response objects belong to the server: they are valid
 * inside the handler call only, and so are the strings they hand out.
 * JSON values are jansson's (json_t, <jansson.h>).
 *
 * Names: the server's are cio_web_* (as aiohttp's server side is
 * aiohttp.web: web.Application, web.Request, web.Response, web.run_app),
 * so that a handler may include casyncio/http_client.h too and await the
 * HTTP client, whose cio_http_request and cio_http_response are other
 * types.
 */
#ifndef CASYNCIO_HTTP_SERVER_H
#define CASYNCIO_HTTP_SERVER_H

#include "casyncio.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t;       /* jansson's json_t */
struct cio_tls_opts; /* casyncio/tls.h */

typedef struct cio_web_app cio_web_app;
typedef struct cio_web_server cio_web_server;
typedef struct cio_web_request cio_web_request;
typedef struct cio_web_response cio_web_response;

/* A request handler.  It runs in a task (its connection's, or its own
 * with cio_web_server_opts.cancel_on_disconnect) and may suspend.  It fills
 * `res` and returns 0, or returns a negative CIO_E* code: the client gets
 * 500 Internal Server Error (or, if the response was already started, the
 * connection is closed) and a line naming the route, the task and the
 * error is logged.  Returning CIO_ECANCELED (the task was cancelled:
 * shutdown deadline, client gone) sends nothing and closes the
 * connection.  `arg` is the one given with the route. */
typedef int (*cio_web_handler)(cio_web_request *req, cio_web_response *res,
                                void *arg);

/* ------------------------------------------------------------------------
 * Apps: the routing table
 * ---------------------------------------------------------------------- */

/* Create an empty app.  It is not tied to a loop (plain malloc) and, once
 * a server uses it, read-only: servers of several threads may share it.
 * Returns 0, CIO_EINVAL (out NULL), CIO_ENOMEM; `*out` is NULL on
 * failure. */
CIO_API CIO_NODISCARD int cio_web_app_new(cio_web_app **out);

/* Free `app`.  No server may use it any more (closed).  NULL is accepted. */
CIO_API void cio_web_app_free(cio_web_app *app);

/* Route requests for `method` and a path matching `pattern` to
 * `fn(req, res, arg)`.
 *
 * `method` is a token ("GET", "POST", "PURGE"...), matched exactly; NULL
 * or "*" matches any method.  A GET route also serves HEAD unless a HEAD
 * route exists.  `pattern` starts with '/' and is made of segments
 * between slashes: a literal ("items"), a parameter ("{id}": any one
 * segment, read with cio_web_request_param), or, as the last segment
 * only, a rest parameter ("{path...}": the rest of the path, slashes
 * included, possibly empty).  Literals are compared with the
 * percent-decoded path; a trailing slash counts ("/items/" is not
 * "/items").  When several patterns match a path, the most specific wins:
 * comparing segment by segment, a literal beats a parameter, which beats
 * a rest parameter.  A path that matches some pattern, but none for its
 * method, gets 405 Method Not Allowed with an Allow header; one that
 * matches none gets 404 Not Found.
 *
 * Call before any server uses the app.  Does not suspend.  Returns 0,
 * CIO_EINVAL (NULL app or fn, a pattern not starting with '/', an
 * unclosed or empty "{}", a rest parameter not last, a method that is not
 * a token), CIO_EEXIST (this method and pattern are routed already),
 * CIO_EBUSY (a server uses the app), CIO_ENOMEM.  The strings are
 * copied. */
CIO_API CIO_NODISCARD int cio_web_app_route(cio_web_app *app, const char *method,
                               const char *pattern, cio_web_handler fn,
                               void *arg);

/* ------------------------------------------------------------------------
 * Servers
 * ---------------------------------------------------------------------- */

/* Options.  Zero-initialise and set what you need; 0 means the default.
 * Timeouts are in seconds; CIO_NO_TIMEOUT turns one off. */
typedef struct cio_web_server_opts {
  /* From the first byte of a request until its head (request line and
   * headers) is complete (slowloris).  When it passes the client gets 408
   * Request Timeout and the connection closes.  0: 10 s. */
  double header_timeout;
  /* From the end of the head until the body is complete (a client
   * trickling its body).  408 and close.  0: 30 s. */
  double body_timeout;
  /* How long a keep-alive connection may sit idle between requests before
   * it is closed (silently, as the client may reuse it).  0: 5 s. */
  double keep_alive_timeout;
  /* Largest request head in bytes, request line included: beyond it the
   * client gets 431 Request Header Fields Too Large and the connection
   * closes.  0: 16 KiB. */
  size_t max_header_size;
  /* Most header fields in one request (431 beyond).  0: 100. */
  size_t max_headers;
  /* Largest request body in bytes: 413 Content Too Large, at once when
   * Content-Length says so (even with Expect: 100-continue), or when a
   * chunked body grows past it; then the connection closes.  0: 1 MiB. */
  size_t max_body_size;
  /* Most connections at once.  At the limit the server stops accepting:
   * new clients wait in the kernel's backlog, nothing is refused or
   * dropped.  0: 10,000. */
  size_t max_connections;
  int backlog;     /* listen(2) backlog; 0: 1024 */
  bool reuse_port; /* SO_REUSEPORT (implied by workers > 1) */
  /* Cancel a handler whose client goes away.  By default a handler runs
   * in its connection's task and notices a vanished client only when it
   * writes (the cheapest way: no task switch of its own).  With this on,
   * each handler runs in a task of its own while the connection's task
   * watches the socket, and end of stream or a reset arriving while the
   * handler runs cancels it: its current wait returns CIO_ECANCELED (Go
   * cancels the request's context the same way).  A client that
   * half-closes its side after sending the request counts as gone; one
   * that did so before the handler started does not (printf | nc). */
  bool cancel_on_disconnect;
  /* Stack bytes of handler tasks (cancel_on_disconnect); 0: the loop's
   * default. */
  size_t stack_size;
  /* Where error lines go (handler failures), one line per call without
   * the newline; NULL: stderr.  Called on the server's loop thread. */
  void (*log)(void *arg, const char *line);
  void *log_arg;
  /* HTTPS: TLS options (casyncio/tls.h) whose context is a server's
   * (cio_tls_context_new(&ctx, CIO_TLS_SERVER) with its certificate
   * loaded).  Copied; the server keeps a reference to the context, so
   * the caller may free its own.  Each connection does the handshake
   * (within tls->handshake_timeout) in its task before its first
   * request; one whose handshake fails is closed.  NULL: plain HTTP.
   * CIO_ENOTSUP from open when casyncio was built without TLS. */
  const struct cio_tls_opts *tls;
  /* A hook on each connection before its first request (after the TLS
   * handshake, if any): it stores in `*out` the stream to speak HTTP over
   * (`raw` itself, or a stream it made on top: a protocol in front of
   * HTTP, say) and returns 0, or returns an error and the connection
   * closes.  The server closes `*out` (if it differs from `raw`) before
   * `raw`.  NULL: HTTP on `raw`. */
  int (*wrap)(cio_stream *raw, cio_stream **out, void *arg);
  void *wrap_arg;

  /* For cio_web_run only. */
  int workers;             /* threads, one loop each; 0: 1 */
  double shutdown_timeout; /* the graceful shutdown's deadline; 0: 10 s */
  /* Called on each worker's thread once its server listens: `worker` is
   * 0 .. workers-1.  Per-worker setup goes here (a connection pool per
   * loop, say).  A negative return stops every worker and cio_web_run
   * returns it.  May suspend (it runs in the worker's main task). */
  int (*on_start)(cio_web_server *srv, int worker, void *arg);
  void *on_start_arg;
} cio_web_server_opts;

/* Listen on `host`:`port` (host NULL: 0.0.0.0; port 0: any free port, see
 * cio_web_server_port) and serve `app` on the current loop: each
 * connection runs in a task of its own.  `app` is borrowed and becomes
 * read-only; it must outlive the server.  `opts` may be NULL (copied).
 * Suspends only to resolve a host name.  Returns 0, CIO_EADDRINUSE and
 * other bind errors, resolver errors, CIO_EINVAL (no loop, NULL app,
 * negative or NaN timeouts, a tls without context), CIO_ENOTSUP (tls
 * without the TLS battery), CIO_ENOMEM.  `*out` is NULL on failure. */
CIO_API CIO_NODISCARD int cio_web_server_open(cio_web_server **out, cio_web_app *app,
                                 const char *host, int port,
                                 const cio_web_server_opts *opts);

/* The same on the Unix socket `path` (removed again on close). */
CIO_API CIO_NODISCARD int cio_web_server_open_unix(cio_web_server **out,
                                      cio_web_app *app, const char *path,
                                      const cio_web_server_opts *opts);

/* The bound TCP port, or -1 (Unix socket, NULL). */
CIO_API int cio_web_server_port(const cio_web_server *srv);

/* Connections open now. */
CIO_API size_t cio_web_server_connections(const cio_web_server *srv);

/* Shut down gracefully: stop accepting, close idle keep-alive
 * connections, let requests in flight finish (their responses carry
 * Connection: close) for up to `timeout` seconds, then cancel the
 * handlers still running and wait until every connection has ended.
 * `timeout` 0 cancels at once.  Suspends.  Returns 0 (all finished in
 * time), CIO_ETIMEDOUT (some were cancelled: the server is shut down all
 * the same), CIO_ECANCELED (the caller was cancelled: every connection
 * was cancelled and has ended), CIO_EINVAL (NULL, NaN or negative
 * timeout), CIO_EPERM outside a task, CIO_EDEADLK from a handler of this
 * server (it would wait for its own request: let it set an event that
 * the task owning the server waits for).  A second call waits as the
 * first. */
CIO_API CIO_NODISCARD int cio_web_server_shutdown(cio_web_server *srv, double timeout);

/* Shut down (cancelling what still runs, unless cio_web_server_shutdown
 * already did) and free `srv`.  Suspends; outside a task (CIO_EPERM) or
 * from one of its handlers (CIO_EDEADLK) it frees nothing.  Returns 0 or
 * CIO_ECANCELED (still closed and freed).  NULL is accepted. */
CIO_API CIO_NODISCARD int cio_web_server_close(cio_web_server *srv);

/* Serve `app` on `host`:`port` until SIGINT or SIGTERM, then shut down
 * gracefully within opts->shutdown_timeout, as uvicorn does: the
 * program's whole life.  With opts->workers > 1, each worker is a thread
 * running its own loop and server on the same port (SO_REUSEPORT: the
 * kernel spreads connections among them); port 0 binds a free port once
 * and the others share it.  Blocks the calling thread, which must have no
 * running loop (it becomes worker 0).  Returns 0, or the first error: a
 * worker's bind or on_start error, CIO_EBUSY (a loop runs in this
 * thread), CIO_EINVAL, CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_web_run(cio_web_app *app, const char *host, int port,
                         const cio_web_server_opts *opts);

/* ------------------------------------------------------------------------
 * Requests: everything here is valid until the handler returns.
 * Strings are NUL-terminated.  None of these suspends.
 * ---------------------------------------------------------------------- */

/* "GET", "POST"... */
CIO_API const char *cio_web_request_method(const cio_web_request *req);

/* The request target as sent: "/items/7?full=1". */
CIO_API const char *cio_web_request_target(const cio_web_request *req);

/* The path, percent-decoded: "/items/7" ("%2F" gives '/'; "%00" stays as
 * it is).  Paths with "." or ".." segments are refused with 400 before
 * any handler runs, so the path is always clean. */
CIO_API const char *cio_web_request_path(cio_web_request *req);

/* The raw query string after '?' ("full=1"), "" when there is none. */
CIO_API const char *cio_web_request_query(const cio_web_request *req);

/* The pattern of the route that matched ("/items/{id}"). */
CIO_API const char *cio_web_request_route(const cio_web_request *req);

/* 10 for HTTP/1.0, 11 for HTTP/1.1. */
CIO_API int cio_web_request_version(const cio_web_request *req);

/* The value of header `name`, matched case-insensitively, without
 * surrounding blanks; the first one when it is repeated; NULL when
 * absent. */
CIO_API const char *cio_web_request_header(const cio_web_request *req,
                                            const char *name);

/* Header fields in the order received (trailers of a chunked body are not
 * included). */
CIO_API size_t cio_web_request_header_count(const cio_web_request *req);

/* The `i`th header's name (as sent) and value.  Returns 0 or CIO_ERANGE
 * (then both are NULL). */
CIO_API CIO_NODISCARD int cio_web_request_header_at(const cio_web_request *req, size_t i,
                                       const char **name, const char **value);

/* The value of path parameter `name` ("{id}" in the route), decoded; NULL
 * if the route has no such parameter. */
CIO_API const char *cio_web_request_param(cio_web_request *req,
                                           const char *name);

/* The value of query parameter `name`, decoded as a form
 * (application/x-www-form-urlencoded: '+' is a space, %XX a byte): the
 * first when repeated, "" for "?flag" or "?flag=", NULL when absent or out
 * of memory. */
CIO_API const char *cio_web_request_query_param(cio_web_request *req,
                                                 const char *name);

/* The body (chunked bodies are reassembled) and its length in `*len` (may
 * be NULL).  Never NULL: an empty body is "" with length 0.  It is
 * followed by a NUL byte not counted in the length. */
CIO_API const void *cio_web_request_body(const cio_web_request *req,
                                          size_t *len);

/* Parse the body as JSON (jansson's json_loadb): `*out` gets a new
 * reference to release with json_decref.  Returns 0, CIO_EINVAL (not
 * JSON, or NULL arguments; `*out` is NULL). */
CIO_API CIO_NODISCARD int cio_web_request_json(const cio_web_request *req,
                                  struct json_t **out);

/* The client's address.  Returns 0, CIO_ENOTSUP (not a socket), or
 * CIO_EINVAL. */
CIO_API CIO_NODISCARD int cio_web_request_peer_addr(const cio_web_request *req,
                                       cio_addr *out);

/* ------------------------------------------------------------------------
 * Responses.  A response starts as 200 with no body.  Set the status,
 * headers and one body (bytes, text, JSON), which the server sends when
 * the handler returns; or send a file, or stream the body while the
 * handler goes on.  The server adds Date, Content-Length or
 * Transfer-Encoding, and Connection when needed.
 * ---------------------------------------------------------------------- */

/* Set the status code (200 ... 599).  Returns 0, CIO_EINVAL (outside
 * 200-599, NULL), CIO_EALREADY (the head is sent). */
CIO_API CIO_NODISCARD int cio_web_response_set_status(cio_web_response *res, int status);

/* Add a header line (another with the same name may exist).  Names are
 * tokens; values may not hold CR, LF or NUL.  Content-Length and
 * Transfer-Encoding are the server's to set (CIO_EINVAL); "Connection:
 * close" closes the connection after this response; a Date replaces the
 * server's.  Returns 0, CIO_EINVAL, CIO_EALREADY (head sent),
 * CIO_ENOMEM.  Copied. */
CIO_API CIO_NODISCARD int cio_web_response_add_header(cio_web_response *res,
                                         const char *name, const char *value);

/* Remove the headers called `name` (case-insensitive), then add this
 * one.  Returns as cio_web_response_add_header. */
CIO_API CIO_NODISCARD int cio_web_response_set_header(cio_web_response *res,
                                         const char *name, const char *value);

/* Set the body (copied; replaces one set before).  Returns 0, CIO_EINVAL,
 * CIO_EALREADY, CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_web_response_set_body(cio_web_response *res,
                                       const void *data, size_t len);

/* Status, "Content-Type: text/plain; charset=utf-8" and `text` as the
 * body.  Returns as cio_web_response_set_body. */
CIO_API CIO_NODISCARD int cio_web_response_set_text(cio_web_response *res, int status,
                                       const char *text);

/* Status, "Content-Type: application/json" and `json` serialised
 * compactly as the body (`json` is borrowed).  Returns as
 * cio_web_response_set_body, and CIO_EINVAL when jansson cannot encode
 * `json`. */
CIO_API CIO_NODISCARD int cio_web_response_set_json(cio_web_response *res, int status,
                                       const struct json_t *json);

/* Send the regular file at `path` as the body, with the status and
 * headers set so far, "Content-Type: `content_type`" (NULL:
 * application/octet-stream) and its length; the bytes go with
 * cio_fs_sendfile while the handler waits.  The response is then
 * complete.  Nothing is sent when the file cannot be opened: handle the
 * error (CIO_ENOENT → 404, say).  Suspends.  Returns 0, CIO_ENOENT,
 * CIO_EACCES, CIO_EISDIR (not a regular file) and other open/stat errors,
 * a stream error (the connection is closed), CIO_ECANCELED, CIO_EALREADY
 * (head sent), CIO_EINVAL, CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_web_response_send_file(cio_web_response *res,
                                        const char *path,
                                        const char *content_type);

/* Stream the body: the first call sends the head (status and headers so
 * far) with Transfer-Encoding: chunked (HTTP/1.0 clients: no length and
 * the connection closes at the end); each call sends `len` bytes as one
 * chunk (len 0 sends nothing) and waits until the connection can take
 * more (flow control), so the handler may await between calls (Server-
 * Sent Events, a long report).  A body set before is dropped.  The body
 * ends when the handler returns or calls cio_web_response_end.  For HEAD
 * only the head is sent.  Suspends.  Returns 0, a stream error
 * (CIO_EPIPE, CIO_ECONNRESET: the client is gone), CIO_ECANCELED,
 * CIO_EALREADY (the response ended, or a file was sent), CIO_EINVAL,
 * CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_web_response_write(cio_web_response *res, const void *data,
                                    size_t len);

/* End a streamed body (the final chunk) now rather than when the handler
 * returns.  Without streaming, sends the response as it stands.  Suspends.
 * Returns 0, a stream error, CIO_ECANCELED, CIO_EALREADY (ended before),
 * CIO_EINVAL. */
CIO_API CIO_NODISCARD int cio_web_response_end(cio_web_response *res);

/* True once the head was sent (streaming, a file, or end). */
CIO_API bool cio_web_response_is_started(const cio_web_response *res);

#ifdef __cplusplus
}
#endif
#endif
