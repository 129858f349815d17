/* Scenarios for the cancellation sweep (`make test-cancel`): executor
 * jobs.  Each job gets a heap argument and makes a heap result.  The law:
 * after the loop closed, every argument and every result was freed
 * exactly once, by the caller that got the outcome or by the job's
 * dispose function (a job dropped before it ran, a late outcome, a
 * cancel racing a job that had just finished). */
#include <stdatomic.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

static atomic_long args_live, results_live, jobs_ran;

struct job {
  int ms;
  int value;
};

static struct job *job_new(int ms, int value) {
  struct job *j = malloc(sizeof *j);
  CHECK(j != NULL);
  *j = (struct job){ms, value};
  atomic_fetch_add(&args_live, 1);
  return j;
}

static void job_free(struct job *j) {
  atomic_fetch_sub(&args_live, 1);
  free(j);
}

static void result_free(void *r) {
  if (r != NULL) {
    atomic_fetch_sub(&results_live, 1);
    free(r);
  }
}

static int work(void *arg, void **result) {
  struct job *j = arg;
  struct timespec ts = {0, j->ms * 1000000L};
  nanosleep(&ts, NULL);
  int *r = malloc(sizeof *r);
  CHECK(r != NULL);
  *r = j->value * 2;
  atomic_fetch_add(&results_live, 1);
  atomic_fetch_add(&jobs_ran, 1);
  *result = r;
  return 0;
}

static void dispose_job(void *arg, void *result, int status) {
  (void)status;
  result_free(result);
  job_free(arg);
}

static void check_law(void) {
  CHECK_EQ(atomic_load(&args_live), 0);
  CHECK_EQ(atomic_load(&results_live), 0);
}

/* The caller's side: on CIO_ECANCELED the job (argument and outcome)
 * belongs to dispose; otherwise to the caller. */
static int run_job(cio_executor *ex, int ms, int value) {
  struct job *j = job_new(ms, value);
  void *r = NULL;
  int rc = cio_run_in_executor(ex, work, j, dispose_job, &r);
  if (rc == CIO_ECANCELED)
    return rc;
  if (rc == 0)
    CHECK_EQ(*(int *)r, value * 2);
  result_free(r);
  job_free(j);
  return rc;
}

static int caller(void *arg, void **result) {
  (void)result;
  for (int i = 0; i < 2; i++) {
    int rc = run_job(arg, 2 + i, i);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---- run_in_executor on the default pool and on a private one ------- */

static int main_jobs(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *ex;
  TRY(cio_thread_pool_new(&ex, 2));
  cio_task *t[3];
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; i++) {
    rc = test_spawn(&t[i], caller, i == 0 ? NULL : ex);
    if (rc < 0)
      t[i] = NULL;
  }
  if (rc == 0)
    rc = run_job(ex, 1, 7);
  for (int i = 0; i < 3 && rc == 0; i++)
    rc = cio_task_await(t[i], NULL);
  if (rc != 0)
    test_stop_here(); /* the callers end before the pool goes */
  /* Shut the pool down from the task (suspends; a cancellation returns
   * at once and the shutdown goes on), then free it. */
  int src = cio_executor_shutdown(ex, true, false);
  CHECK(src == 0 || src == CIO_ECANCELED);
  cio_executor_free(ex);
  TRY(rc);
  TRY(src);
  return 0;
}

SCENARIO(run_in_executor_jobs) {
  CHECK_OUTCOME(test_run(main_jobs, NULL));
  check_law();
  if (!test_cancel_injected())
    CHECK_EQ(atomic_load(&jobs_ran), 7);
}

/* ---- executor_submit: futures awaited, gathered, cancelled --------- */

static int main_submit(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f[3];
  struct job *j[3];
  for (int i = 0; i < 3; i++) {
    j[i] = job_new(2 + i, i);
    int rc = cio_executor_submit(NULL, work, j[i], dispose_job, &f[i]);
    if (rc < 0)
      job_free(j[i]);
    TRY(rc);
    DEFER(f[i]);
  }
  /* The third is cancelled: dropped, or its late outcome disposed. */
  cio_future_cancel(f[2]);
  void *r[2] = {0};
  int rc = cio_gather(f, 2, r, NULL, false);
  for (int i = 0; i < 2; i++) {
    if (r[i] != NULL) {
      result_free(r[i]);
      job_free(j[i]); /* the gather took this outcome: the job is ours */
    }
  }
  TRY(rc);
  return 0;
}

SCENARIO(executor_submit_futures) {
  CHECK_OUTCOME(test_run(main_submit, NULL));
  check_law();
}
