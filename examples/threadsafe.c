/* threadsafe: a plain thread hands work to a loop running in another
 * thread, and waits for the results.
 *
 * Mirrors the example of asyncio.run_coroutine_threadsafe in Python's
 * documentation:
 *
 *   # the loop runs in another thread
 *   future = asyncio.run_coroutine_threadsafe(add(2, 3), loop)
 *   assert future.result(timeout) == 5
 *
 * and its advice for a result that takes too long:
 *
 *   except TimeoutError:
 *       print('The coroutine took too long, cancelling the task...')
 *       future.cancel()
 *
 * The loop runs in a background thread (cio_run in a pthread) whose main
 * task waits for an event; the program's main thread submits tasks with
 * cio_run_coroutine_threadsafe() and blocks on the returned future with
 * cio_concurrent_future_wait().  At the end it asks the loop, through
 * cio_loop_call_soon_threadsafe(), to set the event, and joins the thread.
 *
 * Output:
 *
 *   loop thread: running
 *   main thread: add(2, 3) = 5
 *   main thread: slow() took too long (timed out), cancelling the task
 *   main thread: slow() ended: cancelled
 *   loop thread: stopped
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "casyncio.h"

/* Shared between the threads: the loop, published once it runs. */
struct shared {
  pthread_mutex_t mu;
  pthread_cond_t ready;
  cio_loop *loop;
  cio_event *stop; /* used on the loop thread only */
};

/* ---- the loop thread -------------------------------------------------- */

static int loop_main(void *arg, void **result) {
  (void)result;
  struct shared *sh = arg;
  int rc = cio_event_new(&sh->stop);
  pthread_mutex_lock(&sh->mu);
  sh->loop = rc == 0 ? cio_get_running_loop() : NULL;
  pthread_cond_signal(&sh->ready);
  pthread_mutex_unlock(&sh->mu);
  if (rc < 0)
    return rc;
  printf("loop thread: running\n");
  rc = cio_event_wait(sh->stop); /* until the main thread says stop */
  cio_event_free(sh->stop);
  return rc;
}

static void *loop_thread(void *arg) {
  int rc = cio_run(loop_main, arg);
  printf("loop thread: stopped\n");
  return (void *)(intptr_t)rc;
}

/* Called on the loop thread by call_soon_threadsafe. */
static void stop_loop(void *arg) {
  struct shared *sh = arg;
  cio_event_set(sh->stop);
}

/* ---- tasks the main thread submits ------------------------------------ */

static int add_2_3(void *arg, void **result) {
  (void)arg;
  int rc = cio_sleep(0.05);
  if (rc < 0)
    return rc;
  *result = (void *)(intptr_t)(2 + 3);
  return 0;
}

static int slow(void *arg, void **result) {
  (void)arg, (void)result;
  return cio_sleep(3600); /* CIO_ECANCELED when cancelled */
}

/* ---- the main thread -------------------------------------------------- */

static int submit(struct shared *sh) {
  cio_concurrent_future *f;
  void *value;
  int rc = cio_run_coroutine_threadsafe(sh->loop, add_2_3, NULL, &f);
  if (rc < 0)
    return rc;
  rc = cio_concurrent_future_wait(f, 5.0, &value); /* blocks this thread */
  cio_concurrent_future_free(f);
  if (rc < 0)
    return rc;
  printf("main thread: add(2, 3) = %d\n", (int)(intptr_t)value);

  rc = cio_run_coroutine_threadsafe(sh->loop, slow, NULL, &f);
  if (rc < 0)
    return rc;
  rc = cio_concurrent_future_wait(f, 0.2, NULL);
  if (rc == CIO_ETIMEDOUT) {
    printf("main thread: slow() took too long (%s), cancelling the task\n",
           cio_strerror(rc));
    cio_concurrent_future_cancel(f);
    rc = cio_concurrent_future_wait(f, 5.0, NULL);
    printf("main thread: slow() ended: %s\n", cio_strerror(rc));
    rc = rc == CIO_ECANCELED ? 0 : rc;
  }
  cio_concurrent_future_free(f);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct shared sh = {.mu = PTHREAD_MUTEX_INITIALIZER,
                      .ready = PTHREAD_COND_INITIALIZER};
  pthread_t t;
  if (pthread_create(&t, NULL, loop_thread, &sh) != 0)
    return 1;
  pthread_mutex_lock(&sh.mu);
  while (sh.loop == NULL)
    pthread_cond_wait(&sh.ready, &sh.mu);
  pthread_mutex_unlock(&sh.mu);

  int rc = submit(&sh);
  if (rc < 0)
    fprintf(stderr, "threadsafe: %s\n", cio_strerror(rc));
  if (cio_loop_call_soon_threadsafe(sh.loop, stop_loop, &sh) < 0) {
    fprintf(stderr, "threadsafe: cannot stop the loop\n");
    return 1; /* leaves with the loop thread still running */
  }
  void *loop_rc;
  pthread_join(t, &loop_rc);
  return rc < 0 || loop_rc != NULL;
}
