/* Task-local context, as Python's contextvars under asyncio.
 *
 * A context is an immutable map from variables to values, shared by
 * reference: copying one (a new task starting with its creator's context,
 * a callback capturing the context it was scheduled from) is a reference
 * count increment, and setting a variable makes a new map for the current
 * owner only, so a value set later in one task never shows in another.
 *
 * The current context belongs to the running task, or, outside tasks
 * (loop callbacks, the thread calling cio_run, executor threads), to the
 * thread: a thread-local slot.  Like the loop pointer, it is per-thread
 * state that contextvars itself keeps per thread (PyThreadState).
 *
 * (1) A map is never changed once another owner may see it.
 * (2) refs counts the slots and captured callbacks holding the map;
 *     atomic, since to_thread hands one to a worker thread.
 */
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

struct cio_contextvar {
  char *name;
  void *default_value;
  bool has_default;
};

struct ctx_item {
  const cio_contextvar *var;
  void *value;
};

struct cio__ctx {
  atomic_size_t refs;
  size_t n;
  struct ctx_item items[];
};

/* The token's private layout, in the caller's cio_context_token. */
struct token {
  cio_contextvar *var;
  const void *owner; /* the task, or this thread's slot */
  void *old_value;
  bool had_value;
  bool used;
};
_Static_assert(sizeof(struct token) <= sizeof(cio_context_token),
               "cio_context_token is too small");

static _Thread_local struct cio__ctx *thread_ctx;

/* ---- maps --------------------------------------------------------------- */

struct cio__ctx *cio__ctx_retain(struct cio__ctx *c) {
  if (c != NULL)
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  return c;
}

void cio__ctx_release(struct cio__ctx *c) {
  if (c != NULL &&
      atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
    free(c);
}

static const struct ctx_item *lookup(const struct cio__ctx *c,
                                     const cio_contextvar *var) {
  for (size_t i = 0; c != NULL && i < c->n; i++)
    if (c->items[i].var == var)
      return &c->items[i];
  return NULL;
}

/* `c` with var -> value (added, or replaced); NULL value with `remove`
 * takes it out.  A new map, or NULL without memory. */
static struct cio__ctx *with(const struct cio__ctx *c,
                             const cio_contextvar *var, void *value,
                             bool remove) {
  size_t n = c != NULL ? c->n : 0;
  struct cio__ctx *m = malloc(sizeof *m + (n + 1) * sizeof m->items[0]);
  if (m == NULL)
    return NULL;
  atomic_init(&m->refs, 1);
  m->n = 0;
  for (size_t i = 0; i < n; i++)
    if (c->items[i].var != var)
      m->items[m->n++] = c->items[i];
  if (!remove)
    m->items[m->n++] = (struct ctx_item){var, value};
  return m;
}

/* ---- the current context ------------------------------------------------- */

static struct cio__ctx **slot(const void **owner) {
  cio_loop *loop = cio__loop_current();
  cio_task *t = loop ? loop->current : NULL;
  if (owner != NULL)
    *owner = t != NULL ? (const void *)t : (const void *)&thread_ctx;
  return t != NULL ? &t->ctx : &thread_ctx;
}

struct cio__ctx *cio__ctx_current(void) {
  return *slot(NULL);
}

struct cio__ctx *cio__ctx_enter(struct cio__ctx *c) {
  struct cio__ctx *saved = thread_ctx;
  thread_ctx = cio__ctx_retain(c);
  return saved;
}

void cio__ctx_leave(struct cio__ctx *saved) {
  cio__ctx_release(thread_ctx); /* what the callback ran in (it may have
                                   set variables: a map of its own) */
  thread_ctx = saved;
}

/* ---- variables ----------------------------------------------------------- */

int cio_contextvar_new(cio_contextvar **out, const char *name, bool has_default,
                       void *default_value) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (name == NULL)
    return CIO_EINVAL;
  cio_contextvar *v = malloc(sizeof *v);
  char *copy = strdup(name);
  if (v == NULL || copy == NULL) {
    free(v);
    free(copy);
    return CIO_ENOMEM;
  }
  *v = (cio_contextvar){
      .name = copy, .has_default = has_default, .default_value = default_value};
  *out = v;
  return 0;
}

void cio_contextvar_free(cio_contextvar *var) {
  if (var == NULL)
    return;
  free(var->name);
  free(var);
}

const char *cio_contextvar_name(const cio_contextvar *var) {
  return var != NULL ? var->name : NULL;
}

int cio_contextvar_get(const cio_contextvar *var, void **value) {
  if (value != NULL)
    *value = NULL;
  if (var == NULL || value == NULL)
    return CIO_EINVAL;
  const struct ctx_item *it = lookup(cio__ctx_current(), var);
  if (it != NULL) {
    *value = it->value;
    return 0;
  }
  if (!var->has_default)
    return CIO_ENOENT; /* LookupError */
  *value = var->default_value;
  return 0;
}

void *cio_contextvar_value(const cio_contextvar *var, void *fallback) {
  void *v;
  return cio_contextvar_get(var, &v) == 0 ? v : fallback;
}

int cio_contextvar_set(cio_contextvar *var, void *value,
                       cio_context_token *token) {
  if (var == NULL)
    return CIO_EINVAL;
  const void *owner;
  struct cio__ctx **s = slot(&owner);
  const struct ctx_item *old = lookup(*s, var);
  struct cio__ctx *m = with(*s, var, value, false);
  if (m == NULL)
    return CIO_ENOMEM;
  if (token != NULL) {
    struct token *t = (struct token *)(void *)token;
    *t = (struct token){.var = var,
                        .owner = owner,
                        .had_value = old != NULL,
                        .old_value = old != NULL ? old->value : NULL};
  }
  cio__ctx_release(*s);
  *s = m;
  return 0;
}

int cio_contextvar_reset(cio_context_token *token) {
  if (token == NULL)
    return CIO_EINVAL;
  struct token *t = (struct token *)(void *)token;
  const void *owner;
  struct cio__ctx **s = slot(&owner);
  /* RuntimeError (used twice) and ValueError (another context). */
  if (t->var == NULL || t->used || t->owner != owner)
    return CIO_EINVAL;
  struct cio__ctx *m = with(*s, t->var, t->old_value, !t->had_value);
  if (m == NULL)
    return CIO_ENOMEM;
  cio__ctx_release(*s);
  *s = m;
  t->used = true;
  return 0;
}
