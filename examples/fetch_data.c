/* fetch_data: asyncio.gather runs requests at once and returns their
 * results in the order they were passed.
 *
 * Mirrors the Python programs of step 2 of docs/tutorial.md.  First
 * find_users_sync(1) three times with a blocking sleep (3 s), then
 * find_users_async(1) three times under gather (1 s).  Then fetch_data: three
 * simulated network requests of 2, 3 and 1 seconds gathered together finish in
 * 3 s instead of 6, in the order they finish, while the results list keeps the
 * order they were passed in.
 *
 * asyncio.gather() wraps each coroutine in a task; cio_gather_calls() does
 * the same with (function, argument) pairs and fills `results[i]` in input
 * order.  A task returns one pointer-sized result, here a string.
 *
 * Expected output (the elapsed time varies by a few milliseconds):
 *
 *   # find_users_sync(1) three times (3 s)
 *   User 1 found
 *   User 1 found
 *   User 1 found
 *   # find_users_async(1) three times with gather (1 s)
 *   User 1 found
 *   User 1 found
 *   User 1 found
 *   # fetch_data(1, 2), (2, 3), (3, 1) with gather (3 s)
 *   [1] 데이터 요청 시작
 *   [2] 데이터 요청 시작
 *   [3] 데이터 요청 시작
 *   [3] 데이터 수신 완료
 *   [1] 데이터 수신 완료
 *   [2] 데이터 수신 완료
 *   결과: ['data_1', 'data_2', 'data_3']
 *   소요 시간: 3.0초 (동기는 6초 소요)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "casyncio.h"

/* ---- find_users: sync versus gather --------------------------------- */

/* Python's time.sleep(): the whole thread stops, nothing else runs. */
static void blocking_sleep(time_t seconds) {
  struct timespec left = {.tv_sec = seconds};
  while (nanosleep(&left, &left) == -1 && errno == EINTR)
    continue;
}

static void find_users_sync(int n) {
  for (int i = 1; i <= n; i++) {
    blocking_sleep(1);
    printf("User %d found\n", i);
  }
}

/* A task body: find `arg` users, one second each, suspending only this
 * task while it waits. */
static int find_users_async(void *arg, void **result) {
  (void)result;
  int n = (int)(intptr_t)arg;
  for (int i = 1; i <= n; i++) {
    int rc = cio_sleep(1.0);
    if (rc < 0)
      return rc; /* CIO_ECANCELED: pass it on */
    printf("User %d found\n", i);
  }
  return 0;
}

/* await asyncio.gather(find_users_async(1), ... three times). */
static int process_async(void *arg, void **result) {
  (void)arg;
  (void)result;
  const cio_call calls[] = {
      {find_users_async, (void *)(intptr_t)1},
      {find_users_async, (void *)(intptr_t)1},
      {find_users_async, (void *)(intptr_t)1},
  };
  return cio_gather_calls(calls, 3, NULL, NULL, false);
}

/* ---- fetch_data: gather keeps the input order ----------------------- */

struct request {
  int id;
  double delay;    /* seconds of simulated network wait */
  char result[16]; /* "data_<id>", what the task returns */
};

/* 네트워크 요청 시뮬레이션: print, wait `delay` seconds, return "data_<id>". */
static int fetch_data(void *arg, void **result) {
  struct request *req = arg;
  printf("[%d] 데이터 요청 시작\n", req->id);
  int rc = cio_sleep(req->delay); /* 네트워크 대기 */
  if (rc < 0)
    return rc;
  printf("[%d] 데이터 수신 완료\n", req->id);
  snprintf(req->result, sizeof req->result, "data_%d", req->id);
  *result = req->result;
  return 0;
}

static int fetch_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct request reqs[] = {{1, 2.0, ""}, {2, 3.0, ""}, {3, 1.0, ""}};
  enum { NREQS = sizeof reqs / sizeof reqs[0] };
  cio_call calls[NREQS];
  for (size_t i = 0; i < NREQS; i++)
    calls[i] = (cio_call){fetch_data, &reqs[i]};
  /* 3개 요청 동시 실행 */
  double start = cio_time();
  void *results[NREQS];
  int rc = cio_gather_calls(calls, NREQS, results, NULL, false);
  if (rc < 0)
    return rc;
  double elapsed = cio_time() - start;
  printf("결과: [");
  for (size_t i = 0; i < NREQS; i++)
    printf("%s'%s'", i > 0 ? ", " : "", (const char *)results[i]);
  printf("]\n");
  printf("소요 시간: %.1f초 (동기는 6초 소요)\n", elapsed);
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("# find_users_sync(1) three times (3 s)\n");
  find_users_sync(1);
  find_users_sync(1);
  find_users_sync(1);
  printf("# find_users_async(1) three times with gather (1 s)\n");
  int rc = cio_run(process_async, NULL);
  if (rc == 0) {
    printf("# fetch_data(1, 2), (2, 3), (3, 1) with gather (3 s)\n");
    rc = cio_run(fetch_main, NULL);
  }
  if (rc < 0) {
    fprintf(stderr, "fetch_data: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
