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
 * A worker that finds the queue empty first spins for SPIN_NS watching
 * `queued` (only one worker at a time: `spinning`), then sleeps on
 * work_cv: a job submitted soon after the last one is taken without any
 * system call on either side, and an idle pool costs nothing.
 *
 *   IDLE -> BUSY      a job is queued (work_cv)          worker_main()
 *   BUSY -> SPINNING  the queue is empty, nobody spins   spin_for_work()
 *   SPINNING -> BUSY  a job appeared                     worker_main()
 *   SPINNING -> IDLE  nothing for SPIN_NS                worker_main()
 *   * -> EXITED       shut down and the queue is empty   worker_main()
 * (1) Workers only exit once shut_down is set and the queue is empty, so a
 *     job queued before the shutdown (and not cancelled) always runs.
 * (2) The last worker to exit wakes every shutdown waiter.
 * (3) A job queued while no worker spins finds a sleeping one signalled
 *     (cio__workers_notify_locked), or a new one started.
 */
#include "executor.h"

enum { SPIN_NS = 50 * 1000 };

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Without the lock: if no other worker spins, watch for a job for
 * SPIN_NS.  True when one (or a shutdown) may be there. */
static bool spin_for_work(cio_executor *ex) {
  int none = 0;
  if (!atomic_compare_exchange_strong(&ex->spinning, &none, 1))
    return false;
  uint64_t deadline = uv_hrtime() + SPIN_NS;
  bool found = false;
  for (unsigned i = 1; !found; i++) {
    found = atomic_load_explicit(&ex->queued, memory_order_relaxed) > 0;
    cpu_relax();
    if (i % 64 == 0 && uv_hrtime() >= deadline)
      break;
  }
  /* Cleared before the caller takes the lock: a submitter that takes the
   * lock after that sees no spinner and signals (executor.h (4)). */
  atomic_store(&ex->spinning, 0);
  return found;
}

/* Take ex->lock, spinning a little first: the critical sections are a few
 * list operations, and sleeping in the kernel for those nanoseconds (what
 * a contended mutex does at once) costs two system calls and a switch. */
void cio__executor_lock(cio_executor *ex) {
  for (int i = 0; i < 1000; i++) {
    if (uv_mutex_trylock(&ex->lock) == 0)
      return;
    cpu_relax();
  }
  uv_mutex_lock(&ex->lock);
}

void cio__workers_notify_locked(cio_executor *ex) {
  if (ex->idle > 0 && atomic_load(&ex->spinning) == 0)
    uv_cond_signal(&ex->work_cv);
}

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
    if (cio__list_empty(&ex->queue) && !ex->shut_down) {
      uv_mutex_unlock(&ex->lock);
      bool found = spin_for_work(ex);
      cio__executor_lock(ex);
      if (found)
        continue;
    }
    while (cio__list_empty(&ex->queue) && !ex->shut_down) {
      ex->idle++;
      uv_cond_wait(&ex->work_cv, &ex->lock);
      ex->idle--;
    }
    struct cio__list *n = cio__list_pop_front(&ex->queue);
    if (n == NULL)
      break; /* shut down and nothing left */
    size_t left =
        atomic_fetch_sub_explicit(&ex->queued, 1, memory_order_relaxed) - 1;
    struct cio__job *j = cio__container_of(n, struct cio__job, qnode);
    j->state = CIO__JOB_RUNNING;
    if (left > 0)
      cio__workers_notify_locked(ex); /* help with the rest */
    uv_mutex_unlock(&ex->lock);
    j->work(j, w);
    ex->deliver(j);
    cio__executor_lock(ex);
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
  size_t ready = ex->idle + (size_t)atomic_load(&ex->spinning);
  if (atomic_load_explicit(&ex->queued, memory_order_relaxed) <= ready ||
      ex->nworkers == ex->max_workers)
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
