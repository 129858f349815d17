/* queue_producer_consumer: a bounded Queue between one producer and two
 * consumers.
 *
 * Mirrors the Python program in which a producer puts ten items into a
 * bounded asyncio.Queue and two consumers take them (step 3 of
 * docs/tutorial.md):
 *
 *   async def producer(q, n_items):
 *       for i in range(n_items):
 *           await asyncio.sleep(random.random() * 0.5)
 *           item = f"item-{i}"
 *           await q.put(item)
 *           print("produced", item)
 *       await q.put(None)               # signal consumers to stop
 *
 *   async def consumer(q, name):
 *       while True:
 *           item = await q.get()
 *           if item is None:
 *               await q.put(None)       # for the other consumers
 *               break
 *           await asyncio.sleep(random.random() * 1)
 *           print(name, "consumed", item)
 *           q.task_done()
 *
 *   q = asyncio.Queue(maxsize=5)        # bounded: backpressure
 *
 * The queue holds pointers: here to the item names, which live in an
 * array for the whole run; NULL is the stop sentinel.  put() suspends the
 * producer while five items wait.  Delays come from a fixed
 * pseudo-random sequence so runs repeat.
 *
 * Output: ten "produced item-<i>" lines, ten "C<k> consumed item-<i>"
 * lines interleaved with them, each item consumed once.
 */
#include <stdio.h>

#include "casyncio.h"

#define N_ITEMS 10

static char names[N_ITEMS][16];
static unsigned rng = 7;

static double next_random(void) {
  rng = rng * 1664525u + 1013904223u;
  return (double)(rng >> 8) / (double)(1u << 24);
}

static int producer(void *arg, void **result) {
  (void)result;
  cio_queue *q = arg;
  for (int i = 0; i < N_ITEMS; i++) {
    int rc = cio_sleep(next_random() * 0.5);
    if (rc < 0)
      return rc;
    snprintf(names[i], sizeof names[i], "item-%d", i);
    rc = cio_queue_put(q, names[i]);
    if (rc < 0)
      return rc;
    printf("produced %s\n", names[i]);
    fflush(stdout);
  }
  return cio_queue_put(q, NULL);
}

static int consumer(void *arg, void **result) {
  (void)result;
  cio_queue *q = ((void **)arg)[0];
  const char *name = ((void **)arg)[1];
  for (;;) {
    void *item;
    int rc = cio_queue_get(q, &item);
    if (rc < 0)
      return rc;
    if (item == NULL)
      return cio_queue_put(q, NULL);
    rc = cio_sleep(next_random() * 1);
    if (rc < 0)
      return rc;
    printf("%s consumed %s\n", name, (const char *)item);
    fflush(stdout);
    cio_queue_task_done(q);
  }
}

static int amain(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  int rc = cio_queue_new(&q, 5);
  if (rc < 0)
    return rc;
  void *cargs[2][2] = {{q, "C0"}, {q, "C1"}};
  cio_call calls[3] = {
      {producer, q}, {consumer, cargs[0]}, {consumer, cargs[1]}};
  int errors[3];
  /* Collecting mode waits for all three, so the queue outlives them. */
  rc = cio_gather_calls(calls, 3, NULL, errors, true);
  for (int i = 0; i < 3 && rc == 0; i++)
    rc = errors[i];
  cio_queue_free(q);
  return rc;
}

int main(void) {
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "queue_producer_consumer: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
