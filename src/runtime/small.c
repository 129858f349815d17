/* Small tasks: many tasks, one stack (cio_task_opts.small).
 *
 * A small task runs on the loop's shared stack.  While it is switched out
 * its frames stay there until another small task needs the stack; then the
 * used part is copied into the task's own buffer (struct cio__small, about
 * the size of the frames: a few hundred bytes for a task parked in
 * cio_sleep), and copied back before it runs again, at the same address,
 * so pointers the task holds to its own locals stay right.  That is
 * libaco's shared-stack model: a sleeping task costs its task struct and
 * the bytes its stack really uses, not a page.
 *
 * The catch: while a small task is parked, its stack may be somewhere
 * else, so nothing may keep a pointer into it, except what the runtime
 * moves along (`relocate`):
 *   - the record of the wait it is parked on (loop->small_wait when it
 *     switched out), linked in a lock's or future's list: the neighbours
 *     are pointed at the copy;
 *   - the timer of that wait (loop->small_timer, cio_sleep's): its heap
 *     slot or ready-queue links are pointed at the copy;
 *   - the timeout scopes it has entered (t->scopes) and their timers.
 * A small task may therefore sleep, yield, await futures and tasks, wait
 * for locks, events, conditions, semaphores, barriers and queues, gather,
 * wait, wait_for, use timeout scopes and TaskGroups.  It must not hand
 * pointers to its locals to anything that outlives a suspension: another
 * task, a callback, a buffer read into while it waits (a stream read into
 * a local array), a libuv request (files, DNS, connect, processes: these
 * abort in Debug builds when started from a small task, uvwait.c), fd
 * waits with a timeout (not checked).  Debug builds check the rule: every switch out of a small task
 * moves its frames off the shared stack at once and fills what they left
 * with a pattern (and poisons it under AddressSanitizer); before a small
 * task's frames go back, the pattern must be intact, or something wrote
 * through a pointer into a parked small task's stack, which is reported.
 *
 * The copy skips run_body's gap (task.c), 512 bytes of nothing.
 *
 *   NEW      -> RESIDENT  cio__small_enter(): its frames start on the stack
 *   RESIDENT -> SAVED     evict(): another small task needs the stack
 *   SAVED    -> RESIDENT  cio__small_enter(): copied back
 *   any      -> gone      cio__small_bury()
 * (1) loop->shared_owner is the only small task whose frames are on the
 *     shared stack; every other started small task that is not done has
 *     them in its buffer (sm->sp set).
 * (2) Copies and relocations run on a stack other than the shared one
 *     (the loop's own: small tasks always switch through it).
 * (3) A parked small task's buffer can usually hold its frames
 *     (cio__small_reserve at every switch out), so an eviction rarely
 *     allocates: only when the frames were deeper than any seen before, or
 *     the reservation found no memory; if the eviction finds none either,
 *     the process stops with a message (grow_at_eviction).
 */
#include <assert.h>
#include <string.h>

#include "internal.h"

#if defined(CIO__ASAN)
#include <sanitizer/asan_interface.h>
#endif

/* Valgrind's memcheck marks the part of a stack below its stack pointer as
 * gone when the pointer rises; the shared stack's vacated part is written
 * on purpose here (frames copied back, the Debug pattern), so it is made
 * addressable first.  No-ops when not under Valgrind. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define VG_WRITABLE(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define VG_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#endif
#endif
#ifndef VG_WRITABLE
#define VG_WRITABLE(p, n) ((void)(p), (void)(n))
#define VG_DEFINED(p, n) ((void)(p), (void)(n))
#endif

enum {
  GAP_BYTES = CIO__BODY_GAP,
  FIRST_MARGIN = 512, /* frame bytes below a reservation, until measured */
  POISON = 0xdb,
};

/* 32 bytes and the frames: [sp, gap) at data, then [gap end, top).  A
 * stack pointer at a switch is 16-byte aligned, and so is data, so what
 * the frames hold keeps its alignment in the copy. */
struct cio__small {
  char *sp;                 /* saved from here; NULL: not saved */
  uint32_t cap;             /* bytes of data[] */
  uint32_t lo_len;          /* bytes of [sp, gap) */
  struct cio__wait *wait;   /* stack address of the record moved, or NULL */
  struct cio__timer *timer; /* the same for the wait's timer */
  char data[];
};
static_assert(sizeof(struct cio__small) % 16 == 0, "data must stay aligned");

static char *stack_top(const cio_loop *loop) {
  return (char *)loop->shared->lo + loop->shared->size;
}

/* ---- the shared stack ----------------------------------------------------- */

int cio__small_open(cio_loop *loop) {
  if (loop->shared != NULL)
    return 0;
  return cio__stack_acquire(&loop->stacks, &loop->shared);
}

void cio__small_close(cio_loop *loop) {
  if (loop->shared != NULL) {
    cio__stack_release(&loop->stacks, loop->shared);
    loop->shared = NULL;
  }
}

bool cio__small_on_shared(const cio_loop *loop, const void *p) {
  if (loop->shared == NULL)
    return false;
  const char *c = p, *lo = loop->shared->lo;
  return c >= lo && c < lo + loop->shared->size;
}

/* ---- relocation ------------------------------------------------------------
 * A move takes the bytes at [from, from + len) to [to, to + len); pointers
 * into the old range are translated, others are left alone. */
struct move {
  char *from, *to;
  size_t len;
};

static void *moved(const struct move *m, void *p) {
  char *c = p;
  if (c >= m->from && c < m->from + m->len)
    return m->to + (c - m->from);
  return p;
}

static bool in_new(const struct move *m, const void *p) {
  const char *c = p;
  return c >= m->to && c < m->to + m->len;
}

/* `n` (at its new address, its bytes already copied) was linked from its
 * old one: point its neighbours at it. */
static void move_node(const struct move *m, struct cio__list *n) {
  n->prev = moved(m, n->prev);
  n->next = moved(m, n->next);
  n->prev->next = n;
  n->next->prev = n;
}

static void move_timer(const struct move *m, cio_loop *loop,
                       struct cio__timer *t) {
  if (t->in_heap)
    cio__timer_moved(loop, t);
  move_node(m, &t->cb.node);
}

/* Point everything the runtime knows of at the frames' new place:
 * `wait` and `timer` are where the record and the timer are now (or NULL). */
static void relocate(const struct move *m, cio_task *t,
                     struct cio__wait *wait, struct cio__timer *timer) {
  cio_loop *loop = t->fut.loop;
  /* A callback the task handed to the loop's stack as it switched out
   * (its own timer's, say). */
  loop->handoff = moved(m, loop->handoff);
  if (wait != NULL) {
    move_node(m, &wait->cb.node);
    t->wait = moved(m, t->wait);
  }
  if (timer != NULL)
    move_timer(m, loop, timer);
  /* The entered scopes: their guards form a list from the task struct. */
  struct cio__list *it = t->scopes.next;
  while (it != &t->scopes) {
    struct cio__list *n = moved(m, it);
    if (in_new(m, n)) {
      struct cio__scope_guard *g =
          cio__container_of(n, struct cio__scope_guard, node);
      move_node(m, n);
      if (g->timer != NULL) {
        g->timer = moved(m, g->timer);
        if (in_new(m, g->timer))
          move_timer(m, loop, g->timer);
      }
    }
    it = n->next;
  }
}

/* ---- saving and restoring --------------------------------------------------- */

static void copy_bytes(void *to, const void *from, size_t n) {
#if defined(CIO__ASAN)
  /* The frames carry ASan's redzones: copy what is under them too. */
  __asan_unpoison_memory_region(to, n);
  __asan_unpoison_memory_region((void *)from, n);
#endif
  VG_WRITABLE(to, n);
  memcpy(to, from, n);
}

/* Bytes the frames of a task switched out at `sp` take in its buffer. */
static size_t frames_bytes(const cio_loop *loop, const char *sp) {
  const char *gap = loop->shared_gap;
  CIO_ASSERT(gap != NULL && sp < gap);
  return (size_t)(gap - sp) + (size_t)(stack_top(loop) - (gap + GAP_BYTES));
}

#if defined(CIO_DEBUG)
static bool poison_intact(cio_loop *loop);
static void poison_from(cio_loop *loop, char *from);
#endif

/* A reservation fell short (a path deeper than any measured before): grow
 * here, and remember the depth. */
static struct cio__small *grow_at_eviction(cio_task *t, size_t need) {
  cio_loop *loop = t->fut.loop;
  struct cio__small *sm = t->small;
  size_t cap = (need + 15) & ~(size_t)15;
  struct cio__small *grown = cio__malloc(loop, sizeof *sm + cap);
  if (grown == NULL) {
    fprintf(stderr,
            "casyncio: out of memory saving the stack of small task '%s' "
            "(%zu bytes)\n",
            cio_task_get_name(t), need);
    abort();
  }
  *grown = (struct cio__small){.cap = (uint32_t)cap};
  cio__free(loop, sm);
  t->small = grown;
  return grown;
}

/* Move the occupant's frames into its buffer. */
static void evict(cio_loop *loop) {
  cio_task *t = loop->shared_owner;
  struct cio__small *sm = t->small;
  char *sp = t->fiber.ctx.sp, *gap = loop->shared_gap;
  char *top = stack_top(loop);
  size_t need = frames_bytes(loop, sp);
  /* The occupant is the small task that switched out last, so the
   * reservation and the park recorded in the loop are its own. */
  if (loop->small_frame != NULL && loop->small_frame > sp) {
    size_t depth = (size_t)(loop->small_frame - sp);
    if (loop->small_margin == FIRST_MARGIN || depth > loop->small_margin)
      loop->small_margin = (depth + 15) & ~(size_t)15;
  }
  if (sm == NULL || need > sm->cap)
    sm = grow_at_eviction(t, need);
  size_t hi_len = (size_t)(top - (gap + GAP_BYTES));
  sm->sp = sp;
  sm->lo_len = (uint32_t)(gap - sp);
  copy_bytes(sm->data, sp, sm->lo_len);
  copy_bytes(sm->data + sm->lo_len, gap + GAP_BYTES, hi_len);
  struct move m = {.from = sp, .to = sm->data, .len = sm->lo_len};
  struct cio__wait *w = moved(&m, loop->small_wait);
  struct cio__timer *tm = moved(&m, loop->small_timer);
  sm->wait = in_new(&m, w) ? loop->small_wait : NULL;
  sm->timer = in_new(&m, tm) ? loop->small_timer : NULL;
  relocate(&m, t, sm->wait ? w : NULL, sm->timer ? tm : NULL);
  loop->shared_owner = NULL;
  loop->small_frame = NULL;
  /* The park recorded was the occupant's: the next small task to switch
   * out records its own (a lock's wait has no timer: a stale one would be
   * "moved" from the frames now there). */
  loop->small_wait = NULL;
  loop->small_timer = NULL;
#if defined(CIO_DEBUG)
  poison_from(loop, sp);
#endif
}

static void restore(cio_loop *loop, cio_task *t) {
  struct cio__small *sm = t->small;
  char *gap = loop->shared_gap;
  CIO_ASSERT(sm != NULL && sm->sp != NULL && sm->sp == t->fiber.ctx.sp);
  size_t hi_len = (size_t)(stack_top(loop) - (gap + GAP_BYTES));
  copy_bytes(sm->sp, sm->data, sm->lo_len);
  copy_bytes(gap + GAP_BYTES, sm->data + sm->lo_len, hi_len);
  struct move m = {.from = sm->data, .to = sm->sp, .len = sm->lo_len};
  sm->sp = NULL;
  relocate(&m, t, sm->wait, sm->timer);
  /* Running again: the park it returns from is the loop's latest. */
  loop->small_wait = sm->wait;
  loop->small_timer = sm->timer;
}

void cio__small_enter(cio_loop *loop, cio_task *t) {
  if (loop->shared_owner == t)
    return;
  if (loop->shared_owner != NULL)
    evict(loop);
#if defined(CIO_DEBUG)
  if (!poison_intact(loop)) {
    fprintf(stderr,
            "casyncio: the stack of a parked small task was written to while "
            "it was not running: something kept a pointer into a small "
            "task's stack (see cio_task_opts.small)\n");
    abort();
  }
#endif
#if defined(CIO__ASAN)
  __asan_unpoison_memory_region(loop->shared->lo, loop->shared->size);
#endif
  if (t->state == CIO__TASK_NEW) {
    cio__fiber_init_small(t); /* task.c: its frames start here */
    loop->small_wait = NULL;
    loop->small_timer = NULL;
  }
  else
    restore(loop, t);
  loop->shared_owner = t;
}

void cio__small_left(cio_loop *loop) {
#if defined(CIO_DEBUG)
  /* Debug builds move the frames out at once, to check the rule above. */
  cio_task *t = loop->shared_owner;
  if (t != NULL && t->state != CIO__TASK_DONE)
    evict(loop);
#else
  (void)loop;
#endif
}

void cio__small_bury(cio_loop *loop, cio_task *t) {
  if (loop->shared_owner == t) {
    loop->shared_owner = NULL;
#if defined(CIO_DEBUG)
    poison_from(loop, t->fiber.ctx.sp);
#endif
  }
  cio__free(loop, t->small);
  t->small = NULL;
}

/* ---- room for the frames ---------------------------------------------------- */

/* The frames below `frame` (the switch's, a few calls deep) are not known
 * here: loop->small_margin is the most any eviction has seen, and the
 * first reservations assume FIRST_MARGIN. */
int cio__small_reserve(cio_task *t, const void *frame) {
  cio_loop *loop = t->fut.loop;
  const char *f = frame;
  if (loop->small_margin == 0)
    loop->small_margin = FIRST_MARGIN;
  size_t need = frames_bytes(loop, f) + loop->small_margin;
  struct cio__small *sm = t->small;
  if (sm == NULL || sm->cap < need) {
    need = (need + 15) & ~(size_t)15;
    struct cio__small *grown = cio__malloc(loop, sizeof *sm + need);
    if (grown == NULL)
      return CIO_ENOMEM;
    *grown = (struct cio__small){.cap = (uint32_t)need};
    cio__free(loop, sm);
    t->small = grown;
  }
  loop->small_frame = f;
  return 0;
}

/* ---- the Debug check ------------------------------------------------------------ */

#if defined(CIO_DEBUG)
/* The shared stack is empty: fill it with the pattern from `from` or the
 * lowest point filled before, whichever is lower (the frames that ran
 * since may have gone deeper than where they left). */
static void poison_from(cio_loop *loop, char *from) {
  char *top = stack_top(loop);
  if (loop->poison_lo != NULL && loop->poison_lo < from)
    from = loop->poison_lo;
  loop->poison_lo = from;
  loop->poison_pending = true;
#if defined(CIO__ASAN)
  __asan_unpoison_memory_region(from, (size_t)(top - from));
#endif
  VG_WRITABLE(from, (size_t)(top - from));
  memset(from, POISON, (size_t)(top - from));
#if defined(CIO__ASAN)
  __asan_poison_memory_region(from, (size_t)(top - from));
#endif
}

/* Before frames go back on the shared stack: the pattern must be there
 * still.  The check consumes it. */
static bool poison_intact(cio_loop *loop) {
  char *lo = loop->poison_lo, *top = stack_top(loop);
  if (!loop->poison_pending)
    return true;
  loop->poison_pending = false;
#if defined(CIO__ASAN)
  __asan_unpoison_memory_region(lo, (size_t)(top - lo));
#endif
  VG_DEFINED(lo, (size_t)(top - lo)); /* written by poison_from (or a stray) */
  for (const char *p = lo; p < top; p++)
    if ((unsigned char)*p != POISON)
      return false;
  return true;
}
#endif
