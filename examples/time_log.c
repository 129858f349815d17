/* time_log: awaiting one after another versus running tasks at once.
 *
 * Mirrors the first two Python programs of step 4 of docs/tutorial.md,
 * which log the time around two awaits of async_sleep().
 * async_sleep() waits two seconds and logs.  Called twice in a row it
 * takes four seconds: calling a function that suspends is how casyncio
 * writes `await async_sleep()`, since every task has its own stack.  Run
 * as two tasks with cio_create_task() and then awaited, both wait at the
 * same time and the program takes two seconds.
 *
 * Expected output (with the wall-clock time of each step):
 *
 *   # await async_sleep() twice (4 s)
 *   11:39:00 start
 *   11:39:02 async_sleep
 *   11:39:04 async_sleep
 *   11:39:04 end
 *   # two tasks, then await both (2 s)
 *   11:39:04 start
 *   11:39:06 async_sleep
 *   11:39:06 async_sleep
 *   11:39:06 end
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <time.h>

#include "casyncio.h"

/* Print the wall-clock time (HH:MM:SS) and `step`. */
static void time_log(const char *step) {
  char hms[16] = "??:??:??";
  time_t now = time(NULL);
  struct tm tm;
  if (localtime_r(&now, &tm) != NULL)
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
  printf("%s %s\n", hms, step);
}

/* Sleep two seconds, then log.  Usable both as a task body and as a
 * plain call from another task. */
static int async_sleep(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_sleep(2.0);
  if (rc < 0)
    return rc; /* CIO_ECANCELED: pass it on */
  time_log("async_sleep");
  return 0;
}

/* `await async_sleep()` twice: the second starts when the first ends. */
static int async_execute_sequential(void *arg, void **result) {
  (void)arg;
  (void)result;
  time_log("start");
  int rc = async_sleep(NULL, NULL);
  if (rc < 0)
    return rc;
  rc = async_sleep(NULL, NULL);
  if (rc < 0)
    return rc;
  time_log("end");
  return 0;
}

/* create_task() twice, then await both: the two sleeps overlap. */
static int async_execute_tasks(void *arg, void **result) {
  (void)arg;
  (void)result;
  time_log("start");
  /* Schedule both; neither starts before this task suspends. */
  cio_task *asleep1, *asleep2;
  int rc = cio_create_task(NULL, &asleep1, async_sleep, NULL, NULL);
  if (rc < 0)
    return rc;
  rc = cio_create_task(NULL, &asleep2, async_sleep, NULL, NULL);
  if (rc < 0) {
    cio_task_cancel(asleep1);
    (void)!cio_task_join(asleep1, NULL); /* wait for it to end */
    return rc;
  }
  /* Wait for both to finish; cio_task_join() also drops our reference. */
  rc = cio_task_join(asleep1, NULL);
  if (rc < 0) {
    cio_task_cancel(asleep2);
    (void)!cio_task_join(asleep2, NULL); /* wait for it to end */
    return rc;
  }
  rc = cio_task_join(asleep2, NULL);
  if (rc < 0)
    return rc;
  time_log("end");
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("# await async_sleep() twice (4 s)\n");
  int rc = cio_run(async_execute_sequential, NULL);
  if (rc == 0) {
    printf("# two tasks, then await both (2 s)\n");
    rc = cio_run(async_execute_tasks, NULL);
  }
  if (rc < 0) {
    fprintf(stderr, "time_log: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
