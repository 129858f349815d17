/* Other threads talking to a loop: the loop's inbox (call_soon_threadsafe,
 * executor jobs coming back), the count of outside work (executor jobs,
 * foreign tasks) that keeps the loop alive, and the short spin that waits
 * for outside work due back soon.
 *
 * The inbox is a lock-free stack of `struct cio__remote` (one
 * compare-and-swap to send).  The loop thread takes the whole stack with
 * one exchange, reverses it into sending order and queues the items in
 * the ready queue: at every batch boundary (so an item sent during a
 * batch runs in the next one, as asyncio's call_soon_threadsafe appends
 * to _ready), and when woken by `wakeup`.  A sender wakes the loop with
 * uv_async_send, which costs a system call only for the first item after
 * the loop last looked, and none at all while the loop spins on the
 * inbox.
 *
 * Spinning: a loop about to wait in its poll while outside work it just
 * handed out (an executor job) is in flight first watches its inbox for
 * SPIN_NS, since a short job comes back in less time than a wake-up
 * through the kernel takes.  Only after a hint (cio__loop_expect_soon, at
 * each submission), and a spin that finds nothing ends the hint: a loop
 * whose jobs are long spins once per job, not at every idle moment.
 *
 * (1) Only the loop thread touches the ready queue and takes the inbox.
 * (2) After cio__threadsafe_close() nothing is accepted (CIO_ESHUTDOWN);
 *     ts_users counts senders between their check of ts_closed and their
 *     last touch of the loop, and close waits for it to reach 0.
 * (3) While ts_spinning is set a sender may skip the wake-up: the loop
 *     clears it and then takes the inbox once more (both sides are
 *     sequentially consistent, so one of them sees the other's write). */
#include <sched.h>
#include <stdatomic.h>

#include "internal.h"

enum { SPIN_NS = 50 * 1000, SPIN_ALONE_NS = 5 * 1000 };

/* ---- the inbox ----------------------------------------------------------- */

static void remote_run(struct cio__callback *cb) {
  struct cio__remote *r = cio__container_of(cb, struct cio__remote, cb);
  r->run(r);
}

struct cio__remote *cio__remote_of(struct cio__callback *cb) {
  return cb->run == remote_run
             ? cio__container_of(cb, struct cio__remote, cb)
             : NULL;
}

bool cio__threadsafe_try_drop(struct cio__callback *cb) {
  struct cio__remote *r = cio__remote_of(cb);
  if (r == NULL)
    return false;
  r->drop(r);
  return true;
}

static void push(cio_loop *loop, struct cio__remote *r) {
  r->cb.run = remote_run;
  struct cio__remote *head =
      atomic_load_explicit(&loop->inbox, memory_order_relaxed);
  do
    r->next = head;
  while (!atomic_compare_exchange_weak(&loop->inbox, &head, r));
  if (!atomic_load(&loop->ts_spinning))
    uv_async_send(&loop->wakeup);
}

void cio__loop_send_owned(cio_loop *loop, struct cio__remote *r) {
  push(loop, r);
}

int cio__loop_send(cio_loop *loop, struct cio__remote *r) {
  atomic_fetch_add(&loop->ts_users, 1);
  if (atomic_load(&loop->ts_closed)) {
    atomic_fetch_sub(&loop->ts_users, 1);
    return CIO_ESHUTDOWN;
  }
  push(loop, r);
  atomic_fetch_sub_explicit(&loop->ts_users, 1, memory_order_release);
  return 0;
}

/* The inbox, oldest first, emptied. */
static struct cio__remote *take_all(cio_loop *loop) {
  struct cio__remote *r = atomic_exchange(&loop->inbox, NULL), *fifo = NULL;
  while (r != NULL) {
    struct cio__remote *next = r->next;
    r->next = fifo;
    fifo = r;
    r = next;
  }
  return fifo;
}

bool cio__threadsafe_take(cio_loop *loop) {
  cio__interrupt_check(loop); /* a SIGINT is polled with the inbox too */
  struct cio__remote *r = take_all(loop);
  if (r == NULL)
    return false;
  for (; r != NULL; r = r->next) {
    cio__list_init(&r->cb.node);
    cio__ready_push(loop, &r->cb);
  }
  return true;
}

void cio__threadsafe_close(cio_loop *loop) {
  atomic_store(&loop->ts_closed, true);
  /* Senders already past their check of ts_closed: let them finish. */
  while (atomic_load(&loop->ts_users) > 0)
    uv_sleep(0);
  struct cio__remote *r = take_all(loop);
  while (r != NULL) { /* not run, as asyncio's close() drops _ready */
    struct cio__remote *next = r->next;
    r->drop(r);
    r = next;
  }
}

/* ---- spinning ------------------------------------------------------------ */

bool cio__spin_pause(uint64_t start_ns, uint64_t deadline_ns) {
  uint64_t now = uv_hrtime();
  /* Past the first few microseconds (where short work comes back), give
   * the CPU up at each pause: on a busy machine the thread spun for may
   * be waiting for this very CPU, and a spinner that never yields makes
   * it wait a whole time slice. */
  if (now - start_ns > SPIN_ALONE_NS)
    sched_yield();
  return now >= deadline_ns;
}

void cio__threadsafe_spin(cio_loop *loop) {
  if (!loop->spin_hint || loop->external_refs == 0 ||
      !cio__list_empty(&loop->ready))
    return;
  atomic_store(&loop->ts_spinning, true);
  uint64_t start = uv_hrtime(), deadline = start + SPIN_NS;
  bool arrived = false;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(&loop->inbox, memory_order_relaxed) != NULL) {
      arrived = true;
      break;
    }
    cio__cpu_relax();
    if (i % 64 == 0 && cio__spin_pause(start, deadline))
      break;
  }
  atomic_store(&loop->ts_spinning, false);
  arrived = cio__threadsafe_take(loop) || arrived;
  /* Work came back while we watched: more will, keep spinning for it. */
  loop->spin_hint = arrived;
}

/* ---- call_soon_threadsafe -------------------------------------------------
 * Items are plain malloc'd: the loop's counting allocator belongs to the
 * loop thread. */

struct ts_item {
  struct cio__remote r;
  cio_callback_fn fn;
  cio_callback_fn drop; /* called instead of fn if the loop closes first */
  void *arg;
  struct cio__ctx *ctx; /* the sending thread's context */
};

static void ts_item_free(struct ts_item *it) {
  cio__ctx_release(it->ctx);
  free(it);
}

static void ts_item_run(struct cio__remote *r) {
  struct ts_item *it = cio__container_of(r, struct ts_item, r);
  cio_callback_fn fn = it->fn;
  void *arg = it->arg;
  struct cio__ctx *saved = cio__ctx_enter(it->ctx);
  ts_item_free(it);
  fn(arg);
  cio__ctx_leave(saved);
}

static void ts_item_drop(struct cio__remote *r) {
  struct ts_item *it = cio__container_of(r, struct ts_item, r);
  if (it->drop != NULL)
    it->drop(it->arg);
  ts_item_free(it);
}

static struct ts_item *ts_item_new(cio_callback_fn cb, cio_callback_fn drop,
                                   void *arg) {
  struct ts_item *it = malloc(sizeof *it);
  if (it != NULL)
    *it = (struct ts_item){
        .r = {.run = ts_item_run, .drop = ts_item_drop},
        .fn = cb,
        .drop = drop,
        .arg = arg,
        .ctx = cio__ctx_retain(cio__ctx_current()),
    };
  return it;
}

int cio__loop_call_soon_threadsafe_or_drop(cio_loop *loop, cio_callback_fn cb,
                                           cio_callback_fn drop, void *arg) {
  if (loop == NULL || cb == NULL)
    return CIO_EINVAL;
  struct ts_item *it = ts_item_new(cb, drop, arg);
  if (it == NULL)
    return CIO_ENOMEM;
  int rc = cio__loop_send(loop, &it->r);
  if (rc < 0)
    ts_item_free(it);
  return rc;
}

int cio_loop_call_soon_threadsafe(cio_loop *loop, cio_callback_fn cb,
                                  void *arg) {
  if (loop != NULL && loop == cio__loop_current() && !loop->closing) {
    /* The loop's own thread: straight into the ready queue, behind
     * whatever other threads sent before (kept FIFO), as call_soon. */
    if (cb == NULL)
      return CIO_EINVAL;
    struct ts_item *it = ts_item_new(cb, NULL, arg);
    if (it == NULL)
      return CIO_ENOMEM;
    cio__threadsafe_poll(loop);
    it->r.cb.run = remote_run;
    cio__list_init(&it->r.cb.node);
    cio__ready_push(loop, &it->r.cb);
    return 0;
  }
  return cio__loop_call_soon_threadsafe_or_drop(loop, cb, NULL, arg);
}

/* ---- outside work keeps the loop alive ----------------------------------- */

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
