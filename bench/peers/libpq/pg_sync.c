/* The synchronous peer of bench_pg_select: blocking libpq, one
 * connection, N `SELECT $1::int` one after another (what a C program
 * without an event loop does, and psycopg2's model).
 *
 *   pg_sync N CONNINFO
 *
 * Prints `pg-sync/libpq <q/s> ops/s <ns> ns/op user_us=<per query>`. */
#define _POSIX_C_SOURCE 200809L
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double user_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: pg_sync N CONNINFO\n");
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  PGconn *pg = PQconnectdb(argv[2]);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "pg_sync: %s", PQerrorMessage(pg));
    return 1;
  }
  double u0 = user_seconds(), t0 = now();
  for (long i = 0; i < n; i++) {
    char num[24];
    snprintf(num, sizeof num, "%ld", i);
    const char *vals[1] = {num};
    PGresult *r = PQexecParams(pg, "SELECT $1::int", 1, NULL, vals, NULL,
                               NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK ||
        strtol(PQgetvalue(r, 0, 0), NULL, 10) != i) {
      fprintf(stderr, "pg_sync: %s", PQerrorMessage(pg));
      return 1;
    }
    PQclear(r);
  }
  double secs = now() - t0, user = user_seconds() - u0;
  printf("pg-sync/libpq %.0f ops/s %.2f ns/op user_us=%.2f\n", n / secs,
         secs * 1e9 / n, user * 1e6 / n);
  PQfinish(pg);
  return 0;
}
