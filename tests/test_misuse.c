/* Ordinary C mistakes are caught and named, not silent: a task returning
 * with a timeout scope entered, a double release, a main task returning
 * with objects open, stop() before run_forever() and from another thread,
 * results nobody reads (dispose), positive return values. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "casyncio.h"
#include "test.h"

/* ---- a timeout scope left entered --------------------------------------- */

static int forgets_exit(void *arg, void **result) {
  (void)arg, (void)result;
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  return 0; /* no cio_timeout_exit: the scope's timer points here */
}

static int main_forgets_exit(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, forgets_exit, NULL,
                           &(cio_task_opts){.name = "forgetful"}),
           0);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  /* Past the deadline: nothing fires into the dead stack, no hang. */
  CHECK_EQ(cio_sleep(2.0), 0);
  return 0;
}

TEST(task_returning_with_a_timeout_scope_entered_is_reported_and_closed) {
  test_stderr_begin();
  int rc = test_run_virtual(main_forgets_exit, NULL);
  const char *err = test_stderr_end();
  CHECK_EQ(rc, 0);
  CHECK(strstr(err, "task 'forgetful' returned with a timeout scope still "
                    "entered") != NULL);
}

/* ---- double release ------------------------------------------------------ */

static int quick(void *arg, void **result) {
  (void)arg, (void)result;
  return 0;
}

static int main_double_release(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  CHECK_EQ(
      cio_create_task(NULL, &t, quick, NULL, &(cio_task_opts){.name = "twice"}),
      0);
  CHECK_EQ(cio_task_await(t, NULL), 0);
  cio_task_release(t);
  cio_task_release(t); /* the mistake */
  cio_future *f;
  CHECK_EQ(cio_future_new(NULL, &f), 0);
  cio_future_release(f);
  cio_future_release(f); /* again */
  return 0;
}

TEST(double_release_is_reported_naming_the_object) {
  test_stderr_begin();
  int rc = test_run_virtual(main_double_release, NULL);
  const char *err = test_stderr_end();
  CHECK_EQ(rc, 0);
  CHECK(strstr(err, "task ") != NULL);
  CHECK(strstr(err, "'twice' released once more after its last reference "
                    "was dropped") != NULL);
  CHECK(strstr(err, "future ") != NULL);
  CHECK(strstr(err, "18446744073709551615") == NULL);
}

static int sleeps_a_while(void *arg, void **result) {
  (void)arg, (void)result;
  return cio_sleep(1);
}

static int main_releases_running_twice(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, sleeps_a_while, NULL,
                           &(cio_task_opts){.name = "sleeper"}),
           0);
  TRY(cio_sleep(0)); /* it runs and sleeps */
  cio_task_release(t);
  cio_task_release(t); /* the mistake: would drop the loop's reference */
  TRY(cio_sleep(2));   /* it still ends normally, nothing freed early */
  return 0;
}

/* Releasing a task that has not ended more times than it was referenced
 * is refused and reported in every build, not only where assertions run:
 * the loop's own reference keeps the task alive until it ends. */
TEST(releasing_a_running_task_once_too_often_is_reported_not_freed) {
  test_stderr_begin();
  int rc = test_run_virtual(main_releases_running_twice, NULL);
  const char *err = test_stderr_end();
  CHECK_EQ(rc, 0);
  CHECK(strstr(err, "task (still running) ") != NULL);
  CHECK(strstr(err, "'sleeper' released once more") != NULL);
}

/* ---- a main task returning with objects open ----------------------------- */

static int main_leaves_stream_open(void *arg, void **result) {
  (void)arg, (void)result;
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cio_stream *s;
  CHECK_EQ(cio_open_connection_sock(&s, sv[0], NULL), 0);
  close(sv[1]);
  return 0; /* s is never closed */
}

TEST(main_returning_with_a_stream_open_says_so) {
  if (test_is_child()) {
    CHECK_EQ(cio_run(main_leaves_stream_open, NULL), 0);
    return;
  }
  char out[4096];
  int status = test_run_child("main_returning_with_a_stream_open_says_so", out,
                              sizeof out);
  CHECK(WIFEXITED(status)); /* the abandoned loop is a leak: it fails */
  CHECK(strstr(out, "still referenced or open: 1 stream") != NULL);
  CHECK(strstr(out, "the main task returned with the objects above still "
                    "open") != NULL);
  CHECK(strstr(out, "tasks above") == NULL);
}

/* ---- stop() and run_forever() ------------------------------------------- */

static void count_cb(void *arg) {
  ++*(int *)arg;
}

TEST(stop_then_run_forever_on_an_idle_loop_returns_after_one_iteration) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  int calls = 0;
  CHECK_EQ(cio_loop_call_soon(loop, count_cb, &calls, NULL), 0);
  CHECK_EQ(cio_loop_stop(loop), 0);
  double t0 = test_now();
  CHECK_EQ(cio_loop_run_forever(loop), 0); /* must not block in the poll */
  CHECK(test_now() - t0 < 1.0);
  CHECK_EQ(calls, 1);
  CHECK_EQ(cio_loop_close(loop), 0);
}

struct stopper {
  cio_loop *loop;
  int rc;
};

static void *stop_later(void *arg) {
  struct stopper *s = arg;
  usleep(50 * 1000);
  s->rc = cio_loop_stop(s->loop);
  return NULL;
}

TEST(stop_from_another_thread_wakes_the_loop) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  struct stopper s = {.loop = loop, .rc = 1};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, stop_later, &s), 0);
  double t0 = test_now();
  CHECK_EQ(cio_loop_run_forever(loop), 0); /* idle: blocked in the poll */
  double took = test_now() - t0;
  pthread_join(th, NULL);
  CHECK_EQ(s.rc, 0);
  CHECK(took >= 0.04 && took < 5.0);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* ---- results nobody reads -------------------------------------------------
 */

static atomic_int disposed;
static atomic_intptr_t disposed_value;

static void count_dispose(void *arg, void *result, int status) {
  (void)arg, (void)status;
  atomic_store(&disposed_value, (intptr_t)result);
  atomic_fetch_add(&disposed, 1);
  free(result);
}

static int heap_result(void *arg, void **result) {
  (void)arg;
  int *p = malloc(sizeof *p);
  *p = 42;
  *result = p;
  return 0;
}

static int fails_soon(void *arg, void **result) {
  (void)arg, (void)result;
  CHECK_EQ(cio_sleep(0), 0);
  return CIO_EIO;
}

static int slow_heap_result(void *arg, void **result) {
  CHECK_EQ(cio_sleep(1), 0);
  return heap_result(arg, result);
}

static int main_dispose(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task_opts opts = {.dispose = count_dispose};
  /* Released without anyone reading its outcome. */
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, heap_result, NULL, &opts), 0);
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_sleep(0), 0);
  CHECK(cio_task_is_done(t));
  cio_task_release(t);
  CHECK_EQ(atomic_load(&disposed), 1);
  /* Read: the reader owns it, nothing disposed. */
  CHECK_EQ(cio_create_task(NULL, &t, heap_result, NULL, &opts), 0);
  void *r;
  CHECK_EQ(cio_task_join(t, &r), 0);
  CHECK_EQ(*(int *)r, 42);
  free(r);
  CHECK_EQ(atomic_load(&disposed), 1);
  /* gather stops at the first error: the slow child's result is unread. */
  cio_task *a, *b;
  CHECK_EQ(cio_create_task(NULL, &a, fails_soon, NULL, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &b, slow_heap_result, NULL, &opts), 0);
  cio_future *fs[2] = {cio_task_future(a), cio_task_future(b)};
  CHECK_EQ(cio_gather(fs, 2, NULL, NULL, false), CIO_EIO);
  cio_task_release(a);
  cio_task_release(b); /* still running: the loop keeps it */
  CHECK_EQ(cio_sleep(2), 0);
  CHECK_EQ(atomic_load(&disposed), 2);
  return 0;
}

TEST(a_task_result_nobody_reads_goes_to_dispose) {
  CHECK_EQ(test_run_virtual(main_dispose, NULL), 0);
}

static int job_heap_result(void *arg, void **result) {
  return heap_result(arg, result);
}

static void cancel_task(cio_future *f, void *arg) {
  (void)f;
  cio_task_cancel(arg);
}

static int awaits_future(void *arg, void **result) {
  (void)result;
  void *r = NULL;
  int rc = cio_await(arg, &r);
  CHECK_EQ(rc, CIO_ECANCELED); /* cancelled after the job finished */
  CHECK(r == NULL);
  return rc;
}

/* The race of run_in_executor: the job finishes, its future gets the
 * result, and the awaiting task is cancelled before it resumes.  The
 * result goes to dispose (it used to leak about once in 500). */
static int main_executor_race(void *arg, void **result) {
  (void)arg, (void)result;
  atomic_store(&disposed, 0);
  cio_future *f;
  CHECK_EQ(cio_executor_submit(NULL, job_heap_result, NULL, count_dispose, &f),
           0);
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, awaits_future, f, NULL), 0);
  /* Runs before the awaiting task resumes (registered first). */
  CHECK_EQ(cio_future_add_done_callback(f, cancel_task, t), 0);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK_EQ(atomic_load(&disposed), 0); /* the future still holds it */
  cio_future_release(f);
  CHECK_EQ(atomic_load(&disposed), 1);
  return 0;
}

TEST(executor_result_of_a_caller_cancelled_after_the_job_goes_to_dispose) {
  CHECK_EQ(test_run(main_executor_race, NULL), 0);
}

/* ---- positive return values are kept ----------------------------------- */

static int returns_seven(void *arg, void **result) {
  (void)arg;
  *result = (void *)(intptr_t)3;
  return 7;
}

static int job_returns_five(void *arg, void **result) {
  (void)arg, (void)result;
  return 5;
}

static int main_positive(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, returns_seven, NULL, NULL), 0);
  void *r;
  CHECK_EQ(cio_task_await(t, &r), 7);
  CHECK_EQ((intptr_t)r, 3);
  CHECK_EQ(cio_task_result(t, NULL), 7);
  CHECK(!cio_task_is_cancelled(t));
  cio_task_release(t);
  CHECK_EQ(cio_to_thread(job_returns_five, NULL, NULL), 5);
  return 0;
}

TEST(positive_returns_of_tasks_and_jobs_are_kept) {
  CHECK_EQ(test_run(main_positive, NULL), 0);
}
