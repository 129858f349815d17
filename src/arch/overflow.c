/* Naming the task whose stack overflowed.
 *
 * A fiber that runs into its guard region gets SIGSEGV (SIGBUS on some
 * systems) with the faulting address.  The handler runs on an alternate
 * signal stack, since the faulting stack is full, asks the core whether the
 * address is the running task's guard, and if so prints the report and
 * aborts.  Any other fault goes to whichever handler was there before
 * (AddressSanitizer's, the application's, or the default action).
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

enum { ALTSTACK_BYTES = 64 * 1024 };

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

/* Async-signal-safe throughout: write, sigaction, abort. */
static void on_fault(int sig, siginfo_t *info, void *uctx) {
  char buf[512];
  int saved_errno = errno;
  if (cio__overflow_describe(NULL, info->si_addr, buf, sizeof buf)) {
    size_t len = strlen(buf);
    if (write(2, buf, len) >= 0 && (len == 0 || buf[len - 1] != '\n'))
      (void)!write(2, "\n", 1);
    restore_default(SIGABRT);
    abort();
  }
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
