/* The wait kernel: one record, one park, one cancel path (see the model
 * in internal.h). */
#include "internal.h"

/* Marks a wait record in a list shared with runnable callbacks (a
 * future's done-callbacks): records are woken, never run. */
void cio__wait_run(struct cio__callback *self) {
  (void)self;
  CIO_ASSERT(!"a wait record is woken, never run");
}

bool cio__callback_is_wait(const struct cio__callback *cb) {
  return cb->run == cio__wait_run;
}

int cio__wait_park(struct cio__wait *w) {
  cio__task_park_prepare(w->task);
  w->state = CIO__WAIT_WAITING;
  w->result = 0;
  int rc = cio__task_park_on(w->task, w);
  CIO_ASSERT(w->state != CIO__WAIT_WAITING); /* only a wake resumes it */
  return rc;
}

int cio__wait_on(struct cio__list *list, struct cio__wait *w) {
  cio__list_push_back(list, &w->cb.node);
  int rc = cio__wait_park(w);
  cio__list_remove(&w->cb.node);
  return rc;
}

int cio__wait_in(struct cio__list *list, cio_task *t, unsigned flags,
                 const struct cio__wait_kind *kind, const void *obj) {
  struct cio__wait w;
  cio__wait_init(&w, t, flags);
  cio__wait_about(&w, kind, obj);
  return cio__wait_on(list, &w);
}

void cio__wait_wake(struct cio__wait *w, int result) {
  CIO_ASSERT(w->state == CIO__WAIT_WAITING);
  w->state = CIO__WAIT_WOKEN;
  w->result = result;
  if (!(w->flags & CIO__WAIT_STAY_LINKED))
    cio__list_remove(&w->cb.node);
  cio__task_ready(w->task);
}

size_t cio__wait_count(const struct cio__list *list) {
  size_t n = 0;
  for (const struct cio__list *it = list->next; it != list; it = it->next)
    if (cio__container_of(it, struct cio__wait, cb.node)->state ==
        CIO__WAIT_WAITING)
      n++;
  return n;
}

struct cio__wait *cio__wait_first(struct cio__list *list) {
  for (struct cio__list *it = list->next; it != list; it = it->next)
    if (cio__wait_of(it)->state == CIO__WAIT_WAITING)
      return cio__wait_of(it);
  return NULL;
}

size_t cio__wait_wake_n(struct cio__list *list, size_t n, int result) {
  size_t woken = 0;
  struct cio__list *it = list->next;
  while (it != list && woken < n) {
    struct cio__list *next = it->next; /* waking may unlink `it` */
    struct cio__wait *w = cio__wait_of(it);
    if (w->state == CIO__WAIT_WAITING) {
      cio__wait_wake(w, result);
      woken++;
    }
    it = next;
  }
  return woken;
}

size_t cio__wait_wake_all(struct cio__list *list, int result) {
  return cio__wait_wake_n(list, SIZE_MAX, result);
}

bool cio__wait_all_cancelled(const struct cio__list *list) {
  for (const struct cio__list *it = list->next; it != list; it = it->next)
    if (cio__container_of(it, struct cio__wait, cb.node)->state !=
        CIO__WAIT_CANCELLED)
      return false;
  return true;
}

bool cio__wait_cancel(struct cio__wait *w) {
  CIO_ASSERT(w->state == CIO__WAIT_WAITING);
  if (w->flags & CIO__WAIT_SHIELDED)
    return false;
  if (w->interrupt != NULL)
    return w->interrupt(w);
  return cio__wait_cancel_default(w);
}

bool cio__wait_cancel_default(struct cio__wait *w) {
  CIO_ASSERT(w->state == CIO__WAIT_WAITING);
  w->state = CIO__WAIT_CANCELLED;
  w->result = CIO_ECANCELED;
  if (!(w->flags & CIO__WAIT_STAY_LINKED))
    cio__list_remove(&w->cb.node);
  cio__task_ready(w->task);
  return true;
}
