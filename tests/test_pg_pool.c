/* PostgreSQL pools against a real server (tests/pg_cluster.c). */
#include "casyncio.h"
#include "casyncio/db.h"
#include "pg_cluster.h"
#include "test.h"

static const char *conninfo;

static void run_pg(cio_task_fn fn) {
  conninfo = pg_test_conninfo();
  CHECK_EQ(cio_run(fn, NULL), 0);
}

static int64_t scalar(cio_pg_conn *c, const char *sql) {
  cio_db_result *r;
  int64_t v = -1;
  CHECK_EQ(cio_pg_query(c, sql, NULL, 0, &r), 0);
  CHECK_EQ(cio_db_result_int(r, 0, 0, &v), 0);
  cio_db_result_free(r);
  return v;
}

/* ---- 1,000 tasks over a pool of 10 ----------------------------------- */

static cio_pg_pool *pool;
static size_t max_size;

static int pooled(void *arg, void **result) {
  intptr_t i = (intptr_t)arg;
  cio_db_result *r;
  int rc = cio_pg_pool_query(pool, "SELECT $1::int + 1",
                             (cio_db_value[]){cio_db_int(i)}, 1, &r);
  if (cio_pg_pool_size(pool) > max_size)
    max_size = cio_pg_pool_size(pool);
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
  cio_pg_pool_opts o = {.min_size = 2, .max_size = 10};
  /* Named, so that the count below sees this pool's connections only
   * (other tests share the cluster and may run at the same time). */
  char named[600];
  snprintf(named, sizeof named, "%s application_name=pool_of_10", conninfo);
  CHECK_EQ(cio_pg_pool_open(&pool, named, &o), 0);
  CHECK_EQ(cio_pg_pool_size(pool), 2);
  CHECK_EQ(cio_pg_pool_idle(pool), 2);
  static cio_call calls[N];
  static void *results[N];
  for (int i = 0; i < N; i++)
    calls[i] = (cio_call){pooled, (void *)(intptr_t)i};
  CHECK_EQ(cio_gather_calls(calls, N, results, NULL, false), 0);
  for (int i = 0; i < N; i++)
    CHECK_EQ((intptr_t)results[i], i + 1);
  CHECK_EQ(max_size, 10);
  CHECK_EQ(cio_pg_pool_size(pool), 10);
  CHECK_EQ(cio_pg_pool_idle(pool), 10);
  /* The server saw at most 10 of our connections. */
  cio_pg_conn *c;
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &c), 0);
  CHECK_EQ(scalar(c, "SELECT count(*) FROM pg_stat_activity "
                     "WHERE application_name = 'pool_of_10'"),
           10);
  CHECK_EQ(cio_pg_pool_release(pool, c), 0);
  CHECK_EQ(cio_pg_pool_close(pool), 0);
  return 0;
}

TEST(a_pool_of_10_under_1000_tasks) {
  run_pg(many_main);
}

/* ---- acquire, release, timeouts -------------------------------------- */

static int acquire_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_pool_opts o = {.max_size = 1};
  CHECK_EQ(cio_pg_pool_open(&pool, conninfo, &o), 0);
  CHECK_EQ(cio_pg_pool_size(pool), 0);
  cio_pg_conn *a, *b;
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  double t0 = cio_time();
  CHECK_EQ(cio_pg_pool_acquire(pool, 0.2, &b), CIO_ETIMEDOUT);
  CHECK(b == NULL);
  CHECK_NEAR(cio_time() - t0, 0.2, 0.15);
  /* Releasing hands the connection to the task waiting first. */
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, pooled, (void *)41, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK(!cio_task_is_done(t));
  int pid = cio_pg_backend_pid(a);
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  void *v;
  CHECK_EQ(cio_task_join(t, &v), 0);
  CHECK_EQ((intptr_t)v, 42);
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  CHECK_EQ(cio_pg_backend_pid(a), pid); /* the same connection, reused */
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  CHECK_EQ(cio_pg_pool_release(pool, a), CIO_EINVAL); /* twice */
  /* A cancelled acquire takes nothing. */
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  CHECK_EQ(cio_create_task(NULL, &t, pooled, (void *)1, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  cio_task_cancel(t);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  CHECK_EQ(cio_pg_pool_idle(pool), 1);
  CHECK_EQ(cio_pg_pool_close(pool), 0);
  return 0;
}

TEST(acquire_waits_times_out_and_reuses) {
  run_pg(acquire_main);
}

/* ---- health ---------------------------------------------------------- */

static int health_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_pool_opts o = {.max_size = 2, .max_queries = 3};
  CHECK_EQ(cio_pg_pool_open(&pool, conninfo, &o), 0);
  cio_pg_conn *a, *killer;
  CHECK_EQ(cio_pg_connect(&killer, conninfo, 5, NULL, 0), 0);

  /* A connection whose server process died is replaced. */
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  int pid = cio_pg_backend_pid(a);
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  CHECK_EQ(cio_pg_execute(killer, "SELECT pg_terminate_backend($1)",
                          (cio_db_value[]){cio_db_int(pid)}, 1, NULL),
           0);
  CHECK_EQ(cio_sleep(0.2), 0); /* the loop sees the socket close */
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  CHECK(cio_pg_backend_pid(a) != pid);
  CHECK_EQ(scalar(a, "SELECT 5"), 5);
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  CHECK_EQ(cio_pg_pool_size(pool), 1);

  /* A connection left in a transaction is not reused. */
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  pid = cio_pg_backend_pid(a);
  CHECK_EQ(cio_pg_execute(a, "BEGIN", NULL, 0, NULL), 0);
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  CHECK(cio_pg_backend_pid(a) != pid);
  CHECK(!cio_pg_in_transaction(a));
  pid = cio_pg_backend_pid(a);
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);

  /* max_queries: the third use is the last. */
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
    CHECK_EQ(cio_pg_backend_pid(a), pid);
    CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  }
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &a), 0);
  CHECK(cio_pg_backend_pid(a) != pid);
  CHECK_EQ(cio_pg_pool_release(pool, a), 0);
  cio_pg_close(killer);
  CHECK_EQ(cio_pg_pool_close(pool), 0);
  return 0;
}

TEST(broken_and_worn_connections_are_replaced) {
  run_pg(health_main);
}

static int close_pool(void *arg, void **result) {
  (void)result;
  return cio_pg_pool_close(arg);
}

static int idle_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_pool_opts o = {.min_size = 1, .max_size = 4, .idle_timeout = 0.2};
  CHECK_EQ(cio_pg_pool_open(&pool, conninfo, &o), 0);
  cio_pg_conn *c[4];
  for (int i = 0; i < 4; i++)
    CHECK_EQ(cio_pg_pool_acquire(pool, 5, &c[i]), 0);
  for (int i = 0; i < 4; i++)
    CHECK_EQ(cio_pg_pool_release(pool, c[i]), 0);
  CHECK_EQ(cio_pg_pool_size(pool), 4);
  CHECK_EQ(cio_sleep(0.6), 0);
  CHECK_EQ(cio_pg_pool_size(pool), 1); /* down to min_size */

  /* Close waits for the connection in use; acquire then fails. */
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &c[0]), 0);
  cio_task *closer;
  CHECK_EQ(cio_create_task(NULL, &closer, close_pool, pool, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK(!cio_task_is_done(closer));
  cio_pg_conn *d;
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &d), CIO_ESHUTDOWN);
  CHECK_EQ(scalar(c[0], "SELECT 3"), 3);
  CHECK_EQ(cio_pg_pool_release(pool, c[0]), 0);
  CHECK_EQ(cio_task_join(closer, NULL), 0);
  return 0;
}

TEST(idle_connections_close_and_close_waits_for_releases) {
  run_pg(idle_main);
}

/* Tasks waiting in acquire when the pool closes fail at once with
 * CIO_ESHUTDOWN, connections in use keep working until released; and a
 * waiter woken to try again (its pool had room again) that runs only
 * after the pool was closed and freed finds it closing, not freed. */
static int waits_in_acquire(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_conn *c = (cio_pg_conn *)1;
  double t0 = cio_time();
  int rc = cio_pg_pool_acquire(pool, 5, &c);
  CHECK(c == NULL);
  CHECK(cio_time() - t0 < 2);
  return rc;
}

static int close_acquire_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_pool_opts o = {.max_size = 1};
  CHECK_EQ(cio_pg_pool_open(&pool, conninfo, &o), 0);
  cio_pg_conn *c;
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &c), 0);
  cio_task *w, *closer;
  CHECK_EQ(cio_create_task(NULL, &w, waits_in_acquire, NULL, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK_EQ(cio_create_task(NULL, &closer, close_pool, pool, NULL), 0);
  CHECK_EQ(cio_task_join(w, NULL), CIO_ESHUTDOWN);
  CHECK(!cio_task_is_done(closer));
  CHECK_EQ(scalar(c, "SELECT 4"), 4);
  CHECK_EQ(cio_pg_pool_release(pool, c), 0);
  CHECK_EQ(cio_task_join(closer, NULL), 0);

  /* The race: the connection in use breaks (its server process is
   * terminated), its release wakes the waiter to open a new one, and
   * the pool is closed before the waiter runs. */
  CHECK_EQ(cio_pg_pool_open(&pool, conninfo, &o), 0);
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &c), 0);
  CHECK_EQ(cio_create_task(NULL, &w, waits_in_acquire, NULL, NULL), 0);
  cio_pg_conn *admin;
  CHECK_EQ(cio_pg_connect(&admin, conninfo, 10, NULL, 0), 0);
  CHECK_EQ(cio_pg_execute(admin, "SELECT pg_terminate_backend($1)",
                          (cio_db_value[]){cio_db_int(cio_pg_backend_pid(c))},
                          1, NULL),
           0);
  cio_pg_close(admin);
  int rc = cio_pg_execute(c, "SELECT 1", NULL, 0, NULL);
  CHECK(rc == CIO_ECONNRESET || rc == CIO_EDB);
  CHECK(cio_pg_is_broken(c));
  CHECK_EQ(cio_pg_pool_release(pool, c), 0); /* dropped; the waiter woken */
  CHECK_EQ(cio_pg_pool_size(pool), 0);
  CHECK_EQ(cio_pg_pool_close(pool), 0); /* nothing in use: done at once */
  CHECK_EQ(cio_task_join(w, NULL), CIO_ESHUTDOWN);
  return 0;
}

TEST(close_fails_waiting_acquires_and_outlives_them) {
  run_pg(close_acquire_main);
}

/* ---- what a task dump says ------------------------------------------- */

static cio_pg_conn *shared;

static int scripted(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_db_result *r = NULL;
  int rc = cio_pg_exec_script(shared, "SELECT pg_sleep(0.5)", &r);
  cio_db_result_free(r);
  return rc;
}

static int queried(void *arg, void **result) {
  (void)arg;
  (void)result;
  return scalar(shared, "SELECT 7") == 7 ? 0 : CIO_EDB;
}

/* The part of `text` about task `name`, up to the next task. */
static const char *task_section(const char *text, const char *name, char *out,
                                size_t cap) {
  char heading[128];
  snprintf(heading, sizeof heading, "\nTask '%s' ", name);
  const char *start = strstr(text, heading);
  CHECK(start != NULL);
  const char *end = strstr(start + 1, "\nTask '");
  size_t n = end ? (size_t)(end - start) : strlen(start);
  n = n < cap - 1 ? n : cap - 1;
  memcpy(out, start, n);
  out[n] = '\0';
  return out;
}

static int dump_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_pg_pool_opts o = {.max_size = 1};
  CHECK_EQ(cio_pg_pool_open(&pool, conninfo, &o), 0);
  CHECK_EQ(cio_pg_pool_acquire(pool, 5, &shared), 0);
  /* A task waiting for the pool, one holding the connection exclusively
   * (a script) and one waiting for its turn to send behind it. */
  cio_task *acq, *scr, *qry;
  CHECK_EQ(cio_create_task(NULL, &acq, pooled, (void *)1,
                           &(cio_task_opts){.name = "acquirer"}),
           0);
  CHECK_EQ(cio_create_task(NULL, &scr, scripted, NULL,
                           &(cio_task_opts){.name = "scripter"}),
           0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK_EQ(cio_create_task(NULL, &qry, queried, NULL,
                           &(cio_task_opts){.name = "querier"}),
           0);
  CHECK_EQ(cio_sleep(0.05), 0);

  static char text[65536];
  FILE *f = fmemopen(text, sizeof text - 1, "w");
  CHECK(f != NULL);
  CHECK_EQ(cio_loop_dump(NULL, f), 0);
  fclose(f);
  fprintf(stderr, "%s", text);
  char sec[4096];
  task_section(text, "acquirer", sec, sizeof sec);
  CHECK(strstr(sec, "waits on: PostgreSQL pool acquire: pool 0x") != NULL);
  CHECK(strstr(sec, "(1 of 1 open, 0 idle, 1 waiting)") != NULL);
  task_section(text, "scripter", sec, sizeof sec);
  CHECK(strstr(sec, "waits on: PostgreSQL result: script on connection 0x") !=
        NULL);
  task_section(text, "querier", sec, sizeof sec);
  CHECK(strstr(sec, "waits on: PostgreSQL connection turn: connection 0x") !=
        NULL);
  CHECK(strstr(sec, "simple query, 1 in flight, 1 waiting, held "
                    "exclusively)") != NULL);

  CHECK_EQ(cio_task_join(scr, NULL), 0);
  CHECK_EQ(cio_task_join(qry, NULL), 0);
  CHECK_EQ(cio_pg_pool_release(pool, shared), 0);
  void *v;
  CHECK_EQ(cio_task_join(acq, &v), 0);
  CHECK_EQ((intptr_t)v, 2);
  CHECK_EQ(cio_pg_pool_close(pool), 0);
  return 0;
}

TEST(a_dump_names_pool_acquire_and_turn_waits) {
  run_pg(dump_main);
}
