/* gather_tasks: five tasks of two seconds each finish in two seconds.
 *
 * Mirrors the two Python programs of step 4 of docs/tutorial.md that create
 * five async_sleep() tasks and gather them.  Five tasks are created with
 * cio_create_task() (they do not start yet), then cio_gather() waits for all of
 * them: they sleep at the same time, so the whole takes 2 s, not 10.  The
 * second program has each task return its "HH:MM:SS async_sleep" line instead
 * of printing it, and prints the list gather() collected, in the order the
 * tasks were passed.
 *
 * Expected output (with the wall-clock time of each step):
 *
 *   # five tasks, then gather (2 s)
 *   12:15:01 start
 *   12:15:03 async_sleep
 *   12:15:03 async_sleep
 *   12:15:03 async_sleep
 *   12:15:03 async_sleep
 *   12:15:03 async_sleep
 *   12:15:03 end
 *   # five tasks, gather their return values (2 s)
 *   12:15:03 start
 *   12:15:05 async_sleep
 *   12:15:05 async_sleep
 *   12:15:05 async_sleep
 *   12:15:05 async_sleep
 *   12:15:05 async_sleep
 *   12:15:05 end
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "casyncio.h"

enum { NTASKS = 5 };

/* The wall-clock time as HH:MM:SS, datetime.now().strftime('%H:%M:%S'). */
static void format_hms(char *buf, size_t size) {
  time_t now = time(NULL);
  struct tm tm;
  if (localtime_r(&now, &tm) == NULL ||
      strftime(buf, size, "%H:%M:%S", &tm) == 0)
    snprintf(buf, size, "??:??:??");
}

static void time_log(const char *step) {
  char hms[16];
  format_hms(hms, sizeof hms);
  printf("%s %s\n", hms, step);
}

/* First program: sleep two seconds, then log. */
static int async_sleep(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_sleep(2.0);
  if (rc < 0)
    return rc; /* CIO_ECANCELED: pass it on */
  time_log("async_sleep");
  return 0;
}

/* Second program: sleep two seconds, then return the log line.  The task
 * owns its line in `arg` (a buffer the caller keeps until gather ends). */
static int async_sleep_returning(void *arg, void **result) {
  char *line = arg;
  int rc = cio_sleep(2.0);
  if (rc < 0)
    return rc;
  char hms[16];
  format_hms(hms, sizeof hms);
  snprintf(line, 32, "%s async_sleep", hms);
  *result = line;
  return 0;
}

/* tasks = [asyncio.create_task(fn()) for i in range(5)]
 * results = await asyncio.gather(*tasks)
 * The references are dropped whatever happens; on an error the tasks
 * still running are cancelled and awaited first, so none is left behind. */
static int gather_five(cio_task_fn fn, char (*lines)[32], void **results) {
  cio_task *tasks[NTASKS];
  cio_future *futs[NTASKS];
  int n = 0, rc = 0;
  for (; n < NTASKS; n++) {
    rc = cio_create_task(NULL, &tasks[n], fn, lines ? lines[n] : NULL, NULL);
    if (rc < 0)
      break;
    futs[n] = cio_task_future(tasks[n]);
  }
  if (rc == 0)
    rc = cio_gather(futs, NTASKS, results, NULL, false);
  if (rc < 0)
    for (int i = 0; i < n; i++)
      cio_task_cancel(tasks[i]);
  for (int i = 0; i < n; i++)
    (void)!cio_task_join(tasks[i], NULL); /* done, or ends cancelled */
  return rc;
}

static int async_execute(void *arg, void **result) {
  (void)arg;
  (void)result;
  time_log("start");
  /* task 의 배열, 모두 실행 완료대기 */
  int rc = gather_five(async_sleep, NULL, NULL);
  if (rc < 0)
    return rc;
  time_log("end");
  return 0;
}

static int async_execute_returning(void *arg, void **result) {
  (void)arg;
  (void)result;
  time_log("start");
  char lines[NTASKS][32];
  void *fut[NTASKS];
  /* Future 및 Task 객체 대기 및 리턴값 수집 */
  int rc = gather_five(async_sleep_returning, lines, fut);
  if (rc < 0)
    return rc;
  for (int i = 0; i < NTASKS; i++) /* [ print(f) for f in fut ] */
    printf("%s\n", (const char *)fut[i]);
  time_log("end");
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("# five tasks, then gather (2 s)\n");
  int rc = cio_run(async_execute, NULL);
  if (rc == 0) {
    printf("# five tasks, gather their return values (2 s)\n");
    rc = cio_run(async_execute_returning, NULL);
  }
  if (rc < 0) {
    fprintf(stderr, "gather_tasks: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
