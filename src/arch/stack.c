/* Pooled fiber stacks, carved out of large anonymous mappings.
 *
 * A million tasks must not cost two million kernel mappings (the default
 * vm.max_map_count is 65530), so stacks come from slabs of ~4 MiB, one mmap
 * each.  Guard regions are MADV_GUARD_INSTALL markers (Linux 6.13+), which
 * fault like PROT_NONE pages without splitting the mapping.  On kernels
 * without them a canary word at each stack's low end is checked at every
 * switch instead.
 *
 * A stack moves between two states:
 *   FREE -> LIVE   cio__stack_acquire()  (a new slab when none is free)
 *   LIVE -> FREE   cio__stack_release()
 * (1) A stack is on the pool's free list iff it is FREE; live_count
 *     counts LIVE stacks over all slabs.
 * (2) A LIVE canary-mode stack held the canary at lo when handed out.
 * (3) valgrind_id is non-zero iff the stack is registered with Valgrind
 *     (it stores the Valgrind id plus one, since Valgrind ids start at 0).
 */
#include "arch/stack_slab.h"
#include "casyncio.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#define CIO__VALGRIND 1
#endif
#endif

#if defined(__linux__) && !defined(MADV_GUARD_INSTALL)
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; newer than glibc 2.36 */
#endif

#if defined(MAP_NORESERVE)
#define MAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
#else
#define MAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS)
#endif

enum {
  GUARD_BYTES = 16 * 1024,
  SLAB_TARGET_BYTES = 4 * 1024 * 1024,
  SLAB_MAX_STACKS = 64,
  DEFAULT_KEEP_WARM = 1024,
};

/* Bookkeeping allocation; the one place to switch to cio__malloc. */
static void *book_alloc(size_t nbytes) {
  return malloc(nbytes);
}

static void book_free(void *p) {
  free(p);
}

static size_t page_size(void) {
  long n = sysconf(_SC_PAGESIZE);
  return n > 0 ? (size_t)n : 4096;
}

static size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

#if defined(__linux__)
/* qemu-user and some seccomp filters accept unknown madvise advice and do
 * nothing, so check that the marker really faults: the kernel fails a
 * write(2) from a guarded page with EFAULT instead of raising SIGSEGV. */
static bool guard_faults(const void *page) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return false;
  bool faults = write(fds[1], page, 1) < 0 && errno == EFAULT;
  close(fds[0]);
  close(fds[1]);
  return faults;
}

static int probe_kernel(void) {
  size_t page = page_size();
  void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return CIO__GUARD_CANARY;
  bool ok = madvise(p, page, MADV_GUARD_INSTALL) == 0 && guard_faults(p);
  munmap(p, 2 * page);
  return ok ? CIO__GUARD_PAGES : CIO__GUARD_CANARY;
}
#else
static int probe_kernel(void) {
  return CIO__GUARD_CANARY;
}
#endif

int cio__stack_guard_probe(void) {
  /* The one process-wide cache in src/arch: the answer is a property of the
   * kernel, the same for every loop and thread, and probing costs three
   * system calls and two file descriptors.  Racing threads store the same
   * value. */
  static atomic_int cached;
  int mode = atomic_load_explicit(&cached, memory_order_relaxed);
  if (mode == 0) {
    mode = probe_kernel();
    atomic_store_explicit(&cached, mode, memory_order_relaxed);
  }
  return mode;
}

int cio__stack_pool_init(cio__stack_pool *pool, size_t stack_size,
                         int guard_mode) {
  size_t page = page_size();
  if (!pool || stack_size == 0 || stack_size > SIZE_MAX / 4)
    return CIO_EINVAL;
  if (guard_mode == CIO__GUARD_AUTO)
    guard_mode = cio__stack_guard_probe();
  else if (guard_mode == CIO__GUARD_PAGES)
    guard_mode = cio__stack_guard_probe() == CIO__GUARD_PAGES ? guard_mode : -1;
  if (guard_mode != CIO__GUARD_PAGES && guard_mode != CIO__GUARD_CANARY)
    return CIO_EINVAL;
  *pool = (cio__stack_pool){
      .stack_size = round_up(stack_size, page),
      .guard_size = round_up(GUARD_BYTES, page),
      .guard_mode = guard_mode,
      .keep_warm = DEFAULT_KEEP_WARM,
  };
  return 0;
}

/* Map `map_size` bytes for stacks: lazily committed, never huge pages (a
 * 2 MiB page would make a mostly untouched stack fully resident). */
static void *map_stacks(size_t map_size) {
  void *base = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_FLAGS, -1, 0);
  if (base == MAP_FAILED)
    return NULL;
#if defined(__linux__) && defined(MADV_NOHUGEPAGE)
  (void)madvise(base, map_size, MADV_NOHUGEPAGE);
#endif
  return base;
}

static int install_guards(const cio__stack_pool *pool, char *base,
                          size_t count) {
#if defined(__linux__)
  size_t stride = pool->guard_size + pool->stack_size;
  for (size_t i = 0; i < count; i++)
    if (madvise(base + i * stride, pool->guard_size, MADV_GUARD_INSTALL) != 0)
      return CIO_ENOMEM;
  return 0;
#else
  (void)pool, (void)base, (void)count;
  return CIO_EINVAL; /* unreachable: the probe says canary off Linux */
#endif
}

/* Map a new slab and put all its stacks on the free list. */
static int slab_add(cio__stack_pool *pool) {
  size_t stride = pool->guard_size + pool->stack_size;
  size_t count = (SLAB_TARGET_BYTES + stride - 1) / stride;
  if (count > SLAB_MAX_STACKS)
    count = SLAB_MAX_STACKS;
  if (pool->fail_map != NULL && pool->fail_map())
    return CIO_ENOMEM;
  struct cio__stack_slab *slab =
      book_alloc(sizeof *slab + count * sizeof slab->stacks[0]);
  if (!slab)
    return CIO_ENOMEM;
  char *base = map_stacks(count * stride);
  if (!base)
    goto fail_free_slab;
  if (pool->guard_mode == CIO__GUARD_PAGES &&
      install_guards(pool, base, count) != 0)
    goto fail_unmap;
  slab->next = pool->slabs;
  slab->base = base;
  slab->map_size = count * stride;
  slab->guard_size = pool->guard_size;
  slab->count = count;
  for (size_t i = count; i-- > 0;) {
    slab->stacks[i] = (cio__stack){
        .lo = base + i * stride + pool->guard_size,
        .size = pool->stack_size,
        .next_free = pool->free,
        .slab = slab,
        .cold = true, /* never touched: no pages to give back */
        .canary = pool->guard_mode == CIO__GUARD_CANARY,
    };
    pool->free = &slab->stacks[i];
  }
  pool->slabs = slab;
  return 0;

fail_unmap:
  munmap(base, count * stride);
fail_free_slab:
  book_free(slab);
  return CIO_ENOMEM;
}

int cio__stack_acquire(cio__stack_pool *pool, cio__stack **out) {
  if (!out)
    return CIO_EINVAL;
  *out = NULL;
  if (!pool->free) {
    int rc = slab_add(pool);
    if (rc < 0)
      return rc;
  }
  cio__stack *stack = pool->free;
  pool->free = stack->next_free;
  stack->next_free = NULL;
  pool->live_count++;
  if (stack->cold) {
    stack->cold = false;
    /* A fresh or MADV_DONTNEED'd stack lost its canary.  A warm one kept
     * it: its last switch out checked it.  (The store is a cache miss
     * 64 KiB below the used part, so only where needed.) */
    if (stack->canary)
      *(uint64_t *)stack->lo = CIO__STACK_CANARY;
  } else {
    pool->warm_count--;
  }
#if defined(CIO__VALGRIND)
  if (stack->valgrind_id == 0) {
    char *lo = stack->lo;
    stack->valgrind_id = VALGRIND_STACK_REGISTER(lo, lo + stack->size) + 1;
  }
#endif
  *out = stack;
  return 0;
}

void cio__stack_expose_dead(const cio__stack *stack, const void *below) {
#if defined(CIO__VALGRIND) && __has_include(<valgrind/memcheck.h>)
  const char *lo = stack->lo;
  if ((const char *)below > lo)
    VALGRIND_MAKE_MEM_DEFINED(lo, (size_t)((const char *)below - lo));
#else
  (void)stack, (void)below;
#endif
}

/* Give back the pages of every warm free stack past the first keep_warm.
 * The free list is LIFO, so those are the ones released longest ago, and
 * everything behind the first cold stack is cold already.  Trimming only
 * when twice keep_warm are warm makes it rare (amortised O(1) per release)
 * and never hits the stack about to be reused. */
static void trim_cold(cio__stack_pool *pool) {
  cio__stack *s = pool->free;
  for (size_t i = 0; s != NULL && i < pool->keep_warm; i++)
    s = s->next_free;
  for (; s != NULL && !s->cold; s = s->next_free) {
#if defined(MADV_DONTNEED)
    (void)madvise(s->lo, s->size, MADV_DONTNEED);
#endif
    s->cold = true;
    pool->warm_count--;
  }
}

void cio__stack_release(cio__stack_pool *pool, cio__stack *stack) {
  if (!stack)
    return;
  assert(pool->live_count > 0 && stack->next_free == NULL);
  pool->live_count--;
  stack->next_free = pool->free;
  pool->free = stack;
  pool->warm_count++;
  if (pool->warm_count > 2 * pool->keep_warm)
    trim_cold(pool);
}

void cio__stack_pool_destroy(cio__stack_pool *pool) {
  if (!pool)
    return;
  assert(pool->live_count == 0);
  struct cio__stack_slab *slab = pool->slabs;
  while (slab) {
    struct cio__stack_slab *next = slab->next;
#if defined(CIO__VALGRIND)
    for (size_t i = 0; i < slab->count; i++)
      if (slab->stacks[i].valgrind_id != 0)
        VALGRIND_STACK_DEREGISTER(slab->stacks[i].valgrind_id - 1);
#endif
    munmap(slab->base, slab->map_size);
    book_free(slab);
    slab = next;
  }
  *pool = (cio__stack_pool){0};
}

bool cio__stack_canary_ok(const cio__stack *stack) {
  return cio__stack_canary_check(stack);
}

bool cio__stack_guard_contains(const cio__stack *stack, const void *addr) {
  /* Below the guard lies the top of the neighbouring stack, which does not
   * fault, so only the guard itself can be the faulting address. */
  uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)stack->lo;
  return a < lo && a >= lo - stack->slab->guard_size;
}
