/* Seeing inside: task dumps (states, waits, stacks, the await tree),
 * debug mode (slow steps, objects left open with their creation sites,
 * errors nobody read), the stall watchdog, the dump signal and the
 * casyncio-ps socket, and cio_run's report of a task that ignores its
 * cancellation.  Each report's content is checked: names, states, wait
 * targets and a frame in the right function (the tests are built with
 * frame pointers). */
#include <signal.h>
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
  cio_task *t[9];
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
  for (int i = 0; i < 9; i++)
    DEFER(t[i]);
  TRY(cio_sleep(1));
  const char *text = dump_text();
  char sec[4096];
  CHECK_HAS(text, "casyncio: dump of loop ");
  CHECK_HAS(text, ": 12 tasks");

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
  CHECK_HAS(sec, "#0 cio_await");

  task_section(text, "awaiter", sec, sizeof sec);
  CHECK_HAS(sec, "waits on: await: task 'sleeper'");
  CHECK_HAS(sec, "#0 cio_task_await");
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
  for (int i = 0; i < 9; i++)
    cio_task_cancel(t[i]);
  for (int i = 0; i < 9; i++)
    (void)!cio_task_await(t[i], NULL);
  close(s.pipe[0]);
  close(s.pipe[1]);
  return 0;
}

TEST(dump_names_states_waits_and_frames) {
  CHECK_RUN(test_run_virtual(main_dump, NULL), 0);
}
