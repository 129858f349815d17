/* PostgreSQL round trips: `SELECT $1::int`, N times, from casyncio.
 *
 *   bench_pg_select N pool|pipeline CONNINFO
 *
 * pool       100 tasks take turns on a pool of 10 connections; each task
 *            runs N/100 queries one after another (acquire, query,
 *            release), as asyncpg's pool.fetchval does;
 * pipeline   100 tasks share one connection, N/100 queries each: up to
 *            100 queries in flight in libpq's pipeline mode.
 *
 * Prints `pg-<mode>/casyncio <q/s> ops/s <ns> ns/op user_us=<client user
 * CPU per query in microseconds>` (bench/bench.h's format), for the timed
 * part only (connections are opened before it).  bench/suites/db.py runs
 * it against asyncpg, Go (pgx) and synchronous libpq. */
#include <sys/resource.h>

#include "bench.h"
#include "casyncio.h"
#include "casyncio/db.h"

#if CIO_HAVE_POSTGRES
enum { TASKS = 100, POOL = 10 };

static long n_queries;
static const char *mode, *conninfo;
static cio_pg_pool *pool;
static cio_pg_conn *shared;

static int check_value(cio_db_result *r, long want) {
  int64_t v = -1;
  int rc = cio_db_result_int(r, 0, 0, &v);
  cio_db_result_free(r);
  if (rc == 0 && v != want)
    rc = CIO_EPROTO;
  return rc;
}

static int worker(void *arg, void **result) {
  (void)result;
  long first = (long)(intptr_t)arg, per = n_queries / TASKS;
  for (long i = first; i < first + per; i++) {
    cio_db_value v = cio_db_int(i);
    cio_db_result *r;
    int rc;
    if (pool != NULL) {
      cio_pg_conn *c;
      rc = cio_pg_pool_acquire(pool, CIO_NO_TIMEOUT, &c);
      if (rc < 0)
        return rc;
      rc = cio_pg_query(c, "SELECT $1::int", &v, 1, &r);
      cio_pg_pool_release(pool, c);
    } else {
      rc = cio_pg_query(shared, "SELECT $1::int", &v, 1, &r);
    }
    if (rc == 0)
      rc = check_value(r, i);
    else
      cio_db_result_free(r);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static double user_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

static int bench(void *arg, void **result) {
  (void)arg;
  (void)result;
  char err[256];
  if (strcmp(mode, "pool") == 0) {
    cio_pg_pool_opts o = {.min_size = POOL, .max_size = POOL,
                          .max_queries = (uint64_t)n_queries + 1};
    BENCH_CHECK(cio_pg_pool_open(&pool, conninfo, &o));
  } else {
    int rc = cio_pg_connect(&shared, conninfo, 10, err, sizeof err);
    if (rc < 0) {
      fprintf(stderr, "bench_pg_select: %s", err);
      return rc;
    }
  }
  cio_call calls[TASKS];
  for (int t = 0; t < TASKS; t++)
    calls[t] = (cio_call){worker, (void *)(intptr_t)(t * (n_queries / TASKS))};
  double u0 = user_seconds();
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_gather_calls(calls, TASKS, NULL, NULL, false));
  uint64_t ns = bench_now_ns() - t0;
  double user = user_seconds() - u0;
  long done = n_queries / TASKS * TASKS;
  char name[64];
  snprintf(name, sizeof name, "pg-%s/casyncio", mode);
  bench_report(name, (double)done, (double)ns, "user_us=%.2f",
               user * 1e6 / (double)done);
  if (pool != NULL)
    (void)!cio_pg_pool_close(pool); /* the figures are printed */
  cio_pg_close(shared);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[2], "pool") && strcmp(argv[2], "pipeline"))) {
    fprintf(stderr, "usage: bench_pg_select N pool|pipeline CONNINFO\n");
    return 2;
  }
  n_queries = bench_arg(argc, argv, 1, 20000);
  mode = argv[2];
  conninfo = argv[3];
  BENCH_CHECK(cio_run(bench, NULL));
  return 0;
}
#else
int main(void) {
  fprintf(stderr, "bench_pg_select: casyncio was built without PostgreSQL\n");
  return 1;
}
#endif
