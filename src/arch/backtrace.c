/* Backtraces: of the running code, of a suspended fiber's stack, and the
 * registers of a signal's interrupted context.
 *
 * The running code is unwound by glibc's backtrace(), which follows the
 * DWARF call-frame information every object carries (.eh_frame), frame
 * pointers or not.
 *
 * A suspended fiber cannot be unwound from another stack, so the unwinder
 * is taken there: below the fiber's saved switch frame (memory the fiber
 * does not use while suspended), cio__fiber_backtrace crafts a second
 * switch frame that resumes in cio__fiber_unwind_tramp (switch_*.S),
 * switches to it, and backtrace() runs there.  The trampoline's own
 * call-frame information describes the saved switch frame above it, so
 * the unwinder goes from the trampoline to the fiber's resume address and
 * on through the fiber's frames to cio__fiber_start.  A raw switch back
 * ends the visit; the fiber's saved state is never touched.
 *
 * Where that cannot work (the ucontext switch, another CPU, sanitizer
 * builds, whose bookkeeping a raw switch would upset, or less than
 * UNWIND_ROOM bytes free below the fiber's frame), the frame-pointer
 * chain is walked instead: [fp] is the caller's fp, [fp + word] the
 * return address, on System V x86-64 and AAPCS64 alike.  Those builds
 * keep frame pointers; code built without them ends such a walk early.
 * A walk never reads outside the stack bounds it is given and stops at
 * the first frame pointer that is misaligned, outside them, or not above
 * the last one.  Walks and cio__ucontext_regs are async-signal-safe.
 */
#include "arch/fiber.h"

#include <execinfo.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <ucontext.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CIO__HAVE_MEMCHECK 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define CIO__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CIO__TSAN 1
#endif
#endif

#if !defined(CIO_ARCH_UCONTEXT) && !defined(CIO__ASAN) &&                      \
    !defined(CIO__TSAN) && (defined(__x86_64__) || defined(__aarch64__))
#define CIO__UNWIND_TRAMP 1
#endif

/* Free stack the unwinder may use below a suspended fiber's frame. */
enum { UNWIND_ROOM = 24 * 1024 };

size_t cio__frames_walk(uintptr_t fp, uintptr_t lo, uintptr_t hi, void **pcs,
                        size_t cap) {
  size_t n = 0;
  if (hi < lo + 2 * sizeof(void *))
    return 0; /* no bounds known */
  while (n < cap) {
    if (fp < lo || fp > hi - 2 * sizeof(void *) || fp % sizeof(void *) != 0)
      break;
    const uintptr_t *frame = (const uintptr_t *)fp;
    uintptr_t ret = frame[1], next = frame[0];
    if (ret == 0)
      break;
    pcs[n++] = (void *)ret;
    if (next <= fp)
      break;
    fp = next;
  }
  return n;
}

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

NOINLINE size_t cio__backtrace_here(void **pcs, size_t cap) {
  void *all[64];
  int n = backtrace(all, 64);
  size_t k = 0;
  /* all[0] is in this function: the caller's frames start at all[1]. */
  for (int i = 1; i < n && k < cap; i++)
    pcs[k++] = all[i];
  return k;
}

/* The pc and frame pointer a suspended context resumes with. */
static bool saved_regs(const cio__context *ctx, uintptr_t *pc, uintptr_t *fp,
                       uintptr_t *sp) {
#if defined(CIO_ARCH_UCONTEXT)
  return cio__ucontext_regs(&ctx->uc, pc, fp, sp);
#elif defined(__x86_64__)
  /* switch_x86_64.S: rbp at sp + 48, the resume address at sp + 56. */
  const uintptr_t *frame = ctx->sp;
  *sp = (uintptr_t)frame;
  *fp = frame[6];
  *pc = frame[7];
  return true;
#elif defined(__aarch64__)
  /* switch_aarch64.S: x29 at sp + 80, x30 (the resume address) at 88. */
  const uintptr_t *frame = ctx->sp;
  *sp = (uintptr_t)frame;
  *fp = frame[10];
  *pc = frame[11];
  return true;
#else
  (void)ctx, (void)pc, (void)fp, (void)sp;
  return false;
#endif
}

#if defined(CIO__UNWIND_TRAMP)
void cio__fiber_unwind_tramp(void);

/* A visit to a suspended fiber's stack. */
struct visit {
  void **pcs;
  size_t cap;
  int n;
  cio__context back;    /* the visitor's own */
  cio__context scratch; /* the visit's, never resumed */
};

NOINLINE static void visit_entry(void *arg) {
  struct visit *v = arg;
  void *all[64];
  v->n = backtrace(all, 64);
  for (int i = 0; i < v->n && (size_t)i < v->cap; i++)
    v->pcs[i] = all[i];
  if ((size_t)v->n > v->cap)
    v->n = (int)v->cap;
  cio__context_switch(&v->scratch, &v->back);
  abort(); /* nobody resumes a visit */
}

/* The words of a switch frame (switch_*.S) and where its resume address
 * and first argument registers sit in it. */
#if defined(__x86_64__)
enum { FRAME_WORDS = 8, FP_WORD = 0, R_FN = 4, R_ARG = 3, R_RET = 7 };
#else
enum { FRAME_WORDS = 22, FP_WORD = 20, R_FN = 0, R_ARG = 1, R_RET = 11 };
#endif

/* Unwind `f` on its own stack; -1 when there is no room there. */
static int unwind_visit(const cio__fiber *f, void **pcs, size_t cap) {
  uintptr_t *saved = f->ctx.sp;
  uintptr_t lo = (uintptr_t)f->stack->lo;
  if ((uintptr_t)saved < lo + UNWIND_ROOM + FRAME_WORDS * sizeof(uintptr_t))
    return -1;
  uintptr_t *frame = saved - FRAME_WORDS;
#if defined(CIO__HAVE_MEMCHECK)
  VALGRIND_MAKE_MEM_UNDEFINED((char *)saved - UNWIND_ROOM, UNWIND_ROOM);
#endif
  struct visit v = {.pcs = pcs, .cap = cap};
  for (int i = 0; i < FRAME_WORDS; i++)
    frame[i] = 0;
  frame[FP_WORD] = saved[FP_WORD]; /* the fiber's floating-point modes */
  frame[R_FN] = (uintptr_t)visit_entry;
  frame[R_ARG] = (uintptr_t)&v;
  frame[R_RET] = (uintptr_t)cio__fiber_unwind_tramp;
  cio__context there = {.sp = frame};
  const cio__fiber *was = cio__fiber_running;
  cio__fiber_running = f; /* an overflow there is the fiber's */
  cio__context_switch(&v.back, &there);
  cio__fiber_running = was;
  /* Keep what follows the trampoline: from the resume address on. */
  int start = 0;
  while (start < v.n && (uintptr_t)pcs[start] != saved[R_RET])
    start++;
  if (start == v.n)
    return 0;
  for (int i = start; i < v.n; i++)
    pcs[i - start] = pcs[i];
  return v.n - start;
}
#endif

size_t cio__fiber_backtrace(const cio__fiber *f, void **pcs, size_t cap) {
  uintptr_t pc, fp, sp;
  if (cap == 0 || f->stack == NULL)
    return 0;
  /* Running after all (a task that yielded with nothing else to run):
   * its saved frame is stale and its live frames lie below it. */
  if (f == cio__fiber_running)
    return cio__backtrace_here(pcs, cap);
  if (!saved_regs(&f->ctx, &pc, &fp, &sp))
    return 0;
  uintptr_t lo = (uintptr_t)f->stack->lo;
  uintptr_t hi = lo + f->stack->size;
  if (sp < lo || sp >= hi)
    return 0;
#if defined(CIO__UNWIND_TRAMP)
  int n = unwind_visit(f, pcs, cap);
  if (n >= 0)
    return (size_t)n;
#endif
  pcs[0] = (void *)pc;
  return 1 + cio__frames_walk(fp, sp, hi, pcs + 1, cap - 1);
}

bool cio__ucontext_regs(const void *ucontext, uintptr_t *pc, uintptr_t *fp,
                        uintptr_t *sp) {
#if defined(__linux__) && defined(__x86_64__)
  const ucontext_t *uc = ucontext;
  *pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  *fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
  *sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
  return true;
#elif defined(__linux__) && defined(__aarch64__)
  const ucontext_t *uc = ucontext;
  *pc = (uintptr_t)uc->uc_mcontext.pc;
  *fp = (uintptr_t)uc->uc_mcontext.regs[29];
  *sp = (uintptr_t)uc->uc_mcontext.sp;
  return true;
#else
  (void)ucontext, (void)pc, (void)fp, (void)sp;
  return false;
#endif
}
