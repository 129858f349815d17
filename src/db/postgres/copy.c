/* COPY FROM STDIN / TO STDOUT, streamed by the task.  libpq allows no
 * COPY in pipeline mode, so a copy is an exclusive op (pg.h): it waits
 * for the pipeline to drain, leaves pipeline mode, and holds the
 * connection until cio_pg_copy_end(), when the final result is read by
 * the driver as a simple op and the pipeline reopens. */
#include "db/postgres/pg.h"

struct cio_pg_copy {
  cio_pg_conn *conn;
  bool in;     /* FROM STDIN */
  bool done;   /* TO STDOUT: every row was read */
  bool failed; /* FROM STDIN: end it with an error */
  char *row;   /* the last row, libpq's */
};

int cio_pg_copy_start(cio_pg_conn *c, const char *sql, cio_pg_copy **out,
                      cio_db_result **err_res) {
  if (out != NULL)
    *out = NULL;
  if (err_res != NULL)
    *err_res = NULL;
  if (c == NULL || sql == NULL || out == NULL)
    return CIO_EINVAL;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  cio_pg_copy *cp = cio__calloc(c->loop, 1, sizeof *cp);
  if (cp == NULL)
    return CIO_ENOMEM;
  cio_db_result *r = NULL;
  cio__pg_conn_ref(c); /* the call's; the copy's own on success */
  int rc = cio__pg_simple(c, sql, &r);
  if (rc == 0 && c->mode != PG_COPY_IN && c->mode != PG_COPY_OUT)
    rc = CIO_EINVAL; /* it ran, but it was no COPY */
  if (rc < 0) {
    if (rc == CIO_EDB && err_res != NULL)
      *err_res = r;
    else
      cio_db_result_free(r);
    cio__free(c->loop, cp);
    cio__pg_conn_unref(c);
    return rc;
  }
  cio_db_result_free(r);
  cp->conn = c; /* keeps the call's reference until cio_pg_copy_end */
  cp->in = c->mode == PG_COPY_IN;
  *out = cp;
  return 0;
}

/* Wait until libpq has sent what it holds. */
static int drain_output(cio_pg_conn *c) {
  while (c->writing) {
    int rc = cio__pg_copy_wait(c);
    if (rc < 0)
      return rc;
  }
  return c->mode == PG_BROKEN ? c->error : 0;
}

int cio_pg_copy_write(cio_pg_copy *cp, const void *data, size_t n) {
  if (cp == NULL || !cp->in || (data == NULL && n > 0) || n > INT32_MAX)
    return CIO_EINVAL;
  cio_pg_conn *c = cp->conn;
  for (;;) {
    if (c->mode == PG_BROKEN)
      return c->error;
    int r = PQputCopyData(c->pg, data, (int)n);
    if (r < 0) {
      cio__pg_conn_break(c, CIO_ECONNRESET);
      return c->error;
    }
    int rc = r == 1 ? cio__pg_flush(c) : 0;
    if (rc == 0)
      rc = drain_output(c); /* back-pressure: one buffer in flight */
    if (rc < 0) {
      cp->failed = true;
      return rc;
    }
    if (r == 1)
      return 0;
  }
}

int cio_pg_copy_read(cio_pg_copy *cp, const void **data, size_t *len) {
  if (cp == NULL || cp->in || data == NULL || len == NULL)
    return CIO_EINVAL;
  cio_pg_conn *c = cp->conn;
  *data = NULL;
  *len = 0;
  PQfreemem(cp->row);
  cp->row = NULL;
  while (!cp->done) {
    if (c->mode == PG_BROKEN)
      return c->error;
    char *buf;
    int r = PQgetCopyData(c->pg, &buf, 1);
    if (r > 0) {
      cp->row = buf;
      *data = buf;
      *len = (size_t)r;
      return 1;
    }
    if (r == -1) {
      cp->done = true;
      break;
    }
    if (r < -1) {
      cio__pg_conn_break(c, CIO_ECONNRESET);
      return c->error;
    }
    int rc = cio__pg_copy_wait(c);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* COPY TO that the task stops reading: ask the server to stop and throw
 * the rest away.  Bounded by the server answering the cancel. */
static int discard_rest(cio_pg_copy *cp) {
  cio_pg_conn *c = cp->conn;
  cio__pg_send_cancel(c);
  /* Delivered before anything else is sent: then it can only stop this
   * COPY, or find the server idle (a no-op). */
  int wrc = cio__pg_cancel_wait(c);
  if (wrc < 0)
    return wrc;
  while (!cp->done && c->mode != PG_BROKEN) {
    char *buf;
    int r = PQgetCopyData(c->pg, &buf, 1);
    if (r > 0) {
      PQfreemem(buf);
    } else if (r == -1) {
      cp->done = true;
    } else if (r < -1) {
      cio__pg_conn_break(c, CIO_ECONNRESET);
    } else {
      int rc = cio__pg_copy_wait(c);
      if (rc < 0)
        return rc;
    }
  }
  return c->mode == PG_BROKEN ? c->error : 0;
}

static int finish_input(cio_pg_copy *cp) {
  cio_pg_conn *c = cp->conn;
  for (int tries = 0; c->mode != PG_BROKEN; tries++) {
    int r = PQputCopyEnd(c->pg, cp->failed ? "aborted by the client" : NULL);
    if (r < 0)
      cio__pg_conn_break(c, CIO_ECONNRESET);
    else if (r == 1)
      return cio__pg_flush(c);
    else if (tries > 100)
      cio__pg_conn_break(c, CIO_EIO);
    else if (cio__pg_copy_wait(c) < 0)
      cp->failed = true; /* cancelled: still end it, as a failure */
  }
  return c->error;
}

static int copy_end(cio_pg_copy *cp, int64_t *rows) {
  if (rows != NULL)
    *rows = -1;
  if (cp == NULL)
    return CIO_EINVAL;
  cio_pg_conn *c = cp->conn;
  cio_loop *loop = c->loop;
  PQfreemem(cp->row);
  bool stopped_early = !cp->in && !cp->done;
  int rc = cp->in ? finish_input(cp) : cp->done ? 0 : discard_rest(cp);
  cio__free(loop, cp);
  if (c->mode == PG_BROKEN)
    return c->error;
  /* The final result comes as the answer of a simple op; the driver
   * reopens the pipeline when it is in.  A task cancelled before that
   * leaves it to the driver. */
  c->mode = PG_SIMPLE;
  struct pg_op *op = cio__pg_op_add(c, OP_SIMPLE, 0);
  if (op == NULL) {
    cio__pg_conn_break(c, CIO_ENOMEM);
    return CIO_ENOMEM;
  }
  cio__pg_drive(c);
  if (rc == CIO_ECANCELED) {
    cio__pg_op_abandon(op);
    return rc;
  }
  cio_db_result *r = NULL;
  int erc = cio__pg_op_wait(op, &r);
  if (erc == 0 && rows != NULL)
    *rows = cio_db_result_rows_affected(r);
  if (erc == CIO_EDB && stopped_early)
    erc = 0; /* the cancel we asked for */
  cio_db_result_free(r);
  return erc < 0 ? erc : rc;
}

int cio_pg_copy_end(cio_pg_copy *cp, int64_t *rows) {
  if (rows != NULL)
    *rows = -1;
  if (cp == NULL)
    return CIO_EINVAL;
  cio_pg_conn *c = cp->conn;
  int rc = copy_end(cp, rows); /* frees cp */
  cio__pg_conn_unref(c);      /* the copy's: it may free a closed one */
  return rc;
}
