/* PostgreSQL connections: the driver that reads results off the socket
 * and hands them to the ops waiting for them, turns taking for sending,
 * cancel requests, and the connection breaking (see pg.h for the modes,
 * the ops' states and the invariants). */
#include <stdio.h>

#include "db/postgres/pg.h"

static void on_readable(void *arg);
static void on_writable(void *arg);
static void grant(cio_pg_conn *c);

/* ---- ops ------------------------------------------------------------- */

static void op_unref(struct pg_op *op, cio_loop *loop) {
  if (--op->refs > 0)
    return;
  PQclear(op->res);
  cio_future_release(op->fut);
  cio__free(loop, op);
}

static struct pg_op *front(cio_pg_conn *c) {
  if (cio__list_empty(&c->ops))
    return NULL;
  return cio__container_of(c->ops.next, struct pg_op, node);
}

/* The front op was given up by its task: ask the server to stop it,
 * unless its results are already coming (then the request could hit the
 * query after it). */
static void maybe_cancel(cio_pg_conn *c) {
  struct pg_op *op = front(c);
  if (op != NULL && op->abandoned && !op->cancel_sent && op->res == NULL &&
      c->mode != PG_BROKEN) {
    op->cancel_sent = true;
    cio__pg_send_cancel(c);
  }
}

static void op_future_done(cio_future *f, void *arg) {
  struct pg_op *op = arg;
  cio_loop *loop = cio_future_loop(f);
  if (cio_future_is_cancelled(f) && op->conn != NULL) {
    op->abandoned = true;
    maybe_cancel(op->conn);
  }
  op_unref(op, loop);
}

struct pg_op *cio__pg_op_add(cio_pg_conn *c, int kind, int flags) {
  struct pg_op *op = cio__calloc(c->loop, 1, sizeof *op);
  if (op == NULL)
    return NULL;
  op->kind = kind;
  op->flags = flags;
  op->refs = 1; /* the driver's */
  if (kind != OP_DETACHED) {
    if (cio_future_new(c->loop, &op->fut) < 0) {
      cio__free(c->loop, op);
      return NULL;
    }
    if (cio_future_add_done_callback(op->fut, op_future_done, op) < 0) {
      cio_future_release(op->fut);
      cio__free(c->loop, op);
      return NULL;
    }
    op->refs += 2; /* the done-callback's and the waiting task's */
  }
  op->conn = c;
  cio__list_push_back(&c->ops, &op->node);
  c->nops++;
  return op;
}

/* The op's results are all in (or the connection broke): complete its
 * future and let the driver's hold go. */
static void finish_op(cio_pg_conn *c, struct pg_op *op, int error) {
  cio__list_remove(&op->node);
  c->nops--;
  op->conn = NULL;
  if (op->fut != NULL && !cio_future_is_done(op->fut)) {
    bool failed = op->res != NULL &&
                  PQresultStatus(op->res) == PGRES_FATAL_ERROR;
    if (error == 0 || failed)
      cio_future_set_result(op->fut, NULL);
    else
      cio_future_set_error(op->fut, error);
  }
  op_unref(op, c->loop);
}

static void conn_state(const cio_pg_conn *c, struct cio__text *out);

static void op_describe(cio_loop *loop, const void *obj,
                        struct cio__text *out) {
  (void)loop;
  const struct pg_op *op = obj;
  cio__text_put(out, op->kind == OP_SIMPLE ? "script on " : "query on ");
  if (op->conn != NULL)
    conn_state(op->conn, out);
  else
    cio__text_put(out, "a connection (done)");
}

static size_t op_awaits(const void *obj, cio_future **out, size_t cap) {
  if (cap > 0)
    out[0] = ((const struct pg_op *)obj)->fut;
  return 1;
}

static const struct cio__wait_kind op_kind = {
    .what = "PostgreSQL result", .describe = op_describe, .awaits = op_awaits};

int cio__pg_op_wait(struct pg_op *op, cio_db_result **res) {
  cio_loop *loop = cio_future_loop(op->fut);
  /* cio_await's wait (a cancellation cancels the op's future, which
   * abandons the op), described as the query it is. */
  int rc = cio__await_about(op->fut, NULL, true, &op_kind, op);
  if (rc == 0) {
    PGresult *r = op->res;
    op->res = NULL;
    if (r == NULL)
      r = PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK);
    cio_db_result *out = r ? cio__pg_result_wrap(loop, r) : NULL;
    if (out == NULL)
      rc = CIO_ENOMEM;
    else if (out->failed)
      rc = CIO_EDB;
    if (res != NULL)
      *res = out;
    else
      cio_db_result_free(out);
  }
  op_unref(op, loop);
  return rc;
}

void cio__pg_op_abandon(struct pg_op *op) {
  cio_loop *loop = cio_future_loop(op->fut);
  cio_future_cancel(op->fut); /* its done-callback marks it abandoned */
  op_unref(op, loop);
}

/* ---- turns ----------------------------------------------------------- */

/* "connection 0x... (fd 7, pipeline, 3 in flight, 2 waiting)": what a
 * task waiting on the connection waits on, for task dumps. */
static void conn_state(const cio_pg_conn *c, struct cio__text *out) {
  static const char *const modes[] = {"pipeline", "simple query", "COPY in",
                                      "COPY out", "broken"};
  cio__text_printf(out, "connection %p (fd %d, %s, %zu in flight, %zu waiting",
                   (const void *)c, c->fd, modes[c->mode], c->nops,
                   cio__wait_count(&c->send_waiters));
  if (c->excl)
    cio__text_put(out, ", held exclusively");
  if (c->cancel_task != NULL)
    cio__text_put(out, ", cancel request in flight");
  cio__text_put(out, ")");
}

static void turn_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const struct pg_turn *t = obj;
  if (t->exclusive)
    cio__text_put(out, "exclusive, ");
  conn_state(t->conn, out);
}

static const struct cio__wait_kind turn_kind = {
    .what = "PostgreSQL connection turn", .describe = turn_describe};

/* Wake the tasks whose turn it is (invariant 3), in order.  A cancelled
 * waiter has left the list already (the wait kernel unlinks it). */
static void grant(cio_pg_conn *c) {
  struct cio__wait *w;
  while ((w = cio__wait_first(&c->send_waiters)) != NULL) {
    if (c->mode == PG_BROKEN) {
      cio__wait_wake(w, c->error);
      continue;
    }
    if (c->excl || c->mode != PG_PIPELINE || c->cancel_task != NULL)
      return;
    if (cio__container_of(w, struct pg_turn, wait)->exclusive) {
      if (c->nops > 0 || c->granted > 0)
        return;
      c->excl = true;
    } else {
      c->granted++; /* until its task comes back to send */
    }
    cio__wait_wake(w, 0);
  }
}

int cio__pg_wait_turn(cio_pg_conn *c, bool exclusive) {
  if (c->mode == PG_BROKEN)
    return c->error;
  bool free_now = cio__list_empty(&c->send_waiters) && !c->excl &&
                  c->mode == PG_PIPELINE && c->cancel_task == NULL &&
                  (!exclusive || (c->nops == 0 && c->granted == 0));
  if (free_now) {
    c->excl = exclusive;
    return 0;
  }
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct pg_turn t = {.conn = c, .exclusive = exclusive};
  cio__wait_init(&t.wait, self, 0);
  cio__wait_about(&t.wait, &turn_kind, &t);
  rc = cio__wait_on(&c->send_waiters, &t.wait);
  if (t.wait.state != CIO__WAIT_WOKEN || t.wait.result != 0)
    return rc; /* cancelled while waiting, or the connection broke */
  /* Granted, then the connection broke (or was closed) before this task
   * ran: nothing may be sent, `pg` may be gone. */
  if (rc == 0 && c->mode == PG_BROKEN)
    rc = c->error;
  if (exclusive) {
    if (rc < 0)
      cio__pg_end_exclusive(c); /* granted, but we are leaving */
    return rc;
  }
  c->granted--; /* we send now (nops counts it), or leave */
  if (rc < 0)
    grant(c); /* an exclusive turn may have waited for us to send */
  return rc;
}

void cio__pg_end_exclusive(cio_pg_conn *c) {
  c->excl = false;
  grant(c);
}

/* ---- sending --------------------------------------------------------- */

int cio__pg_flush(cio_pg_conn *c) {
  if (c->mode == PG_BROKEN)
    return c->error;
  int rc = PQflush(c->pg);
  if (rc < 0) {
    cio__pg_conn_break(c, CIO_ECONNRESET);
    return c->error;
  }
  if (rc == 1 && !c->writing) {
    if (cio_loop_add_writer(c->loop, c->fd, on_writable, c) == 0)
      c->writing = true;
  } else if (rc == 0 && c->writing) {
    cio_loop_remove_writer(c->loop, c->fd);
    c->writing = false;
  }
  return 0;
}

int cio__pg_sent(cio_pg_conn *c, bool ok) {
  if (ok)
    return cio__pg_flush(c);
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    cio__pg_conn_break(c, CIO_ECONNRESET);
    return c->error;
  }
  grant(c); /* nothing was sent: an exclusive turn may go */
  return CIO_EINVAL; /* libpq refused the arguments */
}

void cio__pg_begin_simple(cio_pg_conn *c) {
  for (int i = 0; i < 3 && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF; i++) {
    if (PQexitPipelineMode(c->pg))
      break;
    if (!PQisBusy(c->pg))
      PQclear(PQgetResult(c->pg)); /* a leftover NULL of the last op */
  }
  c->mode = PG_SIMPLE;
}

static void end_simple(cio_pg_conn *c) {
  if (!PQenterPipelineMode(c->pg)) {
    cio__pg_conn_break(c, CIO_EPROTO);
    return;
  }
  c->mode = PG_PIPELINE;
  cio__pg_end_exclusive(c);
}

void cio__pg_send_detached(cio_pg_conn *c, const char *sql) {
  if (c->mode != PG_PIPELINE)
    return; /* broken, or inside a COPY: it cannot be sent now */
  if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0) ||
      !PQpipelineSync(c->pg)) {
    cio__pg_sent(c, false);
    return;
  }
  if (cio__pg_op_add(c, OP_DETACHED, 0) == NULL) {
    cio__pg_conn_break(c, CIO_ENOMEM); /* its results could not be told */
    return;
  }
  cio__pg_flush(c);
}

/* ---- cancel requests -------------------------------------------------
 *
 * libpq's PQcancel blocks (it connects to the server), so it runs on the
 * default executor, from a task of its own so that a loop shutting down
 * cancels and awaits it like any task.  While it is in flight nothing new
 * is sent (grant waits): the request would hit a query sent after it.
 * (Queries already pipelined behind the abandoned one cannot be helped:
 * the server cannot tell them apart; they may fail with 57014.) */

/* Held by the request's task (let go in its done-callback, which runs
 * whether or not the body ran) and by its executor job while a cancelled
 * task leaves the job behind (let go by the dispose). */
struct pg_cancel {
  cio_loop *loop;
  cio_pg_conn *conn; /* NULL once the connection closed */
  PGcancel *cancel;
  int refs;
};

static int cancel_work(void *arg, void **result) {
  (void)result;
  struct pg_cancel *k = arg;
  char err[256];
  PQcancel(k->cancel, err, sizeof err);
  return 0;
}

static void cancel_unref(struct pg_cancel *k) {
  if (--k->refs > 0)
    return;
  PQfreeCancel(k->cancel);
  cio__free(k->loop, k);
}

static void cancel_dispose(void *arg, void *result, int status) {
  (void)result;
  (void)status;
  cancel_unref(arg);
}

static int cancel_task(void *arg, void **result) {
  (void)result;
  struct pg_cancel *k = arg;
  k->refs++; /* the job's */
  int rc = cio_run_in_executor(NULL, cancel_work, k, cancel_dispose, NULL);
  if (rc != CIO_ECANCELED)
    cancel_unref(k); /* the job came back: no dispose runs */
  return 0;
}

/* The request's task is done (or was cancelled before it ran): the
 * connection may send again. */
static void cancel_done(cio_future *f, void *arg) {
  (void)f;
  struct pg_cancel *k = arg;
  cio_pg_conn *c = k->conn;
  cancel_unref(k); /* the task's */
  if (c != NULL) {
    cio_task_release(c->cancel_task);
    c->cancel_task = NULL;
    c->cancel = NULL;
    maybe_cancel(c); /* the next abandoned op, if one reached the front */
    grant(c);
  }
}

void cio__pg_send_cancel(cio_pg_conn *c) {
  if (c->cancel_task != NULL || c->mode == PG_BROKEN)
    return; /* one at a time: maybe_cancel runs again after it; a broken
               connection's query ends with its socket */
  struct pg_cancel *k = cio__calloc(c->loop, 1, sizeof *k);
  if (k == NULL)
    return;
  k->loop = c->loop;
  k->conn = c;
  k->refs = 1;
  k->cancel = PQgetCancel(c->pg);
  cio_task_opts o = {.name = "postgres cancel request"};
  if (k->cancel == NULL ||
      cio_create_task(c->loop, &c->cancel_task, cancel_task, k, &o) < 0) {
    cancel_unref(k);
    return;
  }
  if (cio_task_add_done_callback(c->cancel_task, cancel_done, k) < 0) {
    cio_task_cancel(c->cancel_task); /* never runs: k is still only ours */
    cio_task_release(c->cancel_task);
    c->cancel_task = NULL;
    cancel_unref(k);
    return;
  }
  c->cancel = k;
}

int cio__pg_cancel_wait(cio_pg_conn *c) {
  if (c->cancel_task == NULL)
    return 0;
  cio_task *t = cio_task_retain(c->cancel_task);
  int rc = cio_task_await(t, NULL);
  cio_task_release(t);
  return rc;
}

/* ---- the driver ------------------------------------------------------ */

static bool is_error(const PGresult *r) {
  ExecStatusType st = PQresultStatus(r);
  return st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
         st == PGRES_PIPELINE_ABORTED;
}

static void on_result(cio_pg_conn *c, PGresult *r) {
  struct pg_op *op = front(c);
  ExecStatusType st = PQresultStatus(r);
  if (op == NULL) {
    PQclear(r); /* nobody asked: an error the server sent on its own */
    return;
  }
  if (st == PGRES_PIPELINE_SYNC) {
    PQclear(r);
    finish_op(c, op, 0);
    maybe_cancel(c);
    if (c->nops == 0)
      grant(c); /* an exclusive op may have waited for the pipeline */
    return;
  }
  if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
    c->mode = st == PGRES_COPY_IN ? PG_COPY_IN : PG_COPY_OUT;
    PQclear(op->res);
    op->res = r;
    finish_op(c, op, 0);
    return;
  }
  if (op->cached[0] != '\0' && is_error(r))
    cio__pg_cache_failed(c, op->cached, op->prepares,
                         PQresultErrorField(r, PG_DIAG_SQLSTATE));
  /* Keep the first error, else the last result (a script's last
   * statement). */
  if (op->res != NULL && is_error(op->res)) {
    PQclear(r);
    return;
  }
  PQclear(op->res);
  op->res = r;
}

static void take_notifications(cio_pg_conn *c) {
  PGnotify *n;
  while ((n = PQnotifies(c->pg)) != NULL) {
    size_t lc = strlen(n->relname) + 1, lp = strlen(n->extra) + 1;
    struct pg_notify_item *it = cio__malloc(c->loop, sizeof *it + lc + lp);
    if (it != NULL) {
      char *p = (char *)(it + 1);
      memcpy(p, n->relname, lc);
      memcpy(p + lc, n->extra, lp);
      it->n = (cio_pg_notification){p, p + lc, n->be_pid};
      cio__list_push_back(&c->notifies, &it->node);
    }
    PQfreemem(n);
  }
  if (!cio__list_empty(&c->notifies) && c->notify_waiter != NULL)
    cio__wait_try_wake(c->notify_waiter, 0);
}

/* Read every result that is complete, in pipeline or simple mode. */
void cio__pg_drive(cio_pg_conn *c) {
  bool last_null = false;
  while (c->mode == PG_PIPELINE || c->mode == PG_SIMPLE) {
    if (PQisBusy(c->pg))
      break;
    PGresult *r = PQgetResult(c->pg);
    if (r != NULL) {
      last_null = false;
      on_result(c, r);
      continue;
    }
    struct pg_op *op = front(c);
    if (c->mode == PG_SIMPLE && op != NULL && op->kind == OP_SIMPLE) {
      finish_op(c, op, 0); /* the end of a simple query's results */
      end_simple(c);
      continue;
    }
    if (last_null || op == NULL)
      break; /* nothing more for now */
    last_null = true; /* the end of one op's results; its sync follows */
  }
}

static void on_readable(void *arg) {
  cio_pg_conn *c = arg;
  if (!PQconsumeInput(c->pg)) {
    cio__pg_conn_break(c, CIO_ECONNRESET);
    return;
  }
  cio__pg_drive(c);
  if (c->mode == PG_BROKEN)
    return;
  take_notifications(c);
  if (c->copy_waiter != NULL)
    cio__wait_try_wake(c->copy_waiter, 0);
  if (PQstatus(c->pg) == CONNECTION_BAD)
    cio__pg_conn_break(c, CIO_ECONNRESET);
}

static void on_writable(void *arg) {
  cio_pg_conn *c = arg;
  cio__pg_flush(c);
  if (c->copy_waiter != NULL)
    cio__wait_try_wake(c->copy_waiter, 0);
}

static void copy_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const cio_pg_conn *c = obj;
  cio__text_put(out, c->mode == PG_COPY_OUT  ? "data from the server on "
                     : c->mode == PG_COPY_IN ? "room to send on "
                                             : "the server's answer on ");
  conn_state(c, out);
}

static const struct cio__wait_kind copy_kind = {.what = "PostgreSQL COPY",
                                                .describe = copy_describe};

static void notify_describe(cio_loop *loop, const void *obj,
                            struct cio__text *out) {
  (void)loop;
  conn_state(obj, out);
}

static const struct cio__wait_kind notify_kind = {
    .what = "PostgreSQL notification", .describe = notify_describe};

/* Park on `*slot` (the connection's one COPY or notification waiter)
 * until the driver or a break wakes it. */
static int driver_wait(cio_pg_conn *c, struct cio__wait **slot,
                       const struct cio__wait_kind *kind) {
  if (c->mode == PG_BROKEN)
    return c->error;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct cio__wait w;
  cio__wait_init(&w, self, 0);
  cio__wait_about(&w, kind, c);
  *slot = &w;
  rc = cio__wait_park(&w);
  *slot = NULL;
  return rc;
}

int cio__pg_copy_wait(cio_pg_conn *c) {
  return driver_wait(c, &c->copy_waiter, &copy_kind);
}

int cio__pg_notify_wait(cio_pg_conn *c) {
  return driver_wait(c, &c->notify_waiter, &notify_kind);
}

void cio__pg_conn_break(cio_pg_conn *c, int error) {
  if (c->mode == PG_BROKEN)
    return;
  bool in_copy = c->mode == PG_COPY_IN || c->mode == PG_COPY_OUT;
  c->mode = PG_BROKEN;
  c->error = error;
  cio_loop_remove_reader(c->loop, c->fd);
  if (c->writing)
    cio_loop_remove_writer(c->loop, c->fd);
  c->writing = false;
  /* A result already in (say FATAL 57P01, "terminating connection due to
   * administrator command") is what the op's task sees.  Not inside a
   * COPY: there PQgetResult answers PGRES_COPY_* again and again. */
  if (!in_copy && PQconsumeInput(c->pg) && !PQisBusy(c->pg)) {
    PGresult *r;
    while (!PQisBusy(c->pg) && (r = PQgetResult(c->pg)) != NULL)
      on_result(c, r);
  }
  struct pg_op *op;
  while ((op = front(c)) != NULL)
    finish_op(c, op, error);
  grant(c);
  /* Woken, they are no longer the connection's waiters (invariant 6
   * holds from the close on, before their tasks run and clear them). */
  if (c->notify_waiter != NULL)
    cio__wait_try_wake(c->notify_waiter, error);
  if (c->copy_waiter != NULL)
    cio__wait_try_wake(c->copy_waiter, error);
  c->notify_waiter = c->copy_waiter = NULL;
}

/* ---- connecting ------------------------------------------------------ */

/* What went wrong, from libpq's message: nothing listening, a timeout, a
 * name that does not resolve, or the server said no (CIO_EDB). */
static int connect_error(const char *msg) {
  if (strstr(msg, "Connection refused") || strstr(msg, "No such file"))
    return CIO_ECONNREFUSED;
  if (strstr(msg, "timeout expired") || strstr(msg, "timed out"))
    return CIO_ETIMEDOUT;
  if (strstr(msg, "could not translate host name"))
    return CIO_EAI_NONAME;
  if (strstr(msg, "FATAL") || strstr(msg, "authentication") ||
      strstr(msg, "password") || strstr(msg, "does not exist"))
    return CIO_EDB;
  if (strstr(msg, "Network is unreachable"))
    return CIO_ENETUNREACH;
  if (strstr(msg, "No route to host"))
    return CIO_EHOSTUNREACH;
  return CIO_ECONNRESET;
}

/* libpq resolves host names inside PQconnectPoll, blocking: resolve a
 * single host name first with the loop's resolver and hand libpq the
 * address as hostaddr. */
static int resolve_host(PQconninfoOption *opts, char *addr, size_t cap,
                        const char **host_out) {
  const char *host = NULL, *hostaddr = NULL;
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
    if (strcmp(o->keyword, "host") == 0)
      host = o->val;
    else if (strcmp(o->keyword, "hostaddr") == 0)
      hostaddr = o->val;
  }
  *host_out = NULL;
  if (host == NULL || host[0] == '\0' || host[0] == '/' || host[0] == '@' ||
      strchr(host, ',') != NULL || (hostaddr != NULL && hostaddr[0] != '\0'))
    return 0;
  cio_addr probe;
  if (cio_addr_parse(&probe, host, 0) == 0)
    return 0; /* already numeric */
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  int rc = cio_getaddrinfo(host, NULL, &hints, &res);
  if (rc < 0)
    return rc;
  cio_addr a;
  memcpy(&a, res->ai_addr, res->ai_addrlen);
  cio_freeaddrinfo(res);
  rc = cio_addr_format(&a, addr, cap, NULL);
  if (rc == 0)
    *host_out = addr;
  return rc;
}

static PGconn *start_connect(const char *conninfo, char *errbuf, size_t cap,
                             int *rc) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
  if (opts == NULL) {
    snprintf(errbuf, cap, "%s", err ? err : "bad connection string");
    PQfreemem(err);
    *rc = err ? CIO_EINVAL : CIO_ENOMEM;
    return NULL;
  }
  char addr[64];
  const char *hostaddr;
  *rc = resolve_host(opts, addr, sizeof addr, &hostaddr);
  if (*rc < 0) {
    snprintf(errbuf, cap, "could not resolve the host: %s",
             cio_strerror(*rc));
    PQconninfoFree(opts);
    return NULL;
  }
  const char *keys[64], *vals[64];
  size_t n = 0;
  for (PQconninfoOption *o = opts; o->keyword != NULL && n < 62; o++) {
    if (o->val == NULL || strcmp(o->keyword, "hostaddr") == 0)
      continue;
    keys[n] = o->keyword;
    vals[n++] = o->val;
  }
  if (hostaddr != NULL) {
    keys[n] = "hostaddr";
    vals[n++] = hostaddr;
  }
  keys[n] = vals[n] = NULL;
  PGconn *pg = PQconnectStartParams(keys, vals, 0);
  PQconninfoFree(opts);
  if (pg == NULL)
    *rc = CIO_ENOMEM;
  return pg;
}

/* Drive PQconnectPoll with fd waits until it is done. */
static int poll_connect(PGconn *pg, double deadline) {
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    if (st == PGRES_POLLING_OK)
      return 0;
    if (st == PGRES_POLLING_FAILED || PQstatus(pg) == CONNECTION_BAD)
      return connect_error(PQerrorMessage(pg));
    double left = deadline == CIO_NO_TIMEOUT ? CIO_NO_TIMEOUT
                                             : deadline - cio_time();
    if (left <= 0)
      return CIO_ETIMEDOUT;
    int rc = cio_fd_wait(PQsocket(pg),
                         st == PGRES_POLLING_READING ? CIO_READABLE
                                                     : CIO_WRITABLE,
                         left);
    if (rc < 0)
      return rc;
    st = PQconnectPoll(pg);
  }
}

/* "0x... (fd 7, database app on /tmp:5432)": debug mode's list of what
 * was left open. */
static void conn_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const cio_pg_conn *c = obj;
  cio__text_printf(out, "%p (fd %d, database %s on %s:%s)", obj, c->fd,
                   PQdb(c->pg), PQhost(c->pg), PQport(c->pg));
}

int cio_pg_connect(cio_pg_conn **out, const char *conninfo, double timeout,
                   char *errbuf, size_t errcap) {
  char dummy[8];
  if (errbuf == NULL || errcap == 0) {
    errbuf = dummy;
    errcap = sizeof dummy;
  }
  errbuf[0] = '\0';
  if (out != NULL)
    *out = NULL;
  if (out == NULL || conninfo == NULL || timeout != timeout)
    return CIO_EINVAL;
  cio_loop *loop = cio_get_running_loop();
  if (loop == NULL || cio_current_task() == NULL)
    return CIO_EPERM;
  double deadline = timeout == CIO_NO_TIMEOUT ? CIO_NO_TIMEOUT
                                              : cio_time() + timeout;
  int rc;
  PGconn *pg = start_connect(conninfo, errbuf, errcap, &rc);
  if (pg == NULL)
    return rc;
  rc = poll_connect(pg, deadline);
  if (rc == 0 && (PQsetnonblocking(pg, 1) != 0 || !PQenterPipelineMode(pg)))
    rc = CIO_EPROTO;
  cio_pg_conn *c = rc == 0 ? cio__calloc(loop, 1, sizeof *c) : NULL;
  if (rc == 0 && c == NULL)
    rc = CIO_ENOMEM;
  if (rc == 0) {
    *c = (cio_pg_conn){
        .loop = loop, .state = PG_OPEN, .refs = 1, .pg = pg, .fd = PQsocket(pg)};
    cio__list_init(&c->ops);
    cio__list_init(&c->send_waiters);
    cio__list_init(&c->notifies);
    cio__list_init(&c->pool_node);
    rc = cio_loop_add_reader(loop, c->fd, on_readable, c);
    if (rc < 0)
      cio__free(loop, c);
  }
  if (rc < 0) {
    if (errbuf[0] == '\0')
      snprintf(errbuf, errcap, "%s",
               rc == CIO_ETIMEDOUT || rc == CIO_ECANCELED ? cio_strerror(rc)
                                                          : PQerrorMessage(pg));
    PQfinish(pg);
    return rc;
  }
  cio__debug_track(loop, "PostgreSQL connection", c, conn_describe);
  *out = c;
  return 0;
}

/* ---- the connection's life (invariants 5 and 6) --------------------- */

bool cio__pg_conn_check(const cio_pg_conn *c) {
  if (c->refs <= 0 || c->state > PG_CLOSED || c->mode > PG_BROKEN)
    return false;
  if (c->mode == PG_BROKEN &&
      (c->nops != 0 || !cio__list_empty(&c->ops) || c->writing ||
       cio__wait_count(&c->send_waiters) != 0)) /* (4) */
    return false;
  if (c->state == PG_CLOSED &&
      (c->mode != PG_BROKEN || c->pg != NULL || c->cancel_task != NULL ||
       c->notify_waiter != NULL || c->copy_waiter != NULL ||
       !cio__list_empty(&c->notifies))) /* (6) */
    return false;
  return true;
}

cio_pg_conn *cio__pg_conn_ref(cio_pg_conn *c) {
  CIO_ASSERT(cio__pg_conn_check(c));
  c->refs++;
  return c;
}

void cio__pg_conn_unref(cio_pg_conn *c) {
  CIO_ASSERT(c->refs > 0);
  if (--c->refs > 0)
    return;
  CIO_ASSERT(c->state == PG_CLOSED);
  cio__free(c->loop, c);
}

int cio_pg_close(cio_pg_conn *c) {
  if (c == NULL)
    return 0;
  CIO_ASSERT(cio__pg_conn_check(c));
  if (c->state == PG_CLOSED)
    return 0; /* closed already, still held by a call in progress */
  cio__debug_untrack(c->loop, c);
  /* Every call in progress is woken with the error; each holds `c`, so
   * it resumes on valid memory and finds it broken. */
  cio__pg_conn_break(c, CIO_ECONNRESET);
  if (c->cancel != NULL) {
    c->cancel->conn = NULL; /* the request goes on without us */
    cio_task_release(c->cancel_task);
    c->cancel_task = NULL;
    c->cancel = NULL;
  }
  struct cio__list *n;
  while ((n = cio__list_pop_front(&c->notifies)) != NULL)
    cio__free(c->loop, cio__container_of(n, struct pg_notify_item, node));
  cio__pg_cache_clear(c);
  PQfinish(c->pg);
  c->pg = NULL;
  c->state = PG_CLOSED;
  cio__pg_conn_unref(c); /* the user's */
  return 0;
}

bool cio_pg_in_transaction(const cio_pg_conn *c) {
  if (c == NULL || c->mode == PG_BROKEN)
    return false;
  PGTransactionStatusType st = PQtransactionStatus(c->pg);
  return st == PQTRANS_INTRANS || st == PQTRANS_INERROR;
}

bool cio_pg_is_broken(const cio_pg_conn *c) {
  return c == NULL || c->mode == PG_BROKEN;
}

size_t cio_pg_pending(const cio_pg_conn *c) {
  return c ? c->nops : 0;
}

int cio_pg_backend_pid(const cio_pg_conn *c) {
  return c && c->pg ? PQbackendPID(c->pg) : 0;
}
