/* Private to src/arch/: the slab behind pooled stacks, and the inline canary
 * check that cio__fiber_switch() runs on every switch. */
#ifndef CIO_ARCH_STACK_SLAB_H
#define CIO_ARCH_STACK_SLAB_H

#include "arch/fiber.h"

/* One mapping holding `count` stacks, each with its guard region below it:
 *
 *   base: [guard 0][stack 0][guard 1][stack 1] ... [stack count-1]
 *
 * The descriptors live in `stacks`, outside the mapping, so free-list links
 * never touch stack memory (touching it would make it resident). */
struct cio__stack_slab {
  struct cio__stack_slab *next; /* in the pool's list of slabs */
  void *base;
  size_t map_size;
  size_t guard_size;
  size_t count;
  cio__stack stacks[];
};

/* One load and compare in canary mode.  Guard-page stacks carry no canary:
 * the kernel guard catches overflow, and a canary would keep one more page
 * resident per stack. */
static inline bool cio__stack_canary_check(const cio__stack *stack) {
  return !stack->canary ||
         *(const volatile uint64_t *)stack->lo == CIO__STACK_CANARY;
}

#endif
