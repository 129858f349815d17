/* Fiber switching: the raw context switch plus the bookkeeping tools need.
 *
 * Without AddressSanitizer a switch is the canary check (canary stacks
 * only), a note of the fiber now running (for the fault handler) and a tail
 * call into cio__context_switch.  With it, every switch is bracketed by
 * __sanitizer_start_switch_fiber() / __sanitizer_finish_switch_fiber() so
 * ASan knows which stack is current; otherwise it reports false stack
 * overflows and unpoisons the wrong memory.
 */
#include "arch/stack_slab.h"

#include <stdlib.h>

#if defined(CIO__ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

_Thread_local const cio__fiber *cio__fiber_running CIO__ARCH_TLS_MODEL;

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CIO__HAVE_MEMCHECK 1
#endif
#endif

/* A word of the band gone means the fiber overflowed its stack, and the
 * memory below may be corrupt, so the report stops the process here,
 * before any other fiber runs. */
void cio__fiber_check_canary(const cio__fiber *from) {
#if defined(CIO__HAVE_MEMCHECK)
  /* The band lies below the running stack's pointer: memcheck would call
   * reading it an error. */
  VALGRIND_DISABLE_ERROR_REPORTING;
#endif
  bool ok = cio__stack_canary_check(from->stack);
#if defined(CIO__HAVE_MEMCHECK)
  VALGRIND_ENABLE_ERROR_REPORTING;
#endif
  if (!ok)
    cio__overflow_report(from);
}

static void check_canary(const cio__fiber *from) {
  if (from->stack != NULL && from->stack->canary)
    cio__fiber_check_canary(from);
}

static void set_running(const cio__fiber *to) {
  cio__fiber_running = to->stack != NULL ? to : NULL;
}

#if defined(CIO__ASAN)
/* Under ASan a new fiber starts in fiber_start, which must tell ASan the
 * switch finished before running any instrumented code.  The real entry and
 * argument wait in this block at the top of the fiber's stack.  `prev`
 * is the fiber that last switched here: the native fiber's bounds are only
 * known to ASan, which reports them when the first fiber starts. */
struct start_block {
  cio__fiber_entry entry;
  void *arg;
  cio__fiber *prev;
  void *pad;
};

static struct start_block *start_block(const cio__fiber *fiber) {
  char *top = (char *)fiber->stack->lo + fiber->stack->size;
  return (struct start_block *)top - 1;
}

/* Finish a switch into `self`; learn the bounds of the stack just left if
 * it was a native stack seen for the first time. */
static void asan_finish(cio__fiber *self, void *fake_stack) {
  const void *bottom;
  size_t size;
  __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
  if (self->stack) {
    cio__fiber *prev = start_block(self)->prev;
    if (prev && prev->asan_bottom == NULL) {
      prev->asan_bottom = bottom;
      prev->asan_size = size;
    }
  }
}

static void asan_start(cio__fiber *from, cio__fiber *to, void **fake_save) {
  if (to->stack)
    start_block(to)->prev = from;
  __sanitizer_start_switch_fiber(fake_save, to->asan_bottom, to->asan_size);
}

static void fiber_start(void *arg) {
  cio__fiber *self = arg;
  asan_finish(self, NULL);
  struct start_block *b = start_block(self);
  b->entry(b->arg);
}
#endif

void cio__fiber_init(cio__fiber *fiber, cio__stack *stack,
                     cio__fiber_entry entry, void *arg) {
  fiber->stack = stack;
  fiber->kind = NULL;
#if defined(CIO__ASAN)
  fiber->asan_fake_stack = NULL;
  fiber->asan_bottom = stack->lo;
  fiber->asan_size = stack->size;
  /* A reused stack keeps the poisoned redzones of the frames its last
   * fiber never returned from. */
  __asan_unpoison_memory_region(stack->lo, stack->size);
  struct start_block *b = start_block(fiber);
  *b = (struct start_block){.entry = entry, .arg = arg};
  cio__context_init(&fiber->ctx, stack->lo, stack->size - sizeof *b,
                    fiber_start, fiber);
#else
  cio__context_init(&fiber->ctx, stack->lo, stack->size, entry, arg);
#endif
}

void cio__fiber_init_native(cio__fiber *fiber) {
  *fiber = (cio__fiber){.stack = NULL};
}

#if defined(CIO__ASAN)
void cio__fiber_switch_asan(cio__fiber *from, cio__fiber *to, bool fresh) {
  check_canary(from);
  set_running(to);
  asan_start(from, to, &from->asan_fake_stack);
  if (fresh)
    cio__context_start(&from->ctx, &to->ctx);
  else
    cio__context_switch(&from->ctx, &to->ctx);
  asan_finish(from, from->asan_fake_stack);
}
#endif

static void exit_prepare(cio__fiber *from, cio__fiber *to) {
  check_canary(from);
  set_running(to);
#if defined(CIO__ASAN)
  /* NULL: `from` never resumes, so ASan may free its fake stack. */
  asan_start(from, to, NULL);
#else
  (void)from;
#endif
}

_Noreturn void cio__fiber_exit_to(cio__fiber *from, cio__fiber *to) {
  exit_prepare(from, to);
  cio__context_switch(&from->ctx, &to->ctx);
  abort(); /* nobody switches back to a finished fiber */
}

_Noreturn void cio__fiber_exit_to_start(cio__fiber *from, cio__fiber *to) {
  exit_prepare(from, to);
  cio__context_start(&from->ctx, &to->ctx);
  abort();
}
