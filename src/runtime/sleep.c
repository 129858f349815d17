/* cio_sleep: park the task on a timer that lives on its own stack.
 * A delay <= 0 is a bare yield (one batch), as asyncio.sleep(0) is. */
#include <math.h>

#include "internal.h"

struct sleeper {
  struct cio__timer timer;
  struct cio__wait wait;
};

static void sleeper_fire(struct cio__callback *cb) {
  struct sleeper *s = cio__container_of(cb, struct sleeper, timer.cb);
  /* asyncio's timer completes a future whose callback wakes the task on
   * the following batch; waking through the ready queue keeps that.  A
   * cancellation in the same batch may have woken the task first. */
  cio__wait_try_wake(&s->wait, 0);
}

static void sleep_describe(cio_loop *loop, const void *obj,
                           struct cio__text *out) {
  const struct sleeper *s = obj;
  int64_t left = s->timer.when_ns - cio__now_ns(loop);
  cio__text_printf(out, "until %.3f s (%s%.3f s%s)",
                   (double)s->timer.when_ns / 1e9, left < 0 ? "due " : "",
                   (double)(left < 0 ? -left : left) / 1e9,
                   left < 0 ? " ago" : " from now");
}

static const struct cio__wait_kind sleep_kind = {.what = "sleep",
                                                 .describe = sleep_describe};

#if defined(__GNUC__)
#define CIO__NOINLINE __attribute__((noinline))
#else
#define CIO__NOINLINE
#endif

/* Out of line: sleep(0), a yield, is on the hot path of every switch
 * benchmark and must not pay for this frame. */
CIO__NOINLINE static int sleep_for(cio_task *self, double seconds) {
  int rc;
  cio_loop *loop = self->fut.loop;
  struct sleeper s = {0};
  cio__wait_init(&s.wait, self, 0);
  cio__wait_about(&s.wait, &sleep_kind, &s);
  cio__timer_start(loop, &s.timer, cio__deadline_after(loop, seconds),
                   sleeper_fire);
  if (self->is_small)
    loop->small_timer = &s.timer; /* moved along with its frames */
  rc = cio__wait_park(&s.wait);
  if (self->is_small)
    loop->small_timer = NULL;
  cio__timer_stop(loop, &s.timer);
  return rc;
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
  return sleep_for(self, seconds);
}
