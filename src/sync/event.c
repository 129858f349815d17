/* asyncio.Event (Lib/asyncio/locks.py): a flag; set() wakes every task
 * waiting at that moment.  Woken waiters return 0 even if the flag is
 * cleared again before they run. */
#include "sync/sync.h"

struct cio_event {
  cio_loop *loop;
  struct cio__list waiters; /* cio__wait */
  bool value;
};

int cio_event_new(cio_event **out) {
  if (out == NULL)
    return CIO_EINVAL;
  cio_loop *loop = cio__sync_alloc_loop();
  cio_event *e = cio__malloc(loop, sizeof *e);
  *out = e;
  if (e == NULL)
    return CIO_ENOMEM;
  e->loop = loop;
  cio__list_init(&e->waiters);
  e->value = false;
  return 0;
}

void cio_event_free(cio_event *e) {
  if (e == NULL)
    return;
  CIO_ASSERT(cio__list_empty(&e->waiters));
  cio__free(e->loop, e);
}

bool cio_event_is_set(const cio_event *e) {
  return e != NULL && e->value;
}

int cio_event_set(cio_event *e) {
  if (e == NULL)
    return CIO_EINVAL;
  if (e->value)
    return 0;
  e->value = true;
  cio__wait_wake_all(&e->waiters, 0);
  return 0;
}

int cio_event_clear(cio_event *e) {
  if (e == NULL)
    return CIO_EINVAL;
  e->value = false;
  return 0;
}

static void event_describe(cio_loop *loop, const void *obj,
                           struct cio__text *out) {
  (void)loop;
  const cio_event *e = obj;
  cio__text_printf(out, "event %p (%s, %zu waiting)", obj,
                   e->value ? "set" : "clear", cio__wait_count(&e->waiters));
}

static const struct cio__wait_kind wait_kind = {.what = "event wait",
                                                .describe = event_describe};

int cio_event_wait(cio_event *e) {
  if (e == NULL)
    return CIO_EINVAL;
  if (e->value)
    return 0;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct cio__wait w;
  cio__wait_init(&w, self, CIO__WAIT_STAY_LINKED);
  cio__wait_about(&w, &wait_kind, e);
  return cio__wait_on(&e->waiters, &w);
}
