/* Private types of the PostgreSQL battery (src/db/postgres/).
 *
 * A connection is a libpq PGconn in non-blocking pipeline mode, driven by
 * the loop: a reader callback on its socket is registered as long as the
 * connection is open (results, notifications, and a server that goes
 * away are all seen there), a writer callback only while libpq has bytes
 * it could not send.  Tasks never read the socket themselves: each query
 * is an op in `ops`, and its task awaits the op's future.
 *
 * Modes of a connection (conn.c):
 *   PIPELINE -> SIMPLE     an exclusive op (a script, a COPY) is sent
 *                          once nothing else is in flight  cio__pg_begin_simple()
 *   SIMPLE -> COPY_IN/OUT  the server accepted a COPY      on_result()
 *   SIMPLE -> PIPELINE     the op's results are all in     end_simple()
 *   COPY_* -> SIMPLE       the copy ended (copy.c)         cio__pg_copy_end...
 *   * -> BROKEN            the socket or the server failed cio__pg_conn_break()
 *
 * Lifecycle of the struct (conn.c, `state`):
 *   OPEN -> CLOSED         cio_pg_close(): the connection is broken (every
 *                          call in progress fails with CIO_ECONNRESET),
 *                          libpq's PGconn finished, the notifications
 *                          and the statement cache freed, the user's
 *                          reference dropped
 *   CLOSED -> freed        the last reference dropped  cio__pg_conn_unref()
 *
 * Ops (queries) in `ops`, in the order they were sent:
 *   SENT -> FINISHED      its results and its sync came back  finish_op()
 *   SENT -> ABANDONED     its future was cancelled (the task stopped
 *                         waiting); a cancel request goes to the server
 *                         once it is at the front; its results are
 *                         dropped when they come              op_future_done()
 * (1) `ops` is in the order of the pipeline: the front op is the one whose
 *     results arrive next.
 * (2) An op is freed when both the driver (it finished) and its future's
 *     done-callback (which always runs) let go: `refs`.
 * (3) While `excl` is set or mode != PIPELINE, new queries wait on
 *     `send_waiters` (they have not been sent): pipeline mode is left
 *     only with no op in flight and no shared turn granted unused.
 * (4) In BROKEN mode every op and waiter has been failed with `error`,
 *     the callbacks are removed, and nothing is sent again.
 * (5) `refs` counts the user (until cio_pg_close), every public call in
 *     progress on the connection (so a task suspended inside a call when
 *     another task closes the connection resumes on valid memory, finds
 *     it BROKEN and returns its error), every open COPY and every
 *     prepared statement; it is > 0 for any connection a caller holds.
 * (6) CLOSED: mode BROKEN, `pg` NULL, no op, waiter, notification or
 *     cached statement left, no cancel request attached. */
#ifndef CIO_DB_PG_H
#define CIO_DB_PG_H

#include <libpq-fe.h>

#include "db/db.h"

enum pg_mode {
  PG_PIPELINE,
  PG_SIMPLE,
  PG_COPY_IN,
  PG_COPY_OUT,
  PG_BROKEN,
};

enum pg_state {
  PG_OPEN,
  PG_CLOSED,
};

enum op_kind {
  OP_QUERY,    /* extended protocol + its own sync, in the pipeline */
  OP_SIMPLE,   /* simple protocol, pipeline left (script, COPY start) */
  OP_DETACHED, /* a pipelined query nobody waits for (ROLLBACK ...) */
};

struct pg_op {
  struct cio__list node; /* in conn->ops */
  char cached[24];       /* the cached statement it runs, or "" */
  bool prepares;         /* it prepares that statement first */
  cio_pg_conn *conn;     /* NULL once the op left the connection */
  int kind;              /* enum op_kind */
  int refs;              /* invariant 2 */
  bool abandoned;        /* the future was cancelled */
  bool cancel_sent;
  int flags;             /* CIO_PG_BINARY_RESULTS */
  cio_future *fut;       /* NULL for OP_DETACHED */
  PGresult *res;         /* the result kept (the first error, or the last) */
};

struct pg_notify_item {
  struct cio__list node;
  cio_pg_notification n;
};

/* A task waiting for its turn to send (invariant 3): on the task's
 * stack, its wait record in `send_waiters`, woken by grant() with 0 (its
 * turn; `excl` is already its own if exclusive) or the connection's
 * error. */
struct pg_turn {
  struct cio__wait wait;
  cio_pg_conn *conn;
  bool exclusive;
};

/* A cached statement (stmt_cache.c). */
enum { STMT_CACHE = 64, PG_CACHE_MAX_PARAMS = 16 };
struct pg_cached {
  char *sql; /* NULL: a free slot */
  char name[24];
  uint32_t hash;
  int n;
  Oid types[PG_CACHE_MAX_PARAMS];
  uint64_t last_use;
};

struct cio_pg_conn {
  cio_loop *loop;
  int state; /* enum pg_state */
  int refs;  /* invariant 5 */
  PGconn *pg; /* NULL once CLOSED */
  int fd;
  int mode;     /* enum pg_mode */
  int error;    /* BROKEN: why */
  bool writing; /* writer callback registered */
  bool excl;    /* an exclusive op holds or waits for the connection */
  /* Shared turns granted whose tasks have not come back to send yet: an
   * exclusive turn waits for them as for the ops in flight, or a task
   * arriving meanwhile would take the connection from under them. */
  size_t granted;
  struct cio__list ops;          /* pg_op, invariant 1 */
  size_t nops;
  struct cio__list send_waiters; /* pg_turn.wait, FIFO */
  struct cio__list notifies;     /* pg_notify_item */
  /* The task waiting for a notification, and a COPY's task waiting for
   * input or room: wait records on their stacks, woken by the driver with
   * 0 or by a break with `error`; cleared by their own task. */
  struct cio__wait *notify_waiter;
  struct cio__wait *copy_waiter;
  uint64_t stmt_seq;
  struct pg_cached cache[STMT_CACHE];
  uint64_t cache_clock;
  cio_task *cancel_task;     /* a cancel request in flight */
  struct pg_cancel *cancel;  /* its state */
  /* pool.c */
  struct cio_pg_pool *pool;
  struct cio__list pool_node;
  double idle_since;
  uint64_t uses;
};

/* conn.c */
/* Invariants 4 to 6, for CIO_ASSERT at the public entry points. */
bool cio__pg_conn_check(const cio_pg_conn *c);
/* Hold `c` for a call in progress, a COPY or a statement (invariant 5);
 * the last unref frees a closed connection. */
cio_pg_conn *cio__pg_conn_ref(cio_pg_conn *c);
void cio__pg_conn_unref(cio_pg_conn *c);
/* Wait until this task may send: the pipeline is open, or (exclusive)
 * nothing at all is in flight; then `excl` is the caller's. */
int cio__pg_wait_turn(cio_pg_conn *c, bool exclusive);
struct pg_op *cio__pg_op_add(cio_pg_conn *c, int kind, int flags);
int cio__pg_sent(cio_pg_conn *c, bool ok);
int cio__pg_flush(cio_pg_conn *c);
int cio__pg_op_wait(struct pg_op *op, cio_db_result **res);
/* Stop waiting for `op` without awaiting it (the task's hold goes). */
void cio__pg_op_abandon(struct pg_op *op);
/* Read the results libpq has complete (the reader callback's work). */
void cio__pg_drive(cio_pg_conn *c);
/* A simple-protocol query with the connection to itself (query.c). */
int cio__pg_simple(cio_pg_conn *c, const char *sql, cio_db_result **res);
void cio__pg_begin_simple(cio_pg_conn *c);
void cio__pg_end_exclusive(cio_pg_conn *c);
void cio__pg_conn_break(cio_pg_conn *c, int error);
int cio__pg_copy_wait(cio_pg_conn *c);
/* Park on `c->notify_waiter` until a notification or a break. */
int cio__pg_notify_wait(cio_pg_conn *c);
void cio__pg_send_cancel(cio_pg_conn *c);
/* Wait until the cancel request in flight (if any) was delivered. */
int cio__pg_cancel_wait(cio_pg_conn *c);
void cio__pg_send_detached(cio_pg_conn *c, const char *sql);

/* stmt_cache.c: the entry for (sql, types), made if new (`*fresh`: it
 * must be prepared first); NULL when not cacheable or out of memory. */
struct pg_cached *cio__pg_cache_get(cio_pg_conn *c, const char *sql,
                                    const Oid *types, int n, bool *fresh);
/* An op running cached statement `name` failed with `sqlstate`. */
void cio__pg_cache_failed(cio_pg_conn *c, const char *name, bool prepared,
                          const char *sqlstate);
void cio__pg_cache_clear(cio_pg_conn *c);

/* result.c: a cio_db_result over a PGresult (taking it); NULL on ENOMEM
 * (then `res` is cleared). */
cio_db_result *cio__pg_result_wrap(cio_loop *loop, PGresult *res);

#endif
