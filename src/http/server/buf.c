/* Growable buffers and the per-request arena, on the loop allocator (so
 * tests count what the server allocates and can make it fail). */
#include <string.h>

#include "http/server/httpd.h"

int cio__http_buf_reserve(cio_loop *loop, struct cio__http_buf *b,
                          size_t more) {
  if (b->cap - b->len >= more)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < more) {
    if (cap > SIZE_MAX / 2)
      return CIO_ENOMEM;
    cap *= 2;
  }
  char *p = cio__malloc(loop, cap);
  if (p == NULL)
    return CIO_ENOMEM;
  if (b->len > 0)
    memcpy(p, b->p, b->len);
  cio__free(loop, b->p);
  b->p = p;
  b->cap = cap;
  return 0;
}

int cio__http_buf_append(cio_loop *loop, struct cio__http_buf *b,
                         const void *p, size_t n) {
  if (n == 0)
    return 0;
  int rc = cio__http_buf_reserve(loop, b, n);
  if (rc < 0)
    return rc;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

void cio__http_buf_free(cio_loop *loop, struct cio__http_buf *b) {
  cio__free(loop, b->p);
  *b = (struct cio__http_buf){0};
}

/* ---- the arena: blocks freed together after each request ---------- */

#define ARENA_BLOCK 1024

/* 32 bytes of header keep `data` 16-byte aligned, as malloc's blocks. */
struct cio__http_arena_block {
  struct cio__http_arena_block *next;
  size_t used, cap, pad_;
  char data[];
};

void *cio__http_arena_alloc(struct cio__http_conn *c, size_t n) {
  n = (n + 15) & ~(size_t)15;
  struct cio__http_arena_block *b = c->arena;
  if (b == NULL || b->cap - b->used < n) {
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    b = cio__malloc(c->sh->loop, sizeof *b + cap);
    if (b == NULL)
      return NULL;
    *b = (struct cio__http_arena_block){.next = c->arena, .cap = cap};
    c->arena = b;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

void cio__http_arena_reset(struct cio__http_conn *c, bool keep) {
  struct cio__http_arena_block *b = c->arena, *kept = NULL;
  while (b != NULL) {
    struct cio__http_arena_block *next = b->next;
    if (keep && kept == NULL && b->cap == ARENA_BLOCK) {
      kept = b;
      kept->used = 0;
      kept->next = NULL;
    } else {
      cio__free(c->sh->loop, b);
    }
    b = next;
  }
  c->arena = kept;
}
