/* Pointer-based binary min-heap.  The tree is complete: the path from the
 * root to node number k (1-based, breadth-first) is given by the bits of k
 * below its top bit, 0 = left, 1 = right.  That lets insert and remove find
 * the last position without an array. */
#include "heap.h"

void cio__heap_init(struct cio__heap *h) {
  h->min = NULL;
  h->count = 0;
}

/* Exchange parent `p` with its child `c`, fixing every link around them. */
static void swap_with_child(struct cio__heap *h, struct cio__heap_node *p,
                            struct cio__heap_node *c) {
  struct cio__heap_node *sibling;
  struct cio__heap_node tmp = *p;

  *p = *c;
  *c = tmp;
  p->parent = c;
  if (c->left == c) {
    c->left = p;
    sibling = c->right;
  } else {
    c->right = p;
    sibling = c->left;
  }
  if (sibling != NULL)
    sibling->parent = c;
  if (p->left != NULL)
    p->left->parent = p;
  if (p->right != NULL)
    p->right->parent = p;
  if (c->parent == NULL)
    h->min = c;
  else if (c->parent->left == p)
    c->parent->left = c;
  else
    c->parent->right = c;
}

/* The slot that holds (or will hold) node number `k`: returns the address
 * of the parent's child pointer and the parent itself. */
static struct cio__heap_node **slot_for(struct cio__heap *h, size_t k,
                                        struct cio__heap_node **parent) {
  size_t path = 0, depth = 0;
  for (; k >= 2; k /= 2, depth++)
    path = (path << 1) | (k & 1);
  struct cio__heap_node **child = &h->min;
  *parent = NULL;
  while (depth-- > 0) {
    *parent = *child;
    child = (path & 1) ? &(*child)->right : &(*child)->left;
    path >>= 1;
  }
  return child;
}

static void sift_up(struct cio__heap *h, struct cio__heap_node *n,
                    cio__heap_less less) {
  while (n->parent != NULL && less(n, n->parent))
    swap_with_child(h, n->parent, n);
}

void cio__heap_insert(struct cio__heap *h, struct cio__heap_node *n,
                      cio__heap_less less) {
  n->left = n->right = n->parent = NULL;
  struct cio__heap_node *parent;
  struct cio__heap_node **slot = slot_for(h, h->count + 1, &parent);
  n->parent = parent;
  *slot = n;
  h->count++;
  sift_up(h, n, less);
}

void cio__heap_remove(struct cio__heap *h, struct cio__heap_node *n,
                      cio__heap_less less) {
  if (h->count == 0)
    return;
  struct cio__heap_node *parent;
  struct cio__heap_node **last_slot = slot_for(h, h->count, &parent);
  struct cio__heap_node *last = *last_slot;
  *last_slot = NULL;
  h->count--;
  if (last == n) {
    if (h->min == n)
      h->min = NULL;
    return;
  }
  /* Put the last node where `n` was, then restore heap order. */
  last->left = n->left;
  last->right = n->right;
  last->parent = n->parent;
  if (last->left != NULL)
    last->left->parent = last;
  if (last->right != NULL)
    last->right->parent = last;
  if (n->parent == NULL)
    h->min = last;
  else if (n->parent->left == n)
    n->parent->left = last;
  else
    n->parent->right = last;

  for (;;) {
    struct cio__heap_node *smallest = last;
    if (last->left != NULL && less(last->left, smallest))
      smallest = last->left;
    if (last->right != NULL && less(last->right, smallest))
      smallest = last->right;
    if (smallest == last)
      break;
    swap_with_child(h, last, smallest);
  }
  sift_up(h, last, less);
}
