/* SQLite connections for tasks (casyncio/db.h): every call is a job for
 * the connection's own worker thread (see sqlite.h for the job's states
 * and invariants; sqlite_run.c is the worker's side).
 *
 * Waiting is cio_executor_submit() + cio_await() on the job's future.  A
 * task cancelled while it waits stops waiting at once; the job is marked
 * abandoned, interrupted if it runs (sqlite3_interrupt), dropped if it
 * has not started, and finished by the executor's dispose when it comes
 * back.  The connection stays usable: later jobs queue behind it. */
#include <math.h>

#include "db/sqlite/sqlite.h"

/* ---- jobs ------------------------------------------------------------ */

static size_t params_size(const cio_db_value *v, size_t n, int *rc) {
  size_t total = n * sizeof *v;
  for (size_t i = 0; i < n; i++) {
    if (v[i].type < CIO_DB_NULL || v[i].type > CIO_DB_BYTES ||
        (v[i].type >= CIO_DB_TEXT && v[i].p == NULL && v[i].len > 0)) {
      *rc = CIO_EINVAL;
      return 0;
    }
    if (v[i].type >= CIO_DB_TEXT)
      total += v[i].len + 1;
  }
  *rc = 0;
  return total;
}

/* A job with copies of `sql` and `params`, or NULL with `*rc` set. */
static struct job *job_new(cio_sqlite *c, int kind, const char *sql,
                           const cio_db_value *params, size_t n, int *rc) {
  if (sql == NULL || (n > 0 && params == NULL)) {
    *rc = CIO_EINVAL;
    return NULL;
  }
  size_t plen = params_size(params, n, rc);
  if (*rc < 0)
    return NULL;
  size_t slen = strlen(sql) + 1;
  struct job *j = cio__calloc(c->loop, 1, sizeof *j + plen + slen);
  if (j == NULL) {
    *rc = CIO_ENOMEM;
    return NULL;
  }
  j->kind = kind;
  j->refs = 1;
  j->conn = c;
  c->refs++; /* invariant 4: the job's */
  j->params = (cio_db_value *)(j + 1);
  j->nparams = n;
  char *p = (char *)(j->params + n);
  for (size_t i = 0; i < n; i++) {
    j->params[i] = params[i];
    if (params[i].type >= CIO_DB_TEXT) {
      if (params[i].len > 0)
        memcpy(p, params[i].p, params[i].len);
      p[params[i].len] = '\0';
      j->params[i].p = p;
      p += params[i].len + 1;
    }
  }
  j->sql = p;
  memcpy(j->sql, sql, slen);
  return j;
}

static void conn_unref(cio_sqlite *c) {
  CIO_ASSERT(c->refs > 0);
  if (--c->refs > 0)
    return;
  CIO_ASSERT(c->released);
  uv_mutex_destroy(&c->lock);
  cio__free(c->loop, c);
}

/* Stop the worker, close the handle and drop the user's reference: the
 * close is done (or the open failed).  Tasks still inside a call hold
 * the memory until they leave. */
static void conn_release(cio_sqlite *c) {
  CIO_ASSERT(!c->released);
  c->closing = true;
  cio_executor_free(c->ex); /* the worker is idle: a short join */
  c->ex = NULL;
  if (c->db != NULL)
    sqlite3_close_v2(c->db); /* the worker has stopped */
  c->db = NULL;
  c->released = true;
  conn_unref(c);
}

/* Loop thread: let go of `j` (invariant 3). */
static void job_finish(struct job *j) {
  if (--j->refs > 0)
    return;
  cio_sqlite *c = j->conn;
  cio_loop *loop = c->loop;
  cio_db_result_free(j->res);
  if (j->kind == JOB_CLOSE || (j->kind == JOB_OPEN && j->abandoned))
    conn_release(c);
  cio__free(loop, j);
  conn_unref(c); /* the job's */
}

static void job_dispose(void *arg, void *result, int status) {
  (void)result;
  (void)status;
  job_finish(arg);
}

/* Run `j` on the worker and wait.  Returns the job's status, and then
 * `j` is still the caller's; or CIO_ECANCELED with `*gone` set: the job
 * was abandoned and the executor finishes it. */
static int job_wait(struct job *j, bool *gone) {
  cio_sqlite *c = j->conn;
  cio_future *fut;
  *gone = false;
  int rc = cio_executor_submit(c->ex, cio__sqlite_job_work, j, job_dispose,
                               &fut);
  if (rc < 0)
    return rc;
  j->refs++; /* the executor's */
  rc = cio_await(fut, NULL);
  if (rc == CIO_ECANCELED && cio_future_is_cancelled(fut)) {
    /* The dispose lets go of the executor's hold, now or later. */
    uv_mutex_lock(&c->lock);
    j->abandoned = true;
    if (c->running == j && (j->kind == JOB_QUERY || j->kind == JOB_SCRIPT))
      sqlite3_interrupt(c->db);
    uv_mutex_unlock(&c->lock);
    *gone = true;
    job_finish(j); /* the task's hold */
  } else {
    /* It came back to us.  Cancelled after it finished, before we
     * resumed: take the outcome, so that no dispose runs for it. */
    if (rc == CIO_ECANCELED)
      (void)!cio_future_result(fut, NULL);
    j->refs--;
  }
  cio_future_release(fut);
  return rc;
}

/* A job nobody waits for (a ROLLBACK after a failed transaction): it runs
 * in its turn and is finished when it comes back. */
static void detached_done(cio_future *f, void *arg) {
  /* Take the outcome (its failure is expected), so no dispose runs. */
  (void)!cio_future_result(f, NULL);
  if (!cio_future_is_cancelled(f))
    job_finish(arg); /* the executor's hold: no dispose runs */
  job_finish(arg);
}

static void submit_detached(cio_sqlite *c, const char *sql) {
  if (c->closing)
    return; /* it would run after the close; closing rolls back anyway */
  int rc;
  struct job *j = job_new(c, JOB_QUERY, sql, NULL, 0, &rc);
  cio_future *fut;
  if (j == NULL)
    return;
  if (cio_executor_submit(c->ex, cio__sqlite_job_work, j, job_dispose, &fut) <
      0) {
    job_finish(j);
    return;
  }
  j->refs++; /* the executor's */
  if (cio_future_add_done_callback(fut, detached_done, j) < 0) {
    cio_future_cancel(fut); /* the dispose lets go of the executor's hold */
    job_finish(j);
  }
  cio_future_release(fut);
}

/* ---- the API --------------------------------------------------------- */

static int transaction(cio_sqlite *db, cio_sqlite_tx_fn fn, void *arg);

int cio_sqlite_open(cio_sqlite **out, const char *path,
                    const cio_sqlite_opts *opts, char *errbuf,
                    size_t errcap) {
  if (out != NULL)
    *out = NULL;
  if (errbuf != NULL && errcap > 0)
    errbuf[0] = '\0';
  if (out == NULL || path == NULL ||
      (opts != NULL &&
       (isnan(opts->busy_timeout) || opts->busy_timeout < 0)))
    return CIO_EINVAL;
  cio_loop *loop = cio_get_running_loop();
  if (loop == NULL || cio_current_task() == NULL)
    return CIO_EPERM;
  int rc = CIO_ENOMEM;
  cio_sqlite *c = cio__calloc(loop, 1, sizeof *c);
  if (c == NULL)
    return CIO_ENOMEM;
  c->loop = loop;
  c->refs = 1; /* the user's */
  if (uv_mutex_init(&c->lock) != 0)
    goto fail_free;
  rc = cio_thread_pool_new(&c->ex, 1);
  if (rc < 0)
    goto fail_mutex;
  struct job *j = job_new(c, JOB_OPEN, path, NULL, 0, &rc);
  if (j == NULL)
    goto fail_pool;
  if (opts != NULL)
    j->opts = *opts;
  bool gone;
  rc = job_wait(j, &gone);
  if (gone)
    return rc; /* the dispose closes and frees the connection */
  if (rc < 0 && errbuf != NULL && errcap > 0)
    snprintf(errbuf, errcap, "%s", j->errmsg[0] ? j->errmsg : cio_strerror(rc));
  if (rc < 0) {
    j->abandoned = true; /* job_finish frees the connection */
    job_finish(j);
    return rc;
  }
  job_finish(j);
  cio__debug_track(loop, "SQLite connection", c, NULL);
  *out = c;
  return 0;

fail_pool:
  cio_executor_free(c->ex);
fail_mutex:
  uv_mutex_destroy(&c->lock);
fail_free:
  cio__free(loop, c);
  return rc;
}

static int check_conn(cio_sqlite *db) {
  if (db == NULL)
    return CIO_EINVAL;
  if (db->closing)
    return CIO_ECLOSED;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  return 0;
}

static int run(cio_sqlite *db, int kind, const char *sql,
               const cio_db_value *params, size_t n, cio_db_result **res) {
  if (res != NULL)
    *res = NULL;
  int rc = check_conn(db);
  if (rc < 0)
    return rc;
  struct job *j = job_new(db, kind, sql, params, n, &rc);
  if (j == NULL)
    return rc;
  bool gone;
  rc = job_wait(j, &gone);
  if (gone)
    return rc;
  if (res != NULL && rc != CIO_ECANCELED) { /* cancelled: job_finish frees */
    *res = j->res;
    j->res = NULL;
  }
  job_finish(j); /* the job's hold on `db` goes last */
  return rc;
}

int cio_sqlite_query(cio_sqlite *db, const char *sql,
                     const cio_db_value *params, size_t n,
                     cio_db_result **res) {
  return run(db, JOB_QUERY, sql, params, n, res);
}

int cio_sqlite_execute(cio_sqlite *db, const char *sql,
                       const cio_db_value *params, size_t n,
                       int64_t *rows_affected) {
  cio_db_result *r;
  int rc = run(db, JOB_QUERY, sql, params, n, &r);
  if (rows_affected != NULL)
    *rows_affected = rc >= 0 ? cio_db_result_rows_affected(r) : -1;
  cio_db_result_free(r);
  return rc;
}

int cio_sqlite_exec_script(cio_sqlite *db, const char *sql,
                           cio_db_result **err_res) {
  return run(db, JOB_SCRIPT, sql, NULL, 0, err_res);
}

int cio_sqlite_transaction(cio_sqlite *db, cio_sqlite_tx_fn fn, void *arg) {
  if (fn == NULL)
    return CIO_EINVAL;
  int rc = check_conn(db);
  if (rc < 0)
    return rc;
  /* Held across fn, which may suspend elsewhere while another task
   * closes `db`: its calls, the COMMIT and the ROLLBACK then find it
   * closing (CIO_ECLOSED), not freed. */
  db->refs++;
  rc = transaction(db, fn, arg);
  conn_unref(db);
  return rc;
}

static int transaction(cio_sqlite *db, cio_sqlite_tx_fn fn, void *arg) {
  int rc = cio_sqlite_execute(db, "BEGIN", NULL, 0, NULL);
  if (rc < 0)
    return rc;
  rc = fn(db, arg);
  if (rc >= 0) {
    int crc = cio_sqlite_execute(db, "COMMIT", NULL, 0, NULL);
    if (crc == 0)
      return rc;
    rc = crc;
  }
  /* Queued now, so it runs before anything sent later, whether or not
   * this task is still there to see it. */
  submit_detached(db, "ROLLBACK");
  return rc;
}

int cio_sqlite_close(cio_sqlite *db) {
  if (db == NULL)
    return 0;
  if (db->closing)
    return 0; /* another task's close (or a cancelled one) goes on */
  cio__debug_untrack(db->loop, db);
  db->closing = true;
  int rc = 0;
  struct job *j = NULL;
  if (cio_current_task() != NULL)
    j = job_new(db, JOB_CLOSE, "", NULL, 0, &rc);
  if (j == NULL) {
    /* Outside a task: block until the queued statements ran. */
    conn_release(db);
    return 0;
  }
  bool gone;
  rc = job_wait(j, &gone);
  if (gone)
    return rc; /* the dispose frees the connection */
  job_finish(j);
  return rc == CIO_ECANCELED ? rc : 0;
}
