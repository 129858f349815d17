/* PostgreSQL scenario for the cancellation sweep (`make test-cancel`):
 * tasks take connections from a pool and move money between accounts in
 * transactions while any of them may be cancelled at any suspension (the
 * acquire, BEGIN, a statement, COMMIT).  The law, checked after the run: the total never changes, every transfer that reported its
 * commit is there and none that never started, the log matches the
 * balances, and no connection is left idle in a transaction (the pool
 * closed every one it handed out).  Checked with libpq directly, outside
 * the loop.  Run it under ctest: the sweep's runs
 * share the suite's PostgreSQL cluster (a fixture). */
#include <libpq-fe.h>

#include "casyncio.h"
#include "casyncio/db.h"
#include "pg_cluster.h"
#include "test.h"

#define ACCOUNTS 4
#define WORKERS 3
#define TRANSFERS 2

struct bank {
  const char *conninfo;
  cio_pg_pool *pool;
  int started, committed;
};

/* Run `sql` with libpq, synchronously (outside the loop: the law is
 * checked after the run), failing the case unless it succeeds; the first
 * value of the result as an integer (0 without rows). */
static long sql_sync(const char *conninfo, const char *sql) {
  PGconn *c = PQconnectdb(conninfo);
  if (PQstatus(c) != CONNECTION_OK)
    test_fail(__FILE__, __LINE__, "connect: %s", PQerrorMessage(c));
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    test_fail(__FILE__, __LINE__, "%s: %s", sql, PQerrorMessage(c));
  long v = st == PGRES_TUPLES_OK && PQntuples(r) > 0
               ? atol(PQgetvalue(r, 0, 0))
               : 0;
  PQclear(r);
  PQfinish(c);
  return v;
}

struct transfer {
  int from, to, amount;
};

static int move(cio_pg_conn *c, void *arg) {
  struct transfer *t = arg;
  cio_db_value debit[] = {cio_db_int(t->amount), cio_db_int(t->from)};
  int rc = cio_pg_execute(
      c, "UPDATE scn_account SET balance = balance - $1 WHERE id = $2", debit,
      2, NULL);
  if (rc < 0)
    return rc;
  cio_db_value credit[] = {cio_db_int(t->amount), cio_db_int(t->to)};
  rc = cio_pg_execute(
      c, "UPDATE scn_account SET balance = balance + $1 WHERE id = $2",
      credit, 2, NULL);
  if (rc < 0)
    return rc;
  cio_db_value log[] = {cio_db_int(t->from), cio_db_int(t->to),
                        cio_db_int(t->amount)};
  return cio_pg_execute(c, "INSERT INTO scn_log VALUES ($1, $2, $3)", log, 3,
                        NULL);
}

static int worker(void *arg, void **result) {
  (void)result;
  struct bank *b = arg;
  for (int i = 0; i < TRANSFERS; i++) {
    cio_pg_conn *c;
    int rc = cio_pg_pool_acquire(b->pool, 10, &c);
    if (rc < 0)
      return rc;
    struct transfer t = {b->started % ACCOUNTS, (b->started + 1) % ACCOUNTS,
                         1 + b->started};
    b->started++;
    rc = cio_pg_transaction(c, move, &t);
    CHECK_EQ(cio_pg_pool_release(b->pool, c), 0);
    if (rc < 0)
      return rc;
    b->committed++;
  }
  return 0;
}

static void close_pool(void *p) {
  /* Suspends until the connections in use come back; a cancellation
   * leaves it closing: call again. */
  while (cio_pg_pool_close(p) == CIO_ECANCELED)
    ;
}

static int main_bank(void *arg, void **result) {
  (void)result;
  struct bank *b = arg;
  cio_pg_pool_opts o = {.max_size = WORKERS};
  TRY(cio_pg_pool_open(&b->pool, b->conninfo, &o));
  DEFER_CALL(close_pool, b->pool);
  cio_task *w[WORKERS];
  for (int i = 0; i < WORKERS; i++)
    TRY(test_spawn(&w[i], worker, b));
  cio_db_result *r;
  TRY(cio_pg_pool_query(b->pool, "SELECT sum(balance) FROM scn_account",
                        NULL, 0, &r));
  int64_t total = -1;
  CHECK_EQ(cio_db_result_int(r, 0, 0, &total), 0);
  cio_db_result_free(r);
  CHECK_EQ(total, ACCOUNTS * 100);
  for (int i = 0; i < WORKERS; i++)
    TRY(cio_task_await(w[i], NULL));
  return 0;
}

SCENARIO(pg_pool_transfers) {
  struct bank b = {.conninfo = pg_test_conninfo()};
  sql_sync(b.conninfo,
       "DROP TABLE IF EXISTS scn_account, scn_log; "
       "CREATE TABLE scn_account (id int PRIMARY KEY, balance int); "
       "CREATE TABLE scn_log (src int, dst int, amount int); "
       "INSERT INTO scn_account VALUES (0, 100), (1, 100), (2, 100), "
       "(3, 100);");

  CHECK_OUTCOME(test_run(main_bank, &b));

  CHECK_EQ(sql_sync(b.conninfo, "SELECT sum(balance) FROM scn_account"),
           ACCOUNTS * 100);
  long logged = sql_sync(b.conninfo, "SELECT count(*) FROM scn_log");
  CHECK(logged >= b.committed && logged <= b.started);
  CHECK_EQ(sql_sync(b.conninfo,
                     "SELECT count(*) FROM scn_account a WHERE balance != "
                     "100 + (SELECT coalesce(sum(amount), 0) FROM scn_log "
                     "WHERE dst = a.id) - (SELECT coalesce(sum(amount), 0) "
                     "FROM scn_log WHERE src = a.id)"),
           0);
  /* The pool closed its connections: none is left holding a transaction
   * (the server notices a closed socket at once). */
  CHECK_EQ(sql_sync(b.conninfo,
                     "SELECT count(*) FROM pg_stat_activity WHERE state "
                     "LIKE 'idle in transaction%' AND pid != "
                     "pg_backend_pid()"),
           0);
  if (!test_cancel_injected())
    CHECK_EQ(b.committed, WORKERS * TRANSFERS);
}
