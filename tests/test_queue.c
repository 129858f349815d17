/* Queue, LifoQueue and PriorityQueue, following CPython's
 * Lib/asyncio/queues.py (3.13, with shutdown) and
 * Lib/test/test_asyncio/test_queues.py.  Virtual clock throughout. */
#include "casyncio.h"
#include "internal.h" /* fail_alloc_after, to fail the queue's growth */
#include "test.h"

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

struct who {
  const char *name;
  cio_queue *q;
  intptr_t item;
  int rc;
};

static int getter(void *arg, void **result) {
  (void)result;
  struct who *w = arg;
  void *item;
  w->rc = cio_queue_get(w->q, &item);
  w->item = (intptr_t)item;
  if (w->rc == 0)
    test_log("%s-got%d", w->name, I(item));
  else
    test_log("%s-%s", w->name, cio_err_name(w->rc));
  return w->rc;
}

static int putter(void *arg, void **result) {
  (void)result;
  struct who *w = arg;
  w->rc = cio_queue_put(w->q, P(w->item));
  if (w->rc == 0)
    test_log("%s-put%d", w->name, (int)w->item);
  else
    test_log("%s-%s", w->name, cio_err_name(w->rc));
  return w->rc;
}

/* ---- orders ---------------------------------------------------------- */

static int cmp_int(const void *a, const void *b) {
  return (I(a) > I(b)) - (I(a) < I(b));
}

static int main_orders(void *arg, void **result) {
  (void)arg;
  (void)result;
  static const int in[] = {5, 1, 4, 2, 3};
  cio_queue *fifo, *lifo, *prio;
  TRY(cio_queue_new(&fifo, 0));
  DEFER(fifo);
  TRY(cio_lifo_queue_new(&lifo, 0));
  DEFER(lifo);
  TRY(cio_priority_queue_new(&prio, 0, cmp_int));
  DEFER(prio);
  for (int i = 0; i < 5; i++) {
    TRY(cio_queue_put(fifo, P(in[i])));
    TRY(cio_queue_put(lifo, P(in[i])));
    TRY(cio_queue_put(prio, P(in[i])));
  }
  static const int want_fifo[] = {5, 1, 4, 2, 3}, want_lifo[] = {3, 2, 4, 1, 5},
                   want_prio[] = {1, 2, 3, 4, 5};
  for (int i = 0; i < 5; i++) {
    void *x;
    TRY(cio_queue_get(fifo, &x));
    CHECK_EQ(I(x), want_fifo[i]);
    TRY(cio_queue_get(lifo, &x));
    CHECK_EQ(I(x), want_lifo[i]);
    TRY(cio_queue_get(prio, &x));
    CHECK_EQ(I(x), want_prio[i]);
  }
  cio_queue *q = (cio_queue *)1;
  CHECK_EQ(cio_priority_queue_new(&q, 0, NULL), CIO_EINVAL);
  CHECK(q == NULL);
  CHECK_EQ(cio_queue_new(NULL, 0), CIO_EINVAL);
  return 0;
}

TEST(queue_fifo_lifo_priority_order) {
  CHECK_RUN(test_run_virtual(main_orders, NULL), 0);
}

/* A heap with many items, and a FIFO ring that grows while wrapped. */
static int main_growth(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *prio, *fifo;
  TRY(cio_priority_queue_new(&prio, 0, cmp_int));
  DEFER(prio);
  TRY(cio_queue_new(&fifo, 0));
  DEFER(fifo);
  unsigned x = 12345;
  for (int i = 0; i < 1000; i++) {
    x = x * 1103515245u + 12345u;
    TRY_EQ(cio_queue_put_nowait(prio, P((x >> 8) % 500)), 0);
  }
  int last = -1;
  for (int i = 0; i < 1000; i++) {
    void *item;
    CHECK_EQ(cio_queue_get_nowait(prio, &item), 0);
    CHECK(I(item) >= last);
    last = I(item);
  }
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 13 + round * 7; i++)
      TRY(cio_queue_put_nowait(fifo, P(next_in++)));
    for (int i = 0; i < 9; i++) {
      void *item;
      CHECK_EQ(cio_queue_get_nowait(fifo, &item), 0);
      CHECK_EQ(I(item), next_out++);
    }
  }
  while (!cio_queue_is_empty(fifo)) {
    void *item;
    CHECK_EQ(cio_queue_get_nowait(fifo, &item), 0);
    CHECK_EQ(I(item), next_out++);
  }
  CHECK_EQ(next_out, next_in);
  return 0;
}

TEST(queue_growth) {
  CHECK_RUN(test_run_virtual(main_growth, NULL), 0);
}

/* ---- sizes and nowait errors ------------------------------------------ */

static int main_nowait(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 2));
  DEFER(q);
  CHECK_EQ(cio_queue_maxsize(q), 2);
  CHECK(cio_queue_is_empty(q));
  CHECK(!cio_queue_is_full(q));
  void *item = P(9);
  CHECK_EQ(cio_queue_get_nowait(q, &item), CIO_EAGAIN); /* QueueEmpty */
  CHECK(item == NULL);
  TRY(cio_queue_put_nowait(q, P(1)));
  TRY(cio_queue_put_nowait(q, P(2)));
  CHECK_EQ(cio_queue_qsize(q), 2);
  CHECK(cio_queue_is_full(q));
  TRY_EQ(cio_queue_put_nowait(q, P(3)), CIO_EAGAIN); /* QueueFull */
  CHECK_EQ(cio_queue_qsize(q), 2);
  CHECK_EQ(cio_queue_get_nowait(q, &item), 0);
  CHECK_EQ(I(item), 1);
  CHECK_EQ(cio_queue_get_nowait(NULL, &item), CIO_EINVAL);
  CHECK_EQ(cio_queue_get_nowait(q, NULL), CIO_EINVAL);
  CHECK_EQ(cio_queue_put(NULL, NULL), CIO_EINVAL);
  /* maxsize 0 is unbounded: never full. */
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  for (int i = 0; i < 100; i++)
    TRY(cio_queue_put_nowait(q, P(i)));
  CHECK(!cio_queue_is_full(q)); /* freed with its items when the run ends */
  return 0;
}

TEST(queue_nowait_errors_and_sizes) {
  CHECK_RUN(test_run_virtual(main_nowait, NULL), 0);
}

/* ---- suspension and FIFO among waiters ------------------------------ */

/* get with items present and put with room do not suspend. */
static int main_no_suspend(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 1));
  DEFER(q);
  cio_task *t;
  TRY(test_spawn(&t, test_logger, "other"));
  TRY(cio_queue_put(q, P(1)));
  void *item;
  TRY(cio_queue_get(q, &item));
  test_log("main");
  TRY(cio_task_await(t, NULL));
  return 0;
}

TEST(queue_no_suspend_when_possible) {
  CHECK_RUN(test_run_virtual(main_no_suspend, NULL), 0);
  CHECK_STR(test_log_text(), "main other ");
}

static int main_getters_fifo(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  struct who w[3] = {{"a", q, 0, 0}, {"b", q, 0, 0}, {"c", q, 0, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], getter, &w[i]));
  TRY(test_yield_n(1));
  for (int i = 1; i <= 3; i++)
    TRY(cio_queue_put_nowait(q, P(i)));
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(queue_blocked_getters_fifo) {
  CHECK_RUN(test_run_virtual(main_getters_fifo, NULL), 0);
  CHECK_STR(test_log_text(), "a-got1 b-got2 c-got3 ");
}

/* Backpressure: put waits while the queue is full; putters go FIFO. */
static int main_putters_fifo(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 1));
  DEFER(q);
  TRY(cio_queue_put(q, P(0)));
  struct who w[3] = {{"a", q, 1, 0}, {"b", q, 2, 0}, {"c", q, 3, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], putter, &w[i]));
  TRY(cio_sleep(10));
  CHECK_STR(test_log_text(), ""); /* all blocked */
  for (int i = 0; i < 4; i++) {
    void *item;
    TRY(cio_queue_get(q, &item));
    test_log("main-got%d", I(item));
  }
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(queue_put_backpressure_fifo) {
  CHECK_RUN(test_run_virtual(main_putters_fifo, NULL), 0);
  CHECK_STR(test_log_text(),
            "main-got0 a-put1 main-got1 b-put2 main-got2 c-put3 main-got3 ");
}

/* Outside a task: nowait-style success works, waiting is refused. */
static int queue_outside(cio_loop *loop, void *arg) {
  (void)loop, (void)arg;
  cio_queue *q;
  TRY(cio_queue_new(&q, 1));
  DEFER(q);
  void *item;
  CHECK_EQ(cio_queue_get(q, &item), CIO_EPERM);
  TRY(cio_queue_put(q, P(1)));
  CHECK_EQ(cio_queue_put(q, P(2)), CIO_EPERM);
  CHECK_EQ(cio_queue_join(q), CIO_EPERM);
  CHECK_EQ(cio_queue_get(q, &item), 0);
  CHECK_EQ(I(item), 1);
  return 0;
}

TEST(queue_outside_task) {
  CHECK_RUN(test_with_loop(NULL, queue_outside, NULL), 0);
}

/* ---- task_done / join ------------------------------------------------ */

struct worker_ctx {
  cio_queue *q;
  int processed;
};

static int join_worker(void *arg, void **result) {
  (void)result;
  struct worker_ctx *c = arg;
  for (;;) {
    void *item;
    int rc = cio_queue_get(c->q, &item);
    if (rc < 0)
      return rc == CIO_ECANCELED ? 0 : rc;
    TRY(cio_sleep(0.5));
    c->processed++;
    CHECK_EQ(cio_queue_task_done(c->q), 0);
  }
}

static int main_join(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct worker_ctx c = {0};
  TRY(cio_queue_new(&c.q, 0));
  DEFER(c.q);
  TRY(cio_queue_join(c.q)); /* nothing unfinished: at once */
  CHECK_EQ(cio_queue_task_done(c.q), CIO_EINVAL); /* ValueError */
  for (int i = 0; i < 6; i++)
    TRY(cio_queue_put(c.q, P(i)));
  cio_task *w[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&w[i], join_worker, &c));
  TRY(cio_queue_join(c.q));
  CHECK_EQ(c.processed, 6);
  CHECK_NEAR(cio_time(), 1.5, 1e-9);
  CHECK_EQ(cio_queue_task_done(c.q), CIO_EINVAL);
  for (int i = 0; i < 2; i++) {
    cio_task_cancel(w[i]);
    TRY(cio_task_await(w[i], NULL));
  }
  return 0;
}

TEST(queue_task_done_and_join) {
  CHECK_RUN(test_run_virtual(main_join, NULL), 0);
}

static int joiner(void *arg, void **result) {
  (void)result;
  int rc = cio_queue_join(arg);
  test_log("join-%s", rc == 0 ? "ok" : cio_err_name(rc));
  return rc;
}

static int main_join_cancel(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  TRY(cio_queue_put(q, P(1)));
  cio_task *j1;
  TRY(test_spawn(&j1, joiner, q));
  cio_task *j2;
  TRY(test_spawn(&j2, joiner, q));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(j1), 1);
  TRY_EQ(cio_task_await(j1, NULL), CIO_ECANCELED);
  void *item;
  TRY(cio_queue_get(q, &item));
  CHECK_EQ(cio_queue_task_done(q), 0);
  TRY(cio_task_await(j2, NULL));
  return 0;
}

TEST(queue_join_cancelled) {
  CHECK_RUN(test_run_virtual(main_join_cancel, NULL), 0);
  CHECK_STR(test_log_text(), "join-ECANCELED join-ok ");
}

/* ---- cancellation: nothing lost --------------------------------------- */

/* A getter cancelled while waiting leaves; the item goes to the next. */
static int main_cancel_getter(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  struct who a = {"a", q, 0, 0}, b = {"b", q, 0, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, getter, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, getter, &b));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  TRY(cio_queue_put(q, P(7)));
  TRY(cio_task_await(tb, NULL));
  CHECK(cio_queue_is_empty(q));
  return 0;
}

TEST(queue_cancelled_getter) {
  CHECK_RUN(test_run_virtual(main_cancel_getter, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got7 ");
}

/* test_cancelled_getters_not_being_held_in_self_getters and
 * test_why_are_getters_waiting: a getter woken by a put and cancelled
 * before it runs passes the item's turn on; the item stays queued. */
static int main_cancel_woken_getter(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  struct who a = {"a", q, 0, 0}, b = {"b", q, 0, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, getter, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, getter, &b));
  TRY(test_yield_n(1));
  TRY(cio_queue_put_nowait(q, P(7))); /* wakes a */
  CHECK_EQ(cio_task_cancel(ta), 1);           /* before a runs */
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  TRY(cio_task_await(tb, NULL));
  CHECK_EQ(b.item, 7);
  return 0;
}

TEST(queue_cancelled_woken_getter_passes_on) {
  CHECK_RUN(test_run_virtual(main_cancel_woken_getter, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-got7 ");
}

/* The same for putters: the free slot goes to the next putter. */
static int main_cancel_woken_putter(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 1));
  DEFER(q);
  TRY(cio_queue_put(q, P(0)));
  struct who a = {"a", q, 1, 0}, b = {"b", q, 2, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, putter, &a));
  cio_task *tb;
  TRY(test_spawn(&tb, putter, &b));
  TRY(test_yield_n(1));
  void *item;
  CHECK_EQ(cio_queue_get_nowait(q, &item), 0); /* wakes a */
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  TRY(cio_task_await(tb, NULL));
  CHECK_EQ(cio_queue_qsize(q), 1);
  CHECK_EQ(cio_queue_get_nowait(q, &item), 0);
  CHECK_EQ(I(item), 2);
  return 0;
}

TEST(queue_cancelled_woken_putter_passes_on) {
  CHECK_RUN(test_run_virtual(main_cancel_woken_putter, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED b-put2 ");
}

/* A putter cancelled while the queue is full adds nothing. */
static int main_cancel_putter(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 1));
  DEFER(q);
  TRY(cio_queue_put(q, P(0)));
  struct who a = {"a", q, 1, 0};
  cio_task *ta;
  TRY(test_spawn(&ta, putter, &a));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_task_cancel(ta), 1);
  TRY_EQ(cio_task_await(ta, NULL), CIO_ECANCELED);
  void *item;
  CHECK_EQ(cio_queue_get_nowait(q, &item), 0);
  CHECK_EQ(I(item), 0);
  CHECK_EQ(cio_queue_get_nowait(q, &item), CIO_EAGAIN);
  CHECK_EQ(cio_queue_task_done(q), 0);
  CHECK_EQ(cio_queue_task_done(q), CIO_EINVAL); /* only one was put */
  return 0;
}

TEST(queue_cancelled_putter) {
  CHECK_RUN(test_run_virtual(main_cancel_putter, NULL), 0);
  CHECK_STR(test_log_text(), "a-ECANCELED ");
}

/* ---- shutdown (3.13) -------------------------------------------------- */

static int main_shutdown_graceful(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q, *full;
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  TRY(cio_queue_new(&full, 1));
  DEFER(full);
  TRY(cio_queue_put(full, P(1)));
  struct who g = {"g", q, 0, 0}, p = {"p", full, 2, 0};
  cio_task *tg;
  TRY(test_spawn(&tg, getter, &g));
  cio_task *tp;
  TRY(test_spawn(&tp, putter, &p));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_queue_shutdown(q, false), 0);
  CHECK_EQ(cio_queue_shutdown(full, false), 0);
  CHECK(cio_queue_is_shut_down(q));
  TRY_EQ(cio_task_await(tg, NULL), CIO_ESHUTDOWN);
  TRY_EQ(cio_task_await(tp, NULL), CIO_ESHUTDOWN);
  TRY_EQ(cio_queue_put(q, P(3)), CIO_ESHUTDOWN);
  TRY_EQ(cio_queue_put_nowait(q, P(3)), CIO_ESHUTDOWN);
  /* The item already in `full` can still be taken, then gets fail. */
  void *item;
  TRY(cio_queue_get(full, &item));
  CHECK_EQ(I(item), 1);
  TRY_EQ(cio_queue_get(full, &item), CIO_ESHUTDOWN);
  CHECK_EQ(cio_queue_get_nowait(full, &item), CIO_ESHUTDOWN);
  CHECK_EQ(cio_queue_task_done(full), 0);
  TRY(cio_queue_join(full));
  return 0;
}

TEST(queue_shutdown_graceful) {
  CHECK_RUN(test_run_virtual(main_shutdown_graceful, NULL), 0);
  CHECK_STR(test_log_text(), "g-ESHUTDOWN p-ESHUTDOWN ");
}

static int main_shutdown_immediate(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 2));
  DEFER(q);
  TRY(cio_queue_put(q, P(1)));
  TRY(cio_queue_put(q, P(2)));
  struct who p = {"p", q, 3, 0};
  cio_task *tp;
  TRY(test_spawn(&tp, putter, &p));
  cio_task *tj;
  TRY(test_spawn(&tj, joiner, q));
  TRY(test_yield_n(1));
  CHECK_EQ(cio_queue_shutdown(q, true), 0);
  CHECK_EQ(cio_queue_qsize(q), 0);
  void *item;
  TRY_EQ(cio_queue_get(q, &item), CIO_ESHUTDOWN);
  TRY_EQ(cio_task_await(tp, NULL), CIO_ESHUTDOWN);
  TRY(cio_task_await(tj, NULL)); /* dropped items count as done */
  CHECK_EQ(cio_queue_task_done(q), CIO_EINVAL);
  return 0;
}

TEST(queue_shutdown_immediate) {
  CHECK_RUN(test_run_virtual(main_shutdown_immediate, NULL), 0);
  /* join is released first, as finished.set() runs before the putters
   * are woken in queues.py. */
  CHECK_STR(test_log_text(), "join-ok p-ESHUTDOWN ");
}

/* ---- allocation failure ----------------------------------------------- */

static int main_enomem(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  cio_loop *loop = cio_get_running_loop();
  loop->fail_alloc_after = 0;
  TRY_EQ(cio_queue_put_nowait(q, P(1)), CIO_ENOMEM);
  TRY_EQ(cio_queue_put(q, P(1)), CIO_ENOMEM);
  loop->fail_alloc_after = -1;
  CHECK_EQ(cio_queue_qsize(q), 0);
  CHECK_EQ(cio_queue_task_done(q), CIO_EINVAL); /* nothing was counted */
  TRY(cio_queue_put(q, P(1)));
  CHECK_EQ(cio_queue_qsize(q), 1);
  loop->fail_alloc_after = 0;
  q = (cio_queue *)1;
  CHECK_EQ(cio_queue_new(&q, 0), CIO_ENOMEM);
  CHECK(q == NULL);
  loop->fail_alloc_after = -1;
  return 0;
}

TEST(queue_enomem_keeps_item_out) {
  CHECK_RUN(test_run_virtual(main_enomem, NULL), 0);
}

/* ---- seed 002's producer/consumer -------------------------------------- */

struct pc {
  cio_queue *q;
  int consumed[2];
  int total;
};

static int producer(void *arg, void **result) {
  (void)result;
  struct pc *pc = arg;
  for (int i = 1; i <= 10; i++) {
    TRY(cio_sleep(0.1 * (i % 5)));
    TRY(cio_queue_put(pc->q, P(i)));
    CHECK(cio_queue_qsize(pc->q) <= 5);
  }
  return cio_queue_put(pc->q, NULL); /* sentinel */
}

struct consumer_arg {
  struct pc *pc;
  int me;
};

static int consumer(void *arg, void **result) {
  (void)result;
  struct consumer_arg *ca = arg;
  struct pc *pc = ca->pc;
  int me = ca->me;
  for (;;) {
    void *item;
    TRY(cio_queue_get(pc->q, &item));
    if (item == NULL) {
      TRY(cio_queue_put(pc->q, NULL)); /* for the others */
      return 0;
    }
    TRY(cio_sleep(0.3 * (1 + me)));
    pc->consumed[me]++;
    pc->total += I(item);
    CHECK_EQ(cio_queue_task_done(pc->q), 0);
  }
}

static int main_producer_consumer(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct pc pc = {0};
  TRY(cio_queue_new(&pc.q, 5));
  DEFER(pc.q);
  struct consumer_arg args[2] = {{&pc, 0}, {&pc, 1}};
  cio_task *prod;
  TRY(test_spawn(&prod, producer, &pc));
  cio_task *cons[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&cons[i], consumer, &args[i]));
  TRY(cio_task_await(prod, NULL));
  for (int i = 0; i < 2; i++)
    TRY(cio_task_await(cons[i], NULL));
  CHECK_EQ(pc.consumed[0] + pc.consumed[1], 10);
  CHECK(pc.consumed[0] > 0 && pc.consumed[1] > 0);
  CHECK_EQ(pc.total, 55);
  return 0;
}

TEST(queue_producer_consumer) {
  CHECK_RUN(test_run_virtual(main_producer_consumer, NULL), 0);
}

/* A get that times out takes nothing: the next item goes to the next
 * getter; a put that times out adds nothing. */
static int main_timeouts(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 1));
  DEFER(q);
  void *item;
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  TRY_EQ(cio_timeout_exit(&to, cio_queue_get(q, &item)), CIO_ETIMEDOUT);
  CHECK(item == NULL);
  CHECK_NEAR(cio_time(), 1.0, 1e-9);
  struct who b = {"b", q, 0, 0};
  cio_task *tb;
  TRY(test_spawn(&tb, getter, &b));
  TRY(test_yield_n(1));
  TRY(cio_queue_put(q, P(5)));
  TRY(cio_task_await(tb, NULL));
  TRY(cio_queue_put(q, P(6)));
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  TRY_EQ(cio_timeout_exit(&to, cio_queue_put(q, P(7))), CIO_ETIMEDOUT);
  CHECK_EQ(cio_queue_qsize(q), 1);
  TRY(cio_queue_get(q, &item));
  CHECK_EQ(I(item), 6);
  return 0;
}

TEST(queue_timeouts_take_nothing) {
  CHECK_RUN(test_run_virtual(main_timeouts, NULL), 0);
  CHECK_STR(test_log_text(), "b-got5 ");
}

/* Made before any loop exists (the header allows it: no loop's allocator
 * counts it), then used by the tasks of a loop and freed after it.  The
 * whole-object check once refused a queue without a loop (found by the
 * cancellation sweep's queue scenario, which makes its queue that way). */
static int main_queue_made_before(void *arg, void **result) {
  (void)result;
  cio_queue *q = arg;
  cio_task *t;
  struct who g = {"g", q, 0, 0};
  TRY(test_spawn(&t, getter, &g));
  TRY(cio_queue_put(q, P(7)));
  TRY(cio_task_await(t, NULL));
  CHECK_EQ(g.item, 7);
  return 0;
}

TEST(queue_made_before_the_loop) {
  cio_queue *q;
  CHECK_RUN(cio_queue_new(&q, 1), 0);
  int rc = test_run_virtual(main_queue_made_before, q);
  size_t left = cio_queue_qsize(q);
  cio_queue_free(q); /* no loop counts it: freed after the run */
  CHECK_RUN(rc, 0);
  CHECK_EQ(left, 0);
}
