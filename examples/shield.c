/* shield: a cancellation of the caller does not reach a shielded task.
 *
 * Mirrors the asyncio.shield passage of step 5 of docs/tutorial.md:
 *
 *   task = asyncio.create_task(something())
 *   res = await asyncio.shield(task)
 *   res = await something()
 *
 * "Both give the same result, but if the caller is cancelled, the task
 * wrapped in shield is not, while something() awaited directly may be
 * cancelled with it."  The Python passage leaves something() unspecified
 * and prints nothing; here it waits one second and returns "something done",
 * and the program prints what each form gives, then shows both
 * cancellations: a caller cancelled half way through shield(task) stops
 * waiting at once while the task runs on to its end; a caller cancelled
 * half way through something() cancels something() with it.
 *
 * Expected output:
 *
 *   # await shield(task), then await something() (2 s)
 *   await shield(task): something done
 *   await something(): something done
 *   # a caller awaiting shield(task) cancelled after 0.5 s (1 s)
 *   caller: cancelled
 *   task: something done
 *   # a caller awaiting something() cancelled after 0.5 s (0.5 s)
 *   something(): cancelled
 *   caller: cancelled
 */
#include <stdio.h>

#include "casyncio.h"

/* Wait a second and return "something done". */
static int something(void *arg, void **result) {
  (void)arg;
  int rc = cio_sleep(1.0);
  if (rc == CIO_ECANCELED)
    printf("something(): cancelled\n");
  if (rc < 0)
    return rc; /* pass the cancellation on */
  *result = "something done";
  return 0;
}

static int main_same_result(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *task;
  int rc = cio_create_task(NULL, &task, something, NULL, NULL);
  if (rc < 0)
    return rc;
  void *res;
  rc = cio_shield(cio_task_future(task), &res); /* await shield(task) */
  if (rc == 0)
    printf("await shield(task): %s\n", (const char *)res);
  else /* we were cancelled: shield left the task running; stop it */
    cio_task_cancel(task);
  (void)!cio_task_join(task, NULL);
  if (rc < 0)
    return rc;
  rc = something(NULL, &res); /* await something() */
  if (rc < 0)
    return rc;
  printf("await something(): %s\n", (const char *)res);
  return 0;
}

/* A caller of shield(task): returns CIO_ECANCELED as soon as it is
 * cancelled, without waiting for the task. */
static int shielded_caller(void *arg, void **result) {
  int rc = cio_shield(cio_task_future(arg), result);
  if (rc == CIO_ECANCELED)
    printf("caller: cancelled\n");
  return rc;
}

/* A caller of something() itself: its cancellation is something()'s. */
static int direct_caller(void *arg, void **result) {
  int rc = something(arg, result);
  if (rc == CIO_ECANCELED)
    printf("caller: cancelled\n");
  return rc;
}

/* Start `fn(arg)` as a task, cancel it after 0.5 s and wait for it to
 * end; it must end cancelled. */
static int cancel_caller_after(cio_task_fn fn, void *arg) {
  cio_task *caller;
  int rc = cio_create_task(NULL, &caller, fn, arg, NULL);
  if (rc < 0)
    return rc;
  rc = cio_sleep(0.5);
  cio_task_cancel(caller);
  int caller_rc = cio_task_join(caller, NULL);
  if (rc == 0 && caller_rc != CIO_ECANCELED)
    rc = caller_rc < 0 ? caller_rc : CIO_EINVAL; /* not what we expect */
  return rc;
}

static int main_cancel_shielded(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *task;
  int rc = cio_create_task(NULL, &task, something, NULL, NULL);
  if (rc < 0)
    return rc;
  rc = cancel_caller_after(shielded_caller, task);
  if (rc < 0) /* keep nothing running behind us */
    cio_task_cancel(task);
  void *res;
  int task_rc = cio_task_join(task, &res); /* it ran on to its end */
  if (rc < 0)
    return rc;
  if (task_rc < 0)
    return task_rc;
  printf("task: %s\n", (const char *)res);
  return 0;
}

static int main_cancel_direct(void *arg, void **result) {
  (void)arg;
  (void)result;
  return cancel_caller_after(direct_caller, NULL);
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  static const struct {
    const char *title;
    cio_task_fn main_task;
  } parts[] = {
      {"await shield(task), then await something() (2 s)", main_same_result},
      {"a caller awaiting shield(task) cancelled after 0.5 s (1 s)",
       main_cancel_shielded},
      {"a caller awaiting something() cancelled after 0.5 s (0.5 s)",
       main_cancel_direct},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("# %s\n", parts[i].title);
    /* Each part is its own program: a fresh loop, as asyncio.run(). */
    int rc = cio_run(parts[i].main_task, NULL);
    if (rc < 0) {
      fprintf(stderr, "shield: %s\n", cio_strerror(rc));
      return 1;
    }
  }
  return 0;
}
