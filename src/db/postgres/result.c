/* PostgreSQL results: a cio_db_result over libpq's PGresult, without a
 * copy.  Cells are read out of the PGresult when a getter asks; the
 * error fields point into it. */
#include <inttypes.h>
#include <stdio.h>

#include "db/postgres/pg.h"

static void pg_cell(const cio_db_result *r, size_t row, size_t col,
                    struct cio__db_cell *out) {
  const PGresult *res = r->owner;
  int ro = (int)row, co = (int)col;
  if (PQgetisnull(res, ro, co)) {
    *out = (struct cio__db_cell){.kind = CIO__CELL_NULL};
    return;
  }
  *out = (struct cio__db_cell){
      .kind = CIO__CELL_PG,
      .binary = PQfformat(res, co) == 1,
      .oid = (uint32_t)PQftype(res, co),
      .data = PQgetvalue(res, ro, co),
      .len = (size_t)PQgetlength(res, ro, co),
  };
}

static void pg_clear(void *owner) {
  PQclear(owner);
}

static const char *field(const PGresult *res, int code) {
  const char *v = PQresultErrorField(res, code);
  return v ? v : "";
}

cio_db_result *cio__pg_result_wrap(cio_loop *loop, PGresult *res) {
  int ncols = PQnfields(res);
  cio_db_result *r = cio__db_result_new(loop, (size_t)(ncols > 0 ? ncols : 0),
                                        0);
  if (r == NULL) {
    PQclear(res);
    return NULL;
  }
  r->owner = res;
  r->owner_free = pg_clear;
  r->cell_fn = pg_cell;
  r->nrows = (size_t)PQntuples(res);
  for (int i = 0; i < ncols; i++) {
    r->cols[i].name = PQfname(res, i);
    r->cols[i].oid = (uint32_t)PQftype(res, i);
  }
  r->tag = PQcmdStatus(res);
  const char *n = PQcmdTuples(res);
  r->rows_affected = n && *n ? strtoll(n, NULL, 10) : -1;
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR ||
      st == PGRES_BAD_RESPONSE || st == PGRES_PIPELINE_ABORTED) {
    r->failed = true;
    r->nrows = 0;
    const char *msg = field(res, PG_DIAG_MESSAGE_PRIMARY);
    r->err.message = *msg ? msg : PQresultErrorMessage(res);
    if (st == PGRES_PIPELINE_ABORTED)
      r->err.message = "aborted: an earlier statement of the pipeline failed";
    r->err.sqlstate = field(res, PG_DIAG_SQLSTATE);
    r->err.detail = field(res, PG_DIAG_MESSAGE_DETAIL);
    r->err.hint = field(res, PG_DIAG_MESSAGE_HINT);
    r->err.severity = field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (!*r->err.sqlstate)
      r->err.sqlstate = "08006"; /* connection_failure: libpq's own */
    if (!*r->err.severity)
      r->err.severity = "ERROR";
  }
  return r;
}
