/* cio_sleep: park the task on a timer that lives on its own stack.
 * A delay <= 0 is a bare yield (one batch), as asyncio.sleep(0) is. */
#include <math.h>

#include "internal.h"

struct sleeper {
  struct cio__timer timer;
  cio_task *task;
};

static void sleeper_fire(struct cio__callback *cb) {
  struct sleeper *s = cio__container_of(cb, struct sleeper, timer.cb);
  /* asyncio's timer completes a future whose callback wakes the task on
   * the following batch; waking through the ready queue keeps that. */
  cio__task_wake(s->task, 0);
}

static bool sleeper_cancel(cio_task *t, void *ctx) {
  struct sleeper *s = ctx;
  cio__timer_stop(t->fut.loop, &s->timer);
  cio__task_wake(t, CIO_ECANCELED);
  return true;
}

int cio_sleep(double seconds) {
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  if (isnan(seconds))
    return CIO_EINVAL;
  if (seconds <= 0)
    return cio__task_yield(self);
  cio_loop *loop = self->fut.loop;
  struct sleeper s = {.task = self};
  cio__timer_start(loop, &s.timer, cio__deadline_after(loop, seconds),
                   sleeper_fire);
  rc = cio__task_park(self, sleeper_cancel, &s);
  cio__timer_stop(loop, &s.timer);
  return rc;
}
