/* Naming the task whose stack overflowed.
 *
 * A fiber that runs into its guard region gets SIGSEGV (SIGBUS on some
 * systems) with the faulting address.  The handler runs on an alternate
 * signal stack, since the faulting stack is full.  If the fault lies in the
 * guard of the fiber running on this thread, or the interrupted stack
 * pointer lies below that fiber's stack (a canary stack overran its
 * unguarded gap, or a frame jumped past the guard and faulted further
 * down), it writes the report naming the fiber and aborts.  Any other fault
 * goes to whichever handler was there before (AddressSanitizer's, the
 * application's, or the default action).  The canary check at a switch
 * writes the same report.
 *
 * Signal state is process-wide and per-thread by nature, so this file keeps
 * statics the rest of the library avoids: the previous dispositions (set
 * once under pthread_once, then only read) and a _Thread_local record of the
 * alternate stack this thread got from us.
 */
#include "arch/fiber.h"
#include "casyncio.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__linux__)
#include <ucontext.h>
#endif

enum { ALTSTACK_BYTES = 64 * 1024 };

/* How far below its stack a fiber's stack pointer may be and still count as
 * that stack's overflow: a canary stack's recursion runs down through the
 * stacks below before it faults.  Bounded, so that a fault on some other
 * stack (a signal handler's alternate stack, say) is not blamed on it. */
#define OVERFLOW_REACH ((uintptr_t)1 << 30)

static struct sigaction prev_segv, prev_bus;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;
static int handlers_rc;

/* The alternate signal stack we installed on this thread, or NULL. */
static _Thread_local void *altstack;
static _Thread_local size_t altstack_size;

static void restore_default(int sig) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
}

/* ---- the report (async-signal-safe: no malloc, no stdio) -------------- */

static size_t append(char *buf, size_t at, size_t cap, const char *s) {
  while (*s != '\0' && at + 1 < cap)
    buf[at++] = *s++;
  buf[at] = '\0';
  return at;
}

static size_t append_u64(char *buf, size_t at, size_t cap, uint64_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && at + 1 < cap)
    buf[at++] = digits[--n];
  buf[at] = '\0';
  return at;
}

static size_t append_label(char *buf, size_t at, size_t cap,
                           const cio__fiber *f) {
  const cio__fiber_kind *k = f->kind;
  if (k == NULL)
    return append(buf, at, cap, "a fiber");
  const char *owner = (const char *)f;
  const char *name;
  uint64_t number;
  memcpy(&name, owner + k->name_at, sizeof name);
  memcpy(&number, owner + k->number_at, sizeof number);
  at = append(buf, at, cap, k->what);
  at = append(buf, at, cap, " '");
  if (name != NULL) {
    at = append(buf, at, cap, name);
  } else {
    at = append(buf, at, cap, k->unnamed);
    at = append_u64(buf, at, cap, number);
  }
  return append(buf, at, cap, "'");
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n <= 0)
      return;
    buf += n;
    len -= (size_t)n;
  }
}

_Noreturn void cio__overflow_report(const cio__fiber *fiber) {
  char buf[512];
  size_t at = append(buf, 0, sizeof buf, "casyncio: stack overflow in ");
  at = append_label(buf, at, sizeof buf, fiber);
  at = append(buf, at, sizeof buf, " (stack size ");
  at = append_u64(buf, at, sizeof buf, fiber->stack->size);
  at = append(buf, at, sizeof buf,
              " bytes); raise cio_task_opts.stack_size or "
              "cio_loop_opts.stack_size\n");
  write_all(2, buf, at);
  restore_default(SIGABRT);
  abort();
}

/* ---- the fault handler ------------------------------------------------ */

bool cio__overflow_is_stack_overflow(const cio__stack *s,
                                     const void *fault_addr, uintptr_t sp) {
  uintptr_t lo = (uintptr_t)s->lo;
  if (cio__stack_guard_contains(s, fault_addr))
    return true;
  return sp != 0 && sp < lo && lo - sp <= OVERFLOW_REACH;
}

/* The stack pointer of the interrupted code, or 0 where unknown. */
static uintptr_t fault_sp(const void *uctx) {
#if defined(__linux__) && defined(__x86_64__)
  return (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.gregs[REG_RSP];
#elif defined(__linux__) && defined(__aarch64__)
  return (uintptr_t)((const ucontext_t *)uctx)->uc_mcontext.sp;
#else
  (void)uctx;
  return 0;
#endif
}

/* Async-signal-safe throughout: write, sigaction, abort. */
static void on_fault(int sig, siginfo_t *info, void *uctx) {
  int saved_errno = errno;
  const cio__fiber *f = cio__fiber_running;
  if (f != NULL && f->stack != NULL &&
      cio__overflow_is_stack_overflow(f->stack, info->si_addr, fault_sp(uctx)))
    cio__overflow_report(f);
  const struct sigaction *prev = sig == SIGSEGV ? &prev_segv : &prev_bus;
  if (prev->sa_flags & SA_SIGINFO) {
    prev->sa_sigaction(sig, info, uctx);
  } else if (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN) {
    /* Returning re-executes the faulting access, which now kills us with
     * the default action and a core dump from the right place. */
    restore_default(sig);
  } else {
    prev->sa_handler(sig);
  }
  errno = saved_errno;
}

static void install_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &prev_segv) != 0 ||
      sigaction(SIGBUS, &sa, &prev_bus) != 0)
    handlers_rc = -errno;
}

static size_t altstack_bytes(void) {
  size_t size = ALTSTACK_BYTES;
#if defined(_SC_SIGSTKSZ)
  long min = sysconf(_SC_SIGSTKSZ);
  if (min > 0 && (size_t)min > size)
    size = (size_t)min;
#endif
  return size;
}

int cio__overflow_install_thread(void) {
  int rc = pthread_once(&handlers_once, install_handlers);
  if (rc != 0)
    return -rc;
  if (handlers_rc != 0)
    return handlers_rc;
  if (altstack)
    return 0;
  stack_t cur;
  if (sigaltstack(NULL, &cur) != 0)
    return -errno;
  if (!(cur.ss_flags & SS_DISABLE))
    return 0; /* the thread has one already (ASan's, or the program's) */
  size_t size = altstack_bytes();
  void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    return CIO_ENOMEM;
  stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) {
    rc = -errno;
    munmap(mem, size);
    return rc;
  }
  altstack = mem;
  altstack_size = size;
  return 0;
}

void cio__overflow_uninstall_thread(void) {
  if (!altstack)
    return;
  stack_t cur;
  if (sigaltstack(NULL, &cur) != 0 || (cur.ss_flags & SS_ONSTACK))
    return; /* running on it: cannot free it now */
  if (cur.ss_sp == altstack && !(cur.ss_flags & SS_DISABLE)) {
    stack_t off = {.ss_flags = SS_DISABLE};
    if (sigaltstack(&off, NULL) != 0)
      return;
  }
  munmap(altstack, altstack_size);
  altstack = NULL;
  altstack_size = 0;
}
