/* gather_as_completed: results in input order versus in finishing order.
 *
 * Mirrors the Python program that runs five random-length jobs with
 * gather, then five more with as_completed (step 3 of docs/tutorial.md).
 * job(i) sleeps a random 0-2 s and returns
 * (i, delay).  gather_example() runs five jobs at once and prints their
 * results in input order, once the slowest is done; as_completed_example()
 * runs five more and prints each result as soon as it finishes, shortest
 * delay first.
 *
 * A job's result is a pointer to its own (i, delay) record.  The records
 * are printed the way Python prints a list of tuples, floats included
 * (repr: the shortest digits that read back as the same double), so the
 * lines look like Python's.  The delays are random, as in the Python program:
 * the test checks the structure and the timing, not the numbers.
 *
 * Expected output (the delays vary from run to run):
 *
 *   gather order: [(0, 1.3049817410929478), (1, 0.4513397287466063),
 *     (2, 1.8821430683231364), (3, 0.08447081203236525),
 *     (4, 1.1213658430147393)]          <- one line, after the longest delay
 *   completed: (1, 0.17466128418549183) <- each after its own delay
 *   completed: (4, 0.5536434578411418)
 *   completed: (0, 0.9011263651154026)
 *   completed: (3, 1.2733390010669087)
 *   completed: (2, 1.6102452939622103)
 */
#define _XOPEN_SOURCE 700 /* drand48 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "casyncio.h"

enum { NJOBS = 5 };

struct job {
  int i;
  double delay;
};

/* Write Python's repr() of the finite float `x` into `buf`: the fewest
 * significant digits that read back as `x`, positional for exponents
 * -4 .. 15 (with at least one digit after the point), otherwise as
 * d.ddde-XX. */
static void float_repr(double x, char *buf, size_t size) {
  char sci[32];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(sci, sizeof sci, "%.*e", prec - 1, x);
    if (strtod(sci, NULL) == x)
      break;
  }
  /* sci is [-]d[.ddd]e[+-]XX: take its digits and exponent apart. */
  const char *p = sci;
  char out[48];
  size_t k = 0;
  if (*p == '-')
    out[k++] = *p++;
  char digits[24] = "";
  size_t n = 0;
  for (; *p != 'e'; p++)
    if (*p != '.')
      digits[n++] = *p;
  int exp = atoi(p + 1);
  if (exp < -4 || exp >= 16) {
    out[k++] = digits[0];
    if (n > 1)
      out[k++] = '.';
    for (size_t d = 1; d < n; d++)
      out[k++] = digits[d];
    k += (size_t)sprintf(out + k, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
  } else if (exp < 0) {
    out[k++] = '0';
    out[k++] = '.';
    for (int z = 0; z < -exp - 1; z++)
      out[k++] = '0';
    for (size_t d = 0; d < n; d++)
      out[k++] = digits[d];
  } else {
    for (size_t d = 0; d <= (size_t)exp; d++)
      out[k++] = d < n ? digits[d] : '0';
    out[k++] = '.';
    if ((size_t)exp + 1 >= n)
      out[k++] = '0';
    for (size_t d = (size_t)exp + 1; d < n; d++)
      out[k++] = digits[d];
  }
  out[k] = '\0';
  snprintf(buf, size, "%s", out);
}

/* Print a job's result as Python prints the tuple (i, delay). */
static void print_tuple(const struct job *j) {
  char delay[32];
  float_repr(j->delay, delay, sizeof delay);
  printf("(%d, %s)", j->i, delay);
}

/* delay = random.random() * 2; await asyncio.sleep(delay); return (i, delay) */
static int job(void *arg, void **result) {
  struct job *j = arg;
  j->delay = drand48() * 2;
  int rc = cio_sleep(j->delay);
  if (rc < 0)
    return rc; /* CIO_ECANCELED: pass it on */
  *result = j;
  return 0;
}

/* gather waits for all tasks and returns results in the same order as
 * input. */
static int gather_example(void) {
  struct job jobs[NJOBS];
  cio_call calls[NJOBS];
  for (int i = 0; i < NJOBS; i++) {
    jobs[i] = (struct job){.i = i};
    calls[i] = (cio_call){job, &jobs[i]};
  }
  void *results[NJOBS];
  int rc = cio_gather_calls(calls, NJOBS, results, NULL, false);
  if (rc < 0)
    return rc;
  printf("gather order: [");
  for (int i = 0; i < NJOBS; i++) {
    printf(i > 0 ? ", " : "");
    print_tuple(results[i]);
  }
  printf("]\n");
  return 0;
}

/* Cancel and wait for the first `n` of `tasks`, dropping our references:
 * the clean-up path when something fails half way. */
static void cancel_all(cio_task **tasks, int n) {
  for (int i = 0; i < n; i++)
    cio_task_cancel(tasks[i]);
  for (int i = 0; i < n; i++)
    (void)!cio_task_join(tasks[i], NULL);
}

/* as_completed yields results as they finish (useful to process early
 * results). */
static int as_completed_example(void) {
  struct job jobs[NJOBS];
  cio_task *tasks[NJOBS];
  cio_future *futs[NJOBS];
  for (int i = 0; i < NJOBS; i++) {
    jobs[i] = (struct job){.i = i};
    int rc = cio_create_task(NULL, &tasks[i], job, &jobs[i], NULL);
    if (rc < 0) {
      cancel_all(tasks, i);
      return rc;
    }
    futs[i] = cio_task_future(tasks[i]);
  }
  cio_as_completed *ac;
  int rc = cio_as_completed_new(&ac, futs, NJOBS, CIO_NO_TIMEOUT);
  if (rc < 0) {
    cancel_all(tasks, NJOBS);
    return rc;
  }
  cio_future *next;
  while ((rc = cio_as_completed_next(ac, &next)) == 1) {
    void *res;
    rc = cio_await(next, &res); /* res = await coro */
    if (rc < 0)
      break;
    printf("completed: ");
    print_tuple(res);
    printf("\n");
  }
  cio_as_completed_free(ac);
  cancel_all(tasks, NJOBS); /* all done unless we stopped on an error */
  return rc;
}

static int main_task(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = gather_example();
  if (rc == 0)
    rc = as_completed_example();
  return rc;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* Python seeds random from the OS at start-up: a new draw every run. */
  srand48((long)time(NULL) ^ (long)getpid());
  int rc = cio_run(main_task, NULL);
  if (rc < 0) {
    fprintf(stderr, "gather_as_completed: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
