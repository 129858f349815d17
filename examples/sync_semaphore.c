/* sync_semaphore: at most three workers at once, with a Semaphore.
 *
 * Mirrors the Python program in which ten workers share an
 * asyncio.Semaphore(3) (step 3 of docs/tutorial.md):
 *
 *   sem = asyncio.Semaphore(3)
 *   async def limited_worker(i):
 *       async with sem:
 *           delay = random.random() * 2
 *           await asyncio.sleep(delay)
 *           print(f"worker {i} finished after {delay:.2f}s")
 *
 * Ten workers start at once; the semaphore lets three into the block at a
 * time.  `async with sem` is cio_semaphore_acquire() ... release().  The
 * delays come from a fixed pseudo-random sequence so runs repeat, and the
 * program also prints how many workers were ever inside together.
 *
 * Output (the order of the worker lines follows the delays):
 *
 *   worker 0 finished after 0.04s
 *   ...                                (ten worker lines)
 *   max concurrent: 3
 */
#include <stdio.h>

#include "casyncio.h"

#define WORKERS 10

static cio_semaphore *sem;
static int inside, max_inside;
static unsigned rng = 2024;

/* random.random() from a fixed seed: a 32-bit LCG, in [0, 1). */
static double next_random(void) {
  rng = rng * 1664525u + 1013904223u;
  return (double)(rng >> 8) / (double)(1u << 24);
}

static int limited_worker(void *arg, void **result) {
  (void)result;
  int i = (int)(intptr_t)arg;
  int rc = cio_semaphore_acquire(sem);
  if (rc < 0)
    return rc;
  if (++inside > max_inside)
    max_inside = inside;
  double delay = next_random() * 2;
  rc = cio_sleep(delay);
  inside--;
  if (rc == 0) {
    printf("worker %d finished after %.2fs\n", i, delay);
    fflush(stdout);
  }
  cio_semaphore_release(sem);
  return rc;
}

static int amain(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_semaphore_new(&sem, 3);
  if (rc < 0)
    return rc;
  cio_task *tasks[WORKERS];
  cio_future *futs[WORKERS];
  size_t n = 0;
  for (int i = 0; i < WORKERS; i++) {
    rc = cio_create_task(NULL, &tasks[n], limited_worker, (void *)(intptr_t)i,
                         NULL);
    if (rc < 0)
      break;
    futs[n] = cio_task_future(tasks[n]);
    n++;
  }
  int gathered = cio_gather(futs, n, NULL, NULL, false);
  for (size_t i = 0; i < n; i++)
    (void)!cio_task_join(tasks[i], NULL); /* gather has their outcome */
  if (rc == 0)
    rc = gathered;
  printf("max concurrent: %d\n", max_inside);
  cio_semaphore_free(sem);
  return rc;
}

int main(void) {
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "sync_semaphore: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
