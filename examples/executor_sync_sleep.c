/* executor_sync_sleep: five blocking sleeps in the thread pool, at once.
 *
 * Mirrors the Python program that runs five blocking two-second sleeps
 * with run_in_executor and gathers them (step 4 of docs/tutorial.md):
 *
 *   def sync_sleep(name):
 *       time.sleep(2)  # blocking
 *       return datetime.now().strftime('%H:%M:%S') + ' ' + name
 *
 *   async def async_execute():
 *       time_log('start')
 *       loop = asyncio.get_running_loop()
 *       futures = []
 *       for i in range(5):
 *           t = loop.run_in_executor(None, sync_sleep, str(i))
 *           futures.append(t)
 *       fut = await asyncio.gather(*futures)
 *       [print(f) for f in fut]
 *       time_log('end')
 *
 * cio_executor_submit() is loop.run_in_executor() without the await: it
 * starts the job and returns a future at once, so the five two-second
 * sleeps run side by side on five worker threads and the whole program
 * takes about two seconds, not ten.
 *
 * Expected output:
 *
 *   12:34:14 start
 *   12:34:16 0
 *   12:34:16 1
 *   12:34:16 2
 *   12:34:16 3
 *   12:34:16 4
 *   12:34:16 end
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "casyncio.h"

#define JOBS 5

static void hms_now(char *buf, size_t cap) {
  time_t now = time(NULL);
  struct tm tm;
  if (localtime_r(&now, &tm) == NULL ||
      strftime(buf, cap, "%H:%M:%S", &tm) == 0)
    snprintf(buf, cap, "??:??:??");
}

static void time_log(const char *step) {
  char hms[16];
  hms_now(hms, sizeof hms);
  printf("%s %s\n", hms, step);
}

/* Blocks its worker thread for two seconds; returns a malloc()ed
 * "HH:MM:SS <name>". */
static int sync_sleep(void *arg, void **result) {
  struct timespec two_s = {2, 0};
  nanosleep(&two_s, NULL);
  char hms[16];
  hms_now(hms, sizeof hms);
  char *line = malloc(64);
  if (line == NULL)
    return CIO_ENOMEM;
  snprintf(line, 64, "%s %d", hms, (int)(intptr_t)arg);
  *result = line;
  return 0;
}

/* A result that arrives after its future was cancelled. */
static void dispose_line(void *arg, void *result, int status) {
  (void)arg;
  (void)status;
  free(result);
}

static int async_execute(void *arg, void **result) {
  (void)arg;
  (void)result;
  time_log("start");
  cio_future *futures[JOBS];
  size_t n = 0;
  int rc = 0;
  for (; n < JOBS && rc == 0; n++) {
    /* NULL: the default executor (a thread pool). */
    rc = cio_executor_submit(NULL, sync_sleep, (void *)(intptr_t)n,
                             dispose_line, &futures[n]);
  }
  if (rc < 0)
    n--; /* the failed one gave no future */
  char *lines[JOBS] = {0};
  if (rc == 0)
    rc = cio_gather(futures, n, (void **)lines, NULL, false);
  for (size_t i = 0; i < n; i++) {
    void *done_line;
    if (rc < 0 && cio_future_cancel(futures[i]) == 0 &&
        cio_future_result(futures[i], &done_line) == 0)
      free(done_line); /* else dispose_line frees a late result */
    cio_future_release(futures[i]);
  }
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < n; i++) {
    printf("%s\n", lines[i]);
    free(lines[i]);
  }
  time_log("end");
  return 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(async_execute, NULL);
  if (rc < 0) {
    fprintf(stderr, "executor_sync_sleep: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
