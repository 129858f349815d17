/* The casyncio HTTP client under load: N GETs of a small body, C at a
 * time, keep-alive, through one session (as aiohttp's ClientSession with
 * its default connector), against a local server.
 *
 *   bench_http_client URL [N [C]]      (N = 20000, C = 100)
 *
 * C tasks each take the next request until N are done; each request reads
 * its body whole and checks the status.  Prints, in bench/run's format,
 *
 *   http_client/casyncio <req/s> ops/s <ns> ns/op user_us=.. sys_us=..
 *
 * where user_us and sys_us are this process's CPU microseconds per
 * request over the whole run (getrusage): bench/suites/http_client.py
 * runs the peers (Go net/http, Node's fetch, aiohttp on uvloop) the same
 * way and compares. */
#include <sys/resource.h>

#include "bench.h"
#include "casyncio.h"
#include "casyncio/http_client.h"

static struct {
  const char *url;
  long left;
  long failed;
  cio_http_session *s;
} run;

static int worker(void *arg, void **result) {
  (void)arg, (void)result;
  while (run.left > 0) {
    run.left--;
    cio_http_response *r;
    int rc = cio_http_get(run.s, run.url, &r);
    if (rc < 0) {
      if (run.failed++ == 0)
        fprintf(stderr, "bench_http_client: %s\n", cio_strerror(rc));
      continue;
    }
    void *body;
    size_t len;
    rc = cio_http_response_read(r, &body, &len, 1 << 20);
    if (rc < 0 || cio_http_response_status(r) != 200)
      run.failed++;
    else
      free(body);
    cio_http_response_close(r);
  }
  return 0;
}

static double cpu_us(const struct timeval *tv) {
  return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

static int bench(void *arg, void **result) {
  (void)result;
  long conc = *(long *)arg;
  BENCH_CHECK(cio_http_session_open(&run.s, NULL));
  long n = run.left;
  cio_call *calls = calloc((size_t)conc, sizeof *calls);
  for (long i = 0; i < conc; i++)
    calls[i] = (cio_call){worker, NULL};
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_gather_calls(calls, (size_t)conc, NULL, NULL, false));
  uint64_t t1 = bench_now_ns();
  getrusage(RUSAGE_SELF, &r1);
  free(calls);
  cio_http_session_close(run.s);
  if (run.failed > 0) {
    fprintf(stderr, "bench_http_client: %ld of %ld requests failed\n",
            run.failed, n);
    return CIO_EIO;
  }
  bench_report("http_client/casyncio", (double)n, (double)(t1 - t0),
               "user_us=%.3f sys_us=%.3f",
               (cpu_us(&r1.ru_utime) - cpu_us(&r0.ru_utime)) / (double)n,
               (cpu_us(&r1.ru_stime) - cpu_us(&r0.ru_stime)) / (double)n);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_http_client URL [N [CONCURRENCY]]\n");
    return 2;
  }
  run.url = argv[1];
  run.left = bench_arg(argc, argv, 2, 20000);
  long conc = bench_arg(argc, argv, 3, 100);
  int rc = cio_run(bench, &conc);
  if (rc < 0)
    fprintf(stderr, "bench_http_client: %s\n", cio_strerror(rc));
  return rc < 0;
}
