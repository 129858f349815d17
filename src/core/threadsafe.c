/* Other threads talking to a loop: call_soon_threadsafe, and the count of
 * outside work (executor jobs, foreign tasks) that keeps the loop alive.
 *
 * A foreign thread appends to `ts_head/ts_tail` under `ts_lock` and wakes
 * the loop with uv_async_send (thread-safe).  The loop thread moves the
 * items to the ready queue, in the order they were sent, when woken and
 * at the start of each round.  Items are plain malloc'd: the loop's
 * counting allocator belongs to the loop thread.
 * (1) Only the loop thread touches the ready queue.
 * (2) After cio__threadsafe_close() nothing is accepted (CIO_ESHUTDOWN). */
#include "internal.h"

struct ts_item {
  struct cio__callback cb;
  struct ts_item *next;
  cio_callback_fn fn;
  void *arg;
};

static void ts_item_run(struct cio__callback *cb) {
  struct ts_item *it = cio__container_of(cb, struct ts_item, cb);
  cio_callback_fn fn = it->fn;
  void *arg = it->arg;
  free(it);
  fn(arg);
}

int cio__threadsafe_open(cio_loop *loop) {
  return uv_mutex_init(&loop->ts_lock) == 0 ? 0 : CIO_ENOMEM;
}

/* Loop thread: take what other threads sent. */
void cio__threadsafe_drain(cio_loop *loop) {
  uv_mutex_lock(&loop->ts_lock);
  struct ts_item *it = loop->ts_head;
  loop->ts_head = loop->ts_tail = NULL;
  uv_mutex_unlock(&loop->ts_lock);
  while (it != NULL) {
    struct ts_item *next = it->next;
    cio__list_init(&it->cb.node);
    it->cb.run = ts_item_run;
    cio__ready_push(loop, &it->cb);
    it = next;
  }
}

void cio__threadsafe_close(cio_loop *loop) {
  uv_mutex_lock(&loop->ts_lock);
  struct ts_item *it = loop->ts_head;
  loop->ts_head = loop->ts_tail = NULL;
  loop->ts_closed = true;
  uv_mutex_unlock(&loop->ts_lock);
  while (it != NULL) { /* dropped unrun, as asyncio's close() drops _ready */
    struct ts_item *next = it->next;
    free(it);
    it = next;
  }
  uv_mutex_destroy(&loop->ts_lock);
}

int cio_loop_call_soon_threadsafe(cio_loop *loop, cio_callback_fn cb,
                                  void *arg) {
  if (loop == NULL || cb == NULL)
    return CIO_EINVAL;
  struct ts_item *it = malloc(sizeof *it);
  if (it == NULL)
    return CIO_ENOMEM;
  *it = (struct ts_item){.fn = cb, .arg = arg};
  uv_mutex_lock(&loop->ts_lock);
  if (loop->ts_closed) {
    uv_mutex_unlock(&loop->ts_lock);
    free(it);
    return CIO_ESHUTDOWN;
  }
  if (loop->ts_tail != NULL)
    loop->ts_tail->next = it;
  else
    loop->ts_head = it;
  loop->ts_tail = it;
  /* Sent under the lock so close() cannot free the handle in between. */
  uv_async_send(&loop->wakeup);
  uv_mutex_unlock(&loop->ts_lock);
  return 0;
}

/* Outside work in flight keeps a waiting loop alive (and its absence lets
 * run_until_complete report a deadlock).  Loop thread only. */
void cio__loop_external_ref(cio_loop *loop) {
  if (loop->external_refs++ == 0)
    uv_ref((uv_handle_t *)&loop->wakeup);
}

void cio__loop_external_unref(cio_loop *loop) {
  CIO_ASSERT(loop->external_refs > 0);
  if (--loop->external_refs == 0 && !loop->running_forever)
    uv_unref((uv_handle_t *)&loop->wakeup);
}
