/* cio_retry: attempts, backoff with full jitter, caps on attempts and
 * time, the predicate and its delay override, cancellation.  On the
 * virtual clock, so the waits are exact. */
#include "casyncio.h"
#include "test.h"

/* A scripted call: attempt i returns script[i] (the last entry repeats)
 * and records when it ran. */
struct flaky {
  const int *script;
  int n;
  int calls;
  double at[16];
};

static int flaky_fn(void *arg, void **result) {
  struct flaky *f = arg;
  int i = f->calls < f->n ? f->calls : f->n - 1;
  if (f->calls < 16)
    f->at[f->calls] = cio_time();
  f->calls++;
  int rc = cio_sleep(0); /* an attempt suspends, as real I/O does */
  if (rc < 0)
    return rc;
  *result = (void *)(intptr_t)(f->calls);
  return f->script[i];
}

struct run {
  struct flaky f;
  cio_retry_opts o;
  int rc;
  void *result;
  double took;
};

static int run_retry(void *arg, void **result) {
  (void)result;
  struct run *r = arg;
  double t0 = cio_time();
  r->rc = cio_retry(flaky_fn, &r->f, &r->result, &r->o);
  r->took = cio_time() - t0;
  return 0;
}

TEST(succeeds_first_time_without_waiting) {
  static const int s[] = {0};
  struct run r = {.f = {s, 1}};
  CHECK_EQ(test_run_virtual(run_retry, &r), 0);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.f.calls, 1);
  CHECK_EQ((intptr_t)r.result, 1);
  CHECK_NEAR(r.took, 0, 1e-9);
}

TEST(transient_errors_are_retried_with_exact_backoff) {
  static const int s[] = {CIO_ECONNREFUSED, CIO_ETIMEDOUT, CIO_ECONNRESET, 0};
  struct run r = {.f = {s, 4},
                  .o = {.max_attempts = 5, .base_delay = 1, .no_jitter = true}};
  CHECK_EQ(test_run_virtual(run_retry, &r), 0);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.f.calls, 4);
  CHECK_EQ((intptr_t)r.result, 4); /* the successful attempt's result */
  /* Waits of 1, 2 and 4 s between attempts. */
  CHECK_NEAR(r.f.at[1] - r.f.at[0], 1, 1e-6);
  CHECK_NEAR(r.f.at[2] - r.f.at[1], 2, 1e-6);
  CHECK_NEAR(r.f.at[3] - r.f.at[2], 4, 1e-6);
}

TEST(default_is_three_attempts) {
  static const int s[] = {CIO_ECONNREFUSED};
  struct run r = {.f = {s, 1}};
  CHECK_EQ(test_run_virtual(run_retry, &r), 0);
  CHECK_EQ(r.rc, CIO_ECONNREFUSED); /* the last attempt's status */
  CHECK_EQ(r.f.calls, 3);
  CHECK_EQ((intptr_t)r.result, 3);
}

TEST(other_errors_are_not_retried) {
  static const int s[] = {CIO_EINVAL};
  struct run r = {.f = {s, 1}, .o = {.max_attempts = 5}};
  CHECK_EQ(test_run_virtual(run_retry, &r), 0);
  CHECK_EQ(r.rc, CIO_EINVAL);
  CHECK_EQ(r.f.calls, 1);
  CHECK(!cio_retry_is_transient(0));
  CHECK(!cio_retry_is_transient(CIO_ECANCELED));
  CHECK(cio_retry_is_transient(CIO_EAI_AGAIN));
}

TEST(full_jitter_stays_within_the_capped_backoff) {
  static const int s[] = {CIO_ECONNRESET};
  struct run r = {.f = {s, 1},
                  .o = {.max_attempts = 12, .base_delay = 0.5, .max_delay = 4}};
  CHECK_EQ(test_run_virtual(run_retry, &r), 0);
  CHECK_EQ(r.f.calls, 12);
  double total = 0;
  bool varied = false;
  for (int i = 1; i < 12; i++) {
    double wait = r.f.at[i] - r.f.at[i - 1];
    double cap = 0.5 * (1 << (i - 1));
    if (cap > 4)
      cap = 4;
    CHECK(wait >= 0 && wait <= cap + 1e-6);
    if (wait < cap * 0.99)
      varied = true;
    total += wait;
  }
  /* Eleven draws all at the top of their range would not be jitter. */
  CHECK(varied);
  CHECK(total < 0.5 + 1 + 2 + 4 * 8 + 1e-6);
}

TEST(max_time_stops_before_a_wait_that_would_pass_it) {
  static const int s[] = {CIO_ETIMEDOUT};
  struct run r = {.f = {s, 1},
                  .o = {.max_attempts = 100,
                        .max_time = 10,
                        .base_delay = 1,
                        .no_jitter = true}};
  CHECK_EQ(test_run_virtual(run_retry, &r), 0);
  CHECK_EQ(r.rc, CIO_ETIMEDOUT);
  /* Waits 1 + 2 + 4 = 7 s; the next (8 s) would end at 15 > 10. */
  CHECK_EQ(r.f.calls, 4);
  CHECK_NEAR(r.took, 7, 1e-6);
}

/* A predicate that retries "status 503" results and asks for the delay
 * the server would give in Retry-After. */
static bool retry_503(int rc, void *result, double *delay, void *ctx) {
  (void)result;
  int *seen = ctx;
  (*seen)++;
  if (rc != -503)
    return false;
  *delay = 7;
  return true;
}

static void count_retry(int attempt, int rc, void *result, double delay,
                        void *ctx) {
  (void)result;
  test_log("retry%d:%d:%g", attempt, rc, delay);
  (void)ctx;
}

TEST(predicate_chooses_and_sets_the_delay) {
  static const int s[] = {-503, -503, 0};
  int seen = 0;
  struct run r = {.f = {s, 3},
                  .o = {.max_attempts = 5,
                        .retry_if = retry_503,
                        .on_retry = count_retry,
                        .ctx = &seen}};
  CHECK_EQ(test_run_virtual(run_retry, &r), 0);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.f.calls, 3);
  CHECK_EQ(seen, 3); /* asked after every attempt, the success too */
  CHECK_NEAR(r.took, 14, 1e-6);
  CHECK_STR(test_log_text(), "retry1:-503:7 retry2:-503:7 ");
}

static int cancel_later(void *arg, void **result) {
  (void)result;
  CHECK_EQ(cio_sleep(2.5), 0);
  cio_task_cancel(arg);
  return 0;
}

static int retry_cancelled(void *arg, void **result) {
  (void)result;
  struct run *r = arg;
  cio_task *killer;
  CHECK_EQ(
      cio_create_task(NULL, &killer, cancel_later, cio_current_task(), NULL),
      0);
  r->rc = cio_retry(flaky_fn, &r->f, &r->result, &r->o);
  r->took = cio_time();
  CHECK_EQ(cio_task_join(killer, NULL), 0);
  return 0;
}

TEST(cancellation_while_waiting_is_returned_at_once) {
  static const int s[] = {CIO_ECONNREFUSED};
  struct run r = {
      .f = {s, 1},
      .o = {.max_attempts = 10, .base_delay = 1, .no_jitter = true}};
  CHECK_EQ(test_run_virtual(retry_cancelled, &r), 0);
  CHECK_EQ(r.rc, CIO_ECANCELED);
  CHECK_EQ(r.f.calls, 2); /* at 0 and 1 s; cancelled in the 2 s wait */
  CHECK_NEAR(r.took, 2.5, 1e-6);
}

static int cancelled_attempt(void *arg, void **result) {
  (void)arg;
  (void)result;
  return CIO_ECANCELED;
}

static bool always(int rc, void *result, double *delay, void *ctx) {
  (void)rc, (void)result, (void)delay, (void)ctx;
  return true;
}

static int main_cancelled_attempt(void *arg, void **result) {
  (void)arg, (void)result;
  cio_retry_opts o = {.max_attempts = 5, .retry_if = always};
  CHECK_EQ(cio_retry(cancelled_attempt, NULL, NULL, &o), CIO_ECANCELED);
  return 0;
}

TEST(cancelled_attempt_is_never_retried) {
  CHECK_EQ(test_run_virtual(main_cancelled_attempt, NULL), 0);
}

static int main_bad_args(void *arg, void **result) {
  (void)arg, (void)result;
  cio_retry_opts o = {.max_time = NAN};
  CHECK_EQ(cio_retry(NULL, NULL, NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_retry(cancelled_attempt, NULL, NULL, &o), CIO_EINVAL);
  o = (cio_retry_opts){.max_attempts = -1};
  CHECK_EQ(cio_retry(cancelled_attempt, NULL, NULL, &o), CIO_EINVAL);
  return 0;
}

TEST(bad_arguments) {
  CHECK_EQ(test_run_virtual(main_bad_args, NULL), 0);
  CHECK_EQ(cio_retry(cancelled_attempt, NULL, NULL, NULL), CIO_EPERM);
}
