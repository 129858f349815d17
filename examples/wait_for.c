/* wait_for: wait for a task at most so long, then cancel it.
 *
 * Mirrors the asyncio.wait_for program of step 5 of docs/tutorial.md
 * (from Python's documentation).  asyncio.wait_for()
 * wraps the coroutine eternity() in a task; here that is
 * cio_create_task(), and cio_wait_for() waits on the task's future.  After
 * one second it cancels the task, waits for it to end, and returns
 * CIO_ETIMEDOUT, Python's TimeoutError.  The `try:` and the
 * print('timeout!') lost in the Python program's copy are restored from the
 * documentation.
 *
 * Expected output (after one second):
 *
 *   timeout!
 */
#include <stdio.h>

#include "casyncio.h"

/* Sleep for one hour. */
static int eternity(void *arg, void **result) {
  (void)arg;
  (void)result;
  return cio_sleep(3600); /* CIO_ECANCELED when wait_for gives up */
}

static int main_task(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *task;
  int rc = cio_create_task(NULL, &task, eternity, NULL, NULL);
  if (rc < 0)
    return rc;
  /* Wait for at most 1 second. */
  rc = cio_wait_for(cio_task_future(task), 1.0, NULL);
  cio_task_release(task);    /* done: cancelled and awaited by wait_for */
  if (rc == CIO_ETIMEDOUT) { /* except TimeoutError: */
    printf("timeout!\n");
    rc = 0;
  }
  return rc;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(main_task, NULL);
  if (rc < 0) {
    fprintf(stderr, "wait_for: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
