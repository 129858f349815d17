/* Context switch for AArch64, AAPCS64.
 *
 * A suspended context is its stack pointer; everything else sits on its own
 * stack in this 176-byte frame (offsets from the saved sp):
 *
 *     0 x19 x20    16 x21 x22    32 x23 x24    48 x25 x26    64 x27 x28
 *    80 x29 x30 (lr)
 *    96 d8 d9     112 d10 d11   128 d12 d13   144 d14 d15
 *   160 FPCR (rounding mode etc.; written back only when it differs,
 *       since msr fpcr is slow on some cores)
 *
 * cio__context_init builds the same frame on a fresh stack with lr pointing
 * at `cio__fiber_start`, x19 = entry, x20 = arg.
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
#define TYPE(name) .type name, %function
#define SIZE(name) .size name, .-name
#define ABORT abort
#endif

  .text

/* void cio__context_switch(cio__context *from, cio__context *to) */
  .globl SYM(cio__context_switch)
  HIDDEN(cio__context_switch)
  TYPE(cio__context_switch)
  .p2align 4
SYM(cio__context_switch):
  sub sp, sp, #176
  stp x19, x20, [sp, #0]
  stp x21, x22, [sp, #16]
  stp x23, x24, [sp, #32]
  stp x25, x26, [sp, #48]
  stp x27, x28, [sp, #64]
  stp x29, x30, [sp, #80]
  stp d8, d9, [sp, #96]
  stp d10, d11, [sp, #112]
  stp d12, d13, [sp, #128]
  stp d14, d15, [sp, #144]
  mrs x9, fpcr
  str x9, [sp, #160]
  mov x10, sp
  str x10, [x0]
  ldr x10, [x1]
  mov sp, x10
  ldr x10, [sp, #160]
  cmp x9, x10
  b.eq 1f
  msr fpcr, x10
1:
  ldp x19, x20, [sp, #0]
  ldp x21, x22, [sp, #16]
  ldp x23, x24, [sp, #32]
  ldp x25, x26, [sp, #48]
  ldp x27, x28, [sp, #64]
  ldp x29, x30, [sp, #80]
  ldp d8, d9, [sp, #96]
  ldp d10, d11, [sp, #112]
  ldp d12, d13, [sp, #128]
  ldp d14, d15, [sp, #144]
  add sp, sp, #176
  ret
  SIZE(cio__context_switch)

/* void cio__context_init(cio__context *ctx, void *stack_lo, size_t size,
 *                        cio__fiber_entry entry, void *arg)
 * x0 = ctx, x1 = stack_lo, x2 = size, x3 = entry, x4 = arg.  The frame
 * ends at the 16-byte aligned top, so sp is aligned when start runs. */
  .globl SYM(cio__context_init)
  HIDDEN(cio__context_init)
  TYPE(cio__context_init)
  .p2align 4
SYM(cio__context_init):
  add x9, x1, x2
  and x9, x9, #~15
  sub x9, x9, #176
  stp x3, x4, [x9, #0]      /* x19 = entry, x20 = arg */
  stp xzr, xzr, [x9, #16]
  stp xzr, xzr, [x9, #32]
  stp xzr, xzr, [x9, #48]
  stp xzr, xzr, [x9, #64]
  adr x10, SYM(cio__fiber_start)
  stp xzr, x10, [x9, #80]   /* x29 = 0 ends frame walks, lr = start */
  stp xzr, xzr, [x9, #96]
  stp xzr, xzr, [x9, #112]
  stp xzr, xzr, [x9, #128]
  stp xzr, xzr, [x9, #144]
  mrs x10, fpcr             /* a new fiber inherits its creator's FP modes */
  str x10, [x9, #160]
  str x9, [x0]
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
  .cfi_undefined x30
  mov x0, x20
  blr x19
  bl ABORT
  brk #1
  .cfi_endproc
  SIZE(cio__fiber_start)

/* Entered through a frame crafted below a suspended fiber's saved one
 * (backtrace.c), with sp at that saved frame, x19 = fn, x20 = arg: calls
 * fn(arg), which never returns.  Its call-frame information says that
 * its caller is the suspended fiber at its resume address, with the
 * callee-saved registers the switch stored, so an unwinder running in fn
 * (glibc's backtrace()) walks on into the fiber's own frames by their
 * DWARF information. */
  .globl SYM(cio__fiber_unwind_tramp)
  HIDDEN(cio__fiber_unwind_tramp)
  TYPE(cio__fiber_unwind_tramp)
  .p2align 4
SYM(cio__fiber_unwind_tramp):
  .cfi_startproc
  .cfi_def_cfa sp, 176
  .cfi_offset x19, -176
  .cfi_offset x20, -168
  .cfi_offset x21, -160
  .cfi_offset x22, -152
  .cfi_offset x23, -144
  .cfi_offset x24, -136
  .cfi_offset x25, -128
  .cfi_offset x26, -120
  .cfi_offset x27, -112
  .cfi_offset x28, -104
  .cfi_offset x29, -96
  .cfi_offset x30, -88
  .cfi_offset d8, -80
  .cfi_offset d9, -72
  .cfi_offset d10, -64
  .cfi_offset d11, -56
  .cfi_offset d12, -48
  .cfi_offset d13, -40
  .cfi_offset d14, -32
  .cfi_offset d15, -24
  nop /* a return address here minus one stays inside this function */
  mov x0, x20
  blr x19
  brk #1
  .cfi_endproc
  SIZE(cio__fiber_unwind_tramp)

#if !defined(__APPLE__)
  .section .note.GNU-stack, "", %progbits
#endif
