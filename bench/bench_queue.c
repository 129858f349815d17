/* Producer/consumer throughput through a bounded queue.
 *
 *   bench_queue [N]   items (default 1,000,000)
 *
 * queue/bounded100   one producer task puts N items into a cio_queue of
 *                    maxsize 100 while one consumer task gets them; the
 *                    producer blocks whenever the queue is full and the
 *                    consumer whenever it is empty, so the run mixes
 *                    batched fast paths with a wake-up and a task switch
 *                    per refill.
 * queue/unbounded    the same with maxsize 0 (the producer never blocks).
 * ns/op is wall time per item moved (put + get). */
#include "bench.h"
#include "casyncio.h"

static long n_items;

static int producer(void *arg, void **result) {
  (void)result;
  cio_queue *q = arg;
  for (long i = 1; i <= n_items; i++)
    BENCH_CHECK(cio_queue_put(q, (void *)(intptr_t)i));
  return 0;
}

static int consumer(void *arg, void **result) {
  cio_queue *q = arg;
  intptr_t sum = 0;
  for (long i = 0; i < n_items; i++) {
    void *item;
    BENCH_CHECK(cio_queue_get(q, &item));
    sum += (intptr_t)item;
  }
  *result = (void *)sum;
  return 0;
}

struct config {
  const char *name;
  size_t maxsize;
};

static int bench_main(void *arg, void **result) {
  (void)result;
  const struct config *c = arg;
  cio_queue *q;
  BENCH_CHECK(cio_queue_new(&q, c->maxsize));
  cio_task *p, *k;
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_create_task(NULL, &k, consumer, q, NULL));
  BENCH_CHECK(cio_create_task(NULL, &p, producer, q, NULL));
  BENCH_CHECK(cio_task_join(p, NULL));
  void *sum;
  BENCH_CHECK(cio_task_join(k, &sum));
  uint64_t t1 = bench_now_ns();
  intptr_t want = (intptr_t)n_items * ((intptr_t)n_items + 1) / 2;
  if ((intptr_t)sum != want) {
    fprintf(stderr, "bench_queue: lost items\n");
    exit(1);
  }
  cio_queue_free(q);
  bench_report(c->name, (double)n_items, (double)(t1 - t0),
               "items=%ld maxsize=%zu", n_items, c->maxsize);
  return 0;
}

int main(int argc, char **argv) {
  n_items = bench_arg(argc, argv, 1, 1000000);
  static const struct config configs[] = {
      {"queue/bounded100", 100},
      {"queue/unbounded", 0},
  };
  for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
    BENCH_CHECK(cio_run(bench_main, (void *)&configs[i]));
  return 0;
}
