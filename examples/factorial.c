/* factorial: three computations interleaved by asyncio.gather.
 *
 * Mirrors the Python program that gathers factorial("A", 2),
 * factorial("B", 3) and factorial("C", 4) (step 5 of docs/tutorial.md;
 * the asyncio.gather example of Python's documentation).  Each
 * task computes a factorial one multiplication per second; gathered, the
 * three run at once, so their steps interleave A, B, C every second and
 * the whole takes 3 s (the longest, factorial(4)) instead of 1 + 2 + 3.
 * The results come back in the order the calls were passed.
 *
 * Expected output:
 *
 *   Task A: Compute factorial(2), currently i=2...
 *   Task B: Compute factorial(3), currently i=2...
 *   Task C: Compute factorial(4), currently i=2...
 *   Task A: factorial(2) = 2
 *   Task B: Compute factorial(3), currently i=3...
 *   Task C: Compute factorial(4), currently i=3...
 *   Task B: factorial(3) = 6
 *   Task C: Compute factorial(4), currently i=4...
 *   Task C: factorial(4) = 24
 *   asynco gather output: [2, 6, 24]
 */
#include <stdint.h>
#include <stdio.h>

#include "casyncio.h"

struct factorial {
  const char *name;
  int number;
};

/* A task body: compute number! in steps of a second; the result is the
 * factorial itself, returned in the task's pointer-sized result. */
static int factorial(void *arg, void **result) {
  const struct factorial *job = arg;
  intptr_t f = 1;
  for (int i = 2; i <= job->number; i++) {
    printf("Task %s: Compute factorial(%d), currently i=%d...\n", job->name,
           job->number, i);
    int rc = cio_sleep(1.0);
    if (rc < 0)
      return rc; /* CIO_ECANCELED: pass it on */
    f *= i;
  }
  printf("Task %s: factorial(%d) = %ld\n", job->name, job->number, (long)f);
  *result = (void *)f;
  return 0;
}

static int main_task(void *arg, void **result) {
  (void)arg;
  (void)result;
  static const struct factorial jobs[] = {{"A", 2}, {"B", 3}, {"C", 4}};
  enum { NJOBS = sizeof jobs / sizeof jobs[0] };
  /* Schedule three calls *concurrently*: */
  cio_call calls[NJOBS];
  for (size_t i = 0; i < NJOBS; i++)
    calls[i] = (cio_call){factorial, (void *)&jobs[i]};
  void *L[NJOBS];
  int rc = cio_gather_calls(calls, NJOBS, L, NULL, false);
  if (rc < 0)
    return rc;
  /* The Python program's own spelling, "asynco", kept so the lines
   * match. */
  printf("asynco gather output: [");
  for (size_t i = 0; i < NJOBS; i++)
    printf("%s%ld", i > 0 ? ", " : "", (long)(intptr_t)L[i]);
  printf("]\n");
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(main_task, NULL);
  if (rc < 0) {
    fprintf(stderr, "factorial: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
