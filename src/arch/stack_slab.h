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
  size_t budgeted; /* PROT_NONE guards charged to the fallback's budget */
  cio__stack stacks[];
};

/* The whole band, with one branch and no dependency between the words, so
 * the compiler can use vector loads.  Stacks with a faulting guard carry
 * no canary: the guard catches overflow, and a canary would keep one more
 * page resident per stack. */
static inline bool cio__stack_canary_check(const cio__stack *stack) {
  if (!stack->canary)
    return true;
  const uint64_t *band = stack->lo;
  uint64_t diff = 0;
  for (int i = 0; i < CIO__CANARY_WORDS; i++)
    diff |= band[i] ^ CIO__STACK_CANARY;
  return diff == 0;
}

#endif
