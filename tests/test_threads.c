/* Threads talking to loops: run_coroutine_threadsafe (result, error,
 * timeout, cancel, wait on the loop's own thread), several loops in
 * several threads at once submitting to each other, and one executor
 * shared by the tasks of several loops. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

/* A loop running forever in its own thread until stopped. */
struct loop_thread {
  pthread_t th;
  cio_loop *loop; /* set by the thread once open */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool ready;
};

static void *loop_thread_main(void *arg) {
  struct loop_thread *lt = arg;
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  pthread_mutex_lock(&lt->mu);
  lt->loop = loop;
  lt->ready = true;
  pthread_cond_broadcast(&lt->cv);
  pthread_mutex_unlock(&lt->mu);
  CHECK_EQ(cio_loop_run_forever(loop), 0);
  CHECK_EQ(cio_loop_shutdown_tasks(loop), 0);
  CHECK_EQ(cio_loop_close(loop), 0);
  return NULL;
}

static void loop_thread_start(struct loop_thread *lt) {
  pthread_mutex_init(&lt->mu, NULL);
  pthread_cond_init(&lt->cv, NULL);
  lt->ready = false;
  CHECK_EQ(pthread_create(&lt->th, NULL, loop_thread_main, lt), 0);
  pthread_mutex_lock(&lt->mu);
  while (!lt->ready)
    pthread_cond_wait(&lt->cv, &lt->mu);
  pthread_mutex_unlock(&lt->mu);
}

static void stop_cb(void *arg) {
  cio_loop_stop(arg);
}

static void loop_thread_stop(struct loop_thread *lt) {
  CHECK_EQ(cio_loop_call_soon_threadsafe(lt->loop, stop_cb, lt->loop), 0);
  pthread_join(lt->th, NULL);
  pthread_mutex_destroy(&lt->mu);
  pthread_cond_destroy(&lt->cv);
}

/* ---- run_coroutine_threadsafe ---------------------------------------- */

static int sleep_then_return(void *arg, void **result) {
  int rc = cio_sleep((double)(intptr_t)arg / 1000.0);
  if (rc < 0)
    return rc;
  *result = (void *)(intptr_t)42;
  return 0;
}

static int fail_eio(void *arg, void **result) {
  (void)arg;
  (void)result;
  return CIO_EIO;
}

static atomic_int saw_cancel;

static int sleep_long(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_sleep(10);
  if (rc == CIO_ECANCELED)
    atomic_store(&saw_cancel, 1);
  return rc;
}

/* Waiting on the loop's own thread would block the loop. */
static int wait_on_own_loop(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_concurrent_future *cf;
  CHECK_EQ(cio_run_coroutine_threadsafe(cio_get_running_loop(),
                                        sleep_then_return, NULL, &cf),
           0);
  CHECK_EQ(cio_concurrent_future_wait(cf, 1.0, NULL), CIO_EDEADLK);
  cio_concurrent_future_free(cf);
  return 0;
}

TEST(run_coroutine_threadsafe_result_error_timeout_cancel) {
  struct loop_thread lt;
  loop_thread_start(&lt);
  cio_concurrent_future *cf;
  void *r;
  CHECK_EQ(cio_run_coroutine_threadsafe(lt.loop, sleep_then_return,
                                        (void *)(intptr_t)20, &cf),
           0);
  CHECK_EQ(cio_concurrent_future_wait(cf, CIO_NO_TIMEOUT, &r), 0);
  CHECK_EQ((intptr_t)r, 42);
  CHECK(cio_concurrent_future_is_done(cf));
  CHECK_EQ(cio_concurrent_future_cancel(cf), 0);
  cio_concurrent_future_free(cf);

  CHECK_EQ(cio_run_coroutine_threadsafe(lt.loop, fail_eio, NULL, &cf), 0);
  CHECK_EQ(cio_concurrent_future_wait(cf, 5.0, &r), CIO_EIO);
  cio_concurrent_future_free(cf);

  /* A timeout leaves the task running; a later wait gets its result. */
  CHECK_EQ(cio_run_coroutine_threadsafe(lt.loop, sleep_then_return,
                                        (void *)(intptr_t)200, &cf),
           0);
  double t0 = test_now();
  CHECK_EQ(cio_concurrent_future_wait(cf, 0.05, &r), CIO_ETIMEDOUT);
  CHECK(test_now() - t0 >= 0.045 && test_now() - t0 < 0.15);
  CHECK_EQ(cio_concurrent_future_wait(cf, 0, &r), CIO_ETIMEDOUT);
  CHECK(!cio_concurrent_future_is_done(cf));
  CHECK_EQ(cio_concurrent_future_wait(cf, 5.0, &r), 0);
  CHECK_EQ((intptr_t)r, 42);
  cio_concurrent_future_free(cf);

  /* Cancel: done at once, and the task is cancelled on its loop. */
  CHECK_EQ(cio_run_coroutine_threadsafe(lt.loop, sleep_long, NULL, &cf), 0);
  struct timespec ms20 = {0, 20000000};
  nanosleep(&ms20, NULL);
  t0 = test_now();
  CHECK_EQ(cio_concurrent_future_cancel(cf), 1);
  CHECK_EQ(cio_concurrent_future_wait(cf, CIO_NO_TIMEOUT, &r), CIO_ECANCELED);
  CHECK(test_now() - t0 < 0.05);
  cio_concurrent_future_free(cf);
  for (int i = 0; i < 500 && !atomic_load(&saw_cancel); i++)
    nanosleep(&ms20, NULL);
  CHECK(atomic_load(&saw_cancel));

  /* A future freed before its task ends: the task runs on. */
  CHECK_EQ(cio_run_coroutine_threadsafe(lt.loop, sleep_then_return,
                                        (void *)(intptr_t)10, &cf),
           0);
  cio_concurrent_future_free(cf);

  CHECK_EQ(cio_run_coroutine_threadsafe(lt.loop, wait_on_own_loop, NULL, &cf),
           0);
  CHECK_EQ(cio_concurrent_future_wait(cf, 5.0, NULL), 0);
  cio_concurrent_future_free(cf);

  CHECK_EQ(cio_run_coroutine_threadsafe(NULL, fail_eio, NULL, &cf), CIO_EINVAL);
  CHECK(cf == NULL);
  loop_thread_stop(&lt);
}

/* ---- several loops, cross submission --------------------------------- */

#define NLOOPS 3
#define ROUNDS 20

static struct loop_thread loops[NLOOPS];

static int add_one(void *arg, void **result) {
  int rc = cio_sleep(0.001);
  if (rc < 0)
    return rc;
  *result = (void *)((intptr_t)arg + 1);
  return 0;
}

/* On a worker thread of loop i: hand a task to loop (i + 1) and block
 * until it answers. */
static int ask_next_loop(void *arg, void **result) {
  intptr_t v = (intptr_t)arg;
  int next = (int)(v % NLOOPS + 1) % NLOOPS;
  cio_concurrent_future *cf;
  int rc = cio_run_coroutine_threadsafe(loops[next].loop, add_one,
                                        (void *)(v * 1000), &cf);
  if (rc < 0)
    return rc;
  rc = cio_concurrent_future_wait(cf, 10.0, result);
  cio_concurrent_future_free(cf);
  return rc;
}

static int ask_one(void *arg, void **result) {
  int rc = cio_sleep(0.001);
  if (rc < 0)
    return rc;
  return cio_to_thread(ask_next_loop, arg, result);
}

/* On loop i: ROUNDS tasks at once, each asking the next loop through a
 * worker thread; the loop keeps serving the previous loop meanwhile. */
static int loop_work(void *arg, void **result) {
  (void)result;
  intptr_t i = (intptr_t)arg;
  cio_call calls[ROUNDS];
  void *res[ROUNDS];
  for (int k = 0; k < ROUNDS; k++)
    calls[k] = (cio_call){ask_one, (void *)(intptr_t)(k * NLOOPS + i)};
  int rc = cio_gather_calls(calls, ROUNDS, res, NULL, false);
  if (rc < 0)
    return rc;
  for (int k = 0; k < ROUNDS; k++)
    if ((intptr_t)res[k] != (intptr_t)(k * NLOOPS + i) * 1000 + 1)
      return CIO_ERANGE;
  return 0;
}

TEST(several_loops_submit_to_each_other) {
  for (int i = 0; i < NLOOPS; i++)
    loop_thread_start(&loops[i]);
  cio_concurrent_future *cf[NLOOPS];
  for (int i = 0; i < NLOOPS; i++)
    CHECK_EQ(cio_run_coroutine_threadsafe(loops[i].loop, loop_work,
                                          (void *)(intptr_t)i, &cf[i]),
             0);
  for (int i = 0; i < NLOOPS; i++) {
    CHECK_EQ(cio_concurrent_future_wait(cf[i], 30.0, NULL), 0);
    cio_concurrent_future_free(cf[i]);
  }
  for (int i = 0; i < NLOOPS; i++)
    loop_thread_stop(&loops[i]);
}

/* ---- one executor, several loops -------------------------------------- */

static atomic_int jobs_done;

static int square(void *arg, void **result) {
  struct timespec ms2 = {0, 2000000};
  nanosleep(&ms2, NULL);
  intptr_t v = (intptr_t)arg;
  *result = (void *)(v * v);
  atomic_fetch_add(&jobs_done, 1);
  return 0;
}

static cio_executor *shared;

static int square_on_shared(void *arg, void **result) {
  return cio_run_in_executor(shared, square, arg, NULL, result);
}

static int shared_work(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_call calls[30];
  void *res[30];
  for (int k = 0; k < 30; k++)
    calls[k] = (cio_call){square_on_shared, (void *)(intptr_t)k};
  int rc = cio_gather_calls(calls, 30, res, NULL, false);
  if (rc < 0)
    return rc;
  for (int k = 0; k < 30; k++)
    if ((intptr_t)res[k] != k * k)
      return CIO_ERANGE;
  return 0;
}

static void *run_shared_loop(void *arg) {
  (void)arg;
  CHECK_EQ(cio_run(shared_work, NULL), 0);
  return NULL;
}

TEST(one_executor_shared_by_loops_in_threads) {
  CHECK_EQ(cio_thread_pool_new(&shared, 4), 0);
  pthread_t th[NLOOPS];
  for (int i = 0; i < NLOOPS; i++)
    CHECK_EQ(pthread_create(&th[i], NULL, run_shared_loop, NULL), 0);
  for (int i = 0; i < NLOOPS; i++)
    pthread_join(th[i], NULL);
  CHECK_EQ(atomic_load(&jobs_done), 30 * NLOOPS);
  CHECK_EQ(cio_executor_shutdown(shared, true, false), 0);
  cio_executor_free(shared);
}

/* Review regressions: a task awaiting what another thread will send is
 * not a deadlock (asyncio waits), and a future whose loop closes before
 * running its task is completed with CIO_ESHUTDOWN and freed. */
struct late_sender {
  cio_loop *loop;
  cio_future *f;
};

static void set_from_thread(void *arg) {
  cio_future_set_result(arg, (void *)7);
}

static void *send_later(void *arg) {
  struct late_sender *ls = arg;
  usleep(50 * 1000);
  CHECK_EQ(cio_loop_call_soon_threadsafe(ls->loop, set_from_thread, ls->f), 0);
  return NULL;
}

static int await_late(void *arg, void **result) {
  struct late_sender *ls = arg;
  return cio_await(ls->f, result);
}

TEST(awaiting_another_threads_send_is_not_a_deadlock) {
  struct late_sender ls;
  CHECK_EQ(cio_loop_open(&ls.loop, NULL), 0);
  CHECK_EQ(cio_future_new(ls.loop, &ls.f), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(ls.loop, &t, await_late, &ls, NULL), 0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, send_later, &ls), 0);
  void *r = NULL;
  CHECK_EQ(cio_loop_run_until_complete(ls.loop, t, &r), 0);
  CHECK_EQ((intptr_t)r, 7);
  pthread_join(th, NULL);
  cio_task_release(t);
  cio_future_release(ls.f);
  CHECK_EQ(cio_loop_close(ls.loop), 0);
}

static int never_started(void *arg, void **result) {
  (void)arg;
  (void)result;
  return 0;
}

TEST(run_coroutine_threadsafe_on_loop_closed_first) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_concurrent_future *cf;
  CHECK_EQ(cio_run_coroutine_threadsafe(loop, never_started, NULL, &cf), 0);
  CHECK_EQ(cio_loop_close(loop), 0); /* never ran */
  CHECK_EQ(cio_concurrent_future_wait(cf, 1.0, NULL), CIO_ESHUTDOWN);
  cio_concurrent_future_free(cf); /* the last reference: freed (ASan) */
}
