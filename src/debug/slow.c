/* Debug mode's slow-step report, as asyncio's "Executing <Task ...> took
 * 0.153 seconds": every entry the scheduler pops (a task step or a
 * callback) ends the step before it, so the scheduler calls
 * cio__debug_step at each pop (and with NULL when a round ends), only in
 * debug mode.  A step is timed from its pop to the next; one over the
 * threshold is reported with what ran and where a task had resumed: the
 * first frame of its own code on its stack when it was popped (walked
 * then, symbolized only for a report). */
#include <inttypes.h>

#include "debug/debug.h"

static const void *callback_code(struct cio__callback *cb) {
  const void *code = cio__handle_code(cb);
  return code != NULL ? code : CIO__CODE_ADDR(cb->run);
}

/* Note what `cb` is and where it resumes. */
static void begin(cio_loop *loop, struct cio__callback *cb) {
  struct cio__loop_debug *d = &loop->dbg;
  d->step_nat = 0;
  d->step_is_task = cb->run == NULL;
  d->step_started = false;
  if (!d->step_is_task) {
    d->step_code = callback_code(cb);
    return;
  }
  cio_task *t = cio__container_of(cb, cio_task, ready);
  d->step_id = t->id;
  snprintf(d->step_name, sizeof d->step_name, "%s", cio_task_get_name(t));
  if (t->state == CIO__TASK_NEW) {
    d->step_code = CIO__CODE_ADDR(t->fn);
  } else if (t->is_small) {
    d->step_started = true; /* its frames may be copied out: not walked */
  } else {
    d->step_started = true;
    d->step_nat = cio__fiber_backtrace(&t->fiber, d->step_at,
                                       sizeof d->step_at / sizeof(void *));
  }
}

static void report(cio_loop *loop, int64_t ns) {
  struct cio__loop_debug *d = &loop->dbg;
  struct cio__text t;
  cio__text_init(&t);
  cio__text_put(&t, "Executing ");
  if (d->step_is_task) {
    cio__text_printf(&t, "task '%s' (Task-%" PRIu64 ")", d->step_name,
                     d->step_id);
  } else {
    cio__text_put(&t, "callback ");
    cio__text_code(&t, d->step_code);
  }
  cio__text_printf(&t,
                   " took %.3f seconds (debug mode reports steps over "
                   "%.3f s)",
                   (double)ns / 1e9, (double)d->slow_ns / 1e9);
  if (d->step_is_task && !d->step_started) {
    cio__text_put(&t, "; it started in ");
    cio__text_code(&t, d->step_code);
  } else if (d->step_is_task) {
    struct cio__frame frames[sizeof d->step_at / sizeof(void *)];
    cio__frames_from_pcs(frames, d->step_at, d->step_nat);
    size_t i = cio__frames_first_user(frames, d->step_nat);
    if (i < d->step_nat) {
      cio__text_put(&t, "; it resumed at ");
      cio__frame_put(&t, &frames[i]);
      if (i > 0) {
        cio__text_put(&t, " after ");
        cio__text_put(&t, frames[i - 1].func[0] ? frames[i - 1].func : "?");
      }
    }
  }
  cio__debug_report(loop, &(cio_exception_context){.source = "debug mode"},
                    cio__text_str(&t));
  cio__text_free(&t);
}

void cio__debug_step(cio_loop *loop, struct cio__callback *next) {
  struct cio__loop_debug *d = &loop->dbg;
  int64_t now = (int64_t)uv_hrtime();
  if (d->step != NULL && now - d->step_ns >= d->slow_ns)
    report(loop, now - d->step_ns);
  d->step = next;
  if (next != NULL)
    begin(loop, next);
  /* Reporting took time: the next step starts now. */
  d->step_ns = (int64_t)uv_hrtime();
}
