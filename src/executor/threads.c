/* run_coroutine_threadsafe: a foreign thread starts a task on a loop and
 * waits for it through a thread-safe future (tasks.py's
 * run_coroutine_threadsafe and futures.py's _chain_future).
 *
 *   PENDING -> DONE   the task finished (cf_task_done), or cancel()
 * (1) `refs`, `done`, `status`, `result` are guarded by `lock`; `task` is
 *     touched on the loop thread only.
 * (2) The loop side holds a reference from submission until the task's
 *     done-callback (or a failed start) drops it; each cancel request in
 *     flight holds one too. */
#include <math.h>

#include "executor.h"

struct cio_concurrent_future {
  uv_mutex_t lock;
  uv_cond_t cv;
  int refs;
  bool done;
  int status;
  void *result;
  cio_loop *loop;
  cio_task *task; /* loop thread */
  cio_task_fn fn;
  void *arg;
};

static void cf_unref(cio_concurrent_future *cf) {
  uv_mutex_lock(&cf->lock);
  bool last = --cf->refs == 0;
  uv_mutex_unlock(&cf->lock);
  if (!last)
    return;
  uv_cond_destroy(&cf->cv);
  uv_mutex_destroy(&cf->lock);
  free(cf);
}

static void cf_complete(cio_concurrent_future *cf, int status, void *result) {
  uv_mutex_lock(&cf->lock);
  if (!cf->done) {
    cf->done = true;
    cf->status = status;
    cf->result = status >= 0 ? result : NULL;
    uv_cond_broadcast(&cf->cv);
  }
  uv_mutex_unlock(&cf->lock);
}

static void cf_task_done(cio_future *f, void *arg) {
  cio_concurrent_future *cf = arg;
  void *result;
  int status = cio_future_result(f, &result);
  cf_complete(cf, status, result);
  cio_task_release(cf->task);
  cf->task = NULL;
  cf_unref(cf);
}

/* On the loop thread. */
static void cf_start(void *arg) {
  cio_concurrent_future *cf = arg;
  uv_mutex_lock(&cf->lock);
  bool cancelled = cf->done;
  uv_mutex_unlock(&cf->lock);
  if (cancelled) { /* cancelled before it started: never run it */
    cf_unref(cf);
    return;
  }
  int rc = cio_create_task(cf->loop, &cf->task, cf->fn, cf->arg, NULL);
  if (rc == 0) {
    rc = cio_task_add_done_callback(cf->task, cf_task_done, cf);
    if (rc < 0) {
      cio_task_cancel(cf->task);
      cio_task_release(cf->task);
      cf->task = NULL;
    }
  }
  if (rc < 0) {
    cio__report(cf->loop,
                &(cio_exception_context){.error = rc,
                                         .source = "run_coroutine_threadsafe"},
                "run_coroutine_threadsafe: %s", cio_strerror(rc));
    cf_complete(cf, rc, NULL);
    cf_unref(cf);
  }
}

/* The loop closed before starting the task: the future ends with
 * CIO_ESHUTDOWN (waiters wake) and the loop side's reference goes. */
static void cf_start_dropped(void *arg) {
  cio_concurrent_future *cf = arg;
  cf_complete(cf, CIO_ESHUTDOWN, NULL);
  cf_unref(cf);
}

int cio_run_coroutine_threadsafe(cio_loop *loop, cio_task_fn fn, void *arg,
                                 cio_concurrent_future **out) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (loop == NULL || fn == NULL)
    return CIO_EINVAL;
  cio_concurrent_future *cf = calloc(1, sizeof *cf);
  if (cf == NULL)
    return CIO_ENOMEM;
  if (uv_mutex_init(&cf->lock) != 0)
    goto fail_free;
  if (uv_cond_init(&cf->cv) != 0)
    goto fail_mutex;
  cf->refs = 2; /* the caller's and the loop side's */
  cf->loop = loop;
  cf->fn = fn;
  cf->arg = arg;
  int rc = cio__loop_call_soon_threadsafe_or_drop(loop, cf_start,
                                                  cf_start_dropped, cf);
  if (rc < 0) {
    uv_cond_destroy(&cf->cv);
    uv_mutex_destroy(&cf->lock);
    free(cf);
    return rc;
  }
  *out = cf;
  return 0;

fail_mutex:
  uv_mutex_destroy(&cf->lock);
fail_free:
  free(cf);
  return CIO_ENOMEM;
}

int cio_concurrent_future_wait(cio_concurrent_future *cf, double timeout,
                               void **result) {
  if (result != NULL)
    *result = NULL;
  if (cf == NULL || isnan(timeout))
    return CIO_EINVAL;
  uv_mutex_lock(&cf->lock);
  if (!cf->done && cio__loop_current() == cf->loop) {
    uv_mutex_unlock(&cf->lock);
    return CIO_EDEADLK;
  }
  uint64_t start = uv_hrtime();
  while (!cf->done) {
    if (timeout == CIO_NO_TIMEOUT) {
      uv_cond_wait(&cf->cv, &cf->lock);
      continue;
    }
    double left = timeout - (double)(uv_hrtime() - start) / 1e9;
    if (left <= 0 ||
        uv_cond_timedwait(&cf->cv, &cf->lock, (uint64_t)(left * 1e9)) != 0)
      if (!cf->done) {
        uv_mutex_unlock(&cf->lock);
        return CIO_ETIMEDOUT;
      }
  }
  int status = cf->status;
  if (status >= 0 && result != NULL)
    *result = cf->result;
  uv_mutex_unlock(&cf->lock);
  return status;
}

static void cf_cancel_task(void *arg) {
  cio_concurrent_future *cf = arg;
  if (cf->task != NULL)
    cio_task_cancel(cf->task);
  cf_unref(cf);
}

/* The loop closed first: nothing to cancel, drop the reference. */
static void cf_cancel_dropped(void *arg) {
  cf_unref(arg);
}

int cio_concurrent_future_cancel(cio_concurrent_future *cf) {
  if (cf == NULL)
    return CIO_EINVAL;
  uv_mutex_lock(&cf->lock);
  if (cf->done) {
    uv_mutex_unlock(&cf->lock);
    return 0;
  }
  cf->done = true;
  cf->status = CIO_ECANCELED;
  cf->refs++; /* for cf_cancel_task */
  uv_cond_broadcast(&cf->cv);
  uv_mutex_unlock(&cf->lock);
  if (cio__loop_call_soon_threadsafe_or_drop(cf->loop, cf_cancel_task,
                                             cf_cancel_dropped, cf) < 0)
    cf_unref(cf);
  return 1;
}

bool cio_concurrent_future_is_done(cio_concurrent_future *cf) {
  if (cf == NULL)
    return false;
  uv_mutex_lock(&cf->lock);
  bool done = cf->done;
  uv_mutex_unlock(&cf->lock);
  return done;
}

void cio_concurrent_future_free(cio_concurrent_future *cf) {
  if (cf != NULL)
    cf_unref(cf);
}
