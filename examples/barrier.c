/* barrier: three tasks wait for each other before going on, twice.
 *
 * Mirrors the example of asyncio.Barrier in Python's documentation
 * (b = asyncio.Barrier(3); each party calls await b.wait() and none
 * passes until all three have arrived), with the parties arriving at
 * different times, over two rounds:
 *
 *   async def runner(name, delay, b):
 *       for round in (1, 2):
 *           await asyncio.sleep(delay)
 *           print(f"{name} arrives, round {round}")
 *           await b.wait()
 *           print(f"{name} passes")
 *
 * Nobody passes before the last one arrives; then all pass together.  The
 * barrier resets itself for the next round.
 *
 * Output (A, B and C arrive 0.1, 0.2 and 0.3 s into each round; the
 * last to arrive goes on first, the others resume right after it):
 *
 *   A arrives, round 1 (0 already waiting)
 *   B arrives, round 1 (1 already waiting)
 *   C arrives, round 1 (2 already waiting)
 *   C passes
 *   A passes
 *   B passes
 *   A arrives, round 2 (0 already waiting)
 *   B arrives, round 2 (1 already waiting)
 *   C arrives, round 2 (2 already waiting)
 *   C passes
 *   A passes
 *   B passes
 */
#include <stdio.h>

#include "casyncio.h"

struct runner {
  const char *name;
  double delay;
  cio_barrier *barrier;
};

static int runner(void *arg, void **result) {
  (void)result;
  struct runner *r = arg;
  for (int round = 1; round <= 2; round++) {
    int rc = cio_sleep(r->delay);
    if (rc < 0)
      return rc;
    printf("%s arrives, round %d (%d already waiting)\n", r->name, round,
           cio_barrier_n_waiting(r->barrier));
    rc = cio_barrier_wait(r->barrier, NULL);
    if (rc < 0)
      return rc; /* CIO_ENOTRECOVERABLE if the barrier broke */
    printf("%s passes\n", r->name);
  }
  return 0;
}

static int amain(void *arg, void **result) {
  (void)arg, (void)result;
  cio_barrier *b;
  int rc = cio_barrier_new(&b, 3);
  if (rc < 0)
    return rc;
  struct runner runners[3] = {{"A", 0.1, b}, {"B", 0.2, b}, {"C", 0.3, b}};
  cio_call calls[3];
  for (int i = 0; i < 3; i++)
    calls[i] = (cio_call){runner, &runners[i]};
  rc = cio_gather_calls(calls, 3, NULL, NULL, false);
  cio_barrier_free(b);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "barrier: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
