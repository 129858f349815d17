/* SQLite: a connection served by its own worker thread.  Real database
 * files in a temporary directory (and ":memory:"), real statements; the
 * loop must keep running while SQLite works. */
#include <math.h>
#include <sys/stat.h>

#include "casyncio.h"
#include "casyncio/db.h"
#include "test.h"

#define FOREVER                                                                \
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "           \
  "SELECT count(*) FROM c"

static char dir[64];

static const char *db_path(const char *name) {
  static char path[128];
  if (dir[0] == '\0') {
    snprintf(dir, sizeof dir, "/tmp/cio_sqlite.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
  }
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static void cleanup(void) {
  if (dir[0] != '\0') {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
  }
}

static void run_main(cio_task_fn fn) {
  CHECK_EQ(cio_run(fn, NULL), 0);
  cleanup();
}

static cio_sqlite *open_db(const char *name) {
  cio_sqlite *db;
  char err[256];
  int rc = cio_sqlite_open(&db, strcmp(name, ":memory:") ? db_path(name) : name,
                           NULL, err, sizeof err);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "open: %s (%s)", cio_strerror(rc), err);
  return db;
}

static void exec_ok(cio_sqlite *db, const char *sql) {
  cio_db_result *r;
  int rc = cio_sqlite_exec_script(db, sql, &r);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s: %s", sql,
              r ? cio_db_result_error(r)->message : cio_strerror(rc));
}

/* ---- values ---------------------------------------------------------- */

static int round_trip_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("types.db");
  exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, f REAL, "
              "b INTEGER, s TEXT, x BLOB, n TEXT)");
  static const unsigned char blob[] = {0, 1, 2, 0xff, 0, 'z'};
  const char *text = "h\xc3\xa9llo, w\xc3\xb6rld";
  cio_db_value p[] = {cio_db_int(INT64_MIN), cio_db_float(-1.5e300),
                      cio_db_bool(true), cio_db_text(text),
                      cio_db_bytes(blob, sizeof blob), cio_db_null()};
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_query(db,
                            "INSERT INTO t (i, f, b, s, x, n) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            p, 6, &r),
           0);
  CHECK_STR(cio_db_result_command_tag(r), "INSERT 0 1");
  CHECK_EQ(cio_db_result_rows_affected(r), 1);
  CHECK_EQ(cio_db_result_last_insert_id(r), 1);
  CHECK(cio_db_result_error(r) == NULL);
  cio_db_result_free(r);
  p[0] = cio_db_int(INT64_MAX);
  p[3] = cio_db_text("");
  p[4] = cio_db_bytes(NULL, 0);
  CHECK_EQ(cio_sqlite_execute(db,
                              "INSERT INTO t (i, f, b, s, x, n) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                              p, 6, NULL),
           0);

  CHECK_EQ(cio_sqlite_query(db, "SELECT i, f, b, s, x, n FROM t ORDER BY id",
                            NULL, 0, &r),
           0);
  CHECK_EQ(cio_db_result_nrows(r), 2);
  CHECK_EQ(cio_db_result_ncols(r), 6);
  CHECK_STR(cio_db_result_command_tag(r), "SELECT 2");
  CHECK_STR(cio_db_result_column_name(r, 4), "x");
  CHECK_EQ(cio_db_result_column_index(r, "s"), 3);
  CHECK_EQ(cio_db_result_column_index(r, "nope"), CIO_ENOENT);
  int64_t i;
  double f;
  bool b;
  size_t len;
  const void *data;
  CHECK_EQ(cio_db_result_int(r, 0, 0, &i), 0);
  CHECK(i == INT64_MIN);
  CHECK_EQ(cio_db_result_int(r, 1, 0, &i), 0);
  CHECK(i == INT64_MAX);
  CHECK_EQ(cio_db_result_type(r, 0, 0), CIO_DB_INT);
  CHECK_EQ(cio_db_result_float(r, 0, 1, &f), 0);
  CHECK(f == -1.5e300);
  CHECK_EQ(cio_db_result_type(r, 0, 1), CIO_DB_FLOAT);
  CHECK_EQ(cio_db_result_bool(r, 0, 2, &b), 0);
  CHECK(b);
  CHECK_STR(cio_db_result_text(r, 0, 3, &len), text);
  CHECK_EQ(len, strlen(text));
  CHECK_STR(cio_db_result_text(r, 1, 3, &len), "");
  CHECK_EQ(cio_db_result_bytes(r, 0, 4, &data, &len), 0);
  CHECK_EQ(len, sizeof blob);
  CHECK(memcmp(data, blob, sizeof blob) == 0);
  CHECK_EQ(cio_db_result_type(r, 0, 4), CIO_DB_BYTES);
  CHECK_EQ(cio_db_result_bytes(r, 1, 4, &data, &len), 0);
  CHECK_EQ(len, 0);
  /* NULL everywhere it can be asked. */
  CHECK(cio_db_result_is_null(r, 0, 5));
  CHECK_EQ(cio_db_result_type(r, 0, 5), CIO_DB_NULL);
  CHECK(cio_db_result_text(r, 0, 5, &len) == NULL);
  CHECK_EQ(cio_db_result_int(r, 0, 5, &i), CIO_ENODATA);
  CHECK_EQ(cio_db_result_float(r, 0, 5, &f), CIO_ENODATA);
  CHECK_EQ(cio_db_result_bool(r, 0, 5, &b), CIO_ENODATA);
  CHECK_EQ(cio_db_result_bytes(r, 0, 5, &data, &len), CIO_ENODATA);
  /* Conversions between forms. */
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "-9223372036854775808");
  CHECK_STR(cio_db_result_text(r, 0, 4, NULL), "\\x000102ff007a");
  CHECK_EQ(cio_db_result_int(r, 0, 3, &i), CIO_EINVAL);
  CHECK_EQ(cio_db_result_int(r, 0, 1, &i), CIO_ERANGE);
  /* Out of range. */
  CHECK_EQ(cio_db_result_int(r, 2, 0, &i), CIO_EINVAL);
  CHECK_EQ(cio_db_result_int(r, 0, 6, &i), CIO_EINVAL);
  CHECK(cio_db_result_column_name(r, 6) == NULL);
  cio_db_result_free(r);

  /* Text that reads as numbers, and expressions. */
  int rc = cio_sqlite_query(db,
                            "SELECT '42', '2.5', 'true', 7 / 2.0, "
                            "NULL AS nada, ? AS p",
                            (cio_db_value[]){cio_db_float(0.25)}, 1, &r);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s", cio_db_result_error(r)->message);
  CHECK_EQ(cio_db_result_int(r, 0, 0, &i), 0);
  CHECK_EQ(i, 42);
  CHECK_EQ(cio_db_result_float(r, 0, 1, &f), 0);
  CHECK(f == 2.5);
  CHECK_EQ(cio_db_result_bool(r, 0, 2, &b), 0);
  CHECK(b);
  CHECK_EQ(cio_db_result_float(r, 0, 3, &f), 0);
  CHECK(f == 3.5);
  CHECK_STR(cio_db_result_column_name(r, 4), "nada");
  CHECK_EQ(cio_db_result_float(r, 0, 5, &f), 0);
  CHECK(f == 0.25);
  cio_db_result_free(r);

  /* UPDATE and DELETE counts. */
  int64_t n;
  CHECK_EQ(cio_sqlite_execute(db, "UPDATE t SET s = 'u'", NULL, 0, &n), 0);
  CHECK_EQ(n, 2);
  CHECK_EQ(cio_sqlite_query(db, "DELETE FROM t WHERE id = ?",
                            (cio_db_value[]){cio_db_int(1)}, 1, &r),
           0);
  CHECK_STR(cio_db_result_command_tag(r), "DELETE 1");
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_query(db, "create table u (a)", NULL, 0, &r), 0);
  CHECK_STR(cio_db_result_command_tag(r), "CREATE TABLE");
  CHECK_EQ(cio_db_result_rows_affected(r), -1);
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_close(db), 0);
  return 0;
}

TEST(every_type_round_trips) {
  run_main(round_trip_main);
}

/* ---- errors ---------------------------------------------------------- */

static void check_error(cio_sqlite *db, const char *sql,
                        const cio_db_value *p, size_t n, const char *state,
                        const char *in_message) {
  cio_db_result *r = NULL;
  int rc = cio_sqlite_query(db, sql, p, n, &r);
  if (rc != CIO_EDB)
    test_fail(__FILE__, __LINE__, "%s: %s", sql, cio_strerror(rc));
  const cio_db_error *e = cio_db_result_error(r);
  CHECK(e != NULL);
  if (strcmp(e->sqlstate, state) != 0 || !strstr(e->message, in_message))
    test_fail(__FILE__, __LINE__, "%s: %s %s", sql, e->sqlstate, e->message);
  CHECK_STR(e->severity, "ERROR");
  CHECK(e->code != 0);
  CHECK_EQ(cio_db_result_nrows(r), 0);
  cio_db_result_free(r);
}

static int errors_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("errors.db");
  exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  check_error(db, "SELEC 1", NULL, 0, "42601", "syntax error");
  check_error(db, "SELECT * FROM missing", NULL, 0, "42P01", "no such table");
  CHECK_EQ(cio_sqlite_execute(db, "INSERT INTO t VALUES (1, 'a')", NULL, 0,
                              NULL),
           0);
  check_error(db, "INSERT INTO t VALUES (1, 'b')", NULL, 0, "23505",
              "UNIQUE constraint failed");
  check_error(db, "INSERT INTO t VALUES (?, ?)",
              (cio_db_value[]){cio_db_int(2), cio_db_null()}, 2, "23502",
              "NOT NULL");
  check_error(db, "SELECT 1; SELECT 2", NULL, 0, "HY000", "one statement");
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_exec_script(db, "INSERT INTO t VALUES (5, 'x'); bogus",
                                  &r),
           CIO_EDB);
  CHECK_STR(cio_db_result_error(r)->sqlstate, "42601");
  cio_db_result_free(r);
  /* The script ran up to the failing statement. */
  int64_t n;
  CHECK_EQ(cio_sqlite_query(db, "SELECT count(*) FROM t", NULL, 0, &r), 0);
  CHECK_EQ(cio_db_result_int(r, 0, 0, &n), 0);
  CHECK_EQ(n, 2);
  cio_db_result_free(r);
  /* Bad arguments. */
  CHECK_EQ(cio_sqlite_query(db, NULL, NULL, 0, &r), CIO_EINVAL);
  CHECK(r == NULL);
  CHECK_EQ(cio_sqlite_query(db, "SELECT ?", NULL, 1, &r), CIO_EINVAL);
  CHECK_EQ(cio_sqlite_close(db), 0);

  /* A file that cannot be opened. */
  char err[256];
  CHECK_EQ(cio_sqlite_open(&db, "/nonexistent/dir/x.db", NULL, err, sizeof err),
           CIO_EDB);
  CHECK(db == NULL);
  CHECK(strstr(err, "unable to open") != NULL);
  return 0;
}

TEST(errors_carry_sqlstate_and_message) {
  run_main(errors_main);
}

static int outside_main(void) {
  cio_sqlite *db;
  return cio_sqlite_open(&db, ":memory:", NULL, NULL, 0);
}

TEST(calls_outside_a_task_are_refused) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  CHECK_EQ(outside_main(), CIO_EPERM);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* ---- settings -------------------------------------------------------- */

static int settings_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("wal.db");
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_query(db, "PRAGMA journal_mode", NULL, 0, &r), 0);
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "wal");
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_query(db, "PRAGMA busy_timeout", NULL, 0, &r), 0);
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "5000");
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_close(db), 0);

  cio_sqlite_opts o = {.no_wal = true, .busy_timeout = 0.25};
  CHECK_EQ(cio_sqlite_open(&db, db_path("journal.db"), &o, NULL, 0), 0);
  CHECK_EQ(cio_sqlite_query(db, "PRAGMA journal_mode", NULL, 0, &r), 0);
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "delete");
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_query(db, "PRAGMA busy_timeout", NULL, 0, &r), 0);
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "250");
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_close(db), 0);

  o = (cio_sqlite_opts){.no_create = true};
  CHECK_EQ(cio_sqlite_open(&db, db_path("absent.db"), &o, NULL, 0), CIO_EDB);
  return 0;
}

TEST(wal_and_busy_timeout_by_default) {
  run_main(settings_main);
}

/* busy_timeout: NaN and negatives are refused before anything runs;
 * more than INT_MAX ms (CIO_NO_TIMEOUT included) is clamped there instead
 * of overflowing the int; below a millisecond is "do not wait". */
static const char *busy_ms(double t) {
  static char text[32];
  cio_sqlite *db;
  cio_sqlite_opts o = {.busy_timeout = t};
  CHECK_EQ(cio_sqlite_open(&db, db_path("busy.db"), &o, NULL, 0), 0);
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_query(db, "PRAGMA busy_timeout", NULL, 0, &r), 0);
  snprintf(text, sizeof text, "%s", cio_db_result_text(r, 0, 0, NULL));
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_close(db), 0);
  return text;
}

static int busy_opts_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  const double bad[] = {NAN, -NAN, -1, -0.001, -HUGE_VAL};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cio_sqlite *db = (cio_sqlite *)1;
    char err[64] = "x";
    CHECK_EQ(cio_sqlite_open(&db, db_path("busy.db"),
                             &(cio_sqlite_opts){.busy_timeout = bad[i]}, err,
                             sizeof err),
             CIO_EINVAL);
    CHECK(db == NULL);
    CHECK_STR(err, "");
  }
  CHECK_STR(busy_ms(1e12), "2147483647");
  CHECK_STR(busy_ms(CIO_NO_TIMEOUT), "2147483647");
  CHECK_STR(busy_ms(2147483.647), "2147483647");
  CHECK_STR(busy_ms(1.5), "1500");
  CHECK_STR(busy_ms(0.0004), "0");
  CHECK_STR(busy_ms(0), "5000");
  return 0;
}

TEST(busy_timeout_is_checked_and_clamped) {
  run_main(busy_opts_main);
}

/* The transaction is the connection's: while one task is inside
 * cio_sqlite_transaction, another task's statement on the same connection
 * runs inside it and is rolled back with it, and another task's
 * transaction cannot begin. */
struct shared_tx {
  cio_sqlite *db;
  cio_event *inside, *other_done;
};

static int shared_tx_fn(cio_sqlite *db, void *arg) {
  struct shared_tx *st = arg;
  CHECK_EQ(cio_sqlite_execute(db, "INSERT INTO t VALUES (1)", NULL, 0, NULL),
           0);
  cio_event_set(st->inside);
  CHECK_EQ(cio_event_wait(st->other_done), 0);
  return CIO_EINVAL; /* roll back */
}

static int other_tx_fn(cio_sqlite *db, void *arg) {
  (void)db;
  (void)arg;
  return 0;
}

static int shared_other(void *arg, void **result) {
  (void)result;
  struct shared_tx *st = arg;
  CHECK_EQ(cio_event_wait(st->inside), 0);
  CHECK_EQ(cio_sqlite_execute(st->db, "INSERT INTO t VALUES (2)", NULL, 0,
                              NULL),
           0);
  CHECK_EQ(cio_sqlite_transaction(st->db, other_tx_fn, NULL), CIO_EDB);
  cio_event_set(st->other_done);
  return 0;
}

static int shared_tx_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct shared_tx st = {.db = open_db("shared_tx.db")};
  exec_ok(st.db, "CREATE TABLE t (x INTEGER PRIMARY KEY)");
  CHECK_EQ(cio_event_new(&st.inside), 0);
  CHECK_EQ(cio_event_new(&st.other_done), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, shared_other, &st, NULL), 0);
  CHECK_EQ(cio_sqlite_transaction(st.db, shared_tx_fn, &st), CIO_EINVAL);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_query(st.db, "SELECT count(*) FROM t", NULL, 0, &r), 0);
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "0"); /* both rolled back */
  cio_db_result_free(r);
  cio_event_free(st.inside);
  cio_event_free(st.other_done);
  CHECK_EQ(cio_sqlite_close(st.db), 0);
  return 0;
}

TEST(a_transaction_takes_in_other_tasks_statements) {
  run_main(shared_tx_main);
}

/* Another connection holds the write lock: a writer waits up to its busy
 * timeout on its own thread, and the loop keeps running meanwhile. */
static int ticks;

static int ticker(void *arg, void **result) {
  (void)arg;
  (void)result;
  for (;;) {
    int rc = cio_sleep(0.01);
    if (rc < 0)
      return rc;
    ticks++;
  }
}

static int busy_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *a = open_db("busy.db"), *b;
  cio_sqlite_opts o = {.busy_timeout = 0.3};
  CHECK_EQ(cio_sqlite_open(&b, db_path("busy.db"), &o, NULL, 0), 0);
  exec_ok(a, "CREATE TABLE t (x)");
  exec_ok(a, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1)");
  cio_task *tick;
  CHECK_EQ(cio_create_task(NULL, &tick, ticker, NULL, NULL), 0);
  double t0 = cio_time();
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_query(b, "INSERT INTO t VALUES (2)", NULL, 0, &r),
           CIO_EDB);
  double waited = cio_time() - t0;
  CHECK_STR(cio_db_result_error(r)->sqlstate, "55P03");
  CHECK(strstr(cio_db_result_error(r)->message, "locked") != NULL);
  cio_db_result_free(r);
  CHECK(waited >= 0.25 && waited < 3.0);
  CHECK(ticks >= 10); /* the loop ran while b waited */
  exec_ok(a, "COMMIT");
  CHECK_EQ(cio_sqlite_execute(b, "INSERT INTO t VALUES (2)", NULL, 0, NULL), 0);
  cio_task_cancel(tick);
  CHECK_EQ(cio_task_join(tick, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_sqlite_close(a), 0);
  CHECK_EQ(cio_sqlite_close(b), 0);
  return 0;
}

TEST(busy_writer_waits_without_blocking_the_loop) {
  run_main(busy_main);
}

/* ---- concurrency ----------------------------------------------------- */

struct many {
  cio_sqlite *db;
  int i;
};

static int one_query(void *arg, void **result) {
  struct many *m = arg;
  cio_db_result *r;
  int rc = cio_sqlite_query(m->db, "SELECT ? * 2",
                            (cio_db_value[]){cio_db_int(m->i)}, 1, &r);
  if (rc < 0)
    return rc;
  int64_t v;
  rc = cio_db_result_int(r, 0, 0, &v);
  cio_db_result_free(r);
  *result = (void *)(intptr_t)v;
  return rc;
}

static int many_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  enum { N = 1000 };
  cio_sqlite *db = open_db(":memory:");
  static struct many m[N];
  static cio_call calls[N];
  static void *results[N];
  for (int i = 0; i < N; i++) {
    m[i] = (struct many){db, i};
    calls[i] = (cio_call){one_query, &m[i]};
  }
  CHECK_EQ(cio_gather_calls(calls, N, results, NULL, false), 0);
  for (int i = 0; i < N; i++)
    CHECK_EQ((intptr_t)results[i], 2 * i);
  CHECK_EQ(cio_sqlite_close(db), 0);
  return 0;
}

TEST(a_thousand_tasks_share_one_connection) {
  run_main(many_main);
}

/* ---- cancellation ---------------------------------------------------- */

static int forever(void *arg, void **result) {
  (void)result;
  return cio_sqlite_query(arg, FOREVER, NULL, 0, NULL);
}

static int cancel_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("cancel.db");
  exec_ok(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  cio_task *q, *tick;
  ticks = 0;
  CHECK_EQ(cio_create_task(NULL, &tick, ticker, NULL, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &q, forever, db, NULL), 0);
  CHECK_EQ(cio_sleep(0.2), 0);
  CHECK(ticks >= 5); /* the query runs on its thread, not on the loop */
  CHECK(!cio_task_is_done(q));
  double t0 = cio_time();
  cio_task_cancel(q);
  CHECK_EQ(cio_task_join(q, NULL), CIO_ECANCELED);
  CHECK(cio_time() - t0 < 0.1);
  /* The connection works at once: the interrupted statement is over. */
  cio_db_result *r;
  t0 = cio_time();
  CHECK_EQ(cio_sqlite_query(db, "SELECT x FROM t", NULL, 0, &r), 0);
  CHECK(cio_time() - t0 < 1.0);
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "1");
  cio_db_result_free(r);

  /* wait_for: the same through a timeout. */
  CHECK_EQ(cio_create_task(NULL, &q, forever, db, NULL), 0);
  CHECK_EQ(cio_wait_for(cio_task_future(q), 0.1, NULL), CIO_ETIMEDOUT);
  cio_task_release(q);
  CHECK_EQ(cio_sqlite_query(db, "SELECT x + 1 FROM t", NULL, 0, &r), 0);
  CHECK_STR(cio_db_result_text(r, 0, 0, NULL), "2");
  cio_db_result_free(r);

  /* A timeout scope around a query. */
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.1), 0);
  int rc = cio_sqlite_query(db, FOREVER, NULL, 0, NULL);
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT);

  /* Queued statements of a cancelled task never run. */
  CHECK_EQ(cio_create_task(NULL, &q, forever, db, NULL), 0);
  cio_task *q2;
  static struct many m = {0};
  m.db = db;
  CHECK_EQ(cio_create_task(NULL, &q2, one_query, &m, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  cio_task_cancel(q2);
  CHECK_EQ(cio_task_join(q2, NULL), CIO_ECANCELED);
  cio_task_cancel(q);
  CHECK_EQ(cio_task_join(q, NULL), CIO_ECANCELED);
  cio_task_cancel(tick);
  CHECK_EQ(cio_task_join(tick, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_sqlite_close(db), 0);
  return 0;
}

TEST(cancel_interrupts_the_query_and_the_connection_stays_usable) {
  run_main(cancel_main);
}

/* ---- transactions ---------------------------------------------------- */

static int insert_two(cio_sqlite *db, void *arg) {
  int rc = cio_sqlite_execute(db, "INSERT INTO t VALUES (1)", NULL, 0, NULL);
  if (rc < 0)
    return rc;
  rc = cio_sqlite_execute(db, "INSERT INTO t VALUES (2)", NULL, 0, NULL);
  if (rc < 0)
    return rc;
  if (arg != NULL)
    return *(int *)arg;
  return 7;
}

static int insert_then_hang(cio_sqlite *db, void *arg) {
  (void)arg;
  int rc = cio_sqlite_execute(db, "INSERT INTO t VALUES (3)", NULL, 0, NULL);
  if (rc < 0)
    return rc;
  return cio_sqlite_query(db, FOREVER, NULL, 0, NULL);
}

static int tx_task(void *arg, void **result) {
  (void)result;
  return cio_sqlite_transaction(arg, insert_then_hang, NULL);
}

static int64_t count_rows(cio_sqlite *db) {
  cio_db_result *r;
  int64_t n = -1;
  CHECK_EQ(cio_sqlite_query(db, "SELECT count(*) FROM t", NULL, 0, &r), 0);
  CHECK_EQ(cio_db_result_int(r, 0, 0, &n), 0);
  cio_db_result_free(r);
  return n;
}

static int tx_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("tx.db");
  exec_ok(db, "CREATE TABLE t (x INTEGER PRIMARY KEY)");
  CHECK_EQ(cio_sqlite_transaction(db, insert_two, NULL), 7);
  CHECK_EQ(count_rows(db), 2);
  exec_ok(db, "DELETE FROM t");
  int fail = CIO_EINVAL;
  CHECK_EQ(cio_sqlite_transaction(db, insert_two, &fail), CIO_EINVAL);
  CHECK_EQ(count_rows(db), 0);
  /* A statement failing inside rolls back what came before it. */
  exec_ok(db, "INSERT INTO t VALUES (2)");
  CHECK_EQ(cio_sqlite_transaction(db, insert_two, NULL), CIO_EDB);
  CHECK_EQ(count_rows(db), 1);
  /* Cancelled mid-transaction: rolled back, connection usable. */
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, tx_task, db, NULL), 0);
  CHECK_EQ(cio_sleep(0.1), 0);
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK_EQ(count_rows(db), 1);
  CHECK_EQ(cio_sqlite_transaction(db, insert_two, &(int){0}), CIO_EDB);
  exec_ok(db, "DELETE FROM t");
  CHECK_EQ(cio_sqlite_transaction(db, insert_two, &(int){0}), 0);
  CHECK_EQ(count_rows(db), 2);
  CHECK_EQ(cio_sqlite_close(db), 0);
  return 0;
}

TEST(transactions_commit_or_roll_back) {
  run_main(tx_main);
}

/* ---- closing --------------------------------------------------------- */

static int close_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("close.db");
  exec_ok(db, "CREATE TABLE t (x)");
  /* Queries queued by other tasks run before the close. */
  static struct many m[20];
  cio_task *t[20];
  for (int i = 0; i < 20; i++) {
    m[i] = (struct many){db, i};
    CHECK_EQ(cio_create_task(NULL, &t[i], one_query, &m[i], NULL), 0);
  }
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_sqlite_close(db), 0);
  for (int i = 0; i < 20; i++) {
    void *v;
    CHECK_EQ(cio_task_join(t[i], &v), 0);
    CHECK_EQ((intptr_t)v, 2 * i);
  }
  /* A closed file keeps its data. */
  db = open_db("close.db");
  CHECK_EQ(cio_sqlite_execute(db, "INSERT INTO t VALUES (1)", NULL, 0, NULL),
           0);
  CHECK_EQ(cio_sqlite_close(db), 0);
  db = open_db("close.db");
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_query(db, "SELECT x FROM t", NULL, 0, &r), 0);
  CHECK_EQ(cio_db_result_nrows(r), 1);
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_close(NULL), 0);
  /* Closing while a cancelled open is pending, and a cancelled close. */
  cio_task *q;
  CHECK_EQ(cio_create_task(NULL, &q, forever, db, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  cio_task_cancel(q);
  CHECK_EQ(cio_task_join(q, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_sqlite_close(db), 0);
  return 0;
}

TEST(close_waits_for_queued_statements) {
  run_main(close_main);
}

/* Closing while other tasks are inside calls: the statement running (a
 * slow count) and the one queued behind it finish with their results
 * (close waits for them, as aiosqlite's does); a transaction whose
 * function is suspended elsewhere finds the connection closing when it
 * comes back (CIO_ECLOSED), its ROLLBACK is skipped (closing rolls
 * back), and nothing is touched after the connection is freed. */
#define SLOW_COUNT                                                             \
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "            \
  "WHERE x < 1000000) SELECT count(*) FROM c"

struct inside {
  cio_sqlite *db;
  int rc;
  int64_t n;
};

static int slow_count(void *arg, void **result) {
  (void)result;
  struct inside *u = arg;
  cio_db_result *r = NULL;
  u->rc = cio_sqlite_query(u->db, SLOW_COUNT, NULL, 0, &r);
  if (u->rc == 0)
    CHECK_EQ(cio_db_result_int(r, 0, 0, &u->n), 0);
  cio_db_result_free(r);
  return 0;
}

static bool closed;

static int tx_naps(cio_sqlite *db, void *arg) {
  (void)arg;
  CHECK_EQ(cio_sqlite_execute(db, "INSERT INTO t VALUES (1)", NULL, 0, NULL),
           0);
  while (!closed) /* the connection closes meanwhile */
    CHECK_EQ(cio_sleep(0.02), 0);
  return cio_sqlite_execute(db, "INSERT INTO t VALUES (2)", NULL, 0, NULL);
}

static int tx_napping(void *arg, void **result) {
  (void)result;
  struct inside *u = arg;
  u->rc = cio_sqlite_transaction(u->db, tx_naps, NULL);
  return 0;
}

static int close_inside_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("close_inside.db");
  exec_ok(db, "CREATE TABLE t (x)");
  struct inside u[3] = {{db, 1, 0}, {db, 1, 0}, {db, 1, 0}};
  cio_task *t[3];
  CHECK_EQ(cio_create_task(NULL, &t[0], tx_napping, &u[0], NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &t[1], slow_count, &u[1], NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &t[2], slow_count, &u[2], NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0); /* the count runs, one more is queued */
  CHECK_EQ(u[1].rc, 1);
  double t0 = cio_time();
  CHECK_EQ(cio_sqlite_close(db), 0);
  closed = true;
  CHECK(cio_time() - t0 > 0.1); /* it waited for the counts */
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  CHECK_EQ(u[1].rc, 0); /* the close waited for them */
  CHECK_EQ(u[1].n, 1000000);
  CHECK_EQ(u[2].rc, 0);
  CHECK_EQ(u[2].n, 1000000);
  CHECK_EQ(u[0].rc, CIO_ECLOSED);
  /* Its first insert was rolled back by the close. */
  db = open_db("close_inside.db");
  cio_db_result *r;
  CHECK_EQ(cio_sqlite_query(db, "SELECT count(*) FROM t", NULL, 0, &r), 0);
  int64_t n = -1;
  CHECK_EQ(cio_db_result_int(r, 0, 0, &n), 0);
  CHECK_EQ(n, 0);
  cio_db_result_free(r);
  CHECK_EQ(cio_sqlite_close(db), 0);
  return 0;
}

TEST(close_while_tasks_are_inside_calls) {
  run_main(close_inside_main);
}

/* A cancellation that arrives after the worker finished the open (or a
 * query) but before the task resumed: the call returns CIO_ECANCELED,
 * the connection it opened is closed, the result it fetched freed, and
 * nothing is touched twice.  Found by the cancellation sweep (the open
 * freed its job through the future's dispose, then read it: a
 * use-after-free, and a leaked connection). */
static int cancelled_after_open(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = (cio_sqlite *)1;
  CHECK_EQ(cio_sqlite_open(&db, db_path("race.db"), NULL, NULL, 0),
           CIO_ECANCELED);
  CHECK(db == NULL);
  return 0;
}

static int querier(void *arg, void **result) {
  (void)result;
  cio_db_result *r = (cio_db_result *)1;
  CHECK_EQ(cio_sqlite_query(arg, "SELECT 1", NULL, 0, &r), CIO_ECANCELED);
  CHECK(r == NULL);
  return 0;
}

static int race_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_sqlite *db = open_db("race2.db");
  test_inject_cancel(1, 1, true); /* the next task: the querier */
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, querier, db, NULL), 0);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  exec_ok(db, "SELECT 2"); /* still usable */
  CHECK_EQ(cio_sqlite_close(db), 0);
  return 0;
}

TEST(cancel_racing_a_finished_job_leaks_nothing) {
  test_inject_cancel(1, 1, true); /* the main task of the first run */
  CHECK_EQ(cio_run(cancelled_after_open, NULL), 0);
  CHECK_EQ(cio_run(race_main, NULL), 0);
  cleanup();
}
