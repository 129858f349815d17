/* Private types of the executors (src/executor/).
 *
 * A job is work for another thread: a blocking function (thread pool) or a
 * round trip to a worker process (process pool).  It is allocated on the
 * loop thread, queued on an executor, run by a worker thread and handed
 * back to its loop through the loop's inbox (cio__loop_send_owned, one
 * compare-and-swap; src/runtime/threadsafe.c), where `done` runs and frees
 * it.  The loop's hub counts what it still expects.
 *
 *   QUEUED -> RUNNING     a worker takes it              worker_main()
 *   QUEUED -> CANCELLED   cio__job_try_cancel(), or a shutdown with
 *                         cancel_futures                 executor.c
 *   RUNNING -> (delivered) the worker hands it to the hub cio__job_deliver()
 *
 * (1) A job is always handed back to its loop, exactly once: `done` runs on
 *     the loop thread and nothing else touches the job afterwards.  This is
 *     why a task may stop waiting (cancellation) at any time: the job owns
 *     itself and its late outcome is disposed of by `done`.
 * (2) `state` is guarded by the executor's lock; `status`/`result` are
 *     written by the worker before delivery and read by the loop after it
 *     (the inbox's compare-and-swap and exchange order the two).
 * (3) A hub counts the jobs it still expects (`outstanding`), and a worker
 *     decrements it as the last thing it does with the job; the loop is
 *     closed only once it reaches zero, so no worker ever touches a freed
 *     hub or loop.
 * (4) Submitting takes no lock: a compare-and-swap pushes the job on
 *     `incoming`, a stack the workers move into `queue` (FIFO, under the
 *     lock) before taking from it.  At most one worker spins (`spinning`)
 *     waiting for a job before it sleeps; a submission signals a sleeping
 *     worker (`sleepers`) only when none spins, and a worker that takes a
 *     job while more are queued and none spins wakes another.  Push, then
 *     read `spinning` and `sleepers`; a worker clears `spinning`, counts
 *     itself in `sleepers`, then reads `incoming` again before it sleeps
 *     (all sequentially consistent): one side sees the other.
 * (5) `submitting` counts submitters between their check of shut_down
 *     and their push: a shutdown waits for it to reach 0 before it takes
 *     the last jobs back, so no job lands after the workers are gone.
 */
#ifndef CIO_EXECUTOR_H
#define CIO_EXECUTOR_H

#include <stdatomic.h>

#include "internal.h"

enum cio__job_state {
  CIO__JOB_QUEUED,
  CIO__JOB_RUNNING,
  CIO__JOB_CANCELLED,
};

struct cio__worker;
struct cio__hub;
struct fjob;

struct cio__job {
  struct cio__remote remote;  /* its way back to the loop; remote.next
                                 links ex->incoming until then */
  struct cio__list qnode;     /* in ex->queue (ex->lock), or self-linked */
  struct cio__list lnode;     /* in hub->jobs: loop thread only */
  struct cio__hub *hub;
  cio_executor *ex;
  int state; /* cio__job_state, ex->lock */
  /* Worker thread: do the work, set status and result. */
  void (*work)(struct cio__job *j, struct cio__worker *w);
  /* Loop thread: the outcome is back (status CIO_ECANCELED if the job was
   * cancelled before it ran).  Frees the job. */
  void (*done)(struct cio__job *j);
  int status;
  void *result;
};

/* Per-loop side of the executors: what the loop still expects back. */
struct cio__hub {
  cio_loop *loop;
  atomic_size_t outstanding; /* submitted, not yet delivered */
  struct cio__list jobs;    /* submitted, `done` not yet run */
  struct fjob *fjob_cache;  /* executor.c: freed jobs kept for reuse */
  size_t fjob_cached;
  cio_executor *default_ex; /* lazily created; the loop owns it */
  bool default_shut_down;   /* shutdown_default_executor() was called */
};

/* A worker thread, and for a process pool the process it talks to. */
struct cio__worker {
  uv_thread_t thread;
  cio_executor *ex;
  int pid; /* process pool: 0 when no process runs */
  int fd;  /* process pool: our end of the socket pair, or -1 */
};

struct cio_executor {
  /* Written by submitters, on lines of their own (the workers' lock and
   * queue are touched by the other side). */
  char pad0[64];
  _Atomic(struct cio__job *) incoming; /* submitted, newest first */
  atomic_size_t submitting;            /* (5) */
  atomic_size_t refs; /* the owner's, plus one per job in flight */
  char pad1[64];
  atomic_int spinning;   /* 1 while a worker spins for work */
  atomic_size_t sleepers; /* workers waiting on work_cv, or about to */
  size_t wakes;           /* of those, woken and not up yet (lock) */
  atomic_bool shut_down;
  atomic_size_t nworkers; /* started (written under lock) */
  uv_mutex_t lock;
  uv_cond_t work_cv;             /* idle workers wait for jobs */
  uv_cond_t exit_cv;             /* a blocking shutdown waits for exits */
  struct cio__list queue;        /* cio__job.qnode, FIFO */
  struct cio__list exit_waiters; /* tasks waiting in shutdown (jobs) */
  struct cio__worker *workers;
  size_t max_workers;
  size_t exited;
  bool joined;
  bool is_process;
  /* Hooks the workers call (workers.c never calls upward): hand a done
   * job back to its loop (cio__job_deliver), and stop a worker's child
   * process when it exits (process pools; NULL for threads). */
  void (*deliver)(struct cio__job *j);
  void (*worker_stop)(struct cio__worker *w);
  char **argv; /* process pool: how to start a worker */
};

/* The job's fields are consistent (asserted on submit and when its `done`
 * runs); `state` itself is read only under the executor's lock. */
static inline bool cio__job_check(const struct cio__job *j) {
  return j != NULL && j->hub != NULL && j->ex != NULL && j->done != NULL &&
         (j->work != NULL || !cio__list_linked(&j->qnode));
}

/* executor.c */
struct cio__hub *cio__hub_get(cio_loop *loop);
int cio__executor_alloc(cio_executor **out, size_t max_workers);
/* Queue `j` (filled by the caller but for hub/ex/state) on `ex` for the
 * current loop.  Returns 0, CIO_ESHUTDOWN or CIO_ENOMEM (then `done` is
 * not called and the caller still owns `j`). */
int cio__job_submit(cio_executor *ex, cio_loop *loop, struct cio__job *j);
/* Loop thread: take `j` back if no worker has started it; then `done`
 * has run (with CIO_ECANCELED) before this returns true. */
bool cio__job_try_cancel(struct cio__job *j);
/* Worker thread: hand `j` back to its loop. */
void cio__job_deliver(struct cio__job *j);

/* workers.c: the threads (the bottom layer; they call only the hooks). */
/* Any thread: push `j` (its fields set) for the workers, starting or
 * waking one if none will take it.  Returns 0, CIO_ESHUTDOWN, or
 * CIO_EAGAIN (no worker could be started). */
int cio__workers_submit(cio_executor *ex, struct cio__job *j);
/* With ex->lock held: move `incoming` into `queue`, in submission order. */
void cio__workers_take_incoming(cio_executor *ex);
/* Set shut_down and wait until no submitter is between its check and its
 * push; with ex->lock held on return. */
void cio__workers_shutdown_lock(cio_executor *ex);
/* Take ex->lock on a hot path: spins briefly before sleeping. */
void cio__executor_lock(cio_executor *ex);
void cio__workers_join(cio_executor *ex);

#endif
