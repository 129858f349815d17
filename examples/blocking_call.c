/* blocking_call: a blocking call in a task stalls the whole loop; the
 * stall detector shows where, and running the call on a thread fixes it.
 *
 * A heartbeat task prints a tick every 100 ms.  A resolver task calls a
 * blocking lookup (a stand-in for a synchronous client library: 600 ms
 * of waiting in a call that blocks its thread).  The first time it calls
 * it directly from the task: no tick comes for 600 ms, and the stall
 * detector (on by default, threshold 250 ms) writes on stderr which task
 * was running and the loop thread's backtrace, down to the blocking call.
 * The second time it runs the lookup with cio_to_thread (asyncio's
 * to_thread): the ticks go on.
 *
 * Output (stderr merged; times, thread ids and line numbers vary):
 *
 *   tick 1
 *   resolving in the task...
 *   casyncio: stall: the loop of thread 4242 has not polled for 0.275 s
 *   (threshold 0.250 s), running task 'resolver' (Task-3); the loop
 *   thread's backtrace:
 *       #0 clock_nanosleep (clock_nanosleep.c:48)
 *       #1 nanosleep (nanosleep.c:25)
 *       #2 blocking_lookup (blocking_call.c:44)
 *       #3 resolver (blocking_call.c:68)
 *       ...
 *   resolved (the loop stood still for 0.60 s)
 *   casyncio: stall over: the loop of thread 4242 polled again after ...
 *   tick 2
 *   resolving on a thread...
 *   tick 3
 *   ...
 *   resolved (ticks went on: 6)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#include "casyncio.h"

static int ticks;

/* A synchronous call that takes 600 ms, like a blocking DNS lookup or a
 * database driver without an asynchronous API. */
static int blocking_lookup(void *arg, void **result) {
  (void)arg, (void)result;
  struct timespec left = {0, 600 * 1000 * 1000};
  while (nanosleep(&left, &left) != 0)
    continue;
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int heartbeat(void *arg, void **result) {
  (void)arg, (void)result;
  for (;;) {
    printf("tick %d\n", ++ticks);
    fflush(stdout);
    int rc = cio_sleep(0.1);
    if (rc < 0)
      return rc;
  }
}

static int resolver(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(0.05);
  if (rc < 0)
    return rc;
  printf("resolving in the task...\n");
  fflush(stdout);
  double t0 = now();
  blocking_lookup(NULL, NULL); /* the mistake: the loop stands still */
  printf("resolved (the loop stood still for %.2f s)\n", now() - t0);
  fflush(stdout);
  rc = cio_sleep(0.3); /* a few ticks, and the stall report's end */
  if (rc < 0)
    return rc;
  printf("resolving on a thread...\n");
  fflush(stdout);
  int before = ticks;
  rc = cio_to_thread(blocking_lookup, NULL, NULL); /* the fix */
  if (rc < 0)
    return rc;
  printf("resolved (ticks went on: %d)\n", ticks - before);
  return 0;
}

static int main_task(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *beat, *res;
  int rc = cio_create_task(NULL, &beat, heartbeat, NULL,
                           &(cio_task_opts){.name = "heartbeat"});
  if (rc < 0)
    return rc;
  rc = cio_create_task(NULL, &res, resolver, NULL,
                       &(cio_task_opts){.name = "resolver"});
  if (rc == 0)
    rc = cio_task_join(res, NULL);
  cio_task_cancel(beat);
  cio_task_release(beat);
  return rc;
}

int main(void) {
  int rc = cio_run(main_task, NULL);
  if (rc < 0)
    fprintf(stderr, "blocking_call: %s\n", cio_strerror(rc));
  return rc < 0;
}
