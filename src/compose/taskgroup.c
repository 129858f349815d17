/* TaskGroup, after CPython 3.13's taskgroups.py.
 *
 *   ENTERED -> (ABORTING) -> EXITING -> FINISHED
 *   ABORTING: a child failed, the body failed, or the parent was cancelled:
 *             every child not done is cancelled, no new child is accepted.
 *
 * (1) The group holds a reference on each child until it is done; `live`
 *     counts those.  Exit returns only when `live` is zero.
 * (2) The group cancels its parent at most once (parent_cancel_requested)
 *     and withdraws exactly that request at exit (uncancel).
 * (3) `errors` lists child errors in completion order, the body's last.
 */
#include "internal.h"

struct child {
  struct cio__link link;
  struct cio__list node; /* in tg->children while not done */
  cio_task *task;
};

struct cio_taskgroup {
  cio_loop *loop;
  cio_task *parent;
  struct cio__list children;
  size_t live;
  bool aborting;
  bool exiting;
  bool finished;
  bool parent_cancel_requested;
  struct cio__list exit_waiter; /* the parent, parked in exit */
  int *errors;                  /* inline_errors, or a larger heap array */
  size_t nerrors, cap_errors;
  int inline_errors[4]; /* the common case needs no allocation */
};

static size_t tg_awaits(const void *obj, cio_future **out, size_t cap) {
  const cio_taskgroup *tg = obj;
  size_t count = 0;
  cio__list_foreach(it, (struct cio__list *)&tg->children) {
    struct child *c = cio__container_of(it, struct child, node);
    if (count < cap)
      out[count] = cio_task_future(c->task);
    count++;
  }
  return count;
}

static const struct cio__wait_kind tg_kind = {.what = "task group",
                                              .awaits = tg_awaits};

static void add_error(cio_taskgroup *tg, int code) {
  if (tg->nerrors == tg->cap_errors) {
    size_t cap = tg->cap_errors * 2;
    int *grown = cio__malloc(tg->loop, cap * sizeof *grown);
    if (grown == NULL) {
      /* The list cannot grow: the last slot says "and more errors", so
       * the group still reports a failure. */
      tg->errors[tg->nerrors - 1] = CIO_ENOMEM;
      return;
    }
    for (size_t i = 0; i < tg->nerrors; i++)
      grown[i] = tg->errors[i];
    if (tg->errors != tg->inline_errors)
      cio__free(tg->loop, tg->errors);
    tg->errors = grown;
    tg->cap_errors = cap;
  }
  tg->errors[tg->nerrors++] = code;
}

static void abort_children(cio_taskgroup *tg) {
  tg->aborting = true;
  cio__list_foreach(it, &tg->children) {
    struct child *c = cio__container_of(it, struct child, node);
    if (!cio_task_is_done(c->task))
      cio_task_cancel(c->task);
  }
}

static void on_child_done(struct cio__callback *cb) {
  struct child *c = cio__container_of(cb, struct child, link.cb);
  cio_taskgroup *tg = c->link.owner;
  cio_task *t = c->task;
  cio__list_remove(&c->node);
  tg->live--;
  if (tg->live == 0)
    cio__wait_wake_first(&tg->exit_waiter, 0);
  int err = cio_task_is_cancelled(t) ? 0 : cio_task_error(t);
  cio__link_done(&c->link);
  cio_task_release(t);
  cio__free(tg->loop, c);
  if (err == 0)
    return;
  add_error(tg, err);
  if (cio_task_is_done(tg->parent))
    return; /* nobody left to tell; the error is kept in the list */
  if (!tg->aborting && !tg->parent_cancel_requested) {
    abort_children(tg);
    tg->parent_cancel_requested = true;
    cio_task_cancel(tg->parent);
  }
}

int cio_taskgroup_enter(cio_taskgroup **out) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  cio_taskgroup *tg = cio__calloc(self->fut.loop, 1, sizeof *tg);
  if (tg == NULL)
    return CIO_ENOMEM;
  tg->loop = self->fut.loop;
  tg->parent = self;
  tg->errors = tg->inline_errors;
  tg->cap_errors = sizeof tg->inline_errors / sizeof tg->inline_errors[0];
  cio__list_init(&tg->children);
  cio__list_init(&tg->exit_waiter);
  *out = tg;
  return 0;
}

int cio_taskgroup_create_task(cio_taskgroup *tg, cio_task **out, cio_task_fn fn,
                              void *arg, const cio_task_opts *opts) {
  if (out != NULL)
    *out = NULL;
  if (tg == NULL || fn == NULL)
    return CIO_EINVAL;
  if (tg->finished || (tg->exiting && tg->live == 0) || tg->aborting)
    return CIO_EINVAL; /* finished, or shutting down */
  struct child *c = cio__malloc(tg->loop, sizeof *c);
  if (c == NULL)
    return CIO_ENOMEM;
  int rc = cio_create_task(tg->loop, &c->task, fn, arg, opts);
  if (rc < 0) {
    cio__free(tg->loop, c);
    return rc;
  }
  cio__list_push_back(&tg->children, &c->node);
  tg->live++;
  cio__link_attach(&c->link, cio_task_future(c->task), on_child_done, tg, 0);
  if (out != NULL)
    *out = cio_task_retain(c->task);
  return 0;
}

/* Wait until every child is done; a cancellation of the parent while
 * waiting wakes it at once (cancelling CPython's _on_completed_fut),
 * aborts the children (once) and is remembered. */
static int wait_children(cio_taskgroup *tg, int propagate_cancel) {
  while (tg->live > 0) {
    struct cio__wait w;
    cio__wait_init(&w, tg->parent, 0);
    cio__wait_about(&w, &tg_kind, tg);
    int rc = cio__wait_on(&tg->exit_waiter, &w);
    if (rc == CIO_ECANCELED && !tg->aborting) {
      propagate_cancel = CIO_ECANCELED;
      abort_children(tg);
    }
  }
  return propagate_cancel;
}

int cio_taskgroup_exit(cio_taskgroup *tg, int body_rc) {
  if (tg == NULL || tg->exiting)
    return CIO_EINVAL;
  if (cio_current_task() != tg->parent)
    return CIO_EPERM;
  tg->exiting = true;
  int propagate_cancel = body_rc == CIO_ECANCELED ? CIO_ECANCELED : 0;
  if (body_rc < 0 && !tg->aborting)
    abort_children(tg);
  propagate_cancel = wait_children(tg, propagate_cancel);
  tg->finished = true;
  if (tg->parent_cancel_requested && cio_task_uncancel(tg->parent) == 0)
    propagate_cancel = 0; /* the only cancellation was ours */
  if (propagate_cancel != 0 && tg->nerrors == 0)
    return CIO_ECANCELED;
  if (body_rc < 0 && body_rc != CIO_ECANCELED)
    add_error(tg, body_rc);
  if (tg->nerrors == 0)
    return 0;
  /* A cancellation from outside must not be lost behind the errors:
   * re-arm it so the parent's next wait sees it. */
  if (cio_task_cancelling(tg->parent) > 0) {
    cio_task_uncancel(tg->parent);
    cio_task_cancel(tg->parent);
  }
  return CIO_ECHILD;
}

size_t cio_taskgroup_errors(const cio_taskgroup *tg, int *codes, size_t cap) {
  if (tg == NULL)
    return 0;
  for (size_t i = 0; i < tg->nerrors && i < cap && codes != NULL; i++)
    codes[i] = tg->errors[i];
  return tg->nerrors;
}

int cio_taskgroup_free(cio_taskgroup *tg) {
  if (tg == NULL)
    return 0;
  if (tg->live > 0)
    return CIO_EBUSY;
  if (tg->errors != tg->inline_errors)
    cio__free(tg->loop, tg->errors);
  cio__free(tg->loop, tg);
  return 0;
}
