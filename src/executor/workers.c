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
 * Submitting takes no lock (executor.h (4)): a job is pushed on
 * `incoming`, and the workers move it into `queue` under their lock.  A
 * worker that finds nothing first spins for SPIN_NS watching `incoming`
 * (one worker at a time: `spinning`), then sleeps on work_cv: a job
 * submitted soon after the last one is taken without a system call on
 * either side, and an idle pool costs nothing.
 *
 *   IDLE -> BUSY      a job is queued (work_cv)          worker_main()
 *   BUSY -> SPINNING  the queue is empty, nobody spins   spin_for_work()
 *   SPINNING -> BUSY  a job appeared                     worker_main()
 *   SPINNING -> IDLE  nothing for SPIN_NS                worker_main()
 *   * -> EXITED       shut down and the queue is empty   worker_main()
 * (1) Workers only exit once shut_down is set and both `incoming` and
 *     `queue` are empty, so a job submitted before the shutdown (and not
 *     cancelled) always runs.
 * (2) The last worker to exit wakes every shutdown waiter.
 * (3) A job submitted while no worker spins finds a sleeping one
 *     signalled, or a new one started.
 */
#include "executor.h"

enum { SPIN_NS = 50 * 1000 };

/* Sequentially consistent, as executor.h (4) says of the hand-off: after
 * a worker clears `spinning`, this load must not be ordered before that
 * store (a release store then a relaxed load may be reordered on AArch64),
 * or a job pushed by a submitter that saw the spinner is seen by nobody. */
static bool has_incoming(cio_executor *ex) {
  return atomic_load(&ex->incoming) != NULL;
}

/* Take ex->lock, spinning a little first: the critical sections are a few
 * list operations, and sleeping in the kernel for those nanoseconds (what
 * a contended mutex does at once) costs two system calls and a switch. */
void cio__executor_lock(cio_executor *ex) {
  for (int i = 0; i < 1000; i++) {
    if (uv_mutex_trylock(&ex->lock) == 0)
      return;
    cio__cpu_relax();
  }
  uv_mutex_lock(&ex->lock);
}

void cio__workers_take_incoming(cio_executor *ex) {
  struct cio__job *j = atomic_exchange(&ex->incoming, NULL), *fifo = NULL;
  while (j != NULL) { /* newest first: reverse */
    struct cio__job *next = (struct cio__job *)(void *)j->remote.next;
    j->remote.next = (struct cio__remote *)(void *)fifo;
    fifo = j;
    j = next;
  }
  for (; fifo != NULL;
       fifo = (struct cio__job *)(void *)fifo->remote.next)
    cio__list_push_back(&ex->queue, &fifo->qnode);
}

/* Without the lock: if no other worker spins, watch for a job for
 * SPIN_NS.  True when one appeared: the worker stays the spinner until it
 * has taken it (a submitter that sees a spinner wakes nobody else). */
static bool spin_for_work(cio_executor *ex) {
  int none = 0;
  if (!atomic_compare_exchange_strong(&ex->spinning, &none, 1))
    return false;
  uint64_t start = uv_hrtime(), deadline = start + SPIN_NS;
  for (unsigned i = 1;; i++) {
    if (has_incoming(ex))
      return true;
    cio__cpu_relax();
    if (i % 64 == 0 && cio__spin_pause(start, deadline))
      break;
  }
  /* (4): cleared before the worker looks again and sleeps. */
  atomic_store(&ex->spinning, 0);
  return false;
}

/* With the lock: a sleeping worker not yet woken, if there is one, is
 * woken (true); `wakes` counts those woken and not up yet, so a burst of
 * jobs wakes one sleeper each, then starts new workers. */
static bool wake_one_locked(cio_executor *ex) {
  if (atomic_load(&ex->sleepers) <= ex->wakes)
    return false;
  ex->wakes++;
  uv_cond_signal(&ex->work_cv);
  return true;
}

/* With the lock: nothing to do; sleep until a job or the shutdown.  (4):
 * counted in `sleepers` before `incoming` is read for the last time. */
static void sleep_locked(cio_executor *ex) {
  atomic_fetch_add(&ex->sleepers, 1);
  while (!has_incoming(ex) && cio__list_empty(&ex->queue) &&
         !atomic_load(&ex->shut_down)) {
    uv_cond_wait(&ex->work_cv, &ex->lock);
    /* Up, woken on purpose or not: a wake it was sent is spent, even if
     * it goes back to sleep (the job was taken by another worker). */
    if (ex->wakes > 0)
      ex->wakes--;
  }
  atomic_fetch_sub(&ex->sleepers, 1);
}

static void worker_main(void *arg);

/* With ex->lock held: start one more worker.  A failure only matters
 * when no worker runs at all. */
static int start_locked(cio_executor *ex) {
  size_t n = atomic_load(&ex->nworkers);
  if (n == ex->max_workers)
    return 0;
  struct cio__worker *w = &ex->workers[n];
  *w = (struct cio__worker){.ex = ex, .fd = -1};
  if (uv_thread_create(&w->thread, worker_main, w) != 0)
    return n > 0 ? 0 : CIO_EAGAIN;
  atomic_store(&ex->nworkers, n + 1);
  return 0;
}

static void worker_exit(cio_executor *ex) {
  /* Called with ex->lock held. */
  struct cio__list waiters;
  cio__list_init(&waiters);
  if (++ex->exited == atomic_load(&ex->nworkers)) {
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
    cio__workers_take_incoming(ex);
    struct cio__list *n = cio__list_pop_front(&ex->queue);
    if (n == NULL) {
      if (atomic_load(&ex->shut_down))
        break; /* shut down and nothing left */
      uv_mutex_unlock(&ex->lock);
      bool found = spin_for_work(ex);
      cio__executor_lock(ex);
      if (!found) {
        sleep_locked(ex);
        continue;
      }
      cio__workers_take_incoming(ex);
      n = cio__list_pop_front(&ex->queue);
      atomic_store(&ex->spinning, 0); /* it has its job (or lost it) */
      if (n == NULL)
        continue;
    }
    struct cio__job *j = cio__container_of(n, struct cio__job, qnode);
    j->state = CIO__JOB_RUNNING;
    /* More waiting and nobody spinning to take it: wake a sleeper or
     * start one more worker, so a burst of blocking jobs runs side by
     * side (each worker that takes one passes the word on). */
    if ((!cio__list_empty(&ex->queue) || has_incoming(ex)) &&
        atomic_load(&ex->spinning) == 0 && !wake_one_locked(ex))
      (void)start_locked(ex);
    uv_mutex_unlock(&ex->lock);
    j->work(j, w);
    ex->deliver(j);
    cio__executor_lock(ex);
  }
  if (ex->worker_stop != NULL)
    ex->worker_stop(w);
  worker_exit(ex);
}

int cio__workers_submit(cio_executor *ex, struct cio__job *j) {
  if (atomic_load_explicit(&ex->nworkers, memory_order_relaxed) == 0) {
    /* The first job: the pool must have a worker before it is accepted. */
    uv_mutex_lock(&ex->lock);
    int rc = atomic_load(&ex->shut_down)       ? CIO_ESHUTDOWN
             : atomic_load(&ex->nworkers) == 0 ? start_locked(ex)
                                               : 0;
    uv_mutex_unlock(&ex->lock);
    if (rc < 0)
      return rc;
  }
  atomic_fetch_add(&ex->submitting, 1);
  if (atomic_load(&ex->shut_down)) {
    atomic_fetch_sub(&ex->submitting, 1);
    return CIO_ESHUTDOWN;
  }
  struct cio__job *head =
      atomic_load_explicit(&ex->incoming, memory_order_relaxed);
  do
    j->remote.next = (struct cio__remote *)(void *)head;
  while (!atomic_compare_exchange_weak(&ex->incoming, &head, j));
  atomic_fetch_sub_explicit(&ex->submitting, 1, memory_order_release);
  /* (4) and (3): a spinner takes it; else wake a sleeper; else every
   * worker is busy: start one more, as CPython does. */
  if (atomic_load(&ex->spinning) != 0)
    return 0;
  bool sleeping = atomic_load(&ex->sleepers) > 0;
  if (!sleeping &&
      atomic_load_explicit(&ex->nworkers, memory_order_relaxed) ==
          ex->max_workers)
    return 0;
  uv_mutex_lock(&ex->lock);
  if (!wake_one_locked(ex) && !atomic_load(&ex->shut_down))
    (void)start_locked(ex); /* a worker runs already: it gets there */
  uv_mutex_unlock(&ex->lock);
  return 0;
}

void cio__workers_shutdown_lock(cio_executor *ex) {
  atomic_store(&ex->shut_down, true);
  while (atomic_load(&ex->submitting) > 0)
    uv_sleep(0);
  uv_mutex_lock(&ex->lock);
}

/* Join every worker once; they have been told to exit. */
void cio__workers_join(cio_executor *ex) {
  uv_mutex_lock(&ex->lock);
  bool join = !ex->joined;
  ex->joined = true;
  size_t n = atomic_load(&ex->nworkers);
  uv_mutex_unlock(&ex->lock);
  if (!join)
    return;
  for (size_t i = 0; i < n; i++)
    uv_thread_join(&ex->workers[i].thread);
}
