/* Intrusive circular doubly-linked lists.  A node that is in no list is
 * self-linked, so removing it again is harmless and "is it linked?" is one
 * comparison.  The head is a node of the same type acting as sentinel. */
#ifndef CIO_LIST_H
#define CIO_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct cio__list {
  struct cio__list *prev, *next;
};

#define cio__container_of(ptr, type, member)                                   \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void cio__list_init(struct cio__list *n) {
  n->prev = n->next = n;
}

static inline bool cio__list_empty(const struct cio__list *head) {
  return head->next == head;
}

static inline bool cio__list_linked(const struct cio__list *n) {
  return n->next != n;
}

static inline void cio__list_insert_before(struct cio__list *pos,
                                           struct cio__list *n) {
  n->prev = pos->prev;
  n->next = pos;
  pos->prev->next = n;
  pos->prev = n;
}

static inline void cio__list_push_back(struct cio__list *head,
                                       struct cio__list *n) {
  cio__list_insert_before(head, n);
}

static inline void cio__list_push_front(struct cio__list *head,
                                        struct cio__list *n) {
  cio__list_insert_before(head->next, n);
}

static inline void cio__list_remove(struct cio__list *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}

/* Remove and return the first node, or NULL if the list is empty. */
static inline struct cio__list *cio__list_pop_front(struct cio__list *head) {
  struct cio__list *n = head->next;
  if (n == head)
    return NULL;
  cio__list_remove(n);
  return n;
}

/* Move every node of `from` to the end of `to`, keeping their order. */
static inline void cio__list_splice_back(struct cio__list *to,
                                         struct cio__list *from) {
  if (cio__list_empty(from))
    return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  cio__list_init(from);
}

#define cio__list_foreach(it, head)                                            \
  for (struct cio__list *it = (head)->next; it != (head); it = it->next)

#endif
