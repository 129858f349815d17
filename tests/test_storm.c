/* Cancellation storms: thousands of tasks blocked in every kind of wait
 * (sleep, lock, semaphore, queue put and get, event, condition, executor
 * job, gather, wait_for, TaskGroup, timeout scope, stream read and drain,
 * subprocess wait, cio_fd_wait) while the main task cancels them at
 * random, interleaved with what wakes them.  Every storm checks, besides
 * the runner's leak checks:
 *  - a task ends cancelled exactly when a cancel request made to it while
 *    it was not done (cio_task_cancel returned 1);
 *  - its kind's conservation law (one lock holder at a time and the lock
 *    free at the end, permits restored, items put = got + still queued
 *    with none twice, every executor argument and result freed once, no
 *    child outliving its composition, every byte read once and in order,
 *    every child process reaped).
 * The PRNG is seeded from the clock; a failure prints the seed and
 * CIO_TEST_SEED=<seed> replays the storm exactly. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

/* ---- the storm driver -------------------------------------------------- */

static bool mixed; /* every storm at once, in one loop */

struct storm;

struct agent {
  struct storm *s;
  int i;
  cio_task *t;
  bool cancel_made; /* a cancel request was taken while it ran */
  int rc;
  intptr_t got; /* what it took (kind-specific) */
};

typedef int (*agent_fn)(struct agent *a);

struct storm {
  const char *name;
  int n;
  struct agent *a;
  agent_fn fn;
  /* What wakes the agents (a release, a put, a set, a byte...), called
   * between cancellations; and what lets every one of them end. */
  void (*progress)(struct storm *s);
  void (*finish)(struct storm *s);
  void *ctx;
};

static int agent_main(void *arg, void **result) {
  (void)result;
  struct agent *a = arg;
  a->rc = a->s->fn(a);
  return a->rc;
}

static void spawn_agents(struct storm *s) {
  s->a = calloc((size_t)s->n, sizeof *s->a);
  CHECK(s->a != NULL);
  for (int i = 0; i < s->n; i++) {
    s->a[i] = (struct agent){.s = s, .i = i};
    CHECK_EQ(cio_create_task(NULL, &s->a[i].t, agent_main, &s->a[i], NULL),
             0);
  }
}

static bool all_done(const struct storm *s) {
  for (int i = 0; i < s->n; i++)
    if (!cio_task_is_done(s->a[i].t))
      return false;
  return true;
}

/* Cancel about a third of the agents at random moments, interleaved with
 * progress and with yields of random length. */
static void chaos(struct storm *s, int steps, double max_sleep) {
  for (int step = 0; step < steps; step++) {
    uint64_t r = test_rand_below(100);
    if (r < 35) {
      struct agent *a = &s->a[test_rand_below((uint64_t)s->n)];
      if (cio_task_cancel(a->t) == 1)
        a->cancel_made = true;
    } else if (r < 70) {
      if (s->progress != NULL)
        s->progress(s);
    } else if (r < 90) {
      CHECK_EQ(test_yield_n((int)test_rand_below(4)), 0);
    } else {
      CHECK_EQ(cio_sleep(max_sleep * (double)test_rand_below(1000) / 1000),
               0);
    }
  }
}

/* Let every agent end, then check the law every storm shares. */
static void settle(struct storm *s) {
  double t0 = test_now();
  for (int round = 0; !all_done(s); round++) {
    if (test_now() - t0 > 20)
      test_fail(__FILE__, __LINE__, "agents still waiting after 20 s");
    if (s->finish != NULL)
      s->finish(s);
    CHECK_EQ(cio_sleep(round < 1000 ? 0 : 0.001), 0);
  }
  int cancelled = 0;
  for (int i = 0; i < s->n; i++)
    cancelled += cio_task_is_cancelled(s->a[i].t);
  printf("%s: %d tasks, %d cancelled, %d ended otherwise\n", s->name, s->n,
         cancelled, s->n - cancelled);
  for (int i = 0; i < s->n; i++) {
    struct agent *a = &s->a[i];
    if (a->cancel_made != cio_task_is_cancelled(a->t))
      test_fail(__FILE__, __LINE__,
                "%s storm, agent %d: cancel request %s, ended %s (rc %s)",
                s->name, i,
                a->cancel_made ? "taken" : "never made",
                cio_task_is_cancelled(a->t) ? "cancelled" : "not cancelled",
                cio_err_name(a->rc));
  }
}

static void release_agents(struct storm *s) {
  for (int i = 0; i < s->n; i++) {
    (void)!cio_task_error(s->a[i].t); /* each agent's code was checked */
    cio_task_release(s->a[i].t);
  }
  free(s->a);
  s->a = NULL;
}

static int count_rc(const struct storm *s, int rc) {
  int k = 0;
  for (int i = 0; i < s->n; i++)
    k += s->a[i].rc == rc && !cio_task_is_cancelled(s->a[i].t);
  return k;
}

/* ---- sleep ------------------------------------------------------------- */

static int sleeper(struct agent *a) {
  double d = 0.001 * (double)(1 + a->i % 97);
  double t0 = cio_time();
  int rc = cio_sleep(d);
  if (rc == 0)
    CHECK(cio_time() - t0 >= d - 1e-9);
  return rc;
}

static int main_sleep(void *arg, void **result) {
  (void)arg, (void)result;
  struct storm s = {.name = "sleep", .n = 3000, .fn = sleeper};
  spawn_agents(&s);
  chaos(&s, 3000, 0.0002);
  settle(&s);
  CHECK(count_rc(&s, 0) > 0);
  release_agents(&s);
  return 0;
}

TEST(storm_sleep) {
  (void)test_seed();
  CHECK_EQ(test_run_virtual(main_sleep, NULL), 0);
}

/* ---- lock and semaphore -------------------------------------------------- */

struct guarded {
  cio_lock *lock;
  cio_semaphore *sem;
  int inside, max_inside;
  long entered;
};

static int critical(struct guarded *g) {
  g->inside++;
  if (g->inside > g->max_inside)
    g->max_inside = g->inside;
  g->entered++;
  int rc = cio_sleep(0.001); /* virtual: the others queue meanwhile */
  g->inside--;
  return rc;
}

static int locker(struct agent *a) {
  struct guarded *g = a->s->ctx;
  int rc = cio_lock_acquire(g->lock);
  if (rc < 0)
    return rc;
  rc = critical(g);
  CHECK_EQ(cio_lock_release(g->lock), 0);
  return rc;
}

static int permit_taker(struct agent *a) {
  struct guarded *g = a->s->ctx;
  int rc = cio_semaphore_acquire(g->sem);
  if (rc < 0)
    return rc;
  rc = critical(g);
  CHECK_EQ(cio_semaphore_release(g->sem), 0);
  return rc;
}

static int main_lock_sem(void *arg, void **result) {
  (void)result;
  bool sem = arg != NULL;
  struct guarded g = {0};
  CHECK_EQ(cio_lock_new(&g.lock), 0);
  CHECK_EQ(cio_bounded_semaphore_new(&g.sem, 5), 0);
  struct storm s = {.name = sem ? "semaphore" : "lock", .n = 2000,
                    .fn = sem ? permit_taker : locker, .ctx = &g};
  spawn_agents(&s);
  chaos(&s, 3000, 0.0005);
  settle(&s);
  CHECK_EQ(g.inside, 0);
  CHECK(g.max_inside <= (sem ? 5 : 1));
  CHECK(!cio_lock_is_locked(g.lock));
  CHECK_EQ(cio_semaphore_value(g.sem), 5);
  /* Every agent that was not cancelled got in. */
  CHECK(g.entered >= count_rc(&s, 0));
  release_agents(&s);
  cio_semaphore_free(g.sem);
  cio_lock_free(g.lock);
  return 0;
}

TEST(storm_lock) {
  (void)test_seed();
  CHECK_EQ(test_run_virtual(main_lock_sem, NULL), 0);
}

TEST(storm_semaphore) {
  (void)test_seed();
  CHECK_EQ(test_run_virtual(main_lock_sem, P(1)), 0);
}

/* ---- queue put and get ---------------------------------------------------- */

struct queued {
  cio_queue *q;
  long put, got;
  unsigned char *seen; /* per item: put, then got */
};

/* Even agents put item i (ids are unique): most wait, the queue holds
 * 10; odd ones come later, one by one, to get one. */
static int queue_agent(struct agent *a) {
  struct queued *qd = a->s->ctx;
  if (a->i % 2 == 0) {
    int rc = cio_queue_put(qd->q, P(a->i + 1));
    if (rc == 0) {
      CHECK_EQ(qd->seen[a->i], 0);
      qd->seen[a->i] = 1;
      qd->put++;
    }
    return rc;
  }
  void *item;
  int rc = cio_sleep(0.0001 * (double)test_rand_below(2000));
  if (rc == 0)
    rc = cio_queue_get(qd->q, &item);
  if (rc == 0) {
    int id = I(item) - 1;
    CHECK(id >= 0 && id < a->s->n);
    CHECK_EQ(qd->seen[id], 1); /* put once, taken once */
    qd->seen[id] = 2;
    qd->got++;
    a->got = I(item);
  }
  return rc;
}

static void queue_finish(struct storm *s) {
  struct queued *qd = s->ctx;
  if (!cio_queue_is_shut_down(qd->q))
    CHECK_EQ(cio_queue_shutdown(qd->q, false), 0);
}

static int main_queue(void *arg, void **result) {
  (void)arg, (void)result;
  struct queued qd = {0};
  CHECK_EQ(cio_queue_new(&qd.q, 10), 0);
  struct storm s = {.name = "queue", .n = 2000, .fn = queue_agent, .ctx = &qd,
                    .finish = queue_finish};
  qd.seen = calloc((size_t)s.n, 1);
  spawn_agents(&s);
  chaos(&s, 3000, 0.001);
  settle(&s);
  CHECK_EQ(qd.put, qd.got + (long)cio_queue_qsize(qd.q));
  /* Getters that ended without an item saw the shutdown or a cancel. */
  for (int i = 1; i < s.n; i += 2)
    if (s.a[i].rc != 0)
      CHECK(s.a[i].rc == CIO_ESHUTDOWN || s.a[i].rc == CIO_ECANCELED);
  release_agents(&s);
  free(qd.seen);
  cio_queue_free(qd.q);
  return 0;
}

TEST(storm_queue) {
  (void)test_seed();
  CHECK_EQ(test_run_virtual(main_queue, NULL), 0);
}

/* ---- event and condition ------------------------------------------------- */

struct signalled {
  cio_event *ev;
  cio_condition *cond;
  long tokens_made, tokens_taken;
  long tokens; /* made, not yet taken */
};

static bool has_token(void *arg) {
  return ((struct signalled *)arg)->tokens > 0;
}

/* Even agents wait for the event, odd ones for a token. */
static int signal_agent(struct agent *a) {
  struct signalled *sg = a->s->ctx;
  if (a->i % 2 == 0) {
    int rc = cio_event_wait(sg->ev);
    if (rc == 0)
      CHECK(cio_event_is_set(sg->ev));
    return rc;
  }
  int rc = cio_condition_acquire(sg->cond);
  if (rc < 0)
    return rc;
  rc = cio_condition_wait_for(sg->cond, has_token, sg);
  /* The lock is held again on every return of wait_for. */
  if (rc == 0) {
    sg->tokens--;
    sg->tokens_taken++;
  }
  CHECK_EQ(cio_condition_release(sg->cond), 0);
  return rc;
}

/* Make a token and notify one waiter, or set the event now and then. */
static void signal_progress(struct storm *s) {
  struct signalled *sg = s->ctx;
  if (test_rand_below(1000) == 0) {
    CHECK_EQ(cio_event_set(sg->ev), 0);
    return;
  }
  if (cio_condition_is_locked(sg->cond))
    return; /* a waiter re-acquiring it holds it: not now */
  CHECK_EQ(cio_condition_acquire(sg->cond), 0);
  sg->tokens++;
  sg->tokens_made++;
  CHECK_EQ(cio_condition_notify(sg->cond, 1), 0);
  CHECK_EQ(cio_condition_release(sg->cond), 0);
}

static void signal_finish(struct storm *s) {
  struct signalled *sg = s->ctx;
  CHECK_EQ(cio_event_set(sg->ev), 0);
  if (cio_condition_is_locked(sg->cond))
    return;
  CHECK_EQ(cio_condition_acquire(sg->cond), 0);
  sg->tokens++;
  sg->tokens_made++;
  CHECK_EQ(cio_condition_notify_all(sg->cond), 0);
  CHECK_EQ(cio_condition_release(sg->cond), 0);
}

static int main_signal(void *arg, void **result) {
  (void)arg, (void)result;
  struct signalled sg = {0};
  CHECK_EQ(cio_event_new(&sg.ev), 0);
  CHECK_EQ(cio_condition_new(&sg.cond, NULL), 0);
  struct storm s = {.name = "event and condition", .n = 2000, .fn = signal_agent, .ctx = &sg,
                    .progress = signal_progress, .finish = signal_finish};
  spawn_agents(&s);
  chaos(&s, 3000, 0.001);
  settle(&s);
  CHECK(!cio_condition_is_locked(sg.cond));
  CHECK_EQ(sg.tokens_made, sg.tokens_taken + sg.tokens);
  CHECK(sg.tokens >= 0);
  for (int i = 0; i < s.n; i++)
    CHECK(s.a[i].rc == 0 || s.a[i].rc == CIO_ECANCELED);
  release_agents(&s);
  cio_condition_free(sg.cond);
  cio_event_free(sg.ev);
  return 0;
}

TEST(storm_event_and_condition) {
  (void)test_seed();
  CHECK_EQ(test_run_virtual(main_signal, NULL), 0);
}

/* ---- executor jobs --------------------------------------------------------- */

static atomic_long job_args_live, job_results_live;

static int job_work(void *arg, void **result) {
  struct timespec ts = {0, 200000L * (long)(*(int *)arg % 5)};
  nanosleep(&ts, NULL);
  int *r = malloc(sizeof *r);
  CHECK(r != NULL);
  *r = *(int *)arg;
  atomic_fetch_add(&job_results_live, 1);
  *result = r;
  return 0;
}

static void job_result_free(void *r) {
  if (r != NULL) {
    atomic_fetch_sub(&job_results_live, 1);
    free(r);
  }
}

static void job_arg_free(void *a) {
  atomic_fetch_sub(&job_args_live, 1);
  free(a);
}

static void job_dispose(void *arg, void *result, int status) {
  (void)status;
  job_result_free(result);
  job_arg_free(arg);
}

static int job_agent(struct agent *a) {
  int *arg = malloc(sizeof *arg);
  CHECK(arg != NULL);
  *arg = a->i;
  atomic_fetch_add(&job_args_live, 1);
  void *r = NULL;
  int rc = cio_run_in_executor(a->s->ctx, job_work, arg, job_dispose, &r);
  if (rc == CIO_ECANCELED)
    return rc; /* the argument and a late result belong to dispose */
  CHECK_EQ(rc, 0);
  CHECK_EQ(*(int *)r, a->i);
  job_result_free(r);
  job_arg_free(arg);
  return 0;
}

static int main_executor(void *arg, void **result) {
  (void)arg, (void)result;
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 4), 0);
  struct storm s = {.name = "executor", .n = 1000, .fn = job_agent,
                    .ctx = ex};
  spawn_agents(&s);
  chaos(&s, 1500, 0.001);
  settle(&s);
  release_agents(&s);
  CHECK_EQ(cio_executor_shutdown(ex, true, false), 0);
  cio_executor_free(ex);
  return 0;
}

TEST(storm_executor_jobs) {
  (void)test_seed();
  CHECK_EQ(test_run(main_executor, NULL), 0);
  /* Every argument and result was freed once: by its caller, or by
   * dispose (a job dropped before it ran, a late outcome). */
  CHECK_EQ(atomic_load(&job_args_live), 0);
  CHECK_EQ(atomic_load(&job_results_live), 0);
}

/* ---- gather, wait_for, TaskGroup, timeout scopes ------------------------ */

static atomic_long children_live; /* heap results not yet freed */

static void child_dispose(void *arg, void *result, int status) {
  (void)arg, (void)status;
  if (result != NULL) {
    atomic_fetch_sub(&children_live, 1);
    free(result);
  }
}

static void child_result_free(void *r) {
  child_dispose(NULL, r, 0);
}

static const cio_task_opts child_opts = {.dispose = child_dispose};

static int child(void *arg, void **result) {
  int rc = cio_sleep(0.005 * (double)(1 + I(arg) % 7));
  if (rc < 0)
    return rc;
  int *r = malloc(sizeof *r);
  CHECK(r != NULL);
  *r = I(arg);
  atomic_fetch_add(&children_live, 1);
  *result = r;
  return 0;
}

/* Four shapes of composition, by agent number; each makes its children
 * itself and leaves none running when it returns, however it ends. */
static int composer(struct agent *a) {
  cio_task *c[3] = {0};
  int n = 3, rc = 0;
  for (int i = 0; i < n && rc == 0; i++)
    rc = cio_create_task(NULL, &c[i], child, P(a->i + i), &child_opts);
  if (rc < 0)
    return rc;
  cio_future *f[3] = {cio_task_future(c[0]), cio_task_future(c[1]),
                      cio_task_future(c[2])};
  void *r[3] = {0};
  switch (a->i % 4) {
  case 0: /* gather: a cancelled caller cancels the children */
    rc = cio_gather(f, 3, r, NULL, false);
    break;
  case 1: /* wait_for with a timeout that may fire */
    rc = cio_wait_for(f[0], 0.02, &r[0]);
    if (rc == CIO_ETIMEDOUT)
      rc = 0;
    break;
  case 2: { /* a timeout scope around a gather */
    cio_timeout to;
    CHECK_EQ(cio_timeout_enter(&to, 0.02), 0);
    rc = cio_gather(f, 3, r, NULL, false);
    rc = cio_timeout_exit(&to, rc);
    if (rc == CIO_ETIMEDOUT)
      rc = 0;
    break;
  }
  default: /* a TaskGroup whose children are these three's siblings */
    break;
  }
  for (int i = 0; i < 3; i++)
    child_result_free(r[i]);
  if (a->i % 4 == 3) {
    cio_taskgroup *tg;
    rc = cio_taskgroup_enter(&tg);
    if (rc == 0) {
      int brc = 0;
      for (int i = 0; i < 2 && brc == 0; i++)
        brc = cio_taskgroup_create_task(tg, NULL, child, P(a->i + 7 + i),
                                        &child_opts);
      if (brc == 0)
        brc = cio_sleep(0.01);
      rc = cio_taskgroup_exit(tg, brc);
      CHECK_EQ(cio_taskgroup_free(tg), 0);
    }
  }
  /* Children still running (an early error, a cancelled caller of
   * wait_for's siblings) are cancelled and awaited here: none outlives
   * its composer. */
  for (int i = 0; i < 3; i++) {
    if (!cio_task_is_done(c[i]))
      cio_task_cancel(c[i]);
    while (!cio_task_is_done(c[i])) {
      cio_future *w = cio_task_future(c[i]);
      bool done;
      /* Cancelled meanwhile: wait on, and pass the cancellation on. */
      if (cio_wait(&w, 1, CIO_NO_TIMEOUT, CIO_ALL_COMPLETED, &done, NULL) ==
          CIO_ECANCELED)
        rc = CIO_ECANCELED;
    }
    cio_task_release(c[i]); /* an untaken result goes to dispose */
  }
  return rc;
}

static int main_compose(void *arg, void **result) {
  (void)arg, (void)result;
  struct storm s = {.name = "composition", .n = 800, .fn = composer};
  spawn_agents(&s);
  chaos(&s, 1500, 0.001);
  settle(&s);
  release_agents(&s);
  /* Only the main task is left: no child outlived its composition. */
  if (!mixed)
    CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 1);
  return 0;
}

TEST(storm_gather_wait_for_taskgroup_timeout) {
  (void)test_seed();
  CHECK_EQ(test_run_virtual(main_compose, NULL), 0);
  CHECK_EQ(atomic_load(&children_live), 0);
}

/* ---- stream read and drain ---------------------------------------------- */

#define PAIRS 150
#define PAIR_BYTES 20000

struct pair {
  cio_stream *r, *w;
  size_t written, read; /* bytes written to w, read from r */
  bool corrupt, eof_sent;
};

static unsigned char byte_at(size_t i) {
  return (unsigned char)(i * 13 + i / 256);
}

static void take_bytes(struct pair *p, const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i] != byte_at(p->read + i))
      p->corrupt = true;
  p->read += n;
}

/* Agent 2k reads pair k, agent 2k+1 writes it (drain waits: the kernel
 * buffers are small and the reader is slow or cancelled). */
static int stream_agent(struct agent *a) {
  struct pair *p = &((struct pair *)a->s->ctx)[a->i / 2];
  unsigned char buf[3000];
  if (a->i % 2 == 0) {
    for (;;) {
      ssize_t n;
      if (a->i % 4 == 0) {
        n = cio_stream_read(p->r, buf, sizeof buf);
      } else {
        size_t got = 0;
        n = cio_stream_readexactly(p->r, buf, 700, &got);
        if (n == 0 || n == CIO_ENODATA) {
          take_bytes(p, buf, got);
          n = n == 0 ? (ssize_t)got : 0;
          if (n > 0)
            continue;
        }
      }
      if (n < 0)
        return (int)n;
      if (n == 0)
        return 0;
      take_bytes(p, buf, (size_t)n);
    }
  }
  while (p->written < PAIR_BYTES) {
    size_t n = 1000 + test_rand_below(2000);
    if (n > PAIR_BYTES - p->written)
      n = PAIR_BYTES - p->written;
    for (size_t i = 0; i < n; i++)
      buf[i] = byte_at(p->written + i);
    CHECK_EQ(cio_stream_write(p->w, buf, n), 0);
    p->written += n;
    int rc = cio_stream_drain(p->w);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* A pair whose writer ended gets its end of file; one whose reader was
 * cancelled is read by the main task, so its writer's drain ends. */
static void stream_finish(struct storm *s) {
  struct pair *pairs = s->ctx;
  unsigned char buf[4096];
  for (int k = 0; k < PAIRS; k++) {
    struct pair *p = &pairs[k];
    bool reader_done = cio_task_is_done(s->a[2 * k].t);
    bool writer_done = cio_task_is_done(s->a[2 * k + 1].t);
    if (writer_done && !p->eof_sent) {
      CHECK_EQ(cio_stream_write_eof(p->w), 0);
      p->eof_sent = true;
    }
    size_t n = cio_stream_buffered(p->r);
    if (reader_done && n > 0) {
      n = n < sizeof buf ? n : sizeof buf;
      CHECK_EQ(cio_stream_read(p->r, buf, n), (ssize_t)n); /* no wait */
      take_bytes(p, buf, n);
    }
  }
}

static int main_streams(void *arg, void **result) {
  (void)arg, (void)result;
  struct pair *pairs = calloc(PAIRS, sizeof *pairs);
  cio_stream_opts o = {.write_high_water = 2048, .write_low_water = 512,
                       .limit = 4096};
  for (int k = 0; k < PAIRS; k++) {
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CHECK_EQ(cio_open_connection_sock(&pairs[k].w, sv[0], &o), 0);
    CHECK_EQ(cio_open_connection_sock(&pairs[k].r, sv[1], &o), 0);
  }
  struct storm s = {.name = "stream", .n = 2 * PAIRS, .fn = stream_agent, .ctx = pairs,
                    .finish = stream_finish};
  spawn_agents(&s);
  chaos(&s, 1500, 0.002);
  settle(&s);
  /* What a cancelled reader left is still there, in order; what a
   * cancelled writer queued arrives.  Drain each pair to its end. */
  unsigned char buf[4096];
  for (int k = 0; k < PAIRS; k++) {
    struct pair *p = &pairs[k];
    CHECK(!p->corrupt);
    if (!p->eof_sent)
      CHECK_EQ(cio_stream_write_eof(p->w), 0);
    ssize_t n;
    while ((n = cio_stream_read(p->r, buf, sizeof buf)) > 0)
      take_bytes(p, buf, (size_t)n);
    CHECK_EQ(n, 0);
    CHECK(!p->corrupt);
    CHECK_EQ(p->read, p->written); /* every byte read once */
    CHECK_EQ(cio_stream_close(p->w), 0);
    CHECK_EQ(cio_stream_close(p->r), 0);
  }
  release_agents(&s);
  free(pairs);
  return 0;
}

TEST(storm_stream_read_and_drain) {
  (void)test_seed();
  CHECK_EQ(test_run(main_streams, NULL), 0);
}

/* ---- subprocess wait and cio_fd_wait ----------------------------------- */

#define CHILDREN 40
#define PIPES 100

struct outside {
  cio_process *p[CHILDREN];
  int fds[PIPES][2];
  bool written[PIPES];
};

/* Agents below 4 * CHILDREN wait for a child (four per child), the
 * others for a pipe to become readable. */
static int outside_agent(struct agent *a) {
  struct outside *o = a->s->ctx;
  if (a->i < 4 * CHILDREN) {
    int code = 1;
    int rc = cio_process_wait(o->p[a->i / 4], &code);
    if (rc == 0)
      CHECK(code == -SIGKILL || code == 0);
    return rc;
  }
  int k = (a->i - 4 * CHILDREN) % PIPES;
  int rc = cio_fd_wait(o->fds[k][0], CIO_READABLE, CIO_NO_TIMEOUT);
  if (rc >= 0) {
    CHECK_EQ(rc, CIO_READABLE);
    CHECK(o->written[k]);
    return 0;
  }
  return rc;
}

/* Kill a child, or write to a pipe. */
static void outside_progress(struct storm *s) {
  struct outside *o = s->ctx;
  if (test_rand_below(2) == 0) {
    int rc = cio_process_kill(o->p[test_rand_below(CHILDREN)]);
    CHECK(rc == 0 || rc == CIO_ESRCH);
    return;
  }
  int k = (int)test_rand_below(PIPES);
  if (!o->written[k]) {
    CHECK_EQ(write(o->fds[k][1], "x", 1), 1);
    o->written[k] = true;
  }
}

static void outside_finish(struct storm *s) {
  struct outside *o = s->ctx;
  for (int i = 0; i < CHILDREN; i++)
    (void)!cio_process_kill(o->p[i]);
  for (int k = 0; k < PIPES; k++)
    if (!o->written[k]) {
      CHECK_EQ(write(o->fds[k][1], "x", 1), 1);
      o->written[k] = true;
    }
}

static int main_outside(void *arg, void **result) {
  (void)arg, (void)result;
  struct outside *o = calloc(1, sizeof *o);
  const char *argv[] = {"sleep", "30", NULL};
  for (int i = 0; i < CHILDREN; i++)
    CHECK_EQ(cio_create_subprocess_exec(&o->p[i], argv, NULL), 0);
  for (int k = 0; k < PIPES; k++)
    CHECK_EQ(pipe2(o->fds[k], O_CLOEXEC), 0);
  struct storm s = {.name = "process and fd", .n = 4 * CHILDREN + 3 * PIPES,
                    .fn = outside_agent,
                    .ctx = o, .progress = outside_progress,
                    .finish = outside_finish};
  spawn_agents(&s);
  chaos(&s, 1500, 0.002);
  settle(&s);
  release_agents(&s);
  for (int i = 0; i < CHILDREN; i++) {
    int code;
    CHECK_EQ(cio_process_wait(o->p[i], &code), 0);
    CHECK_EQ(code, -SIGKILL); /* reaped: no zombie is left */
    CHECK_EQ(cio_process_close(o->p[i]), 0);
  }
  for (int k = 0; k < PIPES; k++) {
    close(o->fds[k][0]);
    close(o->fds[k][1]);
  }
  free(o);
  return 0;
}

TEST(storm_subprocess_wait_and_fd_wait) {
  (void)test_seed();
  CHECK_EQ(test_run(main_outside, NULL), 0);
}

/* ---- every storm at once ------------------------------------------------- */

static int main_everything(void *arg, void **result) {
  (void)arg, (void)result;
  static const cio_task_fn storms[] = {
      main_sleep,    main_lock_sem, main_lock_sem, main_queue,
      main_signal,   main_executor, main_compose,  main_streams,
      main_outside};
  enum { N = sizeof storms / sizeof storms[0] };
  cio_task *t[N];
  for (int i = 0; i < N; i++)
    CHECK_EQ(cio_create_task(NULL, &t[i], storms[i], i == 2 ? P(1) : NULL,
                             NULL),
             0);
  for (int i = 0; i < N; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  return 0;
}

TEST(storm_every_wait_at_once) {
  (void)test_seed();
  mixed = true;
  CHECK_EQ(test_run(main_everything, NULL), 0);
  CHECK_EQ(atomic_load(&job_args_live), 0);
  CHECK_EQ(atomic_load(&job_results_live), 0);
  CHECK_EQ(atomic_load(&children_live), 0);
}
