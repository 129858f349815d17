/* src/arch: context switch, fibers, stack pool, overflow detection.  Most
 * cases use only the internal fiber.h interface; a few overflow cases run
 * a task on a loop, in a child process, and read its report. */
#include "arch/fiber.h"
#include "casyncio.h"
#include "test.h"

#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { STACK_BYTES = 64 * 1024 };

/* Run `fn` in a child; return its wait status. */
static int in_child(void (*fn)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  return status;
}

/* Faults are made in a child: this test binary again, running one case
 * with CIO_ARCH_CHILD set (not under valgrind when the parent is, so the
 * deliberate crashes stay out of its report). */
static bool is_child(void) {
  return getenv("CIO_ARCH_CHILD") != NULL;
}

/* Run case `name` as a child, under CIO_STACK_GUARD=`env` unless NULL, with
 * its output captured into `out`; return its wait status. */
static int run_child(const char *name, const char *env, char *out,
                     size_t cap) {
  char cmd[8600];
  snprintf(cmd, sizeof cmd, "CIO_ARCH_CHILD=1 %s%s %s %s 2>&1",
           env ? "CIO_STACK_GUARD=" : "", env ? env : "", test_self(), name);
  int status = test_run_capture(cmd, out, cap);
  CHECK(status != -1);
  return status;
}

/* Died of `sig`: by the signal, or through a shell that reports it as
 * 128 + sig. */
static bool died_of(int status, int sig) {
  return (WIFSIGNALED(status) && WTERMSIG(status) == sig) ||
         (WIFEXITED(status) && WEXITSTATUS(status) == 128 + sig);
}

/* --- ping-pong ---------------------------------------------------------- */

struct pingpong {
  cio__fiber native, a, b;
  long rounds;
  long count;
};

static void bounce_native(void *arg) {
  struct pingpong *p = arg;
  for (long i = 0; i < p->rounds; i++) {
    p->count++;
    cio__fiber_switch(&p->a, &p->native);
  }
  cio__fiber_exit_to(&p->a, &p->native);
}

TEST(pingpong_native) {
  cio__stack_pool pool;
  cio__stack *stack;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &stack), 0);
  struct pingpong p = {.rounds = 100000};
  cio__fiber_init_native(&p.native);
  cio__fiber_init(&p.a, stack, bounce_native, &p);
  for (long i = 0; i < p.rounds; i++) {
    cio__fiber_switch(&p.native, &p.a);
    CHECK_EQ(p.count, i + 1);
  }
  cio__fiber_switch(&p.native, &p.a); /* lets it exit */
  CHECK_EQ(p.count, p.rounds);
  cio__stack_release(&pool, stack);
  cio__stack_pool_destroy(&pool);
}

static void ping(void *arg) {
  struct pingpong *p = arg;
  while (p->count < p->rounds) {
    p->count++;
    cio__fiber_switch(&p->a, &p->b);
  }
  cio__fiber_exit_to(&p->a, &p->native);
}

static void pong(void *arg) {
  struct pingpong *p = arg;
  for (;;) {
    p->count++;
    cio__fiber_switch(&p->b, &p->a);
  }
}

TEST(pingpong_two_fibers) {
  cio__stack_pool pool;
  cio__stack *sa, *sb;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &sa), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &sb), 0);
  struct pingpong p = {.rounds = 200000};
  cio__fiber_init_native(&p.native);
  cio__fiber_init(&p.a, sa, ping, &p);
  cio__fiber_init(&p.b, sb, pong, &p);
  cio__fiber_switch(&p.native, &p.a);
  CHECK_EQ(p.count, p.rounds);
  cio__stack_release(&pool, sa);
  cio__stack_release(&pool, sb);
  cio__stack_pool_destroy(&pool);
}

/* --- exit_to and stack reuse ------------------------------------------------
 */

struct once {
  cio__fiber native, f;
  int ran;
};

static void run_once(void *arg) {
  struct once *o = arg;
  char scratch[256];
  memset(scratch, o->ran & 0xff, sizeof scratch);
  o->ran += scratch[17] == (char)(o->ran & 0xff);
  cio__fiber_exit_to(&o->f, &o->native);
}

TEST(exit_to_and_reuse) {
  cio__stack_pool pool;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  struct once o = {.ran = 0};
  cio__fiber_init_native(&o.native);
  cio__stack *first = NULL;
  for (int i = 0; i < 1000; i++) {
    cio__stack *stack;
    CHECK_EQ(cio__stack_acquire(&pool, &stack), 0);
    if (!first)
      first = stack;
    CHECK(stack == first); /* LIFO: the warm stack comes back */
    cio__fiber_init(&o.f, stack, run_once, &o);
    cio__fiber_switch(&o.native, &o.f);
    CHECK_EQ(o.ran, i + 1);
    cio__stack_release(&pool, stack);
  }
  cio__stack_pool_destroy(&pool);
}

/* --- register preservation ------------------------------------------------ */

struct regs {
  cio__fiber native, f;
  volatile long seed; /* volatile: the compiler cannot fold the sums */
  double fsum;
  long isum;
};

static __attribute__((noinline)) void yield_to_native(struct regs *r) {
  cio__fiber_switch(&r->f, &r->native);
}

/* Many values live across the switch, so they sit in callee-saved integer
 * (and on AArch64, d8-d15) registers. */
static void keep_registers(void *arg) {
  struct regs *r = arg;
  long a = r->seed, b = a * 3, c = a * 5, d = a * 7, e = a * 11, g = a * 13;
  double x = 0.5, y = 0.25, z = 0.125;
  for (int i = 0; i < 1000; i++) {
    yield_to_native(r);
    a += 1, b += 2, c += 3, d += 4, e += 5, g += 6;
    x += 1.0, y += 2.0, z += 0.5;
  }
  r->isum = a + b + c + d + e + g;
  r->fsum = x + y + z;
  cio__fiber_exit_to(&r->f, &r->native);
}

TEST(registers_preserved) {
  cio__stack_pool pool;
  cio__stack *stack;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &stack), 0);
  struct regs r = {.seed = 1};
  cio__fiber_init_native(&r.native);
  cio__fiber_init(&r.f, stack, keep_registers, &r);
  long p = r.seed * 17, q = r.seed * 19, s = r.seed * 23, t = r.seed * 29;
  double acc = 0.0, acc2 = 1.0;
  for (int i = 0; i < 1001; i++) {
    cio__fiber_switch(&r.native, &r.f);
    p ^= i, q += i, s -= i, t += 2 * i;
    acc += 0.5, acc2 *= 1.0001;
  }
  CHECK_EQ(r.isum, 1 + 3 + 5 + 7 + 11 + 13 + 1000 * 21);
  CHECK_NEAR(r.fsum, 0.875 + 1000 * 3.5, 1e-9);
  CHECK_EQ(q, 19 + 1001 * 1000 / 2);
  CHECK_EQ(s, 23 - 1001 * 1000 / 2);
  CHECK_EQ(t, 29 + 1001 * 1000);
  CHECK_EQ(p, 17 ^ 1000 ^ 0); /* xor of 0..1000 is 1000 */
  CHECK_NEAR(acc, 500.5, 1e-9);
  CHECK_NEAR(acc2, pow(1.0001, 1001), 1e-9);
  cio__stack_release(&pool, stack);
  cio__stack_pool_destroy(&pool);
}

/* The FP rounding mode belongs to the fiber, like a thread's. */
static void round_up_fiber(void *arg) {
  struct regs *r = arg;
  fesetround(FE_UPWARD);
  cio__fiber_switch(&r->f, &r->native);
  r->isum = fegetround() == FE_UPWARD;
  fesetround(FE_TONEAREST);
  cio__fiber_exit_to(&r->f, &r->native);
}

TEST(rounding_mode_per_fiber) {
  cio__stack_pool pool;
  cio__stack *stack;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &stack), 0);
  struct regs r = {.seed = 1};
  cio__fiber_init_native(&r.native);
  cio__fiber_init(&r.f, stack, round_up_fiber, &r);
  CHECK(fegetround() == FE_TONEAREST);
  cio__fiber_switch(&r.native, &r.f);
  CHECK(fegetround() == FE_TONEAREST);
  cio__fiber_switch(&r.native, &r.f);
  CHECK_EQ(r.isum, 1);
  cio__stack_release(&pool, stack);
  cio__stack_pool_destroy(&pool);
}

/* --- stack pool -------------------------------------------------------------
 */

TEST(pool_lifo_reuse) {
  cio__stack_pool pool;
  cio__stack *a, *b, *c;
  CHECK_EQ(cio__stack_pool_init(&pool, 1000, CIO__GUARD_AUTO), 0);
  CHECK(pool.stack_size >= 1000 && pool.stack_size % 4096 == 0);
  CHECK_EQ(cio__stack_acquire(&pool, &a), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &b), 0);
  CHECK(a != b);
  CHECK_EQ(pool.live_count, 2);
  cio__stack_release(&pool, a);
  cio__stack_release(&pool, b);
  CHECK_EQ(cio__stack_acquire(&pool, &c), 0);
  CHECK(c == b);
  CHECK_EQ(cio__stack_acquire(&pool, &c), 0);
  CHECK(c == a);
  cio__stack_release(&pool, a);
  cio__stack_release(&pool, b);
  CHECK_EQ(pool.live_count, 0);
  cio__stack_pool_destroy(&pool);
}

TEST(pool_rejects_bad_args) {
  cio__stack_pool pool;
  CHECK_EQ(cio__stack_pool_init(&pool, 0, CIO__GUARD_AUTO), CIO_EINVAL);
  CHECK_EQ(cio__stack_pool_init(&pool, 4096, 99), CIO_EINVAL);
}

static int by_lo(const void *x, const void *y) {
  uintptr_t a = (uintptr_t)(*(cio__stack *const *)x)->lo;
  uintptr_t b = (uintptr_t)(*(cio__stack *const *)y)->lo;
  return a < b ? -1 : a > b;
}

TEST(pool_many_distinct) {
  enum { N = 10000 };
  cio__stack_pool pool;
  cio__stack **s = malloc(N * sizeof *s);
  CHECK(s != NULL);
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  for (int i = 0; i < N; i++) {
    CHECK_EQ(cio__stack_acquire(&pool, &s[i]), 0);
    char *lo = s[i]->lo;
    CHECK(cio__stack_canary_ok(s[i]));
    lo[s[i]->size - 1] = (char)i;
    if (pool.guard_mode == CIO__GUARD_PAGES)
      lo[0] = (char)i; /* canary mode keeps its canary at lo */
  }
  qsort(s, N, sizeof *s, by_lo);
  for (int i = 1; i < N; i++)
    CHECK((char *)s[i - 1]->lo + s[i - 1]->size + pool.guard_size <=
          (char *)s[i]->lo);
  for (int i = 0; i < N; i++)
    cio__stack_release(&pool, s[i]);
  CHECK_EQ(pool.live_count, 0);
  cio__stack_pool_destroy(&pool);
  free(s);
}

#if defined(__linux__)
TEST(pool_returns_cold_pages) {
  cio__stack_pool pool;
  cio__stack *s, *again;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY), 0);
  pool.keep_warm = 0;
  CHECK_EQ(cio__stack_acquire(&pool, &s), 0);
  char *top = (char *)s->lo + s->size - 1;
  *top = 42;
  cio__stack_release(&pool, s);
  CHECK_EQ(cio__stack_acquire(&pool, &again), 0);
  CHECK(again == s);
  CHECK_EQ(*top, 0);                  /* MADV_DONTNEED gave the page back */
  CHECK(cio__stack_canary_ok(again)); /* and the canary was rewritten */
  cio__stack_release(&pool, again);
  cio__stack_pool_destroy(&pool);
}

/* An independent oracle for the probe: does a page with a guard marker
 * fault in a child? */
static void touch_guarded_page(void) {
  long page = sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || madvise(p, (size_t)page, 102) != 0)
    _exit(3);
  signal(SIGSEGV, SIG_DFL);
  *(volatile char *)p = 1;
  _exit(4);
}

TEST(guard_probe) {
  int mode = cio__stack_guard_probe();
  CHECK(mode == CIO__GUARD_PAGES || mode == CIO__GUARD_CANARY);
  CHECK_EQ(cio__stack_guard_probe(), mode);
  /* PAGES on Linux 6.13+; CANARY under qemu-user, which accepts the advice
   * and installs nothing. */
  int status = in_child(touch_guarded_page);
  bool faults = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
  CHECK_EQ(mode, faults ? CIO__GUARD_PAGES : CIO__GUARD_CANARY);
}
#endif

TEST(canary_detects_corruption) {
  cio__stack_pool pool;
  cio__stack *s;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY), 0);
  CHECK_EQ(pool.guard_mode, CIO__GUARD_CANARY);
  CHECK_EQ(cio__stack_acquire(&pool, &s), 0);
  CHECK(cio__stack_canary_ok(s));
  uint64_t saved = *(uint64_t *)s->lo;
  *(uint64_t *)s->lo = saved ^ 1;
  CHECK(!cio__stack_canary_ok(s));
  *(uint64_t *)s->lo = saved;
  CHECK(cio__stack_canary_ok(s));
  cio__stack_release(&pool, s);
  cio__stack_pool_destroy(&pool);
}

TEST(guard_contains) {
  cio__stack_pool pool;
  cio__stack *s;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &s), 0);
  char *lo = s->lo;
  CHECK(cio__stack_guard_contains(s, lo - 1));
  CHECK(cio__stack_guard_contains(s, lo - pool.guard_size));
  CHECK(!cio__stack_guard_contains(s, lo));
  CHECK(!cio__stack_guard_contains(s, lo + s->size / 2));
  CHECK(!cio__stack_guard_contains(s, lo - pool.guard_size - 1));
  cio__stack_release(&pool, s);
  cio__stack_pool_destroy(&pool);
}

/* Which faults the handler blames on a stack: one in its guard, or any
 * while the stack pointer is below the stack (within reach); nothing else,
 * and nothing about the stack above. */
TEST(overflow_attribution) {
  cio__stack_pool pool;
  cio__stack *a, *b;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &a), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &b), 0);
  char *lo = b->lo;
  uintptr_t inside = (uintptr_t)lo + 1024, below = (uintptr_t)lo - 1024;
  CHECK(cio__overflow_is_stack_overflow(b, lo - 1, inside));
  CHECK(cio__overflow_is_stack_overflow(b, lo - pool.guard_size, 0));
  CHECK(!cio__overflow_is_stack_overflow(b, NULL, inside));
  CHECK(!cio__overflow_is_stack_overflow(b, lo, inside));
  CHECK(!cio__overflow_is_stack_overflow(b, lo - pool.guard_size - 1, 0));
  CHECK(cio__overflow_is_stack_overflow(b, NULL, below));
  CHECK(cio__overflow_is_stack_overflow(b, NULL, (uintptr_t)a->lo));
  CHECK(!cio__overflow_is_stack_overflow(b, NULL, (uintptr_t)lo + b->size));
  CHECK(!cio__overflow_is_stack_overflow(b, NULL, (uintptr_t)lo - (2u << 30)));
  /* The stack below is not blamed for its neighbour's guard. */
  CHECK(!cio__overflow_is_stack_overflow(a, lo - 1, (uintptr_t)a->lo + 64));
  cio__stack_release(&pool, a);
  cio__stack_release(&pool, b);
  cio__stack_pool_destroy(&pool);
}

/* --- faults, in a child process ------------------------------------------- */

static void write_into_guard(void) {
  cio__stack_pool pool;
  cio__stack *s;
  if (cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_PAGES) != 0 ||
      cio__stack_acquire(&pool, &s) != 0)
    _exit(3);
  signal(SIGSEGV, SIG_DFL); /* past any sanitizer handler */
  *((volatile char *)s->lo - 1) = 1;
  _exit(4);
}

TEST(guard_write_faults) {
  if (cio__stack_guard_probe() != CIO__GUARD_PAGES)
    return;
  int status = in_child(write_into_guard);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGSEGV);
}

struct smash {
  cio__fiber native, f;
};

static void smash_own_canary(void *arg) {
  struct smash *sm = arg;
  *(volatile uint64_t *)sm->f.stack->lo = 0;
  cio__fiber_switch(&sm->f, &sm->native); /* must abort here */
  _exit(5);
}

static void switch_with_bad_canary(void) {
  cio__stack_pool pool;
  cio__stack *s;
  struct smash sm;
  if (cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY) != 0 ||
      cio__stack_acquire(&pool, &s) != 0)
    _exit(3);
  cio__fiber_init_native(&sm.native);
  cio__fiber_init(&sm.f, s, smash_own_canary, &sm);
  cio__fiber_switch(&sm.native, &sm.f);
  _exit(6);
}

TEST(canary_checked_at_switch) {
  int status = in_child(switch_with_bad_canary);
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGABRT);
}

static void expect_report(int status, const char *out, const char *who) {
  if (!died_of(status, SIGABRT) || strstr(out, "casyncio: stack overflow in ") == NULL ||
      strstr(out, who) == NULL)
    test_fail(__FILE__, __LINE__, "wanted an overflow report naming %s; got "
              "status %#x and: %s", who, status, out);
}

static __attribute__((noinline)) int recurse(volatile char *p, long depth) {
  volatile char frame[1024];
  frame[0] = p ? p[0] : 0;
  if (depth == 0)
    return frame[0];
  return recurse(frame, depth - 1) + frame[1];
}

static void overflow_fiber(void *arg) {
  (void)arg;
  recurse(NULL, 1L << 30);
}

static char *fiber_name;

/* A fiber labelled like a task, renamed after it was made: the report
 * reads the name when it is written. */
static void overflow_labelled_fiber(int mode) {
  cio__stack_pool pool;
  cio__stack *s;
  cio__fiber native, f;
  if (cio__overflow_install_thread() != 0 ||
      cio__stack_pool_init(&pool, STACK_BYTES, mode) != 0 ||
      cio__stack_acquire(&pool, &s) != 0)
    _exit(3);
  cio__fiber_init_native(&native);
  cio__fiber_init(&f, s, overflow_fiber, NULL);
  f.label = (cio__fiber_label){"task", &fiber_name, "Task-", 42};
  fiber_name = "renamed";
  cio__fiber_switch(&native, &f);
  _exit(4);
}

TEST(overflow_report_reads_label_pages) {
  if (is_child())
    overflow_labelled_fiber(CIO__GUARD_PAGES);
  if (cio__stack_guard_probe() != CIO__GUARD_PAGES)
    test_skip("no kernel guard markers here");
  char out[1024];
  int status =
      run_child("overflow_report_reads_label_pages", NULL, out, sizeof out);
  expect_report(status, out, "task 'renamed' (stack size 65536 bytes)");
}

/* Nothing faults below a canary stack: the runaway recursion runs down
 * through the memory below until it faults somewhere, and the handler
 * blames the fiber whose stack pointer left its stack. */
TEST(overflow_report_reads_label_canary) {
  if (is_child())
    overflow_labelled_fiber(CIO__GUARD_CANARY);
  char out[1024];
  int status =
      run_child("overflow_report_reads_label_canary", NULL, out, sizeof out);
  expect_report(status, out, "task 'renamed' (stack size 65536 bytes)");
}

static void null_deref_fiber(void *arg) {
  *(volatile int *)arg = 1;
}

static void fault_not_overflow(void) {
  cio__stack_pool pool;
  cio__stack *s;
  cio__fiber native, f;
  if (cio__overflow_install_thread() != 0 ||
      cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_AUTO) != 0 ||
      cio__stack_acquire(&pool, &s) != 0)
    _exit(3);
  cio__fiber_init_native(&native);
  cio__fiber_init(&f, s, null_deref_fiber, NULL);
  cio__fiber_switch(&native, &f);
  _exit(4);
}

/* A fault that is no overflow goes on to the previous disposition: the
 * default one (death by SIGSEGV), or a sanitizer's, which reports and
 * exits non-zero. */
TEST(overflow_handler_chains) {
  if (is_child())
    fault_not_overflow();
  char out[4096];
  int status = run_child("overflow_handler_chains", NULL, out, sizeof out);
  CHECK(strstr(out, "stack overflow") == NULL);
  CHECK(WIFSIGNALED(status) ||
        (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
         WEXITSTATUS(status) != 3 && WEXITSTATUS(status) != 4));
  if (WIFSIGNALED(status) || WEXITSTATUS(status) > 128)
    CHECK(died_of(status, SIGSEGV));
}

/* Down until a local lies below `floor` (0: never), then back up.  Each
 * frame is about 100 bytes of which a few are written: the return address,
 * the saved frame pointer, one byte of `pad`. */
static __attribute__((noinline)) int descend(uintptr_t floor) {
  volatile char pad[64];
  pad[0] = 1;
  if ((uintptr_t)pad > floor)
    return descend(floor) + pad[0];
  return pad[0];
}

static int unnamed_overflow(void *arg, void **result) {
  (void)arg, (void)result;
  descend(0);
  return 0;
}

/* An unnamed task is reported by the name cio_task_get_name() would give. */
TEST(overflow_names_unnamed_task) {
  if (is_child()) {
    cio_loop *loop;
    cio_task *t;
    if (cio_loop_open(&loop, NULL) != 0 ||
        cio_create_task(loop, &t, unnamed_overflow, NULL, NULL) != 0)
      _exit(3);
    printf("named %s\n", cio_task_get_name(t));
    fflush(stdout);
    (void)cio_task_set_name(t, "renamed-later");
    (void)cio_loop_run_until_complete(loop, t, NULL);
    _exit(0);
  }
  char out[4096];
  int status = run_child("overflow_names_unnamed_task", NULL, out, sizeof out);
  expect_report(status, out, "task 'renamed-later'");
  CHECK(strstr(out, "named Task-") != NULL);
}

TEST(overflow_install_idempotent) {
  CHECK_EQ(cio__overflow_install_thread(), 0);
  CHECK_EQ(cio__overflow_install_thread(), 0);
  cio__overflow_uninstall_thread();
  cio__overflow_uninstall_thread();
  CHECK_EQ(cio__overflow_install_thread(), 0);
  cio__overflow_uninstall_thread();
}
