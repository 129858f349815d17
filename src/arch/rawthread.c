/* A thread the C library does not know about, and raw system calls.
 *
 * Creating a thread with pthread_create makes glibc treat the whole
 * process as multi-threaded for good (__libc_single_threaded): from then
 * on every read, write and epoll_wait pays for enabling and disabling
 * asynchronous cancellation, two atomic read-modify-writes per system
 * call, which costs a single-threaded loop more than the stall watchdog
 * itself.  So on Linux (x86-64, AArch64) the watchdog is a thread made
 * with glibc's clone() wrapper, which leaves that flag alone.  Such a
 * thread shares the loop thread's TLS pointer (it has no TCB of its own),
 * so its code must not touch thread-local state: no errno, no malloc, no
 * stdio, no locks; only the raw system calls below and atomics.  It
 * starts with every signal blocked, so none is ever delivered to it.
 *
 * Elsewhere, and under the sanitizers (whose runtimes keep per-thread
 * state), a pthread does the job.
 */
#include "arch/fiber.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define CIO__TSAN_RAW 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CIO__TSAN_RAW 1
#endif
#endif

#if defined(__linux__) && !defined(CIO__ASAN) && !defined(CIO__TSAN_RAW) &&    \
    (defined(__x86_64__) || defined(__aarch64__))
#define CIO__RAW_THREAD 1
#endif

enum { RAW_STACK = 128 * 1024 };

long cio__raw_syscall(long nr, long a, long b, long c, long d, long e) {
#if defined(__linux__) && defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
#elif defined(__linux__) && defined(__aarch64__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  __asm__ volatile("svc #0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
                   : "memory");
  return x0;
#else
  /* Elsewhere the watchdog is a pthread: the libc wrapper will do. */
  long r = syscall(nr, a, b, c, d, e);
  return r < 0 ? -1 : r;
#endif
}

int64_t cio__raw_monotonic_ns(void) {
  struct timespec ts = {0};
  cio__raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cio__raw_sleep_ns(int64_t ns) {
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000),
                        .tv_nsec = (long)(ns % 1000000000)};
  cio__raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0, 0);
}

void cio__raw_write(int fd, const char *buf, size_t len) {
  while (len > 0) {
    long n = cio__raw_syscall(SYS_write, fd, (long)buf, (long)len, 0, 0);
    if (n == -EINTR)
      continue;
    if (n <= 0)
      return;
    buf += n;
    len -= (size_t)n;
  }
}

int cio__raw_signal_thread(int pid, int tid, int sig) {
  return (int)cio__raw_syscall(SYS_tgkill, pid, tid, sig, 0, 0);
}

int cio__raw_gettid(void) {
  return (int)cio__raw_syscall(SYS_gettid, 0, 0, 0, 0, 0);
}

int cio__raw_getpid(void) {
  return (int)cio__raw_syscall(SYS_getpid, 0, 0, 0, 0, 0);
}

/* Wait while *word == value (or until woken, or a signal). */
void cio__raw_futex_wait(_Atomic int *word, int value) {
  cio__raw_syscall(SYS_futex, (long)word, 0 /* FUTEX_WAIT */, value, 0, 0);
}

void cio__raw_futex_wake(_Atomic int *word) {
  cio__raw_syscall(SYS_futex, (long)word, 1 /* FUTEX_WAKE */, 1, 0, 0);
}

struct start {
  void (*fn)(void *);
  void *arg;
};

#if defined(CIO__RAW_THREAD)
static int raw_entry(void *p) {
  struct start *s = p;
  s->fn(s->arg);
  return 0; /* clone()'s wrapper ends the thread with SYS_exit */
}
#else
static void *pthread_entry(void *p) {
  struct start *s = p;
  s->fn(s->arg);
  return NULL;
}
#endif

int cio__raw_thread_start(void (*fn)(void *), void *arg) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread starts so */
  int rc;
#if defined(CIO__RAW_THREAD)
  char *stack = mmap(NULL, RAW_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    rc = -ENOMEM;
  } else {
    /* The start block sits at the top of the thread's own stack. */
    struct start *s = (struct start *)(stack + RAW_STACK) - 1;
    *s = (struct start){fn, arg};
    int tid = clone(raw_entry, s,
                    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                        CLONE_THREAD | CLONE_SYSVSEM,
                    s);
    rc = tid > 0 ? 0 : -EAGAIN;
    if (rc < 0)
      munmap(stack, RAW_STACK);
  }
#else
  static struct start start; /* one watchdog per process */
  start = (struct start){fn, arg};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  rc = -pthread_create(&th, &attr, pthread_entry, &start);
  pthread_attr_destroy(&attr);
#endif
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}
