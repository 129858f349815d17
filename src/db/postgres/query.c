/* PostgreSQL queries: parameters, pipelined queries, scripts, prepared
 * statements, transactions, LISTEN/NOTIFY.  Each call waits for its turn
 * to send (cio__pg_wait_turn), sends with libpq, and awaits its op. */
#include <inttypes.h>
#include <stdio.h>

#include "db/postgres/pg.h"

/* ---- parameters ------------------------------------------------------ */

enum { SMALL = 8, NUMLEN = 32 };

/* libpq's four arrays for `n` parameters, with room for the text of
 * numbers and copies of text that is not NUL-terminated. */
struct params {
  cio_loop *loop;
  int n;
  const char **vals;
  int *lens, *fmts;
  Oid *types;
  char (*nums)[NUMLEN];
  char *heap; /* one block when n > SMALL */
  char **copies;
  const char *small_vals[SMALL];
  int small_lens[SMALL], small_fmts[SMALL];
  Oid small_types[SMALL];
  char small_nums[SMALL][NUMLEN];
  char *small_copies[SMALL];
};

static void params_free(struct params *p) {
  for (int i = 0; i < p->n; i++)
    cio__free(p->loop, p->copies[i]);
  cio__free(p->loop, p->heap);
}

static int params_alloc(struct params *p, cio_loop *loop, size_t n) {
  if (n > 65535)
    return CIO_EINVAL;
  p->loop = loop;
  p->n = (int)n;
  p->heap = NULL;
  if (n <= SMALL) {
    p->vals = p->small_vals;
    p->lens = p->small_lens;
    p->fmts = p->small_fmts;
    p->types = p->small_types;
    p->nums = p->small_nums;
    p->copies = p->small_copies;
  } else {
    size_t each = sizeof(char *) * 2 + sizeof(int) * 2 + sizeof(Oid) + NUMLEN;
    p->heap = cio__malloc(loop, n * each);
    if (p->heap == NULL)
      return CIO_ENOMEM;
    char *h = p->heap;
    p->vals = (const char **)(void *)h;
    p->copies = (char **)(void *)(h + n * sizeof(char *));
    p->nums = (char(*)[NUMLEN])(h + 2 * n * sizeof(char *));
    p->lens = (int *)(void *)(h + 2 * n * sizeof(char *) + n * NUMLEN);
    p->fmts = p->lens + n;
    p->types = (Oid *)(p->fmts + n);
  }
  for (size_t i = 0; i < n; i++)
    p->copies[i] = NULL;
  return 0;
}

static void put_be(char *out, uint64_t v, int nbytes) {
  for (int i = nbytes - 1; i >= 0; i--, v >>= 8)
    out[i] = (char)(v & 0xff);
}

/* Binary form of `v` for a parameter of type `oid`, when both agree. */
static bool binary_param(const cio_db_value *v, Oid oid, char *buf, int *len) {
  int64_t i = v->i;
  if (v->type == CIO_DB_INT && oid == CIO__OID_INT8) {
    put_be(buf, (uint64_t)i, *len = 8);
  } else if (v->type == CIO_DB_INT && oid == CIO__OID_INT4 &&
             i >= INT32_MIN && i <= INT32_MAX) {
    put_be(buf, (uint64_t)i, *len = 4);
  } else if (v->type == CIO_DB_INT && oid == CIO__OID_INT2 &&
             i >= INT16_MIN && i <= INT16_MAX) {
    put_be(buf, (uint64_t)i, *len = 2);
  } else if ((v->type == CIO_DB_FLOAT || v->type == CIO_DB_INT) &&
             oid == CIO__OID_FLOAT8) {
    double d = v->type == CIO_DB_FLOAT ? v->f : (double)i;
    uint64_t u;
    memcpy(&u, &d, 8);
    put_be(buf, u, *len = 8);
  } else if (v->type == CIO_DB_FLOAT && oid == CIO__OID_FLOAT4) {
    float f = (float)v->f;
    uint32_t u;
    memcpy(&u, &f, 4);
    put_be(buf, u, *len = 4);
  } else if (v->type == CIO_DB_BOOL && oid == CIO__OID_BOOL) {
    buf[0] = i ? 1 : 0;
    *len = 1;
  } else {
    return false;
  }
  return true;
}

/* Fill the arrays.  `oids` (may be NULL) are the statement's parameter
 * types, known once prepared: then numbers and bools travel in binary. */
static int params_fill(struct params *p, const cio_db_value *v,
                       const Oid *oids) {
  for (int i = 0; i < p->n; i++) {
    Oid want = oids ? oids[i] : 0;
    char *num = p->nums[i];
    p->fmts[i] = 0;
    p->lens[i] = 0;
    p->types[i] = want;
    p->vals[i] = num;
    if (v[i].type >= CIO_DB_TEXT && v[i].p == NULL && v[i].len > 0)
      return CIO_EINVAL;
    if (v[i].type != CIO_DB_NULL && binary_param(&v[i], want, num, &p->lens[i])) {
      p->fmts[i] = 1;
      continue;
    }
    switch (v[i].type) {
    case CIO_DB_NULL:
      p->vals[i] = NULL;
      break;
    case CIO_DB_INT:
      snprintf(num, NUMLEN, "%" PRId64, v[i].i);
      break;
    case CIO_DB_FLOAT:
      if (v[i].f != v[i].f)
        snprintf(num, NUMLEN, "NaN");
      else if (v[i].f == HUGE_VAL || v[i].f == -HUGE_VAL)
        snprintf(num, NUMLEN, "%sInfinity", v[i].f < 0 ? "-" : "");
      else
        snprintf(num, NUMLEN, "%.17g", v[i].f);
      break;
    case CIO_DB_BOOL:
      snprintf(num, NUMLEN, "%s", v[i].i ? "t" : "f");
      break;
    case CIO_DB_TEXT:
      if (v[i].len > 0 && memchr(v[i].p, '\0', v[i].len) != NULL)
        return CIO_EINVAL; /* PostgreSQL text holds no NUL */
      if (v[i].i == 1) {
        p->vals[i] = v[i].p; /* cio_db_text: NUL-terminated */
        break;
      }
      if ((p->copies[i] = cio__malloc(p->loop, v[i].len + 1)) == NULL)
        return CIO_ENOMEM;
      memcpy(p->copies[i], v[i].p, v[i].len);
      p->copies[i][v[i].len] = '\0';
      p->vals[i] = p->copies[i];
      break;
    case CIO_DB_BYTES:
      if (v[i].len > INT32_MAX)
        return CIO_EINVAL;
      p->vals[i] = v[i].p ? v[i].p : "";
      p->lens[i] = (int)v[i].len;
      p->fmts[i] = 1;
      p->types[i] = CIO__OID_BYTEA;
      break;
    default:
      return CIO_EINVAL;
    }
  }
  return 0;
}

/* ---- queries --------------------------------------------------------- */

static int check(cio_pg_conn *c, const char *sql, const cio_db_value *params,
                 size_t n, cio_db_result **res) {
  if (res != NULL)
    *res = NULL;
  if (c == NULL || sql == NULL || (n > 0 && params == NULL))
    return CIO_EINVAL;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  return 0;
}

/* Send a pipelined query: SQL text, or a prepared statement's name. */
static int send_query(cio_pg_conn *c, const char *sql, const char *stmt,
                      const cio_db_value *params, size_t n, const Oid *oids,
                      int flags, cio_db_result **res) {
  struct params p;
  int rc = params_alloc(&p, c->loop, n);
  if (rc < 0)
    return rc;
  rc = params_fill(&p, params, oids);
  if (rc == 0)
    rc = cio__pg_wait_turn(c, false);
  if (rc < 0) {
    params_free(&p);
    return rc;
  }
  int fmt = flags & CIO_PG_BINARY_RESULTS ? 1 : 0;
  bool fresh = false, ok = true;
  struct pg_cached *e =
      stmt == NULL ? cio__pg_cache_get(c, sql, p.types, p.n, &fresh) : NULL;
  if (e != NULL) {
    stmt = e->name;
    if (fresh) /* same segment as the execution: no extra round trip */
      ok = PQsendPrepare(c->pg, stmt, sql, p.n, p.types);
  }
  if (ok)
    ok = stmt == NULL ? PQsendQueryParams(c->pg, sql, p.n, p.types, p.vals,
                                          p.lens, p.fmts, fmt)
                      : PQsendQueryPrepared(c->pg, stmt, p.n, p.vals, p.lens,
                                            p.fmts, fmt);
  params_free(&p);
  ok = ok && PQpipelineSync(c->pg);
  struct pg_op *op = ok ? cio__pg_op_add(c, OP_QUERY, flags) : NULL;
  if (op != NULL && e != NULL) {
    snprintf(op->cached, sizeof op->cached, "%s", e->name);
    op->prepares = fresh;
  }
  if (ok && op == NULL) {
    cio__pg_conn_break(c, CIO_ENOMEM);
    return CIO_ENOMEM;
  }
  rc = cio__pg_sent(c, ok);
  if (op == NULL)
    return rc;
  return cio__pg_op_wait(op, res); /* a failed flush has failed the op */
}

int cio_pg_query_ex(cio_pg_conn *c, const char *sql,
                    const cio_db_value *params, size_t n, int flags,
                    cio_db_result **res) {
  int rc = check(c, sql, params, n, res);
  if (rc < 0)
    return rc;
  cio__pg_conn_ref(c); /* pg.h invariant 5: a close meanwhile is safe */
  rc = send_query(c, sql, NULL, params, n, NULL, flags, res);
  cio__pg_conn_unref(c);
  return rc;
}

int cio_pg_query(cio_pg_conn *c, const char *sql, const cio_db_value *params,
                 size_t n, cio_db_result **res) {
  return cio_pg_query_ex(c, sql, params, n, 0, res);
}

int cio_pg_execute(cio_pg_conn *c, const char *sql,
                   const cio_db_value *params, size_t n,
                   int64_t *rows_affected) {
  cio_db_result *r;
  int rc = cio_pg_query(c, sql, params, n, &r);
  if (rows_affected != NULL)
    *rows_affected = rc == 0 ? cio_db_result_rows_affected(r) : -1;
  cio_db_result_free(r);
  return rc;
}

/* A simple-protocol query with the connection to itself (scripts, the
 * start of a COPY).  On success the op's result goes to `*res`. */
int cio__pg_simple(cio_pg_conn *c, const char *sql, cio_db_result **res) {
  int rc = cio__pg_wait_turn(c, true);
  if (rc < 0)
    return rc;
  cio__pg_begin_simple(c);
  bool ok = PQsendQuery(c->pg, sql);
  struct pg_op *op = ok ? cio__pg_op_add(c, OP_SIMPLE, 0) : NULL;
  if (op == NULL) {
    /* Nothing went out: back to the pipeline. */
    rc = ok ? CIO_ENOMEM : cio__pg_sent(c, false);
    if (c->mode != PG_BROKEN && PQenterPipelineMode(c->pg))
      c->mode = PG_PIPELINE;
    cio__pg_end_exclusive(c);
    return rc;
  }
  cio__pg_sent(c, true);
  return cio__pg_op_wait(op, res);
}

int cio_pg_exec_script(cio_pg_conn *c, const char *sql, cio_db_result **res) {
  int rc = check(c, sql, NULL, 0, res);
  if (rc < 0)
    return rc;
  cio__pg_conn_ref(c);
  rc = cio__pg_simple(c, sql, res);
  cio__pg_conn_unref(c);
  return rc;
}

/* ---- prepared statements -------------------------------------------- */

struct cio_pg_stmt {
  cio_pg_conn *conn;
  char name[32];
  size_t nparams;
  Oid *oids;
};

static int prepare(cio_pg_conn *c, const char *sql, cio_pg_stmt **out,
                   cio_db_result **err_res) {
  int rc;
  cio_pg_stmt *s = cio__calloc(c->loop, 1, sizeof *s);
  if (s == NULL)
    return CIO_ENOMEM;
  s->conn = c;
  snprintf(s->name, sizeof s->name, "cio_stmt_%" PRIu64, ++c->stmt_seq);
  rc = cio__pg_wait_turn(c, false);
  if (rc < 0)
    goto fail;
  /* Parse and describe in one round trip: two ops, one sync each. */
  bool ok = PQsendPrepare(c->pg, s->name, sql, 0, NULL) &&
            PQpipelineSync(c->pg);
  struct pg_op *prep = ok ? cio__pg_op_add(c, OP_QUERY, 0) : NULL;
  ok = prep != NULL && PQsendDescribePrepared(c->pg, s->name) &&
       PQpipelineSync(c->pg);
  struct pg_op *desc = ok ? cio__pg_op_add(c, OP_QUERY, 0) : NULL;
  rc = cio__pg_sent(c, desc != NULL);
  if (prep == NULL || desc == NULL) {
    cio__pg_conn_break(c, rc < 0 ? rc : CIO_ENOMEM);
    if (prep != NULL)
      cio__pg_op_wait(prep, NULL);
    rc = c->error;
    goto fail;
  }
  rc = cio__pg_op_wait(prep, err_res);
  if (rc == CIO_ECANCELED) {
    cio__pg_op_abandon(desc);
    goto fail_deallocate;
  }
  cio_db_result *d = NULL;
  int drc = cio__pg_op_wait(desc, &d);
  if (rc == 0 && drc < 0) {
    rc = drc;
    if (err_res != NULL)
      *err_res = d, d = NULL;
  }
  if (rc == 0) {
    const PGresult *pr = d->owner;
    s->nparams = (size_t)PQnparams(pr);
    s->oids = cio__calloc(c->loop, s->nparams + 1, sizeof *s->oids);
    for (size_t i = 0; s->oids != NULL && i < s->nparams; i++)
      s->oids[i] = PQparamtype(pr, (int)i);
    if (s->oids == NULL)
      rc = CIO_ENOMEM;
  }
  cio_db_result_free(d);
  if (rc < 0)
    goto fail_deallocate;
  cio__pg_conn_ref(c); /* the statement's, until cio_pg_stmt_free */
  *out = s;
  return 0;

fail_deallocate: {
  char dealloc[64];
  snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", s->name);
  cio__pg_send_detached(c, dealloc); /* harmless if it never existed */
}
fail:
  cio__free(c->loop, s);
  return rc;
}

int cio_pg_prepare(cio_pg_conn *c, const char *sql, cio_pg_stmt **out,
                   cio_db_result **err_res) {
  if (out != NULL)
    *out = NULL;
  int rc = check(c, sql, NULL, 0, err_res);
  if (rc < 0 || out == NULL)
    return rc < 0 ? rc : CIO_EINVAL;
  cio__pg_conn_ref(c);
  rc = prepare(c, sql, out, err_res);
  cio__pg_conn_unref(c);
  return rc;
}

size_t cio_pg_stmt_nparams(const cio_pg_stmt *s) {
  return s ? s->nparams : 0;
}

int cio_pg_stmt_query(cio_pg_stmt *s, const cio_db_value *params, size_t n,
                      int flags, cio_db_result **res) {
  if (res != NULL)
    *res = NULL;
  if (s == NULL || n != s->nparams)
    return CIO_EINVAL;
  int rc = check(s->conn, s->name, params, n, res);
  if (rc < 0)
    return rc;
  cio_pg_conn *c = cio__pg_conn_ref(s->conn);
  rc = send_query(c, NULL, s->name, params, n, s->oids, flags, res);
  cio__pg_conn_unref(c);
  return rc;
}

void cio_pg_stmt_free(cio_pg_stmt *s) {
  if (s == NULL)
    return;
  char sql[64];
  snprintf(sql, sizeof sql, "DEALLOCATE %s", s->name);
  cio_pg_conn *c = s->conn;
  cio__pg_send_detached(c, sql); /* nothing once the connection closed */
  cio__free(c->loop, s->oids);
  cio__free(c->loop, s);
  cio__pg_conn_unref(c); /* the statement's: it may free a closed one */
}

/* ---- transactions ---------------------------------------------------- */

static int transaction(cio_pg_conn *c, cio_pg_tx_fn fn, void *arg) {
  int rc = cio_pg_execute(c, "BEGIN", NULL, 0, NULL);
  if (rc < 0)
    return rc;
  rc = fn(c, arg);
  if (rc >= 0) {
    int crc = cio_pg_execute(c, "COMMIT", NULL, 0, NULL);
    if (crc == 0)
      return rc;
    if (c->mode == PG_BROKEN || crc == CIO_ECANCELED) {
      /* A cancelled COMMIT may or may not have happened: a ROLLBACK
       * after it is harmless either way. */
      cio__pg_send_detached(c, "ROLLBACK");
      return crc;
    }
    return crc; /* COMMIT failed: the server rolled back already */
  }
  /* Queued now, in the pipeline, so it runs before anything sent later,
   * whether or not this task is still there to see it. */
  cio__pg_send_detached(c, "ROLLBACK");
  return rc;
}

int cio_pg_transaction(cio_pg_conn *c, cio_pg_tx_fn fn, void *arg) {
  if (c == NULL || fn == NULL)
    return CIO_EINVAL;
  /* Held across fn too: fn's own calls, and the COMMIT or ROLLBACK after
   * it, find a connection closed meanwhile broken, not freed. */
  cio__pg_conn_ref(c);
  int rc = transaction(c, fn, arg);
  cio__pg_conn_unref(c);
  return rc;
}

/* ---- LISTEN / NOTIFY ------------------------------------------------- */

int cio_pg_listen(cio_pg_conn *c, const char *channel) {
  if (c == NULL || channel == NULL)
    return CIO_EINVAL;
  if (c->mode == PG_BROKEN)
    return c->error; /* closed: libpq's connection is gone */
  char *quoted = PQescapeIdentifier(c->pg, channel, strlen(channel));
  if (quoted == NULL)
    return CIO_EINVAL;
  cio__pg_conn_ref(c); /* c->loop after the wait */
  char *sql = cio__malloc(c->loop, strlen(quoted) + 8);
  int rc = CIO_ENOMEM;
  if (sql != NULL) {
    strcpy(sql, "LISTEN ");
    strcat(sql, quoted);
    rc = cio_pg_execute(c, sql, NULL, 0, NULL);
    cio__free(c->loop, sql);
  }
  PQfreemem(quoted);
  cio__pg_conn_unref(c);
  return rc;
}

int cio_pg_wait_notification(cio_pg_conn *c, cio_pg_notification **out) {
  if (out != NULL)
    *out = NULL;
  if (c == NULL || out == NULL)
    return CIO_EINVAL;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  if (c->notify_waiter != NULL)
    return CIO_EBUSY;
  cio__pg_conn_ref(c);
  int rc = 0;
  while (rc == 0 && cio__list_empty(&c->notifies))
    rc = cio__pg_notify_wait(c); /* the connection's error if broken */
  if (rc == 0) {
    struct pg_notify_item *it = cio__container_of(
        cio__list_pop_front(&c->notifies), struct pg_notify_item, node);
    *out = &it->n;
  }
  cio__pg_conn_unref(c);
  return rc;
}

void cio_pg_notification_free(cio_pg_notification *n) {
  if (n == NULL)
    return;
  struct pg_notify_item *it = cio__container_of(n, struct pg_notify_item, n);
  cio__free(cio_get_running_loop(), it);
}
