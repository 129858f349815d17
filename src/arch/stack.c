/* Pooled fiber stacks, carved out of large anonymous mappings.
 *
 * A million tasks must not cost two million kernel mappings (the default
 * vm.max_map_count is 65530), so stacks come from slabs of ~8 MiB, one mmap
 * each.  Below every stack lies a guard region at least as large as the
 * stack, so that a frame jumping past the stack's end (a big local array)
 * lands in the guard and not in the next stack down; code compiled with
 * -fstack-clash-protection probes every page of a big frame, so it always
 * touches the guard first.  How the guard faults:
 *
 *   PAGES        MADV_GUARD_INSTALL markers (Linux 6.13+): they fault like
 *                PROT_NONE pages without splitting the mapping.
 *   CANARY       older kernels: mprotect(PROT_NONE), which splits the slab
 *                into two mappings per stack.  A process-wide budget (a
 *                quarter of vm.max_map_count) caps that; once spent, slabs
 *                are made as in CANARY_ONLY, and a million tasks still fit.
 *   CANARY_ONLY  nothing faults; a band of canary words at the stack's low
 *                end is checked at every switch out, and the fault handler
 *                names the task whose stack pointer left its stack.
 *
 * A stack moves between two states:
 *   FREE -> LIVE   cio__stack_acquire()  (a new slab when none is free),
 *                  or cio__stack_take() after cio__stack_reserve()
 *   LIVE -> FREE   cio__stack_release()
 * (1) A stack is on the pool's free list iff it is FREE; live_count
 *     counts LIVE stacks over all slabs, free_count FREE ones, and
 *     reserved <= free_count.
 * (2) A stack has `canary` set iff no faulting guard lies below it; a LIVE
 *     canary stack held the whole canary band at lo when handed out.
 * (3) valgrind_id is non-zero iff the stack is registered with Valgrind
 *     (it stores the Valgrind id plus one, since Valgrind ids start at 0).
 * (4) A slab's `guarded` stacks are charged to the budget until the slab is
 *     unmapped.
 */
#include "arch/stack_slab.h"
#include "casyncio.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
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
  /* The least guard: GCC's stack-clash probing on AArch64 assumes 64 KiB. */
  GUARD_MIN_BYTES = 64 * 1024,
  SLAB_TARGET_BYTES = 8 * 1024 * 1024,
  SLAB_MAX_STACKS = 64,
  DEFAULT_KEEP_WARM = 1024,
  /* Linux's default vm.max_map_count, where it cannot be read. */
  DEFAULT_MAX_MAP_COUNT = 65530,
  VALGRIND_BUDGET = 2048,
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

/* CIO_STACK_GUARD: "fallback" behaves as a kernel without guard markers,
 * "canary" as one whose mapping budget is spent.  Anything else: 0. */
static int guard_env(void) {
  const char *v = getenv("CIO_STACK_GUARD");
  if (v != NULL && strcmp(v, "fallback") == 0)
    return CIO__GUARD_CANARY;
  if (v != NULL && strcmp(v, "canary") == 0)
    return CIO__GUARD_CANARY_ONLY;
  return 0;
}

int cio__stack_guard_probe(void) {
  /* Process-wide caches in src/arch: the answers are properties of the
   * kernel (and the environment), the same for every loop and thread, and
   * probing costs three system calls and two file descriptors.  Racing
   * threads store the same value. */
  static atomic_int cached;
  int mode = atomic_load_explicit(&cached, memory_order_relaxed);
  if (mode == 0) {
    mode = guard_env() != 0 ? CIO__GUARD_CANARY : probe_kernel();
    atomic_store_explicit(&cached, mode, memory_order_relaxed);
  }
  return mode;
}

/* ---- the fallback's budget of PROT_NONE guards ----------------------- */

static long max_map_count(void) {
  long n = DEFAULT_MAX_MAP_COUNT;
#if defined(__linux__)
  int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[32];
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len > 0) {
      buf[len] = '\0';
      long v = strtol(buf, NULL, 10);
      if (v > 0)
        n = v;
    }
  }
#endif
  return n;
}

/* Stacks that may still get a PROT_NONE guard; -1 until first asked. */
static atomic_long guard_budget = -1;

static long budget_start(void) {
  long left = atomic_load_explicit(&guard_budget, memory_order_relaxed);
  if (left < 0) {
    long start =
        guard_env() == CIO__GUARD_CANARY_ONLY ? 0 : max_map_count() / 4;
#if defined(CIO__VALGRIND)
    /* Valgrind tracks a fixed number of mappings (VG_N_SEGMENTS) and exits
     * when they run out. */
    if (RUNNING_ON_VALGRIND && start > VALGRIND_BUDGET)
      start = VALGRIND_BUDGET;
#endif
    long unset = -1;
    atomic_compare_exchange_strong(&guard_budget, &unset, start);
    left = atomic_load_explicit(&guard_budget, memory_order_relaxed);
  }
  return left;
}

long cio__stack_guard_budget(void) {
  return budget_start();
}

/* Take up to `want` stacks from the budget; returns how many were given. */
static size_t budget_take(size_t want) {
  long left = budget_start();
  for (;;) {
    long take = left < (long)want ? left : (long)want;
    if (take <= 0)
      return 0;
    if (atomic_compare_exchange_weak(&guard_budget, &left, left - take))
      return (size_t)take;
  }
}

static void budget_give(size_t n) {
  if (n > 0)
    atomic_fetch_add(&guard_budget, (long)n);
}

/* As large as the stack, so that any frame that fits in a stack and jumps
 * past its end lands in the guard.  Where guards cost no mapping of their
 * own they cost only address space (and page-table entries for markers);
 * a 32-bit address space cannot spare that, so there they stay small. */
static size_t guard_bytes(size_t stack_size, size_t page) {
  size_t guard = round_up(GUARD_MIN_BYTES, page);
#if UINTPTR_MAX > 0xffffffffu
  if (stack_size > guard)
    guard = stack_size;
#else
  (void)stack_size;
#endif
  return guard;
}

int cio__stack_pool_init(cio__stack_pool *pool, size_t stack_size,
                         int guard_mode) {
  size_t page = page_size();
  if (!pool || stack_size == 0 || stack_size > SIZE_MAX / 8)
    return CIO_EINVAL;
  if (guard_mode == CIO__GUARD_AUTO)
    guard_mode = cio__stack_guard_probe();
  else if (guard_mode == CIO__GUARD_PAGES)
    guard_mode = cio__stack_guard_probe() == CIO__GUARD_PAGES ? guard_mode : -1;
  if (guard_mode != CIO__GUARD_PAGES && guard_mode != CIO__GUARD_CANARY &&
      guard_mode != CIO__GUARD_CANARY_ONLY)
    return CIO_EINVAL;
  stack_size = round_up(stack_size, page);
  *pool = (cio__stack_pool){
      .stack_size = stack_size,
      .guard_size = guard_bytes(stack_size, page),
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

static int install_markers(const cio__stack_pool *pool, char *base,
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

/* The fallback: PROT_NONE guards below as many of the slab's stacks as the
 * budget allows, from the lowest up.  Returns how many got one; the rest
 * (and all of them if mprotect fails, say at the kernel's mapping limit)
 * are canary stacks. */
static size_t protect_guards(const cio__stack_pool *pool, char *base,
                             size_t count) {
  size_t stride = pool->guard_size + pool->stack_size;
  size_t want = budget_take(count), done = 0;
  while (done < want &&
         mprotect(base + done * stride, pool->guard_size, PROT_NONE) == 0)
    done++;
  budget_give(want - done);
  return done;
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
  size_t guarded = 0;
  if (pool->guard_mode == CIO__GUARD_PAGES) {
    if (install_markers(pool, base, count) != 0)
      goto fail_unmap;
    guarded = count;
  } else if (pool->guard_mode == CIO__GUARD_CANARY) {
    guarded = protect_guards(pool, base, count);
  }
  slab->next = pool->slabs;
  slab->base = base;
  slab->map_size = count * stride;
  slab->guard_size = pool->guard_size;
  slab->count = count;
  slab->budgeted = pool->guard_mode == CIO__GUARD_CANARY ? guarded : 0;
  pool->free_count += count;
  for (size_t i = count; i-- > 0;) {
    slab->stacks[i] = (cio__stack){
        .lo = base + i * stride + pool->guard_size,
        .size = pool->stack_size,
        .next_free = pool->free,
        .slab = slab,
        .cold = true, /* never touched: no pages to give back */
        .canary = i >= guarded,
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

int cio__stack_reserve(cio__stack_pool *pool) {
  if (pool->free_count == pool->reserved) {
    int rc = slab_add(pool);
    if (rc < 0)
      return rc;
  }
  pool->reserved++;
  return 0;
}

void cio__stack_unreserve(cio__stack_pool *pool) {
  assert(pool->reserved > 0);
  pool->reserved--;
}

int cio__stack_acquire(cio__stack_pool *pool, cio__stack **out) {
  if (!out)
    return CIO_EINVAL;
  *out = NULL;
  int rc = cio__stack_reserve(pool);
  if (rc < 0)
    return rc;
  *out = cio__stack_take(pool);
  return 0;
}

cio__stack *cio__stack_take(cio__stack_pool *pool) {
  assert(pool->reserved > 0 && pool->free != NULL);
  pool->reserved--;
  pool->free_count--;
  cio__stack *stack = pool->free;
  pool->free = stack->next_free;
  stack->next_free = NULL;
  pool->live_count++;
  if (stack->cold) {
    stack->cold = false;
    /* A fresh or MADV_DONTNEED'd stack lost its canary band.  A warm one
     * kept it: its last switch out checked it.  (The stores miss the cache,
     * 64 KiB below the used part, so only where needed.) */
    if (stack->canary)
      for (int i = 0; i < CIO__CANARY_WORDS; i++)
        ((uint64_t *)stack->lo)[i] = CIO__STACK_CANARY;
  } else {
    pool->warm_count--;
  }
#if defined(CIO__VALGRIND)
  if (stack->valgrind_id == 0) {
    char *lo = stack->lo;
    stack->valgrind_id = VALGRIND_STACK_REGISTER(lo, lo + stack->size) + 1;
  }
#endif
  return stack;
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
  pool->free_count++;
  stack->next_free = pool->free;
  pool->free = stack;
  pool->warm_count++;
  if (pool->warm_count > 2 * pool->keep_warm)
    trim_cold(pool);
}

void cio__stack_pool_destroy(cio__stack_pool *pool) {
  if (!pool)
    return;
  assert(pool->live_count == 0 && pool->reserved == 0);
  struct cio__stack_slab *slab = pool->slabs;
  while (slab) {
    struct cio__stack_slab *next = slab->next;
#if defined(CIO__VALGRIND)
    for (size_t i = 0; i < slab->count; i++)
      if (slab->stacks[i].valgrind_id != 0)
        VALGRIND_STACK_DEREGISTER(slab->stacks[i].valgrind_id - 1);
#endif
    munmap(slab->base, slab->map_size);
    budget_give(slab->budgeted);
    book_free(slab);
    slab = next;
  }
  *pool = (cio__stack_pool){0};
}

bool cio__stack_canary_ok(const cio__stack *stack) {
  return cio__stack_canary_check(stack);
}

bool cio__stack_guard_contains(const cio__stack *stack, const void *addr) {
  uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)stack->lo;
  return a < lo && a >= lo - stack->slab->guard_size;
}
