/* Private to src/sync/ and src/queue/: the waiter every primitive parks
 * its tasks on, and the layouts of the primitives that others embed (a
 * Condition embeds a Lock, a Barrier a Condition).
 *
 * A waiter stands for the future CPython's locks.py and queues.py create
 * per wait.  It lives on the waiting task's stack and goes through
 *
 *   WAITING -> WOKEN       the primitive let it go on     cio__sw_wake()
 *   WAITING -> CANCELLED   cio_task_cancel() on the task  sw_cancel_hook()
 *
 * "done" in locks.py is "not WAITING" here.  As in CPython, a waiter stays
 * in its primitive's list until its own task resumes and unlinks it, so a
 * woken or cancelled waiter that has not run yet still counts where
 * locks.py looks at its futures (a Lock's fast path, _wake_up_first).  A
 * task may also resume WOKEN yet with CIO_ECANCELED (cancelled after the
 * wake-up, before it ran): each primitive then passes on what it was
 * given, as CPython's `except CancelledError` branches do.
 *
 * (1) A WAITING waiter's task is parked with sw_cancel_hook and the waiter
 *     is linked in exactly one primitive list.
 * (2) Only the waiter's own task frees it (by returning), after unlinking.
 */
#ifndef CIO_SYNC_H
#define CIO_SYNC_H

#include "internal.h"

enum cio__sw_state {
  CIO__SW_WAITING,
  CIO__SW_WOKEN,
  CIO__SW_CANCELLED,
};

struct cio__sw {
  struct cio__list node; /* in the primitive's list, or self-linked */
  cio_task *task;
  uint8_t state; /* cio__sw_state */
};

static inline struct cio__sw *cio__sw_of(struct cio__list *n) {
  return cio__container_of(n, struct cio__sw, node);
}

static inline bool cio__sw_done(const struct cio__sw *w) {
  return w->state != CIO__SW_WAITING;
}

/* fut.set_result(): let the waiter's task go on (next batch). */
static inline void cio__sw_wake(struct cio__sw *w) {
  CIO_ASSERT(w->state == CIO__SW_WAITING);
  w->state = CIO__SW_WOKEN;
  cio__task_wake(w->task, 0);
}

/* Append a waiter for `self` to `list` and park until woken or cancelled.
 * Returns 0 (woken) or CIO_ECANCELED; the waiter is unlinked on return and
 * w->state tells whether it had been woken. */
int cio__sw_wait(struct cio__list *list, struct cio__sw *w, cio_task *self);

/* Wake up to `n` waiters still WAITING, oldest first (they stay linked
 * until they run); returns how many were woken. */
size_t cio__sw_wake_n(struct cio__list *list, size_t n);

/* True when every waiter of `list` is cancelled (or there is none): a
 * newcomer may then take the resource, since a woken waiter keeps its
 * turn. */
static inline bool cio__sw_all_cancelled(const struct cio__list *list) {
  for (const struct cio__list *it = list->next; it != list; it = it->next)
    if (cio__container_of(it, struct cio__sw, node)->state !=
        CIO__SW_CANCELLED)
      return false;
  return true;
}

/* The first waiter of `list`, or NULL. */
static inline struct cio__sw *cio__sw_first(struct cio__list *list) {
  return cio__list_empty(list) ? NULL : cio__sw_of(list->next);
}

/* Allocation for the primitives: on the thread's loop when there is one,
 * so tests see leaks; the object remembers it for the free. */
cio_loop *cio__sync_alloc_loop(void);

/* ---- Lock ------------------------------------------------------------ */
struct cio_lock {
  cio_loop *loop;           /* allocated on; NULL when embedded */
  struct cio__list waiters; /* cio__sw, FIFO */
  bool locked;
};

void cio__lock_init(struct cio_lock *l);

/* ---- Condition ------------------------------------------------------- */
struct cio_condition {
  cio_loop *loop;
  struct cio_lock *lock;    /* own_lock or the caller's */
  struct cio__list waiters; /* cio__sw, FIFO */
  struct cio_lock own_lock;
};

void cio__condition_init(struct cio_condition *c, struct cio_lock *lock);

#endif
