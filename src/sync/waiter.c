/* The waiter every primitive of src/sync/ and src/queue/ parks a task on
 * (see sync.h for its states). */
#include "sync/sync.h"

/* task.cancel() while the waiter is WAITING: fut.cancel() in CPython.  The
 * waiter stays linked until its task runs, as the cancelled future stays
 * in the deque until the task's `finally` removes it. */
static bool sw_cancel_hook(cio_task *t, void *ctx) {
  struct cio__sw *w = ctx;
  CIO_ASSERT(w->state == CIO__SW_WAITING && w->task == t);
  w->state = CIO__SW_CANCELLED;
  cio__task_wake(t, CIO_ECANCELED);
  return true;
}

int cio__sw_wait(struct cio__list *list, struct cio__sw *w, cio_task *self) {
  w->task = self;
  w->state = CIO__SW_WAITING;
  cio__list_push_back(list, &w->node);
  int rc = cio__task_park(self, sw_cancel_hook, w);
  cio__list_remove(&w->node);
  CIO_ASSERT(w->state != CIO__SW_WAITING);
  CIO_ASSERT(rc == 0 || rc == CIO_ECANCELED);
  return rc;
}

size_t cio__sw_wake_n(struct cio__list *list, size_t n) {
  size_t woken = 0;
  for (struct cio__list *it = list->next; it != list && woken < n;
       it = it->next) {
    struct cio__sw *w = cio__sw_of(it);
    if (!cio__sw_done(w)) {
      cio__sw_wake(w);
      woken++;
    }
  }
  return woken;
}

cio_loop *cio__sync_alloc_loop(void) {
  return cio__loop_current();
}
