/* cio_retry: call a function again after transient failures, sleeping an
 * exponential backoff with full jitter between attempts.
 *
 * Built on the public API only (cio_sleep, cio_time): an attempt is a
 * plain call in the caller's task, so cancellation, timeout scopes and
 * TaskGroup reach it exactly as they reach the code around it.
 *
 * (1) CIO_ECANCELED ends the loop at once, whatever the predicate says.
 * (2) `*result` holds the outcome of the last attempt only: an attempt
 *     to be retried hands its result to on_retry, which owns it.
 */
#include <math.h>

#include "internal.h"

enum {
  DEFAULT_ATTEMPTS = 3,
};
#define DEFAULT_BASE_DELAY 0.1
#define DEFAULT_MAX_DELAY 30.0

bool cio_retry_is_transient(int rc) {
  switch (rc) {
  case CIO_ECONNREFUSED:
  case CIO_ECONNRESET:
  case CIO_ECONNABORTED:
  case CIO_ETIMEDOUT:
  case CIO_EHOSTUNREACH:
  case CIO_ENETUNREACH:
  case CIO_EPIPE:
  case CIO_ENOTCONN:
  case CIO_EAI_AGAIN:
  case CIO_EAGAIN:
    return true;
  default:
    return false;
  }
}

static bool bad_seconds(double x) {
  return isnan(x) || x < 0;
}

/* xorshift64*: the jitter needs spread, not secrecy, and no global state
 * (each call seeds its own from the clock and its stack address). */
static double next_unit(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* The backoff after attempt `n` (1-based): a random part of
 * min(max, base * 2^(n-1)), or all of it without jitter. */
static double backoff(const cio_retry_opts *o, int n, uint64_t *rng) {
  double base = o->base_delay > 0 ? o->base_delay : DEFAULT_BASE_DELAY;
  double cap = o->max_delay > 0 ? o->max_delay : DEFAULT_MAX_DELAY;
  double d = base * ldexp(1.0, n - 1 < 1000 ? n - 1 : 1000);
  if (d > cap)
    d = cap;
  return o->no_jitter ? d : d * next_unit(rng);
}

int cio_retry(cio_task_fn fn, void *arg, void **result,
              const cio_retry_opts *opts) {
  static const cio_retry_opts defaults = {0};
  const cio_retry_opts *o = opts ? opts : &defaults;
  if (fn == NULL || o->max_attempts < 0 || bad_seconds(o->max_time) ||
      bad_seconds(o->base_delay) || bad_seconds(o->max_delay))
    return CIO_EINVAL;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  int attempts = o->max_attempts > 0 ? o->max_attempts : DEFAULT_ATTEMPTS;
  double limit = o->max_time > 0 ? o->max_time : CIO_NO_TIMEOUT;
  uint64_t rng = uv_hrtime() ^ (uint64_t)(uintptr_t)&rng;
  rng |= 1; /* xorshift's state must not be 0 */
  double start = cio_time();
  void *scratch;
  void **res = result ? result : &scratch;
  for (int n = 1;; n++) {
    *res = NULL;
    int rc = fn(arg, res);
    if (rc == CIO_ECANCELED || n >= attempts)
      return rc;
    double delay = backoff(o, n, &rng);
    bool again = o->retry_if ? o->retry_if(rc, *res, &delay, o->ctx)
                             : cio_retry_is_transient(rc);
    if (!again)
      return rc;
    if (bad_seconds(delay))
      delay = 0;
    if (cio_time() + delay - start > limit)
      return rc;
    if (o->on_retry)
      o->on_retry(n, rc, *res, delay, o->ctx);
    *res = NULL;
    int src = cio_sleep(delay);
    if (src < 0)
      return src;
  }
}
