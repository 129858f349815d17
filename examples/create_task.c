/* create_task: what a task does while its creator waits, and awaiting
 * a function directly versus running it as a task.
 *
 * Mirrors the Python programs of step 5 of docs/tutorial.md in which
 * main() creates a task and prints while it runs, say_after() is awaited
 * twice in a row and then run as two tasks, and nested() returns 42.
 * In casyncio every task has its own stack, so Python's `await f()` on a
 * coroutine is a plain call of f() from a task: it runs to its end,
 * suspending the calling task whenever f waits.  cio_create_task() is
 * asyncio.create_task(): f starts on its own once the creator suspends,
 * and cio_task_await()/cio_task_join() is `await task`.
 *
 * Expected output (with the wall-clock times of the say_after parts):
 *
 *   # main and other_function (2 s)
 *   A
 *   1
 *   B
 *   2
 *   # await say_after one after another (3 s)
 *   started at 17:13:52
 *   hello
 *   world
 *   finished at 17:13:55
 *   # say_after as two tasks (2 s)
 *   started at 17:14:32
 *   hello
 *   world
 *   finished at 17:14:34
 *   # nested(): awaited, then as a task
 *   42
 *   42
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "casyncio.h"

/* Print `what` and the wall-clock time, as f"{what} {strftime('%X')}". */
static void print_time(const char *what) {
  char hms[16] = "??:??:??";
  time_t now = time(NULL);
  struct tm tm;
  if (localtime_r(&now, &tm) != NULL)
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
  printf("%s %s\n", what, hms);
}

/* ---- main creates a task and sleeps: the task runs meanwhile -------- */

static int other_function(void *arg, void **result) {
  (void)arg;
  (void)result;
  printf("1\n");
  int rc = cio_sleep(2.0);
  if (rc < 0)
    return rc; /* CIO_ECANCELED: pass it on */
  printf("2\n");
  return 0;
}

/* A is printed first: the new task only starts once main suspends in
 * cio_sleep(1), and prints 1.  Main wakes after one second (B), then
 * waits for the task, which prints 2 at the two-second mark. */
static int main_other_function(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *task;
  int rc = cio_create_task(NULL, &task, other_function, NULL, NULL);
  if (rc < 0)
    return rc;
  printf("A\n");
  rc = cio_sleep(1.0);
  if (rc == 0) {
    printf("B\n");
    return cio_task_join(task, NULL);
  }
  cio_task_cancel(task);
  (void)!cio_task_join(task, NULL); /* wait for it to end */
  return rc;
}

/* ---- say_after: awaited in turn, or as tasks ------------------------ */

struct say {
  double delay; /* seconds */
  const char *what;
};

static int say_after(void *arg, void **result) {
  (void)result;
  const struct say *s = arg;
  int rc = cio_sleep(s->delay);
  if (rc < 0)
    return rc;
  printf("%s\n", s->what);
  return 0;
}

/* `await say_after(1, 'hello')` then `await say_after(2, 'world')`:
 * three seconds in all. */
static int main_say_sequential(void *arg, void **result) {
  (void)arg;
  (void)result;
  print_time("started at");
  int rc = say_after(&(struct say){1.0, "hello"}, NULL);
  if (rc < 0)
    return rc;
  rc = say_after(&(struct say){2.0, "world"}, NULL);
  if (rc < 0)
    return rc;
  print_time("finished at");
  return 0;
}

/* The same two calls as tasks: they wait together, two seconds in all.
 * The arguments live on this task's stack, which outlives both tasks
 * because it joins them before returning. */
static int main_say_tasks(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct say hello = {1.0, "hello"}, world = {2.0, "world"};
  cio_task *task1, *task2;
  int rc = cio_create_task(NULL, &task1, say_after, &hello, NULL);
  if (rc < 0)
    return rc;
  rc = cio_create_task(NULL, &task2, say_after, &world, NULL);
  if (rc < 0) {
    cio_task_cancel(task1);
    (void)!cio_task_join(task1, NULL); /* wait for it to end */
    return rc;
  }
  print_time("started at");
  /* Wait until both tasks are completed (about two seconds). */
  rc = cio_task_join(task1, NULL);
  if (rc < 0) {
    cio_task_cancel(task2);
    (void)!cio_task_join(task2, NULL); /* wait for it to end */
    return rc;
  }
  rc = cio_task_join(task2, NULL);
  if (rc < 0)
    return rc;
  print_time("finished at");
  return 0;
}

/* ---- a result: returned through *result ---------------------------- */

static int nested(void *arg, void **result) {
  (void)arg;
  *result = (void *)(intptr_t)42;
  return 0;
}

static int main_nested(void *arg, void **result) {
  (void)arg;
  (void)result;
  /* print(await nested()): a direct call runs it to its end. */
  void *value = NULL;
  int rc = nested(NULL, &value);
  if (rc < 0)
    return rc;
  printf("%d\n", (int)(intptr_t)value);

  /* task = create_task(nested()); print(await task) */
  cio_task *task;
  rc = cio_create_task(NULL, &task, nested, NULL, NULL);
  if (rc < 0)
    return rc;
  rc = cio_task_join(task, &value);
  if (rc < 0)
    return rc;
  printf("%d\n", (int)(intptr_t)value);
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  static const struct {
    const char *title;
    cio_task_fn main_task;
  } parts[] = {
      {"main and other_function (2 s)", main_other_function},
      {"await say_after one after another (3 s)", main_say_sequential},
      {"say_after as two tasks (2 s)", main_say_tasks},
      {"nested(): awaited, then as a task", main_nested},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("# %s\n", parts[i].title);
    /* Each part is its own program: a fresh loop, as asyncio.run(). */
    int rc = cio_run(parts[i].main_task, NULL);
    if (rc < 0) {
      fprintf(stderr, "create_task: %s\n", cio_strerror(rc));
      return 1;
    }
  }
  return 0;
}
