/* Timers: an array 4-ary min-heap ordered by (deadline, sequence).  The
 * sequence number breaks ties in scheduling order; CPython leaves that
 * order undefined, we document FIFO.  A due timer is not run on the spot:
 * its callback node goes to the tail of the ready queue, like asyncio
 * moving TimerHandles to _ready, so callbacks already queued run first.
 *
 * Why an array and not nodes inside the timers: a timer mostly lives on
 * its task's stack, so a heap of nodes linked through a million stacks
 * touches a million pages on every sift (a cache and TLB miss per level).
 * Here the keys sit in one array: {deadline, sequence, slot}.  The slot
 * table (`slots`) maps a slot to its timer, and a stop only releases the
 * slot: the entry stays in the array, stale, and is dropped when it
 * reaches the top (or when stale entries outnumber live ones, in one
 * pass).  So neither a sift nor a stop ever writes to a timer, and a
 * timer is read only when it fires.
 *
 *   IDLE -> IN_HEAP   cio__timer_start()   (takes a slot, pushes an entry)
 *   IN_HEAP -> DUE    cio__timers_collect() (entry popped, slot freed, the
 *                     callback node queued)
 *   IN_HEAP -> IDLE   cio__timer_stop()    (slot freed; the entry is stale)
 *   DUE -> IDLE       the callback ran, or cio__timer_stop() unqueued it
 * (1) An entry is live iff slots[e.slot].timer != NULL and
 *     slots[e.slot].seq == e.seq; a timer is in_heap iff its slot is live
 *     and points back to it.
 * (2) live + stale == count, and stale <= live + STALE_SLACK after every
 *     stop (compaction).
 * (3) A free slot has timer == NULL and keeps the next free slot's index.
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
  FIRST_CAP = 64,
  STALE_SLACK = 64, /* stale entries tolerated beyond the live ones */
  SHRINK_CAP = 4096 /* arrays larger than this shrink when mostly empty */
};
#define NO_SLOT UINT32_MAX

static bool entry_less(const struct cio__timer_entry *a,
                       const struct cio__timer_entry *b) {
  return a->when_ns < b->when_ns ||
         (a->when_ns == b->when_ns && a->seq < b->seq);
}

static bool entry_live(const struct cio__timers *h,
                       const struct cio__timer_entry *e) {
  const struct cio__timer_slot *s = &h->slots[e->slot];
  return s->timer != NULL && s->seq == e->seq;
}

/* ---- the heap ---------------------------------------------------------- */

static void sift_up(struct cio__timer_entry *a, size_t i) {
  struct cio__timer_entry e = a[i];
  while (i > 0) {
    size_t p = (i - 1) / ARITY;
    if (!entry_less(&e, &a[p]))
      break;
    a[i] = a[p];
    i = p;
  }
  a[i] = e;
}

static void sift_down(struct cio__timer_entry *a, size_t n, size_t i) {
  struct cio__timer_entry e = a[i];
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

static void pop_top(struct cio__timers *h) {
  h->heap[0] = h->heap[--h->count];
  if (h->count > 1)
    sift_down(h->heap, h->count, 0);
}

/* Move to a new array of `cap` entries (cap >= count); false if that
 * failed (the old array is kept). */
static bool heap_resize(cio_loop *loop, struct cio__timers *h, size_t cap) {
  struct cio__timer_entry *a = cio__malloc(loop, cap * sizeof *a);
  if (a == NULL)
    return false;
  if (h->count > 0)
    memcpy(a, h->heap, h->count * sizeof *a);
  cio__free(loop, h->heap);
  h->heap = a;
  h->cap = cap;
  return true;
}

static void maybe_shrink(cio_loop *loop, struct cio__timers *h) {
  if (h->cap > SHRINK_CAP && h->count < h->cap / 4)
    (void)heap_resize(loop, h, h->cap / 2);
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

/* With no live timer every entry is stale and every slot free: start
 * over, giving big arrays back. */
static void reset_if_empty(cio_loop *loop, struct cio__timers *h) {
  if (h->live > 0)
    return;
  h->count = 0;
  h->nslots = 0;
  h->free_slot = NO_SLOT;
  if (h->slots_cap > SHRINK_CAP) {
    cio__free(loop, h->slots);
    h->slots = NULL;
    h->slots_cap = 0;
  }
  maybe_shrink(loop, h);
}

/* Drop the stale entries (in one pass) and rebuild the heap. */
static void compact(struct cio__timers *h) {
  size_t j = 0;
  for (size_t i = 0; i < h->count; i++)
    if (entry_live(h, &h->heap[i]))
      h->heap[j++] = h->heap[i];
  h->count = j;
  for (size_t i = j / ARITY + 1; i-- > 0;)
    if (i < j)
      sift_down(h->heap, j, i);
}

/* Pop stale entries off the top, so that heap[0] (if any) is live. */
static void purge_top(cio_loop *loop, struct cio__timers *h) {
  bool popped = false;
  while (h->count > 0 && !entry_live(h, &h->heap[0])) {
    pop_top(h);
    popped = true;
  }
  if (popped)
    maybe_shrink(loop, h);
}

/* ---- the timer calls --------------------------------------------------- */

void cio__timers_init(struct cio__timers *h) {
  *h = (struct cio__timers){.free_slot = NO_SLOT};
}

void cio__timers_destroy(cio_loop *loop) {
  struct cio__timers *h = &loop->timers;
  cio__free(loop, h->heap);
  cio__free(loop, h->slots);
  cio__timers_init(h);
}

int cio__timer_start(cio_loop *loop, struct cio__timer *t, int64_t when_ns,
                     void (*run)(struct cio__callback *)) {
  struct cio__timers *h = &loop->timers;
  CIO_ASSERT(!t->in_heap);
  if (h->count == h->cap &&
      !heap_resize(loop, h, h->cap ? 2 * h->cap : FIRST_CAP))
    return CIO_ENOMEM;
  if (h->free_slot == NO_SLOT && h->nslots == h->slots_cap &&
      !slots_grow(loop, h))
    return CIO_ENOMEM;
  uint32_t slot = h->free_slot;
  if (slot != NO_SLOT)
    h->free_slot = (uint32_t)h->slots[slot].seq;
  else
    slot = h->nslots++;
  uint64_t seq = loop->timer_seq++;
  h->slots[slot] = (struct cio__timer_slot){.timer = t, .seq = seq};
  h->live++;
  cio__list_init(&t->cb.node);
  t->cb.run = run;
  t->when_ns = when_ns;
  t->slot = slot;
  t->in_heap = true;
  h->heap[h->count] =
      (struct cio__timer_entry){.when_ns = when_ns, .seq = seq, .slot = slot};
  sift_up(h->heap, h->count++);
  return 0;
}

/* Take `t` out of the heap or, if it already fired, out of the ready
 * queue.  Harmless when it is in neither. */
void cio__timer_stop(cio_loop *loop, struct cio__timer *t) {
  if (t->in_heap) {
    struct cio__timers *h = &loop->timers;
    CIO_ASSERT(h->slots[t->slot].timer == t);
    t->in_heap = false;
    slot_free(h, t->slot);
    if (h->live == 0)
      reset_if_empty(loop, h);
    else if (h->count - h->live > h->live + STALE_SLACK)
      compact(h);
  }
  cio__list_remove(&t->cb.node);
}

struct cio__timer *cio__timers_first(cio_loop *loop) {
  struct cio__timers *h = &loop->timers;
  if (h->live == 0)
    return NULL;
  purge_top(loop, h);
  return h->slots[h->heap[0].slot].timer;
}

/* Move every due timer to the ready queue, earliest first. */
void cio__timers_collect(cio_loop *loop) {
  struct cio__timers *h = &loop->timers;
  if (h->live == 0)
    return;
  int64_t now = cio__now_ns(loop);
  while (h->live > 0) {
    purge_top(loop, h);
    struct cio__timer_entry *e = &h->heap[0];
    if (e->when_ns > now)
      break;
    struct cio__timer *t = h->slots[e->slot].timer;
    slot_free(h, e->slot);
    pop_top(h);
    t->in_heap = false;
    cio__ready_push(loop, &t->cb);
  }
  if (h->live == 0)
    reset_if_empty(loop, h);
}

void cio__timer_moved(cio_loop *loop, struct cio__timer *t) {
  CIO_ASSERT(t->in_heap);
  loop->timers.slots[t->slot].timer = t;
}
