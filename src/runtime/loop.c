/* The per-thread loop: creation, running, stopping, closing, cio_run.
 *
 *   OPEN -> RUNNING   run_until_complete / run_forever
 *   RUNNING -> OPEN   the task is done, stop(), or deadlock
 *   OPEN -> CLOSED    cio_loop_close() with no task alive
 * (1) cio__current_loop is the only global state: the loop open on this thread.
 * (2) A loop is only touched by the thread that opened it.
 */
#include <string.h>

#include "internal.h"

_Thread_local cio_loop *cio__current_loop CIO__TLS_MODEL;

cio_loop *cio_get_running_loop(void) {
  return cio__current_loop;
}

static void on_wakeup(uv_async_t *h) {
  cio__interrupt_check(h->data);
  cio__threadsafe_take(h->data);
}

static int resolve_guard_mode(int requested) {
  switch (requested) {
  case 1:
    return CIO__GUARD_PAGES;
  case 2:
    return CIO__GUARD_CANARY;
  default:
    return cio__stack_guard_probe();
  }
}

int cio_loop_open(cio_loop **out, const cio_loop_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (cio__current_loop != NULL)
    return CIO_EBUSY;
  cio_loop_opts o = {0};
  if (opts != NULL)
    o = *opts;
  if (o.stack_guard < 0 || o.stack_guard > 2)
    return CIO_EINVAL;
  if (o.stack_size != 0 && o.stack_size < 16 * 1024)
    return CIO_EINVAL;
  cio_loop *loop = cio__alloc_fault() ? NULL : calloc(1, sizeof *loop);
  if (loop == NULL)
    return CIO_ENOMEM;
  loop->fail_alloc_after = -1;
  loop->virtual_clock = o.virtual_clock;
  loop->detect_deadlock = o.detect_deadlock;
  loop->guard_mode = resolve_guard_mode(o.stack_guard);
  int rc = cio__stack_pool_init(
      &loop->stacks, o.stack_size ? o.stack_size : CIO__DEFAULT_STACK_SIZE,
      loop->guard_mode);
  if (rc < 0)
    goto fail_free;
  loop->stacks.fail_map = cio__alloc_fault;
  if (o.uv_loop != NULL) {
    loop->uv = o.uv_loop;
  } else {
    if (uv_loop_init(&loop->uv_own) != 0) {
      rc = CIO_ENOMEM;
      goto fail_pool;
    }
    loop->uv = &loop->uv_own;
    loop->owns_uv = true;
  }
  rc = cio__overflow_install_thread();
  if (rc < 0)
    goto fail_uv;
  cio__sock_ignore_sigpipe();
  cio__timers_init(&loop->timers);
  cio__list_init(&loop->tasks);
  cio__list_init(&loop->signals);
  cio__fiber_init_native(&loop->native);
  cio__sched_open(loop);
  uv_async_init(loop->uv, &loop->wakeup, on_wakeup);
  loop->wakeup.data = loop;
  uv_unref((uv_handle_t *)&loop->wakeup);
  loop->uv_handles_open++;
  cio__debug_open(loop, &o);
  cio__current_loop = loop;
  cio__test_loop_opened();
  *out = loop;
  return 0;

fail_uv:
  if (loop->owns_uv)
    uv_loop_close(loop->uv);
fail_pool:
  cio__stack_pool_destroy(&loop->stacks);
fail_free:
  free(loop);
  return rc;
}

/* ---- closing --------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  cio_loop *loop = h->data;
  loop->uv_handles_open--;
}

/* Drop every queued callback and timer without running it (asyncio's
 * close() clears _ready and _scheduled the same way). */
static void drop_scheduled(cio_loop *loop) {
  struct cio__list *n;
  while ((n = cio__list_pop_front(&loop->ready)) != NULL) {
    struct cio__callback *cb = cio__container_of(n, struct cio__callback, node);
    /* Anything else belongs to an object the program never freed; the
     * allocation count reports it. */
    if (!cio__handle_try_drop(cb) && !cio__threadsafe_try_drop(cb))
      (void)!cio__done_cb_try_drop(cb);
  }
  struct cio__timer *t;
  while ((t = cio__timers_first(loop)) != NULL) {
    cio__timer_stop(loop, t);
    /* Not a handle: the timer of an object the program never freed (an
     * as_completed iterator...); the object count reports the leak. */
    (void)!cio__handle_try_drop(&t->cb);
  }
  cio__timers_destroy(loop);
}

static void close_uv_handles(cio_loop *loop) {
  uv_handle_t *handles[] = {
      (uv_handle_t *)&loop->check, (uv_handle_t *)&loop->idle,
      (uv_handle_t *)&loop->timer, (uv_handle_t *)&loop->wakeup};
  for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++) {
    handles[i]->data = loop;
    uv_close(handles[i], on_handle_closed);
  }
  while (loop->uv_handles_open > 0)
    uv_run(loop->uv, UV_RUN_NOWAIT);
}

struct open_handles {
  cio_loop *loop;
  size_t count;
};

static void report_handle(uv_handle_t *h, void *arg) {
  struct open_handles *o = arg;
  o->count++;
  cio__report(o->loop, &(cio_exception_context){.source = "cio_loop_close"},
              "cio_loop_close: a libuv %s handle is still open",
              uv_handle_type_name(uv_handle_get_type(h)));
}

/* Close our libuv loop; returns how many handles were still open (each
 * one the handle of an object the program leaked, pointing into the
 * loop about to be freed). */
static size_t close_uv_loop(cio_loop *loop) {
  struct open_handles o = {.loop = loop};
  if (loop->owns_uv && uv_loop_close(loop->uv) != 0)
    uv_walk(loop->uv, report_handle, &o);
  return o.count;
}

size_t cio__obj_total(const cio_loop *loop) {
  size_t n = 0;
  for (int k = 0; k < CIO__OBJ_KINDS; k++)
    n += loop->objects[k];
  return n;
}

void cio__obj_describe(const cio_loop *loop, unsigned mask, char *buf,
                       size_t cap) {
  static const char *const one[] = {
#define CIO__OBJ_ONE(name, o, m) o,
      CIO__OBJ_KIND_MAP(CIO__OBJ_ONE)
#undef CIO__OBJ_ONE
  };
  static const char *const many[] = {
#define CIO__OBJ_MANY(name, o, m) m,
      CIO__OBJ_KIND_MAP(CIO__OBJ_MANY)
#undef CIO__OBJ_MANY
  };
  size_t at = 0;
  int listed = 0;
  buf[0] = '\0';
  for (int k = 0; k < CIO__OBJ_KINDS && at < cap; k++) {
    size_t n = loop->objects[k];
    if (n == 0 || (mask != 0 && !(mask & (1u << k))))
      continue;
    int w = snprintf(buf + at, cap - at, "%s%zu %s", listed ? ", " : "", n,
                     n == 1 ? one[k] : many[k]);
    if (w < 0)
      break;
    at += (size_t)w;
    listed++;
  }
}

static void free_stacks(cio_loop *loop) {
  cio__small_close(loop);
  cio__stack_pool_destroy(&loop->stacks);
  while (loop->extra_pools != NULL) {
    struct cio__extra_pool *p = loop->extra_pools;
    loop->extra_pools = p->next;
    cio__stack_pool_destroy(&p->pool);
    cio__free(loop, p);
  }
}

int cio_loop_close(cio_loop *loop) {
  if (loop == NULL)
    return 0;
  if (loop != cio__current_loop)
    return CIO_EPERM;
  if (loop->running)
    return CIO_EBUSY;
  if (loop->live_tasks > 0) {
    cio__report_pending(loop, "cio_loop_close", "cio_loop_close", CIO_EBUSY,
                        "is still pending");
    return CIO_EBUSY;
  }
  cio__executor_loop_close(loop);
  drop_scheduled(loop);
  if (cio__obj_total(loop) > 0) {
    char what[256];
    cio__obj_describe(loop, 0, what, sizeof what);
    cio__report_left_open(loop, what);
    return CIO_EBUSY;
  }
  cio__report_untracked_left(loop);
  loop->closing = true;
  cio__threadsafe_close(loop);
  cio__signals_close(loop);
  cio__fd_watches_close(loop);
  cio__debug_close(loop);
  close_uv_handles(loop);
  size_t open_handles = close_uv_loop(loop);
  free_stacks(loop);
  cio__task_cache_drain(loop);
  cio__future_cache_drain(loop);
  cio__overflow_uninstall_thread();
  cio__current_loop = NULL;
  if (loop->live_allocs != 0)
    cio__report(loop, &(cio_exception_context){.source = "cio_loop_close"},
                "cio_loop_close: %zu allocations leaked", loop->live_allocs);
#if defined(CIO_DEBUG)
  if (loop->live_allocs != 0 || open_handles != 0)
    abort();
#endif
  cio__test_loop_freed(loop->live_allocs, open_handles);
  cio__debug_free(loop);
  free(loop);
  return 0;
}

/* ---- running --------------------------------------------------------- */

static int check_can_run(cio_loop *loop) {
  if (loop == NULL)
    return CIO_EINVAL;
  if (loop != cio__current_loop)
    return CIO_EPERM;
  if (loop->running)
    return CIO_EBUSY;
  if (loop->closing)
    return CIO_ESHUTDOWN;
  return 0;
}

static void report_deadlock(cio_loop *loop) {
  cio__report_pending(loop, "deadlock", "deadlock", CIO_EDEADLK,
                      "waits and nothing can wake it");
}

/* libuv had nothing alive: is there still work it could not see? */
static bool nothing_can_happen(cio_loop *loop) {
  if (cio__threadsafe_take(loop))
    return false; /* sent by another thread, not yet delivered */
  return cio__list_empty(&loop->ready) && !cio__timers_any(loop);
}

/* Enter or leave a run: the wakeup handle's ref follows loop->running. */
static void set_running(cio_loop *loop, bool running) {
  loop->running = running;
  cio__loop_update_wakeup_ref(loop);
}

/* asyncio's _run_until_complete_cb: the task is done, and what it queued
 * in its last step has had its batch; stop. */
static void until_done(struct cio__callback *cb) {
  struct cio__link *l = cio__container_of(cb, struct cio__link, cb);
  ((cio_loop *)l->owner)->stopping = true;
  cio__link_done(l);
}

int cio_loop_run_until_complete(cio_loop *loop, cio_task *task, void **result) {
  if (result != NULL)
    *result = NULL;
  int rc = check_can_run(loop);
  if (rc < 0)
    return rc;
  if (task == NULL || task->fut.loop != loop)
    return CIO_EINVAL;
  set_running(loop, true);
  /* Like asyncio, stop one iteration after the task is done (a done
   * callback that calls stop()), so what it queued last runs once. */
  struct cio__link done;
  cio__link_attach(&done, &task->fut, until_done, loop, 0);
  cio__sched_update_handles(loop);
  for (;;) {
    int alive = uv_run(loop->uv, UV_RUN_ONCE);
    if (loop->stopping) {
      if (task->state != CIO__TASK_DONE)
        rc = CIO_EINTR;
      break;
    }
    if (!alive && nothing_can_happen(loop)) {
      report_deadlock(loop);
      rc = CIO_EDEADLK;
      break;
    }
  }
  cio__link_detach(&done);
  loop->stopping = false;
  set_running(loop, false);
  if (rc == 0)
    rc = cio_task_result(task, result);
  return rc;
}

int cio_loop_run_forever(cio_loop *loop) {
  int rc = check_can_run(loop);
  if (rc < 0)
    return rc;
  /* Like asyncio, an idle run_forever waits (for another thread, a
   * signal...) instead of returning: keep libuv alive. */
  loop->running_forever = true;
  set_running(loop, true);
  cio__sched_update_handles(loop);
  /* stop() before run_forever: one iteration whose poll does not block,
   * as asyncio's _run_once polls with timeout 0 when _stopping. */
  do {
    uv_run(loop->uv, loop->stopping ? UV_RUN_NOWAIT : UV_RUN_ONCE);
  } while (!loop->stopping);
  loop->running_forever = false;
  loop->stopping = false;
  set_running(loop, false);
  return 0;
}

static void stop_on_loop(void *arg) {
  ((cio_loop *)arg)->stopping = true;
}

int cio_loop_stop(cio_loop *loop) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL)
    return CIO_EINVAL;
  if (loop != cio__loop_current()) {
    /* Another thread: asyncio's loop.call_soon_threadsafe(loop.stop),
     * which also wakes a loop blocked in its poll. */
    return cio__loop_call_soon_threadsafe_or_drop(loop, stop_on_loop, NULL,
                                                  loop);
  }
  loop->stopping = true;
  return 0;
}

bool cio_loop_is_running(const cio_loop *loop) {
  return loop != NULL && loop->running;
}

void *cio_loop_uv(cio_loop *loop) {
  return loop ? loop->uv : NULL;
}

/* ---- shutdown and cio_run ------------------------------------------- */

/* Run until no task is alive or nothing can make progress. */
static void run_until_no_tasks(cio_loop *loop) {
  set_running(loop, true);
  cio__sched_update_handles(loop);
  while (loop->live_tasks > 0) {
    int alive = uv_run(loop->uv, UV_RUN_ONCE);
    if (!alive && nothing_can_happen(loop))
      break;
  }
  loop->stopping = false;
  set_running(loop, false);
}

static void report_shutdown_errors(cio_task **tasks, size_t n) {
  for (size_t i = 0; i < n; i++) {
    cio_task *t = tasks[i];
    if (t->fut.state == CIO__FUT_ERROR) {
      t->fut.retrieved = true;
      cio__report(t->fut.loop,
                  &(cio_exception_context){.error = t->fut.code,
                                           .source = "cio_run shutdown",
                                           .task = t},
                  "unhandled error during cio_run() shutdown: task '%s': "
                  "%s (%s)",
                  cio_task_get_name(t), cio_err_name(t->fut.code),
                  cio_strerror(t->fut.code));
    }
    cio_task_release(t);
  }
}

int cio_loop_shutdown_tasks(cio_loop *loop) {
  int rc = check_can_run(loop);
  if (rc < 0)
    return rc;
  /* A task may catch the cancellation and go on; ask again a few times,
   * as a gather over all_tasks() would see new tasks too. */
  cio__shutdown_watch_start(loop);
  for (int attempt = 0; attempt < 8 && loop->live_tasks > 0; attempt++) {
    size_t n = loop->live_tasks;
    cio_task **tasks = cio__malloc(loop, n * sizeof *tasks);
    size_t i = 0;
    cio__list_foreach(it, &loop->tasks) {
      cio_task *t = cio__container_of(it, cio_task, alive);
      if (tasks != NULL)
        tasks[i++] = cio_task_retain(t);
      cio_task_cancel(t);
    }
    run_until_no_tasks(loop);
    if (tasks != NULL) {
      report_shutdown_errors(tasks, i);
      cio__free(loop, tasks);
    }
  }
  /* Closes the last tasks began (a stream closed as its handler ended, a
   * server freed after its last handler) finish in libuv's next
   * iterations: give them a few, as asyncio.run's own shutdown steps do. */
  set_running(loop, true);
  for (int i = 0; i < 4 && cio__obj_total(loop) > 0; i++)
    uv_run(loop->uv, UV_RUN_NOWAIT);
  set_running(loop, false);
  cio__shutdown_watch_stop(loop);
  return 0;
}

int cio_run_ex(cio_task_fn fn, void *arg, const cio_loop_opts *opts,
               void **result) {
  if (result != NULL)
    *result = NULL;
  if (fn == NULL)
    return CIO_EINVAL;
  cio_loop *loop;
  int rc = cio_loop_open(&loop, opts);
  if (rc < 0)
    return rc;
  cio_task *main_task;
  rc = cio_create_task(loop, &main_task, fn, arg,
                       &(cio_task_opts){.name = "main"});
  if (rc == 0) {
    loop->main_task = main_task;
    bool ctrl_c = cio__interrupt_install(loop);
    rc = cio_loop_run_until_complete(loop, main_task, result);
    (void)!cio_loop_shutdown_tasks(loop); /* reports what it must */
    if (ctrl_c)
      cio__interrupt_uninstall(loop);
    loop->main_task = NULL;
    if (rc == CIO_EDEADLK || rc == CIO_EINTR)
      ; /* the main task was cancelled by the shutdown; keep the cause */
    else if (main_task->state == CIO__TASK_DONE)
      rc = cio_task_result(main_task, result);
    /* Cancelled for a Ctrl-C: asyncio.run raises KeyboardInterrupt. */
    if (loop->was_interrupted && rc == CIO_ECANCELED)
      rc = CIO_EINTR;
    cio_task_release(main_task);
  }
  bool tasks_left = loop->live_tasks > 0;
  if (cio_loop_close(loop) < 0) {
    /* A task still waits on something nothing will ever complete (its
     * stack cannot be unwound), or the program left objects open that it
     * may still point to: the loop is abandoned (leaked), and the thread
     * is free to open another. */
    cio_exception_context ctx = {.error = CIO_EBUSY, .source = "cio_run"};
    if (tasks_left)
      cio__report(loop, &ctx,
                  "cio_run: the tasks above never finished; the loop is "
                  "abandoned");
    else
      cio__report(loop, &ctx,
                  "cio_run: the main task returned with the objects above "
                  "still open; the loop is abandoned");
    cio__debug_close(loop); /* the watchdog and the socket let go of it */
    cio__current_loop = NULL;
  }
  return rc;
}

int cio_run(cio_task_fn fn, void *arg) {
  return cio_run_ex(fn, arg, NULL, NULL);
}
