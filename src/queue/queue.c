/* asyncio.Queue, LifoQueue and PriorityQueue (Lib/asyncio/queues.py, with
 * 3.13's shutdown) holding pointer-sized items.
 *
 * Storage is one array: a ring for FIFO, a stack for LIFO, a binary
 * min-heap ordered by the caller's comparison for priority.  It grows by
 * doubling (never past maxsize); growth is the only allocation, and a put
 * that cannot grow fails with CIO_ENOMEM leaving the item with the caller.
 *
 * Blocked getters and putters wait FIFO.  put_nowait wakes one getter and
 * get_nowait one putter; the woken waiter is unlinked at once (popleft in
 * queues.py), so if it is cancelled before it runs it passes its turn on.
 *
 *   OPEN -> SHUT_DOWN    cio_queue_shutdown(): every blocked getter and
 *                        putter is woken to re-check and fail; with
 *                        `immediate` the items are dropped first.
 *
 * (1) count <= cap, and count <= maxsize when maxsize > 0 (full() stops
 *     puts before).
 * (2) unfinished counts puts not yet matched by task_done; queues.py's
 *     `_finished` event is set exactly when it is 0, so joiners wait only
 *     while it is not and are all woken when it comes back to 0.
 * (3) Getters and putters in the lists are all WAITING (woken or
 *     cancelled ones leave at once); no putter waits unless full(), no
 *     getter unless empty, and none at all once SHUT_DOWN.
 */
#include "sync/sync.h"

enum queue_kind { KIND_FIFO, KIND_LIFO, KIND_PRIORITY };
enum queue_state { QUEUE_OPEN, QUEUE_SHUT_DOWN };

struct cio_queue {
  cio_loop *loop;
  int kind; /* queue_kind */
  int (*cmp)(const void *a, const void *b);
  void **items;
  size_t cap, head, count; /* head: ring start (FIFO only) */
  size_t maxsize;          /* 0: unbounded */
  size_t unfinished;
  struct cio__list getters, putters, joiners; /* cio__wait */
  uint8_t state; /* queue_state */
};

static void queue_describe(cio_loop *loop, const void *obj,
                           struct cio__text *out) {
  (void)loop;
  const cio_queue *q = obj;
  cio__text_printf(out, "queue %p (%zu items", obj, q->count);
  if (q->maxsize > 0)
    cio__text_printf(out, " of %zu", q->maxsize);
  cio__text_printf(out, ", %zu unfinished)", q->unfinished);
}

static const struct cio__wait_kind put_kind = {.what = "queue put",
                                               .describe = queue_describe};
static const struct cio__wait_kind get_kind = {.what = "queue get",
                                               .describe = queue_describe};
static const struct cio__wait_kind join_kind = {.what = "queue join",
                                                .describe = queue_describe};

/* Invariants (1) and the state, asserted at the public entry points. */
static bool queue_check(const cio_queue *q) {
  /* q->loop may be NULL: a queue made before any loop (not counted). */
  if (q->kind > KIND_PRIORITY || q->state > QUEUE_SHUT_DOWN)
    return false;
  if (q->count > q->cap || (q->maxsize > 0 && q->count > q->maxsize))
    return false;
  if (q->unfinished == 0 && !cio__list_empty(&q->joiners))
    return false; /* (2): the event is set, nobody may wait on it */
  return q->kind != KIND_PRIORITY || q->cmp != NULL;
}

#define CHECK_QUEUE(q) CIO_ASSERT(queue_check(q))

static int queue_new(cio_queue **out, size_t maxsize, int kind,
                     int (*cmp)(const void *, const void *)) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (kind == KIND_PRIORITY && cmp == NULL)
    return CIO_EINVAL;
  cio_loop *loop = cio__sync_alloc_loop();
  cio_queue *q = cio__calloc(loop, 1, sizeof *q);
  if (q == NULL)
    return CIO_ENOMEM;
  q->loop = loop;
  q->kind = kind;
  q->cmp = cmp;
  q->maxsize = maxsize;
  cio__list_init(&q->getters);
  cio__list_init(&q->putters);
  cio__list_init(&q->joiners);
  q->state = QUEUE_OPEN;
  *out = q;
  return 0;
}

int cio_queue_new(cio_queue **out, size_t maxsize) {
  return queue_new(out, maxsize, KIND_FIFO, NULL);
}

int cio_lifo_queue_new(cio_queue **out, size_t maxsize) {
  return queue_new(out, maxsize, KIND_LIFO, NULL);
}

int cio_priority_queue_new(cio_queue **out, size_t maxsize,
                           int (*cmp)(const void *a, const void *b)) {
  return queue_new(out, maxsize, KIND_PRIORITY, cmp);
}

void cio_queue_free(cio_queue *q) {
  if (q == NULL)
    return;
  CHECK_QUEUE(q);
  CIO_ASSERT(cio__list_empty(&q->getters));
  CIO_ASSERT(cio__list_empty(&q->putters));
  CIO_ASSERT(cio__list_empty(&q->joiners));
  cio__free(q->loop, q->items);
  cio__free(q->loop, q);
}

/* ---- queries --------------------------------------------------------- */

size_t cio_queue_qsize(const cio_queue *q) {
  return q != NULL ? q->count : 0;
}

size_t cio_queue_maxsize(const cio_queue *q) {
  return q != NULL ? q->maxsize : 0;
}

bool cio_queue_is_empty(const cio_queue *q) {
  return q == NULL || q->count == 0;
}

bool cio_queue_is_full(const cio_queue *q) {
  return q != NULL && q->maxsize > 0 && q->count >= q->maxsize;
}

bool cio_queue_is_shut_down(const cio_queue *q) {
  return q != NULL && q->state == QUEUE_SHUT_DOWN;
}

/* ---- storage --------------------------------------------------------- */

static int grow(cio_queue *q) {
  size_t cap = q->cap ? q->cap * 2 : 16;
  if (q->maxsize > 0 && cap > q->maxsize)
    cap = q->maxsize;
  if (cap <= q->count || cap > SIZE_MAX / sizeof(void *))
    return CIO_ENOMEM;
  void **items = cio__malloc(q->loop, cap * sizeof *items);
  if (items == NULL)
    return CIO_ENOMEM;
  for (size_t i = 0; i < q->count; i++)
    items[i] = q->items[(q->head + i) % q->cap];
  cio__free(q->loop, q->items);
  q->items = items;
  q->cap = cap;
  q->head = 0;
  return 0;
}

static bool before(const cio_queue *q, size_t i, size_t j) {
  return q->cmp(q->items[i], q->items[j]) < 0;
}

static void swap(cio_queue *q, size_t i, size_t j) {
  void *t = q->items[i];
  q->items[i] = q->items[j];
  q->items[j] = t;
}

static void heap_up(cio_queue *q, size_t i) {
  while (i > 0 && before(q, i, (i - 1) / 2)) {
    swap(q, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heap_down(cio_queue *q, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < q->count && before(q, l, m))
      m = l;
    if (r < q->count && before(q, r, m))
      m = r;
    if (m == i)
      return;
    swap(q, i, m);
    i = m;
  }
}

static int store(cio_queue *q, void *item) {
  if (q->count == q->cap) {
    int rc = grow(q);
    if (rc < 0)
      return rc;
  }
  if (q->kind == KIND_FIFO) {
    size_t i = q->head + q->count++;
    q->items[i < q->cap ? i : i - q->cap] = item;
  } else {
    q->items[q->count++] = item;
    if (q->kind == KIND_PRIORITY)
      heap_up(q, q->count - 1);
  }
  return 0;
}

static void *take(cio_queue *q) {
  CIO_ASSERT(q->count > 0);
  void *item;
  if (q->kind == KIND_FIFO) {
    item = q->items[q->head];
    if (++q->head == q->cap)
      q->head = 0;
    q->count--;
  } else if (q->kind == KIND_LIFO) {
    item = q->items[--q->count];
  } else {
    item = q->items[0];
    q->items[0] = q->items[--q->count];
    heap_down(q, 0);
  }
  return item;
}

/* ---- waking ---------------------------------------------------------- */

/* Getters and putters leave their list when woken or cancelled, as
 * queues.py's _wakeup_next pops its deque: every record left is WAITING. */
static void wakeup_next(struct cio__list *list) {
  cio__wait_wake_first(list, 0);
}

static void wakeup_all(struct cio__list *list) {
  cio__wait_wake_all(list, 0);
}

/* unfinished came back to 0: queues.py's _finished.set(). */
static void set_finished(cio_queue *q) {
  cio__wait_wake_all(&q->joiners, 0);
}

/* ---- put and get ----------------------------------------------------- */

int cio_queue_put_nowait(cio_queue *q, void *item) {
  if (q == NULL)
    return CIO_EINVAL;
  CHECK_QUEUE(q);
  if (q->state == QUEUE_SHUT_DOWN)
    return CIO_ESHUTDOWN;
  if (cio_queue_is_full(q))
    return CIO_EAGAIN;
  int rc = store(q, item);
  if (rc < 0)
    return rc;
  q->unfinished++;
  wakeup_next(&q->getters);
  return 0;
}

int cio_queue_put(cio_queue *q, void *item) {
  if (q == NULL)
    return CIO_EINVAL;
  CHECK_QUEUE(q);
  while (cio_queue_is_full(q)) {
    if (q->state == QUEUE_SHUT_DOWN)
      return CIO_ESHUTDOWN;
    int rc;
    cio_task *self = cio__task_for_suspend(&rc);
    if (self == NULL)
      return rc;
    struct cio__wait w;
    cio__wait_init(&w, self, 0);
    cio__wait_about(&w, &put_kind, q);
    rc = cio__wait_on(&q->putters, &w);
    if (rc < 0) {
      /* Woken by a get but not taking the slot: pass it on. */
      if (!cio_queue_is_full(q) && w.state != CIO__WAIT_CANCELLED)
        wakeup_next(&q->putters);
      return rc;
    }
  }
  int rc = cio_queue_put_nowait(q, item);
  if (rc == CIO_ENOMEM)
    wakeup_next(&q->putters); /* the free slot is someone else's now */
  return rc;
}

int cio_queue_get_nowait(cio_queue *q, void **item) {
  if (item != NULL)
    *item = NULL;
  if (q == NULL || item == NULL)
    return CIO_EINVAL;
  CHECK_QUEUE(q);
  if (q->count == 0)
    return q->state == QUEUE_SHUT_DOWN ? CIO_ESHUTDOWN : CIO_EAGAIN;
  *item = take(q);
  wakeup_next(&q->putters);
  return 0;
}

int cio_queue_get(cio_queue *q, void **item) {
  if (item != NULL)
    *item = NULL;
  if (q == NULL || item == NULL)
    return CIO_EINVAL;
  CHECK_QUEUE(q);
  while (q->count == 0) {
    if (q->state == QUEUE_SHUT_DOWN)
      return CIO_ESHUTDOWN;
    int rc;
    cio_task *self = cio__task_for_suspend(&rc);
    if (self == NULL)
      return rc;
    struct cio__wait w;
    cio__wait_init(&w, self, 0);
    cio__wait_about(&w, &get_kind, q);
    rc = cio__wait_on(&q->getters, &w);
    if (rc < 0) {
      /* Woken by a put but not taking the item: pass it on. */
      if (q->count > 0 && w.state != CIO__WAIT_CANCELLED)
        wakeup_next(&q->getters);
      return rc;
    }
  }
  return cio_queue_get_nowait(q, item);
}

/* ---- task accounting and shutdown ------------------------------------ */

int cio_queue_task_done(cio_queue *q) {
  if (q == NULL || q->unfinished == 0)
    return CIO_EINVAL;
  CHECK_QUEUE(q);
  if (--q->unfinished == 0)
    set_finished(q);
  return 0;
}

int cio_queue_join(cio_queue *q) {
  if (q == NULL)
    return CIO_EINVAL;
  CHECK_QUEUE(q);
  if (q->unfinished == 0)
    return 0;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  struct cio__wait w;
  cio__wait_init(&w, self, 0);
  cio__wait_about(&w, &join_kind, q);
  return cio__wait_on(&q->joiners, &w);
}

int cio_queue_shutdown(cio_queue *q, bool immediate) {
  if (q == NULL)
    return CIO_EINVAL;
  CHECK_QUEUE(q);
  q->state = QUEUE_SHUT_DOWN;
  if (immediate) {
    while (q->count > 0) {
      take(q);
      if (q->unfinished > 0)
        q->unfinished--;
    }
    if (q->unfinished == 0)
      set_finished(q);
  }
  wakeup_all(&q->getters);
  wakeup_all(&q->putters);
  return 0;
}
