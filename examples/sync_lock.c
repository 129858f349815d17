/* sync_lock: a shared counter kept right by a Lock.
 *
 * Mirrors the Python program in which five tasks increment a shared
 * counter under an asyncio.Lock (step 3 of docs/tutorial.md):
 *
 *   async def incrementer(n_times):
 *       global counter
 *       for _ in range(n_times):
 *           async with lock:
 *               tmp = counter
 *               await asyncio.sleep(0)  # yield to invite a race
 *               counter = tmp + 1
 *
 * Five tasks increment 1000 times each, yielding inside the critical
 * section.  Without the lock most increments would be lost; with it the
 * counter ends at 5000.
 *
 * Output:
 *
 *   final counter: 5000
 */
#include <stdio.h>

#include "casyncio.h"

#define TASKS 5

static cio_lock *lock;
static long counter;

static int incrementer(void *arg, void **result) {
  (void)result;
  long n_times = (long)(intptr_t)arg;
  for (long i = 0; i < n_times; i++) {
    int rc = cio_lock_acquire(lock);
    if (rc < 0)
      return rc;
    long tmp = counter;
    rc = cio_sleep(0);
    counter = tmp + 1;
    cio_lock_release(lock);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int amain(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_lock_new(&lock);
  if (rc < 0)
    return rc;
  cio_call calls[TASKS];
  for (int i = 0; i < TASKS; i++)
    calls[i] = (cio_call){incrementer, (void *)(intptr_t)1000};
  /* Collecting mode waits for every task, so the lock outlives them. */
  int errors[TASKS];
  rc = cio_gather_calls(calls, TASKS, NULL, errors, true);
  for (int i = 0; i < TASKS && rc == 0; i++)
    rc = errors[i];
  if (rc == 0)
    printf("final counter: %ld\n", counter);
  cio_lock_free(lock);
  return rc;
}

int main(void) {
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "sync_lock: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
