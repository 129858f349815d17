/* executor_semaphore: Semaphore + run_in_executor.
 *
 * Mirrors the Python program in which twenty workers call a rate-limited
 * API under a Semaphore of five and hand a heavy step to the thread pool
 * (step 3 of docs/tutorial.md):
 *
 *   sem = asyncio.Semaphore(5)
 *
 *   def heavy_sync_processing(data):
 *       time.sleep(1)                      # heavy CPU-bound work
 *       return f"processed-{data}"
 *
 *   async def api_call(i):
 *       await asyncio.sleep(random.random() * 0.5)   # network latency
 *       return f"data-{i}"
 *
 *   async def worker(i):
 *       async with sem:
 *           data = await api_call(i)
 *           loop = asyncio.get_running_loop()
 *           result = await loop.run_in_executor(None, heavy_sync_processing,
 *                                               data)
 *           print(result)
 *
 *   async def main():
 *       tasks = [asyncio.create_task(worker(i)) for i in range(20)]
 *       await asyncio.gather(*tasks)
 *
 * At most five workers call the API at a time; each hands its one-second
 * blocking step to the thread pool, so the loop keeps serving the others.
 * Twenty workers in batches of five take about 4 to 6 seconds.
 *
 * Expected output (order varies with the random latencies):
 *
 *   processed-data-3
 *   processed-data-0
 *   ...                       (20 lines, one per worker)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "casyncio.h"

#define WORKERS 20

static cio_semaphore *sem;

/* Simulate heavy CPU-bound work: takes a "data-<i>" string, returns a
 * malloc()ed "processed-data-<i>". */
static int heavy_sync_processing(void *arg, void **result) {
  const char *data = arg;
  struct timespec one_s = {1, 0};
  nanosleep(&one_s, NULL);
  char *out = malloc(64);
  if (out == NULL)
    return CIO_ENOMEM;
  snprintf(out, 64, "processed-%s", data);
  *result = out;
  return 0;
}

/* Simulate network latency, then return a malloc()ed "data-<i>". */
static int api_call(int i, char **data) {
  int rc = cio_sleep((double)rand() / RAND_MAX * 0.5);
  if (rc < 0)
    return rc;
  *data = malloc(32);
  if (*data == NULL)
    return CIO_ENOMEM;
  snprintf(*data, 32, "data-%d", i);
  return 0;
}

/* If the worker is cancelled while the job runs, the job cannot be
 * stopped: the worker returns at once and this frees the job's input and
 * late result once it ends. */
static void dispose_job(void *arg, void *result, int status) {
  (void)status;
  free(arg);
  free(result);
}

static int worker(void *arg, void **result) {
  (void)result;
  int i = (int)(intptr_t)arg;
  int rc = cio_semaphore_acquire(sem); /* async with sem: */
  if (rc < 0)
    return rc;
  char *data = NULL, *processed = NULL;
  rc = api_call(i, &data);
  if (rc == 0) {
    /* Offload the CPU-bound step to the thread pool. */
    rc = cio_run_in_executor(NULL, heavy_sync_processing, data, dispose_job,
                             (void **)&processed);
    if (rc == CIO_ECANCELED)
      data = NULL; /* dispose_job frees it */
  }
  cio_semaphore_release(sem);
  free(data);
  if (rc < 0)
    return rc;
  printf("%s\n", processed);
  free(processed);
  return 0;
}

static int async_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_semaphore_new(&sem, 5);
  if (rc < 0)
    return rc;
  cio_call calls[WORKERS];
  for (int i = 0; i < WORKERS; i++)
    calls[i] = (cio_call){worker, (void *)(intptr_t)i};
  rc = cio_gather_calls(calls, WORKERS, NULL, NULL, false);
  cio_semaphore_free(sem);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  srand((unsigned)time(NULL));
  int rc = cio_run(async_main, NULL);
  if (rc < 0) {
    fprintf(stderr, "executor_semaphore: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
