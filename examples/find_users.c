/* find_users: three look-ups of 3, 2 and 1 users, one second per user.
 *
 * Mirrors the Python program of step 1 of docs/tutorial.md, which looks
 * up 3, 2 and 1 users, first synchronously, then with asyncio.  First the
 * synchronous version: a blocking sleep per user, so the requests run one
 * after another and take 3 + 2 + 1 = 6 seconds.  Then the asynchronous
 * version: each request is a task that waits with cio_sleep(), which
 * suspends only that task, so all three wait at the same time and the
 * whole thing takes as long as the longest request, 3 seconds.
 *
 * Expected output (the durations vary by a few milliseconds):
 *
 *   3명 중 1번 째 사용자 조회 중 ...
 *   3명 중 2번 째 사용자 조회 중 ...
 *   3명 중 3번 째 사용자 조회 중 ...
 *   > 총 3 명 사용자 동기 조회 완료!
 *   2명 중 1번 째 사용자 조회 중 ...
 *   2명 중 2번 째 사용자 조회 중 ...
 *   > 총 2 명 사용자 동기 조회 완료!
 *   1명 중 1번 째 사용자 조회 중 ...
 *   > 총 1 명 사용자 동기 조회 완료!
 *   >>> 동기 처리 총 소요 시간: 6.002104
 *   1명 중 1번 째 사용자 조회 중 ...
 *   2명 중 1번 째 사용자 조회 중 ...
 *   3명 중 1번 째 사용자 조회 중 ...
 *   > 총 1 명 사용자 비동기 조회 완료!
 *   2명 중 2번 째 사용자 조회 중 ...
 *   3명 중 2번 째 사용자 조회 중 ...
 *   > 총 2 명 사용자 비동기 조회 완료!
 *   3명 중 3번 째 사용자 조회 중 ...
 *   > 총 3 명 사용자 비동기 조회 완료!
 *   >>> 비동기 처리 총 소요 시간: 3.001620
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "casyncio.h"

/* ---- the synchronous version ---------------------------------------- */

/* Seconds on a monotonic clock.  The synchronous part runs without a
 * loop, and cio_time() is the loop's clock. */
static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Python's time.sleep(): the whole thread stops, nothing else runs. */
static void blocking_sleep(time_t seconds) {
  struct timespec left = {.tv_sec = seconds};
  while (nanosleep(&left, &left) == -1 && errno == EINTR)
    continue;
}

static void find_users_sync(int n) {
  for (int i = 1; i <= n; i++) {
    printf("%d명 중 %d번 째 사용자 조회 중 ...\n", n, i);
    blocking_sleep(1);
  }
  printf("> 총 %d 명 사용자 동기 조회 완료!\n", n);
}

static void process_sync(void) {
  double start = now_seconds();
  find_users_sync(3);
  find_users_sync(2);
  find_users_sync(1);
  printf(">>> 동기 처리 총 소요 시간: %f\n", now_seconds() - start);
}

/* ---- the asynchronous version --------------------------------------- */

/* A task body: look up `arg` users.  cio_sleep() suspends this task only;
 * the loop runs the other tasks meanwhile. */
static int find_users_async(void *arg, void **result) {
  (void)result;
  int n = (int)(intptr_t)arg;
  for (int i = 1; i <= n; i++) {
    printf("%d명 중 %d번 째 사용자 조회 중 ...\n", n, i);
    int rc = cio_sleep(1.0);
    if (rc < 0)
      return rc; /* CIO_ECANCELED: the task was cancelled, pass it on */
  }
  printf("> 총 %d 명 사용자 비동기 조회 완료!\n", n);
  return 0;
}

/* Wait for each of `n` tasks and drop our references to them.  After the
 * first failure the remaining tasks are cancelled, so that none outlives
 * this call unnoticed.  Returns 0 or the first error. */
static int join_all(cio_task **tasks, size_t n) {
  int first_error = 0;
  for (size_t i = 0; i < n; i++) {
    int rc = cio_task_join(tasks[i], NULL);
    if (rc < 0 && first_error == 0) {
      first_error = rc;
      for (size_t j = i + 1; j < n; j++)
        cio_task_cancel(tasks[j]);
    }
  }
  return first_error;
}

/* The main task.  The Python program passes the three coroutines to
 * asyncio.wait(), which in that Python version put them in a set and
 * happened to start them 1, 2, 3.  casyncio starts tasks in the order
 * they are created, so creating them in that order gives the Python
 * program's output line for line. */
static int process_async(void *arg, void **result) {
  (void)arg;
  (void)result;
  static const int requests[] = {1, 2, 3};
  enum { NREQUESTS = sizeof requests / sizeof requests[0] };
  cio_task *tasks[NREQUESTS];
  double start = cio_time();
  size_t started = 0;
  int rc = 0;
  for (; started < NREQUESTS; started++) {
    rc = cio_create_task(NULL, &tasks[started], find_users_async,
                         (void *)(intptr_t)requests[started], NULL);
    if (rc < 0)
      break;
  }
  if (rc < 0) /* cancel what did start, then still wait for it below */
    for (size_t i = 0; i < started; i++)
      cio_task_cancel(tasks[i]);
  int join_rc = join_all(tasks, started);
  if (rc == 0)
    rc = join_rc;
  if (rc < 0)
    return rc;
  printf(">>> 비동기 처리 총 소요 시간: %f\n", cio_time() - start);
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  process_sync();
  int rc = cio_run(process_async, NULL);
  if (rc < 0) {
    fprintf(stderr, "find_users: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
