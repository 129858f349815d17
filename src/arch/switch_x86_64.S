/* Context switch for x86_64, System V ABI.
 *
 * A suspended context is its stack pointer; everything else sits on its own
 * stack in this frame (offsets from the saved sp):
 *
 *    0  MXCSR (4 bytes), x87 control word (2 bytes), padding
 *    8  r15     16 r14     24 r13     32 r12     40 rbx     48 rbp
 *   56  resume address (the switch's return address)
 *
 * cio__context_init builds the same frame on a fresh stack with the resume
 * address pointing at `cio__fiber_start`, r12 = entry, r13 = arg, so the first switch
 * in jumps to start, which calls entry(arg).
 *
 * The control bits of MXCSR and the x87 control word are callee-saved (the
 * rounding modes and exception masks), so each context keeps its own.  They
 * are written back only when they differ from the running context's: a
 * changed MXCSR drains the pipeline (about 50 ns a switch here), and the
 * pair almost never differs between fibers.  MXCSR's low six bits are
 * exception *flags*, which the ABI does not preserve across calls and any
 * floating-point arithmetic sets: they are left out of the comparison, or
 * a task that once divided two doubles would pay that on every switch.
 */

#if defined(__APPLE__)
#define SYM(name) _##name
#define HIDDEN(name) .private_extern _##name
#define TYPE(name)
#define SIZE(name)
#define ABORT _abort
#else
#define SYM(name) name
#define HIDDEN(name) .hidden name
#define TYPE(name) .type name, @function
#define SIZE(name) .size name, .-name
#define ABORT abort@PLT
#endif

  .text

/* Save the running context in (%rdi), load the one in (%rsi), up to the
 * resume address, left on the stack for the caller's tail. */
.macro SWITCH_BODY
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movl (%rsp), %eax         /* the modes we leave with */
  andl $0xffc0, %eax
  movzwl 4(%rsp), %ecx
  movq %rsp, (%rdi)
  movq (%rsi), %rsp
  movl (%rsp), %edx
  andl $0xffc0, %edx
  cmpl %edx, %eax
  jne 1f
  cmpw 4(%rsp), %cx
  jne 1f
2:
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
.endm

/* The modes differ: load the saved ones, then back to label 2. */
.macro LOAD_MODES
1:
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  jmp 2b
.endm

/* void cio__context_switch(cio__context *from, cio__context *to)
 *
 * Ends with `ret`: the call that entered here pushed a return-stack entry,
 * and only a ret pops it.  A pop and an indirect jump would leave the
 * return stack one entry off, and every return the resumed fiber makes
 * afterwards would mispredict (three or four before a task switches
 * again: a ping-pong switch costs 21 ns that way, 13 ns this way, on a
 * Xeon).  Fibers mostly switch from the same call site, where the ret
 * itself is predicted right too. */
  .globl SYM(cio__context_switch)
  HIDDEN(cio__context_switch)
  TYPE(cio__context_switch)
  .p2align 4
SYM(cio__context_switch):
  SWITCH_BODY
  ret
  LOAD_MODES
  SIZE(cio__context_switch)

/* void cio__context_start(cio__context *from, cio__context *to)
 *
 * The same into a fiber that has never run: its resume address is
 * `start`, which a ret always mispredicts; an indirect jump goes through
 * the branch target predictor, which learns it.  The return stack keeps
 * one entry too many, harmless for a fiber that starts with a call. */
  .globl SYM(cio__context_start)
  HIDDEN(cio__context_start)
  TYPE(cio__context_start)
  .p2align 4
SYM(cio__context_start):
  SWITCH_BODY
  popq %rcx
  jmp *%rcx
  LOAD_MODES
  SIZE(cio__context_start)

/* void cio__context_init(cio__context *ctx, void *stack_lo, size_t size,
 *                        cio__fiber_entry entry, void *arg)
 * rdi = ctx, rsi = stack_lo, rdx = size, rcx = entry, r8 = arg.  The frame
 * ends 16 bytes below the aligned top, so once the switch has popped the
 * resume address rsp is 16-byte aligned, as a call site needs. */
  .globl SYM(cio__context_init)
  HIDDEN(cio__context_init)
  TYPE(cio__context_init)
  .p2align 4
SYM(cio__context_init):
  leaq (%rsi,%rdx), %rax
  andq $-16, %rax
  subq $80, %rax
  stmxcsr (%rax)          /* a new fiber inherits its creator's FP modes */
  fnstcw 4(%rax)
  xorl %r9d, %r9d
  movq %r9, 8(%rax)       /* r15 */
  movq %r9, 16(%rax)      /* r14 */
  movq %r8, 24(%rax)      /* r13 = arg */
  movq %rcx, 32(%rax)     /* r12 = entry */
  movq %r9, 40(%rax)      /* rbx */
  movq %r9, 48(%rax)      /* rbp = 0 ends frame-pointer walks */
  leaq SYM(cio__fiber_start)(%rip), %r10
  movq %r10, 56(%rax)
  movq %r9, 64(%rax)      /* a zero "return address" above start */
  movq %r9, 72(%rax)
  movq %rax, (%rdi)
  ret
  SIZE(cio__context_init)

/* First code a fiber runs.  Entry must not return; if it does, abort.
 * A named function (hidden), so that backtraces of a task's stack end in
 * a name rather than in whatever symbol precedes it. */
  .globl SYM(cio__fiber_start)
  HIDDEN(cio__fiber_start)
  TYPE(cio__fiber_start)
  .p2align 4
SYM(cio__fiber_start):
  .cfi_startproc
  .cfi_undefined rip
  movq %r13, %rdi
  call *%r12
  call ABORT
  ud2
  .cfi_endproc
  SIZE(cio__fiber_start)

/* Entered through a frame crafted below a suspended fiber's saved one
 * (backtrace.c), with rsp at that saved frame, r12 = fn, r13 = arg: calls
 * fn(arg), which never returns.  Its call-frame information says that
 * its caller is the suspended fiber at its resume address, with the
 * callee-saved registers the switch pushed, so an unwinder running in fn
 * (glibc's backtrace()) walks on into the fiber's own frames by their
 * DWARF information, frame pointers or not. */
  .globl SYM(cio__fiber_unwind_tramp)
  HIDDEN(cio__fiber_unwind_tramp)
  TYPE(cio__fiber_unwind_tramp)
  .p2align 4
SYM(cio__fiber_unwind_tramp):
  .cfi_startproc
  .cfi_def_cfa rsp, 64
  .cfi_offset rip, -8
  .cfi_offset rbp, -16
  .cfi_offset rbx, -24
  .cfi_offset r12, -32
  .cfi_offset r13, -40
  .cfi_offset r14, -48
  .cfi_offset r15, -56
  nop /* a return address here minus one stays inside this function */
  movq %r13, %rdi
  call *%r12
  ud2
  .cfi_endproc
  SIZE(cio__fiber_unwind_tramp)

#if !defined(__APPLE__)
  .section .note.GNU-stack, "", @progbits
#endif
