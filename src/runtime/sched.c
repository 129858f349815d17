/* The scheduler: runs the ready queue in asyncio's batches.
 *
 * After each libuv poll, the check handle starts a *round* on the loop's
 * own stack (cio__sched_round).  A round runs batches back to back:
 * a batch is everything queued when it started, closed by loop->marker.
 * Between batches, due timers join the queue.  A round ends when the queue
 * is empty, at the first batch boundary after CIO__STEPS_PER_POLL entries,
 * or when the loop is asked to stop (run_until_complete asks in the batch
 * after its task is done, as asyncio's _run_until_complete_cb); libuv then
 * polls again (without blocking while anything is ready:
 * the idle handle).
 *
 * Tasks do not return to the loop's stack between each other.  A task
 * that suspends pops the next entry itself (switch_out): a task
 * is switched to directly; a plain callback is handed to the loop's stack
 * (loop->handoff), which runs it.  A finished task does the same
 * (cio__sched_exit), leaving itself in loop->dead: whatever runs next, a
 * task or the loop's stack, releases its stack and the loop's reference
 * first (bury_dead), since a stack cannot be released while it runs.
 * Small tasks (small.c) switch through the loop's stack both ways, since
 * moving frames on and off the shared stack cannot run on it.
 *
 * Invariants
 * (1) loop->marker is in the ready queue exactly while a batch is running.
 * (2) Once the round is over (pop_gate has CIO__POP_ROUND_OVER), nothing
 *     more is popped until the next round.
 * (3) While the loop is idle, the idle handle is active iff work is ready
 *     (or a virtual clock has a timer to jump to); the uv timer is armed
 *     for the earliest real deadline.
 */
#include "internal.h"

static void marker_run(struct cio__callback *self) {
  (void)self;
  CIO_ASSERT(!"the batch marker is never run");
}

static void on_idle(uv_idle_t *h) {
  (void)h;
}

/* An active idle handle makes libuv poll without blocking. */
static void keep_polling_nonblocking(cio_loop *loop) {
  if (!uv_is_active((uv_handle_t *)&loop->idle))
    uv_idle_start(&loop->idle, on_idle);
}

/* Something was queued outside a round (a libuv callback before the
 * poll): make sure the poll will not block. */
void cio__ready_push_outside_round(cio_loop *loop) {
  if (loop->uv_handles_open > 0)
    keep_polling_nonblocking(loop);
}

/* Close the batch that starts now: everything queued so far. */
static void push_marker(cio_loop *loop) {
  cio__list_push_back(&loop->ready, &loop->marker.node);
}

/* Start the next batch, if this round may run one more. */
static bool next_batch(cio_loop *loop) {
  if (loop->steps >= CIO__STEPS_PER_POLL || loop->stopping)
    return false;
  cio__threadsafe_poll(loop);
  if (cio__timers_any(loop))
    cio__timers_collect(loop);
  if (cio__list_empty(&loop->ready))
    return false;
  push_marker(loop);
  return true;
}

/* The next entry of the queue, or NULL (and the round is over): sched_pop
 * past its common case (the batch's end, an empty queue). */
static struct cio__callback *pop_entry(cio_loop *loop) {
  for (;;) {
    struct cio__list *n = cio__list_pop_front(&loop->ready);
    if (n == &loop->marker.node) {
      if (next_batch(loop))
        continue;
      n = NULL;
    }
    if (n == NULL) {
      loop->pop_gate |= CIO__POP_ROUND_OVER;
      return NULL;
    }
    loop->steps++;
    return cio__container_of(n, struct cio__callback, node);
  }
}

/* A pop through the gate: nothing once the round is over, else an entry
 * that (in debug mode) ends the step before it. */
static inline struct cio__callback *pop_gated(cio_loop *loop) {
  if (loop->pop_gate & CIO__POP_ROUND_OVER)
    return NULL;
  struct cio__callback *cb = pop_entry(loop);
  if (loop->pop_gate & CIO__POP_DEBUG)
    cio__debug_step(loop, cb);
  return cb;
}

/* The next entry of this round, or NULL when the round is over.  Inline:
 * every switch pops one, and most pops find an entry of the batch.  One
 * test for both the end of the round and debug mode (the gate). */
static inline struct cio__callback *sched_pop(cio_loop *loop) {
  if (CIO__UNLIKELY(loop->pop_gate))
    return pop_gated(loop);
  struct cio__list *n = loop->ready.next;
  if (n == &loop->marker.node || n == &loop->ready)
    return pop_entry(loop);
  cio__list_remove(n);
  loop->steps++;
  return cio__container_of(n, struct cio__callback, node);
}

void cio__sched_bury_dead(cio_loop *loop) {
  cio_task *dead = loop->dead;
  loop->dead = NULL;
  cio__task_bury(loop, dead);
}

/* Run `cb` on the loop's stack, then whatever callbacks tasks hand back. */
static void dispatch(cio_loop *loop, struct cio__callback *cb) {
  while (cb != NULL) {
    if (cb->run != NULL) {
      cb->run(cb);
    } else {
      cio__task_resume(loop, cio__container_of(cb, cio_task, ready));
      if (loop->shared_owner != NULL)
        cio__small_left(loop);
      if (loop->dead != NULL)
        cio__sched_bury_dead(loop);
    }
    cb = loop->handoff;
    loop->handoff = NULL;
  }
}

void cio__sched_round(cio_loop *loop) {
  cio__stall_beat(loop); /* odd: the watchdog sees a round running */
  loop->in_round = true;
  loop->pop_gate &= (uint8_t)~CIO__POP_ROUND_OVER;
  loop->steps = 0;
  if (loop->virtual_clock && cio__list_empty(&loop->ready)) {
    /* Nothing can run before the next deadline: jump to it (autojump). */
    struct cio__timer *t = cio__timers_first(loop);
    if (t != NULL) {
      if (t->when_ns > loop->virtual_ns)
        loop->virtual_ns = t->when_ns;
    }
  }
  cio__threadsafe_poll(loop);
  cio__timers_collect(loop);
  if (!cio__list_empty(&loop->ready)) {
    push_marker(loop);
    struct cio__callback *cb;
    while ((cb = sched_pop(loop)) != NULL)
      dispatch(loop, cb);
  }
  cio__list_remove(&loop->marker.node);
  loop->pop_gate |= CIO__POP_ROUND_OVER;
  loop->in_round = false;
  cio__sched_update_handles(loop);
  cio__stall_beat(loop);
}

/* Where the task `self`, giving up the CPU, goes: the fiber of the next
 * task of the round, switched to directly, or the loop's stack, with the
 * next entry (a callback, or NULL) in loop->handoff.  A task that must
 * start on the loop's stack (cancelled before it began, or small) goes
 * there as a handoff too, and so does everything after a small task. */
static inline cio__fiber *next_fiber(cio_loop *loop, cio_task *self,
                                     struct cio__callback *cb, bool *fresh) {
  *fresh = false;
  if (cb != NULL && cb->run == NULL && !self->is_small) {
    cio_task *next = cio__container_of(cb, cio_task, ready);
    if (!(next->state == CIO__TASK_NEW && next->must_cancel) &&
        !next->is_small) {
      if (next->state == CIO__TASK_NEW) {
        cio__task_start(next);
        *fresh = true;
      }
      next->state = CIO__TASK_RUNNING;
      return &next->fiber;
    }
  }
  loop->handoff = cb;
  return &loop->native;
}

/* The running task `self` gives up the CPU (it is parked, or queued again
 * by a yield).  Returns when `self` is resumed. */
static inline void switch_out(cio_loop *loop, cio_task *self) {
  struct cio__callback *cb = sched_pop(loop);
  if (cb == &self->ready) {
    /* Alone in the queue: no switch needed. */
    self->state = CIO__TASK_RUNNING;
    return;
  }
  /* loop->current stays `self` until the switch; whoever resumes sets
   * it. */
  bool fresh;
  cio__fiber *to = next_fiber(loop, self, cb, &fresh);
  if (fresh)
    cio__fiber_start(&self->fiber, to);
  else
    cio__fiber_switch(&self->fiber, to);
  loop->current = self;
  if (loop->dead != NULL)
    cio__sched_bury_dead(loop); /* it switched here as it ended */
}

/* ---- parking and waking tasks -------------------------------------- */

/* On resuming: a cancellation still pending is delivered now.  The
 * CIO_ECANCELED a task receives from its own cancel request carries the
 * request's message (CancelledError(msg)). */
static int deliver_cancel(cio_task *t, int rc) {
  if (t->must_cancel) {
    t->must_cancel = false;
    rc = CIO_ECANCELED;
  }
  if (rc == CIO_ECANCELED)
    cio__task_received_cancel(t, t->cancel_request);
  return rc;
}

int cio__task_park_on(cio_task *t, struct cio__wait *w) {
  cio_loop *loop = t->fut.loop;
  CIO_ASSERT(t == loop->current);
  if (cio__inject_armed())
    cio__inject_park(t, w); /* tests: a cancellation arriving here */
  t->state = CIO__TASK_WAITING;
  t->wait = w;
  if (t->is_small)
    loop->small_wait = w; /* moved along with its frames (small.c) */
  /* A cancellation requested while running is aimed at the new wait at
   * once, as CPython's __step does with _must_cancel. */
  if (t->must_cancel && cio__wait_cancel(w))
    t->must_cancel = false;
  switch_out(loop, t);
  if (t->is_small)
    loop->small_wait = NULL;
  return deliver_cancel(t, w->result);
}

void cio__task_ready(cio_task *t) {
  CIO_ASSERT(t->state == CIO__TASK_WAITING);
  struct cio__wait *w = t->wait;
  t->state = CIO__TASK_READY;
  t->wait = NULL;
  cio__ready_push(t->fut.loop, &t->ready);
  if (cio__inject_armed())
    cio__inject_ready(t, w); /* tests: a cancellation racing the wake */
}

int cio__task_yield(cio_task *t) {
  cio_loop *loop = t->fut.loop;
  if (cio__inject_armed())
    cio__inject_park(t, NULL);
  cio__task_park_prepare(t);
  if (t->is_small)
    loop->small_wait = NULL, loop->small_timer = NULL; /* nothing moves */
  t->state = CIO__TASK_READY;
  cio__ready_push(loop, &t->ready);
  switch_out(loop, t);
  return deliver_cancel(t, 0);
}

_Noreturn void cio__sched_exit(cio_loop *loop, cio_task *self) {
  loop->dead = self;
  /* A small task's frames are forgotten on the loop's stack. */
  struct cio__callback *cb = self->is_small ? NULL : sched_pop(loop);
  bool fresh;
  cio__fiber *to = next_fiber(loop, self, cb, &fresh);
  if (fresh)
    cio__fiber_exit_to_start(&self->fiber, to);
  cio__fiber_exit_to(&self->fiber, to);
}

static void on_timer(uv_timer_t *h) {
  cio_loop *loop = h->data;
  loop->armed_ns = CIO__NS_NEVER;
  /* Something is due: this iteration's poll must not block.  The due
   * timers join the queue in the check handle, after the poll's I/O
   * callbacks, in asyncio's order (I/O first, then timers). */
  keep_polling_nonblocking(loop);
}

static void arm_timer(cio_loop *loop) {
  struct cio__timer *min = cio__timers_first(loop);
  if (min == NULL) {
    if (loop->armed_ns != CIO__NS_NEVER)
      uv_timer_stop(&loop->timer);
    loop->armed_ns = CIO__NS_NEVER;
    return;
  }
  int64_t when = min->when_ns;
  if (when == loop->armed_ns)
    return;
  int64_t now = (int64_t)uv_hrtime();
  uint64_t ms = when > now ? (uint64_t)(when - now + 999999) / 1000000 : 0;
  /* libuv measures the timeout from its cached time, which may lag. */
  uv_update_time(loop->uv);
  uv_timer_start(&loop->timer, on_timer, ms, 0);
  loop->armed_ns = when;
}

void cio__sched_update_handles(cio_loop *loop) {
  if (loop->in_round || loop->uv_handles_open == 0)
    return;
  bool work = !cio__list_empty(&loop->ready) ||
              (loop->virtual_clock && cio__timers_any(loop));
  if (work)
    keep_polling_nonblocking(loop);
  else if (uv_is_active((uv_handle_t *)&loop->idle))
    uv_idle_stop(&loop->idle);
  if (!loop->virtual_clock)
    arm_timer(loop);
}

static void on_check(uv_check_t *h) {
  cio_loop *loop = h->data;
  cio__sched_round(loop);
  /* About to wait in the poll: outside work due back soon may be worth a
   * short spin first (threadsafe.c). */
  if (!loop->stopping)
    cio__threadsafe_spin(loop);
}

int cio__sched_open(cio_loop *loop) {
  cio__list_init(&loop->ready);
  cio__list_init(&loop->marker.node);
  loop->marker.run = marker_run;
  loop->armed_ns = CIO__NS_NEVER;
  loop->pop_gate |= CIO__POP_ROUND_OVER;
  uv_check_init(loop->uv, &loop->check);
  uv_idle_init(loop->uv, &loop->idle);
  uv_timer_init(loop->uv, &loop->timer);
  loop->check.data = loop->idle.data = loop->timer.data = loop;
  uv_check_start(&loop->check, on_check);
  /* The check handle runs every iteration but must not by itself keep
   * the libuv loop alive: only ready work, timers and I/O do. */
  uv_unref((uv_handle_t *)&loop->check);
  loop->uv_handles_open = 3;
  return 0;
}
