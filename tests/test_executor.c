/* Executors: run_in_executor / to_thread on thread pools, cancellation of
 * queued and running jobs, late results, shutdown, the default executor,
 * a loop closed with jobs running, and process pools (crashes included). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* ---- blocking functions ---------------------------------------------- */

static atomic_int running, max_running, ran;

/* Sleep arg milliseconds; result: arg * 2, on the heap. */
static int block_ms(void *arg, void **result) {
  int now_running = atomic_fetch_add(&running, 1) + 1;
  int prev = atomic_load(&max_running);
  while (now_running > prev &&
         !atomic_compare_exchange_weak(&max_running, &prev, now_running))
    ;
  sleep_ms((int)(intptr_t)arg);
  atomic_fetch_sub(&running, 1);
  atomic_fetch_add(&ran, 1);
  int *r = malloc(sizeof *r);
  *r = (int)(intptr_t)arg * 2;
  *result = r;
  return 0;
}

static atomic_int disposed, disposed_cancelled;

static void dispose_int(void *arg, void *result, int status) {
  (void)arg;
  free(result);
  atomic_fetch_add(&disposed, 1);
  if (status == CIO_ECANCELED)
    atomic_fetch_add(&disposed_cancelled, 1);
}

static int fail_eio(void *arg, void **result) {
  (void)arg;
  (void)result;
  return CIO_EIO;
}

static int thread_id(void *arg, void **result) {
  (void)arg;
  *result = (void *)(uintptr_t)pthread_self();
  return 0;
}

/* ---- to_thread: the loop keeps running ------------------------------- */

static int ticker(void *arg, void **result) {
  (void)result;
  int *ticks = arg;
  for (;;) {
    int rc = cio_sleep(0.01);
    if (rc < 0)
      return rc;
    (*ticks)++;
  }
}

static int main_to_thread(void *arg, void **result) {
  (void)arg;
  (void)result;
  int ticks = 0;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, ticker, &ticks, NULL), 0);
  void *r;
  double t0 = test_now();
  CHECK_EQ(cio_to_thread(block_ms, (void *)(intptr_t)150, &r), 0);
  CHECK(test_now() - t0 >= 0.14);
  CHECK_EQ(*(int *)r, 300);
  free(r);
  CHECK(ticks >= 5); /* the loop ran meanwhile */
  void *tid;
  CHECK_EQ(cio_to_thread(thread_id, NULL, &tid), 0);
  CHECK((uintptr_t)tid != (uintptr_t)pthread_self());
  CHECK_EQ(cio_to_thread(fail_eio, NULL, &r), CIO_EIO);
  CHECK(r == NULL);
  CHECK_EQ(cio_to_thread(NULL, NULL, NULL), CIO_EINVAL);
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  return 0;
}

TEST(to_thread_result_error_and_loop_keeps_running) {
  CHECK_EQ(cio_run(main_to_thread, NULL), 0);
  CHECK_EQ(cio_to_thread(block_ms, NULL, NULL), CIO_EPERM);
}

/* ---- cancellation ----------------------------------------------------- */

static int call_block(void *arg, void **result) {
  return cio_run_in_executor(NULL, block_ms, arg, dispose_int, result);
}

/* A running job cannot be stopped: the caller gets CIO_ECANCELED at
 * once, the function runs to its end, its result goes to dispose. */
static int main_cancel_running(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, call_block, (void *)(intptr_t)200, NULL),
           0);
  CHECK_EQ(cio_sleep(0.05), 0);
  double t0 = test_now();
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK(test_now() - t0 < 0.05);
  CHECK_EQ(atomic_load(&disposed), 0);
  while (atomic_load(&disposed) == 0)
    CHECK_EQ(cio_sleep(0.01), 0);
  CHECK_EQ(atomic_load(&ran), 1);
  CHECK_EQ(atomic_load(&disposed_cancelled), 0);
  return 0;
}

TEST(cancel_running_job_returns_at_once_result_disposed) {
  CHECK_EQ(cio_run(main_cancel_running, NULL), 0);
}

static int call_block_on(void *arg, void **result) {
  cio_executor *ex = ((void **)arg)[0];
  return cio_run_in_executor(ex, block_ms, ((void **)arg)[1], dispose_int,
                             result);
}

/* A queued job is dropped: its function never runs. */
static int main_cancel_queued(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 1), 0);
  void *a[2] = {ex, (void *)(intptr_t)100};
  cio_task *first, *second;
  CHECK_EQ(cio_create_task(NULL, &first, call_block_on, a, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &second, call_block_on, a, NULL), 0);
  CHECK_EQ(cio_sleep(0.02), 0);
  cio_task_cancel(second);
  CHECK_EQ(cio_task_join(second, NULL), CIO_ECANCELED);
  void *r;
  CHECK_EQ(cio_task_join(first, &r), 0);
  CHECK_EQ(*(int *)r, 200);
  free(r);
  CHECK_EQ(cio_sleep(0.15), 0);
  CHECK_EQ(atomic_load(&ran), 1);
  CHECK_EQ(atomic_load(&disposed_cancelled), 1);
  CHECK_EQ(cio_executor_shutdown(ex, true, false), 0);
  cio_executor_free(ex);
  return 0;
}

TEST(cancel_queued_job_never_runs) {
  CHECK_EQ(cio_run(main_cancel_queued, NULL), 0);
}

/* ---- futures, pool size, default executor ---------------------------- */

static int main_submit_gather(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f[5];
  for (int i = 0; i < 5; i++)
    CHECK_EQ(cio_executor_submit(NULL, block_ms, (void *)(intptr_t)(100 + i),
                                 dispose_int, &f[i]),
             0);
  void *res[5];
  double t0 = test_now();
  CHECK_EQ(cio_gather(f, 5, res, NULL, false), 0);
  CHECK(test_now() - t0 < 0.3); /* at the same time, not one after another */
  for (int i = 0; i < 5; i++) {
    CHECK_EQ(*(int *)res[i], 2 * (100 + i));
    free(res[i]);
    cio_future_release(f[i]);
  }
  /* An error comes back through the future. */
  cio_future *e;
  CHECK_EQ(cio_executor_submit(NULL, fail_eio, NULL, NULL, &e), 0);
  CHECK_EQ(cio_await(e, NULL), CIO_EIO);
  cio_future_release(e);
  /* Cancelling the future cancels the wait. */
  CHECK_EQ(cio_executor_submit(NULL, block_ms, (void *)(intptr_t)50,
                               dispose_int, &e),
           0);
  CHECK_EQ(cio_future_cancel(e), 1);
  CHECK_EQ(cio_await(e, NULL), CIO_ECANCELED);
  cio_future_release(e);
  return 0;
}

TEST(submit_returns_futures_to_gather) {
  CHECK_EQ(cio_run(main_submit_gather, NULL), 0);
  /* The cancelled job was disposed of by cio_loop_close at the latest. */
  CHECK_EQ(atomic_load(&disposed), 1);
}

static int main_pool_size(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 2), 0);
  void *a[2] = {ex, (void *)(intptr_t)100};
  cio_call calls[6];
  for (int i = 0; i < 6; i++)
    calls[i] = (cio_call){call_block_on, a};
  void *res[6];
  double t0 = test_now();
  CHECK_EQ(cio_gather_calls(calls, 6, res, NULL, false), 0);
  double took = test_now() - t0;
  CHECK(took >= 0.29 && took < 0.6); /* 3 rounds of 2 */
  for (int i = 0; i < 6; i++)
    free(res[i]);
  CHECK_EQ(atomic_load(&max_running), 2);
  CHECK_EQ(cio_executor_shutdown(ex, true, false), 0);
  cio_executor_free(ex);
  return 0;
}

TEST(thread_pool_runs_at_most_max_workers) {
  CHECK_EQ(cio_run(main_pool_size, NULL), 0);
}

/* A pool whose only thread is idle still grows for a burst of jobs. */
static int main_burst(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 4), 0);
  void *r;
  CHECK_EQ(cio_run_in_executor(ex, block_ms, (void *)(intptr_t)1, NULL, &r), 0);
  free(r);
  CHECK_EQ(cio_sleep(0.02), 0); /* the worker is idle again */
  void *a[2] = {ex, (void *)(intptr_t)100};
  cio_call calls[4];
  for (int i = 0; i < 4; i++)
    calls[i] = (cio_call){call_block_on, a};
  void *res[4];
  double t0 = test_now();
  CHECK_EQ(cio_gather_calls(calls, 4, res, NULL, false), 0);
  CHECK(test_now() - t0 < 0.25);
  for (int i = 0; i < 4; i++)
    free(res[i]);
  CHECK_EQ(atomic_load(&max_running), 4);
  cio_executor_free(ex);
  return 0;
}

TEST(idle_pool_grows_for_a_burst) {
  CHECK_EQ(cio_run(main_burst, NULL), 0);
}

static int main_default_executor(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 1), 0);
  CHECK_EQ(cio_loop_set_default_executor(NULL, ex), 0);
  CHECK_EQ(cio_loop_set_default_executor(NULL, ex), CIO_EBUSY);
  cio_call calls[3] = {{call_block, (void *)(intptr_t)50},
                       {call_block, (void *)(intptr_t)50},
                       {call_block, (void *)(intptr_t)50}};
  void *res[3];
  CHECK_EQ(cio_gather_calls(calls, 3, res, NULL, false), 0);
  for (int i = 0; i < 3; i++)
    free(res[i]);
  CHECK_EQ(atomic_load(&max_running), 1);
  CHECK_EQ(cio_shutdown_default_executor(), 0);
  CHECK_EQ(cio_to_thread(block_ms, NULL, NULL), CIO_ESHUTDOWN);
  CHECK_EQ(cio_shutdown_default_executor(), 0);
  return 0;
}

TEST(default_executor_set_and_shut_down) {
  CHECK_EQ(cio_run(main_default_executor, NULL), 0);
}

/* ---- shutdown --------------------------------------------------------- */

static int main_shutdown(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 1), 0);
  void *a[2] = {ex, (void *)(intptr_t)150};
  cio_task *first, *second;
  CHECK_EQ(cio_create_task(NULL, &first, call_block_on, a, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &second, call_block_on, a, NULL), 0);
  int ticks = 0;
  cio_task *tick;
  CHECK_EQ(cio_create_task(NULL, &tick, ticker, &ticks, NULL), 0);
  CHECK_EQ(cio_sleep(0.03), 0);
  /* Waits (suspending) for the running job; drops the queued one. */
  double t0 = test_now();
  CHECK_EQ(cio_executor_shutdown(ex, true, true), 0);
  CHECK(test_now() - t0 >= 0.09);
  CHECK(ticks >= 5);
  void *r;
  CHECK_EQ(cio_task_join(first, &r), 0);
  free(r);
  CHECK_EQ(cio_task_join(second, NULL), CIO_ECANCELED);
  CHECK_EQ(atomic_load(&ran), 1);
  CHECK_EQ(cio_run_in_executor(ex, block_ms, NULL, NULL, NULL), CIO_ESHUTDOWN);
  CHECK_EQ(cio_executor_shutdown(ex, true, false), 0); /* idempotent */
  cio_executor_free(ex);
  cio_task_cancel(tick);
  CHECK_EQ(cio_task_join(tick, NULL), CIO_ECANCELED);
  return 0;
}

TEST(shutdown_waits_for_running_cancels_queued) {
  CHECK_EQ(cio_run(main_shutdown, NULL), 0);
}

/* Outside a task, shutdown(wait) blocks; queued jobs still run. */
TEST(shutdown_blocking_runs_queued_jobs) {
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 1), 0);
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_future *f[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_executor_submit(ex, block_ms, (void *)(intptr_t)30,
                                 dispose_int, &f[i]),
             0);
  CHECK_EQ(cio_executor_shutdown(ex, true, false), 0);
  CHECK_EQ(atomic_load(&ran), 3);
  cio_executor_free(ex);
  /* The results are back on the loop's side; nobody ran the loop. */
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(cio_future_cancel(f[i]), 1);
    cio_future_release(f[i]);
  }
  CHECK_EQ(cio_loop_close(loop), 0);
  CHECK_EQ(atomic_load(&disposed), 3);
}

/* ---- a loop closed with jobs running ---------------------------------- */

static int main_abandon(void *arg, void **result) {
  (void)result;
  cio_executor *ex = arg;
  /* One job on the default executor, one on a pool the test owns, both
   * running when the main task ends, plus one queued behind. */
  cio_task *t1, *t2, *t3;
  void *a[2] = {ex, (void *)(intptr_t)300};
  CHECK_EQ(cio_create_task(NULL, &t1, call_block, (void *)(intptr_t)300, NULL),
           0);
  CHECK_EQ(cio_create_task(NULL, &t2, call_block_on, a, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &t3, call_block_on, a, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  cio_task_release(t1);
  cio_task_release(t2);
  cio_task_release(t3);
  return 0; /* cio_run cancels the three tasks */
}

TEST(loop_closed_with_jobs_running) {
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 1), 0);
  double t0 = test_now();
  CHECK_EQ(cio_run(main_abandon, ex), 0);
  /* cio_loop_close waited for the two running jobs. */
  CHECK(test_now() - t0 >= 0.29);
  CHECK_EQ(atomic_load(&ran), 2);
  CHECK_EQ(atomic_load(&disposed), 3);
  CHECK_EQ(atomic_load(&disposed_cancelled), 1);
  cio_executor_free(ex);
}

/* ---- misuse ----------------------------------------------------------- */

static int main_misuse(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *pp;
  CHECK_EQ(cio_process_pool_new(&pp, 1, NULL), 0);
  CHECK_EQ(cio_run_in_executor(pp, block_ms, NULL, NULL, NULL), CIO_EINVAL);
  cio_executor *tp;
  CHECK_EQ(cio_thread_pool_new(&tp, 1), 0);
  void *out;
  size_t len;
  CHECK_EQ(cio_process_pool_run(tp, "x", NULL, 0, &out, &len), CIO_EINVAL);
  CHECK_EQ(cio_process_pool_run(pp, NULL, NULL, 0, &out, &len), CIO_EINVAL);
  CHECK_EQ(cio_loop_set_default_executor(NULL, pp), CIO_EINVAL);
  cio_executor_free(pp);
  cio_executor_free(tp);
  CHECK_EQ(cio_executor_shutdown(NULL, true, true), CIO_EINVAL);
  cio_executor_free(NULL);
  return 0;
}

TEST(misuse_is_reported) {
  CHECK_EQ(cio_run(main_misuse, NULL), 0);
  CHECK_EQ(cio_thread_pool_new(NULL, 1), CIO_EINVAL);
}

/* ---- process pools ---------------------------------------------------- */

static int pp_square(const void *in, size_t in_len, void **out,
                     size_t *out_len) {
  if (in_len != sizeof(long))
    return CIO_EINVAL;
  long v;
  memcpy(&v, in, sizeof v);
  v *= v;
  *out = malloc(sizeof v);
  memcpy(*out, &v, sizeof v);
  *out_len = sizeof v;
  return 0;
}

static int pp_pid(const void *in, size_t in_len, void **out, size_t *out_len) {
  (void)in;
  (void)in_len;
  long pid = getpid();
  *out = malloc(sizeof pid);
  memcpy(*out, &pid, sizeof pid);
  *out_len = sizeof pid;
  return 0;
}

static int pp_abort(const void *in, size_t in_len, void **out,
                    size_t *out_len) {
  (void)in, (void)in_len, (void)out, (void)out_len;
  signal(SIGABRT, SIG_DFL);
  abort();
}

static int pp_kill(const void *in, size_t in_len, void **out, size_t *out_len) {
  (void)in, (void)in_len, (void)out, (void)out_len;
  kill(getpid(), SIGKILL);
  return 0;
}

static int pp_fail(const void *in, size_t in_len, void **out, size_t *out_len) {
  (void)in, (void)in_len, (void)out, (void)out_len;
  return CIO_ERANGE;
}

static int pp_sleep(const void *in, size_t in_len, void **out,
                    size_t *out_len) {
  (void)in_len, (void)out, (void)out_len;
  int ms;
  memcpy(&ms, in, sizeof ms);
  sleep_ms(ms);
  return 0;
}

/* Echo the input back, to move larger payloads. */
static int pp_echo(const void *in, size_t in_len, void **out, size_t *out_len) {
  if (in_len == 0)
    return 0; /* `in` may be NULL */
  *out = malloc(in_len);
  memcpy(*out, in, in_len);
  *out_len = in_len;
  return 0;
}

static const cio_process_fn_entry pp_fns[] = {
    {"square", pp_square}, {"pid", pp_pid},   {"abort", pp_abort},
    {"kill", pp_kill},     {"fail", pp_fail}, {"sleep", pp_sleep},
    {"echo", pp_echo},
};

/* Worker processes are this test program started again. */
__attribute__((constructor)) static void pp_worker_hook(void) {
  cio_process_worker_main(pp_fns, sizeof pp_fns / sizeof pp_fns[0]);
}

/* The command that starts a worker: the emulator (cross builds), then
 * this program. */
static char pp_argv_buf[8192];
static const char *pp_argv[16];

static const char *const *worker_argv(void) {
  snprintf(pp_argv_buf, sizeof pp_argv_buf, "%s", test_self());
  size_t n = 0;
  for (char *tok = strtok(pp_argv_buf, " "); tok != NULL && n < 15;
       tok = strtok(NULL, " "))
    pp_argv[n++] = tok;
  pp_argv[n] = NULL;
  return pp_argv;
}

static long run_long(cio_executor *pp, const char *name, long v, int *rc) {
  void *out = NULL;
  size_t len = 0;
  *rc = cio_process_pool_run(pp, name, &v, sizeof v, &out, &len);
  long r = -1;
  if (*rc == 0) {
    CHECK_EQ(len, sizeof r);
    memcpy(&r, out, sizeof r);
  }
  free(out);
  return r;
}

static int main_process_pool(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *pp;
  CHECK_EQ(cio_process_pool_new(&pp, 1, worker_argv()), 0);
  int rc;
  CHECK_EQ(run_long(pp, "square", 12, &rc), 144);
  CHECK_EQ(rc, 0);
  long pid = run_long(pp, "pid", 0, &rc);
  CHECK(pid > 0 && pid != getpid());
  CHECK_EQ(run_long(pp, "pid", 0, &rc), pid); /* reused */
  CHECK_EQ(run_long(pp, "fail", 0, &rc), -1);
  CHECK_EQ(rc, CIO_ERANGE);
  CHECK_EQ(run_long(pp, "nope", 0, &rc), -1);
  CHECK_EQ(rc, CIO_ENOSYS);
  /* A crash fails that job only; a new worker takes over. */
  run_long(pp, "abort", 0, &rc);
  CHECK_EQ(rc, CIO_EPIPE);
  long pid2 = run_long(pp, "pid", 0, &rc);
  CHECK_EQ(rc, 0);
  CHECK(pid2 > 0 && pid2 != pid);
  run_long(pp, "kill", 0, &rc);
  CHECK_EQ(rc, CIO_EPIPE);
  CHECK_EQ(run_long(pp, "square", 7, &rc), 49);
  /* Bytes in and out, beyond a pipe buffer. */
  size_t big = 1 << 20;
  unsigned char *in = malloc(big);
  for (size_t i = 0; i < big; i++)
    in[i] = (unsigned char)(i * 7);
  void *out;
  size_t len;
  CHECK_EQ(cio_process_pool_run(pp, "echo", in, big, &out, &len), 0);
  CHECK_EQ(len, big);
  CHECK(memcmp(in, out, big) == 0);
  free(in);
  free(out);
  CHECK_EQ(cio_process_pool_run(pp, "echo", NULL, 0, &out, &len), 0);
  CHECK(out == NULL && len == 0);
  CHECK_EQ(cio_executor_shutdown(pp, true, false), 0);
  CHECK_EQ(run_long(pp, "square", 7, &rc), -1);
  CHECK_EQ(rc, CIO_ESHUTDOWN);
  cio_executor_free(pp);
  return 0;
}

TEST(process_pool_jobs_crashes_and_replacement) {
  CHECK_EQ(cio_run(main_process_pool, NULL), 0);
}

static int pp_sleep_task(void *arg, void **result) {
  (void)result;
  cio_executor *pp = arg;
  int ms = 200;
  void *out;
  size_t len;
  return cio_process_pool_run(pp, "sleep", &ms, sizeof ms, &out, &len);
}

static int main_process_parallel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *pp;
  CHECK_EQ(cio_process_pool_new(&pp, 3, worker_argv()), 0);
  cio_call calls[3];
  for (int i = 0; i < 3; i++)
    calls[i] = (cio_call){pp_sleep_task, pp};
  /* Warm up: start the workers. */
  CHECK_EQ(cio_gather_calls(calls, 3, NULL, NULL, false), 0);
  double t0 = test_now();
  CHECK_EQ(cio_gather_calls(calls, 3, NULL, NULL, false), 0);
  CHECK(test_now() - t0 < 0.39); /* three at once */
  /* Cancelling a waiting caller returns at once; the worker finishes. */
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, pp_sleep_task, pp, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  t0 = test_now();
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK(test_now() - t0 < 0.1);
  CHECK_EQ(cio_executor_shutdown(pp, true, false), 0);
  cio_executor_free(pp);
  return 0;
}

TEST(process_pool_parallel_and_cancel) {
  CHECK_EQ(cio_run(main_process_parallel, NULL), 0);
}

/* A worker program that cannot start fails the job clearly. */
static int main_process_bad_exe(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *pp;
  const char *argv[] = {"/nonexistent/cio-worker", NULL};
  CHECK_EQ(cio_process_pool_new(&pp, 1, argv), 0);
  int rc;
  run_long(pp, "square", 3, &rc);
  CHECK_EQ(rc, CIO_ENOENT);
  cio_executor_free(pp);
  return 0;
}

TEST(process_pool_bad_program) {
  CHECK_EQ(cio_run(main_process_bad_exe, NULL), 0);
}

/* Review regression: a task waiting in shutdown(wait) is cancelled, the
 * last worker then hands back the wait before the loop collects it:
 * closing the loop must neither hang nor touch freed memory. */
static cio_executor *r1_ex;

static int r1_sleep_50ms(void *arg, void **result) {
  (void)arg;
  (void)result;
  usleep(50 * 1000);
  return 0;
}

static int r1_shutdown(void *arg, void **result) {
  (void)arg;
  (void)result;
  return cio_executor_shutdown(r1_ex, true, false);
}

static int r1_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  CHECK_EQ(cio_executor_submit(r1_ex, r1_sleep_50ms, NULL, NULL, &f), 0);
  cio_task *b;
  CHECK_EQ(cio_create_task(NULL, &b, r1_shutdown, NULL, NULL), 0);
  CHECK_EQ(cio_sleep(0.01), 0);
  cio_task_cancel(b);
  CHECK_EQ(cio_task_join(b, NULL), CIO_ECANCELED);
  cio_future_release(f);
  usleep(200 * 1000); /* the worker exits while the loop is blocked */
  return 0;
}

TEST(loop_close_after_cancelled_shutdown_wait) {
  CHECK_EQ(cio_thread_pool_new(&r1_ex, 1), 0);
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, r1_main, NULL, NULL), 0);
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  cio_task_release(t);
  CHECK_EQ(cio_loop_close(loop), 0);
  cio_executor_free(r1_ex);
}
