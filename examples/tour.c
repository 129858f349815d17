/* tour: the Python programs of docs/tutorial.md, each run with blocking
 * sleeps and then as tasks, with the time each way and the speed-up.
 *
 * Every program of the tutorial that has a synchronous counterpart is, as
 * far as time goes, a few jobs that each wait a number of times: find_users(3)
 * waits three times one second, fetch_data(2, 3) once three seconds.  The
 * sync run does the waits one after another with a blocking sleep, as
 * time.sleep() does; the async run makes each job a task that waits with
 * cio_sleep(), composed the way the tutorial does it (asyncio.wait,
 * gather, create_task then await, TaskGroup), so the jobs wait at the same
 * time and the whole takes as long as the longest job.  The examples next
 * to this file are the full programs, printing what the tutorials print.
 *
 * The delays are scaled so the tour takes about 12 s: scale 0.2 by
 * default, or the first argument, or $CIO_TOUR_SCALE (1 runs the
 * tutorials' own seconds, about a minute).  Scaling changes every time by
 * the same factor, so the speed-ups stay the same.
 *
 * Output: two header lines (what the tour does, the scale), then a table
 * with one row per program: the step of docs/tutorial.md it comes from, the
 * program, how the async version composes its tasks, the sync and async
 * seconds measured, the speed-up, and the tutorial's own seconds; then a
 * total.  At the default scale (times vary by a few milliseconds; the
 * column headers and spacing are shortened here to fit):
 *
 *   1   find_users(3), (2), (1)       asyncio.wait    1.20 s 0.60 s x2.0
 *   2   find_users_async(1) three ... asyncio.gather  0.60 s 0.20 s x3.0
 *   2   fetch_data: 2 s, 3 s, 1 s     asyncio.gather  1.20 s 0.60 s x2.0
 *   3   worker("A", 1), worker("B"... create_task     0.60 s 0.40 s x1.5
 *   4   async_sleep() twice           create_task     0.80 s 0.40 s x2.0
 *   4   async_sleep() five times      asyncio.gather  2.00 s 0.40 s x5.0
 *   5   say_after(1), say_after(2)    TaskGroup       0.60 s 0.40 s x1.5
 *   5   factorial(2), (3), (4)        asyncio.gather  1.20 s 0.60 s x2.0
 *   total                                             8.20 s 3.60 s x2.3
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "casyncio.h"

enum { MAX_JOBS = 5 };

/* A job waits `steps` times `seconds` (before scaling). */
struct job {
  int steps;
  double seconds;
};

/* How the async version composes its tasks, as the tutorial does. */
enum compose { WAIT, GATHER, TASKS, TASKGROUP };

struct program {
  const char *step; /* which step of docs/tutorial.md */
  const char *name;
  enum compose how;
  int njobs;
  struct job jobs[MAX_JOBS];
};

static const char *const compose_names[] = {
    [WAIT] = "asyncio.wait",
    [GATHER] = "asyncio.gather",
    [TASKS] = "create_task",
    [TASKGROUP] = "TaskGroup",
};

static const struct program programs[] = {
    {"1", "find_users(3), (2), (1)", WAIT, 3, {{3, 1}, {2, 1}, {1, 1}}},
    {"2",
     "find_users_async(1) three times",
     GATHER,
     3,
     {{1, 1}, {1, 1}, {1, 1}}},
    {"2", "fetch_data: 2 s, 3 s, 1 s", GATHER, 3, {{1, 2}, {1, 3}, {1, 1}}},
    {"3", "worker(\"A\", 1), worker(\"B\", 2)", TASKS, 2, {{1, 1}, {1, 2}}},
    {"4", "async_sleep() twice", TASKS, 2, {{1, 2}, {1, 2}}},
    {"4",
     "async_sleep() five times",
     GATHER,
     5,
     {{1, 2}, {1, 2}, {1, 2}, {1, 2}, {1, 2}}},
    {"5", "say_after(1), say_after(2)", TASKGROUP, 2, {{1, 1}, {1, 2}}},
    {"5", "factorial(2), (3), (4)", GATHER, 3, {{1, 1}, {2, 1}, {3, 1}}},
};

enum { NPROGRAMS = sizeof programs / sizeof programs[0] };

/* Seconds on a monotonic clock, outside any loop. */
static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Python's time.sleep(): the whole thread stops, nothing else runs. */
static void blocking_sleep(double seconds) {
  struct timespec left = {.tv_sec = (time_t)seconds};
  left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
  while (nanosleep(&left, &left) == -1 && errno == EINTR)
    continue;
}

/* The tutorial's times: one job after another, and the longest job. */
static void tutorial_times(const struct program *p, double *sync_s,
                           double *async_s) {
  *sync_s = *async_s = 0;
  for (int i = 0; i < p->njobs; i++) {
    double t = p->jobs[i].steps * p->jobs[i].seconds;
    *sync_s += t;
    if (t > *async_s)
      *async_s = t;
  }
}

/* ---- sync: every wait a blocking sleep, one after another ------------ */

static void run_sync(const struct program *p, double scale) {
  for (int i = 0; i < p->njobs; i++)
    for (int s = 0; s < p->jobs[i].steps; s++)
      blocking_sleep(p->jobs[i].seconds * scale);
}

/* ---- async: every job a task ---------------------------------------- */

/* A job scaled, as a task's argument. */
struct scaled_job {
  int steps;
  double seconds;
};

static int job_task(void *arg, void **result) {
  (void)result;
  const struct scaled_job *j = arg;
  for (int s = 0; s < j->steps; s++) {
    int rc = cio_sleep(j->seconds);
    if (rc < 0)
      return rc; /* CIO_ECANCELED: pass it on */
  }
  return 0;
}

struct async_run {
  const struct program *p;
  struct scaled_job jobs[MAX_JOBS];
};

/* Cancel the tasks on an error, then wait for each and drop our
 * reference; returns `rc` or the first task error. */
static int join_tasks(cio_task **tasks, int n, int rc) {
  if (rc < 0)
    for (int i = 0; i < n; i++)
      cio_task_cancel(tasks[i]);
  for (int i = 0; i < n; i++) {
    int task_rc = cio_task_join(tasks[i], NULL);
    if (rc == 0 && task_rc < 0)
      rc = task_rc;
  }
  return rc;
}

/* create_task() for each job, then asyncio.wait() on all of them (WAIT)
 * or await each in turn (TASKS). */
static int run_tasks(struct async_run *run) {
  cio_task *tasks[MAX_JOBS];
  cio_future *futs[MAX_JOBS];
  int n = 0, rc = 0;
  for (; n < run->p->njobs; n++) {
    rc = cio_create_task(NULL, &tasks[n], job_task, &run->jobs[n], NULL);
    if (rc < 0)
      break;
    futs[n] = cio_task_future(tasks[n]);
  }
  if (rc == 0 && run->p->how == WAIT) {
    bool done[MAX_JOBS];
    rc = cio_wait(futs, (size_t)n, CIO_NO_TIMEOUT, CIO_ALL_COMPLETED, done,
                  NULL);
  }
  return join_tasks(tasks, n, rc);
}

static int run_gather(struct async_run *run) {
  cio_call calls[MAX_JOBS];
  for (int i = 0; i < run->p->njobs; i++)
    calls[i] = (cio_call){job_task, &run->jobs[i]};
  return cio_gather_calls(calls, (size_t)run->p->njobs, NULL, NULL, false);
}

static int run_taskgroup(struct async_run *run) {
  cio_taskgroup *tg;
  int rc = cio_taskgroup_enter(&tg);
  if (rc < 0)
    return rc;
  for (int i = 0; i < run->p->njobs && rc == 0; i++)
    rc = cio_taskgroup_create_task(tg, NULL, job_task, &run->jobs[i], NULL);
  rc = cio_taskgroup_exit(tg, rc);
  (void)!cio_taskgroup_free(tg);
  return rc;
}

static int async_main(void *arg, void **result) {
  (void)result;
  struct async_run *run = arg;
  switch (run->p->how) {
  case GATHER:
    return run_gather(run);
  case TASKGROUP:
    return run_taskgroup(run);
  case WAIT:
  case TASKS:
    break;
  }
  return run_tasks(run);
}

static int run_async(const struct program *p, double scale) {
  struct async_run run = {.p = p};
  for (int i = 0; i < p->njobs; i++)
    run.jobs[i] =
        (struct scaled_job){p->jobs[i].steps, p->jobs[i].seconds * scale};
  return cio_run(async_main, &run);
}

/* ---- the walk ---------------------------------------------------------- */

/* The scale from argv[1], else $CIO_TOUR_SCALE, else 0.2; 0 if invalid. */
static double parse_scale(int argc, char **argv) {
  const char *text = argc > 1 ? argv[1] : getenv("CIO_TOUR_SCALE");
  if (text == NULL || *text == '\0')
    return 0.2;
  char *end;
  double scale = strtod(text, &end);
  if (*end != '\0' || !(scale > 0 && scale <= 100))
    return 0;
  return scale;
}

int main(int argc, char **argv) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  double scale = parse_scale(argc, argv);
  if (scale == 0) {
    fprintf(stderr, "usage: tour [scale]  (a number > 0 and <= 100; "
                    "also $CIO_TOUR_SCALE)\n");
    return 2;
  }
  printf("casyncio tour: each tutorial program with blocking sleeps (sync), "
         "then as tasks on one thread (async)\n");
  printf("scale %.2f: delays are %.2f of the tutorials' (CIO_TOUR_SCALE=1 "
         "or `tour 1` for their own seconds)\n\n",
         scale, scale);
  printf("%-4s %-33s %-15s  %-7s  %-7s %-8s %s\n", "step", "program",
         "async with", "sync", "async", "speed-up", "tutorial");
  double sync_total = 0, async_total = 0;
  for (size_t i = 0; i < NPROGRAMS; i++) {
    const struct program *p = &programs[i];
    double start = now_seconds();
    run_sync(p, scale);
    double sync_s = now_seconds() - start;
    start = now_seconds();
    int rc = run_async(p, scale);
    double async_s = now_seconds() - start;
    if (rc < 0) {
      fprintf(stderr, "tour: %s: %s\n", p->name, cio_strerror(rc));
      return 1;
    }
    double want_sync, want_async;
    tutorial_times(p, &want_sync, &want_async);
    printf("%-4s %-33s %-15s %5.2f s  %5.2f s  x%-7.1f %g s vs %g s\n", p->step,
           p->name, compose_names[p->how], sync_s, async_s, sync_s / async_s,
           want_sync, want_async);
    sync_total += sync_s;
    async_total += async_s;
  }
  printf("\n%-54s %5.2f s  %5.2f s  x%.1f\n", "total", sync_total, async_total,
         sync_total / async_total);
  return 0;
}
