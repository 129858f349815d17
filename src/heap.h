/* A pointer-based binary min-heap (after libuv's heap-inl.h): nodes live
 * inside their owners, so inserting never allocates and removing any node
 * is O(log n).  Ordering is given by a "less than" function. */
#ifndef CIO_HEAP_H
#define CIO_HEAP_H

#include <stdbool.h>
#include <stddef.h>

struct cio__heap_node {
  struct cio__heap_node *left, *right, *parent;
};

typedef bool (*cio__heap_less)(const struct cio__heap_node *a,
                               const struct cio__heap_node *b);

struct cio__heap {
  struct cio__heap_node *min;
  size_t count;
};

void cio__heap_init(struct cio__heap *h);
void cio__heap_insert(struct cio__heap *h, struct cio__heap_node *n,
                      cio__heap_less less);
void cio__heap_remove(struct cio__heap *h, struct cio__heap_node *n,
                      cio__heap_less less);

static inline struct cio__heap_node *cio__heap_min(const struct cio__heap *h) {
  return h->min;
}

#endif
