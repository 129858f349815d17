/* timeout: asyncio.timeout bounds a block of waits.
 *
 * Mirrors the asyncio.timeout programs of step 5 of docs/tutorial.md
 * (from Python's documentation).  `async with
 * asyncio.timeout(10):` becomes cio_timeout_enter(&cm, 10) before the
 * block and cio_timeout_exit(&cm, rc) after it.  When the deadline
 * passes, the waiting call in the block returns CIO_ECANCELED (the task
 * is cancelled, as in asyncio); the code unwinds to cio_timeout_exit(),
 * which turns that into CIO_ETIMEDOUT, Python's TimeoutError.
 *
 * long_running_task() is not given in the Python program; here it sleeps for an
 * hour (like eternity() of the wait_for program), so both blocks time out
 * after the Python program's 10 seconds.  The second program enters with no
 * deadline (timeout(None)) and sets one once it knows it, with
 * cio_timeout_reschedule(): the Python program's copy lost the line
 * `cm.reschedule(new_deadline)` and the `pass` under `except`, both
 * restored from Python's documentation.
 *
 * Expected output (20 s in all):
 *
 *   # timeout(10) around long_running_task() (10 s)
 *   The long operation timed out, but we've handled it.
 *   This statement will run regardless.
 *   # timeout(None), then reschedule(loop.time() + 10) (10 s)
 *   Looks like we haven't finished on time.
 */
#include <stdio.h>

#include "casyncio.h"

/* Sleep for an hour: longer than any timeout here. */
static int long_running_task(void) {
  return cio_sleep(3600);
}

static int main_timeout(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_timeout cm;
  int rc = cio_timeout_enter(&cm, 10);
  if (rc < 0)
    return rc;
  rc = long_running_task();
  rc = cio_timeout_exit(&cm, rc);
  if (rc == CIO_ETIMEDOUT) /* except TimeoutError: */
    printf("The long operation timed out, but we've handled it.\n");
  else if (rc < 0)
    return rc;
  printf("This statement will run regardless.\n");
  return 0;
}

static int main_reschedule(void *arg, void **result) {
  (void)arg;
  (void)result;
  /* We do not know the timeout when starting, so we pass ``None``. */
  cio_timeout cm;
  int rc = cio_timeout_enter(&cm, CIO_NO_TIMEOUT);
  if (rc < 0)
    return rc;
  /* We know the timeout now, so we reschedule it. */
  double new_deadline = cio_loop_time(NULL) + 10;
  rc = cio_timeout_reschedule(&cm, new_deadline);
  if (rc == 0)
    rc = long_running_task();
  rc = cio_timeout_exit(&cm, rc);
  if (rc < 0 && rc != CIO_ETIMEDOUT) /* except TimeoutError: pass */
    return rc;
  if (cio_timeout_expired(&cm))
    printf("Looks like we haven't finished on time.\n");
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  static const struct {
    const char *title;
    cio_task_fn main_task;
  } parts[] = {
      {"timeout(10) around long_running_task() (10 s)", main_timeout},
      {"timeout(None), then reschedule(loop.time() + 10) (10 s)",
       main_reschedule},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("# %s\n", parts[i].title);
    /* Each part is its own program: a fresh loop, as asyncio.run(). */
    int rc = cio_run(parts[i].main_task, NULL);
    if (rc < 0) {
      fprintf(stderr, "timeout: %s\n", cio_strerror(rc));
      return 1;
    }
  }
  return 0;
}
