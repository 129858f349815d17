/* Executors and cross-thread wake-ups.
 *
 *   bench_executor [N]   jobs (default 100,000; process jobs N / 10)
 *
 * executor/thread_pool      N trivial jobs through a 4-thread pool, 64 in
 *                           flight (cio_executor_submit + cio_gather): the
 *                           cost of a hand-off to a worker and back.
 * executor/thread_pool_rtt  one job at a time (cio_run_in_executor): the
 *                           round-trip latency of a single job.
 * executor/process_pool     N / 10 trivial jobs (8 bytes each way) through
 *                           a 4-process pool, 4 tasks submitting.
 * threadsafe/wakeup         another thread calls call_soon_threadsafe on a
 *                           loop idle in run_forever; ns/op is the time
 *                           from the call to the callback running
 *                           (median in p50=, 99th percentile in p99=).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench.h"
#include "casyncio.h"

static long n_jobs;

static int trivial(void *arg, void **result) {
  *result = arg;
  return 0;
}

#define IN_FLIGHT 64

static int thread_pool_main(void *arg, void **result) {
  (void)result;
  cio_executor *ex = arg;
  cio_future *f[IN_FLIGHT];
  uint64_t t0 = bench_now_ns();
  for (long done = 0; done < n_jobs; done += IN_FLIGHT) {
    for (int i = 0; i < IN_FLIGHT; i++)
      BENCH_CHECK(cio_executor_submit(ex, trivial, NULL, NULL, &f[i]));
    BENCH_CHECK(cio_gather(f, IN_FLIGHT, NULL, NULL, false));
    for (int i = 0; i < IN_FLIGHT; i++)
      cio_future_release(f[i]);
  }
  long n = (n_jobs + IN_FLIGHT - 1) / IN_FLIGHT * IN_FLIGHT;
  bench_report("executor/thread_pool", (double)n, (double)(bench_now_ns() - t0),
               "threads=4 in_flight=%d", IN_FLIGHT);
  long rtt_n = n_jobs / 10;
  t0 = bench_now_ns();
  for (long i = 0; i < rtt_n; i++)
    BENCH_CHECK(cio_run_in_executor(ex, trivial, NULL, NULL, NULL));
  bench_report("executor/thread_pool_rtt", (double)rtt_n,
               (double)(bench_now_ns() - t0), NULL);
  return 0;
}

static int echo(const void *in, size_t in_len, void **out, size_t *out_len) {
  *out = malloc(in_len);
  if (*out == NULL)
    return CIO_ENOMEM;
  memcpy(*out, in, in_len);
  *out_len = in_len;
  return 0;
}

static const cio_process_fn_entry fns[] = {{"echo", echo}};

static int process_submitter(void *arg, void **result) {
  (void)result;
  cio_executor *pp = arg;
  for (long i = 0; i < n_jobs / 10 / 4; i++) {
    void *out;
    size_t len;
    BENCH_CHECK(cio_process_pool_run(pp, "echo", &i, sizeof i, &out, &len));
    free(out);
  }
  return 0;
}

static int process_pool_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_executor *pp;
  BENCH_CHECK(cio_process_pool_new(&pp, 4, NULL));
  cio_call calls[4];
  for (int i = 0; i < 4; i++)
    calls[i] = (cio_call){process_submitter, pp};
  long saved = n_jobs;
  n_jobs = 40 * 10; /* warm up: start the four workers */
  BENCH_CHECK(cio_gather_calls(calls, 4, NULL, NULL, false));
  n_jobs = saved;
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_gather_calls(calls, 4, NULL, NULL, false));
  bench_report("executor/process_pool", (double)(n_jobs / 10 / 4 * 4),
               (double)(bench_now_ns() - t0), "processes=4 in_flight=4");
  BENCH_CHECK(cio_executor_shutdown(pp, true, false));
  cio_executor_free(pp);
  return 0;
}

/* ---- call_soon_threadsafe wake-up latency ----------------------------- */

struct wake {
  cio_loop *loop;
  _Atomic uint64_t sent_ns;
  _Atomic uint64_t got_ns;
  atomic_int ready;
};

static void on_wake(void *arg) {
  struct wake *w = arg;
  atomic_store(&w->got_ns, bench_now_ns());
}

static void stop_loop(void *arg) {
  cio_loop_stop(arg);
}

static void *loop_thread(void *arg) {
  struct wake *w = arg;
  BENCH_CHECK(cio_loop_open(&w->loop, NULL));
  atomic_store(&w->ready, 1);
  BENCH_CHECK(cio_loop_run_forever(w->loop));
  BENCH_CHECK(cio_loop_close(w->loop));
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void bench_wakeup(long n) {
  struct wake w = {0};
  pthread_t th;
  pthread_create(&th, NULL, loop_thread, &w);
  while (!atomic_load(&w.ready))
    ;
  uint64_t *lat = malloc((size_t)n * sizeof *lat);
  uint64_t total = 0;
  for (long i = 0; i < n; i++) {
    /* Let the loop go back to sleep in epoll between wake-ups. */
    struct timespec pause = {0, 20000};
    nanosleep(&pause, NULL);
    atomic_store(&w.got_ns, 0);
    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(cio_loop_call_soon_threadsafe(w.loop, on_wake, &w));
    uint64_t got;
    while ((got = atomic_load(&w.got_ns)) == 0)
      sched_yield(); /* leave the CPU to the loop on small machines */
    lat[i] = got - t0;
    total += lat[i];
  }
  BENCH_CHECK(cio_loop_call_soon_threadsafe(w.loop, stop_loop, w.loop));
  pthread_join(th, NULL);
  qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
  bench_report("threadsafe/wakeup", (double)n, (double)total,
               "p50=%.0fns p99=%.0fns", (double)lat[n / 2],
               (double)lat[n * 99 / 100]);
  free(lat);
}

int main(int argc, char **argv) {
  cio_process_worker_main(fns, 1);
  n_jobs = bench_arg(argc, argv, 1, 100000);
  if (n_jobs < 40)
    n_jobs = 40;
  cio_executor *ex;
  BENCH_CHECK(cio_thread_pool_new(&ex, 4));
  BENCH_CHECK(cio_run(thread_pool_main, ex));
  cio_executor_free(ex);
  BENCH_CHECK(cio_run(process_pool_main, NULL));
  bench_wakeup(n_jobs / 10 > 10000 ? 10000 : n_jobs / 10);
  return 0;
}
