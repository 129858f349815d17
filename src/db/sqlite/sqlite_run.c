/* The worker thread's side of a SQLite connection: open, run one
 * statement into a result, run a script, close.  Everything here runs on
 * the connection's own thread and allocates with malloc (results are
 * freed on the loop thread with cio_db_result_free). */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>

#include "db/sqlite/sqlite.h"

/* PostgreSQL's SQLSTATE for a SQLite result code, so that code checking
 * "23505" works on both. */
static const char *sqlstate_of(int code, const char *msg) {
  switch (code) {
  case SQLITE_CONSTRAINT_UNIQUE:
  case SQLITE_CONSTRAINT_PRIMARYKEY:
    return "23505";
  case SQLITE_CONSTRAINT_NOTNULL:
    return "23502";
  case SQLITE_CONSTRAINT_FOREIGNKEY:
    return "23503";
  case SQLITE_CONSTRAINT_CHECK:
    return "23514";
  }
  switch (code & 0xff) {
  case SQLITE_CONSTRAINT:
    return "23000";
  case SQLITE_INTERRUPT:
    return "57014";
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return "55P03";
  case SQLITE_READONLY:
    return "25006";
  case SQLITE_MISMATCH:
    return "42804";
  case SQLITE_TOOBIG:
    return "54000";
  case SQLITE_FULL:
    return "53100";
  case SQLITE_NOMEM:
    return "53200";
  case SQLITE_CANTOPEN:
    return "58030";
  case SQLITE_RANGE:
    return "08P01";
  case SQLITE_ERROR:
    if (strstr(msg, "syntax error") || strstr(msg, "incomplete input"))
      return "42601";
    if (strstr(msg, "no such table"))
      return "42P01";
    if (strstr(msg, "no such column"))
      return "42703";
    if (strstr(msg, "already exists"))
      return "42P07";
    return "HY000";
  default:
    return "HY000";
  }
}

/* A result carrying SQLite's error.  NULL when even that cannot be
 * allocated (the caller returns CIO_ENOMEM). */
static cio_db_result *error_result(cio_db_result *r, sqlite3 *db, int code,
                                   const char *msg) {
  if (r == NULL && (r = cio__db_result_new(NULL, 0, 0)) == NULL)
    return NULL;
  r->nrows = 0;
  r->failed = true;
  const char *m = msg ? msg : db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  char *copy = cio__db_result_strdup(r, m, strlen(m));
  r->err.message = copy ? copy : "out of memory";
  r->err.sqlstate = sqlstate_of(code, r->err.message);
  r->err.detail = sqlite3_errstr(code);
  r->err.severity = "ERROR";
  r->err.code = code;
  return r;
}

/* "SELECT", "CREATE TABLE" ...: the statement's first keyword, two for
 * CREATE, DROP and ALTER (PostgreSQL's tags). */
static void make_tag(cio_db_result *r, const char *sql, bool returns_rows,
                     int64_t changes) {
  char kw[64] = "";
  size_t n = 0;
  int words = 0;
  const char *p = sql;
  while (*p && n + 1 < sizeof kw && words < 2) {
    while (isspace((unsigned char)*p))
      p++;
    if (!isalpha((unsigned char)*p))
      break;
    if (words == 1 && strcmp(kw, "CREATE") && strcmp(kw, "DROP") &&
        strcmp(kw, "ALTER"))
      break;
    if (words == 1)
      kw[n++] = ' ';
    while (isalpha((unsigned char)*p) && n + 1 < sizeof kw)
      kw[n++] = (char)toupper((unsigned char)*p++);
    kw[n] = '\0';
    words++;
  }
  char tag[96];
  if (strcmp(kw, "INSERT") == 0 || strcmp(kw, "REPLACE") == 0) {
    snprintf(tag, sizeof tag, "INSERT 0 %lld", (long long)changes);
    r->rows_affected = changes;
  } else if (strcmp(kw, "UPDATE") == 0 || strcmp(kw, "DELETE") == 0) {
    snprintf(tag, sizeof tag, "%s %lld", kw, (long long)changes);
    r->rows_affected = changes;
  } else if (returns_rows) {
    snprintf(tag, sizeof tag, "SELECT %zu", r->nrows);
    r->rows_affected = (int64_t)r->nrows;
  } else {
    snprintf(tag, sizeof tag, "%s", kw);
  }
  char *copy = cio__db_result_strdup(r, tag, strlen(tag));
  if (copy != NULL)
    r->tag = copy;
}

static int bind_params(sqlite3_stmt *st, const cio_db_value *v, size_t n) {
  int rc = SQLITE_OK;
  for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
    int at = (int)i + 1;
    switch (v[i].type) {
    case CIO_DB_INT:
    case CIO_DB_BOOL:
      rc = sqlite3_bind_int64(st, at, v[i].i);
      break;
    case CIO_DB_FLOAT:
      rc = sqlite3_bind_double(st, at, v[i].f);
      break;
    case CIO_DB_TEXT:
      rc = sqlite3_bind_text64(st, at, v[i].p, v[i].len, SQLITE_STATIC,
                               SQLITE_UTF8);
      break;
    case CIO_DB_BYTES:
      rc = sqlite3_bind_blob64(st, at, v[i].p ? v[i].p : "", v[i].len,
                               SQLITE_STATIC);
      break;
    default:
      rc = sqlite3_bind_null(st, at);
    }
  }
  return rc;
}

/* Copy the current row of `st` into the cells of `r`. */
static int fetch_row(cio_db_result *r, sqlite3_stmt *st) {
  if (cio__db_result_reserve(r, r->nrows + 1) < 0)
    return SQLITE_NOMEM;
  struct cio__db_cell *row = r->cells + r->nrows * r->ncols;
  for (size_t c = 0; c < r->ncols; c++) {
    struct cio__db_cell *cell = &row[c];
    *cell = (struct cio__db_cell){.kind = CIO__CELL_NULL};
    int type = sqlite3_column_type(st, (int)c);
    if (type == SQLITE_INTEGER) {
      cell->kind = CIO__CELL_INT;
      cell->i = sqlite3_column_int64(st, (int)c);
    } else if (type == SQLITE_FLOAT) {
      cell->kind = CIO__CELL_FLOAT;
      cell->f = sqlite3_column_double(st, (int)c);
    } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
      const void *p = type == SQLITE_TEXT
                          ? (const void *)sqlite3_column_text(st, (int)c)
                          : sqlite3_column_blob(st, (int)c);
      size_t len = (size_t)sqlite3_column_bytes(st, (int)c);
      char *copy = cio__db_result_strdup(r, p, len);
      if (copy == NULL)
        return SQLITE_NOMEM;
      cell->kind = type == SQLITE_TEXT ? CIO__CELL_TEXT : CIO__CELL_BYTES;
      cell->data = copy;
      cell->len = len;
    }
  }
  r->nrows++;
  return SQLITE_OK;
}

static bool abandoned(struct job *j) {
  uv_mutex_lock(&j->conn->lock);
  bool a = j->abandoned;
  uv_mutex_unlock(&j->conn->lock);
  return a;
}

/* Only blanks and semicolons after the statement? */
static bool only_one(const char *tail) {
  for (; *tail; tail++)
    if (!isspace((unsigned char)*tail) && *tail != ';')
      return false;
  return true;
}

static int run_query(struct job *j) {
  sqlite3 *db = j->conn->db;
  sqlite3_stmt *st = NULL;
  const char *tail = NULL;
  int rc = sqlite3_prepare_v2(db, j->sql, -1, &st, &tail);
  if (rc == SQLITE_OK && st == NULL) {
    j->res = error_result(NULL, NULL, SQLITE_ERROR, "empty statement");
    return j->res ? CIO_EDB : CIO_ENOMEM;
  }
  if (rc == SQLITE_OK && !only_one(tail)) {
    sqlite3_finalize(st);
    j->res = error_result(NULL, NULL, SQLITE_ERROR,
                          "one statement at a time: use "
                          "cio_sqlite_exec_script for several");
    return j->res ? CIO_EDB : CIO_ENOMEM;
  }
  if (rc == SQLITE_OK)
    rc = bind_params(st, j->params, j->nparams);
  cio_db_result *r = NULL;
  if (rc == SQLITE_OK) {
    size_t ncols = (size_t)sqlite3_column_count(st);
    r = cio__db_result_new(NULL, ncols, 0);
    if (r == NULL)
      rc = SQLITE_NOMEM;
    for (size_t c = 0; r != NULL && c < ncols; c++) {
      const char *name = sqlite3_column_name(st, (int)c);
      char *copy = name ? cio__db_result_strdup(r, name, strlen(name)) : NULL;
      if (copy == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      r->cols[c].name = copy;
    }
  }
  /* The cancel flag is checked before each step: an interrupt that came
   * while the statement was being prepared would otherwise be lost
   * (SQLite clears it when the first statement starts). */
  while (rc == SQLITE_OK || rc == SQLITE_ROW) {
    rc = abandoned(j) ? SQLITE_INTERRUPT : sqlite3_step(st);
    if (rc == SQLITE_ROW)
      rc = fetch_row(r, st) == SQLITE_OK ? SQLITE_ROW : SQLITE_NOMEM;
  }
  if (rc == SQLITE_DONE) {
    make_tag(r, j->sql, sqlite3_column_count(st) > 0 || sqlite3_stmt_readonly(st),
             sqlite3_changes64(db));
    r->last_insert_id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    j->res = r;
    return 0;
  }
  int ext = sqlite3_extended_errcode(db);
  if (rc == SQLITE_INTERRUPT || rc == SQLITE_NOMEM)
    ext = rc;
  const char *msg = rc == SQLITE_INTERRUPT ? "interrupted"
                    : rc == SQLITE_NOMEM   ? "out of memory"
                                           : NULL;
  j->res = error_result(r, db, ext, msg);
  sqlite3_finalize(st);
  return j->res == NULL ? CIO_ENOMEM : CIO_EDB;
}

static int run_script(struct job *j) {
  char *msg = NULL;
  int rc = sqlite3_exec(j->conn->db, j->sql, NULL, NULL, &msg);
  if (rc == SQLITE_OK)
    return 0;
  j->res = error_result(NULL, j->conn->db,
                        sqlite3_extended_errcode(j->conn->db), msg);
  sqlite3_free(msg);
  return j->res == NULL ? CIO_ENOMEM : CIO_EDB;
}

static int run_open(struct job *j) {
  const cio_sqlite_opts *o = &j->opts;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI |
              (o->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
              (o->read_only || o->no_create ? 0 : SQLITE_OPEN_CREATE);
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(j->sql, &db, flags, NULL);
  if (rc == SQLITE_OK) {
    /* cio_sqlite_open refused NaN and negatives; more than INT_MAX ms
     * (CIO_NO_TIMEOUT included) would overflow the int: clamped. */
    double ms = (o->busy_timeout == 0 ? 5.0 : o->busy_timeout) * 1000;
    sqlite3_busy_timeout(db, ms >= (double)INT_MAX ? INT_MAX : (int)ms);
    sqlite3_extended_result_codes(db, 1);
    if (!o->no_wal && !o->read_only)
      rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK) {
    snprintf(j->errmsg, sizeof j->errmsg, "%s",
             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return CIO_EDB;
  }
  j->conn->db = db;
  return 0;
}

int cio__sqlite_job_work(void *arg, void **result) {
  struct job *j = arg;
  (void)result;
  cio_sqlite *c = j->conn;
  uv_mutex_lock(&c->lock);
  bool skip = j->abandoned && j->kind != JOB_CLOSE;
  if (!skip)
    c->running = j;
  uv_mutex_unlock(&c->lock);
  if (skip)
    return CIO_ECANCELED;
  int rc;
  switch (j->kind) {
  case JOB_OPEN:
    rc = run_open(j);
    break;
  case JOB_QUERY:
    rc = run_query(j);
    break;
  case JOB_SCRIPT:
    rc = run_script(j);
    break;
  default:
    rc = sqlite3_close_v2(c->db) == SQLITE_OK ? 0 : CIO_EIO;
    c->db = NULL;
  }
  uv_mutex_lock(&c->lock);
  c->running = NULL;
  uv_mutex_unlock(&c->lock);
  return rc;
}
