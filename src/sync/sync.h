/* Private to src/sync/ and src/queue/: the layouts of the primitives that
 * others embed (a Condition embeds a Lock, a Barrier a Condition).
 *
 * Every primitive parks its tasks on the wait kernel's records
 * (internal.h), standing for the futures CPython's locks.py and
 * queues.py create per wait.  Locks, semaphores, conditions and events
 * use CIO__WAIT_STAY_LINKED: as in CPython, a woken or cancelled waiter
 * stays in its primitive's list until its own task resumes and unlinks
 * it, so it still counts where locks.py looks at its futures (a Lock's
 * fast path, _wake_up_first).  Queues unlink on wake-up, as queues.py's
 * _wakeup_next pops the deque.  A task may resume WOKEN yet with
 * CIO_ECANCELED (cancelled after the wake-up, before it ran): each
 * primitive then passes on what it was given, as CPython's `except
 * CancelledError` branches do.
 */
#ifndef CIO_SYNC_H
#define CIO_SYNC_H

#include "internal.h"

/* Allocation for the primitives: on the thread's loop when there is one,
 * so tests see leaks; the object remembers it for the free. */
static inline cio_loop *cio__sync_alloc_loop(void) {
  return cio__loop_current();
}

/* ---- Lock ------------------------------------------------------------ */
struct cio_lock {
  cio_loop *loop;           /* allocated on; NULL when embedded */
  struct cio__list waiters; /* cio__wait, FIFO */
  bool locked;
};

void cio__lock_init(struct cio_lock *l);

/* ---- Condition ------------------------------------------------------- */
struct cio_condition {
  cio_loop *loop;
  struct cio_lock *lock;    /* own_lock or the caller's */
  struct cio__list waiters; /* cio__wait, FIFO */
  struct cio_lock own_lock;
};

void cio__condition_init(struct cio_condition *c, struct cio_lock *lock);

#endif
