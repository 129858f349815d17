/* Reports about how things end: tasks still pending when the loop closes
 * or deadlocks, objects left open, errors nobody read, and cio_run's
 * shutdown waiting on a task that ignores its cancellation.  Each names
 * the task with what it waits on and where its code is, and in debug mode
 * where each object was created. */
#include <inttypes.h>

#include "debug/debug.h"

enum { WHERE_FRAMES = 24 };

/* What a pending task's line needs, symbolized with all the others. */
enum { PER_TASK = WHERE_FRAMES + CIO__SITE_FRAMES };

struct pending {
  cio_task *t;
  struct cio__frame *frames; /* PER_TASK of them: its stack, then site */
  size_t nframes;
  struct cio__frame *site;
  size_t nsite;
};

static void collect_pending(cio_loop *loop, struct pending *p, cio_task *t) {
  void *pcs[WHERE_FRAMES];
  p->t = t;
  p->nframes = cio__task_backtrace(loop, t, pcs, WHERE_FRAMES);
  for (size_t k = 0; k < p->nframes; k++)
    p->frames[k] = (struct cio__frame){.pc = pcs[k]};
  p->nsite = loop->dbg.on ? cio__registry_site(loop, t, pcs, CIO__SITE_FRAMES)
                          : 0;
  for (size_t k = 0; k < p->nsite; k++)
    p->site[k] = (struct cio__frame){.pc = pcs[k]};
}

/* "<prefix> task 'x' <what>: waiting on ... at f (app.c:9), created at
 * ...": one report per task, with the task in its context. */
static void report_one(cio_loop *loop, const struct pending *p,
                       const char *prefix, const char *source, int error,
                       const char *what) {
  cio_task *t = p->t;
  struct cio__text out;
  cio__text_init(&out);
  cio__text_printf(&out, "%s: task '%s' %s: %s", prefix, cio_task_get_name(t),
                   what, t->state == CIO__TASK_WAITING ? "waiting on " : "");
  cio__task_put_wait(loop, t, &out);
  size_t i = cio__frames_first_user(p->frames, p->nframes);
  if (i < p->nframes) {
    cio__text_put(&out, " at ");
    cio__frame_put(&out, &p->frames[i]);
  }
  if (loop->dbg.on) {
    cio__text_put(&out, ", ");
    cio__site_put(&out, p->site, p->nsite);
  }
  cio__debug_report(
      loop,
      &(cio_exception_context){.source = source, .error = error, .task = t},
      cio__text_str(&out));
  cio__text_free(&out);
}

void cio__report_pending(cio_loop *loop, const char *prefix, const char *source,
                         int error, const char *what) {
  size_t n = loop->live_tasks;
  struct pending *p = calloc(n ? n : 1, sizeof *p);
  struct cio__frame *frames = calloc((n ? n : 1) * PER_TASK, sizeof *frames);
  if (p != NULL && frames != NULL) {
    size_t i = 0;
    cio__list_foreach(it, &loop->tasks) {
      if (i == n)
        break;
      p[i].frames = frames + i * PER_TASK;
      p[i].site = p[i].frames + WHERE_FRAMES;
      collect_pending(loop, &p[i++], cio__container_of(it, cio_task, alive));
    }
    n = i;
    /* All the addresses at once: addr2line runs once per module. */
    cio__symbolize(frames, n * PER_TASK);
    for (i = 0; i < n; i++)
      report_one(loop, &p[i], prefix, source, error, what);
  }
  free(frames);
  free(p);
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
  cio__debug_report(
      loop,
      &(cio_exception_context){.source = "cio_loop_close", .error = CIO_EBUSY},
      cio__text_str(&t));
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
    cio__debug_report(loop,
                      &(cio_exception_context){.source = "cio_loop_close"},
                      cio__text_str(&t));
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
  cio_exception_context ctx = {.error = f->code};
  if (f->is_task) {
    ctx.source = "task";
    ctx.task = cio_future_task(f);
  } else {
    ctx.source = "future";
    ctx.future = f;
  }
  cio__debug_report(loop, &ctx, cio__text_str(&t));
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
  char what[160];
  snprintf(what, sizeof what,
           "is still running %.1f s after the shutdown cancelled it (it "
           "ignores its cancellation; the shutdown waits for it)",
           (double)loop->dbg.shutdown_ns / 1e9);
  cio__report_pending(loop, "cio_run", "cio_run shutdown", CIO_EBUSY, what);
}

void cio__shutdown_watch_start(cio_loop *loop) {
  if (loop->dbg.on && loop->live_tasks > 0)
    cio__report_pending(loop, "cio_run", "cio_run shutdown", 0,
                        "was still running when the main task ended; "
                        "cancelling it");
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
