/* The loop clock: nanoseconds, monotonic.  Real time comes from
 * uv_hrtime(); a virtual clock starts at 0 and only moves when the
 * scheduler jumps it to the next deadline (sched.c). */
#include <math.h>

#include "internal.h"

int64_t cio__now_ns(const cio_loop *loop) {
  return loop->virtual_clock ? loop->virtual_ns : (int64_t)uv_hrtime();
}

/* ~570 years: beyond any deadline we can reach, and far from overflow
 * when added to a clock reading. */
#define HORIZON_S 1.8e10

int64_t cio__seconds_to_ns(double seconds) {
  if (isnan(seconds))
    return 0;
  if (seconds >= HORIZON_S)
    return INT64_MAX / 4;
  if (seconds <= -HORIZON_S)
    return -(INT64_MAX / 4);
  return (int64_t)llround(seconds * 1e9);
}

int64_t cio__deadline_after(const cio_loop *loop, double delay) {
  return cio__now_ns(loop) + cio__seconds_to_ns(delay);
}

double cio_loop_time(const cio_loop *loop) {
  if (loop == NULL)
    loop = cio__loop_current();
  if (loop == NULL)
    return 0.0;
  return (double)cio__now_ns(loop) / 1e9;
}

double cio_time(void) {
  return cio_loop_time(NULL);
}
