/* Call a rate-limited HTTP API, retrying what is worth retrying: the
 * tutorial's _request_with_retry() ("python 에서의 비동기 알아보기"), made
 * to run without a network.  This program starts a small chat-completion
 * API on 127.0.0.1 that fails on purpose, in a fixed order, so the run is
 * the same every time:
 *
 *   429 Too Many Requests, Retry-After: 1   the rate limit
 *   500 Internal Server Error               an API error
 *   503 Service Unavailable                 the service is down
 *   (closes the connection, no answer)      a connection error
 *   (answers after 2 s)                     a timeout (the client waits 0.5 s)
 *
 * The tutorial's loop, with openai's exceptions turned into what the HTTP
 * API answers, is api_call_with_retry.py beside this file (aiohttp, with
 * the same API in aiohttp.web); both print the same lines.  For each
 * failure it prints what happened and sleeps: Retry-After for 429, 1 s
 * for other 5xx and timeouts, 3 s for 503 and connection errors.
 *
 * Here cio_http_session_request_retry() runs the loop: the predicate picks
 * each wait (the server's Retry-After for 429), and on_retry prints the
 * tutorial's line.  The tutorial also waits after its last failed attempt
 * before returning None; so does this program.  Output (about 10 s):
 *
 *   # a request that succeeds on the third attempt
 *   Rate limit error, waiting for 1 second...
 *   API error, waiting for 1 second...
 *   ret: Hello! How can I help you today?
 *   # a request that fails three times
 *   Service unavailable error, waiting for 3 second...
 *   API Connection error, waiting for 3 second...
 *   Timeout error, waiting for 1 second...
 *   ret: None
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casyncio.h"
#include "casyncio/http_client.h"

/* ---- the API (a stand-in for the real one) ------------------------------- */

enum answer { RATE_LIMITED, API_ERROR, OK, UNAVAILABLE, HANG_UP, TOO_SLOW };

static const enum answer script[] = {RATE_LIMITED, API_ERROR, OK,
                                     UNAVAILABLE,  HANG_UP,   TOO_SLOW};
static size_t served;

static int reply(cio_stream *s, int status, const char *reason,
                 const char *extra, const char *body) {
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 %d %s\r\n%sContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   status, reason, extra, strlen(body), body);
  return cio_stream_write(s, buf, (size_t)n);
}

/* Each request gets the next answer of the script, on a connection of its
 * own (Connection: close), so that a hang-up is seen as one: libcurl
 * quietly retries a request once when a reused connection dies. */
static int serve_api(cio_stream *s, void *arg) {
  (void)arg;
  char head[4096], body[1024];
  if (cio_stream_readuntil(s, "\r\n\r\n", 4, head, sizeof head, NULL) > 0) {
    size_t len = 0;
    char *cl = strstr(head, "Content-Length: ");
    if (cl != NULL)
      len = strtoul(cl + 16, NULL, 10);
    if (len > sizeof body || cio_stream_readexactly(s, body, len, NULL) < 0)
      return 0;
    enum answer a = script[served++ % (sizeof script / sizeof script[0])];
    int rc = 0;
    switch (a) {
    case RATE_LIMITED:
      rc = reply(s, 429, "Too Many Requests", "Retry-After: 1\r\n",
                 "{\"error\": \"rate limit\"}");
      break;
    case API_ERROR:
      rc = reply(s, 500, "Internal Server Error", "", "{\"error\": \"oops\"}");
      break;
    case UNAVAILABLE:
      rc = reply(s, 503, "Service Unavailable", "", "{\"error\": \"down\"}");
      break;
    case HANG_UP:
      return 0; /* the server closes the connection */
    case TOO_SLOW:
    case OK:
      /* Too slow: the answer comes after the client has given up. */
      if (a == TOO_SLOW && (rc = cio_sleep(2)) < 0)
        return rc;
      rc = reply(s, 200, "OK", "",
                 "{\"choices\": [{\"message\": {\"role\": \"assistant\", "
                 "\"content\": \"Hello! How can I help you today?\"}}]}");
      break;
    }
    if (rc < 0)
      return 0;
  }
  return 0;
}

/* ---- the client ------------------------------------------------------- */

/* What the tutorial says and waits for each failure; 0 if not retried. */
static double wait_for(int rc, cio_http_response *r, const char **what) {
  if (rc == CIO_ETIMEDOUT) {
    *what = "Timeout error";
    return 1;
  }
  if (cio_retry_is_transient(rc)) {
    *what = "API Connection error";
    return 3;
  }
  if (rc < 0 || r == NULL)
    return 0;
  int status = cio_http_response_status(r);
  if (status == 429) {
    *what = "Rate limit error";
    double after = cio_http_response_retry_after(r);
    return after >= 0 ? after : 40;
  }
  if (status == 503) {
    *what = "Service unavailable error";
    return 3;
  }
  if (status >= 500) {
    *what = "API error";
    return 1;
  }
  return 0;
}

static bool retry_if(int rc, void *result, double *delay, void *ctx) {
  (void)ctx;
  const char *what;
  double wait = wait_for(rc, result, &what);
  if (wait <= 0)
    return false;
  *delay = wait;
  return true;
}

static void on_retry(int attempt, int rc, void *result, double delay,
                     void *ctx) {
  (void)attempt, (void)ctx;
  const char *what;
  wait_for(rc, result, &what);
  printf("%s, waiting for %g second...\n", what, delay);
}

/* _request_with_retry(): the completion's text in `*text` (malloc()ed),
 * or NULL (None) when every attempt failed. */
static int request_with_retry(cio_http_session *session, const char *api,
                              int retry, char **text) {
  *text = NULL;
  json_t *request = json_pack("{s:s, s:[{s:s, s:s}]}", "model", "gpt-3.5",
                              "messages", "role", "user", "content", "Hi!");
  cio_http_request req = {.url = api, .json = request, .timeout = 0.5};
  cio_retry_opts opts = {.max_attempts = retry,
                         .no_jitter = true,
                         .retry_if = retry_if,
                         .on_retry = on_retry};
  cio_http_response *r;
  int rc = cio_http_session_request_retry(session, &req, &r, &opts);
  json_decref(request);
  const char *what;
  double wait = wait_for(rc, rc == 0 ? r : NULL, &what);
  if (wait > 0) { /* out of attempts: the tutorial still waits once */
    printf("%s, waiting for %g second...\n", what, wait);
    cio_http_response_close(rc == 0 ? r : NULL);
    return cio_sleep(wait);
  }
  if (rc < 0)
    return rc;
  json_t *doc;
  rc = cio_http_response_json(r, &doc, 1 << 20);
  cio_http_response_close(r);
  if (rc < 0)
    return rc;
  const char *content = NULL;
  json_unpack(doc, "{s:[{s:{s:s}}]}", "choices", "message", "content",
              &content);
  if (content != NULL && (*text = malloc(strlen(content) + 1)) != NULL)
    strcpy(*text, content);
  json_decref(doc);
  return 0;
}

static int main_task(void *arg, void **result) {
  (void)arg, (void)result;
  cio_server *api;
  int rc = cio_start_server(&api, serve_api, NULL, "127.0.0.1", 0, NULL);
  if (rc < 0)
    return rc;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions",
           cio_server_port(api));
  cio_http_session *session;
  rc = cio_http_session_open(&session, NULL);
  static const char *const titles[] = {
      "a request that succeeds on the third attempt",
      "a request that fails three times"};
  for (int i = 0; i < 2 && rc == 0; i++) {
    printf("# %s\n", titles[i]);
    char *ret;
    rc = request_with_retry(session, url, 3, &ret);
    if (rc == 0)
      printf("ret: %s\n", ret != NULL ? ret : "None");
    free(ret);
  }
  cio_http_session_close(session);
  int crc = cio_server_close(api);
  return rc < 0 ? rc : crc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* each line as it happens */
  int rc = cio_run(main_task, NULL);
  if (rc < 0) {
    fprintf(stderr, "api_call_with_retry: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
