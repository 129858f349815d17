/* Portable context switch on getcontext/makecontext/swapcontext, for CPUs
 * without an assembly switch (or CIO_UCONTEXT=ON).  Slower: swapcontext
 * saves the signal mask with a system call on every switch. */
#include "arch/fiber.h"

#if defined(CIO_ARCH_UCONTEXT)

#include <stdint.h>
#include <stdlib.h>

/* makecontext passes only int arguments, so the entry and its argument
 * travel as 32-bit halves; nothing needs to be stored beside the context. */
static uintptr_t join(int hi, int lo) {
  return ((uintptr_t)(uint32_t)hi << 16 << 16) | (uintptr_t)(uint32_t)lo;
}

static int high_half(uintptr_t v) {
  return (int)(uint32_t)(v >> 16 >> 16);
}

static int low_half(uintptr_t v) {
  return (int)(uint32_t)v;
}

static void start(int entry_hi, int entry_lo, int arg_hi, int arg_lo) {
  cio__fiber_entry entry = (cio__fiber_entry)join(entry_hi, entry_lo);
  entry((void *)join(arg_hi, arg_lo));
  abort(); /* entry must leave with cio__fiber_exit_to() */
}

void cio__context_init(cio__context *ctx, void *stack_lo, size_t size,
                       cio__fiber_entry entry, void *arg) {
  if (getcontext(&ctx->uc) != 0)
    abort();
  ctx->uc.uc_stack.ss_sp = stack_lo;
  ctx->uc.uc_stack.ss_size = size;
  ctx->uc.uc_link = NULL;
  uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;
  makecontext(&ctx->uc, (void (*)(void))start, 4, high_half(e), low_half(e),
              high_half(a), low_half(a));
}

void cio__context_switch(cio__context *from, cio__context *to) {
  if (swapcontext(&from->uc, &to->uc) != 0)
    abort();
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int cio__switch_ucontext_unused;
#endif
