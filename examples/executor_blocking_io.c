/* executor_blocking_io: run a blocking function in the default thread pool.
 *
 * Mirrors the Python program that squares 3 in a blocking function run
 * with run_in_executor (step 3 of docs/tutorial.md):
 *
 *   def blocking_io(x):
 *       time.sleep(2)
 *       return x * x
 *
 *   async def main():
 *       loop = asyncio.get_running_loop()
 *       result = await loop.run_in_executor(None, blocking_io, 3)
 *       print("blocking result:", result)
 *
 * blocking_io() is a plain function that blocks its thread for two
 * seconds.  cio_run_in_executor() runs it on a worker thread and suspends
 * only the calling task, so the loop stays free for other tasks (here a
 * ticker shows it keeps running).
 *
 * Expected output:
 *
 *   tick
 *   tick
 *   tick
 *   blocking result: 9
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "casyncio.h"

/* Simulate blocking I/O or CPU-bound work. */
static int blocking_io(void *arg, void **result) {
  intptr_t x = (intptr_t)arg;
  struct timespec two_s = {2, 0};
  nanosleep(&two_s, NULL); /* blocks this worker thread only */
  *result = (void *)(x * x);
  return 0;
}

/* Proof that the loop is not blocked: prints while blocking_io runs. */
static int ticker(void *arg, void **result) {
  (void)arg;
  (void)result;
  for (int i = 0; i < 3; i++) {
    int rc = cio_sleep(0.5);
    if (rc < 0)
      return rc;
    printf("tick\n");
  }
  return 0;
}

static int async_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *tick;
  int rc = cio_create_task(NULL, &tick, ticker, NULL, NULL);
  if (rc < 0)
    return rc;
  /* NULL: the loop's default thread pool. */
  void *square;
  rc = cio_run_in_executor(NULL, blocking_io, (void *)(intptr_t)3, NULL,
                           &square);
  if (rc < 0) {
    cio_task_cancel(tick);
    (void)!cio_task_join(tick, NULL);
    return rc;
  }
  printf("blocking result: %d\n", (int)(intptr_t)square);
  return cio_task_join(tick, NULL);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(async_main, NULL);
  if (rc < 0) {
    fprintf(stderr, "executor_blocking_io: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
