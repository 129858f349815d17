/* Task dumps: every task not yet done, with its state, age, what it waits
 * on and its own stack, then the await graph drawn as a tree (as Python
 * 3.14's `asyncio pstree` draws it).
 *
 * A suspended task's stack is walked from the frame its last switch saved
 * (src/arch/backtrace.c); the running task's (a dump called from a task)
 * from here.  What a task waits on comes from its wait record: the kind
 * and object every wait site sets (struct cio__wait_kind), described now.
 * Edges of the graph are the futures a wait awaits (`awaits`): a task
 * awaiting a task, gather's children, a task group's tasks.
 *
 * Loop thread only, and never on the hot path: a dump may read ELF files
 * and run addr2line to name frames.
 */
#include <inttypes.h>
#include <pthread.h>
#include <unistd.h>

#include "debug/debug.h"

enum {
  MAX_FRAMES = 24,   /* frames walked per task */
  MAX_AWAITS = 16,   /* edges kept per task */
  MAX_STACKS = 1000, /* tasks whose stacks a dump walks */
  MAX_DEPTH = 64,    /* the tree's depth in tasks */
};

static const char *state_name(const cio_task *t) {
  switch (t->state) {
  case CIO__TASK_NEW:
    return "pending (not started)";
  case CIO__TASK_READY:
    return "ready";
  case CIO__TASK_RUNNING:
    return "running";
  case CIO__TASK_WAITING:
    return "waiting";
  default:
    return "done";
  }
}

void cio__task_describe(cio_loop *loop, const void *obj,
                        struct cio__text *out) {
  (void)loop;
  cio_task *t = (cio_task *)obj;
  if (t->fut.state == CIO__FUT_FREED) {
    cio__text_printf(out, "%p (released)", obj);
    return;
  }
  cio__text_printf(out, "'%s' (Task-%" PRIu64 "), %s", cio_task_get_name(t),
                   t->id, state_name(t));
}

void cio__future_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const cio_future *f = obj;
  static const char *const states[] = {"pending", "done", "failed", "cancelled",
                                       "released"};
  cio__text_printf(out, "%p (%s)", obj,
                   f->state <= CIO__FUT_FREED ? states[f->state] : "?");
}

/* ---- one task ---------------------------------------------------------- */

size_t cio__task_backtrace(cio_loop *loop, cio_task *t, void **pcs,
                           size_t cap) {
  if (t->state == CIO__TASK_NEW || t->fiber.stack == NULL)
    return 0;
  if (t == loop->current && cio__fiber_running == &t->fiber)
    return cio__backtrace_here(pcs, cap);
  if (t->state == CIO__TASK_RUNNING)
    return 0; /* running, but not here: no saved context to walk */
  if (t->is_small)
    return 0; /* its frames may be copied out (put_task says so) */
  return cio__fiber_backtrace(&t->fiber, pcs, cap);
}

/* What a parked small task waits on lives in its frames, which may be
 * copied out (small.c): its address on the shared stack may hold another
 * task's frames, or the Debug pattern (poisoned under ASan).  Such an
 * object is not read; one elsewhere (a lock, a future) is. */
static bool parked_small_obj(const cio_loop *loop, const cio_task *t,
                             const struct cio__wait *w) {
  return t->is_small && t != loop->current && cio__small_on_shared(loop, w->obj);
}

void cio__task_put_wait(cio_loop *loop, cio_task *t, struct cio__text *out) {
  const struct cio__wait *w = t->wait;
  if (t->state != CIO__TASK_WAITING || w == NULL) {
    cio__text_put(out, t->state == CIO__TASK_RUNNING ? "nothing (running)"
                       : t->state == CIO__TASK_NEW   ? "nothing (not started)"
                                                     : "nothing (ready)");
    return;
  }
  if (w->kind == NULL) {
    cio__text_put(out, "something its wait site does not name");
    return;
  }
  cio__text_put(out, w->kind->what);
  if (parked_small_obj(loop, t, w)) {
    cio__text_put(out, " (not described: it lies in a parked small task's "
                       "frames)");
    return;
  }
  if (w->kind->describe != NULL) {
    cio__text_put(out, ": ");
    w->kind->describe(loop, w->obj, out);
  }
}

/* The futures `t`'s wait awaits, up to `cap`; returns how many. */
static size_t task_awaits(cio_task *t, cio_future **out, size_t cap) {
  const struct cio__wait *w = t->wait;
  if (t->state != CIO__TASK_WAITING || w == NULL || w->kind == NULL ||
      w->kind->awaits == NULL || parked_small_obj(t->fut.loop, t, w))
    return 0;
  size_t n = w->kind->awaits(w->obj, out, cap);
  return n < cap ? n : cap;
}

/* The frames worth showing, [*lo, *hi): from the casyncio call the task
 * is in (the last library frame above the user's code) down to the
 * user's outermost frame (below it, the task's entry in casyncio). */
static void visible_range(const struct cio__frame *f, size_t n, size_t *lo,
                          size_t *hi) {
  size_t first = cio__frames_first_user(f, n);
  if (first == n) { /* nothing but casyncio: show it all */
    *lo = 0;
    *hi = n;
    return;
  }
  *lo = first > 0 ? first - 1 : 0;
  size_t last = n;
  while (last > first && f[last - 1].library)
    last--;
  *hi = last;
}

/* ---- the whole dump ---------------------------------------------------- */

struct dtask {
  cio_task *t;
  struct cio__frame *frames; /* into the dump's one array */
  size_t nframes, lo, hi;    /* shown: [lo, hi) */
  struct cio__frame *site;   /* debug mode: where it was created */
  size_t nsite;
  struct cio__frame entry;   /* a task not started: its function */
  cio_future *awaits[MAX_AWAITS];
  size_t nawaits;
  bool awaited; /* by another task of the dump */
  bool on_path; /* being drawn (cycle check) */
  bool drawn;   /* reached from a root */
};

struct dump {
  cio_loop *loop;
  struct dtask *tasks;
  size_t n;
  struct cio__frame *frames;
  struct cio__text *out;
};

static struct dtask *find_task(struct dump *d, const cio_future *f) {
  if (f == NULL || !f->is_task)
    return NULL;
  for (size_t i = 0; i < d->n; i++)
    if (&d->tasks[i].t->fut == f)
      return &d->tasks[i];
  return NULL;
}

/* Walk every task's stack, note its edges, then symbolize all frames at
 * once (one addr2line run per module). */
static bool collect(struct dump *d) {
  cio_loop *loop = d->loop;
  d->n = loop->live_tasks;
  size_t stacks = d->n < MAX_STACKS ? d->n : MAX_STACKS;
  d->tasks = calloc(d->n ? d->n : 1, sizeof *d->tasks);
  d->frames = calloc(stacks * (MAX_FRAMES + CIO__SITE_FRAMES) + 1,
                     sizeof *d->frames);
  if (d->tasks == NULL || d->frames == NULL)
    return false;
  size_t i = 0, used = 0;
  cio__list_foreach(it, &loop->tasks) {
    if (i == d->n)
      break;
    struct dtask *dt = &d->tasks[i++];
    dt->t = cio__container_of(it, cio_task, alive);
    dt->nawaits = task_awaits(dt->t, dt->awaits, MAX_AWAITS);
    if (i > stacks)
      continue;
    void *pcs[MAX_FRAMES];
    dt->frames = d->frames + used;
    dt->nframes = cio__task_backtrace(loop, dt->t, pcs, MAX_FRAMES);
    for (size_t k = 0; k < dt->nframes; k++)
      dt->frames[k] = (struct cio__frame){.pc = pcs[k]};
    used += dt->nframes;
    dt->site = d->frames + used;
    dt->nsite = loop->dbg.on ? cio__registry_site(loop, dt->t, pcs,
                                                  CIO__SITE_FRAMES)
                             : 0;
    for (size_t k = 0; k < dt->nsite; k++)
      dt->site[k] = (struct cio__frame){.pc = pcs[k]};
    used += dt->nsite;
    dt->entry =
        (struct cio__frame){.pc = CIO__CODE_ADDR(dt->t->fn), .exact = true};
  }
  d->n = i;
  cio__symbolize(d->frames, used);
  for (i = 0; i < d->n; i++) {
    struct dtask *dt = &d->tasks[i];
    if (dt->t->state == CIO__TASK_NEW && i < stacks)
      cio__symbolize(&dt->entry, 1);
    visible_range(dt->frames, dt->nframes, &dt->lo, &dt->hi);
    for (size_t k = 0; k < dt->nawaits; k++) {
      struct dtask *child = find_task(d, dt->awaits[k]);
      if (child != NULL && child != dt)
        child->awaited = true;
    }
  }
  return true;
}

static void put_task(struct dump *d, struct dtask *dt) {
  cio_loop *loop = d->loop;
  struct cio__text *out = d->out;
  cio_task *t = dt->t;
  int64_t age = cio__now_ns(loop) - t->created_ns;
  cio__text_printf(out, "\nTask '%s' (Task-%" PRIu64 "): %s, age %.3f s\n",
                   cio_task_get_name(t), t->id, state_name(t),
                   (double)(age > 0 ? age : 0) / 1e9);
  cio__text_put(out, "    waits on: ");
  cio__task_put_wait(loop, t, out);
  cio__text_put(out, "\n");
  if (loop->dbg.on && dt->site != NULL) {
    cio__text_put(out, "    ");
    cio__site_put(out, dt->site, dt->nsite);
    cio__text_put(out, "\n");
  }
  if (t->state == CIO__TASK_NEW && dt->frames != NULL) {
    cio__text_put(out, "    will run ");
    cio__frame_put(out, &dt->entry);
    cio__text_put(out, "\n");
  }
  cio__frames_put_list(out, dt->frames + dt->lo, dt->hi - dt->lo, "    ");
  if (dt->frames == NULL)
    cio__text_put(out, "    (stack not walked: too many tasks)\n");
  else if (t->is_small && dt->nframes == 0 && t->state != CIO__TASK_NEW)
    cio__text_put(out, "    (stack not walked: a small task's frames are "
                       "copied off the shared stack while it is parked)\n");
}

/* Start a tree line: "<prefix>└── " (├── when more siblings follow). */
static void branch(struct cio__text *out, struct cio__text *prefix, bool last) {
  cio__text_put(out, cio__text_str(prefix));
  cio__text_put(out, last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ");
}

static void put_frame_label(struct cio__text *out, const struct cio__frame *f) {
  if (f->func[0] != '\0')
    cio__text_put(out, f->func);
  else
    cio__text_printf(out, "%p", f->pc);
  if (f->where[0] != '\0')
    cio__text_printf(out, " %s", f->where);
}

/* One frame of a task's chain, one level below the last: the functions
 * its code was inlined into first (outermost first), then its own. */
static void draw_frame(struct cio__text *out, struct cio__text *prefix,
                       const struct cio__frame *f) {
  const char *lines[8];
  size_t lens[8], n = 0;
  for (const char *p = f->inlined; *p != '\0' && n < 8;) {
    lens[n] = strcspn(p, "\n");
    lines[n++] = p;
    p += lens[n - 1] + (p[lens[n - 1]] == '\n');
  }
  while (n-- > 0) { /* "worker (app.c:80)" as "worker app.c:80" */
    branch(out, prefix, true);
    cio__text_put(out, " ");
    const char *paren = memchr(lines[n], '(', lens[n]);
    if (paren != NULL && paren > lines[n]) {
      cio__text_putn(out, lines[n], (size_t)(paren - lines[n]));
      cio__text_putn(out, paren + 1, lens[n] - (size_t)(paren - lines[n]) - 2);
    } else {
      cio__text_putn(out, lines[n], lens[n]);
    }
    cio__text_put(out, "\n");
    cio__text_put(prefix, "    ");
  }
  branch(out, prefix, true);
  cio__text_put(out, " ");
  put_frame_label(out, f);
  cio__text_put(out, "\n");
  cio__text_put(prefix, "    ");
}

static void draw_task(struct dump *d, struct dtask *dt,
                      struct cio__text *prefix, bool last, int depth);

/* Under a task's innermost frame: the tasks it awaits, or what else it
 * waits on. */
static void draw_awaited(struct dump *d, struct dtask *dt,
                         struct cio__text *prefix, int depth) {
  size_t kids = 0;
  for (size_t k = 0; k < dt->nawaits; k++)
    if (find_task(d, dt->awaits[k]) != NULL)
      kids++;
  size_t drawn = 0;
  for (size_t k = 0; k < dt->nawaits; k++) {
    struct dtask *child = find_task(d, dt->awaits[k]);
    if (child != NULL)
      draw_task(d, child, prefix, ++drawn == kids, depth + 1);
  }
  if (kids == 0 && dt->t->state == CIO__TASK_WAITING) {
    branch(d->out, prefix, true);
    cio__text_put(d->out, "[waits] ");
    cio__task_put_wait(d->loop, dt->t, d->out);
    cio__text_put(d->out, "\n");
  }
}

static void draw_task(struct dump *d, struct dtask *dt,
                      struct cio__text *prefix, bool last, int depth) {
  struct cio__text *out = d->out;
  branch(out, prefix, last);
  cio__text_printf(out, "(T) %s", cio_task_get_name(dt->t));
  if (dt->on_path || depth > MAX_DEPTH) {
    cio__text_put(out, dt->on_path ? " (a cycle: it awaits a task that "
                                     "awaits it)\n"
                                   : " (deeper levels left out)\n");
    return;
  }
  cio__text_put(out, "\n");
  dt->on_path = true;
  dt->drawn = true;
  size_t mark = prefix->len;
  cio__text_put(prefix, last ? "    " : "\u2502   ");
  /* Frames outermost first, each one level below the last, as pstree. */
  const struct cio__frame *frames = dt->frames;
  if (dt->t->state == CIO__TASK_NEW && frames != NULL) {
    branch(out, prefix, true);
    cio__text_put(out, " ");
    put_frame_label(out, &dt->entry);
    cio__text_put(out, " (not started)\n");
  }
  for (size_t k = dt->hi; k > dt->lo; k--)
    draw_frame(out, prefix, &frames[k - 1]);
  draw_awaited(d, dt, prefix, depth);
  prefix->len = mark;
  if (prefix->buf != NULL)
    prefix->buf[mark] = '\0';
  dt->on_path = false;
}

static void draw_tree(struct dump *d) {
  struct cio__text prefix;
  cio__text_init(&prefix);
  cio__text_put(&prefix, "");
  size_t roots = 0;
  for (size_t i = 0; i < d->n; i++)
    if (!d->tasks[i].awaited)
      roots++;
  size_t drawn = 0;
  for (size_t i = 0; i < d->n; i++)
    if (!d->tasks[i].awaited)
      draw_task(d, &d->tasks[i], &prefix, ++drawn == roots, 0);
  /* Tasks only reachable through a cycle have no root: start there. */
  for (size_t i = 0; i < d->n; i++)
    if (!d->tasks[i].drawn)
      draw_task(d, &d->tasks[i], &prefix, true, 0);
  cio__text_free(&prefix);
}

void cio__dump(cio_loop *loop, struct cio__text *out) {
  struct dump d = {.loop = loop, .out = out};
  cio__text_printf(out,
                   "casyncio: dump of loop %p (pid %d, thread %d, loop time "
                   "%.3f s): %zu task%s\n",
                   (void *)loop, (int)getpid(), (int)gettid(),
                   (double)cio__now_ns(loop) / 1e9, loop->live_tasks,
                   loop->live_tasks == 1 ? "" : "s");
  if (!collect(&d)) {
    cio__text_put(out, "(out of memory)\n");
  } else {
    for (size_t i = 0; i < d.n; i++)
      put_task(&d, &d.tasks[i]);
    if (d.n > 0) {
      cio__text_put(out, "\nawait graph:\n");
      draw_tree(&d);
    }
  }
  free(d.tasks);
  free(d.frames);
}

int cio_loop_dump(cio_loop *loop, FILE *out) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL)
    return CIO_EINVAL;
  if (loop != cio__loop_current())
    return CIO_EPERM;
  if (out == NULL)
    out = stderr;
  struct cio__text text;
  cio__text_init(&text);
  cio__dump(loop, &text);
  int rc = text.failed ? CIO_ENOMEM : 0;
  const char *s = cio__text_str(&text);
  if (fputs(s, out) == EOF || fflush(out) != 0)
    rc = CIO_EIO;
  cio__text_free(&text);
  return rc;
}
