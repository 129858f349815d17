/* db_sync_vs_async: the same database waits done synchronously and as
 * tasks, and the speed-up.
 *
 * Each query makes the server work for 5 ms (pg_sleep) before it
 * answers: a stand-in for a query that scans, sorts or waits for a lock.
 * The synchronous program (plain blocking libpq, as psycopg2 would do it)
 * sends them one after another, so they take N x 5 ms.  With casyncio
 * every query is a task, and the tasks share a pool of 10 connections, so
 * ten queries wait at the same time and the whole run takes about a tenth
 * as long.  (On one connection they would still be pipelined, but a
 * server runs one connection's queries one at a time.)
 *
 * The server: $CIO_PG_CONNINFO when set, else a throwaway PostgreSQL
 * server started in /tmp for the run.  `db_sync_vs_async [N]`: N queries
 * (default 40).
 *
 * Expected output (times vary):
 *
 *   40 queries, each 5 ms of server time
 *   synchronous libpq, one after another: 0.215 s
 *   casyncio, 40 tasks over a pool of 10: 0.024 s
 *   speed-up: x8.9
 */
#define _POSIX_C_SOURCE 200809L

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "casyncio.h"
#include "casyncio/db.h"
#include "throwaway_cluster.h"

#define QUERY "SELECT pg_sleep(0.005), $1::int"

static long n_queries = 40;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- synchronous: blocking libpq ------------------------------------- */

static int run_sync(const char *conninfo, double *seconds) {
  PGconn *pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "connect: %s", PQerrorMessage(pg));
    PQfinish(pg);
    return -1;
  }
  double t0 = now();
  for (long i = 0; i < n_queries; i++) {
    char num[24];
    snprintf(num, sizeof num, "%ld", i);
    const char *vals[1] = {num};
    PGresult *r = PQexecParams(pg, QUERY, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      fprintf(stderr, "query: %s", PQerrorMessage(pg));
      PQclear(r);
      PQfinish(pg);
      return -1;
    }
    PQclear(r);
  }
  *seconds = now() - t0;
  PQfinish(pg);
  return 0;
}

/* ---- casyncio: one task per query, a pool of 10 ---------------------- */

static cio_pg_pool *pool;

static int one_query(void *arg, void **result) {
  (void)result;
  cio_db_value v = cio_db_int((intptr_t)arg);
  return cio_pg_pool_query(pool, QUERY, &v, 1, NULL);
}

static int run_async(const char *conninfo, double *seconds) {
  cio_pg_pool_opts o = {.min_size = 10, .max_size = 10};
  int rc = cio_pg_pool_open(&pool, conninfo, &o);
  if (rc < 0)
    return rc;
  cio_call *calls = calloc((size_t)n_queries, sizeof *calls);
  if (calls == NULL) {
    (void)!cio_pg_pool_close(pool); /* out of memory is what matters */
    return CIO_ENOMEM;
  }
  for (long i = 0; i < n_queries; i++)
    calls[i] = (cio_call){one_query, (void *)(intptr_t)i};
  double t0 = now();
  rc = cio_gather_calls(calls, (size_t)n_queries, NULL, NULL, false);
  *seconds = now() - t0;
  free(calls);
  int crc = cio_pg_pool_close(pool);
  return rc < 0 ? rc : crc;
}

static int compare(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct cluster cluster;
  const char *conninfo = cluster_conninfo(&cluster);
  if (conninfo == NULL)
    return CIO_ENOENT;
  double sync_s = 0, async_s = 0;
  printf("%ld queries, each 5 ms of server time\n", n_queries);
  int rc = run_sync(conninfo, &sync_s) == 0 ? 0 : CIO_EIO;
  if (rc == 0) {
    printf("synchronous libpq, one after another: %.3f s\n", sync_s);
    rc = run_async(conninfo, &async_s);
  }
  if (rc == 0) {
    printf("casyncio, %ld tasks over a pool of 10: %.3f s\n", n_queries,
           async_s);
    printf("speed-up: x%.1f\n", sync_s / async_s);
  }
  cluster_stop(&cluster);
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 1 && (n_queries = strtol(argv[1], NULL, 10)) <= 0) {
    fprintf(stderr, "usage: db_sync_vs_async [N]\n");
    return 2;
  }
  int rc = cio_run(compare, NULL);
  if (rc < 0) {
    fprintf(stderr, "db_sync_vs_async: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
