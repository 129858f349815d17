/* Tasks: a function running on its own stack, and a future for its
 * outcome.
 *
 *   NEW     -> READY/RUNNING  first dispatch              cio__task_resume()
 *   RUNNING -> WAITING        cio__wait_park() (runtime/wait.c)
 *   RUNNING -> READY          cio__task_yield()
 *   WAITING -> READY          cio__wait_wake() or the cancel path
 *   READY   -> RUNNING        switched to                 sched.c
 *   RUNNING -> DONE           body returned               task_entry()
 *   NEW     -> DONE           cancelled before it started cio__task_resume()
 *
 * (1) At most one task per loop is RUNNING: loop->current.
 * (2) A READY or NEW task's `ready` node is in the ready queue; otherwise
 *     it is self-linked.
 * (3) The loop holds one reference on every task that is not DONE; it is
 *     dropped, and the stack released, on the loop's stack (task_bury), never
 *     on the dead task's own stack.
 * (4) must_cancel is only ever set on a task that is not DONE.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

/* Task-<n> numbering is process-wide, as in CPython. */
static atomic_uint_fast64_t task_counter;

/* How a stack-overflow report names a task (src/arch/overflow.c). */
static const cio__fiber_kind task_kind = {
    "task", "Task-",
    (ptrdiff_t)offsetof(cio_task, name) - (ptrdiff_t)offsetof(cio_task, fiber),
    (ptrdiff_t)offsetof(cio_task, id) - (ptrdiff_t)offsetof(cio_task, fiber)};

uint64_t cio__task_ids_issued(void) {
  return atomic_load_explicit(&task_counter, memory_order_relaxed);
}

static cio_task *task_of(cio_future *f) {
  return (cio_task *)(void *)f;
}

/* ---- allocation ------------------------------------------------------ */

static cio__stack_pool *pool_for(cio_loop *loop, size_t stack_size) {
  if (stack_size == 0 || stack_size == loop->stacks.stack_size)
    return &loop->stacks;
  for (struct cio__extra_pool *p = loop->extra_pools; p; p = p->next)
    if (p->pool.stack_size == stack_size)
      return &p->pool;
  struct cio__extra_pool *p = cio__calloc(loop, 1, sizeof *p);
  if (p == NULL)
    return NULL;
  if (cio__stack_pool_init(&p->pool, stack_size, loop->guard_mode) < 0) {
    cio__free(loop, p);
    return NULL;
  }
  p->pool.fail_map = cio__alloc_fault;
  if (p->pool.stack_size == loop->stacks.stack_size) {
    cio__stack_pool_destroy(&p->pool);
    cio__free(loop, p);
    return &loop->stacks;
  }
  p->next = loop->extra_pools;
  loop->extra_pools = p;
  return &p->pool;
}

/* Freed task structs are cached (LIFO, warm) and stay FREED, with their
 * name, until reused: a double release is reported by name. */
static cio_task *task_alloc(cio_loop *loop) {
  cio_task *t = loop->task_cache;
  if (t != NULL) {
    loop->task_cache = t->fut.result;
    loop->task_cache_count--;
    if (t->name != NULL) {
      cio__free(loop, t->name);
      t->name = NULL;
    }
    return t;
  }
  t = cio__malloc(loop, sizeof *t);
  if (t != NULL)
    t->name = NULL; /* task_free on a failed create frees it */
  return t;
}

static void task_free(cio_loop *loop, cio_task *t) {
  t->fut.state = CIO__FUT_FREED;
  if (loop->task_cache_count < 4096) {
    t->fut.result = loop->task_cache;
    loop->task_cache = t;
    loop->task_cache_count++;
    return;
  }
  cio__free(loop, t->name);
  cio__free(loop, t);
}

void cio__task_cache_drain(cio_loop *loop) {
  while (loop->task_cache != NULL) {
    cio_task *t = loop->task_cache;
    loop->task_cache = t->fut.result;
    cio__free(loop, t->name);
    cio__free(loop, t);
  }
  loop->task_cache_count = 0;
}

bool cio__task_check(const cio_task *t) {
  if (t == NULL || !t->fut.is_task || t->fut.state == CIO__FUT_FREED ||
      t->state > CIO__TASK_DONE)
    return false;
  if (!cio__future_check(&t->fut))
    return false;
  /* DONE exactly when the future is; WAITING exactly with a record. */
  if ((t->state == CIO__TASK_DONE) != (t->fut.state != CIO__FUT_PENDING))
    return false;
  if ((t->state == CIO__TASK_WAITING) != (t->wait != NULL))
    return false;
  if (t->state == CIO__TASK_DONE && t->must_cancel)
    return false;
  return t->num_cancels >= 0;
}

/* ---- the body -------------------------------------------------------- */

void cio__task_scope_enter(cio_task *t, struct cio__scope_guard *g) {
  cio__list_push_back(&t->scopes, &g->node);
}

void cio__task_scope_leave(struct cio__scope_guard *g) {
  cio__list_remove(&g->node);
}

/* The body runs below a gap of CIO__BODY_GAP bytes (run_body's frame).  A
 * scope it left entered lives in its dead frame: closing it must read
 * that frame before anything overwrites it, so close_scopes() runs right
 * after, inside the gap, and only then is anything reported.  Nothing is
 * read from the gap itself, so small tasks' stack copies skip it. */

#if defined(__GNUC__)
#define CIO__NOINLINE __attribute__((noinline))
#else
#define CIO__NOINLINE
#endif

CIO__NOINLINE static int run_body(cio_task *t, void **result) {
  volatile char gap[CIO__BODY_GAP];
  gap[0] = 0;
  if (t->is_small) {
    cio_loop *loop = t->fut.loop;
    CIO_ASSERT(loop->shared_gap == NULL || loop->shared_gap == gap);
    loop->shared_gap = (char *)gap;
  }
  int rc = t->fn(t->fut.dispose_arg, result);
  gap[1] = 0; /* keeps the frame, and no tail call */
  return rc;
}

/* Close what the body left entered (no printing: little stack), and say
 * how many and what kind of scope. */
static size_t close_scopes(cio_task *t, const char **what) {
  char here = 0; /* its address: about where this frame is */
  cio__stack_expose_dead(t->fiber.stack, &here);
  size_t n = 0;
  struct cio__list *it;
  while ((it = cio__list_pop_front(&t->scopes)) != NULL) {
    struct cio__scope_guard *g =
        cio__container_of(it, struct cio__scope_guard, node);
    *what = g->what;
    g->abandon(g);
    n++;
  }
  return n;
}

static void report_scopes(cio_task *t, size_t n, const char *what) {
  cio__report(t->fut.loop,
              &(cio_exception_context){
                  .error = CIO_EINVAL, .source = "timeout scope", .task = t},
              "task '%s' returned with %s still entered%s; closed now "
              "(every enter needs its exit)",
              cio_task_get_name(t), what, n > 1 ? " (and others)" : "");
}

/* Record the outcome and wake whoever awaits it, as CPython's __step:
 * a body that returns normally while a cancellation is pending ends
 * cancelled, its result discarded (must_cancel at StopIteration), with
 * the request's message; one that returns CIO_ECANCELED ends cancelled
 * with the message it received; any other error is kept, pending
 * cancellation or not (set_exception wins). */
static void task_finish(cio_loop *loop, cio_task *t, int rc, void *result) {
  int state = CIO__FUT_RESULT;
  struct cio__msg *msg = NULL;
  if (rc == CIO_ECANCELED) {
    state = CIO__FUT_CANCELLED;
    msg = t->cancel_received;
  } else if (rc < 0) {
    state = CIO__FUT_ERROR;
  } else if (t->must_cancel) {
    state = CIO__FUT_CANCELLED;
    msg = t->cancel_request;
  }
  if (state == CIO__FUT_CANCELLED && result != NULL && t->fut.dispose != NULL)
    t->fut.dispose(t->fut.dispose_arg, result, rc); /* discarded */
  t->must_cancel = false;
  t->state = CIO__TASK_DONE;
  cio__ctx_release(t->ctx);
  t->ctx = NULL;
  cio__list_remove(&t->alive);
  loop->live_tasks--;
  cio__future_complete(&t->fut, state, result, rc, msg);
}

/* After the body: what it left entered, its outcome, and the exit.  Out
 * of task_entry so that task_entry's frame, which stays under the body's
 * for the task's whole life (and is copied with a small task's frames),
 * holds little more than the task and the result.  Not declared
 * _Noreturn, though it never returns: before a call to a noreturn
 * function AddressSanitizer inserts __asan_handle_no_return(), whose
 * first call goes through the dynamic linker's lazy binding, which saves
 * the whole register state below the stack pointer and so overwrote a
 * scope left entered in the body's dead frame before close_scopes() read
 * it. */
CIO__NOINLINE static void task_end(cio_task *t, int rc, void *result) {
  cio_loop *loop = t->fut.loop;
  if (!cio__list_empty(&t->scopes)) {
    const char *what = NULL;
    size_t n = close_scopes(t, &what);
    report_scopes(t, n, what);
  }
  task_finish(loop, t, rc, result);
  cio__sched_exit(loop, t);
}

static void task_entry(void *arg) {
  cio_task *t = arg;
  cio_loop *loop = t->fut.loop;
  loop->current = t;
  if (loop->dead != NULL)
    cio__sched_bury_dead(loop); /* it switched here as it ended */
  void *result = NULL;
  int rc = run_body(t, &result);
  task_end(t, rc, result);
}

/* Called on the loop's stack when a task is dispatched. */
void cio__task_resume(cio_loop *loop, cio_task *t) {
  if (t->state == CIO__TASK_NEW && t->must_cancel) {
    /* Cancelled before its first step: the body never runs, and ends
     * with the request's CancelledError. */
    cio__task_received_cancel(t, t->cancel_request);
    task_finish(loop, t, CIO_ECANCELED, NULL);
    loop->dead = t;
    return;
  }
  bool fresh = t->state == CIO__TASK_NEW;
  if (t->is_small)
    cio__small_enter(loop, t);
  else if (fresh)
    cio__task_start(t);
  t->state = CIO__TASK_RUNNING;
  if (fresh)
    cio__fiber_start(&loop->native, &t->fiber);
  else
    cio__fiber_switch(&loop->native, &t->fiber);
  loop->current = NULL; /* the task set it while it ran */
}

/* A stack is promised when a task is created and taken only now, when it
 * first runs: the warmest free stack, typically the one the task that
 * just ended gave back, so a burst of short tasks keeps reusing two. */
void cio__task_start(cio_task *t) {
  cio__fiber_init(&t->fiber, cio__stack_take(t->pool), task_entry, t);
  t->fiber.kind = &task_kind;
}

void cio__fiber_init_small(cio_task *t) {
  cio__fiber_init(&t->fiber, t->fut.loop->shared, task_entry, t);
  t->fiber.kind = &task_kind;
}

/* Release a finished task's stack and the loop's reference. */
void cio__task_bury(cio_loop *loop, cio_task *t) {
  if (t->is_small) {
    cio__small_bury(loop, t);
    t->fiber.stack = NULL;
  } else if (t->fiber.stack != NULL) {
    cio__stack_release(t->pool, t->fiber.stack);
    t->fiber.stack = NULL;
  } else {
    cio__stack_unreserve(t->pool); /* it ended before it ever ran */
  }
  cio_task_release(t);
}

/* Task-<n> numbering is process-wide, as in CPython; a loop takes its
 * numbers in blocks, so that creating a task costs no atomic operation.
 * Tasks of one loop are numbered in creation order. */
enum { ID_BLOCK = 1024 };

static uint64_t next_id(cio_loop *loop) {
  /* Tests injecting a cancellation name their target by its ordinal
   * since arming (inject.c): ids one at a time then, from the process's
   * counter, so that it also counts the tasks made. */
  if (CIO__UNLIKELY(cio__inject_armed()))
    return atomic_fetch_add_explicit(&task_counter, 1, memory_order_relaxed) +
           1;
  if (loop->task_ids_next == loop->task_ids_end) {
    loop->task_ids_next =
        atomic_fetch_add_explicit(&task_counter, ID_BLOCK,
                                  memory_order_relaxed) + 1;
    loop->task_ids_end = loop->task_ids_next + ID_BLOCK;
  }
  return loop->task_ids_next++;
}

/* What cio_task_opts ask for, checked: the pool a normal task's stack
 * comes from (NULL: small), the name, the dispose function. */
struct task_setup {
  cio__stack_pool *pool;
  const char *name;
  cio_dispose_fn dispose;
};

static int read_opts(cio_loop *loop, const cio_task_opts *opts,
                     struct task_setup *s) {
  *s = (struct task_setup){.pool = &loop->stacks};
  if (opts == NULL)
    return 0;
  s->name = opts->name;
  s->dispose = opts->dispose;
  if (opts->stack_size != 0 && (opts->stack_size < 16 * 1024 || opts->small))
    return CIO_EINVAL;
  if (opts->small) {
    s->pool = NULL;
    return cio__small_open(loop) < 0 ? CIO_ENOMEM : 0;
  }
  s->pool = pool_for(loop, opts->stack_size);
  return s->pool == NULL ? CIO_ENOMEM : 0;
}

static void task_init(cio_loop *loop, cio_task *t, cio_task_fn fn, void *arg,
                      const struct task_setup *s, int refs) {
  cio__future_init(&t->fut, loop, true);
  t->fut.refs = refs;
  t->fut.dispose = s->dispose;
  t->fut.dispose_arg = arg;
  t->ready.run = NULL;
  t->fiber = (cio__fiber){.stack = NULL}; /* set up when it first runs */
  t->state = CIO__TASK_NEW;
  t->must_cancel = false;
  t->is_small = s->pool == NULL;
  t->num_cancels = 0;
  t->wait = NULL;
  cio__list_init(&t->scopes);
  /* A new task starts with a copy of its creator's context (asyncio's
   * create_task: contextvars.copy_context()). */
  t->ctx = cio__ctx_retain(cio__ctx_current());
  t->fn = fn;
  t->pool = s->pool; /* NULL: small, and t->small is NULL too */
  t->cancel_request = NULL;
  t->cancel_received = NULL;
  t->id = next_id(loop);
  t->created_ns = cio__now_coarse_ns(loop);
}

int cio_create_task(cio_loop *loop, cio_task **out, cio_task_fn fn, void *arg,
                    const cio_task_opts *opts) {
  if (out != NULL)
    *out = NULL;
  loop = cio__loop_or_current(loop);
  if (loop == NULL || fn == NULL)
    return CIO_EINVAL;
  if (loop->closing)
    return CIO_ESHUTDOWN;
  struct task_setup s;
  int rc = read_opts(loop, opts, &s);
  if (rc < 0)
    return rc;
  cio_task *t = task_alloc(loop);
  if (t == NULL)
    return CIO_ENOMEM;
  if (s.pool != NULL && cio__stack_reserve(s.pool) < 0)
    goto fail_free_task;
  if (s.name != NULL && (t->name = cio__strdup(loop, s.name)) == NULL)
    goto fail_unreserve;
  task_init(loop, t, fn, arg, &s, out != NULL ? 2 : 1);
  cio__list_push_back(&loop->tasks, &t->alive);
  loop->live_tasks++;
  cio__ready_push(loop, &t->ready);
  if (out != NULL)
    *out = t;
  cio__obj_add(loop, CIO__OBJ_TASK, t, cio__task_describe);
  return 0;

fail_unreserve:
  if (s.pool != NULL)
    cio__stack_unreserve(s.pool);
fail_free_task:
  task_free(loop, t);
  return CIO_ENOMEM;
}

/* ---- cancellation ---------------------------------------------------- */

/* Task.cancel(msg): the message always replaces the last one, and goes
 * with the cancellation to what the task awaits. */
int cio__task_cancel_msg(cio_task *t, struct cio__msg *msg) {
  CIO_ASSERT(cio__task_check(t));
  if (t->state == CIO__TASK_DONE)
    return 0;
  t->num_cancels++;
  cio__msg_set(t->fut.loop, &t->cancel_request, msg);
  if (t->state == CIO__TASK_WAITING && cio__wait_cancel(t->wait))
    return 1;
  t->must_cancel = true;
  return 1;
}

int cio_task_cancel(cio_task *t) {
  if (t == NULL)
    return CIO_EINVAL;
  return cio__task_cancel_msg(t, NULL);
}

int cio_task_cancel_msg(cio_task *t, const char *msg) {
  if (t == NULL)
    return CIO_EINVAL;
  if (t->state == CIO__TASK_DONE)
    return 0;
  struct cio__msg *m = NULL;
  if (msg != NULL && (m = cio__msg_new(t->fut.loop, msg)) == NULL)
    return CIO_ENOMEM;
  int rc = cio__task_cancel_msg(t, m);
  cio__msg_release(t->fut.loop, m);
  return rc;
}

void cio__task_received_cancel(cio_task *self, struct cio__msg *msg) {
  cio__msg_set(self->fut.loop, &self->cancel_received, msg);
}

const char *cio_task_cancel_message(const cio_task *t) {
  return t != NULL ? cio_future_cancel_message(&t->fut) : NULL;
}

const char *cio_cancel_message(void) {
  cio_loop *loop = cio__loop_current();
  cio_task *t = loop ? loop->current : NULL;
  return t != NULL && t->cancel_received != NULL ? t->cancel_received->text
                                                 : NULL;
}

int cio_task_cancelling(const cio_task *t) {
  return t ? t->num_cancels : 0;
}

int cio_task_uncancel(cio_task *t) {
  if (t == NULL)
    return 0;
  CIO_ASSERT(cio__task_check(t));
  if (t->num_cancels > 0)
    t->num_cancels--;
  if (t->num_cancels == 0)
    t->must_cancel = false;
  return t->num_cancels;
}

/* ---- awaiting -------------------------------------------------------- */

int cio_task_await(cio_task *t, void **result) {
  if (result != NULL)
    *result = NULL;
  if (t == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__task_check(t));
  return cio_await(&t->fut, result);
}

int cio_task_join(cio_task *t, void **result) {
  int rc = cio_task_await(t, result);
  cio_task_release(t);
  return rc;
}

/* ---- queries --------------------------------------------------------- */

bool cio_task_is_done(const cio_task *t) {
  return t != NULL && t->state == CIO__TASK_DONE;
}

bool cio_task_is_cancelled(const cio_task *t) {
  return t != NULL && t->fut.state == CIO__FUT_CANCELLED;
}

int cio_task_result(cio_task *t, void **result) {
  if (result != NULL)
    *result = NULL;
  if (t == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__task_check(t));
  return cio_future_result(&t->fut, result);
}

int cio_task_error(cio_task *t) {
  if (t == NULL)
    return CIO_EINVAL;
  return cio_future_error(&t->fut);
}

const char *cio_task_get_name(cio_task *t) {
  if (t == NULL)
    return NULL;
  if (t->name == NULL) {
    snprintf(t->default_name, sizeof t->default_name, "Task-%" PRIu64, t->id);
    return t->default_name;
  }
  return t->name;
}

int cio_task_set_name(cio_task *t, const char *name) {
  if (t == NULL || name == NULL)
    return CIO_EINVAL;
  CIO_ASSERT(cio__task_check(t));
  char *copy = cio__strdup(t->fut.loop, name);
  if (copy == NULL)
    return CIO_ENOMEM;
  cio__free(t->fut.loop, t->name);
  t->name = copy;
  return 0;
}

cio_task *cio_current_task(void) {
  cio_loop *loop = cio__loop_current();
  return loop ? loop->current : NULL;
}

size_t cio_all_tasks(cio_loop *loop, cio_task **out, size_t cap) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL)
    return 0;
  size_t i = 0;
  cio__list_foreach(it, &loop->tasks) {
    if (out != NULL && i < cap)
      out[i] = cio__container_of(it, cio_task, alive);
    i++;
  }
  return i;
}

int cio_task_add_done_callback(cio_task *t, cio_done_fn cb, void *arg) {
  if (t == NULL)
    return CIO_EINVAL;
  return cio_future_add_done_callback(&t->fut, cb, arg);
}

int cio_task_remove_done_callback(cio_task *t, cio_done_fn cb, void *arg) {
  if (t == NULL)
    return CIO_EINVAL;
  return cio_future_remove_done_callback(&t->fut, cb, arg);
}

cio_future *cio_task_future(cio_task *t) {
  return t ? &t->fut : NULL;
}

cio_task *cio_future_task(cio_future *f) {
  return f != NULL && f->is_task ? task_of(f) : NULL;
}

cio_task *cio_task_retain(cio_task *t) {
  if (t == NULL)
    return NULL;
  if (t->fut.state == CIO__FUT_FREED) {
    cio__report_double_release("task (retained after its release)", t, t->name);
    return t;
  }
  t->fut.refs++;
  return t;
}

void cio_task_release(cio_task *t) {
  if (t == NULL)
    return;
  if (t->fut.state == CIO__FUT_FREED) {
    cio__report_double_release("task", t, t->name);
    return;
  }
  CIO_ASSERT(cio__task_check(t));
  if (t->fut.refs <= 1 && t->state != CIO__TASK_DONE) {
    /* The last reference of a task that has not ended is the loop's: a
     * release that would drop it is one too many, checked in every build
     * since freeing a running task corrupts the loop. */
    cio__report_double_release("task (still running)", t, t->name);
    return;
  }
  if (--t->fut.refs > 0)
    return;
  cio_loop *loop = t->fut.loop;
  struct cio_future *f = &t->fut;
  if (f->state == CIO__FUT_RESULT && (f->result_taken || f->dispose == NULL) &&
      cio__list_empty(&f->callbacks) && t->cancel_request == NULL &&
      t->cancel_received == NULL) {
    f->state = CIO__FUT_FREED; /* the common case: nothing to let go of */
  } else {
    if (f->state == CIO__FUT_ERROR && !f->retrieved)
      cio__future_report_unretrieved(f, "Task", cio_task_get_name(t));
    cio__future_finalize(f);
    cio__msg_release(loop, t->cancel_request);
    cio__msg_release(loop, t->cancel_received);
  }
  task_free(loop, t); /* keeps the name for a double release report */
  cio__obj_remove(loop, CIO__OBJ_TASK, t);
}
