/* The loop's allocator.  Every object casyncio allocates for a loop goes
 * through here, so tests can check that nothing is left behind and can
 * make the Nth allocation fail to exercise every error path.
 *
 * The test hooks at the end are process-wide: a test case runs its loops
 * inside cio_run() or on other threads, where the runner (tests/runner.c)
 * cannot reach them, so the loops report what they leaked here and the
 * injected failures count every allocation of the process.  They are
 * atomics; disarmed, an allocation pays one relaxed load. */
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

void *cio__malloc(cio_loop *loop, size_t size) {
  if (cio__alloc_fault())
    return NULL;
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

/* ---- test hooks ------------------------------------------------------ */

static atomic_long fail_at;     /* the allocation to fail, 1-based; 0: off */
static atomic_bool fail_persist; /* and every one after it */
static atomic_long alloc_count; /* allocations since arming */
static atomic_long fail_count;  /* failures injected since arming */

static atomic_long loops_open;
static atomic_long allocs_leaked;
static atomic_long handles_leaked;

bool cio__alloc_fault(void) {
  long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
  if (at == 0)
    return false;
  long n = atomic_fetch_add(&alloc_count, 1) + 1;
  if (n < at || (n > at && !atomic_load(&fail_persist)))
    return false;
  atomic_fetch_add(&fail_count, 1);
  return true;
}

void cio__test_fail_alloc(long n, bool persist) {
  atomic_store(&fail_at, 0);
  atomic_store(&alloc_count, 0);
  atomic_store(&fail_count, 0);
  atomic_store(&fail_persist, persist);
  atomic_store(&fail_at, n > 0 ? n : 0);
}

long cio__test_alloc_count(void) {
  return atomic_load(&alloc_count);
}

long cio__test_alloc_failures(void) {
  return atomic_load(&fail_count);
}

void cio__test_loop_opened(void) {
  atomic_fetch_add(&loops_open, 1);
}

void cio__test_loop_freed(size_t allocs, size_t handles) {
  atomic_fetch_sub(&loops_open, 1);
  atomic_fetch_add(&allocs_leaked, (long)allocs);
  atomic_fetch_add(&handles_leaked, (long)handles);
}

void cio__test_leaks(struct cio__test_leaks *out) {
  out->loops = atomic_load(&loops_open);
  out->allocs = atomic_load(&allocs_leaked);
  out->handles = atomic_load(&handles_leaked);
}
