/* The loop's allocator.  Every object casyncio allocates for a loop goes
 * through here, so tests can check that nothing is left behind and can
 * make the Nth allocation fail to exercise every error path. */
#include <string.h>

#include "internal.h"

void *cio__malloc(cio_loop *loop, size_t size) {
  if (loop != NULL && loop->fail_alloc_after >= 0) {
    if (loop->fail_alloc_after == 0)
      return NULL;
    loop->fail_alloc_after--;
  }
  void *p = malloc(size);
  if (p != NULL && loop != NULL)
    loop->live_allocs++;
  return p;
}

void *cio__calloc(cio_loop *loop, size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size)
    return NULL;
  void *p = cio__malloc(loop, n * size);
  if (p != NULL)
    memset(p, 0, n * size);
  return p;
}

void cio__free(cio_loop *loop, void *p) {
  if (p == NULL)
    return;
  if (loop != NULL) {
    CIO_ASSERT(loop->live_allocs > 0);
    loop->live_allocs--;
  }
  free(p);
}

char *cio__strdup(cio_loop *loop, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = cio__malloc(loop, n);
  if (p != NULL)
    memcpy(p, s, n);
  return p;
}
