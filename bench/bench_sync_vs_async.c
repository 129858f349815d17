/* The lesson of step 1 of docs/tutorial.md as a benchmark: the same
 * I/O-bound workload written synchronously and with casyncio tasks.
 *
 *   bench_sync_vs_async [N] [WHICH]   N operations of each kind (default
 *                                     200); WHICH (sync, async) runs one
 *
 * The workload is 3N operations, each a wait for something outside the
 * program followed by a little real work:
 *   lookup   a name lookup: 1 ms for the resolver to answer, then the
 *            answer is formatted;
 *   read     a file read from slow storage: 0.2 ms of device latency, then
 *            a real 4 KiB pread() of a temporary file;
 *   query    a database query: 2 ms for the server, then the rows summed.
 * The latencies are simulated, as in examples/find_users.c and the tutorial
 * it translates: the synchronous version blocks the whole thread for each
 * wait (nanosleep), the casyncio version runs each operation as a task
 * whose wait (cio_sleep) suspends only that task.  The real work is the
 * same code in both.
 *
 * learn/sync       the operations one after another;
 * learn/casyncio   one task per operation, all joined; its line carries
 *                  ratio=sync/casyncio, the throughput gain, which should
 *                  be far above 2 (about 3N at the limit).
 *
 * With $CIO_PG_CONNINFO set (a PostgreSQL server; bench/suites/db.py
 * starts one), or WHICH = db, the same lesson with real database waits:
 * N queries that each keep the server busy for 2 ms (pg_sleep), sent
 *   learn-db/sync      over one blocking libpq connection, one after
 *                      another (what a program without a loop does);
 *   learn-db/casyncio  as N tasks over a pool of 10 connections; its line
 *                      carries ratio=sync/casyncio (about 10 at most: the
 *                      server runs one query per connection at a time). */
#include "bench.h"
#include "casyncio.h"
#include "casyncio/config.h"
#if CIO_HAVE_POSTGRES
#include <libpq-fe.h>

#include "casyncio/db.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

enum { LOOKUP, READ, QUERY, KINDS };

static const double latency_s[KINDS] = {0.001, 0.0002, 0.002};
static long n_ops;
static int data_fd;

/* The work after the wait; returns something so it cannot be elided. */
static long finish(int kind, long i) {
  switch (kind) {
  case LOOKUP: {
    char addr[32];
    return snprintf(addr, sizeof addr, "10.0.%ld.%ld", (i >> 8) & 255, i & 255);
  }
  case READ: {
    char buf[4096];
    ssize_t n = pread(data_fd, buf, sizeof buf, 0);
    if (n != (ssize_t)sizeof buf) {
      perror("pread");
      exit(1);
    }
    return buf[i % (long)sizeof buf];
  }
  default: {
    long sum = 0;
    for (long row = 0; row < 100; row++)
      sum += row * i;
    return sum;
  }
  }
}

/* ---- synchronous ---- */

static void blocking_wait(double seconds) {
  struct timespec left = {.tv_sec = 0, .tv_nsec = (long)(seconds * 1e9)};
  while (nanosleep(&left, &left) == -1 && errno == EINTR)
    continue;
}

static uint64_t run_sync(long *check) {
  uint64_t t0 = bench_now_ns();
  for (int kind = 0; kind < KINDS; kind++)
    for (long i = 0; i < n_ops; i++) {
      blocking_wait(latency_s[kind]);
      *check += finish(kind, i);
    }
  return bench_now_ns() - t0;
}

/* ---- casyncio ---- */

static int operation(void *arg, void **result) {
  long op = (long)(intptr_t)arg;
  int kind = (int)(op % KINDS);
  int rc = cio_sleep(latency_s[kind]);
  if (rc < 0)
    return rc;
  *result = (void *)(intptr_t)finish(kind, op / KINDS);
  return 0;
}

static int run_async(void *arg, void **result) {
  (void)result;
  long *check = arg;
  long total = KINDS * n_ops;
  cio_task **tasks = malloc((size_t)total * sizeof *tasks);
  if (tasks == NULL)
    return CIO_ENOMEM;
  for (long op = 0; op < total; op++)
    BENCH_CHECK(cio_create_task(NULL, &tasks[op], operation,
                                (void *)(intptr_t)op, NULL));
  for (long op = 0; op < total; op++) {
    void *value;
    BENCH_CHECK(cio_task_join(tasks[op], &value));
    *check += (long)(intptr_t)value;
  }
  free(tasks);
  return 0;
}

/* ---- database waits ---- */

#if CIO_HAVE_POSTGRES
#define DB_QUERY "SELECT pg_sleep(0.002), $1::int"

static const char *conninfo;
static cio_pg_pool *pool;

static uint64_t db_sync(void) {
  PGconn *pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "bench_sync_vs_async: %s", PQerrorMessage(pg));
    exit(1);
  }
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n_ops; i++) {
    char num[24];
    snprintf(num, sizeof num, "%ld", i);
    const char *vals[1] = {num};
    PGresult *r = PQexecParams(pg, DB_QUERY, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      fprintf(stderr, "bench_sync_vs_async: %s", PQerrorMessage(pg));
      exit(1);
    }
    PQclear(r);
  }
  uint64_t ns = bench_now_ns() - t0;
  PQfinish(pg);
  return ns;
}

static int db_query(void *arg, void **result) {
  (void)result;
  cio_db_value v = cio_db_int((intptr_t)arg);
  return cio_pg_pool_query(pool, DB_QUERY, &v, 1, NULL);
}

static int db_async(void *arg, void **result) {
  (void)result;
  cio_pg_pool_opts o = {.min_size = 10, .max_size = 10};
  BENCH_CHECK(cio_pg_pool_open(&pool, conninfo, &o));
  cio_call *calls = malloc((size_t)n_ops * sizeof *calls);
  if (calls == NULL)
    return CIO_ENOMEM;
  for (long i = 0; i < n_ops; i++)
    calls[i] = (cio_call){db_query, (void *)(intptr_t)i};
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_gather_calls(calls, (size_t)n_ops, NULL, NULL, false));
  *(uint64_t *)arg = bench_now_ns() - t0;
  free(calls);
  return cio_pg_pool_close(pool);
}

static void run_db(void) {
  uint64_t sync_ns = db_sync(), async_ns = 0;
  bench_report("learn-db/sync", (double)n_ops, (double)sync_ns, "n=%ld",
               n_ops);
  BENCH_CHECK(cio_run(db_async, &async_ns));
  bench_report("learn-db/casyncio", (double)n_ops, (double)async_ns,
               "n=%ld ratio=%.1f", n_ops, (double)sync_ns / (double)async_ns);
}
#endif

static int open_data_file(void) {
  char path[] = "/tmp/bench_sync_vs_async.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  unlink(path);
  char block[4096];
  memset(block, 'd', sizeof block);
  if (write(fd, block, sizeof block) != (ssize_t)sizeof block) {
    close(fd);
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  n_ops = bench_arg(argc, argv, 1, 200);
  const char *only = argc > 2 ? argv[2] : NULL;
  if (only != NULL && strcmp(only, "db") == 0) {
#if CIO_HAVE_POSTGRES
    conninfo = getenv("CIO_PG_CONNINFO");
    if (conninfo == NULL || conninfo[0] == '\0') {
      fprintf(stderr, "bench_sync_vs_async: db needs CIO_PG_CONNINFO\n");
      return 2;
    }
    run_db();
    return 0;
#else
    fprintf(stderr, "bench_sync_vs_async: built without PostgreSQL\n");
    return 2;
#endif
  }
  data_fd = open_data_file();
  if (data_fd < 0) {
    perror("bench_sync_vs_async: temporary file");
    return 1;
  }
  double ops = (double)(KINDS * n_ops);
  long check_sync = 0, check_async = 0;
  uint64_t sync_ns = 0;
  if (only == NULL || strcmp(only, "sync") == 0) {
    sync_ns = run_sync(&check_sync);
    bench_report("learn/sync", ops, (double)sync_ns, "n=%ld", n_ops);
  }
  if (only == NULL || strcmp(only, "async") == 0) {
    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(cio_run(run_async, &check_async));
    uint64_t async_ns = bench_now_ns() - t0;
    if (sync_ns != 0 && check_async != check_sync) {
      fprintf(stderr, "bench_sync_vs_async: results differ\n");
      return 1;
    }
    if (sync_ns != 0)
      bench_report("learn/casyncio", ops, (double)async_ns, "n=%ld ratio=%.1f",
                   n_ops, (double)sync_ns / (double)async_ns);
    else
      bench_report("learn/casyncio", ops, (double)async_ns, "n=%ld", n_ops);
  }
  close(data_fd);
#if CIO_HAVE_POSTGRES
  conninfo = getenv("CIO_PG_CONNINFO");
  if (only == NULL && conninfo != NULL && conninfo[0] != '\0')
    run_db();
#endif
  return 0;
}
