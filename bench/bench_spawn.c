/* Task creation cost: spawn, run and join tasks that return at once.
 *
 *   bench_spawn [N] [WHICH]   N tasks per measurement (default 1,000,000);
 *                             WHICH (batch, single, single-after-batch,
 *                             ucontext) runs only
 *                             that shape or the peer, e.g. under a profiler
 *
 * spawn/batch      the main task creates BATCH tasks with cio_create_task,
 *                  then cio_task_join()s each; repeated until N.  The
 *                  first join suspends the main task, the scheduler runs
 *                  the whole batch, the other joins find their task done.
 * spawn/single     create one task, join it, repeat: every task costs a
 *                  suspension of the main task and two switches.
 * spawn/single-after-batch
 *                  the same, on a loop that has just run one batch, so its
 *                  stack pool holds more free stacks than it keeps warm
 *                  (the state any program is in after a burst of tasks).
 * spawn/ucontext-* the peer, measured in the same run, in the same two
 *                  shapes: a context per task made with getcontext +
 *                  makecontext on a stack taken from a preallocated pool,
 *                  run to completion with swapcontext, its result read
 *                  back when it returns through uc_link.  No task object,
 *                  no scheduler queue, no names, no reference counts, so
 *                  it is the bare cost of starting a fresh context.  glibc
 *                  makes an rt_sigprocmask system call in getcontext,
 *                  swapcontext and the uc_link return, which casyncio does
 *                  not.
 *
 * ns/op is per spawn+join; each figure is the best of REPS runs, each shape
 * on a fresh loop (cio_run) so that one does not inherit another's pool.  The
 * casyncio lines carry ratio=casyncio/peer of the same shape. */
#include "bench.h"
#include "casyncio.h"

#include <ucontext.h>

enum { REPS = 3, BATCH = 1000, PEER_STACK = 64 * 1024 };

static long n_tasks;
static const char *only;
static uint64_t run_single(void);

/* Whether the measurement called `name` is to run. */
static bool wanted(const char *name) {
  return only == NULL || strcmp(name, only) == 0;
}

static int return_at_once(void *arg, void **result) {
  *result = arg;
  return 0;
}

/* ---- casyncio ---- */

static uint64_t run_batch(void) {
  static cio_task *tasks[BATCH];
  uint64_t t0 = bench_now_ns();
  for (long done = 0; done < n_tasks; done += BATCH) {
    long k = n_tasks - done < BATCH ? n_tasks - done : BATCH;
    for (long i = 0; i < k; i++)
      BENCH_CHECK(
          cio_create_task(NULL, &tasks[i], return_at_once, NULL, NULL));
    for (long i = 0; i < k; i++)
      BENCH_CHECK(cio_task_join(tasks[i], NULL));
  }
  return bench_now_ns() - t0;
}

static uint64_t run_single_after_batch(void) {
  static cio_task *tasks[BATCH];
  for (long i = 0; i < BATCH; i++)
    BENCH_CHECK(cio_create_task(NULL, &tasks[i], return_at_once, NULL, NULL));
  for (long i = 0; i < BATCH; i++)
    BENCH_CHECK(cio_task_join(tasks[i], NULL));
  return run_single();
}

static uint64_t run_single(void) {
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n_tasks; i++) {
    cio_task *t;
    BENCH_CHECK(cio_create_task(NULL, &t, return_at_once, NULL, NULL));
    BENCH_CHECK(cio_task_join(t, NULL));
  }
  return bench_now_ns() - t0;
}

/* ---- peer: one fresh ucontext per task ---- */

struct peer_task {
  ucontext_t uc;
  void *arg, *result;
};

static ucontext_t peer_main;
static struct peer_task *peer_current;
static char *peer_stacks; /* BATCH stacks of PEER_STACK bytes */

static void peer_entry(void) {
  struct peer_task *t = peer_current;
  return_at_once(t->arg, &t->result);
} /* returns to peer_main through uc_link */

static void peer_spawn(struct peer_task *t, long slot) {
  getcontext(&t->uc);
  t->uc.uc_stack = (stack_t){.ss_sp = peer_stacks + slot * PEER_STACK,
                             .ss_size = PEER_STACK};
  t->uc.uc_link = &peer_main;
  t->arg = t;
  makecontext(&t->uc, peer_entry, 0);
}

static void peer_join(struct peer_task *t) {
  peer_current = t;
  swapcontext(&peer_main, &t->uc);
  if (t->result != t)
    abort();
}

static uint64_t run_peer_batch(void) {
  static struct peer_task tasks[BATCH];
  uint64_t t0 = bench_now_ns();
  for (long done = 0; done < n_tasks; done += BATCH) {
    long k = n_tasks - done < BATCH ? n_tasks - done : BATCH;
    for (long i = 0; i < k; i++)
      peer_spawn(&tasks[i], i);
    for (long i = 0; i < k; i++)
      peer_join(&tasks[i]);
  }
  return bench_now_ns() - t0;
}

static uint64_t run_peer_single(void) {
  static struct peer_task task;
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n_tasks; i++) {
    peer_spawn(&task, 0);
    peer_join(&task);
  }
  return bench_now_ns() - t0;
}

static uint64_t best_of(uint64_t (*run)(void)) {
  uint64_t best = UINT64_MAX;
  for (int r = 0; r < REPS; r++) {
    uint64_t ns = run();
    if (ns < best)
      best = ns;
  }
  return best;
}

struct shape {
  const char *name;          /* as printed; WHICH matches it minus spawn/ */
  uint64_t (*run)(void);
  double peer_ns;            /* the peer of the same shape */
};

/* Run one shape as the main task of its own loop, best of REPS. */
static int run_shape(void *arg, void **result) {
  (void)result;
  struct shape *sh = arg;
  uint64_t best = UINT64_MAX;
  for (int r = 0; r < REPS; r++) {
    uint64_t ns = sh->run();
    if (ns < best)
      best = ns;
  }
  bench_report(sh->name, (double)n_tasks, (double)best, "ratio=%.3f",
               (double)best / sh->peer_ns);
  return 0;
}

int main(int argc, char **argv) {
  n_tasks = bench_arg(argc, argv, 1, 1000000);
  only = argc > 2 ? argv[2] : NULL;
  peer_stacks = malloc((size_t)BATCH * PEER_STACK);
  if (peer_stacks == NULL)
    return 1;
  /* The ratios need the peer, so it runs unless another one is chosen. */
  double peer_batch = 0, peer_single = 0;
  if (only == NULL || strcmp(only, "ucontext") == 0) {
    double ops = (double)n_tasks;
    peer_batch = (double)best_of(run_peer_batch);
    peer_single = (double)best_of(run_peer_single);
    bench_report("spawn/ucontext-batch", ops, peer_batch, "batch=%d", BATCH);
    bench_report("spawn/ucontext-single", ops, peer_single, NULL);
  }
  struct shape shapes[] = {
      {"spawn/batch", run_batch, peer_batch},
      {"spawn/single", run_single, peer_single},
      {"spawn/single-after-batch", run_single_after_batch, peer_single},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    if (wanted(shapes[i].name + strlen("spawn/")))
      BENCH_CHECK(cio_run(run_shape, &shapes[i]));
  free(peer_stacks);
  return 0;
}
