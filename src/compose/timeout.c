/* Timeout scopes and wait_for, after CPython's timeouts.py and tasks.py.
 *
 *   CREATED -> ENTERED    cio_timeout_enter()
 *   ENTERED -> EXPIRING   the deadline fired: the task was cancelled
 *   ENTERED -> EXITED     cio_timeout_exit() before the deadline
 *   EXPIRING -> EXPIRED   cio_timeout_exit()
 *
 * (1) A scope remembers the task's cancelling() count at entry.  At exit it
 *     withdraws its own request (uncancel); only when the count is back at
 *     or below that snapshot was the cancellation its own, and only then
 *     does CIO_ECANCELED become CIO_ETIMEDOUT.  So a cancellation from
 *     outside, or an outer scope that fired too, passes through.
 * (2) The timer is in the heap, in the ready queue (due), or nowhere.
 */
#include <assert.h>

#include "internal.h"

enum { CREATED, ENTERED, EXPIRING, EXPIRED, EXITED };

struct scope {
  struct cio__timer timer;
  struct cio__scope_guard guard; /* in task->scopes while entered */
  cio_task *task;
  int64_t when_ns;
  int cancelling;
  uint8_t state;
  bool has_deadline; /* when_ns is set (it stays set after expiry) */
};

static_assert(sizeof(struct scope) <= sizeof(cio_timeout),
              "cio_timeout is too small for its private state");

static struct scope *scope_of(const cio_timeout *to) {
  return (struct scope *)(void *)to;
}

/* The task returned without cio_timeout_exit: stop the timer, which
 * points into its stack. */
static void abandon(struct cio__scope_guard *g) {
  struct scope *s = cio__container_of(g, struct scope, guard);
  cio__timer_stop(s->task->fut.loop, &s->timer);
  s->state = EXITED;
}

static void on_deadline(struct cio__callback *cb) {
  struct scope *s = cio__container_of(cb, struct scope, timer.cb);
  s->state = EXPIRING;
  cio_task_cancel(s->task);
}

/* Arm the timer for `when_ns` (CIO__NS_NEVER: no deadline).  A deadline
 * that has passed fires on the next batch, like asyncio's call_soon there. */
static void arm(struct scope *s, int64_t when_ns) {
  cio_loop *loop = s->task->fut.loop;
  cio__timer_stop(loop, &s->timer);
  s->when_ns = when_ns;
  s->has_deadline = when_ns != CIO__NS_NEVER;
  if (!s->has_deadline)
    return;
  if (when_ns <= cio__now_ns(loop)) {
    s->timer.cb.run = on_deadline;
    cio__ready_push(loop, &s->timer.cb);
    return;
  }
  cio__timer_start(loop, &s->timer, when_ns, on_deadline);
}

static int64_t when_to_ns(double when) {
  return when == CIO_NO_TIMEOUT ? CIO__NS_NEVER : cio__seconds_to_ns(when);
}

static int enter(cio_timeout *to, bool relative, double t) {
  if (to == NULL || isnan(t))
    return CIO_EINVAL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct scope *s = scope_of(to);
  *s = (struct scope){
      .task = self, .state = ENTERED, .cancelling = cio_task_cancelling(self)};
  cio__list_init(&s->timer.cb.node);
  s->guard.what = "a timeout scope";
  s->guard.abandon = abandon;
  s->guard.timer = &s->timer;
  cio__task_scope_enter(self, &s->guard);
  /* A delay in the past is a deadline in the past, as asyncio's
   * loop.time() + delay: timeout(-11).when() is now - 11. */
  arm(s, t == CIO_NO_TIMEOUT ? CIO__NS_NEVER
       : relative         ? cio__deadline_after(self->fut.loop, t)
                          : cio__seconds_to_ns(t));
  return 0;
}

int cio_timeout_enter_at(cio_timeout *to, double when) {
  return enter(to, false, when);
}

int cio_timeout_enter(cio_timeout *to, double delay) {
  return enter(to, true, delay);
}

int cio_timeout_exit(cio_timeout *to, int rc) {
  if (to == NULL)
    return CIO_EINVAL;
  struct scope *s = scope_of(to);
  /* A zeroed (never entered) or already exited scope. */
  if (s->task == NULL || (s->state != ENTERED && s->state != EXPIRING))
    return CIO_EINVAL;
  if (s->task != cio_current_task())
    return CIO_EPERM;
  cio__timer_stop(s->task->fut.loop, &s->timer);
  cio__task_scope_leave(&s->guard);
  if (s->state == EXPIRING) {
    s->state = EXPIRED;
    if (cio_task_uncancel(s->task) <= s->cancelling && rc == CIO_ECANCELED)
      return CIO_ETIMEDOUT;
  } else if (s->state == ENTERED) {
    s->state = EXITED;
  }
  return rc;
}

int cio_timeout_reschedule(cio_timeout *to, double when) {
  if (to == NULL || isnan(when))
    return CIO_EINVAL;
  struct scope *s = scope_of(to);
  if (s->task == NULL || s->state != ENTERED)
    return CIO_EINVAL;
  arm(s, when_to_ns(when));
  return 0;
}

double cio_timeout_when(const cio_timeout *to) {
  const struct scope *s = scope_of(to);
  if (to == NULL || !s->has_deadline)
    return CIO_NO_TIMEOUT;
  return (double)s->when_ns / 1e9;
}

bool cio_timeout_expired(const cio_timeout *to) {
  const struct scope *s = scope_of(to);
  return to != NULL && (s->state == EXPIRING || s->state == EXPIRED);
}

/* ---- wait_for -------------------------------------------------------- */

/* timeout <= 0: cancel `f` and wait until it is done, without letting a
 * cancellation of the caller disturb `f` further (_cancel_and_wait). */
static int wait_for_now(cio_future *f, void **result) {
  cio_future_cancel(f); /* a plain future is done at once; a task later */
  int rc;
  if (f->state == CIO__FUT_PENDING && (rc = cio__future_wait(f, false)) < 0)
    return rc;
  rc = cio__future_outcome(f, result);
  return rc == CIO_ECANCELED ? CIO_ETIMEDOUT : rc;
}

int cio_wait_for(cio_future *f, double timeout, void **result) {
  if (result != NULL)
    *result = NULL;
  if (f == NULL || isnan(timeout))
    return CIO_EINVAL;
  if (timeout == CIO_NO_TIMEOUT)
    return cio_await(f, result);
  int rc = cio__await_check(f);
  if (rc < 0)
    return rc;
  if (timeout <= 0) {
    if (f->state != CIO__FUT_PENDING)
      return cio__future_outcome(f, result);
    return wait_for_now(f, result);
  }
  cio_timeout to;
  if ((rc = cio_timeout_enter(&to, timeout)) < 0)
    return rc;
  rc = cio_await(f, result);
  return cio_timeout_exit(&to, rc);
}
