/* SQLite scenario for the cancellation sweep (`make test-cancel`): tasks
 * move money between accounts in transactions on one connection while
 * any of them may be cancelled at any statement.  The law, checked with
 * SQLite itself after the run: the total never changes (a transaction is
 * all or nothing, a cancelled one rolled back), every transfer that
 * reported its commit is there, none that never started is, and the
 * connection served the other tasks after each cancellation. */
#include <sqlite3.h>

#include "casyncio.h"
#include "casyncio/db.h"
#include "test.h"

#define ACCOUNTS 4
#define WORKERS 3
#define TRANSFERS 2

struct bank {
  char dir[64], path[96];
  cio_sqlite *db;
  int started, committed;
};

static void sql_sync(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
    test_fail(__FILE__, __LINE__, "%s: %s", sql, err ? err : "?");
}

static int64_t sql_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  CHECK_EQ(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

struct transfer {
  int from, to, amount;
};

static int move(cio_sqlite *db, void *arg) {
  struct transfer *t = arg;
  cio_db_value debit[] = {cio_db_int(t->amount), cio_db_int(t->from)};
  int rc = cio_sqlite_execute(
      db, "UPDATE account SET balance = balance - ? WHERE id = ?", debit, 2,
      NULL);
  if (rc < 0)
    return rc;
  cio_db_value credit[] = {cio_db_int(t->amount), cio_db_int(t->to)};
  rc = cio_sqlite_execute(
      db, "UPDATE account SET balance = balance + ? WHERE id = ?", credit, 2,
      NULL);
  if (rc < 0)
    return rc;
  cio_db_value log[] = {cio_db_int(t->from), cio_db_int(t->to),
                        cio_db_int(t->amount)};
  return cio_sqlite_execute(db, "INSERT INTO log VALUES (?, ?, ?)", log, 3,
                            NULL);
}

static void close_db(void *db) {
  (void)!cio_sqlite_close(db); /* suspends; the close goes on if cancelled */
}

/* Each worker has its own connection (tasks sharing one would share its
 * transaction, as in PostgreSQL: use one per task, or a lock). */
static int worker(void *arg, void **result) {
  (void)result;
  struct bank *b = arg;
  cio_sqlite *db;
  int rc = cio_sqlite_open(&db, b->path, NULL, NULL, 0);
  for (int i = 0; i < TRANSFERS && rc == 0; i++) {
    struct transfer t = {b->started % ACCOUNTS, (b->started + 1) % ACCOUNTS,
                         1 + b->started};
    b->started++;
    rc = cio_sqlite_transaction(db, move, &t);
    if (rc == 0)
      b->committed++;
  }
  if (db != NULL)
    close_db(db);
  return rc;
}

static int main_bank(void *arg, void **result) {
  (void)result;
  struct bank *b = arg;
  char err[256];
  TRY(cio_sqlite_open(&b->db, b->path, NULL, err, sizeof err));
  DEFER_CALL(close_db, b->db);
  cio_task *w[WORKERS];
  for (int i = 0; i < WORKERS; i++)
    TRY(test_spawn(&w[i], worker, b));
  /* A reader among the writers: it sees whole transfers only. */
  for (int i = 0; i < 2; i++) {
    cio_db_result *r;
    TRY(cio_sqlite_query(b->db, "SELECT sum(balance) FROM account", NULL, 0,
                         &r));
    int64_t total = -1;
    CHECK_EQ(cio_db_result_int(r, 0, 0, &total), 0);
    cio_db_result_free(r);
    CHECK_EQ(total, ACCOUNTS * 100);
  }
  for (int i = 0; i < WORKERS; i++)
    TRY(cio_task_await(w[i], NULL));
  return 0;
}

SCENARIO(sqlite_transfers) {
  struct bank b = {0};
  /* In memory when /dev/shm is there: the sweep runs it a hundred times. */
  snprintf(b.dir, sizeof b.dir, "%s/cio_sqlite_scn.XXXXXX",
           access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  CHECK(mkdtemp(b.dir) != NULL);
  snprintf(b.path, sizeof b.path, "%s/bank.db", b.dir);
  sqlite3 *db;
  CHECK_EQ(sqlite3_open(b.path, &db), SQLITE_OK);
  sql_sync(db, "CREATE TABLE account (id INTEGER PRIMARY KEY, balance INT);"
               "CREATE TABLE log (src INT, dst INT, amount INT);"
               "INSERT INTO account VALUES (0, 100), (1, 100), (2, 100), "
               "(3, 100);");
  sqlite3_close(db);

  CHECK_OUTCOME(test_run(main_bank, &b));

  CHECK_EQ(sqlite3_open(b.path, &db), SQLITE_OK);
  CHECK_EQ(sql_int(db, "SELECT sum(balance) FROM account"), ACCOUNTS * 100);
  int64_t logged = sql_int(db, "SELECT count(*) FROM log");
  CHECK(logged >= b.committed && logged <= b.started);
  /* Each logged transfer moved its money, and nothing else moved. */
  CHECK_EQ(sql_int(db, "SELECT count(*) FROM account a WHERE balance != "
                       "100 + (SELECT coalesce(sum(amount), 0) FROM log "
                       "WHERE dst = a.id) - (SELECT coalesce(sum(amount), 0) "
                       "FROM log WHERE src = a.id)"),
           0);
  sqlite3_close(db);
  if (!test_cancel_injected())
    CHECK_EQ(b.committed, WORKERS * TRANSFERS);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", b.dir);
  CHECK_EQ(system(cmd), 0);
}
