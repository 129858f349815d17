/* Timers: a min-heap ordered by (deadline, sequence).  The sequence number
 * breaks ties in scheduling order; CPython leaves that order undefined, we
 * document FIFO.  A due timer is not run on the spot: its callback node
 * goes to the tail of the ready queue, like asyncio moving TimerHandles to
 * _ready, so callbacks already queued run first. */
#include "internal.h"

static bool cio__timer_less(const struct cio__heap_node *a,
                            const struct cio__heap_node *b) {
  const struct cio__timer *ta = cio__container_of(a, struct cio__timer, hn);
  const struct cio__timer *tb = cio__container_of(b, struct cio__timer, hn);
  if (ta->when_ns != tb->when_ns)
    return ta->when_ns < tb->when_ns;
  return ta->seq < tb->seq;
}

void cio__timer_start(cio_loop *loop, struct cio__timer *t, int64_t when_ns,
                      void (*run)(struct cio__callback *)) {
  CIO_ASSERT(!t->in_heap);
  cio__list_init(&t->cb.node);
  t->cb.run = run;
  t->when_ns = when_ns;
  t->seq = loop->timer_seq++;
  t->in_heap = true;
  cio__heap_insert(&loop->timers, &t->hn, cio__timer_less);
}

/* Take `t` out of the heap or, if it already fired, out of the ready
 * queue.  Harmless when it is in neither. */
void cio__timer_stop(cio_loop *loop, struct cio__timer *t) {
  if (t->in_heap) {
    cio__heap_remove(&loop->timers, &t->hn, cio__timer_less);
    t->in_heap = false;
  }
  cio__list_remove(&t->cb.node);
}

/* Move every due timer to the ready queue, earliest first. */
void cio__timers_collect(cio_loop *loop) {
  struct cio__heap_node *min = cio__heap_min(&loop->timers);
  if (min == NULL)
    return;
  int64_t now = cio__now_ns(loop);
  while (min != NULL) {
    struct cio__timer *t = cio__container_of(min, struct cio__timer, hn);
    if (t->when_ns > now)
      break;
    cio__heap_remove(&loop->timers, min, cio__timer_less);
    t->in_heap = false;
    cio__ready_push(loop, &t->cb);
    min = cio__heap_min(&loop->timers);
  }
}
