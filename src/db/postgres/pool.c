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
 *     to reach 0.
 * (5) `refs` counts the user (until the close is done) and every acquire
 *     in progress: a waiter woken to try again may run only after the
 *     pool was closed; it finds it closing (CIO_ESHUTDOWN), not freed.
 *
 * A task waiting in acquire parks a struct pool_waiter from its stack on
 * `waiters`.  A release wakes the first with 0 and `conn` set (the
 * connection is the waiter's now) or NULL ("try again": there is room for
 * a new connection); a close wakes them with CIO_ESHUTDOWN; the acquire
 * timeout wakes it with CIO_ETIMEDOUT.  A waiter cancelled after it was
 * handed a connection gives it back. */
#include "db/postgres/pg.h"

struct pool_waiter {
  struct cio__wait wait; /* in cio_pg_pool.waiters */
  struct cio__timer timer; /* the acquire timeout, if any */
  cio_pg_pool *pool;
  cio_pg_conn *conn; /* handed over with the wake-up, or NULL */
};

struct cio_pg_pool {
  cio_loop *loop;
  char *conninfo;
  cio_pg_pool_opts opts;
  struct cio__list idle; /* cio_pg_conn.pool_node */
  struct cio__list waiters;
  size_t size, nidle;
  bool closing;
  struct cio__wait *closer; /* the closing task waits for size == 0 */
  cio_handle *reaper;
  int refs; /* invariant 5 */
};

static void pool_unref(cio_pg_pool *p) {
  CIO_ASSERT(p->refs > 0);
  if (--p->refs > 0)
    return;
  CIO_ASSERT(p->closing && p->size == 0);
  cio__free(p->loop, p->conninfo);
  cio__free(p->loop, p);
}

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

/* Invariant 4: the last connection gone, the close may finish. */
static void maybe_closed(cio_pg_pool *p) {
  if (p->closing && p->size == 0 && p->closer != NULL)
    cio__wait_try_wake(p->closer, 0);
}

static void drop(cio_pg_pool *p, cio_pg_conn *c) {
  cio_pg_close(c);
  p->size--;
  maybe_closed(p);
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

/* Wake the first task still waiting with `conn` (NULL: try again);
 * false when nobody waits. */
static bool hand_over(cio_pg_pool *p, cio_pg_conn *conn) {
  struct cio__wait *w = cio__wait_first(&p->waiters);
  if (w == NULL)
    return false;
  cio__container_of(w, struct pool_waiter, wait)->conn = conn;
  cio__wait_wake(w, 0);
  return true;
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
    hand_over(p, NULL); /* its turn to try */
    maybe_closed(p);
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
  p->refs = 1; /* the user's */
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

static void on_acquire_timeout(struct cio__callback *cb) {
  struct pool_waiter *w = cio__container_of(cb, struct pool_waiter, timer.cb);
  cio__wait_try_wake(&w->wait, CIO_ETIMEDOUT);
}

/* "pool 0x... (10 of 10 open, 0 idle, 3 waiting), timeout in 1.500 s" */
static void acquire_describe(cio_loop *loop, const void *obj,
                             struct cio__text *out) {
  const struct pool_waiter *w = obj;
  const cio_pg_pool *p = w->pool;
  cio__text_printf(out, "pool %p (%zu of %zu open, %zu idle, %zu waiting)",
                   (const void *)p, p->size, p->opts.max_size, p->nidle,
                   cio__wait_count(&p->waiters));
  if (w->timer.in_heap)
    cio__text_printf(out, ", timeout in %.3f s",
                     (double)(w->timer.when_ns - cio__now_ns(loop)) / 1e9);
}

static const struct cio__wait_kind acquire_kind = {
    .what = "PostgreSQL pool acquire", .describe = acquire_describe};

/* Wait for a release until `deadline`: a connection, NULL (try again),
 * or an error. */
static int wait_release(cio_pg_pool *p, double deadline, cio_pg_conn **got) {
  *got = NULL;
  double left = deadline == CIO_NO_TIMEOUT ? CIO_NO_TIMEOUT
                                           : deadline - cio_time();
  if (left <= 0)
    return CIO_ETIMEDOUT; /* as wait_for(fut, 0) of a pending future */
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct pool_waiter w = {.pool = p};
  cio__wait_init(&w.wait, self, 0);
  cio__wait_about(&w.wait, &acquire_kind, &w);
  cio__list_init(&w.timer.cb.node);
  if (left != CIO_NO_TIMEOUT)
    cio__timer_start(p->loop, &w.timer, cio__deadline_after(p->loop, left),
                     on_acquire_timeout);
  rc = cio__wait_on(&p->waiters, &w.wait);
  cio__timer_stop(p->loop, &w.timer);
  if (rc == 0) {
    *got = w.conn;
  } else if (w.wait.state == CIO__WAIT_WOKEN && w.wait.result == 0) {
    /* Woken, then cancelled before we ran: pass on what we were given. */
    if (w.conn != NULL)
      cio_pg_pool_release(p, w.conn); /* handed over as we left */
    else if (!p->closing && p->size < p->opts.max_size)
      hand_over(p, NULL); /* the room to open one is the next waiter's */
  }
  return rc;
}

static int acquire(cio_pg_pool *p, double timeout, cio_pg_conn **out);

int cio_pg_pool_acquire(cio_pg_pool *p, double timeout, cio_pg_conn **out) {
  if (out != NULL)
    *out = NULL;
  if (p == NULL || out == NULL || timeout != timeout)
    return CIO_EINVAL;
  if (cio_current_task() == NULL)
    return CIO_EPERM;
  p->refs++; /* invariant 5 */
  int rc = acquire(p, timeout, out);
  pool_unref(p);
  return rc;
}

static int acquire(cio_pg_pool *p, double timeout, cio_pg_conn **out) {
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
    if (!p->closing)
      hand_over(p, NULL); /* room for a new connection */
    return 0;
  }
  if (hand_over(p, c)) /* invariant 2 */
    return 0;
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

static void pool_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const cio_pg_pool *p = obj;
  cio__text_printf(out, "pool %p (%zu connections still in use)", obj,
                   p->size);
}

static const struct cio__wait_kind close_kind = {
    .what = "PostgreSQL pool close", .describe = pool_describe};

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
  cio__wait_wake_all(&p->waiters, CIO_ESHUTDOWN);
  struct cio__list *n;
  while ((n = cio__list_pop_front(&p->idle)) != NULL) {
    p->nidle--;
    drop(p, cio__container_of(n, cio_pg_conn, pool_node));
  }
  if (p->size > 0) {
    if (cio_current_task() == NULL)
      return CIO_EBUSY;
    if (p->closer != NULL)
      return CIO_EBUSY; /* another task is closing it */
    int rc;
    cio_task *self = cio__task_for_suspend(&rc);
    if (self == NULL)
      return rc;
    struct cio__wait w;
    cio__wait_init(&w, self, 0);
    cio__wait_about(&w, &close_kind, p);
    p->closer = &w;
    rc = cio__wait_park(&w);
    p->closer = NULL;
    if (rc < 0)
      return rc; /* cancelled: a later close finishes the job */
  }
  pool_unref(p); /* the user's: acquires still leaving hold the rest */
  return 0;
}
