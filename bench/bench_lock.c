/* Lock hand-off rate under contention.
 *
 *   bench_lock [N]   acquisitions per task (default 250,000)
 *
 * lock/handoff4      4 tasks loop acquire; sleep(0); release.  The holder
 *                    yields inside the critical section, so the other
 *                    three are always queued: every release wakes the
 *                    next waiter (FIFO) and every acquisition but the
 *                    first of each task is a hand-off through the wait
 *                    list and a task switch.
 * lock/uncontended   1 task loops acquire; release: the fast path alone.
 * ops/s is acquisitions (hand-offs) per second. */
#include "bench.h"
#include "casyncio.h"

static long n_iters;

struct run {
  cio_lock *lock;
  long counter;
};

static int contender(void *arg, void **result) {
  (void)result;
  struct run *r = arg;
  for (long i = 0; i < n_iters; i++) {
    BENCH_CHECK(cio_lock_acquire(r->lock));
    long tmp = r->counter;
    BENCH_CHECK(cio_sleep(0));
    r->counter = tmp + 1;
    BENCH_CHECK(cio_lock_release(r->lock));
  }
  return 0;
}

static int bench_handoff(void *arg, void **result) {
  (void)arg;
  (void)result;
  enum { TASKS = 4 };
  struct run r = {0};
  BENCH_CHECK(cio_lock_new(&r.lock));
  cio_task *t[TASKS];
  uint64_t t0 = bench_now_ns();
  for (int i = 0; i < TASKS; i++)
    BENCH_CHECK(cio_create_task(NULL, &t[i], contender, &r, NULL));
  for (int i = 0; i < TASKS; i++)
    BENCH_CHECK(cio_task_join(t[i], NULL));
  uint64_t t1 = bench_now_ns();
  if (r.counter != TASKS * n_iters) {
    fprintf(stderr, "bench_lock: counter %ld\n", r.counter);
    exit(1);
  }
  cio_lock_free(r.lock);
  bench_report("lock/handoff4", (double)r.counter, (double)(t1 - t0),
               "tasks=%d acquisitions=%ld", TASKS, r.counter);
  return 0;
}

static int bench_uncontended(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_lock *l;
  BENCH_CHECK(cio_lock_new(&l));
  long n = n_iters * 4;
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    BENCH_CHECK(cio_lock_acquire(l));
    BENCH_CHECK(cio_lock_release(l));
  }
  uint64_t t1 = bench_now_ns();
  cio_lock_free(l);
  bench_report("lock/uncontended", (double)n, (double)(t1 - t0),
               "acquisitions=%ld", n);
  return 0;
}

int main(int argc, char **argv) {
  n_iters = bench_arg(argc, argv, 1, 250000);
  BENCH_CHECK(cio_run(bench_handoff, NULL));
  BENCH_CHECK(cio_run(bench_uncontended, NULL));
  return 0;
}
