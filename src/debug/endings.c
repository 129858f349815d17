/* Reports about how things end: tasks still pending when the loop closes
 * or deadlocks, objects left open, errors nobody read, and cio_run's
 * shutdown waiting on a task that ignores its cancellation.  Each names
 * the task with what it waits on and where its code is, and in debug mode
 * where each object was created. */
#include <inttypes.h>

#include "debug/debug.h"

/* "task 'x' (Task-3) waiting on ... at f (app.c:9), created at ...". */
static void put_task_line(cio_loop *loop, cio_task *t, struct cio__text *out) {
  cio__text_printf(out, "  task '%s' (Task-%" PRIu64 "), ",
                   cio_task_get_name(t), t->id);
  cio__task_put_where(loop, t, out);
  if (loop->dbg.on) {
    cio__text_put(out, ", ");
    if (!cio__registry_put_site(loop, t, out))
      cio__text_put(out, "created at an unknown place");
  }
  cio__text_put(out, "\n");
}

void cio__report_pending(cio_loop *loop, const char *headline) {
  struct cio__text t;
  cio__text_init(&t);
  cio__text_printf(&t, "%s:\n", headline);
  cio__list_foreach(it, &loop->tasks)
      put_task_line(loop, cio__container_of(it, cio_task, alive), &t);
  cio__report(loop, CIO__REPORT_PENDING, cio__text_str(&t), NULL, NULL);
  cio__text_free(&t);
}

void cio__report_left_open(cio_loop *loop, const char *what) {
  struct cio__text t;
  cio__text_init(&t);
  cio__text_printf(&t,
                   "cio_loop_close: still referenced or open: %s (release "
                   "tasks and futures, close the rest, first)",
                   what);
  if (loop->dbg.on) {
    cio__text_put(&t, ":\n");
    if (cio__registry_list(loop, &t) == 0)
      cio__text_put(&t, "  (none of them was registered)\n");
  } else {
    cio__text_put(&t, "; run with CIO_DEBUG=1 to list each one with where "
                      "it was created");
  }
  cio__report(loop, CIO__REPORT_LEFT_OPEN, cio__text_str(&t), NULL, NULL);
  cio__text_free(&t);
}

void cio__report_untracked_left(cio_loop *loop) {
  if (!loop->dbg.on)
    return;
  struct cio__text list;
  cio__text_init(&list);
  if (cio__registry_list(loop, &list) > 0) {
    struct cio__text t;
    cio__text_init(&t);
    cio__text_printf(&t, "cio_loop_close: not closed:\n%s",
                     cio__text_str(&list));
    cio__report(loop, CIO__REPORT_LEFT_OPEN, cio__text_str(&t), NULL, NULL);
    cio__text_free(&t);
  }
  cio__text_free(&list);
}

void cio__report_unretrieved(struct cio_future *f, const char *what,
                             const char *name) {
  cio_loop *loop = f->loop;
  struct cio__text t;
  cio__text_init(&t);
  cio__text_printf(&t, "%s exception was never retrieved", what);
  if (name != NULL)
    cio__text_printf(&t, ": '%s'", name);
  cio__text_printf(&t, ": %s (%s)", cio_err_name(f->code),
                   cio_strerror(f->code));
  if (loop->dbg.on) {
    cio__text_put(&t, "; ");
    if (!cio__registry_put_site(loop, f, &t))
      cio__text_put(&t, "created at an unknown place");
  }
  cio__report(loop, CIO__REPORT_UNRETRIEVED, cio__text_str(&t),
              f->is_task ? cio_future_task(f) : NULL, f);
  cio__text_free(&t);
}

/* ---- cio_run's shutdown ------------------------------------------------ */

struct cio__shutdown_watch {
  uv_timer_t timer;
  cio_loop *loop;
};

static void watch_closed(uv_handle_t *h) {
  struct cio__shutdown_watch *w = h->data;
  w->loop->uv_handles_open--;
  free(w);
}

static void on_shutdown_slow(uv_timer_t *h) {
  struct cio__shutdown_watch *w = h->data;
  cio_loop *loop = w->loop;
  if (loop->live_tasks == 0)
    return;
  struct cio__text t;
  cio__text_init(&t);
  cio__text_printf(&t,
                   "cio_run: %zu task%s still running %.1f s after the "
                   "shutdown cancelled %s (%s its cancellation); the "
                   "shutdown waits for %s",
                   loop->live_tasks, loop->live_tasks == 1 ? " is" : "s are",
                   (double)loop->dbg.shutdown_ns / 1e9,
                   loop->live_tasks == 1 ? "it" : "them",
                   loop->live_tasks == 1 ? "it ignores" : "they ignore",
                   loop->live_tasks == 1 ? "it" : "them");
  cio__report_pending(loop, cio__text_str(&t));
  cio__text_free(&t);
}

void cio__shutdown_watch_start(cio_loop *loop) {
  if (loop->dbg.on && loop->live_tasks > 0)
    cio__report_pending(loop, "shutdown: these tasks were still running "
                              "when the main task ended; cancelling them");
  if (loop->dbg.shutdown_ns == 0 || loop->dbg.shutdown_watch != NULL)
    return;
  struct cio__shutdown_watch *w = calloc(1, sizeof *w);
  if (w == NULL)
    return;
  w->loop = loop;
  uv_timer_init(loop->uv, &w->timer);
  w->timer.data = w;
  loop->uv_handles_open++;
  uv_unref((uv_handle_t *)&w->timer);
  uint64_t ms = (uint64_t)(loop->dbg.shutdown_ns / 1000000);
  uv_update_time(loop->uv);
  uv_timer_start(&w->timer, on_shutdown_slow, ms, 0);
  loop->dbg.shutdown_watch = w;
}

void cio__shutdown_watch_stop(cio_loop *loop) {
  struct cio__shutdown_watch *w = loop->dbg.shutdown_watch;
  if (w == NULL)
    return;
  loop->dbg.shutdown_watch = NULL;
  uv_close((uv_handle_t *)&w->timer, watch_closed);
}
