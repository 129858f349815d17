/* Small tasks (cio_task_opts.small): many tasks on one shared stack, whose
 * frames are copied out and back.  Every case runs many of them at once so
 * that each switch moves frames, and checks that locals survive, that the
 * waits the runtime moves along (sleep, await, locks, queues, timeouts,
 * cancellation) still work while their records are in a copy, and that
 * Debug builds catch a pointer into a parked small task's stack. */
#include <fcntl.h>
#include <sys/wait.h>

#include "casyncio.h"
#include "test.h"

static const cio_task_opts small_opts = {.small = true};

static int spawn_small(cio_task **out, cio_task_fn fn, void *arg) {
  cio_task *t;
  int rc = cio_create_task(NULL, &t, fn, arg, &small_opts);
  if (rc == 0) {
    DEFER(t);
    if (out != NULL)
      *out = t;
  }
  return rc;
}

/* A local array filled with a pattern of the task's own, checked after
 * every suspension: the frames came back intact and at the same place. */
struct pattern {
  unsigned char bytes[200];
  const unsigned char *self; /* a pointer into the task's own stack */
};

static void pattern_fill(struct pattern *p, int seed) {
  for (size_t i = 0; i < sizeof p->bytes; i++)
    p->bytes[i] = (unsigned char)(seed * 31 + (int)i);
  p->self = p->bytes;
}

static bool pattern_ok(const struct pattern *p, int seed) {
  if (p->self != p->bytes)
    return false;
  for (size_t i = 0; i < sizeof p->bytes; i++)
    if (p->bytes[i] != (unsigned char)(seed * 31 + (int)i))
      return false;
  return true;
}

/* ---- sleeping ------------------------------------------------------------ */

enum { SLEEPERS = 300 };

static int woke_order[SLEEPERS];
static int woke_count;

static int small_sleeper(void *arg, void **result) {
  (void)result;
  int i = (int)(intptr_t)arg;
  struct pattern p;
  pattern_fill(&p, i);
  /* Deadlines in a different order from creation. */
  TRY(cio_sleep(0.001 * (double)((i * 7919) % SLEEPERS + 1)));
  CHECK(pattern_ok(&p, i));
  woke_order[woke_count++] = i;
  for (int k = 0; k < 3; k++) {
    TRY(cio_sleep(0));
    CHECK(pattern_ok(&p, i));
  }
  return i;
}

static int main_sleepers(void *arg, void **result) {
  (void)arg, (void)result;
  static cio_task *t[SLEEPERS];
  for (int i = 0; i < SLEEPERS; i++)
    TRY(spawn_small(&t[i], small_sleeper, (void *)(intptr_t)i));
  for (int i = 0; i < SLEEPERS; i++)
    TRY_EQ(cio_task_await(t[i], NULL), i);
  CHECK_EQ(woke_count, SLEEPERS);
  for (int k = 1; k < SLEEPERS; k++) {
    int a = woke_order[k - 1], b = woke_order[k];
    CHECK((a * 7919) % SLEEPERS < (b * 7919) % SLEEPERS);
  }
  return 0;
}

TEST(small_tasks_sleep_in_deadline_order_and_keep_their_locals) {
  CHECK_RUN(test_run_virtual(main_sleepers, NULL), 0);
}

/* ---- small and normal tasks together, through a lock and a queue --------- */

struct shared_state {
  cio_lock *lock;
  cio_queue *q;
  int counter;
};

enum { CONTENDERS = 40, ROUNDS = 5 };

static int small_contender(void *arg, void **result) {
  (void)result;
  struct shared_state *s = arg;
  struct pattern p;
  int seed = s->counter + 1000;
  pattern_fill(&p, seed);
  for (int r = 0; r < ROUNDS; r++) {
    TRY(cio_lock_acquire(s->lock));
    int before = s->counter;
    TRY(cio_sleep(0)); /* others queue up on the lock meanwhile */
    s->counter = before + 1;
    cio_lock_release(s->lock);
    CHECK(pattern_ok(&p, seed));
    TRY(cio_queue_put(s->q, (void *)(intptr_t)(r + 1)));
    CHECK(pattern_ok(&p, seed));
  }
  return 0;
}

static int normal_consumer(void *arg, void **result) {
  (void)result;
  struct shared_state *s = arg;
  long sum = 0;
  for (int i = 0; i < CONTENDERS * ROUNDS; i++) {
    void *item;
    TRY(cio_queue_get(s->q, &item));
    sum += (intptr_t)item;
  }
  *result = (void *)(intptr_t)sum;
  return 0;
}

static int main_contend(void *arg, void **result) {
  (void)arg, (void)result;
  struct shared_state s = {0};
  TRY(cio_lock_new(&s.lock));
  DEFER(s.lock);
  TRY(cio_queue_new(&s.q, 3)); /* small: putters wait too */
  DEFER(s.q);
  cio_task *consumer;
  TRY(test_spawn(&consumer, normal_consumer, &s));
  cio_task *t[CONTENDERS];
  for (int i = 0; i < CONTENDERS; i++)
    TRY(spawn_small(&t[i], small_contender, &s));
  for (int i = 0; i < CONTENDERS; i++)
    TRY(cio_task_await(t[i], NULL));
  void *sum;
  TRY(cio_task_await(consumer, &sum));
  CHECK_EQ(s.counter, CONTENDERS * ROUNDS);
  CHECK_EQ((intptr_t)sum, CONTENDERS * (ROUNDS * (ROUNDS + 1) / 2));
  return 0;
}

TEST(small_tasks_share_a_lock_and_a_queue_with_normal_tasks) {
  CHECK_RUN(test_run(main_contend, NULL), 0);
}

/* ---- awaiting, gathering, joining ------------------------------------------- */

static int small_child(void *arg, void **result) {
  int i = (int)(intptr_t)arg;
  struct pattern p;
  pattern_fill(&p, i);
  TRY(cio_sleep(0.01 * (i % 3)));
  CHECK(pattern_ok(&p, i));
  *result = (void *)(intptr_t)(i * 10);
  return 0;
}

static int small_parent(void *arg, void **result) {
  cio_future *gate = arg;
  struct pattern p;
  pattern_fill(&p, 77);
  TRY(cio_await(gate, NULL)); /* a normal task opens it */
  CHECK(pattern_ok(&p, 77));
  cio_task *kids[8];
  cio_future *futs[8];
  for (int i = 0; i < 8; i++) {
    TRY(cio_create_task(NULL, &kids[i], small_child, (void *)(intptr_t)i,
                        &small_opts));
    futs[i] = cio_task_future(kids[i]);
  }
  void *results[8];
  int rc = cio_gather(futs, 8, results, NULL, false);
  for (int i = 0; i < 8; i++)
    cio_task_release(kids[i]);
  TRY(rc);
  CHECK(pattern_ok(&p, 77));
  long sum = 0;
  for (int i = 0; i < 8; i++)
    sum += (intptr_t)results[i];
  *result = (void *)(intptr_t)sum;
  return 0;
}

static int main_await(void *arg, void **result) {
  (void)arg, (void)result;
  cio_future *gate;
  TRY(cio_future_new(NULL, &gate));
  DEFER(gate);
  cio_task *parents[10];
  for (int i = 0; i < 10; i++)
    TRY(spawn_small(&parents[i], small_parent, gate));
  TRY(cio_sleep(0.05));
  TRY(cio_future_set_result(gate, NULL));
  for (int i = 0; i < 10; i++) {
    void *sum;
    TRY(cio_task_await(parents[i], &sum));
    CHECK_EQ((intptr_t)sum, 280);
  }
  return 0;
}

TEST(small_tasks_await_gather_and_join) {
  CHECK_RUN(test_run_virtual(main_await, NULL), 0);
}

/* ---- cancellation while the frames are elsewhere ------------------------- */

static int small_long_sleep(void *arg, void **result) {
  (void)result;
  int i = (int)(intptr_t)arg;
  struct pattern p;
  pattern_fill(&p, i);
  int rc = cio_sleep(10.0 + i);
  CHECK(pattern_ok(&p, i));
  return rc;
}

static int main_cancel(void *arg, void **result) {
  (void)arg, (void)result;
  enum { N = 100 };
  cio_task *t[N];
  for (int i = 0; i < N; i++)
    TRY(spawn_small(&t[i], small_long_sleep, (void *)(intptr_t)i));
  TRY(cio_sleep(1.0)); /* all parked, all but one moved off the stack */
  for (int i = 0; i < N; i += 2)
    CHECK_EQ(cio_task_cancel(t[i]), 1);
  for (int i = 0; i < N; i++) {
    int rc = cio_task_await(t[i], NULL);
    CHECK_EQ(rc, i % 2 == 0 ? CIO_ECANCELED : 0);
  }
  CHECK_NEAR(cio_loop_time(NULL), 10.0 + N - 1 + 0.0, 1e-6);
  return 0;
}

TEST(small_tasks_cancelled_while_parked) {
  CHECK_RUN(test_run_virtual(main_cancel, NULL), 0);
}

/* ---- timeouts: scopes and wait_for -------------------------------------------- */

static int small_timeouts(void *arg, void **result) {
  (void)result;
  cio_future *never = arg;
  struct pattern p;
  pattern_fill(&p, 5);
  /* wait_for expiring, then one that completes in time. */
  TRY_EQ(cio_wait_for(never, 0.5, NULL), CIO_ETIMEDOUT);
  CHECK(pattern_ok(&p, 5));
  /* A scope around sleeps, nested, the inner one expiring. */
  cio_timeout outer, inner;
  TRY(cio_timeout_enter(&outer, 5.0));
  TRY(cio_sleep(0.1));
  TRY(cio_timeout_enter(&inner, 0.2));
  int rc = cio_sleep(1.0);
  rc = cio_timeout_exit(&inner, rc);
  CHECK_EQ(rc, CIO_ETIMEDOUT);
  TRY(cio_sleep(0.1));
  TRY(cio_timeout_exit(&outer, 0));
  CHECK(pattern_ok(&p, 5));
  return 0;
}

static int main_timeouts(void *arg, void **result) {
  (void)arg, (void)result;
  cio_future *never;
  TRY(cio_future_new(NULL, &never));
  DEFER(never);
  cio_task *t[30];
  for (int i = 0; i < 30; i++)
    TRY(spawn_small(&t[i], small_timeouts, never));
  for (int i = 0; i < 30; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(small_tasks_time_out_with_scopes_and_wait_for) {
  CHECK_RUN(test_run_virtual(main_timeouts, NULL), 0);
}

/* ---- deep frames ------------------------------------------------------------ */

static int deep(int depth, int seed) {
  volatile unsigned char frame[512];
  for (size_t i = 0; i < sizeof frame; i++)
    frame[i] = (unsigned char)(seed + depth + (int)i);
  int rc = 0;
  if (depth > 0)
    rc = deep(depth - 1, seed);
  else
    rc = cio_sleep(0.01 * (seed % 5));
  for (size_t i = 0; i < sizeof frame; i++)
    if (frame[i] != (unsigned char)(seed + depth + (int)i))
      return -1000;
  return rc;
}

static int small_deep(void *arg, void **result) {
  (void)result;
  int seed = (int)(intptr_t)arg;
  /* About 20 KiB down, then parked, with other small tasks running. */
  return deep(40, seed);
}

static int main_deep(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t[20];
  for (int i = 0; i < 20; i++)
    TRY(spawn_small(&t[i], small_deep, (void *)(intptr_t)i));
  for (int i = 0; i < 20; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(small_tasks_park_with_deep_frames) {
  CHECK_RUN(test_run_virtual(main_deep, NULL), 0);
}

/* ---- misuse ------------------------------------------------------------------- */

static int quick(void *arg, void **result) {
  (void)arg, (void)result;
  return 0;
}

TEST(small_task_with_a_stack_size_is_refused) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, quick, NULL,
                           &(cio_task_opts){.small = true,
                                            .stack_size = 32 * 1024}),
           CIO_EINVAL);
  CHECK(t == NULL);
  CHECK_EQ(cio_loop_close(loop), 0);
}

static int small_forgets_exit(void *arg, void **result) {
  (void)arg, (void)result;
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, 1.0), 0);
  CHECK_EQ(cio_sleep(0.1), 0); /* its frames leave and come back */
  return 0;
}

static int main_forgets(void *arg, void **result) {
  (void)arg, (void)result;
  /* A task ends first: under AddressSanitizer the first task to end binds
   * a symbol lazily, and the dynamic linker saves its registers far below
   * the stack pointer, over the dead frame a scope is read back from. */
  cio_task *warm;
  CHECK_EQ(cio_create_task(NULL, &warm, quick, NULL, &small_opts), 0);
  CHECK_EQ(cio_task_join(warm, NULL), 0);
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_create_task(NULL, &t[i], small_forgets_exit, NULL,
                             &(cio_task_opts){.name = "forgetful",
                                              .small = true}),
             0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_task_join(t[i], NULL), 0);
  CHECK_EQ(cio_sleep(2.0), 0); /* nothing fires into a dead frame */
  return 0;
}

TEST(small_task_returning_with_a_scope_entered_is_reported_and_closed) {
  test_stderr_begin();
  int rc = test_run_virtual(main_forgets, NULL);
  const char *err = test_stderr_end();
  if (rc != 0 || strstr(err, "task 'forgetful' returned with a timeout scope "
                             "still entered") == NULL)
    test_fail(__FILE__, __LINE__, "rc %d, stderr: %s", rc, err);
}

/* A small task hands a pointer to its local to a normal task, which
 * writes through it while the small task sleeps: Debug builds abort. */
static int *leaked;

static int small_leaker(void *arg, void **result) {
  (void)arg, (void)result;
  int local = 1;
  leaked = &local;
  (void)!cio_sleep(1.0);
  return local;
}

static int normal_writer(void *arg, void **result) {
  (void)arg, (void)result;
  (void)!cio_sleep(0.5);
  *leaked = 2; /* the mistake */
  return 0;
}

static int main_leak(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *a, *b, *w;
  CHECK_EQ(cio_create_task(NULL, &a, small_leaker, NULL, &small_opts), 0);
  CHECK_EQ(cio_create_task(NULL, &b, quick, NULL, &small_opts), 0);
  CHECK_EQ(cio_create_task(NULL, &w, normal_writer, NULL, NULL), 0);
  (void)!cio_task_join(w, NULL);
  (void)!cio_task_join(b, NULL);
  (void)!cio_task_join(a, NULL);
  return 0;
}

TEST(pointer_into_a_parked_small_task_is_caught_in_debug_builds) {
  if (test_is_child()) {
    (void)!test_run_virtual(main_leak, NULL);
    return;
  }
  char out[8192];
  int status = test_run_child(
      "pointer_into_a_parked_small_task_is_caught_in_debug_builds", out,
      sizeof out);
  CHECK(!WIFEXITED(status) || WEXITSTATUS(status) != 0); /* it aborted */
  /* Our check, or AddressSanitizer's poisoning of the empty stack first. */
  CHECK(strstr(out, "kept a pointer into a small task's stack") != NULL ||
        strstr(out, "use-after-poison") != NULL);
}

static int small_opens_a_file(void *arg, void **result) {
  (void)arg, (void)result;
  int fd;
  TRY(cio_fs_open("/dev/null", O_RDONLY, 0, &fd)); /* the mistake */
  return cio_fs_close(fd);
}

static int main_small_file(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, small_opens_a_file, NULL, &small_opts),
           0);
  (void)!cio_task_join(t, NULL);
  return 0;
}

/* A libuv request (files, DNS, connect, processes) keeps a pointer into
 * the caller's stack while it waits: from a small task, Debug builds
 * stop with a message naming the task and the rule. */
TEST(libuv_request_from_a_small_task_is_caught_in_debug_builds) {
  if (test_is_child()) {
    (void)!test_run(main_small_file, NULL);
    return;
  }
  char out[8192];
  int status = test_run_child(
      "libuv_request_from_a_small_task_is_caught_in_debug_builds", out,
      sizeof out);
  CHECK(!WIFEXITED(status) || WEXITSTATUS(status) != 0); /* it aborted */
  CHECK(strstr(out, "small task 'Task-2' started a libuv request") != NULL);
}

void cio__test_fail_alloc(long n, bool persist); /* src/runtime/alloc.c */
long cio__test_alloc_failures(void);

static int small_sleeps_once(void *arg, void **result) {
  (void)result;
  *(int *)arg = cio_sleep(0.01) == 0 ? 1 : -1;
  return 0;
}

static int main_reservation_fails(void *arg, void **result) {
  (void)arg, (void)result;
  int a = 0, b = 0;
  cio_task *ta, *tb;
  TRY(cio_sleep(0.001)); /* the loop's timer arrays exist: no allocation */
  TRY(cio_create_task(NULL, &ta, small_sleeps_once, &a, &small_opts));
  TRY(cio_create_task(NULL, &tb, small_sleeps_once, &b, &small_opts));
  /* The next allocation fails: the first small task's reservation for
   * its frames as it parks.  The park goes on; the buffer is made when
   * the second small task needs the shared stack. */
  cio__test_fail_alloc(1, false);
  TRY(cio_task_join(ta, NULL));
  TRY(cio_task_join(tb, NULL));
  long failed = cio__test_alloc_failures();
  cio__test_fail_alloc(0, false);
  CHECK_EQ(failed, 1);
  CHECK_EQ(a, 1);
  CHECK_EQ(b, 1);
  return 0;
}

/* A small task's suspension does not fail when the room for its frames
 * cannot be reserved: the frames are saved when another small task needs
 * the stack (or the process stops with a message if memory is still
 * short then), so a wait never returns CIO_ENOMEM for it. */
TEST(small_task_parks_even_when_its_reservation_fails) {
  CHECK_RUN(test_run_virtual(main_reservation_fails, NULL), 0);
}
