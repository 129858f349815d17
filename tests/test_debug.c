/* Seeing inside: task dumps (states, waits, stacks, the await tree),
 * debug mode (slow steps, objects left open with their creation sites,
 * errors nobody read), the stall watchdog, the dump signal and the
 * casyncio-ps socket, and cio_run's report of a task that ignores its
 * cancellation.  Each report's content is checked: names, states, wait
 * targets and a frame in the right function (the tests are built with
 * frame pointers). */
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

/* The dump of the running loop, as a string (static buffer). */
static const char *dump_text(void) {
  static char text[65536];
  FILE *f = fmemopen(text, sizeof text - 1, "w");
  CHECK(f != NULL);
  CHECK_EQ(cio_loop_dump(NULL, f), 0);
  fclose(f);
  fprintf(stderr, "%s", text);
  return text;
}

/* The part of `text` about task `name`: from its heading to the next. */
static const char *task_section(const char *text, const char *name, char *out,
                                size_t cap) {
  char heading[128];
  snprintf(heading, sizeof heading, "\nTask '%s' ", name);
  const char *start = strstr(text, heading);
  if (start == NULL)
    test_fail(__FILE__, __LINE__, "no section for task '%s'", name);
  start++;
  const char *end = strstr(start, "\nTask '");
  const char *graph = strstr(start, "\nawait graph:");
  if (end == NULL || (graph != NULL && graph < end))
    end = graph;
  size_t n = end ? (size_t)(end - start) : strlen(start);
  if (n >= cap)
    n = cap - 1;
  memcpy(out, start, n);
  out[n] = '\0';
  return out;
}

#define CHECK_HAS(text, needle)                                                \
  do {                                                                         \
    if (strstr((text), (needle)) == NULL)                                      \
      test_fail(__FILE__, __LINE__, "\"%s\" not found in:\n%s", (needle),      \
                (text));                                                       \
  } while (0)

/* ---- the dump ---------------------------------------------------------- */

struct scene {
  cio_stream *stream;
  cio_process *child;
  cio_lock *lock;
  cio_event *event;
  cio_semaphore *sem;
  cio_queue *queue;
  cio_future *future;
  cio_task *sleeper;
  int pipe[2];
};

static int sleeper_body(void *arg, void **result) {
  (void)arg, (void)result;
  return cio_sleep(5);
}

static int locker_body(void *arg, void **result) {
  (void)result;
  struct scene *s = arg;
  int rc = cio_lock_acquire(s->lock);
  if (rc == 0)
    cio_lock_release(s->lock);
  return rc;
}

static int event_body(void *arg, void **result) {
  (void)result;
  return cio_event_wait(((struct scene *)arg)->event);
}

static int sem_body(void *arg, void **result) {
  (void)result;
  int rc = cio_semaphore_acquire(((struct scene *)arg)->sem);
  if (rc == 0)
    cio_semaphore_release(((struct scene *)arg)->sem);
  return rc;
}

static int getter_body(void *arg, void **result) {
  (void)result;
  void *item;
  return cio_queue_get(((struct scene *)arg)->queue, &item);
}

static int future_body(void *arg, void **result) {
  (void)result;
  return cio_await(((struct scene *)arg)->future, NULL);
}

static int awaiter_body(void *arg, void **result) {
  (void)result;
  return cio_task_await(((struct scene *)arg)->sleeper, NULL);
}

static int fd_body(void *arg, void **result) {
  (void)result;
  return cio_fd_wait(((struct scene *)arg)->pipe[0], CIO_READABLE,
                     CIO_NO_TIMEOUT);
}

static int reader_body(void *arg, void **result) {
  (void)result;
  char buf[16];
  ssize_t n = cio_stream_read(((struct scene *)arg)->stream, buf, sizeof buf);
  return n < 0 ? (int)n : 0;
}

static int child_waiter_body(void *arg, void **result) {
  (void)result;
  int code;
  return cio_process_wait(((struct scene *)arg)->child, &code);
}

static int child_a(void *arg, void **result) {
  (void)arg, (void)result;
  return cio_sleep(7);
}

static int gather_body(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *kids[2];
  int rc = cio_create_task(NULL, &kids[0], child_a, NULL,
                           &(cio_task_opts){.name = "kid-1"});
  if (rc < 0)
    return rc;
  rc = cio_create_task(NULL, &kids[1], child_a, NULL,
                       &(cio_task_opts){.name = "kid-2"});
  if (rc < 0) {
    cio_task_release(kids[0]);
    return rc;
  }
  cio_future *futs[2] = {cio_task_future(kids[0]), cio_task_future(kids[1])};
  rc = cio_gather(futs, 2, NULL, NULL, false);
  cio_task_release(kids[0]);
  cio_task_release(kids[1]);
  return rc;
}

static int spawn_named(cio_task **out, cio_task_fn fn, void *arg,
                       const char *name) {
  return cio_create_task(NULL, out, fn, arg, &(cio_task_opts){.name = name});
}

static int main_dump(void *arg, void **result) {
  (void)arg, (void)result;
  struct scene s = {0};
  TRY(cio_lock_new(&s.lock));
  DEFER(s.lock);
  TRY(cio_event_new(&s.event));
  DEFER(s.event);
  TRY(cio_semaphore_new(&s.sem, 0));
  DEFER(s.sem);
  TRY(cio_queue_new(&s.queue, 0));
  DEFER(s.queue);
  TRY(cio_future_new(NULL, &s.future));
  DEFER(s.future);
  CHECK_EQ(pipe(s.pipe), 0);
  TRY(cio_lock_acquire(s.lock));
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  TRY(cio_open_connection_sock(&s.stream, sv[0], NULL));
  const char *const argv[] = {"sleep", "30", NULL};
  TRY(cio_create_subprocess_exec(&s.child, argv, NULL));
  cio_task *t[11];
  TRY(spawn_named(&t[0], sleeper_body, &s, "sleeper"));
  s.sleeper = t[0];
  TRY(spawn_named(&t[1], locker_body, &s, "locker"));
  TRY(spawn_named(&t[2], event_body, &s, "eventer"));
  TRY(spawn_named(&t[3], sem_body, &s, "semaphorer"));
  TRY(spawn_named(&t[4], getter_body, &s, "getter"));
  TRY(spawn_named(&t[5], future_body, &s, "futurer"));
  TRY(spawn_named(&t[6], awaiter_body, &s, "awaiter"));
  TRY(spawn_named(&t[7], fd_body, &s, "fd-waiter"));
  TRY(spawn_named(&t[8], gather_body, &s, "gatherer"));
  TRY(spawn_named(&t[9], reader_body, &s, "reader"));
  TRY(spawn_named(&t[10], child_waiter_body, &s, "parent"));
  for (int i = 0; i < 11; i++)
    DEFER(t[i]);
  TRY(cio_sleep(1));
  const char *text = dump_text();
  char sec[4096];
  CHECK_HAS(text, "casyncio: dump of loop ");
  CHECK_HAS(text, ": 14 tasks");

  task_section(text, "main", sec, sizeof sec);
  CHECK_HAS(sec, "running, age 1.000 s");
  CHECK_HAS(sec, "waits on: nothing (running)");
  CHECK_HAS(sec, "cio_loop_dump");
  CHECK_HAS(sec, "main_dump (test_debug.c:");

  task_section(text, "sleeper", sec, sizeof sec);
  CHECK_HAS(sec, "waiting, age 1.000 s");
  CHECK_HAS(sec, "waits on: sleep: until 5.000 s (4.000 s from now)");
  CHECK_HAS(sec, "#0 cio_sleep");
  CHECK_HAS(sec, "#1 sleeper_body (test_debug.c:");

  task_section(text, "locker", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: lock acquire: lock 0x");
  CHECK_HAS(sec, "(locked, 1 waiting)");
  CHECK_HAS(sec, "locker_body");

  task_section(text, "eventer", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: event wait: event 0x");
  CHECK_HAS(sec, "(clear, 1 waiting)");
  CHECK_HAS(sec, "event_body");

  task_section(text, "semaphorer", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: semaphore acquire: semaphore 0x");
  CHECK_HAS(sec, "(value 0, 1 waiting)");

  task_section(text, "getter", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: queue get: queue 0x");
  CHECK_HAS(sec, "(0 items, 0 unfinished)");
  CHECK_HAS(sec, "getter_body");

  task_section(text, "futurer", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: await: future 0x");
  CHECK_HAS(sec, "#0 cio_"); /* cio_await (or what it tail-calls) */

  task_section(text, "awaiter", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: await: task 'sleeper'");
  CHECK_HAS(sec, "#0 cio_");
  CHECK_HAS(sec, "awaiter_body");

  char fdwant[64];
  snprintf(fdwant, sizeof fdwant, "waits on: fd: fd %d readable", s.pipe[0]);
  task_section(text, "fd-waiter", sec, sizeof sec);
  CHECK_HAS(sec, fdwant);
  CHECK_HAS(sec, "#0 cio_fd_wait");

  task_section(text, "gatherer", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: gather");
  CHECK_HAS(sec, "#0 cio_gather");
  CHECK_HAS(sec, "gather_body");

  char want[96];
  task_section(text, "reader", sec, sizeof sec);
  snprintf(want, sizeof want, "waits on: stream read: pipe fd %d", sv[0]);
  CHECK_HAS(sec, want);
  CHECK_HAS(sec, "reader_body (test_debug.c:");

  task_section(text, "parent", sec, sizeof sec);
  snprintf(want, sizeof want, "waits on: subprocess wait: subprocess pid %d",
           cio_process_pid(s.child));
  CHECK_HAS(sec, want);
  CHECK_HAS(sec, "child_waiter_body (test_debug.c:");

  task_section(text, "kid-1", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: sleep: until 7.000 s");

  /* The tree: main at the root; the gatherer over its kids; the awaiter
   * over the sleeper, which is no root then. */
  const char *graph = strstr(text, "\nawait graph:\n");
  CHECK(graph != NULL);
  CHECK_HAS(graph, "\u2500\u2500 (T) gatherer\n");
  CHECK_HAS(graph, "\u2500\u2500  cio_gather");
  CHECK_HAS(graph, "(T) kid-1\n");
  CHECK_HAS(graph, "(T) kid-2\n");
  CHECK_HAS(graph, "(T) awaiter\n");
  CHECK_HAS(graph, "[waits] sleep: until 5.000 s");
  CHECK(strstr(graph, "gather_body test_debug.c:") <
        strstr(graph, "(T) kid-1"));
  CHECK(strstr(graph, "(T) awaiter") < strstr(graph, "(T) sleeper"));
  /* sleeper appears once: under the awaiter, not as a root of its own */
  const char *first = strstr(graph, "(T) sleeper");
  CHECK(first != NULL && strstr(first + 1, "(T) sleeper") == NULL);

  cio_lock_release(s.lock);
  for (int i = 0; i < 11; i++)
    cio_task_cancel(t[i]);
  for (int i = 0; i < 11; i++)
    (void)!cio_task_await(t[i], NULL);
  close(s.pipe[0]);
  close(s.pipe[1]);
  TRY(cio_stream_close(s.stream));
  close(sv[1]);
  TRY(cio_process_close(s.child));
  return 0;
}

TEST(dump_names_states_waits_and_frames) {
  CHECK_RUN(test_run_virtual(main_dump, NULL), 0);
}

/* ---- debug mode: objects left open, errors nobody read -------------- */

static int quick_body(void *arg, void **result) {
  (void)arg, (void)result;
  return 0;
}

static int echo_handler(cio_stream *s, void *arg) {
  (void)arg;
  return cio_stream_close(s);
}

static void tick(void *arg) {
  (void)arg;
}

struct leaks {
  cio_future *future;
  cio_task *task;
  cio_handle *handle;
  cio_server *server;
};

/* The objects the report must name, each created here. */
static void make_leaks(cio_loop *loop, struct leaks *l) {
  CHECK_EQ(cio_future_new(loop, &l->future), 0);
  CHECK_EQ(cio_create_task(loop, &l->task, quick_body, NULL,
                           &(cio_task_opts){.name = "finished-unreleased"}),
           0);
  CHECK_EQ(cio_loop_call_later(loop, 100, tick, NULL, &l->handle), 0);
  CHECK_EQ(cio_start_server(&l->server, echo_handler, NULL, "127.0.0.1", 0,
                            NULL),
           0);
}

static int close_server(void *arg, void **result) {
  (void)result;
  return cio_server_close(arg);
}

static void check_left_open(bool debug) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, &(cio_loop_opts){.debug = debug}), 0);
  struct leaks l;
  make_leaks(loop, &l);
  CHECK_EQ(cio_loop_run_until_complete(loop, l.task, NULL), 0);
  test_stderr_begin();
  int rc = cio_loop_close(loop);
  const char *err = test_stderr_end();
  fprintf(stderr, "%s", err);
  CHECK_EQ(rc, CIO_EBUSY);
  CHECK_HAS(err, "cio_loop_close: still referenced or open: 1 task, 1 "
                 "future, 1 callback handle, 1 server");
  if (!debug) {
    CHECK_HAS(err, "run with CIO_DEBUG=1 to list each one");
  } else {
    CHECK_HAS(err, "  future 0x");
    CHECK_HAS(err, "(pending), created at make_leaks (test_debug.c:");
    CHECK_HAS(err, "  task 'finished-unreleased' (Task-");
    CHECK_HAS(err, "), done, created at make_leaks (test_debug.c:");
    CHECK_HAS(err, "  callback handle calls tick, created at make_leaks");
    CHECK_HAS(err, "  server fd ");
    CHECK_HAS(err, ", 127.0.0.1:");
    /* oldest first */
    CHECK(strstr(err, "  future 0x") < strstr(err, "  task 'finished"));
    CHECK(strstr(err, "  task 'finished") < strstr(err, "  server fd "));
  }
  cio_future_release(l.future);
  cio_task_release(l.task);
  cio_handle_cancel(l.handle);
  cio_handle_release(l.handle);
  cio_task *closer;
  CHECK_EQ(cio_create_task(loop, &closer, close_server, l.server, NULL), 0);
  CHECK_EQ(cio_loop_run_until_complete(loop, closer, NULL), 0);
  cio_task_release(closer);
  CHECK_EQ(cio_loop_close(loop), 0);
}

TEST(debug_mode_lists_objects_left_open_with_creation_sites) {
  check_left_open(true);
}

TEST(without_debug_mode_left_open_objects_are_counted) {
  check_left_open(false);
}

static void make_failed_future(cio_loop *loop) {
  cio_future *f;
  CHECK_EQ(cio_future_new(loop, &f), 0);
  CHECK_EQ(cio_future_set_error(f, CIO_EIO), 0);
  cio_future_release(f); /* nobody read the error */
}

static int failing_body(void *arg, void **result) {
  (void)arg, (void)result;
  return CIO_ECONNRESET;
}

TEST(debug_mode_names_errors_nobody_read_with_creation_sites) {
  setenv("CIO_DEBUG", "1", 1); /* the environment turns it on too */
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  unsetenv("CIO_DEBUG");
  test_stderr_begin();
  make_failed_future(loop);
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, failing_body, NULL,
                           &(cio_task_opts){.name = "failing"}),
           0);
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), CIO_ECONNRESET);
  cio_task_release(t);
  const char *err = test_stderr_end();
  fprintf(stderr, "%s", err);
  CHECK_HAS(err, "Future exception was never retrieved: EIO");
  CHECK_HAS(err, "created at make_failed_future (test_debug.c:");
  /* run_until_complete read the task's error: not reported */
  CHECK(strstr(err, "'failing'") == NULL);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* ---- debug mode: slow steps ------------------------------------------- */

static void spin_ms(int ms) {
  double until = test_now() + ms / 1000.0;
  while (test_now() < until)
    ;
}

static int slow_body(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(0.01);
  if (rc < 0)
    return rc;
  spin_ms(120); /* a step of 120 ms after resuming from the sleep */
  return 0;
}

static void slow_callback(void *arg) {
  (void)arg;
  spin_ms(120);
}

static int main_slow(cio_loop *loop, void *arg) {
  (void)arg;
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, slow_body, NULL,
                           &(cio_task_opts){.name = "slowpoke"}),
           0);
  CHECK_EQ(cio_loop_call_soon(loop, slow_callback, NULL, NULL), 0);
  test_stderr_begin();
  int rc = cio_loop_run_until_complete(loop, t, NULL);
  const char *err = test_stderr_end();
  fprintf(stderr, "%s", err);
  cio_task_release(t);
  CHECK_EQ(rc, 0);
  CHECK_HAS(err, "casyncio: Executing task 'slowpoke' (Task-");
  CHECK_HAS(err, "debug mode reports steps over 0.050 s); it resumed at "
                 "slow_body (test_debug.c:");
  CHECK_HAS(err, "after cio_sleep");
  CHECK_HAS(err, "casyncio: Executing callback slow_callback (test_debug.c:");
  /* took 0.12 s or a little more */
  const char *took = strstr(err, "'slowpoke'");
  took = took ? strstr(took, " took 0.") : NULL;
  CHECK(took != NULL && atof(took + 6) >= 0.119 && atof(took + 6) < 1.0);
  return 0;
}

TEST(debug_mode_reports_slow_steps_with_where_they_resumed) {
  cio_loop_opts o = {.debug = true, .slow_step_ms = 50, .stall_ms = -1};
  CHECK_EQ(test_with_loop(&o, main_slow, NULL), 0);
}

static int main_not_slow(cio_loop *loop, void *arg) {
  (void)arg;
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, slow_body, NULL, NULL), 0);
  test_stderr_begin();
  int rc = cio_loop_run_until_complete(loop, t, NULL);
  const char *err = test_stderr_end();
  cio_task_release(t);
  CHECK_EQ(rc, 0);
  CHECK(strstr(err, "Executing") == NULL);
  return 0;
}

TEST(without_debug_mode_slow_steps_are_not_reported) {
  cio_loop_opts o = {.slow_step_ms = 50, .stall_ms = -1};
  CHECK_EQ(test_with_loop(&o, main_not_slow, NULL), 0);
}

/* ---- the stall watchdog ---------------------------------------------- */

/* Blocks the loop's thread in a system call, as a synchronous client
 * library would. */
static void __attribute__((noinline)) blocking_lookup(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static int blocker_body(void *arg, void **result) {
  (void)result;
  int rc = cio_sleep(0.01);
  if (rc < 0)
    return rc;
  blocking_lookup(*(int *)arg);
  return 0;
}

static void __attribute__((noinline)) busy_callback(void *arg) {
  spin_ms(*(int *)arg);
}

static int main_stall(cio_loop *loop, void *arg) {
  (void)arg;
  int ms = 500;
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, blocker_body, &ms,
                           &(cio_task_opts){.name = "blocker"}),
           0);
  test_stderr_begin();
  double t0 = test_now();
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  cio_task_release(t);
  /* A callback spinning on the CPU, then time for the watchdog to see
   * the loop poll again. */
  CHECK_EQ(cio_loop_call_soon(loop, busy_callback, &ms, NULL), 0);
  static int no_wait = 0;
  CHECK_EQ(cio_create_task(loop, &t, blocker_body, &no_wait, NULL), 0);
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  cio_task_release(t);
  /* The reports come from the watchdog's reporter thread: wait for the
   * second "stall over" (outside a round: not a stall). */
  static char err[32768];
  err[0] = '\0';
  for (;;) {
    blocking_lookup(50);
    const char *more = test_stderr_end();
    strncat(err, more, sizeof err - strlen(err) - 1);
    const char *over = strstr(err, "stall over");
    if ((over != NULL && strstr(over + 1, "stall over") != NULL) ||
        test_now() - t0 > 10)
      break;
    test_stderr_begin();
  }
  fprintf(stderr, "%s", err);
  char head[64];
  snprintf(head, sizeof head, "casyncio: stall: the loop of thread %d ",
           (int)gettid());
  CHECK_HAS(err, head);
  CHECK_HAS(err, "(threshold 0.100 s), running task 'blocker' (Task-");
  CHECK_HAS(err, "; the loop thread's backtrace:\n");
  CHECK_HAS(err, "nanosleep");
  CHECK_HAS(err, " blocking_lookup (test_debug.c:");
  CHECK_HAS(err, " blocker_body (test_debug.c:");
  CHECK(strstr(err, " blocking_lookup (") < strstr(err, " blocker_body ("));
  CHECK_HAS(err, "running a callback, not a task");
  CHECK_HAS(err, " busy_callback (test_debug.c:");
  CHECK_HAS(err, "casyncio: stall over: the loop of thread ");
  /* one report per stall, and one line when each ended */
  const char *second = strstr(strstr(err, "casyncio: stall:") + 1,
                              "casyncio: stall:");
  CHECK(second != NULL && strstr(second + 1, "casyncio: stall:") == NULL);
  const char *over = strstr(err, "stall over");
  CHECK(over != NULL && strstr(over + 1, "stall over") != NULL);
  return 0;
}

TEST(stall_report_names_task_and_shows_backtrace) {
  const char *emu = getenv("CIO_TEST_EMULATOR");
  if (emu != NULL && emu[0] != '\0')
    test_skip("under %s: the report is written by the stuck thread's signal "
              "handler, and qemu-user does not deliver the watchdog's "
              "signal to it (only 'stall over' lines come); the native run "
              "checks it",
              emu);
  cio_loop_opts o = {.stall_ms = 100};
  CHECK_EQ(test_with_loop(&o, main_stall, NULL), 0);
}

static int main_no_stall(cio_loop *loop, void *arg) {
  (void)arg;
  int ms = 400;
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, blocker_body, &ms, NULL), 0);
  test_stderr_begin();
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  cio_task_release(t);
  const char *err = test_stderr_end();
  CHECK(strstr(err, "stall") == NULL);
  return 0;
}

TEST(stall_detector_can_be_turned_off) {
  cio_loop_opts o = {.stall_ms = -1};
  CHECK_EQ(test_with_loop(&o, main_no_stall, NULL), 0);
  setenv("CIO_STALL_MS", "0", 1);
  CHECK_EQ(test_with_loop(NULL, main_no_stall, NULL), 0);
  unsetenv("CIO_STALL_MS");
}

/* ---- dumps on request: the signal and casyncio-ps -------------------- */

/* "qemu-aarch64 " in a cross build's run (scripts/test-aarch64.sh), so
 * that the tool, built for the target too, runs; else "". */
static const char *emulator(void) {
  static char prefix[512];
  const char *emu = getenv("CIO_TEST_EMULATOR");
  if (emu == NULL || emu[0] == '\0')
    return "";
  snprintf(prefix, sizeof prefix, "%s ", emu);
  return prefix;
}

static int napper_body(void *arg, void **result) {
  (void)arg, (void)result;
  return cio_sleep(30);
}

static int main_dump_signal(cio_loop *loop, void *arg) {
  (void)arg;
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, napper_body, NULL,
                           &(cio_task_opts){.name = "napper"}),
           0);
  DEFER(t);
  cio_loop_stop(loop);
  CHECK_EQ(cio_loop_run_forever(loop), 0); /* napper starts, and sleeps */
  test_stderr_begin();
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  /* The loop prints the dump between two polls. */
  double t0 = test_now();
  const char *err = "";
  while (test_now() - t0 < 5) {
    cio_loop_stop(loop);
    (void)!cio_loop_run_forever(loop);
    fflush(stderr);
    if (strstr(err = test_stderr_end(), "await graph:") != NULL)
      break;
    test_stderr_begin();
    blocking_lookup(10);
  }
  fprintf(stderr, "%s", err);
  CHECK_HAS(err, "casyncio: dump of loop ");
  CHECK_HAS(err, "Task 'napper' (Task-");
  CHECK_HAS(err, "waits on: sleep: until ");
  CHECK_HAS(err, " napper_body (test_debug.c:");
  CHECK_HAS(err, "(T) napper");
  cio_task_cancel(t);
  return 0;
}

TEST(dump_signal_prints_every_task) {
  cio_loop_opts o = {.dump_signal = SIGUSR1};
  CHECK_EQ(test_with_loop(&o, main_dump_signal, NULL), 0);
}

struct ps_run {
  char args[64];
  char out[32768];
  int status;
};

/* On an executor thread: the loop goes on polling, and answers. */
static int run_ps(void *arg, void **result) {
  (void)result;
  struct ps_run *r = arg;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s%s/casyncio-ps %s %d 2>&1", emulator(),
           CIO_TOOLS_DIR, r->args, (int)getpid());
  r->status = test_run_capture(cmd, r->out, sizeof r->out);
  return 0;
}

static int queue_waiter_body(void *arg, void **result) {
  (void)result;
  void *item;
  return cio_queue_get(arg, &item);
}

static int main_ps(void *arg, void **result) {
  (void)arg, (void)result;
  cio_queue *q;
  TRY(cio_queue_new(&q, 0));
  DEFER(q);
  cio_task *t;
  TRY(cio_create_task(NULL, &t, queue_waiter_body, q,
                      &(cio_task_opts){.name = "consumer"}));
  DEFER(t);
  TRY(cio_sleep(0.01));
  struct ps_run *r = calloc(1, sizeof *r);
  CHECK(r != NULL);
  TRY(cio_to_thread(run_ps, r, NULL));
  fprintf(stderr, "%s", r->out);
  CHECK(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
  CHECK_HAS(r->out, "casyncio: dump of loop ");
  CHECK_HAS(r->out, "Task 'main' (Task-");
  CHECK_HAS(r->out, "waits on: executor job: run_ps on executor 0x");
  CHECK_HAS(r->out, "Task 'consumer' (Task-");
  CHECK_HAS(r->out, "waits on: queue get: queue 0x");
  CHECK_HAS(r->out, " queue_waiter_body (test_debug.c:");
  CHECK_HAS(r->out, "(T) consumer");
  /* --tree: the heading and the graph only */
  snprintf(r->args, sizeof r->args, "--tree");
  TRY(cio_to_thread(run_ps, r, NULL));
  fprintf(stderr, "%s", r->out);
  CHECK(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
  CHECK_HAS(r->out, "casyncio: dump of loop ");
  CHECK_HAS(r->out, "(T) consumer");
  CHECK(strstr(r->out, "waits on:") == NULL);
  /* A loop stuck in a step does not answer: casyncio-ps says so. */
  snprintf(r->args, sizeof r->args, "--timeout 0.3");
  cio_future *f;
  TRY(cio_executor_submit(NULL, run_ps, r, NULL, &f));
  DEFER(f);
  blocking_lookup(1000);
  TRY(cio_await(f, NULL));
  fprintf(stderr, "%s", r->out);
  CHECK(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 1);
  CHECK_HAS(r->out, "did not answer within 0.3 s: it is stuck");
  free(r);
  cio_task_cancel(t);
  (void)!cio_task_await(t, NULL); /* before the queue goes */
  return 0;
}

TEST(casyncio_ps_prints_the_dump_of_a_running_program) {
  setenv("CIO_INSPECT", "1", 1);
  setenv("CIO_STALL_MS", "0", 1);
  int rc = test_run(main_ps, NULL);
  unsetenv("CIO_INSPECT");
  unsetenv("CIO_STALL_MS");
  CHECK_EQ(rc, 0);
  /* The socket went with the loop. */
  char cmd[512], out[1024];
  snprintf(cmd, sizeof cmd, "%s%s/casyncio-ps %d 2>&1", emulator(),
           CIO_TOOLS_DIR, (int)getpid());
  int status = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK_HAS(out, "has no casyncio loop to ask");
}

/* ---- cio_run's shutdown ------------------------------------------------ */

/* Ignores cancellation for a while, as a buggy task would. */
static int stubborn_body(void *arg, void **result) {
  (void)arg, (void)result;
  double t0 = test_now();
  while (test_now() - t0 < 0.8) {
    if (cio_sleep(0.05) == CIO_ECANCELED)
      cio_task_uncancel(cio_current_task());
  }
  return 0;
}

static int background_body(void *arg, void **result) {
  (void)arg, (void)result;
  return cio_sleep(60);
}

static int main_leaves_tasks(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_create_task(NULL, NULL, stubborn_body, NULL,
                           &(cio_task_opts){.name = "stubborn"});
  if (rc == 0)
    rc = cio_create_task(NULL, NULL, background_body, NULL,
                         &(cio_task_opts){.name = "background"});
  if (rc == 0)
    rc = cio_sleep(0.01);
  return rc;
}

TEST(shutdown_names_a_task_that_ignores_its_cancellation) {
  cio_loop_opts o = {.shutdown_report_ms = 300, .debug = true};
  test_stderr_begin();
  double t0 = test_now();
  int rc = cio_run_ex(main_leaves_tasks, NULL, &o, NULL);
  double took = test_now() - t0;
  const char *err = test_stderr_end();
  fprintf(stderr, "%s", err);
  CHECK_EQ(rc, 0);
  CHECK(took >= 0.7);
  /* Debug mode names the tasks the shutdown cancels... */
  CHECK_HAS(err, "casyncio: cio_run: task 'stubborn' was still running when "
                 "the main task ended; cancelling it: waiting on sleep: ");
  CHECK_HAS(err, "casyncio: cio_run: task 'background' was still running "
                 "when the main task ended; cancelling it: waiting on sleep: "
                 "until ");
  CHECK_HAS(err, " at background_body (test_debug.c:");
  CHECK_HAS(err, "created at main_leaves_tasks (test_debug.c:");
  /* ...and, after shutdown_report_ms, the one still running. */
  const char *late = strstr(err, "casyncio: cio_run: task 'stubborn' is still "
                                 "running 0.3 s after the shutdown "
                                 "cancelled it (it ignores its cancellation; "
                                 "the shutdown waits for it): waiting on ");
  CHECK(late != NULL);
  CHECK_HAS(late, " at stubborn_body (test_debug.c:");
  CHECK(strstr(late, "'background'") == NULL);
}

static cio_executor *make_pool(void) {
  cio_executor *ex;
  CHECK_EQ(cio_thread_pool_new(&ex, 2), 0);
  return ex;
}

TEST(debug_mode_names_executors_not_freed_at_close) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, &(cio_loop_opts){.debug = true}), 0);
  cio_executor *kept = make_pool();
  cio_executor *freed = make_pool();
  cio_executor_free(freed);
  test_stderr_begin();
  CHECK_EQ(cio_loop_close(loop), 0); /* not counted: the loop closes */
  const char *err = test_stderr_end();
  fprintf(stderr, "%s", err);
  CHECK_HAS(err, "casyncio: cio_loop_close: not closed:\n  executor 0x");
  CHECK_HAS(err, "created at make_pool (test_debug.c:");
  const char *first = strstr(err, "  executor 0x");
  CHECK(strstr(first + 1, "  executor 0x") == NULL); /* `freed` is not */
  cio_executor_free(kept);
}

/* Two tasks awaiting each other: a deadlock the tree shows as a cycle.
 * (ping shields its await, so that cancelling it ends the cycle: a
 * cancellation passed around the cycle would never end, as in CPython.) */
static cio_task *cycle_peer[2];

static int cycle_body(void *arg, void **result) {
  (void)result;
  int i = (int)(intptr_t)arg;
  int rc = cio_sleep(0.01); /* both exist by then */
  if (rc == 0 && i == 0)
    rc = cio_shield(cio_task_future(cycle_peer[1]), NULL);
  else if (rc == 0)
    rc = cio_task_await(cycle_peer[0], NULL);
  return rc;
}

static int main_cycle(void *arg, void **result) {
  (void)arg, (void)result;
  TRY(cio_create_task(NULL, &cycle_peer[0], cycle_body, (void *)0,
                      &(cio_task_opts){.name = "ping"}));
  DEFER(cycle_peer[0]);
  TRY(cio_create_task(NULL, &cycle_peer[1], cycle_body, (void *)1,
                      &(cio_task_opts){.name = "pong"}));
  DEFER(cycle_peer[1]);
  TRY(cio_sleep(0.1));
  const char *text = dump_text();
  const char *graph = strstr(text, "\nawait graph:\n");
  CHECK(graph != NULL);
  CHECK_HAS(graph, "(T) ping\n");
  CHECK_HAS(graph, "(T) pong\n");
  CHECK_HAS(graph, "(a cycle: it awaits a task that awaits it)");
  cio_task_cancel(cycle_peer[0]);
  (void)!cio_task_await(cycle_peer[0], NULL);
  (void)!cio_task_await(cycle_peer[1], NULL);
  return 0;
}

TEST(dump_shows_a_cycle_of_awaits) {
  CHECK_RUN(test_run_virtual(main_cycle, NULL), 0);
}

/* Debug mode notes where each popped task resumes; a task yielding with
 * nothing else ready is popped while it runs (no switch at all). */
static int lone_yielder(void *arg, void **result) {
  (void)arg, (void)result;
  for (int i = 0; i < 1000; i++)
    TRY(cio_sleep(0));
  spin_ms(120);
  TRY(cio_sleep(0));
  return 0;
}

TEST(debug_mode_handles_a_task_yielding_alone) {
  cio_loop_opts o = {.debug = true, .slow_step_ms = 50, .stall_ms = -1};
  test_stderr_begin();
  int rc = cio_run_ex(lone_yielder, NULL, &o, NULL);
  const char *err = test_stderr_end();
  fprintf(stderr, "%s", err);
  CHECK_EQ(rc, 0);
  CHECK_HAS(err, "Executing task 'main' (Task-");
  CHECK_HAS(err, "it resumed at lone_yielder (test_debug.c:");
}

/* ---- small tasks ------------------------------------------------------ */

/* A parked small task's frames may be copied off the shared stack: the
 * dump does not walk them, says so, and reads no object that lies in
 * them (a sleep's timer), while one elsewhere (a lock) is still named. */
static int main_dump_small(void *arg, void **result) {
  (void)arg, (void)result;
  struct scene s = {0};
  TRY(cio_lock_new(&s.lock));
  DEFER(s.lock);
  TRY(cio_lock_acquire(s.lock));
  cio_task *t[2];
  TRY(cio_create_task(NULL, &t[0], sleeper_body, &s,
                      &(cio_task_opts){.name = "small-sleeper", .small = true}));
  DEFER(t[0]);
  TRY(cio_create_task(NULL, &t[1], locker_body, &s,
                      &(cio_task_opts){.name = "small-locker", .small = true}));
  DEFER(t[1]);
  TRY(cio_sleep(1));
  const char *text = dump_text();
  char sec[4096];
  task_section(text, "small-sleeper", sec, sizeof sec);
  CHECK_HAS(sec, "waiting, age 1.000 s");
  CHECK_HAS(sec, "waits on: sleep (not described: it lies in a parked small "
                 "task's frames)");
  CHECK_HAS(sec, "(stack not walked: a small task's frames are copied off "
                 "the shared stack while it is parked)");
  task_section(text, "small-locker", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: lock acquire: lock 0x");
  CHECK_HAS(sec, "(locked, 1 waiting)");
  CHECK_HAS(sec, "(stack not walked: a small task's frames");
  task_section(text, "main", sec, sizeof sec);
  CHECK_HAS(sec, "main_dump_small (test_debug.c:");
  cio_lock_release(s.lock);
  cio_task_cancel(t[0]);
  for (int i = 0; i < 2; i++)
    (void)!cio_task_await(t[i], NULL);
  return 0;
}

TEST(dump_skips_the_frames_of_parked_small_tasks) {
  CHECK_RUN(test_run_virtual(main_dump_small, NULL), 0);
}

/* Debug mode's slow-step report with small tasks in the round: no walk
 * of a small task's frames (they are not on the shared stack then). */
static int small_yielder(void *arg, void **result) {
  (void)arg, (void)result;
  for (int i = 0; i < 3; i++)
    TRY(cio_sleep(0));
  return 0;
}

static int main_small_steps(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    TRY(cio_create_task(NULL, &t[i], small_yielder, NULL,
                        &(cio_task_opts){.small = true}));
  for (int i = 0; i < 3; i++) {
    TRY(cio_task_await(t[i], NULL));
    cio_task_release(t[i]);
  }
  return 0;
}

TEST(debug_mode_steps_through_small_tasks) {
  cio_loop_opts o = {.debug = true, .slow_step_ms = 50, .stall_ms = -1};
  CHECK_EQ(cio_run_ex(main_small_steps, NULL, &o, NULL), 0);
}
