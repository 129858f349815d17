/* Worker threads of an executor, the bottom layer of src/executor/: they
 * take jobs from the executor's queue, run them, and hand them back
 * through the executor's `deliver` hook (the hub, executor.c); a process
 * pool's workers stop their child through `worker_stop`.  Nothing here
 * calls upward.
 *
 * Threads start on demand, as CPython's _adjust_thread_count does: a
 * submit that finds no idle worker starts one, up to max_workers.  They
 * are our own uv_thread_t threads, not libuv's threadpool, so blocking
 * user work never delays the loop's file and DNS requests.
 *
 *   IDLE -> BUSY      a job is queued (work_cv)          worker_main()
 *   BUSY -> IDLE      the job was handed back            worker_main()
 *   * -> EXITED       shut down and the queue is empty   worker_main()
 * (1) Workers only exit once shut_down is set and the queue is empty, so a
 *     job queued before the shutdown (and not cancelled) always runs.
 * (2) The last worker to exit wakes every shutdown waiter.
 */
#include "executor.h"

static void worker_exit(cio_executor *ex) {
  /* Called with ex->lock held. */
  struct cio__list waiters;
  cio__list_init(&waiters);
  if (++ex->exited == ex->nworkers) {
    cio__list_splice_back(&waiters, &ex->exit_waiters);
    uv_cond_broadcast(&ex->exit_cv);
  }
  uv_mutex_unlock(&ex->lock);
  struct cio__list *n;
  while ((n = cio__list_pop_front(&waiters)) != NULL)
    ex->deliver(cio__container_of(n, struct cio__job, qnode));
}

static void worker_main(void *arg) {
  struct cio__worker *w = arg;
  cio_executor *ex = w->ex;
  uv_mutex_lock(&ex->lock);
  for (;;) {
    while (cio__list_empty(&ex->queue) && !ex->shut_down) {
      ex->idle++;
      uv_cond_wait(&ex->work_cv, &ex->lock);
      ex->idle--;
    }
    struct cio__list *n = cio__list_pop_front(&ex->queue);
    if (n == NULL)
      break; /* shut down and nothing left */
    ex->queued--;
    struct cio__job *j = cio__container_of(n, struct cio__job, qnode);
    j->state = CIO__JOB_RUNNING;
    uv_mutex_unlock(&ex->lock);
    j->work(j, w);
    ex->deliver(j);
    uv_mutex_lock(&ex->lock);
  }
  if (ex->worker_stop != NULL)
    ex->worker_stop(w);
  worker_exit(ex);
}

/* With ex->lock held, a job just queued: start one more worker unless an
 * idle one is left for it.  Idle workers count until they wake, so a
 * burst of jobs is compared with them as a whole (CPython's
 * _idle_semaphore does the same).  A failure only matters when no worker
 * runs at all. */
int cio__workers_start_locked(cio_executor *ex) {
  if (ex->queued <= ex->idle || ex->nworkers == ex->max_workers)
    return 0;
  struct cio__worker *w = &ex->workers[ex->nworkers];
  *w = (struct cio__worker){.ex = ex, .fd = -1};
  if (uv_thread_create(&w->thread, worker_main, w) != 0)
    return ex->nworkers > 0 ? 0 : CIO_EAGAIN;
  ex->nworkers++;
  return 0;
}

/* Join every worker once; they have been told to exit. */
void cio__workers_join(cio_executor *ex) {
  uv_mutex_lock(&ex->lock);
  bool join = !ex->joined;
  ex->joined = true;
  size_t n = ex->nworkers;
  uv_mutex_unlock(&ex->lock);
  if (!join)
    return;
  for (size_t i = 0; i < n; i++)
    uv_thread_join(&ex->workers[i].thread);
}
