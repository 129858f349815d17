/* Retrying HTTP requests: the predicate that knows which statuses are
 * worth another try, Retry-After, and a request call wrapped in
 * cio_retry (the generic part lives in the core, src/compose/retry.c). */
#include <string.h>
#include <time.h>

#include "client.h"

double cio_http_response_retry_after(const cio_http_response *r) {
  const char *v = cio_http_response_header(r, "retry-after");
  if (v == NULL)
    return -1;
  if (*v >= '0' && *v <= '9') { /* delay-seconds */
    char *end;
    double secs = strtod(v, &end);
    while (*end == ' ')
      end++;
    return *end == '\0' && secs >= 0 ? secs : -1;
  }
  time_t when = curl_getdate(v, NULL); /* an HTTP-date */
  if (when == (time_t)-1)
    return -1;
  double secs = difftime(when, time(NULL));
  return secs > 0 ? secs : 0;
}

static bool retried_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

bool cio_http_retry_if(int rc, void *result, double *delay, void *ctx) {
  (void)ctx;
  if (rc < 0)
    return cio_retry_is_transient(rc);
  const cio_http_response *r = result;
  if (r == NULL || !retried_status(r->status))
    return false;
  double after = cio_http_response_retry_after(r);
  if (after >= 0 && delay != NULL)
    *delay = after;
  return true;
}

struct attempt {
  cio_http_session *s;
  const cio_http_request *req;
  const cio_retry_opts *user;
};

static int request_once(void *arg, void **result) {
  struct attempt *a = arg;
  cio_http_response *r;
  int rc = cio_http_session_request(a->s, a->req, &r);
  *result = r;
  return rc;
}

static bool retry_if(int rc, void *result, double *delay, void *ctx) {
  struct attempt *a = ctx;
  if (a->user->retry_if != NULL)
    return a->user->retry_if(rc, result, delay, a->user->ctx);
  return cio_http_retry_if(rc, result, delay, NULL);
}

static void on_retry(int attempt, int rc, void *result, double delay,
                     void *ctx) {
  struct attempt *a = ctx;
  if (a->user->on_retry != NULL)
    a->user->on_retry(attempt, rc, result, delay, a->user->ctx);
  cio_http_response_close(result);
}

int cio_http_session_request_retry(cio_http_session *s,
                                   const cio_http_request *req,
                                   cio_http_response **out,
                                   const cio_retry_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  static const cio_retry_opts defaults = {0};
  struct attempt a = {s, req, opts ? opts : &defaults};
  cio_retry_opts o = *a.user;
  o.retry_if = retry_if;
  o.on_retry = on_retry;
  o.ctx = &a;
  void *result = NULL;
  int rc = cio_retry(request_once, &a, &result, &o);
  if (rc < 0) {
    cio_http_response_close(result); /* NULL after a failed request */
    return rc;
  }
  *out = result;
  return 0;
}
