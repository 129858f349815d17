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
#include <stdatomic.h>

#include "internal.h"

struct ts_item {
  struct cio__callback cb;
  struct ts_item *next;
  cio_callback_fn fn;
  cio_callback_fn drop; /* called instead of fn if the loop closes first */
  void *arg;
  struct cio__ctx *ctx; /* the sending thread's context */
};

static void ts_item_free(struct ts_item *it) {
  cio__ctx_release(it->ctx);
  free(it);
}

static void ts_item_run(struct cio__callback *cb) {
  struct ts_item *it = cio__container_of(cb, struct ts_item, cb);
  cio_callback_fn fn = it->fn;
  void *arg = it->arg;
  struct cio__ctx *saved = cio__ctx_enter(it->ctx);
  ts_item_free(it);
  fn(arg);
  cio__ctx_leave(saved);
}

bool cio__threadsafe_try_drop(struct cio__callback *cb) {
  if (cb->run != ts_item_run)
    return false;
  struct ts_item *it = cio__container_of(cb, struct ts_item, cb);
  if (it->drop != NULL)
    it->drop(it->arg);
  ts_item_free(it);
  return true;
}

int cio__threadsafe_open(cio_loop *loop) {
  return uv_mutex_init(&loop->ts_lock) == 0 ? 0 : CIO_ENOMEM;
}

/* Loop thread: take what other threads sent. */
void cio__threadsafe_drain(cio_loop *loop) {
  uv_mutex_lock(&loop->ts_lock);
  struct ts_item *it = loop->ts_head;
  loop->ts_head = loop->ts_tail = NULL;
  atomic_store_explicit(&loop->ts_pending, false, memory_order_relaxed);
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
  while (it != NULL) { /* not run, as asyncio's close() drops _ready */
    struct ts_item *next = it->next;
    if (it->drop != NULL)
      it->drop(it->arg);
    ts_item_free(it);
    it = next;
  }
  /* Callers already inside cio_loop_call_soon_threadsafe see ts_closed;
   * let them leave before the lock goes away. */
  while (atomic_load(&loop->ts_users) > 0)
    uv_sleep(0);
  uv_mutex_destroy(&loop->ts_lock);
}

int cio__loop_call_soon_threadsafe_or_drop(cio_loop *loop, cio_callback_fn cb,
                                           cio_callback_fn drop, void *arg) {
  if (loop == NULL || cb == NULL)
    return CIO_EINVAL;
  struct ts_item *it = malloc(sizeof *it);
  if (it == NULL)
    return CIO_ENOMEM;
  *it = (struct ts_item){.fn = cb,
                         .drop = drop,
                         .arg = arg,
                         .ctx = cio__ctx_retain(cio__ctx_current())};
  atomic_fetch_add(&loop->ts_users, 1);
  uv_mutex_lock(&loop->ts_lock);
  if (loop->ts_closed) {
    uv_mutex_unlock(&loop->ts_lock);
    atomic_fetch_sub(&loop->ts_users, 1);
    ts_item_free(it);
    return CIO_ESHUTDOWN;
  }
  if (loop->ts_tail != NULL)
    loop->ts_tail->next = it;
  else
    loop->ts_head = it;
  loop->ts_tail = it;
  atomic_store_explicit(&loop->ts_pending, true, memory_order_relaxed);
  /* Sent under the lock so close() cannot free the handle in between. */
  uv_async_send(&loop->wakeup);
  uv_mutex_unlock(&loop->ts_lock);
  atomic_fetch_sub(&loop->ts_users, 1);
  return 0;
}

int cio_loop_call_soon_threadsafe(cio_loop *loop, cio_callback_fn cb,
                                  void *arg) {
  if (loop != NULL && loop == cio__loop_current() && !loop->closing) {
    /* The loop's own thread: straight into the ready queue, behind
     * whatever other threads sent before (kept FIFO), as call_soon. */
    struct ts_item *it = cb != NULL ? malloc(sizeof *it) : NULL;
    if (cb == NULL)
      return CIO_EINVAL;
    if (it == NULL)
      return CIO_ENOMEM;
    *it = (struct ts_item){
        .fn = cb, .arg = arg, .ctx = cio__ctx_retain(cio__ctx_current())};
    cio__threadsafe_poll(loop);
    cio__list_init(&it->cb.node);
    it->cb.run = ts_item_run;
    cio__ready_push(loop, &it->cb);
    return 0;
  }
  return cio__loop_call_soon_threadsafe_or_drop(loop, cb, NULL, arg);
}

/* Outside work in flight keeps a waiting loop alive (and its absence lets
 * run_until_complete report a deadlock).  Loop thread only. */
void cio__loop_update_wakeup_ref(cio_loop *loop) {
  if (loop->uv_handles_open == 0 || loop->closing)
    return;
  uv_handle_t *h = (uv_handle_t *)&loop->wakeup;
  bool want = loop->external_refs > 0 || loop->running_forever ||
              (loop->running && !loop->detect_deadlock);
  if (want && !uv_has_ref(h))
    uv_ref(h);
  else if (!want && uv_has_ref(h))
    uv_unref(h);
}

void cio__loop_external_ref(cio_loop *loop) {
  loop->external_refs++;
  cio__loop_update_wakeup_ref(loop);
}

void cio__loop_external_unref(cio_loop *loop) {
  CIO_ASSERT(loop->external_refs > 0);
  loop->external_refs--;
  cio__loop_update_wakeup_ref(loop);
}

bool cio__threadsafe_take(cio_loop *loop) {
  cio__interrupt_check(loop); /* a SIGINT wakes us through ts_pending too */
  uv_mutex_lock(&loop->ts_lock);
  bool any = loop->ts_head != NULL;
  uv_mutex_unlock(&loop->ts_lock);
  if (any)
    cio__threadsafe_drain(loop);
  return any;
}
