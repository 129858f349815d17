/* taskgroup: asyncio.TaskGroup waits for every task created in it.
 *
 * Mirrors the two Python TaskGroup programs of step 5 of
 * docs/tutorial.md.  `async with asyncio.TaskGroup() as tg:` becomes
 * cio_taskgroup_enter(), tg.create_task() cio_taskgroup_create_task(), and
 * leaving the block cio_taskgroup_exit(), which waits for all the
 * children ("the await is implicit when the context manager exits").
 *
 * First say_after(1, 'hello') and say_after(2, 'world') in a group: both wait
 * at the same time, 2 s in all.  The say_after of the Python program lost its
 * print(what) line in copying; it is the one from Python's documentation (and
 * examples/create_task.c), which prints `what`.  Then the group's tasks'
 * results are read after the block.  The Python program leaves some_coro(...)
 * and another_coro(...) unspecified; here they wait 1 s and 2 s and return 1
 * and 2.
 *
 * Expected output (with the wall-clock times):
 *
 *   # say_after in a TaskGroup (2 s)
 *   started at 17:14:32
 *   hello
 *   world
 *   finished at 17:14:34
 *   # task results after the group (2 s)
 *   Both tasks have completed now: 1, 2
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

/* ---- say_after in a TaskGroup --------------------------------------- */

struct say {
  double delay; /* seconds */
  const char *what;
};

static int say_after(void *arg, void **result) {
  (void)result;
  const struct say *s = arg;
  int rc = cio_sleep(s->delay);
  if (rc < 0)
    return rc; /* CIO_ECANCELED: pass it on */
  printf("%s\n", s->what);
  return 0;
}

/* "started at" comes first: the children start only once this task
 * suspends, in cio_taskgroup_exit().  If a create_task fails, the body
 * ends with that error; exit then cancels the child already started,
 * waits for it and reports CIO_ECHILD. */
static int main_say_taskgroup(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct say hello = {1.0, "hello"}, world = {2.0, "world"};
  cio_taskgroup *tg;
  int rc = cio_taskgroup_enter(&tg);
  if (rc < 0)
    return rc;
  rc = cio_taskgroup_create_task(tg, NULL, say_after, &hello, NULL);
  if (rc == 0)
    rc = cio_taskgroup_create_task(tg, NULL, say_after, &world, NULL);
  if (rc == 0)
    print_time("started at");
  /* The await is implicit when the context manager exits. */
  rc = cio_taskgroup_exit(tg, rc);
  (void)!cio_taskgroup_free(tg);
  if (rc < 0)
    return rc;
  print_time("finished at");
  return 0;
}

/* ---- the tasks' results after the group ----------------------------- */

/* Wait `arg` seconds and return that number. */
static int wait_and_return(void *arg, void **result) {
  int rc = cio_sleep((double)(intptr_t)arg);
  if (rc < 0)
    return rc;
  *result = arg;
  return 0;
}

/* The group's tasks outlive it when we keep references: task1.result()
 * is cio_task_result() on a done task. */
static int main_results(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_taskgroup *tg;
  int rc = cio_taskgroup_enter(&tg);
  if (rc < 0)
    return rc;
  cio_task *task1 = NULL, *task2 = NULL;
  rc = cio_taskgroup_create_task(tg, &task1, wait_and_return,
                                 (void *)(intptr_t)1, NULL); /* some_coro */
  if (rc == 0)
    rc = cio_taskgroup_create_task(tg, &task2, wait_and_return,
                                   (void *)(intptr_t)2, NULL); /* another */
  rc = cio_taskgroup_exit(tg, rc);
  (void)!cio_taskgroup_free(tg);
  void *r1 = NULL, *r2 = NULL;
  if (rc == 0)
    rc = cio_task_result(task1, &r1);
  if (rc == 0)
    rc = cio_task_result(task2, &r2);
  cio_task_release(task1); /* NULL-safe: a task never created */
  cio_task_release(task2);
  if (rc < 0)
    return rc;
  printf("Both tasks have completed now: %d, %d\n", (int)(intptr_t)r1,
         (int)(intptr_t)r2);
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  static const struct {
    const char *title;
    cio_task_fn main_task;
  } parts[] = {
      {"say_after in a TaskGroup (2 s)", main_say_taskgroup},
      {"task results after the group (2 s)", main_results},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("# %s\n", parts[i].title);
    /* Each part is its own program: a fresh loop, as asyncio.run(). */
    int rc = cio_run(parts[i].main_task, NULL);
    if (rc < 0) {
      fprintf(stderr, "taskgroup: %s\n", cio_strerror(rc));
      return 1;
    }
  }
  return 0;
}
