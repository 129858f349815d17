/* Task switch cost: two tasks ping-pong through the scheduler.
 *
 *   bench_switch [N] [WHICH]   N switches per task (default 1,000,000);
 *                              WHICH (sleep0, small, future, ucontext) runs only
 *                              that measurement, e.g. under a profiler
 *
 * switch/sleep0    each of two tasks calls cio_sleep(0) N times; each call
 *                  queues the caller behind the other task, which the
 *                  scheduler switches to directly.  ns/op is the elapsed
 *                  time over the 2N task switches.
 * switch/future    the two tasks hand control back and forth through
 *                  one-shot futures: set the peer's future, await our own,
 *                  allocate the next one.  2N switches, each including a
 *                  future's new/set_result/await/release.
 * switch/small    switch/sleep0 with two small tasks (cio_task_opts.small):
 *                  each switch goes through the loop's stack and copies
 *                  the frames of the task leaving the shared stack out and
 *                  those of the task entering back in.
 * switch/ucontext  the peer, measured in the same run: two glibc ucontexts
 *                  calling swapcontext() to each other 2N times, with no
 *                  scheduler, queue or bookkeeping at all.  Note that
 *                  glibc's swapcontext also saves and restores the signal
 *                  mask with an rt_sigprocmask system call on every switch,
 *                  which casyncio's switch does not, so the peer is a
 *                  *portable* baseline, not a lower bound.
 *
 * Each figure is the best of REPS runs.  The casyncio lines carry
 * ratio=casyncio/ucontext (below 1: casyncio is faster). */
#include "bench.h"
#include "casyncio.h"

#include <ucontext.h>

enum { REPS = 3, PEER_STACK = 64 * 1024 };

static long n_iter;
static const char *only;

/* Whether the measurement called `name` is to run. */
static bool wanted(const char *name) {
  return only == NULL || strcmp(name, only) == 0;
}

/* ---- casyncio: sleep(0) ping-pong ---- */

static int yielder(void *arg, void **result) {
  (void)arg, (void)result;
  for (long i = 0; i < n_iter; i++)
    BENCH_CHECK(cio_sleep(0));
  return 0;
}

static uint64_t run_sleep0(void) {
  cio_task *a, *b;
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_create_task(NULL, &a, yielder, NULL, NULL));
  BENCH_CHECK(cio_create_task(NULL, &b, yielder, NULL, NULL));
  BENCH_CHECK(cio_task_join(a, NULL));
  BENCH_CHECK(cio_task_join(b, NULL));
  return bench_now_ns() - t0;
}

static uint64_t run_small(void) {
  cio_task *a, *b;
  cio_task_opts small = {.small = true};
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_create_task(NULL, &a, yielder, NULL, &small));
  BENCH_CHECK(cio_create_task(NULL, &b, yielder, NULL, &small));
  BENCH_CHECK(cio_task_join(a, NULL));
  BENCH_CHECK(cio_task_join(b, NULL));
  return bench_now_ns() - t0;
}

/* ---- casyncio: future ping-pong ---- */

/* Each side owns an inbox future that only the peer completes.  A side
 * replaces its inbox before signalling the peer, so the peer always finds
 * a pending inbox to complete. */
struct side {
  cio_future *inbox;
  struct side *peer;
  bool serves_first;
};

static void renew_inbox(struct side *s) {
  cio_future_release(s->inbox);
  BENCH_CHECK(cio_future_new(NULL, &s->inbox));
}

static int ponger(void *arg, void **result) {
  (void)result;
  struct side *s = arg;
  if (s->serves_first)
    BENCH_CHECK(cio_future_set_result(s->peer->inbox, NULL));
  for (long i = 0; i < n_iter; i++) {
    BENCH_CHECK(cio_await(s->inbox, NULL));
    renew_inbox(s);
    if (!s->serves_first || i + 1 < n_iter)
      BENCH_CHECK(cio_future_set_result(s->peer->inbox, NULL));
  }
  return 0;
}

static uint64_t run_future(void) {
  struct side a = {.serves_first = true}, b = {0};
  a.peer = &b;
  b.peer = &a;
  BENCH_CHECK(cio_future_new(NULL, &a.inbox));
  BENCH_CHECK(cio_future_new(NULL, &b.inbox));
  cio_task *ta, *tb;
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_create_task(NULL, &ta, ponger, &a, NULL));
  BENCH_CHECK(cio_create_task(NULL, &tb, ponger, &b, NULL));
  BENCH_CHECK(cio_task_join(ta, NULL));
  BENCH_CHECK(cio_task_join(tb, NULL));
  uint64_t ns = bench_now_ns() - t0;
  cio_future_release(a.inbox);
  cio_future_release(b.inbox);
  return ns;
}

/* ---- peer: raw ucontext ping-pong ---- */

static ucontext_t uc_main, uc_a, uc_b;

static void peer_a(void) {
  for (long i = 0; i < n_iter; i++)
    swapcontext(&uc_a, &uc_b);
} /* returns to uc_main through uc_link */

static void peer_b(void) {
  for (;;)
    swapcontext(&uc_b, &uc_a);
}

static uint64_t run_peer(void) {
  static char stack_a[PEER_STACK], stack_b[PEER_STACK];
  getcontext(&uc_a);
  uc_a.uc_stack = (stack_t){.ss_sp = stack_a, .ss_size = sizeof stack_a};
  uc_a.uc_link = &uc_main;
  makecontext(&uc_a, peer_a, 0);
  getcontext(&uc_b);
  uc_b.uc_stack = (stack_t){.ss_sp = stack_b, .ss_size = sizeof stack_b};
  uc_b.uc_link = &uc_main;
  makecontext(&uc_b, peer_b, 0);
  uint64_t t0 = bench_now_ns();
  swapcontext(&uc_main, &uc_a);
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

static int bench_main(void *arg, void **result) {
  (void)result;
  double peer_ns = *(double *)arg;
  double switches = 2.0 * (double)n_iter;
  if (wanted("sleep0")) {
    uint64_t ns = best_of(run_sleep0);
    bench_report("switch/sleep0", switches, (double)ns, "ratio=%.3f",
                 (double)ns / peer_ns);
  }
  if (wanted("small")) {
    uint64_t ns = best_of(run_small);
    bench_report("switch/small", switches, (double)ns, "ratio=%.3f",
                 (double)ns / peer_ns);
  }
  if (wanted("future")) {
    uint64_t ns = best_of(run_future);
    bench_report("switch/future", switches, (double)ns, "ratio=%.3f",
                 (double)ns / peer_ns);
  }
  return 0;
}

int main(int argc, char **argv) {
  n_iter = bench_arg(argc, argv, 1, 1000000);
  only = argc > 2 ? argv[2] : NULL;
  /* The ratio needs the peer, so it runs unless another one is chosen. */
  double peer_ns = 0;
  if (only == NULL || strcmp(only, "ucontext") == 0) {
    peer_ns = (double)best_of(run_peer);
    bench_report("switch/ucontext", 2.0 * (double)n_iter, peer_ns, NULL);
  }
  BENCH_CHECK(cio_run(bench_main, &peer_ns));
  return 0;
}
