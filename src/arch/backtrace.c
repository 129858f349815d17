/* Frame-pointer walks: the return addresses of a suspended fiber's stack
 * (from the frame its switch saved), of the calling code, and the
 * registers of a signal's interrupted context.
 *
 * A walk follows the chain every function compiled with frame pointers
 * keeps: [fp] is the caller's fp, [fp + word] the return address (System
 * V x86-64 and AAPCS64 alike).  The library is built with
 * -fno-omit-frame-pointer so that the chain holds through it; code built
 * without frame pointers ends a walk early.  A walk never reads outside
 * the stack bounds it is given and stops at the first frame pointer that
 * is misaligned, outside them, or not above the last one, so a broken
 * chain costs frames, never a fault.  Async-signal-safe: no calls.
 */
#include "arch/fiber.h"

#include <stdint.h>
#if defined(__linux__)
#include <ucontext.h>
#endif

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

NOINLINE size_t cio__frames_here(void **pcs, size_t cap, uintptr_t lo,
                                 uintptr_t hi) {
#if defined(__GNUC__)
  uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
  /* Our own frame's return address is the caller's first frame. */
  return cio__frames_walk(fp, lo, hi, pcs, cap);
#else
  (void)pcs, (void)cap, (void)lo, (void)hi;
  return 0;
#endif
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

size_t cio__fiber_backtrace(const cio__fiber *f, void **pcs, size_t cap) {
  uintptr_t pc, fp, sp;
  if (cap == 0 || f->stack == NULL || !saved_regs(&f->ctx, &pc, &fp, &sp))
    return 0;
  uintptr_t lo = (uintptr_t)f->stack->lo;
  uintptr_t hi = lo + f->stack->size;
  if (sp < lo || sp >= hi)
    return 0;
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
