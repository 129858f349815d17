/* dump_tasks: a small download pipeline that prints what every task is
 * doing, the way `python -m asyncio pstree PID` shows an asyncio program.
 *
 * A producer queues eight pages; three workers take them from the queue
 * and "download" each (a sleep) while holding one of two slots of a
 * semaphore, so one worker always waits for a slot; the main task awaits
 * the crawl, which gathers the workers.  A quarter of a second in, a
 * monitor task calls cio_loop_dump(): every task with its state, age,
 * what it waits on (which queue, semaphore, sleep or task) and its stack,
 * then the await graph as a tree.
 *
 *   dump_tasks            dump once, at 0.25 s, and finish (about 1 s)
 *   dump_tasks --serve    keep running for 60 s and answer casyncio-ps:
 *                         in another terminal, `casyncio-ps PID` (the
 *                         program prints its PID), or kill -USR1 PID for
 *                         a dump on its stderr
 *
 * Output (addresses, times and line numbers vary):
 *
 *   casyncio: dump of loop 0x55d1c0a8e2a0 (pid 4242, ...): 6 tasks
 *
 *   Task 'main' (Task-1): waiting, age 0.250 s
 *       waits on: await: task 'crawl'
 *       #0 cio_task_await (task.c:368)
 *       #1 main_task (dump_tasks.c:117)
 *   ...
 *   await graph:
 *   ├── (T) main
 *   │   └──  main_task dump_tasks.c:117
 *   │       └──  cio_task_await task.c:368
 *   │           └── (T) crawl
 *   ...
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "casyncio.h"

#define PAGES 8
#define WORKERS 3

static cio_queue *pages;
static cio_semaphore *slots;
static double serve_seconds; /* --serve: how long to keep running */

static int producer(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = 0;
  for (intptr_t i = 1; i <= PAGES && rc == 0; i++) {
    rc = cio_queue_put(pages, (void *)i);
    if (rc == 0)
      rc = cio_sleep(0.05); /* pages trickle in */
  }
  /* No more pages: workers stop once the queue is empty. */
  (void)!cio_queue_shutdown(pages, false);
  return rc;
}

/* "Download" a page: hold a slot for a while. */
static int download(intptr_t page) {
  int rc = cio_semaphore_acquire(slots);
  if (rc < 0)
    return rc;
  rc = cio_sleep(0.3 + serve_seconds);
  cio_semaphore_release(slots);
  if (rc == 0)
    printf("page %d downloaded\n", (int)page);
  return rc;
}

static int worker(void *arg, void **result) {
  (void)arg, (void)result;
  for (;;) {
    void *item;
    int rc = cio_queue_get(pages, &item);
    if (rc < 0)
      return rc == CIO_ESHUTDOWN ? 0 : rc;
    rc = download((intptr_t)item);
    cio_queue_task_done(pages);
    if (rc < 0)
      return rc;
  }
}

static int crawl(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t[WORKERS + 1] = {0};
  int rc = cio_create_task(NULL, &t[0], producer, NULL,
                           &(cio_task_opts){.name = "producer"});
  for (int i = 1; i <= WORKERS && rc == 0; i++) {
    char name[16];
    snprintf(name, sizeof name, "worker-%d", i);
    rc = cio_create_task(NULL, &t[i], worker, NULL,
                         &(cio_task_opts){.name = name});
  }
  cio_future *futs[WORKERS + 1];
  for (int i = 0; i <= WORKERS && rc == 0; i++)
    futs[i] = cio_task_future(t[i]);
  if (rc == 0)
    rc = cio_gather(futs, WORKERS + 1, NULL, NULL, false);
  for (int i = 0; i <= WORKERS; i++)
    cio_task_release(t[i]);
  return rc;
}

static int monitor(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(0.25);
  if (rc == 0 && serve_seconds == 0)
    rc = cio_loop_dump(NULL, stdout);
  return rc;
}

static int main_task(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_queue_new(&pages, 0);
  if (rc < 0)
    return rc;
  rc = cio_semaphore_new(&slots, 2);
  if (rc < 0) {
    cio_queue_free(pages);
    return rc;
  }
  cio_task *c = NULL;
  rc = cio_create_task(NULL, NULL, monitor, NULL,
                       &(cio_task_opts){.name = "monitor"});
  if (rc == 0)
    rc = cio_create_task(NULL, &c, crawl, NULL,
                         &(cio_task_opts){.name = "crawl"});
  if (rc == 0)
    rc = cio_task_await(c, NULL);
  cio_task_release(c);
  cio_semaphore_free(slots);
  cio_queue_free(pages);
  return rc;
}

int main(int argc, char **argv) {
  cio_loop_opts opts = {0};
  if (argc > 1 && strcmp(argv[1], "--serve") == 0) {
    serve_seconds = 60;
    opts.inspect = true;        /* casyncio-ps PID */
    opts.dump_signal = SIGUSR1; /* kill -USR1 PID */
    printf("pid %d: try casyncio-ps %d\n", (int)getpid(), (int)getpid());
    fflush(stdout);
  }
  int rc = cio_run_ex(main_task, NULL, &opts, NULL);
  if (rc < 0)
    fprintf(stderr, "dump_tasks: %s\n", cio_strerror(rc));
  return rc < 0;
}
