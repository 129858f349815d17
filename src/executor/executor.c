/* Executors: run_in_executor / to_thread, shutdown, the default executor,
 * and the per-loop hub that takes finished jobs back (see executor.h for
 * the job's states and invariants).
 *
 * asyncio's run_in_executor wraps a concurrent future in an asyncio one
 * (futures.wrap_future / _chain_future); here the job completes a
 * cio_future on the loop thread.  Cancelling that future cancels the job
 * only if no worker has started it (concurrent.futures.Future.cancel); a
 * job already running goes on, and its late outcome, which nobody will
 * read, goes to the caller's dispose function.
 */
#include <unistd.h>

#include "executor.h"

static void executor_unref(cio_executor *ex);
static void fjob_cache_drain(cio_loop *loop, struct cio__hub *h);

/* ---- the hub: what the loop expects back --------------------------------- */

/* A job is back on its loop thread (run or dropped: at close the loop
 * drops what is still queued, and the outcome is disposed of by `done`
 * all the same). */
/* The loop is kept alive (cio__loop_external_ref) while its hub has any
 * job out: one reference for them all. */
static void hub_forget(struct cio__hub *h, struct cio__job *j) {
  cio__list_remove(&j->lnode);
  if (cio__list_empty(&h->jobs))
    cio__loop_external_unref(h->loop);
}

static void job_arrived(struct cio__remote *r) {
  struct cio__job *j = cio__container_of(r, struct cio__job, remote);
  cio_executor *ex = j->ex;
  CIO_ASSERT(cio__job_check(j));
  hub_forget(j->hub, j);
  j->done(j);
  executor_unref(ex);
}

struct cio__hub *cio__hub_get(cio_loop *loop) {
  if (loop->exec != NULL)
    return loop->exec;
  struct cio__hub *h = cio__calloc(loop, 1, sizeof *h);
  if (h == NULL)
    return NULL;
  h->loop = loop;
  atomic_init(&h->outstanding, 0);
  cio__list_init(&h->jobs);
  loop->exec = h;
  return h;
}

/* Before `j` is handed to a worker. */
static void hub_attach(struct cio__hub *h, struct cio__job *j) {
  atomic_fetch_add_explicit(&j->ex->refs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->outstanding, 1, memory_order_relaxed);
  if (cio__list_empty(&h->jobs))
    cio__loop_external_ref(h->loop);
  cio__list_push_back(&h->jobs, &j->lnode);
  cio__loop_expect_soon(h->loop);
}

/* `j` was not handed over after all. */
static void hub_detach(struct cio__hub *h, struct cio__job *j) {
  atomic_fetch_sub_explicit(&j->ex->refs, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&h->outstanding, 1, memory_order_relaxed);
  hub_forget(h, j);
}

static void job_init(struct cio__job *j, struct cio__hub *h,
                     cio_executor *ex) {
  j->remote = (struct cio__remote){.run = job_arrived, .drop = job_arrived};
  j->hub = h;
  j->ex = ex;
  j->state = CIO__JOB_QUEUED;
  cio__list_init(&j->qnode);
  cio__list_init(&j->lnode);
}

void cio__job_deliver(struct cio__job *j) {
  struct cio__hub *h = j->hub;
  cio__loop_send_owned(h->loop, &j->remote);
  /* The last touch: once it reaches zero the loop may close and free
   * the hub. */
  atomic_fetch_sub_explicit(&h->outstanding, 1, memory_order_release);
}

int cio__job_submit(cio_executor *ex, cio_loop *loop, struct cio__job *j) {
  struct cio__hub *h = cio__hub_get(loop);
  if (h == NULL)
    return CIO_ENOMEM;
  job_init(j, h, ex);
  CIO_ASSERT(cio__job_check(j));
  /* Counted before the push: a worker may deliver it at once. */
  hub_attach(h, j);
  int rc = cio__workers_submit(ex, j);
  if (rc < 0)
    hub_detach(h, j);
  return rc;
}

bool cio__job_try_cancel(struct cio__job *j) {
  cio_executor *ex = j->ex;
  uv_mutex_lock(&ex->lock);
  cio__workers_take_incoming(ex); /* every queued job in `queue` */
  bool queued = j->state == CIO__JOB_QUEUED;
  if (queued) {
    cio__list_remove(&j->qnode);
    j->state = CIO__JOB_CANCELLED;
  }
  uv_mutex_unlock(&ex->lock);
  if (!queued)
    return false;
  atomic_fetch_sub_explicit(&j->hub->outstanding, 1, memory_order_relaxed);
  j->status = CIO_ECANCELED;
  j->result = NULL;
  job_arrived(&j->remote);
  return true;
}

/* ---- executors: creation, shutdown, free ----------------------------- */

int cio__executor_alloc(cio_executor **out, size_t max_workers) {
  cio_executor *ex = calloc(1, sizeof *ex);
  if (ex == NULL)
    return CIO_ENOMEM;
  ex->workers = calloc(max_workers, sizeof *ex->workers);
  if (ex->workers == NULL)
    goto fail_free;
  if (uv_mutex_init(&ex->lock) != 0)
    goto fail_workers;
  if (uv_cond_init(&ex->work_cv) != 0)
    goto fail_mutex;
  if (uv_cond_init(&ex->exit_cv) != 0)
    goto fail_cond;
  ex->max_workers = max_workers;
  ex->deliver = cio__job_deliver;
  atomic_init(&ex->refs, 1);
  cio__list_init(&ex->queue);
  cio__list_init(&ex->exit_waiters);
  /* Debug mode lists executors still alive when the loop of this thread
   * closes.  Not described: one freed on another thread is only
   * forgotten by that thread's loop, so a listed one may be gone. */
  cio_loop *loop = cio__loop_current();
  if (loop != NULL)
    cio__debug_track(loop, "executor", ex, NULL);
  *out = ex;
  return 0;

fail_cond:
  uv_cond_destroy(&ex->work_cv);
fail_mutex:
  uv_mutex_destroy(&ex->lock);
fail_workers:
  free(ex->workers);
fail_free:
  free(ex);
  return CIO_ENOMEM;
}

/* Stop taking jobs, optionally take the queued ones back (they complete
 * cancelled), and wake idle workers so they exit. */
static void begin_shutdown(cio_executor *ex, bool cancel_futures) {
  struct cio__list cancelled;
  cio__list_init(&cancelled);
  cio__workers_shutdown_lock(ex);
  cio__workers_take_incoming(ex);
  if (cancel_futures)
    cio__list_splice_back(&cancelled, &ex->queue);
  cio__list_foreach(it, &cancelled) {
    cio__container_of(it, struct cio__job, qnode)->state = CIO__JOB_CANCELLED;
  }
  uv_cond_broadcast(&ex->work_cv);
  uv_mutex_unlock(&ex->lock);
  struct cio__list *n;
  while ((n = cio__list_pop_front(&cancelled)) != NULL) {
    struct cio__job *j = cio__container_of(n, struct cio__job, qnode);
    j->status = CIO_ECANCELED;
    j->result = NULL;
    cio__job_deliver(j); /* it may belong to another loop */
  }
}

static void wait_blocking(cio_executor *ex) {
  uv_mutex_lock(&ex->lock);
  while (ex->exited < atomic_load(&ex->nworkers))
    uv_cond_wait(&ex->exit_cv, &ex->lock);
  uv_mutex_unlock(&ex->lock);
  cio__workers_join(ex);
}

/* A task waiting in cio_executor_shutdown(): a job without work that the
 * last exiting worker hands back.  The task's wait record is in `waiter`
 * until then; a cancelled task leaves it, and the job frees itself. */
static void executor_describe(cio_loop *loop, const void *obj,
                              struct cio__text *out) {
  (void)loop;
  cio__text_printf(out, "executor %p", obj);
}

static const struct cio__wait_kind shutdown_kind = {
    .what = "executor shutdown", .describe = executor_describe};

struct exit_wait {
  struct cio__job job;
  struct cio__list waiter;
};

static void exit_wait_done(struct cio__job *j) {
  struct exit_wait *w = cio__container_of(j, struct exit_wait, job);
  cio_loop *loop = j->hub->loop;
  cio__wait_wake_first(&w->waiter, 0);
  cio__free(loop, w);
}

static int wait_in_task(cio_executor *ex, cio_task *self) {
  cio_loop *loop = self->fut.loop;
  struct cio__hub *h = cio__hub_get(loop);
  struct exit_wait *w = h ? cio__calloc(loop, 1, sizeof *w) : NULL;
  if (w == NULL)
    return CIO_ENOMEM;
  cio__list_init(&w->waiter);
  job_init(&w->job, h, ex);
  w->job.done = exit_wait_done;
  /* Not a queued job: cio__job_try_cancel() must leave it alone (it is
   * delivered by the last exiting worker, and loop close waits for it). */
  w->job.state = CIO__JOB_RUNNING;
  uv_mutex_lock(&ex->lock);
  bool all_exited = ex->exited == atomic_load(&ex->nworkers);
  if (!all_exited) {
    cio__list_push_back(&ex->exit_waiters, &w->job.qnode);
    hub_attach(h, &w->job);
  }
  uv_mutex_unlock(&ex->lock);
  if (all_exited) {
    cio__free(loop, w);
    return 0;
  }
  struct cio__wait rec;
  cio__wait_init(&rec, self, 0);
  cio__wait_about(&rec, &shutdown_kind, ex);
  return cio__wait_on(&w->waiter, &rec);
}

int cio_executor_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
  if (ex == NULL)
    return CIO_EINVAL;
  begin_shutdown(ex, cancel_futures);
  if (!wait)
    return 0;
  cio_loop *loop = cio__loop_current();
  cio_task *self = loop ? loop->current : NULL;
  if (self != NULL) {
    int rc = wait_in_task(ex, self);
    if (rc < 0)
      return rc;
  }
  wait_blocking(ex); /* in a task: every worker has exited already */
  return 0;
}

/* Jobs not yet handed back to their loop keep the struct alive. */
static void executor_unref(cio_executor *ex) {
  if (atomic_fetch_sub(&ex->refs, 1) != 1)
    return;
  uv_cond_destroy(&ex->exit_cv);
  uv_cond_destroy(&ex->work_cv);
  uv_mutex_destroy(&ex->lock);
  if (ex->argv != NULL) {
    for (char **a = ex->argv; *a != NULL; a++)
      free(*a);
    free(ex->argv);
  }
  free(ex->workers);
  free(ex);
}

void cio_executor_free(cio_executor *ex) {
  if (ex == NULL)
    return;
  cio_loop *loop = cio__loop_current();
  if (loop != NULL)
    cio__debug_untrack(loop, ex);
  begin_shutdown(ex, false);
  wait_blocking(ex);
  executor_unref(ex);
}

/* Default size: CPython's min(32, os.cpu_count() + 4). */
static size_t default_workers(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t n = (cpus > 0 ? (size_t)cpus : 1) + 4;
  return n < 32 ? n : 32;
}

int cio_thread_pool_new(cio_executor **out, size_t max_workers) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (max_workers == 0)
    max_workers = default_workers();
  return cio__executor_alloc(out, max_workers);
}

/* ---- the default executor -------------------------------------------- */

static int default_executor(cio_loop *loop, cio_executor **ex) {
  struct cio__hub *h = cio__hub_get(loop);
  if (h == NULL)
    return CIO_ENOMEM;
  if (h->default_shut_down)
    return CIO_ESHUTDOWN;
  if (h->default_ex == NULL) {
    int rc = cio_thread_pool_new(&h->default_ex, 0);
    if (rc < 0)
      return rc;
  }
  *ex = h->default_ex;
  return 0;
}

int cio_loop_set_default_executor(cio_loop *loop, cio_executor *ex) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL || ex == NULL || ex->is_process)
    return CIO_EINVAL;
  if (loop != cio__loop_current())
    return CIO_EPERM;
  struct cio__hub *h = cio__hub_get(loop);
  if (h == NULL)
    return CIO_ENOMEM;
  if (h->default_ex != NULL || h->default_shut_down)
    return CIO_EBUSY;
  h->default_ex = ex;
  return 0;
}

int cio_shutdown_default_executor(void) {
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct cio__hub *h = cio__hub_get(self->fut.loop);
  if (h == NULL)
    return CIO_ENOMEM;
  h->default_shut_down = true;
  cio_executor *ex = h->default_ex;
  if (ex == NULL)
    return 0;
  rc = cio_executor_shutdown(ex, true, false);
  if (rc < 0)
    return rc; /* cio_loop_close() frees it */
  if (h->default_ex == ex) {
    h->default_ex = NULL;
    cio_executor_free(ex);
  }
  return 0;
}

/* cio_loop_close(): take back queued jobs of this loop, stop the default
 * executor, wait for jobs still running anywhere, dispose of their
 * outcomes and free the hub. */

/* Run `done` of every job already sent back (in the inbox or the ready
 * queue): the hub they point to is about to go. */
static void run_delivered(cio_loop *loop) {
  cio__threadsafe_take(loop);
  struct cio__list *it = loop->ready.next;
  while (it != &loop->ready) {
    struct cio__list *next = it->next;
    struct cio__callback *cb = cio__container_of(it, struct cio__callback, node);
    struct cio__remote *r = cio__remote_of(cb);
    if (r != NULL && r->run == job_arrived) {
      cio__list_remove(it);
      job_arrived(r);
      next = loop->ready.next; /* `done` may have queued callbacks */
    }
    it = next;
  }
}

void cio__executor_loop_close(cio_loop *loop) {
  struct cio__hub *h = loop->exec;
  if (h == NULL)
    return;
  struct cio__list *it = h->jobs.next;
  while (it != &h->jobs) {
    struct cio__list *next = it->next;
    cio__job_try_cancel(cio__container_of(it, struct cio__job, lnode));
    it = next;
  }
  if (h->default_ex != NULL) {
    begin_shutdown(h->default_ex, true);
    wait_blocking(h->default_ex);
  }
  /* Workers touch nothing after their decrement (executor.h (3)); jobs
   * may run for long, so poll rather than keep a lock on every delivery. */
  while (atomic_load_explicit(&h->outstanding, memory_order_acquire) > 0)
    uv_sleep(1);
  run_delivered(loop);
  cio_executor_free(h->default_ex);
  fjob_cache_drain(loop, h);
  loop->exec = NULL;
  cio__free(loop, h);
}

/* ---- run_in_executor ------------------------------------------------- */

struct fjob {
  struct cio__job job;
  struct cio__link link; /* on fut: a cancellation cancels the job */
  cio_future *fut;       /* one reference, dropped in done; the next in
                            hub->fjob_cache while cached */
  cio_blocking_fn fn;
  void *arg;
  cio_dispose_fn dispose;
  struct cio__ctx *ctx; /* to_thread: the caller's context; else NULL */
};

/* Freed run_in_executor jobs are kept per loop for reuse (the hub frees
 * them when the loop closes): a burst of jobs allocates nothing. */
enum { FJOB_CACHE = 256 };

static struct fjob *fjob_alloc(cio_loop *loop, struct cio__hub *h) {
  struct fjob *fj = h->fjob_cache;
  if (fj == NULL)
    return cio__calloc(loop, 1, sizeof *fj);
  h->fjob_cache = (struct fjob *)(void *)fj->fut;
  h->fjob_cached--;
  *fj = (struct fjob){0};
  return fj;
}

static void fjob_free(cio_loop *loop, struct cio__hub *h, struct fjob *fj) {
  if (h == NULL || h->fjob_cached >= FJOB_CACHE) {
    cio__free(loop, fj);
    return;
  }
  fj->fut = (cio_future *)(void *)h->fjob_cache;
  h->fjob_cache = fj;
  h->fjob_cached++;
}

static void fjob_cache_drain(cio_loop *loop, struct cio__hub *h) {
  while (h->fjob_cache != NULL) {
    struct fjob *fj = h->fjob_cache;
    h->fjob_cache = (struct fjob *)(void *)fj->fut;
    cio__free(loop, fj);
  }
  h->fjob_cached = 0;
}

static void fjob_work(struct cio__job *j, struct cio__worker *w) {
  (void)w;
  struct fjob *fj = cio__container_of(j, struct fjob, job);
  j->result = NULL;
  struct cio__ctx *saved = cio__ctx_enter(fj->ctx);
  j->status = fj->fn(fj->arg, &j->result);
  cio__ctx_leave(saved);
}

static void fjob_done(struct cio__job *j) {
  struct fjob *fj = cio__container_of(j, struct fjob, job);
  cio_future *fut = fj->fut;
  cio_loop *loop = fut->loop;
  cio__link_detach(&fj->link);
  if (cio_future_is_done(fut)) {
    /* The future was cancelled: nobody reads this outcome. */
    if (fj->dispose != NULL)
      fj->dispose(fj->arg, j->result, j->status);
  } else if (j->status >= 0) {
    /* A positive status (a count) is kept: awaiting returns it. */
    cio__future_complete(fut, CIO__FUT_RESULT, j->result, j->status, NULL);
  } else if (j->status == CIO_ECANCELED) {
    cio_future_cancel(fut);
  } else {
    cio_future_set_error(fut, j->status);
  }
  cio__future_unref(fut);
  cio__ctx_release(fj->ctx);
  fjob_free(loop, j->hub, fj);
}

static void fjob_link_run(struct cio__callback *cb) {
  struct cio__link *l = cio__container_of(cb, struct cio__link, cb);
  struct fjob *fj = l->owner;
  bool cancelled = cio_future_is_cancelled(l->f);
  cio__link_done(l);
  if (cancelled)
    cio__job_try_cancel(&fj->job); /* may run done and free fj */
}

static void fjob_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const struct fjob *fj = obj;
  cio__text_code_name(out, CIO__CODE_ADDR(fj->fn));
  cio__text_printf(out, " on executor %p", (void *)fj->job.ex);
}

static const struct cio__wait_kind fjob_kind = {.what = "executor job",
                                                .describe = fjob_describe};

/* cio_executor_submit; `*job` gets the job (valid until its future is
 * done), for a wait to say what it waits for. */
static int submit(cio_executor *ex, cio_blocking_fn fn, void *arg,
                  cio_dispose_fn dispose, bool carry_context,
                  cio_future **out, struct fjob **job) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (fn == NULL || (ex != NULL && ex->is_process))
    return CIO_EINVAL;
  cio_loop *loop = cio__loop_current();
  if (loop == NULL)
    return CIO_EPERM;
  int rc = ex != NULL ? 0 : default_executor(loop, &ex);
  if (rc < 0)
    return rc;
  struct cio__hub *h = cio__hub_get(loop);
  struct fjob *fj = h != NULL ? fjob_alloc(loop, h) : NULL;
  if (fj == NULL)
    return CIO_ENOMEM;
  rc = cio_future_new(loop, &fj->fut);
  if (rc < 0)
    goto fail_free;
  fj->fn = fn;
  fj->arg = arg;
  fj->dispose = dispose;
  /* A result set on the future but never taken (its awaiting task was
   * cancelled after the job finished, before it resumed) goes there too. */
  fj->fut->dispose = dispose;
  fj->fut->dispose_arg = arg;
  if (carry_context)
    fj->ctx = cio__ctx_retain(cio__ctx_current());
  fj->job.work = fjob_work;
  fj->job.done = fjob_done;
  cio__link_attach(&fj->link, fj->fut, fjob_link_run, fj, 0);
  rc = cio__job_submit(ex, loop, &fj->job);
  if (rc < 0)
    goto fail_future;
  *out = cio__future_ref(fj->fut);
  *job = fj;
  return 0;

fail_future:
  cio__link_detach(&fj->link);
  cio_future_release(fj->fut);
fail_free:
  cio__ctx_release(fj->ctx);
  fjob_free(loop, h, fj);
  return rc;
}

int cio_executor_submit(cio_executor *ex, cio_blocking_fn fn, void *arg,
                        cio_dispose_fn dispose, cio_future **out) {
  struct fjob *job;
  return submit(ex, fn, arg, dispose, false, out, &job);
}

static int run_and_await(cio_executor *ex, cio_blocking_fn fn, void *arg,
                         cio_dispose_fn dispose, bool carry_context,
                         void **result) {
  if (result != NULL)
    *result = NULL;
  int rc;
  if (cio__task_for_suspend(&rc) == NULL)
    return rc;
  cio_future *fut;
  struct fjob *job;
  rc = submit(ex, fn, arg, dispose, carry_context, &fut, &job);
  if (rc < 0)
    return rc;
  rc = cio__await_about(fut, result, true, &fjob_kind, job);
  cio_future_release(fut);
  return rc;
}

/* asyncio's loop.run_in_executor does not carry the caller's context into
 * the thread; asyncio.to_thread does (copy_context().run). */
int cio_run_in_executor(cio_executor *ex, cio_blocking_fn fn, void *arg,
                        cio_dispose_fn dispose, void **result) {
  return run_and_await(ex, fn, arg, dispose, false, result);
}

int cio_to_thread(cio_blocking_fn fn, void *arg, void **result) {
  return run_and_await(NULL, fn, arg, NULL, true, result);
}
