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
  size_t pool_size;
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

/* The suite's cluster, with the tables of scenario `name` in a schema of
 * its own and its connections named after it: ctest runs scenarios side
 * by side. */
static const char *scenario_conninfo(const char *name) {
  static char info[1024];
  snprintf(info, sizeof info,
           "%s application_name=%s options='-c search_path=%s'",
           pg_test_conninfo(), name, name);
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", name);
  sql_sync(pg_test_conninfo(), sql);
  return info;
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
  cio_pg_pool_opts o = {.max_size = b->pool_size};
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

static void run_bank(const char *name, size_t pool_size) {
  struct bank b = {.conninfo = scenario_conninfo(name),
                   .pool_size = pool_size};
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
                     "pg_backend_pid() AND application_name = "
                     "current_setting('application_name')"),
           0);
  if (!test_cancel_injected())
    CHECK_EQ(b.committed, WORKERS * TRANSFERS);
}

/* A connection for each worker (the main task's query may wait). */
SCENARIO(pg_pool_transfers) {
  run_bank("scn_pool", WORKERS);
}

/* One connection for all: every acquire but one waits, so cancellations
 * land on waiting acquires and on acquires just handed the connection
 * (which must give it back). */
SCENARIO(pg_pool_of_one_transfers) {
  run_bank("scn_pool_of_one", 1);
}

/* ---- tasks sharing one connection ------------------------------------
 *
 * Scripts hold the connection exclusively, so the queries behind them
 * wait for their turn, and a script waits until the pipeline is empty.
 * The law: every insert that reported success is there, none that never
 * started, and the connection still works after any cancellation. */

struct shared {
  const char *conninfo;
  cio_pg_conn *conn;
  int started, done;
};

struct sharer {
  struct shared *s;
  bool script;
};

static int sharer(void *arg, void **result) {
  (void)result;
  struct shared *s = ((struct sharer *)arg)->s;
  bool script = ((struct sharer *)arg)->script;
  for (int i = 0; i < 2; i++) {
    s->started++;
    int rc;
    if (script) {
      cio_db_result *r = NULL;
      rc = cio_pg_exec_script(s->conn,
                              "INSERT INTO scn_hits VALUES (1); "
                              "SELECT pg_sleep(0.01)",
                              &r);
      cio_db_result_free(r);
    } else {
      rc = cio_pg_execute(s->conn, "INSERT INTO scn_hits VALUES (2)", NULL,
                          0, NULL);
    }
    if (rc < 0)
      return rc;
    s->done++;
  }
  return 0;
}

static void close_conn(void *c) {
  (void)cio_pg_close(c);
}

static int main_shared(void *arg, void **result) {
  (void)result;
  struct shared *s = arg;
  TRY(cio_pg_connect(&s->conn, s->conninfo, 10, NULL, 0));
  DEFER_CALL(close_conn, s->conn);
  static struct sharer args[3];
  cio_task *t[3];
  for (int i = 0; i < 3; i++) {
    args[i] = (struct sharer){s, i == 0};
    TRY(test_spawn(&t[i], sharer, &args[i]));
  }
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  /* Whatever was cancelled, the connection still takes queries. */
  TRY(cio_pg_execute(s->conn, "SELECT 1", NULL, 0, NULL));
  return 0;
}

SCENARIO(pg_shared_connection_turns) {
  struct shared s = {.conninfo = scenario_conninfo("scn_shared")};
  sql_sync(s.conninfo, "DROP TABLE IF EXISTS scn_hits; "
                       "CREATE TABLE scn_hits (kind int);");
  CHECK_OUTCOME(test_run(main_shared, &s));
  long rows = sql_sync(s.conninfo, "SELECT count(*) FROM scn_hits");
  CHECK(rows >= s.done && rows <= s.started);
  if (!test_cancel_injected())
    CHECK_EQ(rows, 6);
}
