/* Fibers: an execution context plus the stack it runs on.
 *
 * This is the only interface between the portable core and the CPU/OS
 * specific code in src/arch/.  The core never touches registers, mmap or
 * sanitizer hooks itself; it creates fibers on pooled stacks and switches
 * between them.
 *
 *   stack.c            slab-allocated, pooled stacks with guard regions as
 *                      large as the stack: kernel guard markers
 *                      (MADV_GUARD_INSTALL), else PROT_NONE pages while the
 *                      process's mapping budget lasts, else a canary band;
 *                      valgrind registration
 *   switch_x86_64.S    System V register save/restore
 *   switch_aarch64.S   AAPCS64 register save/restore
 *   switch_ucontext.c  portable fallback (CIO_ARCH_UCONTEXT)
 *   fiber.c            sanitizer annotations around the raw switch
 *   overflow.c         SIGSEGV/SIGBUS handler on an alternate stack, and
 *                      the report naming the fiber whose stack overflowed
 *   backtrace.c        backtraces: a suspended fiber's stack unwound on
 *                      that stack (cio__fiber_unwind_tramp in switch_*.S),
 *                      the running code's, frame-pointer walks
 *   rawthread.c        a thread libc does not know about (the stall
 *                      watchdog) and raw system calls
 *
 * Nothing here calls the layers above: a fiber carries the label its
 * overflow report names (set by the task layer), and this layer tracks
 * which fiber runs on each thread itself.
 */
#ifndef CIO_ARCH_FIBER_H
#define CIO_ARCH_FIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CIO__ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CIO__ASAN)
#define CIO__ASAN 1
#endif

#if !defined(CIO_ARCH_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define CIO_ARCH_UCONTEXT 1
#endif

#if defined(CIO_ARCH_UCONTEXT)
#include <ucontext.h>
#endif

/* Saved machine state of a suspended fiber.  With the assembly switches the
 * callee-saved registers live on the fiber's own stack and only the stack
 * pointer is kept here. */
typedef struct cio__context {
#if defined(CIO_ARCH_UCONTEXT)
  ucontext_t uc;
#else
  void *sp;
#endif
} cio__context;

/* How stack overflow is caught.  Every stack has a guard region below it,
 * at least as large as the stack (and 64 KiB), so a frame that jumps past
 * the stack's end lands in the guard, not in the next stack down. */
enum cio__guard_mode {
  CIO__GUARD_AUTO = 0, /* PAGES if the kernel has the markers, else CANARY */
  CIO__GUARD_PAGES,    /* the guard is kernel guard markers (Linux 6.13+):
                          they fault like PROT_NONE without a mapping each */
  CIO__GUARD_CANARY,   /* kernels without markers: PROT_NONE guards (two
                          mappings per stack) while the process's budget of
                          mappings lasts, then canary stacks as below */
  CIO__GUARD_CANARY_ONLY, /* the fallback with its budget spent: the guard
                             is plain memory and a canary band at the
                             stack's low end is checked at every switch */
};

struct cio__stack_slab;

/* One stack.  `lo` is the lowest usable byte, `size` the usable bytes; the
 * guard region lies just below `lo`. */
typedef struct cio__stack {
  void *lo;
  size_t size;
  struct cio__stack *next_free;  /* in the pool's free list, or NULL */
  struct cio__stack_slab *slab;  /* the mapping this stack was carved from */
  unsigned valgrind_id;          /* VALGRIND_STACK_REGISTER id, or 0 */
  bool cold;                     /* free, and its pages given back */
  bool canary;                   /* no faulting guard: a canary band at lo */
} cio__stack;

/* A canary stack keeps this word CIO__CANARY_WORDS times at lo.  Every
 * call writes a return address, so a recursion whose frames are smaller
 * than the band cannot pass through it without overwriting a word. */
#define CIO__STACK_CANARY UINT64_C(0xc10ca11ab1e5eed5)
enum { CIO__CANARY_WORDS = 32 };

/* A pool of equally sized stacks, carved out of large mappings so that a
 * million stacks cost a few thousand kernel mappings, not two million. */
typedef struct cio__stack_pool {
  size_t stack_size;      /* usable bytes per stack, page multiple */
  size_t guard_size;      /* bytes below each stack, >= stack_size */
  int guard_mode;         /* a cio__guard_mode other than AUTO */
  cio__stack *free;       /* LIFO free list: warm stacks first */
  size_t free_count;      /* stacks on it */
  size_t reserved;        /* of those, promised (cio__stack_reserve) */
  size_t warm_count;      /* free stacks still holding pages */
  size_t live_count;      /* stacks handed out and not yet released */
  size_t keep_warm;       /* warm free stacks kept after a trim */
  struct cio__stack_slab *slabs;
  /* Set by the owner of the pool: asked before each new slab, true fails
   * it as a failed mmap would (tests inject allocation failures). */
  bool (*fail_map)(void);
} cio__stack_pool;

/* Prepare `pool` for stacks of at least `stack_size` usable bytes (rounded
 * up to whole pages).  `guard_mode` is a cio__guard_mode.  Allocates
 * nothing yet.  Returns 0 or CIO_EINVAL. */
int cio__stack_pool_init(cio__stack_pool *pool, size_t stack_size,
                         int guard_mode);

/* Unmap every slab.  All stacks must have been released. */
void cio__stack_pool_destroy(cio__stack_pool *pool);

/* Hand out a stack, mapping a new slab when the free list is empty.
 * Returns 0 or CIO_ENOMEM (the mapping failed). */
int cio__stack_acquire(cio__stack_pool *pool, cio__stack **out);

/* Promise a stack to be taken later (mapping a new slab if every free
 * one is promised already): cio__stack_take() then cannot fail, and gets
 * the warmest free stack at that time, typically the one the last
 * finished task gave back.  Returns 0 or CIO_ENOMEM.  A promise not taken
 * is withdrawn with cio__stack_unreserve(). */
int cio__stack_reserve(cio__stack_pool *pool);
cio__stack *cio__stack_take(cio__stack_pool *pool);
void cio__stack_unreserve(cio__stack_pool *pool);

/* Give a stack back to `pool`.  Its memory may be returned to the kernel. */
void cio__stack_release(cio__stack_pool *pool, cio__stack *stack);

/* False when a word of the canary band at the stack's low end was
 * overwritten.  Always true for a stack with a faulting guard. */
bool cio__stack_canary_ok(const cio__stack *stack);

/* True when `addr` lies in the guard region below `stack`. */
bool cio__stack_guard_contains(const cio__stack *stack, const void *addr);

/* The part of `stack` below `below` holds a frame that has returned but
 * is still read on purpose (a scope it left entered, closed right after):
 * tell Valgrind it is readable.  No-op without Valgrind. */
void cio__stack_expose_dead(const cio__stack *stack, const void *below);

/* Which guard mode the running kernel supports: CIO__GUARD_PAGES or
 * CIO__GUARD_CANARY.  Probed once per process.  The environment variable
 * CIO_STACK_GUARD=fallback makes it CIO__GUARD_CANARY (the path of kernels
 * without guard markers, for tests and CI); CIO_STACK_GUARD=canary does
 * too, and also leaves the fallback no budget for PROT_NONE guards. */
int cio__stack_guard_probe(void);

/* The fallback's budget: how many more stacks, process-wide, may get a
 * PROT_NONE guard (two kernel mappings each).  It starts at a quarter of
 * vm.max_map_count, so half the process's mappings stay for everything
 * else. */
long cio__stack_guard_budget(void);

/* How overflow reports write one kind of fiber's owner: "<what> '<name>'",
 * or without a name "<what> '<unnamed><number>'" (a task is "Task-<id>"
 * until its name is first asked for).  The owner keeps the fiber inside
 * itself, with its name (a `char *`, NULL: unnamed) and its number (a
 * uint64_t) at fixed offsets from the fiber: the report reads them when
 * it is written, so the owner may rename itself at any time, and a fiber
 * costs one pointer for this. */
typedef struct cio__fiber_kind {
  const char *what;
  const char *unnamed;
  ptrdiff_t name_at;   /* offset of the owner's name from the fiber */
  ptrdiff_t number_at; /* offset of its number */
} cio__fiber_kind;

/* A fiber: context plus stack.  The thread's own stack (where the loop
 * runs) is a fiber with `stack == NULL`. */
typedef struct cio__fiber {
  cio__context ctx;
  cio__stack *stack;       /* NULL for the thread's native stack */
  const cio__fiber_kind *kind; /* for overflow reports; NULL: "a fiber" */
#if defined(CIO__ASAN)
  void *asan_fake_stack;   /* ASan's per-fiber fake stack bookkeeping */
  const void *asan_bottom; /* ASan: bounds of the stack being left */
  size_t asan_size;
#endif
} cio__fiber;

typedef void (*cio__fiber_entry)(void *arg);

/* Make `fiber` start in `entry(arg)` on `stack` at its first switch-in.
 * `entry` must never return: a finished fiber switches away with
 * cio__fiber_exit_to(). */
void cio__fiber_init(cio__fiber *fiber, cio__stack *stack,
                     cio__fiber_entry entry, void *arg);

/* Initialise the fiber that stands for the calling thread's native stack. */
void cio__fiber_init_native(cio__fiber *fiber);

#if defined(__GNUC__)
#define CIO__ARCH_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CIO__ARCH_TLS_MODEL
#endif

/* The fiber running on this thread if it has a pooled stack, else NULL
 * (the native stack, or no fiber yet).  Set by every switch; read by the
 * fault handler to know whose stack a fault is about. */
extern _Thread_local const cio__fiber *cio__fiber_running CIO__ARCH_TLS_MODEL;

/* Write the report naming `fiber` and its stack size to stderr and abort.
 * Async-signal-safe. */
_Noreturn void cio__overflow_report(const cio__fiber *fiber);

/* Canary stacks only: check `from`'s canary band (out of line: it tells
 * valgrind the reads below the stack pointer are intended) and report an
 * overflow if a word is gone. */
void cio__fiber_check_canary(const cio__fiber *from);

/* Raw switch, implemented in assembly (or ucontext).  Saves callee-saved
 * state of the running context into `from` and resumes `to`.
 * cio__context_start is the same into a context that has never run
 * (x86-64 enters it with a jump, which the branch predictor learns, rather
 * than a return, which the return stack always mispredicts there). */
void cio__context_switch(cio__context *from, cio__context *to);
#if defined(__x86_64__) && !defined(CIO_ARCH_UCONTEXT)
void cio__context_start(cio__context *from, cio__context *to);
#else
#define cio__context_start cio__context_switch
#endif

#if defined(CIO__ASAN)
void cio__fiber_switch_asan(cio__fiber *from, cio__fiber *to, bool fresh);
#endif

/* The switch of cio__fiber_switch and cio__fiber_start: `fresh` is a
 * constant in each. */
static inline void cio__fiber_switch_to(cio__fiber *from, cio__fiber *to,
                                        bool fresh) {
#if defined(CIO__ASAN)
  cio__fiber_switch_asan(from, to, fresh);
#else
  const cio__stack *s = from->stack;
  if (s != NULL && s->canary)
    cio__fiber_check_canary(from);
  cio__fiber_running = to->stack != NULL ? to : NULL;
  if (fresh)
    cio__context_start(&from->ctx, &to->ctx);
  else
    cio__context_switch(&from->ctx, &to->ctx);
#endif
}

/* Suspend `from` (the running fiber) and resume `to`.  Returns when some
 * fiber switches back to `from`.  Inline: it is the hot path of every task
 * switch, a canary check and the raw switch. */
static inline void cio__fiber_switch(cio__fiber *from, cio__fiber *to) {
  cio__fiber_switch_to(from, to, false);
}

/* The same when `to` has never run since cio__fiber_init (cheaper then;
 * either call is correct for any fiber). */
static inline void cio__fiber_start(cio__fiber *from, cio__fiber *to) {
  cio__fiber_switch_to(from, to, true);
}

/* Leave `from` for good and resume `to` (cio__fiber_exit_to_start: `to`
 * has never run).  `from`'s stack may be released by `to` once this
 * returns there.  Never returns. */
_Noreturn void cio__fiber_exit_to(cio__fiber *from, cio__fiber *to);
_Noreturn void cio__fiber_exit_to_start(cio__fiber *from, cio__fiber *to);

/* Install the process-wide SIGSEGV/SIGBUS handler and this thread's
 * alternate signal stack (once per thread; idempotent).  When the running
 * fiber's stack overflowed (the fault is in its guard, or the interrupted
 * stack pointer is below its stack), the handler reports it and aborts;
 * other faults go to the previous handler.  Returns 0 or a negative CIO_E
 * code. */
int cio__overflow_install_thread(void);

/* Free the alternate signal stack installed for this thread, if any. */
void cio__overflow_uninstall_thread(void);

/* True when a fault at `fault_addr` with the stack pointer at `sp` (0:
 * unknown) means that `s` overflowed.  The fault handler's test. */
bool cio__overflow_is_stack_overflow(const cio__stack *s,
                                     const void *fault_addr, uintptr_t sp);

/* ---- backtrace.c: backtraces (for dumps and reports) ------------------
 * Each writes up to `cap` return addresses into `pcs`, innermost first,
 * and returns how many. */

/* A frame-pointer walk from `fp`, on a stack spanning [lo, hi): reads
 * only inside the bounds and stops at the first broken link;
 * async-signal-safe. */
size_t cio__frames_walk(uintptr_t fp, uintptr_t lo, uintptr_t hi, void **pcs,
                        size_t cap);

/* Of the caller of this function (its return address first), by DWARF
 * unwinding (glibc's backtrace()). */
size_t cio__backtrace_here(void **pcs, size_t cap);

/* Of the suspended fiber `f` (not a native stack): the address its
 * switch resumes at, then its callers.  Unwinds on the fiber's own stack
 * through cio__fiber_unwind_tramp where it can, else walks frame
 * pointers; the running fiber is unwound where it runs.  Not
 * async-signal-safe; on the fiber's thread. */
size_t cio__fiber_backtrace(const cio__fiber *f, void **pcs, size_t cap);

/* The pc, frame pointer and stack pointer of a ucontext_t (a signal
 * handler's third argument).  False where unknown. */
bool cio__ucontext_regs(const void *ucontext, uintptr_t *pc, uintptr_t *fp,
                        uintptr_t *sp);

/* ---- rawthread.c: a thread libc does not know about ------------------
 * Raw system calls (no errno: a negative return is -errno), usable from
 * signal handlers and from the raw thread. */
long cio__raw_syscall(long nr, long a, long b, long c, long d, long e);
int64_t cio__raw_monotonic_ns(void);
void cio__raw_sleep_ns(int64_t ns);
void cio__raw_write(int fd, const char *buf, size_t len);
int cio__raw_signal_thread(int pid, int tid, int sig);
int cio__raw_gettid(void);
int cio__raw_getpid(void);
void cio__raw_futex_wait(_Atomic int *word, int value);
void cio__raw_futex_wake(_Atomic int *word);

/* Run fn(arg) on a thread of its own, with every signal blocked, for the
 * life of the process.  On Linux x86-64 and AArch64 (sanitizers aside)
 * glibc does not know the thread (the process stays single-threaded for
 * its fast paths), so fn may use only the cio__raw_* calls and atomics.
 * Returns 0 or a negative errno. */
int cio__raw_thread_start(void (*fn)(void *), void *arg);

/* Raw init: make `ctx` start `entry(arg)` on [stack_lo, stack_lo+size). */
void cio__context_init(cio__context *ctx, void *stack_lo, size_t size,
                       cio__fiber_entry entry, void *arg);

#endif
