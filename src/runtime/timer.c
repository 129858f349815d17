/* Timers: ordered by (deadline, sequence).  The sequence number breaks
 * ties in scheduling order; CPython leaves that order undefined, we
 * document FIFO.  A due timer is not run on the spot: its callback node
 * goes to the tail of the ready queue, like asyncio moving TimerHandles to
 * _ready, so callbacks already queued run first.
 *
 * Why arrays and not nodes inside the timers: a timer mostly lives on its
 * task's stack, so a heap of nodes linked through a million stacks touches
 * a million pages on every sift (a cache and TLB miss per level).  Here
 * the keys sit in arrays of {deadline, sequence, slot}; the slot table
 * (`slots`) maps a slot to its timer, and a stop only releases the slot:
 * the entry stays, stale, and is dropped when it reaches the front (or
 * when stale entries outnumber live ones, in one pass).  So neither a sift
 * nor a stop ever writes to a timer, and a timer is read only when it
 * fires.
 *
 * Two arrays: a run, a ring of entries in order, takes every timer whose
 * key is not below the run's last (a program that sleeps or times out for
 * the same delay over and over starts its timers in deadline order: a
 * million sleepers cost a million appends and a million pops, no sift);
 * the others go to a 4-ary heap.  The earliest timer is the smaller of
 * the run's first and the heap's top.
 *
 *   IDLE -> IN_HEAP   cio__timer_start()   (takes a slot, adds an entry)
 *   IN_HEAP -> DUE    cio__timers_collect() (entry popped, slot freed, the
 *                     callback node queued)
 *   IN_HEAP -> IDLE   cio__timer_stop()    (slot freed; the entry is stale)
 *   DUE -> IDLE       the callback ran, or cio__timer_stop() unqueued it
 * (1) An entry is live iff slots[e.slot].timer != NULL and
 *     slots[e.slot].seq == e.seq; a timer is in_heap iff its slot is live
 *     and points back to it.
 * (2) live + stale == count + run_count, and stale <= live + STALE_SLACK
 *     after every stop (compaction).
 * (3) The run is sorted by key; the heap is a heap.
 * (4) A free slot has timer == NULL and keeps the next free slot's index.
 * (5) When the arrays cannot grow (no memory), a timer is not refused: it
 *     waits in the spill list, linked through its cb.node in (deadline,
 *     seq) order (an insertion walk: memory is short, speed is not the
 *     point), spilled and in_heap both set.  The earliest timer is then
 *     the smallest of three fronts.  So cio_sleep and the timeouts never
 *     fail for want of memory, as they did not with nodes in the timers.
 */
#include <string.h>

#include "internal.h"

struct cio__timer_entry {
  int64_t when_ns;
  uint64_t seq;
  uint32_t slot;
};

struct cio__timer_slot {
  struct cio__timer *timer; /* NULL: free */
  uint64_t seq;             /* live: the entry's; free: next free index */
};

enum {
  ARITY = 4,
  FIRST_CAP = 64,   /* a power of two (the run is a ring) */
  STALE_SLACK = 64, /* stale entries tolerated beyond the live ones */
  SHRINK_CAP = 4096 /* arrays larger than this shrink when mostly empty */
};
#define NO_SLOT UINT32_MAX

typedef struct cio__timer_entry entry_t;

static bool entry_less(const entry_t *a, const entry_t *b) {
  return a->when_ns < b->when_ns ||
         (a->when_ns == b->when_ns && a->seq < b->seq);
}

static bool entry_live(const struct cio__timers *h, const entry_t *e) {
  const struct cio__timer_slot *s = &h->slots[e->slot];
  return s->timer != NULL && s->seq == e->seq;
}

/* Move `n` entries to a new array of `cap`; false if that failed. */
static bool resize(cio_loop *loop, entry_t **a, size_t n, size_t cap) {
  entry_t *b = cio__malloc(loop, cap * sizeof *b);
  if (b == NULL)
    return false;
  if (n > 0)
    memcpy(b, *a, n * sizeof *b);
  cio__free(loop, *a);
  *a = b;
  return true;
}

/* ---- the heap ---------------------------------------------------------- */

static void sift_up(entry_t *a, size_t i) {
  entry_t e = a[i];
  while (i > 0) {
    size_t p = (i - 1) / ARITY;
    if (!entry_less(&e, &a[p]))
      break;
    a[i] = a[p];
    i = p;
  }
  a[i] = e;
}

static void sift_down(entry_t *a, size_t n, size_t i) {
  entry_t e = a[i];
  for (;;) {
    size_t c = ARITY * i + 1;
    if (c >= n)
      break;
    size_t end = c + ARITY < n ? c + ARITY : n, best = c;
    for (size_t k = c + 1; k < end; k++)
      if (entry_less(&a[k], &a[best]))
        best = k;
    if (!entry_less(&a[best], &e))
      break;
    a[i] = a[best];
    i = best;
  }
  a[i] = e;
}

static void heap_pop(struct cio__timers *h) {
  h->heap[0] = h->heap[--h->count];
  if (h->count > 1)
    sift_down(h->heap, h->count, 0);
}

static bool heap_push(cio_loop *loop, struct cio__timers *h, entry_t e) {
  if (h->count == h->cap) {
    size_t cap = h->cap ? 2 * h->cap : FIRST_CAP;
    if (!resize(loop, &h->heap, h->count, cap))
      return false;
    h->cap = cap;
  }
  h->heap[h->count] = e;
  sift_up(h->heap, h->count++);
  return true;
}

/* ---- the run: a ring, oldest (smallest) first -------------------------- */

static entry_t *run_at(const struct cio__timers *h, size_t i) {
  return &h->run[(h->run_head + i) & (h->run_cap - 1)];
}

/* Copy the run to a new ring of `cap` (>= run_count), first at 0. */
static bool run_resize(cio_loop *loop, struct cio__timers *h, size_t cap) {
  entry_t *b = cio__malloc(loop, cap * sizeof *b);
  if (b == NULL)
    return false;
  for (size_t i = 0; i < h->run_count; i++)
    b[i] = *run_at(h, i);
  cio__free(loop, h->run);
  h->run = b;
  h->run_cap = cap;
  h->run_head = 0;
  return true;
}

static bool run_push(cio_loop *loop, struct cio__timers *h, entry_t e) {
  if (h->run_count == h->run_cap &&
      !run_resize(loop, h, h->run_cap ? 2 * h->run_cap : FIRST_CAP))
    return false;
  *run_at(h, h->run_count++) = e;
  return true;
}

static void run_pop(struct cio__timers *h) {
  h->run_head = (h->run_head + 1) & (h->run_cap - 1);
  h->run_count--;
}

/* ---- slots --------------------------------------------------------------- */

static bool slots_grow(cio_loop *loop, struct cio__timers *h) {
  size_t cap = h->slots_cap ? 2 * (size_t)h->slots_cap : FIRST_CAP;
  if (cap > NO_SLOT)
    return false;
  struct cio__timer_slot *s = cio__malloc(loop, cap * sizeof *s);
  if (s == NULL)
    return false;
  if (h->nslots > 0)
    memcpy(s, h->slots, h->nslots * sizeof *s);
  cio__free(loop, h->slots);
  h->slots = s;
  h->slots_cap = (uint32_t)cap;
  return true;
}

static void slot_free(struct cio__timers *h, uint32_t i) {
  h->slots[i].timer = NULL;
  h->slots[i].seq = h->free_slot;
  h->free_slot = i;
  h->live--;
}

/* ---- keeping the arrays small -------------------------------------------- */

static void maybe_shrink(cio_loop *loop, struct cio__timers *h) {
  if (h->cap > SHRINK_CAP && h->count < h->cap / 4 &&
      resize(loop, &h->heap, h->count, h->cap / 2))
    h->cap /= 2;
  if (h->run_cap > SHRINK_CAP && h->run_count < h->run_cap / 4)
    (void)run_resize(loop, h, h->run_cap / 2);
}

/* With no live timer every entry is stale and every slot free: start
 * over, giving big arrays back. */
static void reset_if_empty(cio_loop *loop, struct cio__timers *h) {
  if (h->live > 0)
    return;
  h->count = 0;
  h->run_count = 0;
  h->run_head = 0;
  h->nslots = 0;
  h->free_slot = NO_SLOT;
  if (h->slots_cap > SHRINK_CAP) {
    cio__free(loop, h->slots);
    h->slots = NULL;
    h->slots_cap = 0;
  }
  maybe_shrink(loop, h);
}

/* Drop the stale entries (in one pass) and rebuild the heap; the run
 * keeps its order. */
static void compact(struct cio__timers *h) {
  size_t j = 0;
  for (size_t i = 0; i < h->count; i++)
    if (entry_live(h, &h->heap[i]))
      h->heap[j++] = h->heap[i];
  h->count = j;
  for (size_t i = j / ARITY + 1; i-- > 0;)
    if (i < j)
      sift_down(h->heap, j, i);
  j = 0;
  for (size_t i = 0; i < h->run_count; i++)
    if (entry_live(h, run_at(h, i)))
      *run_at(h, j++) = *run_at(h, i);
  h->run_count = j;
}

/* The earliest live entry (dropping stale ones in front of it), and
 * whether it is the run's; NULL if none. */
static entry_t *first(cio_loop *loop, struct cio__timers *h, bool *in_run) {
  bool dropped = false;
  while (h->count > 0 && !entry_live(h, &h->heap[0])) {
    heap_pop(h);
    dropped = true;
  }
  while (h->run_count > 0 && !entry_live(h, run_at(h, 0))) {
    run_pop(h);
    dropped = true;
  }
  if (dropped)
    maybe_shrink(loop, h);
  entry_t *r = h->run_count > 0 ? run_at(h, 0) : NULL;
  entry_t *p = h->count > 0 ? &h->heap[0] : NULL;
  *in_run = r != NULL && (p == NULL || entry_less(r, p));
  return *in_run ? r : p;
}

/* ---- the timer calls --------------------------------------------------- */

void cio__timers_init(struct cio__timers *h) {
  *h = (struct cio__timers){.free_slot = NO_SLOT};
  cio__list_init(&h->spill);
}

/* ---- the spill list (5) -------------------------------------------------- */

static struct cio__timer *timer_of(struct cio__list *n) {
  return cio__container_of(n, struct cio__timer, cb.node);
}

static bool timer_before(int64_t when_a, uint64_t seq_a, int64_t when_b,
                         uint64_t seq_b) {
  return when_a < when_b || (when_a == when_b && seq_a < seq_b);
}

static void spill_insert(struct cio__timers *h, struct cio__timer *t) {
  struct cio__list *at = h->spill.prev; /* the latest; t is later still */
  while (at != &h->spill && timer_before(t->when_ns, t->seq,
                                         timer_of(at)->when_ns,
                                         timer_of(at)->seq))
    at = at->prev;
  /* after `at` */
  t->cb.node.prev = at;
  t->cb.node.next = at->next;
  at->next->prev = &t->cb.node;
  at->next = &t->cb.node;
  t->spilled = true;
}

static void spill_remove(struct cio__timer *t) {
  cio__list_remove(&t->cb.node);
  t->spilled = false;
}

static struct cio__timer *spill_first(struct cio__timers *h) {
  return cio__list_empty(&h->spill) ? NULL : timer_of(h->spill.next);
}

void cio__timers_destroy(cio_loop *loop) {
  struct cio__timers *h = &loop->timers;
  cio__free(loop, h->heap);
  cio__free(loop, h->run);
  cio__free(loop, h->slots);
  cio__timers_init(h);
}

void cio__timer_start(cio_loop *loop, struct cio__timer *t, int64_t when_ns,
                     void (*run)(struct cio__callback *)) {
  struct cio__timers *h = &loop->timers;
  CIO_ASSERT(!t->in_heap);
  t->cb.run = run;
  t->when_ns = when_ns;
  t->seq = loop->timer_seq++;
  t->in_heap = true;
  t->spilled = false;
  if (h->free_slot == NO_SLOT && h->nslots == h->slots_cap &&
      !slots_grow(loop, h)) {
    spill_insert(h, t); /* (5) */
    return;
  }
  uint32_t slot = h->free_slot != NO_SLOT ? h->free_slot : h->nslots;
  entry_t e = {.when_ns = when_ns, .seq = t->seq, .slot = slot};
  bool in_order = h->run_count == 0 || !entry_less(&e, run_at(h, h->run_count - 1));
  if (!(in_order ? run_push(loop, h, e) : heap_push(loop, h, e))) {
    spill_insert(h, t); /* (5) */
    return;
  }
  if (slot == h->free_slot)
    h->free_slot = (uint32_t)h->slots[slot].seq;
  else
    h->nslots++;
  h->slots[slot] = (struct cio__timer_slot){.timer = t, .seq = e.seq};
  h->live++;
  cio__list_init(&t->cb.node);
  t->slot = slot;
}

/* Take `t` out of the heap or, if it already fired, out of the ready
 * queue.  Harmless when it is in neither. */
void cio__timer_stop(cio_loop *loop, struct cio__timer *t) {
  if (t->in_heap && t->spilled) {
    spill_remove(t);
    t->in_heap = false;
  } else if (t->in_heap) {
    struct cio__timers *h = &loop->timers;
    CIO_ASSERT(h->slots[t->slot].timer == t);
    t->in_heap = false;
    slot_free(h, t->slot);
    if (h->live == 0)
      reset_if_empty(loop, h);
    else if (h->count + h->run_count - h->live > h->live + STALE_SLACK)
      compact(h);
  }
  cio__list_remove(&t->cb.node);
}

void cio__timer_moved(cio_loop *loop, struct cio__timer *t) {
  CIO_ASSERT(t->in_heap);
  if (!t->spilled) /* a spilled one is found through its relinked node */
    loop->timers.slots[t->slot].timer = t;
}

/* The earliest entry of the arrays, or NULL; `spill` is the spill list's
 * first timer if that one is earlier still (else NULL). */
static entry_t *earliest(cio_loop *loop, struct cio__timers *h, bool *in_run,
                         struct cio__timer **spill) {
  entry_t *e = h->live > 0 ? first(loop, h, in_run) : NULL;
  struct cio__timer *s = spill_first(h);
  *spill = s != NULL && (e == NULL || timer_before(s->when_ns, s->seq,
                                                   e->when_ns, e->seq))
               ? s
               : NULL;
  return e;
}

struct cio__timer *cio__timers_first(cio_loop *loop) {
  struct cio__timers *h = &loop->timers;
  if (!cio__timers_any(loop))
    return NULL;
  bool in_run;
  struct cio__timer *s;
  entry_t *e = earliest(loop, h, &in_run, &s);
  return s != NULL ? s : h->slots[e->slot].timer;
}

/* Move every due timer to the ready queue, earliest first. */
void cio__timers_collect(cio_loop *loop) {
  struct cio__timers *h = &loop->timers;
  if (!cio__timers_any(loop))
    return;
  int64_t now = cio__now_ns(loop);
  while (cio__timers_any(loop)) {
    bool in_run;
    struct cio__timer *t;
    entry_t *e = earliest(loop, h, &in_run, &t);
    if (t != NULL) {
      if (t->when_ns > now)
        break;
      spill_remove(t);
    } else {
      if (e->when_ns > now)
        break;
      t = h->slots[e->slot].timer;
      slot_free(h, e->slot);
      if (in_run)
        run_pop(h);
      else
        heap_pop(h);
    }
    t->in_heap = false;
    cio__ready_push(loop, &t->cb);
  }
  if (h->live == 0)
    reset_if_empty(loop, h);
}
