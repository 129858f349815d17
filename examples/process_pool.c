/* process_pool: CPU-bound work in worker processes, and surviving a crash.
 *
 * Mirrors the Python advice for CPU-bound work (ProcessPoolExecutor with
 * run_in_executor):
 *
 *   def count_primes(lo, hi): ...       # pure computation
 *
 *   with concurrent.futures.ProcessPoolExecutor(4) as pool:
 *       counts = await asyncio.gather(*(
 *           loop.run_in_executor(pool, count_primes, lo, lo + step)
 *           for lo in range(0, N, step)))
 *
 * A task that computes blocks its loop; a thread would not run Python
 * code in parallel, and in C it could still crash the whole program.  A
 * process pool runs the work in other processes: the workers are this
 * program started again (main() first calls cio_process_worker_main()
 * with the functions a job may name), a job sends bytes and gets bytes
 * back.  When a worker dies (here one kills itself, as a crash would), its
 * job fails with CIO_EPIPE (Python's BrokenProcessPool) and the pool
 * replaces the worker and goes on.
 *
 * Output:
 *
 *   primes below 1000000, counted in 4 worker processes: 78498
 *   a job whose worker crashed: broken pipe
 *   the pool still works: primes below 1000: 168
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casyncio.h"

/* ---- what the workers run ------------------------------------------- */

static int is_prime(uint64_t n) {
  if (n < 2)
    return 0;
  for (uint64_t d = 2; d * d <= n; d++)
    if (n % d == 0)
      return 0;
  return 1;
}

/* in: two uint64_t, [lo, hi); out: one uint64_t, the count. */
static int count_primes(const void *in, size_t in_len, void **out,
                        size_t *out_len) {
  uint64_t range[2], count = 0;
  if (in_len != sizeof range)
    return CIO_EINVAL;
  memcpy(range, in, sizeof range);
  for (uint64_t n = range[0]; n < range[1]; n++)
    count += (uint64_t)is_prime(n);
  if ((*out = malloc(sizeof count)) == NULL)
    return CIO_ENOMEM;
  memcpy(*out, &count, sizeof count);
  *out_len = sizeof count;
  return 0;
}

/* A job that crashes its worker. */
static int crash(const void *in, size_t in_len, void **out, size_t *out_len) {
  (void)in, (void)in_len, (void)out, (void)out_len;
  raise(SIGKILL);
  return 0;
}

static const cio_process_fn_entry worker_functions[] = {
    {"count_primes", count_primes},
    {"crash", crash},
};

/* ---- the program ------------------------------------------------------ */

struct job {
  cio_executor *pool;
  uint64_t range[2];
  uint64_t count;
};

static int run_count(void *arg, void **result) {
  (void)result;
  struct job *j = arg;
  void *out = NULL;
  size_t len = 0;
  int rc = cio_process_pool_run(j->pool, "count_primes", j->range,
                                sizeof j->range, &out, &len);
  if (rc == 0 && len == sizeof j->count)
    memcpy(&j->count, out, sizeof j->count);
  free(out);
  return rc;
}

static int amain(void *arg, void **result) {
  (void)result;
  cio_executor *pool = arg;
  enum { N = 1000000, PARTS = 4 };
  struct job jobs[PARTS];
  cio_call calls[PARTS];
  for (int i = 0; i < PARTS; i++) {
    jobs[i] = (struct job){pool, {(uint64_t)i * N / PARTS,
                                  (uint64_t)(i + 1) * N / PARTS}, 0};
    calls[i] = (cio_call){run_count, &jobs[i]};
  }
  int rc = cio_gather_calls(calls, PARTS, NULL, NULL, false);
  if (rc < 0)
    return rc;
  uint64_t total = 0;
  for (int i = 0; i < PARTS; i++)
    total += jobs[i].count;
  printf("primes below %d, counted in %d worker processes: %llu\n", N, PARTS,
         (unsigned long long)total);

  void *out = NULL;
  size_t len;
  rc = cio_process_pool_run(pool, "crash", NULL, 0, &out, &len);
  free(out);
  printf("a job whose worker crashed: %s\n", cio_strerror(rc));

  struct job small = {pool, {0, 1000}, 0};
  rc = run_count(&small, NULL);
  if (rc == 0)
    printf("the pool still works: primes below 1000: %llu\n",
           (unsigned long long)small.count);
  return rc;
}

int main(void) {
  /* In a worker process this serves jobs and never returns. */
  cio_process_worker_main(worker_functions,
                          sizeof worker_functions / sizeof worker_functions[0]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  cio_executor *pool;
  int rc = cio_process_pool_new(&pool, 4, NULL);
  if (rc == 0) {
    rc = cio_run(amain, pool);
    cio_executor_free(pool); /* shuts the workers down */
  }
  if (rc < 0) {
    fprintf(stderr, "process_pool: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
