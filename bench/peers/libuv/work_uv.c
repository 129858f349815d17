/* Thread-pool round trip on bare libuv: queue a job that does nothing with
 * uv_queue_work, wait for its after-work callback, queue the next.  The
 * C peer of casyncio's executor benchmark.
 *
 *   work_uv [N]   jobs (default 100,000); best of 3 runs */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static long n_jobs, done;
static uv_work_t req;

static void work(uv_work_t *r) {
  (void)r;
}

static void after_work(uv_work_t *r, int status) {
  (void)status;
  if (++done < n_jobs)
    uv_queue_work(r->loop, r, work, after_work);
}

int main(int argc, char **argv) {
  n_jobs = argc > 1 ? atol(argv[1]) : 100000;
  if (n_jobs <= 0)
    return 2;
  uv_loop_t *loop = uv_default_loop();
  uint64_t best = UINT64_MAX;
  for (int r = 0; r < 3; r++) {
    done = 0;
    uint64_t t0 = uv_hrtime();
    uv_queue_work(loop, &req, work, after_work);
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t ns = uv_hrtime() - t0;
    if (ns < best)
      best = ns;
  }
  double ns_op = (double)best / (double)n_jobs;
  printf("executor/libuv %.0f ops/s %.2f ns/op\n", 1e9 / ns_op, ns_op);
  return 0;
}
