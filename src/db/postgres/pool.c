/* Pools of PostgreSQL connections (asyncpg.create_pool).
 *
 *   connection: IDLE (in `idle`) -> IN USE (acquired) -> IDLE | CLOSED
 * (1) `size` counts every connection open or being opened; never above
 *     max_size.
 * (2) A released connection goes to the first task still waiting, else
 *     to `idle` (most recently used at the back, taken first, so the
 *     others age and the idle timeout closes them).
 * (3) A connection is reused only when it is healthy: not broken, no
 *     query in flight, no transaction open, fewer than max_queries uses.
 * (4) Once `closing`, nothing is handed out; the close waits for `size`
 *     to reach 0. */
#include "db/postgres/pg.h"

struct pool_waiter {
  struct cio__list node;
  cio_future *fut; /* result: a connection, or NULL: "try again" */
};

struct cio_pg_pool {
  cio_loop *loop;
  char *conninfo;
  cio_pg_pool_opts opts;
  struct cio__list idle; /* cio_pg_conn.pool_node */
  struct cio__list waiters;
  size_t size, nidle;
  bool closing;
  cio_future *closed; /* the closing task waits for size == 0 */
  cio_handle *reaper;
};

static void reap(void *arg);

static void schedule_reaper(cio_pg_pool *p) {
  if (p->reaper != NULL || p->closing || p->opts.idle_timeout == CIO_NO_TIMEOUT ||
      p->nidle == 0 || p->size <= p->opts.min_size)
    return;
  /* Without memory for the timer, idle connections stay until the next
   * release tries again. */
  (void)!cio_loop_call_later(p->loop, p->opts.idle_timeout, reap, p,
                             &p->reaper);
}

static void drop(cio_pg_pool *p, cio_pg_conn *c) {
  cio_pg_close(c);
  p->size--;
  if (p->closing && p->size == 0 && p->closed != NULL &&
      !cio_future_is_done(p->closed))
    cio_future_set_result(p->closed, NULL);
}

/* Close idle connections older than the idle timeout, above min_size. */
static void reap(void *arg) {
  cio_pg_pool *p = arg;
  cio_handle_release(p->reaper);
  p->reaper = NULL;
  double now = cio_loop_time(p->loop);
  struct cio__list *it = p->idle.next;
  while (it != &p->idle && p->size > p->opts.min_size) {
    struct cio__list *next = it->next;
    cio_pg_conn *c = cio__container_of(it, cio_pg_conn, pool_node);
    if (now - c->idle_since >= p->opts.idle_timeout) {
      cio__list_remove(&c->pool_node);
      p->nidle--;
      drop(p, c);
    }
    it = next;
  }
  schedule_reaper(p);
}

/* A waiter still waiting, or NULL. */
static struct pool_waiter *first_waiter(cio_pg_pool *p) {
  while (!cio__list_empty(&p->waiters)) {
    struct pool_waiter *w =
        cio__container_of(p->waiters.next, struct pool_waiter, node);
    cio__list_remove(&w->node);
    if (!cio_future_is_done(w->fut))
      return w;
  }
  return NULL;
}

static bool healthy(cio_pg_pool *p, cio_pg_conn *c) {
  return !cio_pg_is_broken(c) && c->nops == 0 &&
         PQtransactionStatus(c->pg) == PQTRANS_IDLE &&
         c->uses < p->opts.max_queries;
}

static int open_one(cio_pg_pool *p, double deadline, cio_pg_conn **out) {
  double t = p->opts.connect_timeout;
  if (deadline != CIO_NO_TIMEOUT && deadline - cio_time() < t)
    t = deadline - cio_time();
  if (t <= 0)
    return CIO_ETIMEDOUT;
  p->size++; /* invariant 1: counted while connecting */
  int rc = cio_pg_connect(out, p->conninfo, t, NULL, 0);
  if (rc < 0) {
    p->size--;
    struct pool_waiter *w = first_waiter(p);
    if (w != NULL)
      cio_future_set_result(w->fut, NULL); /* its turn to try */
    if (p->closing && p->size == 0 && p->closed != NULL &&
        !cio_future_is_done(p->closed))
      cio_future_set_result(p->closed, NULL);
    return rc;
  }
  (*out)->pool = p;
  return 0;
}

int cio_pg_pool_open(cio_pg_pool **out, const char *conninfo,
                     const cio_pg_pool_opts *opts) {
  if (out != NULL)
    *out = NULL;
  if (out == NULL || conninfo == NULL)
    return CIO_EINVAL;
  cio_loop *loop = cio_get_running_loop();
  if (loop == NULL || cio_current_task() == NULL)
    return CIO_EPERM;
  cio_pg_pool *p = cio__calloc(loop, 1, sizeof *p);
  if (p == NULL || (p->conninfo = cio__strdup(loop, conninfo)) == NULL) {
    cio__free(loop, p);
    return CIO_ENOMEM;
  }
  p->loop = loop;
  if (opts != NULL)
    p->opts = *opts;
  cio_pg_pool_opts *o = &p->opts;
  o->max_size = o->max_size ? o->max_size : 10;
  o->min_size = o->min_size < o->max_size ? o->min_size : o->max_size;
  o->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 10.0;
  o->idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : 300.0;
  o->max_queries = o->max_queries ? o->max_queries : 50000;
  cio__list_init(&p->idle);
  cio__list_init(&p->waiters);
  for (size_t i = 0; i < o->min_size; i++) {
    cio_pg_conn *c;
    int rc = open_one(p, CIO_NO_TIMEOUT, &c);
    if (rc < 0) {
      (void)!cio_pg_pool_close(p); /* the open error is what matters */
      return rc;
    }
    c->idle_since = cio_time();
    cio__list_push_back(&p->idle, &c->pool_node);
    p->nidle++;
  }
  cio__debug_track(loop, "PostgreSQL pool", p, NULL);
  *out = p;
  return 0;
}

/* Wait for a release until `deadline`: a connection, NULL (try again),
 * or an error. */
static int wait_release(cio_pg_pool *p, double deadline, cio_pg_conn **got) {
  struct pool_waiter w;
  *got = NULL;
  int rc = cio_future_new(p->loop, &w.fut);
  if (rc < 0)
    return rc;
  cio__list_push_back(&p->waiters, &w.node);
  double left = deadline == CIO_NO_TIMEOUT ? CIO_NO_TIMEOUT
                                           : deadline - cio_time();
  void *res = NULL;
  rc = cio_wait_for(w.fut, left > 0 ? left : 0, &res);
  cio__list_remove(&w.node);
  if (rc < 0 && cio_future_result(w.fut, &res) == 0 && res != NULL)
    cio_pg_pool_release(p, res); /* handed over as we left: give it back */
  else if (rc == 0)
    *got = res;
  cio_future_release(w.fut);
  return rc;
}

int cio_pg_pool_acquire(cio_pg_pool *p, double timeout, cio_pg_conn **out) {
  if (out != NULL)
    *out = NULL;
  if (p == NULL || out == NULL || timeout != timeout)
    return CIO_EINVAL;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  double deadline = timeout == CIO_NO_TIMEOUT ? CIO_NO_TIMEOUT
                                              : cio_time() + timeout;
  for (;;) {
    if (p->closing)
      return CIO_ESHUTDOWN;
    if (p->nidle > 0) {
      struct cio__list *n = p->idle.prev; /* the most recently used */
      cio__list_remove(n);
      p->nidle--;
      cio_pg_conn *c = cio__container_of(n, cio_pg_conn, pool_node);
      if (!healthy(p, c)) {
        drop(p, c); /* broken or worn out: replaced below */
        continue;
      }
      c->uses++;
      *out = c;
      return 0;
    }
    if (p->size < p->opts.max_size) {
      cio_pg_conn *c;
      int rc = open_one(p, deadline, &c);
      if (rc < 0)
        return rc;
      c->uses = 1;
      *out = c;
      return 0;
    }
    cio_pg_conn *got;
    int rc = wait_release(p, deadline, &got);
    if (rc < 0)
      return rc;
    if (got != NULL) {
      got->uses++;
      *out = got;
      return 0;
    }
  }
}

int cio_pg_pool_release(cio_pg_pool *p, cio_pg_conn *c) {
  if (p == NULL || c == NULL || c->pool != p || cio__list_linked(&c->pool_node))
    return CIO_EINVAL;
  if (p->closing || !healthy(p, c)) {
    drop(p, c);
    struct pool_waiter *w = p->closing ? NULL : first_waiter(p);
    if (w != NULL)
      cio_future_set_result(w->fut, NULL); /* room for a new connection */
    return 0;
  }
  struct pool_waiter *w = first_waiter(p);
  if (w != NULL) {
    cio_future_set_result(w->fut, c); /* invariant 2 */
    return 0;
  }
  c->idle_since = cio_loop_time(p->loop);
  cio__list_push_back(&p->idle, &c->pool_node);
  p->nidle++;
  schedule_reaper(p);
  return 0;
}

int cio_pg_pool_query(cio_pg_pool *p, const char *sql,
                      const cio_db_value *params, size_t n,
                      cio_db_result **res) {
  cio_pg_conn *c;
  if (res != NULL)
    *res = NULL;
  int rc = cio_pg_pool_acquire(p, CIO_NO_TIMEOUT, &c);
  if (rc < 0)
    return rc;
  rc = cio_pg_query(c, sql, params, n, res);
  cio_pg_pool_release(p, c);
  return rc;
}

size_t cio_pg_pool_size(const cio_pg_pool *p) {
  return p ? p->size : 0;
}

size_t cio_pg_pool_idle(const cio_pg_pool *p) {
  return p ? p->nidle : 0;
}

int cio_pg_pool_close(cio_pg_pool *p) {
  if (p == NULL)
    return 0;
  cio__debug_untrack(p->loop, p);
  p->closing = true;
  if (p->reaper != NULL) {
    cio_handle_cancel(p->reaper);
    cio_handle_release(p->reaper);
    p->reaper = NULL;
  }
  struct pool_waiter *w;
  while ((w = first_waiter(p)) != NULL)
    cio_future_set_error(w->fut, CIO_ESHUTDOWN);
  struct cio__list *n;
  while ((n = cio__list_pop_front(&p->idle)) != NULL) {
    p->nidle--;
    drop(p, cio__container_of(n, cio_pg_conn, pool_node));
  }
  if (p->size > 0) {
    if (cio_current_task() == NULL)
      return CIO_EBUSY;
    if (p->closed != NULL && cio_future_is_done(p->closed)) {
      cio_future_release(p->closed); /* an earlier close was cancelled */
      p->closed = NULL;
    }
    if (p->closed == NULL) {
      int rc = cio_future_new(p->loop, &p->closed);
      if (rc < 0)
        return rc;
    }
    int rc = cio_await(p->closed, NULL);
    if (rc < 0)
      return rc;
  }
  cio_future_release(p->closed);
  cio__free(p->loop, p->conninfo);
  cio__free(p->loop, p);
  return 0;
}
