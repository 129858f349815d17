/* PostgreSQL: a real throwaway PostgreSQL cluster (tests/pg_cluster.c),
 * libpq in non-blocking pipeline mode driven by the loop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "casyncio.h"
#include "casyncio/db.h"
#include "pg_cluster.h"
#include "test.h"

/* ---- the shared cluster (a ctest fixture) ---------------------------- */

TEST(cluster_start) {
  struct pg_cluster c;
  char why[512];
  const char *dir = getenv("CIO_TEST_PG_DIR");
  if (dir == NULL)
    test_skip("CIO_TEST_PG_DIR is not set (run by ctest)");
  int rc = pg_cluster_start(&c, dir, why, sizeof why);
  if (rc == 1)
    test_skip("%s", why);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s", why);
}

TEST(cluster_stop) {
  const char *dir = getenv("CIO_TEST_PG_DIR");
  if (dir == NULL)
    test_skip("CIO_TEST_PG_DIR is not set (run by ctest)");
  struct pg_cluster c = {0};
  snprintf(c.dir, sizeof c.dir, "%s", dir);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "test -d %s/data", dir);
  if (system(cmd) != 0)
    test_skip("no cluster in %s", dir);
  const struct pg_cluster *shared = pg_test_cluster();
  c = *shared;
  pg_cluster_stop(&c, "fast", true);
}

/* ---- helpers --------------------------------------------------------- */

static const char *conninfo;

static cio_pg_conn *connect_ok(void) {
  cio_pg_conn *c;
  char err[512];
  int rc = cio_pg_connect(&c, conninfo, 10, err, sizeof err);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "connect: %s: %s", cio_strerror(rc), err);
  return c;
}

static cio_db_result *query_ok(cio_pg_conn *c, const char *sql,
                               const cio_db_value *p, size_t n) {
  cio_db_result *r = NULL;
  int rc = cio_pg_query(c, sql, p, n, &r);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s: %s %s", sql, cio_strerror(rc),
              r ? cio_db_result_error(r)->message : "");
  return r;
}

static void exec_ok(cio_pg_conn *c, const char *sql) {
  cio_db_result *r = NULL;
  int rc = cio_pg_exec_script(c, sql, &r);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s: %s %s", sql, cio_strerror(rc),
              r ? cio_db_result_error(r)->message : "");
  cio_db_result_free(r);
}

static int64_t int_of(cio_db_result *r, size_t row, size_t col) {
  int64_t v = -1;
  CHECK_EQ(cio_db_result_int(r, row, col, &v), 0);
  return v;
}

static void run_pg(cio_task_fn fn) {
  conninfo = pg_test_conninfo();
  CHECK_EQ(cio_run(fn, NULL), 0);
}

/* ---- connecting ------------------------------------------------------ */

static int connect_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_ok();
  CHECK(!cio_pg_is_broken(c));
  cio_db_result *r = query_ok(c, "SELECT pg_backend_pid(), current_user", NULL,
                              0);
  CHECK_EQ(int_of(r, 0, 0), cio_pg_backend_pid(c));
  CHECK_STR(cio_db_result_text(r, 0, 1, NULL), "postgres");
  CHECK_STR(cio_db_result_command_tag(r), "SELECT 1");
  cio_db_result_free(r);
  CHECK_EQ(cio_pg_close(c), 0);

  /* Over the Unix socket too. */
  char err[512];
  CHECK_EQ(cio_pg_connect(&c, pg_test_cluster()->unix_conninfo, 10, err,
                          sizeof err),
           0);
  r = query_ok(c, "SELECT 41 + 1", NULL, 0);
  CHECK_EQ(int_of(r, 0, 0), 42);
  cio_db_result_free(r);
  cio_pg_close(c);

  return 0;
}

TEST(connect_query_close) {
  run_pg(connect_main);
}

static int refused_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  /* Nothing listens on a port just freed. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  int port = ntohs(a.sin_port);
  close(fd);
  char info[128], err[512];
  cio_pg_conn *c;
  snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=postgres", port);
  CHECK_EQ(cio_pg_connect(&c, info, 5, err, sizeof err), CIO_ECONNREFUSED);
  CHECK(c == NULL);
  CHECK(strstr(err, "refused") != NULL);

  /* A server that accepts and never answers: the timeout. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_port = 0;
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(fd, 8) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=postgres",
           ntohs(a.sin_port));
  double t0 = cio_time();
  CHECK_EQ(cio_pg_connect(&c, info, 0.3, err, sizeof err), CIO_ETIMEDOUT);
  CHECK(cio_time() - t0 < 2.0);
  close(fd);

  /* The server says no: a database that does not exist. */
  snprintf(info, sizeof info, "%s dbname=no_such_db", conninfo);
  CHECK_EQ(cio_pg_connect(&c, info, 5, err, sizeof err), CIO_EDB);
  CHECK(strstr(err, "no_such_db") != NULL);
  CHECK_EQ(cio_pg_connect(&c, "port=notanumber x", 5, err, sizeof err),
           CIO_EINVAL);
  return 0;
}

TEST(connect_errors) {
  run_pg(refused_main);
}

/* ---- values ---------------------------------------------------------- */

static void check_types(cio_db_result *r) {
  int64_t i;
  double f;
  bool b;
  size_t len;
  const void *data;
  CHECK_EQ(cio_db_result_nrows(r), 1);
  CHECK_EQ(cio_db_result_int(r, 0, 0, &i), 0);
  CHECK_EQ(i, -32768);
  CHECK_EQ(cio_db_result_int(r, 0, 1, &i), 0);
  CHECK_EQ(i, 2147483647);
  CHECK_EQ(cio_db_result_int(r, 0, 2, &i), 0);
  CHECK(i == INT64_MIN);
  CHECK_EQ(cio_db_result_type(r, 0, 2), CIO_DB_INT);
  CHECK_EQ(cio_db_result_float(r, 0, 3, &f), 0);
  CHECK(f == 1.5f);
  CHECK_EQ(cio_db_result_float(r, 0, 4, &f), 0);
  CHECK(f == 0.1);
  CHECK_EQ(cio_db_result_type(r, 0, 4), CIO_DB_FLOAT);
  CHECK_EQ(cio_db_result_bool(r, 0, 5, &b), 0);
  CHECK(b);
  CHECK_EQ(cio_db_result_type(r, 0, 5), CIO_DB_BOOL);
  CHECK_STR(cio_db_result_text(r, 0, 6, &len), "h\xc3\xa9llo");
  CHECK_EQ(len, 6);
  CHECK_EQ(cio_db_result_bytes(r, 0, 7, &data, &len), 0);
  CHECK_EQ(len, 4);
  CHECK(memcmp(data, "\0\1\xff" "a", 4) == 0);
  CHECK_EQ(cio_db_result_type(r, 0, 7), CIO_DB_BYTES);
  CHECK_STR(cio_db_result_text(r, 0, 7, NULL), "\\x0001ff61");
  CHECK_STR(cio_db_result_text(r, 0, 8, NULL), "-12345678901234567890.0500");
  CHECK_EQ(cio_db_result_float(r, 0, 8, &f), 0);
  CHECK(f == -12345678901234567890.05);
  CHECK_EQ(cio_db_result_int(r, 0, 8, &i), CIO_EINVAL);
  CHECK_STR(cio_db_result_text(r, 0, 9, NULL), "2024-02-29 13:14:15.25");
  CHECK_STR(cio_db_result_text(r, 0, 10, NULL), "1999-12-31 23:59:59+00");
  CHECK_STR(cio_db_result_text(r, 0, 11, NULL), "0044-03-15 BC");
  CHECK_STR(cio_db_result_text(r, 0, 12, NULL), "{\"a\": [1, 2]}");
  CHECK(cio_db_result_is_null(r, 0, 13));
  CHECK_EQ(cio_db_result_int(r, 0, 13, &i), CIO_ENODATA);
  CHECK(cio_db_result_text(r, 0, 13, NULL) == NULL);
  CHECK_EQ(cio_db_result_int(r, 0, 14, &i), 0);
  CHECK_EQ(i, 12);
  CHECK_STR(cio_db_result_text(r, 0, 15, NULL), "NaN");
  CHECK_EQ(cio_db_result_float(r, 0, 15, &f), 0);
  CHECK(f != f);
  CHECK_STR(cio_db_result_column_name(r, 6), "t");
  CHECK_EQ(cio_db_result_column_index(r, "n"), 8);
  CHECK_EQ(cio_db_result_column_oid(r, 1), 23);
}

#define TYPES_SQL                                                              \
  "SELECT $1::int2 AS i2, $2::int4 AS i4, $3::int8 AS i8, $4::float4 AS f4, "  \
  "$5::float8 AS f8, $6::bool AS b, $7::text AS t, $8::bytea AS x, "           \
  "$9::numeric AS n, $10::timestamp AS ts, $11::timestamptz AS tz, "           \
  "$12::date AS d, $13::json AS j, $14::int AS nul, $15::numeric AS whole, "   \
  "'NaN'::float8 AS nan"

static int types_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_ok();
  exec_ok(c, "SET TimeZone = 'UTC'");
  cio_db_value p[15] = {
      cio_db_int(-32768),
      cio_db_int(2147483647),
      cio_db_int(INT64_MIN),
      cio_db_float(1.5),
      cio_db_float(0.1),
      cio_db_bool(true),
      cio_db_textn("h\xc3\xa9llo!!", 6),
      cio_db_bytes("\0\1\xff" "a", 4),
      cio_db_text("-12345678901234567890.0500"),
      cio_db_text("2024-02-29 13:14:15.25"),
      cio_db_text("1999-12-31 23:59:59"),
      cio_db_text("0044-03-15 BC"),
      cio_db_text("{\"a\": [1, 2]}"),
      cio_db_null(),
      cio_db_text("12.000"),
  };
  /* Text results, then binary results, then a prepared statement (binary
   * parameters) with both. */
  cio_db_result *r = query_ok(c, TYPES_SQL, p, 15);
  check_types(r);
  cio_db_result_free(r);
  CHECK_EQ(cio_pg_query_ex(c, TYPES_SQL, p, 15, CIO_PG_BINARY_RESULTS, &r), 0);
  check_types(r);
  cio_db_result_free(r);
  cio_pg_stmt *s;
  CHECK_EQ(cio_pg_prepare(c, TYPES_SQL, &s, NULL), 0);
  CHECK_EQ(cio_pg_stmt_nparams(s), 15);
  for (int flags = 0; flags <= CIO_PG_BINARY_RESULTS; flags++) {
    CHECK_EQ(cio_pg_stmt_query(s, p, 15, flags, &r), 0);
    check_types(r);
    cio_db_result_free(r);
  }
  CHECK_EQ(cio_pg_stmt_query(s, p, 3, 0, &r), CIO_EINVAL);
  cio_pg_stmt_free(s);

  /* Extremes and a table round trip. */
  exec_ok(c, "CREATE TEMP TABLE v (id serial PRIMARY KEY, i int8, f float8, "
             "b bool, t text, x bytea)");
  cio_db_value row[] = {cio_db_int(INT64_MAX), cio_db_float(-1e308),
                        cio_db_bool(false), cio_db_text(""),
                        cio_db_bytes(NULL, 0)};
  r = query_ok(c, "INSERT INTO v (i, f, b, t, x) VALUES ($1, $2, $3, $4, $5) "
                  "RETURNING id",
               row, 5);
  CHECK_STR(cio_db_result_command_tag(r), "INSERT 0 1");
  CHECK_EQ(cio_db_result_rows_affected(r), 1);
  CHECK_EQ(int_of(r, 0, 0), 1);
  cio_db_result_free(r);
  r = query_ok(c, "SELECT i, f, b, t, x FROM v", NULL, 0);
  int64_t i;
  double f;
  bool b;
  const void *data;
  size_t len;
  CHECK_EQ(cio_db_result_int(r, 0, 0, &i), 0);
  CHECK(i == INT64_MAX);
  CHECK_EQ(cio_db_result_float(r, 0, 1, &f), 0);
  CHECK(f == -1e308);
  CHECK_EQ(cio_db_result_bool(r, 0, 2, &b), 0);
  CHECK(!b);
  CHECK_STR(cio_db_result_text(r, 0, 3, NULL), "");
  CHECK_EQ(cio_db_result_bytes(r, 0, 4, &data, &len), 0);
  CHECK_EQ(len, 0);
  cio_db_result_free(r);
  int64_t n;
  CHECK_EQ(cio_pg_execute(c, "UPDATE v SET t = 'x'", NULL, 0, &n), 0);
  CHECK_EQ(n, 1);
  CHECK_EQ(cio_pg_execute(c, "CREATE TEMP TABLE w (a int)", NULL, 0, &n), 0);
  CHECK_EQ(n, -1);
  /* Bad parameters are refused before anything is sent. */
  CHECK_EQ(cio_pg_query(c, "SELECT $1", (cio_db_value[]){cio_db_textn("a\0b", 3)},
                        1, &r),
           CIO_EINVAL);
  CHECK_EQ(cio_pg_query(c, "SELECT 1", NULL, 1, &r), CIO_EINVAL);
  cio_pg_close(c);
  return 0;
}

TEST(every_type_round_trips) {
  run_pg(types_main);
}

/* ---- errors ---------------------------------------------------------- */

static void check_error(cio_pg_conn *c, const char *sql, const char *state,
                        const char *detail) {
  cio_db_result *r = NULL;
  int rc = cio_pg_query(c, sql, NULL, 0, &r);
  if (rc != CIO_EDB)
    test_fail(__FILE__, __LINE__, "%s: %s", sql, cio_strerror(rc));
  const cio_db_error *e = cio_db_result_error(r);
  CHECK(e != NULL);
  if (strcmp(e->sqlstate, state) != 0 ||
      (detail && strcmp(e->detail, detail) != 0))
    test_fail(__FILE__, __LINE__, "%s: %s %s (%s)", sql, e->sqlstate,
              e->message, e->detail);
  CHECK_STR(e->severity, "ERROR");
  CHECK(e->message[0] != '\0');
  cio_db_result_free(r);
}

static int errors_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_ok();
  exec_ok(c, "CREATE TEMP TABLE u (id int PRIMARY KEY)");
  check_error(c, "SELEC 1", "42601", NULL);
  check_error(c, "SELECT * FROM missing", "42P01", NULL);
  check_error(c, "SELECT 1 / 0", "22012", NULL);
  CHECK_EQ(cio_pg_execute(c, "INSERT INTO u VALUES (1)", NULL, 0, NULL), 0);
  check_error(c, "INSERT INTO u VALUES (1)", "23505",
              "Key (id)=(1) already exists.");
  /* The connection is fine after each. */
  cio_db_result *r = query_ok(c, "SELECT count(*) FROM u", NULL, 0);
  CHECK_EQ(int_of(r, 0, 0), 1);
  cio_db_result_free(r);
  /* An error in a pipeline aborts nothing else. */
  cio_db_result *script = NULL;
  CHECK_EQ(cio_pg_exec_script(c, "SELECT 1; SELECT nope; SELECT 3", &script),
           CIO_EDB);
  CHECK_STR(cio_db_result_error(script)->sqlstate, "42703");
  cio_db_result_free(script);
  CHECK(!cio_pg_is_broken(c));
  cio_pg_close(c);
  return 0;
}

/* Queries run as cached prepared statements; a statement gone stale
 * (its table changed, or DEALLOCATE ALL) fails once and is prepared
 * again. */
static int cache_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_ok();
  exec_ok(c, "CREATE TEMP TABLE sc (a int); INSERT INTO sc VALUES (1)");
  for (int i = 0; i < 3; i++) {
    cio_db_result *r = query_ok(c, "SELECT * FROM sc", NULL, 0);
    CHECK_EQ(cio_db_result_ncols(r), 1);
    cio_db_result_free(r);
  }
  cio_db_result *r = query_ok(c, "SELECT count(*) FROM pg_prepared_statements "
                                 "WHERE statement = 'SELECT * FROM sc'",
                              NULL, 0);
  CHECK_EQ(int_of(r, 0, 0), 1);
  cio_db_result_free(r);
  exec_ok(c, "ALTER TABLE sc ADD COLUMN b int");
  CHECK_EQ(cio_pg_query(c, "SELECT * FROM sc", NULL, 0, &r), CIO_EDB);
  CHECK_STR(cio_db_result_error(r)->sqlstate, "0A000");
  cio_db_result_free(r);
  r = query_ok(c, "SELECT * FROM sc", NULL, 0);
  CHECK_EQ(cio_db_result_ncols(r), 2);
  cio_db_result_free(r);
  exec_ok(c, "DEALLOCATE ALL");
  CHECK_EQ(cio_pg_query(c, "SELECT * FROM sc", NULL, 0, &r), CIO_EDB);
  CHECK_STR(cio_db_result_error(r)->sqlstate, "26000");
  cio_db_result_free(r);
  r = query_ok(c, "SELECT * FROM sc", NULL, 0);
  cio_db_result_free(r);
  /* A statement that does not prepare is not kept. */
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(cio_pg_query(c, "SELEC 1", NULL, 0, &r), CIO_EDB);
    CHECK_STR(cio_db_result_error(r)->sqlstate, "42601");
    cio_db_result_free(r);
  }
  /* More distinct statements than the cache holds. */
  for (int i = 0; i < 100; i++) {
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT %d", i);
    r = query_ok(c, sql, NULL, 0);
    CHECK_EQ(int_of(r, 0, 0), i);
    cio_db_result_free(r);
  }
  r = query_ok(c, "SELECT count(*) FROM pg_prepared_statements", NULL, 0);
  CHECK(int_of(r, 0, 0) <= 64);
  cio_db_result_free(r);
  cio_pg_close(c);
  return 0;
}

TEST(statement_cache) {
  run_pg(cache_main);
}

TEST(errors_carry_sqlstate_message_and_detail) {
  run_pg(errors_main);
}

/* ---- pipelining ------------------------------------------------------ */

struct job {
  cio_pg_conn *c;
  int i;
};

static size_t max_pending;

static int select_i(void *arg, void **result) {
  struct job *j = arg;
  cio_db_result *r;
  /* Sent before the tasks before it were answered: pipelined. */
  if (cio_pg_pending(j->c) > max_pending)
    max_pending = cio_pg_pending(j->c);
  int rc = cio_pg_query(j->c, "SELECT $1::int * 2",
                        (cio_db_value[]){cio_db_int(j->i)}, 1, &r);
  if (rc < 0)
    return rc;
  int64_t v;
  rc = cio_db_result_int(r, 0, 0, &v);
  cio_db_result_free(r);
  *result = (void *)(intptr_t)v;
  return rc;
}

static int pipeline_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  enum { N = 1000 };
  cio_pg_conn *c = connect_ok();
  static struct job jobs[N];
  static cio_call calls[N];
  static void *results[N];
  for (int i = 0; i < N; i++) {
    jobs[i] = (struct job){c, i};
    calls[i] = (cio_call){select_i, &jobs[i]};
  }
  /* Three at once on one connection (the tutorial's fetch_users). */
  max_pending = 0;
  CHECK_EQ(cio_gather_calls(calls, 3, results, NULL, false), 0);
  CHECK_EQ((intptr_t)results[2], 4);
  CHECK(max_pending >= 2); /* they were in flight together */
  max_pending = 0;
  CHECK_EQ(cio_gather_calls(calls, N, results, NULL, false), 0);
  for (int i = 0; i < N; i++)
    CHECK_EQ((intptr_t)results[i], 2 * i);
  CHECK(max_pending >= 999);
  CHECK_EQ(cio_pg_pending(c), 0);
  cio_pg_close(c);
  return 0;
}

TEST(a_thousand_queries_pipelined_on_one_connection) {
  run_pg(pipeline_main);
}

/* ---- cancellation ---------------------------------------------------- */

static int sleeper(void *arg, void **result) {
  (void)result;
  return cio_pg_query(arg, "SELECT pg_sleep(30)", NULL, 0, NULL);
}

static int cancel_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_ok();
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, sleeper, c, NULL), 0);
  CHECK_EQ(cio_sleep(0.3), 0);
  double t0 = cio_time();
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK(cio_time() - t0 < 0.5);
  /* The server stopped the sleep: the next query answers at once. */
  t0 = cio_time();
  cio_db_result *r = query_ok(c, "SELECT 7", NULL, 0);
  CHECK(cio_time() - t0 < 5.0);
  CHECK_EQ(int_of(r, 0, 0), 7);
  cio_db_result_free(r);

  /* wait_for and timeout scopes. */
  CHECK_EQ(cio_create_task(NULL, &t, sleeper, c, NULL), 0);
  CHECK_EQ(cio_wait_for(cio_task_future(t), 0.2, NULL), CIO_ETIMEDOUT);
  cio_task_release(t);
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.2), 0);
  int rc = cio_pg_query(c, "SELECT pg_sleep(30)", NULL, 0, NULL);
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT);
  t0 = cio_time();
  r = query_ok(c, "SELECT 8", NULL, 0);
  CHECK(cio_time() - t0 < 5.0);
  CHECK_EQ(int_of(r, 0, 0), 8);
  cio_db_result_free(r);
  CHECK(!cio_pg_is_broken(c));
  cio_pg_close(c);
  return 0;
}

TEST(cancel_mid_query_then_reuse) {
  run_pg(cancel_main);
}

/* The cancel request a cancelled query sends is a task of its own
 * ("postgres cancel request") running PQcancel on the default executor.
 * Cancelled in turn (a loop shutting down cancels every task), it must
 * let the connection send again and free what it holds: cancelled before
 * it ran, it left the connection waiting for it for ever; cancelled while
 * its job was still queued, the job's dispose freed the request before
 * the task read it (heap-use-after-free).  Found by the cancellation
 * sweep. */
static cio_task *find_task(const char *name) {
  cio_task *all[64];
  size_t n = cio_all_tasks(NULL, all, 64);
  for (size_t i = 0; i < n && i < 64; i++)
    if (strcmp(cio_task_get_name(all[i]), name) == 0)
      return all[i];
  return NULL;
}

/* A query the cancel request may never reach: short. */
static int short_sleeper(void *arg, void **result) {
  (void)result;
  return cio_pg_query(arg, "SELECT pg_sleep(1)", NULL, 0, NULL);
}

static int hold_worker(void *arg, void **result) {
  (void)result;
  usleep((useconds_t)(intptr_t)arg);
  return 0;
}

/* `busy` (queue the request's job behind jobs filling the default
 * executor's threads): cancel the request task once it waits on its job;
 * otherwise cancel it before it ran. */
static int cancel_request_cancelled(bool busy) {
  cio_pg_conn *c = connect_ok();
  cio_future *hold[40] = {0};
  if (busy)
    for (int i = 0; i < 40; i++)
      CHECK_EQ(cio_executor_submit(NULL, hold_worker, (void *)200000, NULL,
                                   &hold[i]),
               0);
  cio_task *q;
  CHECK_EQ(cio_create_task(NULL, &q, short_sleeper, c, NULL), 0);
  CHECK_EQ(cio_sleep(0.2), 0);
  cio_task_cancel(q);
  cio_task *req = NULL;
  for (int i = 0; i < 10 && req == NULL; i++) {
    CHECK_EQ(cio_sleep(0), 0);
    req = find_task("postgres cancel request");
  }
  CHECK(req != NULL);
  if (busy)
    CHECK_EQ(cio_sleep(0), 0); /* it runs, submits its job, waits */
  cio_task_cancel(req);
  CHECK_EQ(cio_task_join(q, NULL), CIO_ECANCELED);
  /* The connection sends again (the server may still be sleeping on
   * the old query when no cancel request reached it: wait for it). */
  cio_db_result *r = query_ok(c, "SELECT 9", NULL, 0);
  CHECK_EQ(int_of(r, 0, 0), 9);
  cio_db_result_free(r);
  cio_pg_close(c);
  for (int i = 0; i < 40; i++) {
    if (hold[i] != NULL) {
      cio_future_cancel(hold[i]);
      cio_future_release(hold[i]);
    }
  }
  return 0;
}

static int cancel_request_before_it_ran(void *arg, void **result) {
  (void)arg;
  (void)result;
  return cancel_request_cancelled(false);
}

static int cancel_request_with_its_job_queued(void *arg, void **result) {
  (void)arg;
  (void)result;
  return cancel_request_cancelled(true);
}

TEST(cancel_request_task_cancelled_before_it_ran) {
  run_pg(cancel_request_before_it_ran);
}

TEST(cancel_request_task_cancelled_with_its_job_queued) {
  run_pg(cancel_request_with_its_job_queued);
}

/* ---- transactions ---------------------------------------------------- */

static int tx_insert(cio_pg_conn *c, void *arg) {
  int rc = cio_pg_execute(c, "INSERT INTO tx VALUES (1), (2)", NULL, 0, NULL);
  if (rc < 0)
    return rc;
  return arg ? *(int *)arg : 5;
}

static int tx_hang(cio_pg_conn *c, void *arg) {
  (void)arg;
  int rc = cio_pg_execute(c, "INSERT INTO tx VALUES (3)", NULL, 0, NULL);
  if (rc < 0)
    return rc;
  return cio_pg_query(c, "SELECT pg_sleep(30)", NULL, 0, NULL);
}

static int tx_task(void *arg, void **result) {
  (void)result;
  return cio_pg_transaction(arg, tx_hang, NULL);
}

static int64_t count_tx(cio_pg_conn *c) {
  cio_db_result *r = query_ok(c, "SELECT count(*) FROM tx", NULL, 0);
  int64_t n = int_of(r, 0, 0);
  cio_db_result_free(r);
  return n;
}

static int tx_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_ok();
  exec_ok(c, "CREATE TEMP TABLE tx (id int PRIMARY KEY)");
  CHECK_EQ(cio_pg_transaction(c, tx_insert, NULL), 5);
  CHECK_EQ(count_tx(c), 2);
  int fail = CIO_EINVAL;
  exec_ok(c, "DELETE FROM tx");
  CHECK_EQ(cio_pg_transaction(c, tx_insert, &fail), CIO_EINVAL);
  CHECK_EQ(count_tx(c), 0);
  exec_ok(c, "INSERT INTO tx VALUES (2)");
  CHECK_EQ(cio_pg_transaction(c, tx_insert, NULL), CIO_EDB);
  CHECK_EQ(count_tx(c), 1);
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, tx_task, c, NULL), 0);
  CHECK_EQ(cio_sleep(0.3), 0);
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK_EQ(count_tx(c), 1);
  CHECK(!cio_pg_in_transaction(c)); /* no transaction left open */
  CHECK_EQ(cio_pg_execute(c, "BEGIN", NULL, 0, NULL), 0);
  CHECK(cio_pg_in_transaction(c));
  CHECK_EQ(cio_pg_execute(c, "ROLLBACK", NULL, 0, NULL), 0);
  CHECK(!cio_pg_in_transaction(c));
  cio_pg_close(c);
  return 0;
}

TEST(transactions_commit_or_roll_back) {
  run_pg(tx_main);
}

/* ---- COPY ------------------------------------------------------------ */

static int copy_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_ok();
  exec_ok(c, "CREATE TEMP TABLE cp (id int, name text)");
  cio_pg_copy *cp;
  CHECK_EQ(cio_pg_copy_start(c, "COPY cp FROM STDIN", &cp, NULL), 0);
  /* A query from another task waits for the copy to end. */
  cio_task *t;
  static struct job j;
  j = (struct job){c, 21};
  CHECK_EQ(cio_create_task(NULL, &t, select_i, &j, NULL), 0);
  char line[64];
  for (int i = 0; i < 5000; i++) {
    int n = snprintf(line, sizeof line, "%d\tname %d\n", i, i);
    CHECK_EQ(cio_pg_copy_write(cp, line, (size_t)n), 0);
  }
  int64_t rows;
  CHECK_EQ(cio_pg_copy_end(cp, &rows), 0);
  CHECK_EQ(rows, 5000);
  void *v;
  CHECK_EQ(cio_task_join(t, &v), 0);
  CHECK_EQ((intptr_t)v, 42);

  CHECK_EQ(cio_pg_copy_start(c, "COPY (SELECT * FROM cp ORDER BY id) TO STDOUT",
                             &cp, NULL),
           0);
  const void *data;
  size_t len;
  int got = 0, rc;
  while ((rc = cio_pg_copy_read(cp, &data, &len)) == 1) {
    int n = snprintf(line, sizeof line, "%d\tname %d\n", got, got);
    CHECK_EQ(len, (size_t)n);
    CHECK(memcmp(data, line, len) == 0);
    got++;
  }
  CHECK_EQ(rc, 0);
  CHECK_EQ(got, 5000);
  CHECK_EQ(cio_pg_copy_end(cp, &rows), 0);
  CHECK_EQ(rows, 5000);

  /* Bad data: the server rejects the copy, the connection goes on. */
  CHECK_EQ(cio_pg_copy_start(c, "COPY cp FROM STDIN", &cp, NULL), 0);
  CHECK_EQ(cio_pg_copy_write(cp, "x\ty\n", 4), 0);
  CHECK_EQ(cio_pg_copy_end(cp, &rows), CIO_EDB);
  /* Stopping a COPY TO early. */
  CHECK_EQ(cio_pg_copy_start(c, "COPY cp TO STDOUT", &cp, NULL), 0);
  CHECK_EQ(cio_pg_copy_read(cp, &data, &len), 1);
  CHECK_EQ(cio_pg_copy_end(cp, NULL), 0);
  /* Not a COPY. */
  cio_db_result *err = NULL;
  CHECK_EQ(cio_pg_copy_start(c, "SELECT 1", &cp, &err), CIO_EINVAL);
  CHECK_EQ(cio_pg_copy_start(c, "COPY nope FROM STDIN", &cp, &err), CIO_EDB);
  CHECK_STR(cio_db_result_error(err)->sqlstate, "42P01");
  cio_db_result_free(err);
  cio_db_result *r = query_ok(c, "SELECT count(*) FROM cp", NULL, 0);
  CHECK_EQ(int_of(r, 0, 0), 5000);
  cio_db_result_free(r);
  cio_pg_close(c);
  return 0;
}

TEST(copy_in_and_out) {
  run_pg(copy_main);
}

/* ---- LISTEN / NOTIFY ------------------------------------------------- */

static int listen_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *a = connect_ok(), *b = connect_ok();
  CHECK_EQ(cio_pg_listen(a, "jobs"), 0);
  CHECK_EQ(cio_pg_execute(b, "SELECT pg_notify('jobs', $1)",
                          (cio_db_value[]){cio_db_text("first")}, 1, NULL),
           0);
  CHECK_EQ(cio_pg_execute(b, "NOTIFY jobs, 'second'", NULL, 0, NULL), 0);
  cio_pg_notification *n;
  CHECK_EQ(cio_pg_wait_notification(a, &n), 0);
  CHECK_STR(n->channel, "jobs");
  CHECK_STR(n->payload, "first");
  CHECK_EQ(n->pid, cio_pg_backend_pid(b));
  cio_pg_notification_free(n);
  CHECK_EQ(cio_pg_wait_notification(a, &n), 0);
  CHECK_STR(n->payload, "second");
  cio_pg_notification_free(n);
  /* Nothing more: a timeout. */
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 0.2), 0);
  int rc = cio_pg_wait_notification(a, &n);
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT);
  cio_pg_close(a);
  cio_pg_close(b);
  return 0;
}

TEST(listen_notify) {
  run_pg(listen_main);
}

/* ---- closing a connection other tasks are using -------------------- */

/* asyncpg: closing a connection fails the operations other coroutines
 * have in progress on it (ConnectionDoesNotExistError); nothing crashes.
 * Here each call in progress returns CIO_ECONNRESET promptly, and the
 * connection is freed when the last of them has left (ASan and the
 * allocation count check that nothing is touched after, or leaked). */

/* A connection whose server process notices at once that its client
 * went away, even in pg_sleep: closed connections leave no backend
 * sleeping on behind them to crowd other tests' counts. */
static cio_pg_conn *connect_watched(void) {
  char info[1024];
  snprintf(info, sizeof info,
           "%s options='-c client_connection_check_interval=50'", conninfo);
  cio_pg_conn *c;
  char err[512];
  int rc = cio_pg_connect(&c, info, 10, err, sizeof err);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "connect: %s: %s", cio_strerror(rc), err);
  return c;
}

struct user {
  cio_pg_conn *c;
  int rc;       /* what the call in progress returned */
  double took;  /* seconds it waited */
};

/* Start `fn` in a task on `u`, let it reach its wait, close the
 * connection, and check every task's call failed at once. */
static void close_under(cio_pg_conn *c, cio_task_fn *fns, struct user *us,
                        size_t n) {
  cio_task *t[4];
  for (size_t i = 0; i < n; i++) {
    us[i] = (struct user){.c = c, .rc = 1};
    CHECK_EQ(cio_create_task(NULL, &t[i], fns[i], &us[i], NULL), 0);
  }
  CHECK_EQ(cio_sleep(0.2), 0); /* every task is suspended in its call */
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(us[i].rc, 1);
  CHECK_EQ(cio_pg_close(c), 0);
  for (size_t i = 0; i < n; i++) {
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
    CHECK_EQ(us[i].rc, CIO_ECONNRESET);
    CHECK(us[i].took < 1.0); /* the server would have taken 2 s */
  }
}

static int slow_query(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  double t0 = cio_time();
  cio_db_result *r = (cio_db_result *)1;
  u->rc = cio_pg_query(u->c, "SELECT pg_sleep(2)", NULL, 0, &r);
  u->took = cio_time() - t0 - 0.2;
  CHECK(r == NULL);
  return 0;
}

static int slow_script(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  double t0 = cio_time();
  u->rc = cio_pg_exec_script(u->c, "SELECT pg_sleep(2); SELECT 1", NULL);
  u->took = cio_time() - t0 - 0.2;
  return 0;
}

/* Queued behind the script, which holds the connection: waiting for its
 * turn to send. */
static int turn_query(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  CHECK_EQ(test_yield_n(2), 0); /* after the script took the connection */
  double t0 = cio_time();
  u->rc = cio_pg_execute(u->c, "SELECT 1", NULL, 0, NULL);
  u->took = cio_time() - t0 - 0.2;
  return 0;
}

static int turn_prepare(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  CHECK_EQ(test_yield_n(2), 0);
  double t0 = cio_time();
  cio_pg_stmt *s = (cio_pg_stmt *)1;
  u->rc = cio_pg_prepare(u->c, "SELECT $1::int", &s, NULL);
  u->took = cio_time() - t0 - 0.2;
  CHECK(s == NULL);
  return 0;
}

static int close_waiting_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct user us[4];
  /* Waiting for the results of a slow query. */
  cio_task_fn one[] = {slow_query};
  close_under(connect_watched(), one, us, 1);
  /* Waiting for the turn to send, behind a script that holds the
   * connection (a query and a prepare), and the script itself. */
  cio_task_fn turn[] = {slow_script, turn_query, turn_prepare};
  close_under(connect_watched(), turn, us, 3);
  /* Several pipelined queries awaiting their results. */
  cio_task_fn many[] = {slow_query, slow_query, slow_query, turn_query};
  close_under(connect_watched(), many, us, 4);
  return 0;
}

TEST(close_fails_queries_waiting_for_results_or_their_turn) {
  run_pg(close_waiting_main);
}

static int notified(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  double t0 = cio_time();
  cio_pg_notification *n = (cio_pg_notification *)1;
  u->rc = cio_pg_wait_notification(u->c, &n);
  u->took = cio_time() - t0 - 0.2;
  CHECK(n == NULL);
  return 0;
}

static int close_notify_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_watched(), *b = connect_watched();
  CHECK_EQ(cio_pg_listen(c, "gone"), 0);
  CHECK_EQ(cio_pg_execute(b, "NOTIFY gone, 'a'", NULL, 0, NULL), 0);
  cio_pg_notification *n;
  CHECK_EQ(cio_pg_wait_notification(c, &n), 0);
  CHECK_STR(n->payload, "a");
  cio_pg_notification_free(n);
  /* The waiter waits for a notification that never comes, beside a slow
   * query. */
  struct user us[2];
  cio_task_fn fns[] = {notified, slow_query};
  close_under(c, fns, us, 2);
  cio_pg_close(b);
  return 0;
}

TEST(close_fails_a_task_waiting_for_a_notification) {
  run_pg(close_notify_main);
}

/* COPY TO whose rows stop coming (the server sends its output in 8 kB
 * chunks: thousands of rows, then a pause): the task waits in
 * cio_pg_copy_read. */
static int copy_reader(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  double t0 = cio_time();
  cio_pg_copy *cp;
  CHECK_EQ(cio_pg_copy_start(u->c,
                             "COPY (SELECT g, CASE WHEN g = 5000 THEN "
                             "pg_sleep(2) END FROM generate_series(1, 6000) g) "
                             "TO STDOUT",
                             &cp, NULL),
           0);
  const void *data;
  size_t len;
  int rows = 0;
  while ((u->rc = cio_pg_copy_read(cp, &data, &len)) == 1)
    rows++;
  u->took = cio_time() - t0 - 0.2;
  CHECK(rows > 0 && rows < 5000);
  /* The copy object outlives the connection's close: it is ended (and
   * freed) as after any failure. */
  CHECK_EQ(cio_pg_copy_read(cp, &data, &len), CIO_ECONNRESET);
  CHECK_EQ(cio_pg_copy_end(cp, NULL), CIO_ECONNRESET);
  return 0;
}

/* COPY FROM: the task is between two writes (sleeping) when the
 * connection closes; its next write and the end fail. */
static int copy_writer(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  cio_pg_copy *cp;
  CHECK_EQ(cio_pg_copy_start(u->c, "COPY cpc FROM STDIN", &cp, NULL), 0);
  CHECK_EQ(cio_pg_copy_write(cp, "1\n", 2), 0);
  double t0 = cio_time();
  CHECK_EQ(cio_sleep(0.3), 0);
  u->rc = cio_pg_copy_write(cp, "2\n", 2);
  u->took = cio_time() - t0 - 0.3;
  int64_t rows = 0;
  CHECK_EQ(cio_pg_copy_end(cp, &rows), CIO_ECONNRESET);
  CHECK_EQ(rows, -1);
  return 0;
}

/* Queued behind the COPY: waiting for its turn. */
static int after_copy(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  CHECK_EQ(test_yield_n(4), 0);
  double t0 = cio_time();
  cio_pg_copy *cp = (cio_pg_copy *)1;
  u->rc = cio_pg_copy_start(u->c, "COPY cpc TO STDOUT", &cp, NULL);
  u->took = cio_time() - t0 - 0.2;
  CHECK(cp == NULL);
  return 0;
}

static int close_copy_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct user us[2];
  cio_task_fn out[] = {copy_reader, after_copy};
  cio_pg_conn *c = connect_watched();
  exec_ok(c, "CREATE TEMP TABLE cpc (id int)");
  close_under(c, out, us, 2);
  c = connect_watched();
  exec_ok(c, "CREATE TEMP TABLE cpc (id int)");
  cio_task_fn in[] = {copy_writer, after_copy};
  close_under(c, in, us, 2);
  return 0;
}

TEST(close_fails_a_copy_in_progress) {
  run_pg(close_copy_main);
}

/* A transaction whose function is suspended elsewhere (not in a call on
 * the connection) when the connection closes: its next query, the
 * ROLLBACK after it, and the transaction itself fail cleanly. */
static int tx_sleeps(cio_pg_conn *c, void *arg) {
  struct user *u = arg;
  CHECK_EQ(cio_sleep(0.3), 0);
  return u->rc = cio_pg_execute(c, "SELECT 1", NULL, 0, NULL);
}

static int tx_sleeper(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  double t0 = cio_time();
  int rc = cio_pg_transaction(u->c, tx_sleeps, u);
  u->took = cio_time() - t0 - 0.3;
  CHECK_EQ(rc, CIO_ECONNRESET);
  return 0;
}

static int tx_slow(cio_pg_conn *c, void *arg) {
  (void)arg;
  return cio_pg_execute(c, "SELECT pg_sleep(2)", NULL, 0, NULL);
}

static int tx_slow_task(void *arg, void **result) {
  (void)result;
  struct user *u = arg;
  double t0 = cio_time();
  u->rc = cio_pg_transaction(u->c, tx_slow, NULL);
  u->took = cio_time() - t0 - 0.2;
  return 0;
}

static int close_tx_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct user us[2];
  cio_task_fn fns[] = {tx_sleeper, tx_slow_task};
  close_under(connect_watched(), fns, us, 2);
  return 0;
}

TEST(close_fails_transactions_in_progress) {
  run_pg(close_tx_main);
}

/* A statement that outlives its connection: using it fails, freeing it
 * is safe (it holds the connection's memory until then). */
static int stmt_outlives_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = connect_watched();
  cio_pg_stmt *s;
  CHECK_EQ(cio_pg_prepare(c, "SELECT $1::int + 1", &s, NULL), 0);
  cio_db_result *r = NULL;
  CHECK_EQ(cio_pg_stmt_query(s, (cio_db_value[]){cio_db_int(1)}, 1, 0, &r),
           0);
  CHECK_EQ(int_of(r, 0, 0), 2);
  cio_db_result_free(r);
  /* A task waiting for a notification: the statement is used right after
   * the close, before that task has run again. */
  CHECK_EQ(cio_pg_listen(c, "never"), 0);
  struct user u = {.c = c, .rc = 1};
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, notified, &u, NULL), 0);
  CHECK_EQ(cio_sleep(0.1), 0);
  CHECK_EQ(cio_pg_close(c), 0);
  CHECK_EQ(cio_pg_stmt_query(s, (cio_db_value[]){cio_db_int(1)}, 1, 0, &r),
           CIO_ECONNRESET);
  CHECK_EQ(cio_task_join(t, NULL), 0);
  CHECK_EQ(u.rc, CIO_ECONNRESET);
  CHECK(r == NULL);
  CHECK_EQ(cio_pg_stmt_nparams(s), 1);
  cio_pg_stmt_free(s);
  return 0;
}

TEST(statement_freed_after_its_connection_closed) {
  run_pg(stmt_outlives_main);
}

/* ---- a server stopped mid-query -------------------------------------- */

static struct pg_cluster own;

static int stop_server(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_EQ(cio_sleep(0.3), 0);
  char cmd[1024];
  pg_cluster_ctl_cmd(&own, "-m immediate stop", cmd, sizeof cmd);
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_shell(&p, cmd, NULL), 0);
  int code;
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, 0);
  return cio_process_close(p);
}

static int killed_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c;
  char err[512];
  CHECK_EQ(cio_pg_connect(&c, own.conninfo, 10, err, sizeof err), 0);
  cio_task *killer;
  CHECK_EQ(cio_create_task(NULL, &killer, stop_server, NULL, NULL), 0);
  cio_db_result *r = NULL;
  double t0 = cio_time();
  int rc = cio_pg_query(c, "SELECT pg_sleep(30)", NULL, 0, &r);
  CHECK(cio_time() - t0 < 10);
  if (rc == CIO_EDB) /* the server's goodbye: admin shutdown / crash */
    CHECK(strncmp(cio_db_result_error(r)->sqlstate, "57P0", 4) == 0);
  else
    CHECK_EQ(rc, CIO_ECONNRESET);
  cio_db_result_free(r);
  CHECK(cio_pg_is_broken(c));
  CHECK_EQ(cio_pg_query(c, "SELECT 1", NULL, 0, NULL), CIO_ECONNRESET);
  CHECK_EQ(cio_task_join(killer, NULL), 0);
  cio_pg_close(c);
  CHECK_EQ(cio_pg_connect(&c, own.conninfo, 5, err, sizeof err),
           CIO_ECONNREFUSED);
  return 0;
}

TEST(server_stopped_immediately_mid_query) {
  char why[512], dir[128];
  snprintf(dir, sizeof dir, "/tmp/cio-pg-kill.%d", (int)getpid());
  int rc = pg_cluster_start(&own, dir, why, sizeof why);
  if (rc == 1)
    test_skip("%s", why);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s", why);
  pg_cluster_stop_at_exit(&own);
  CHECK_EQ(cio_run(killed_main, NULL), 0);
}
