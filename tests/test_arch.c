/* src/arch: context switch, fibers, stack pool, overflow detection.  Most
 * cases use only the internal fiber.h interface; the overflow cases at the
 * end run real tasks on a loop in a child process and read its report. */
#include "arch/fiber.h"
#include "casyncio.h"
#include "test.h"

#if defined(CIO__ASAN)
#include <sanitizer/asan_interface.h>
#endif

#include <fenv.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { STACK_BYTES = 64 * 1024 };

/* Faults are made in a child: this test binary again, running one case
 * with CIO_ARCH_CHILD set (not under valgrind when the parent is, so the
 * deliberate crashes stay out of its report). */
static bool is_child(void) {
  return getenv("CIO_ARCH_CHILD") != NULL;
}

/* Run case `name` as a child, under CIO_STACK_GUARD=`env` unless NULL, with
 * its output captured into `out`; return its wait status. */
static int run_child(const char *name, const char *env, char *out, size_t cap) {
  char cmd[8600];
  snprintf(cmd, sizeof cmd, "CIO_ARCH_CHILD=1 %s%s %s %s 2>&1",
           env ? "CIO_STACK_GUARD=" : "", env ? env : "", test_self(), name);
  int status = test_run_capture(cmd, out, cap);
  CHECK(status != -1);
  return status;
}

/* CIO_STACK_GUARD=canary: the fallback's budget of PROT_NONE guards is
 * spent, so a case that needs a faulting guard cannot run. */
static void skip_without_budget(void) {
  const char *env = getenv("CIO_STACK_GUARD");
  if (env != NULL && strcmp(env, "canary") == 0)
    test_skip("CIO_STACK_GUARD=canary leaves no budget for guard pages");
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
    if (!s[i]->canary)
      lo[0] = (char)i; /* a canary stack keeps its band at lo */
  }
  qsort(s, N, sizeof *s, by_lo);
  CHECK(pool.guard_size >= pool.stack_size);
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
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY_ONLY), 0);
  pool.keep_warm = 0;
  CHECK_EQ(cio__stack_acquire(&pool, &s), 0);
  char *top = (char *)s->lo + s->size - 1;
  *top = 42;
  cio__stack_release(&pool, s);
  CHECK_EQ(cio__stack_acquire(&pool, &again), 0);
  CHECK(again == s);
  CHECK_EQ(*top, 0);                  /* MADV_DONTNEED gave the page back */
  CHECK(cio__stack_canary_ok(again)); /* and the band was rewritten */
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
  if (is_child())
    touch_guarded_page();
  int mode = cio__stack_guard_probe();
  CHECK(mode == CIO__GUARD_PAGES || mode == CIO__GUARD_CANARY);
  CHECK_EQ(cio__stack_guard_probe(), mode);
  /* PAGES on Linux 6.13+; CANARY under qemu-user, which accepts the advice
   * and installs nothing, and wherever CIO_STACK_GUARD asks for the
   * fallback. */
  char out[4096];
  int status = run_child("guard_probe", NULL, out, sizeof out);
  bool faults = died_of(status, SIGSEGV);
  const char *env = getenv("CIO_STACK_GUARD");
  if (env != NULL &&
      (strcmp(env, "fallback") == 0 || strcmp(env, "canary") == 0))
    faults = false;
  CHECK_EQ(mode, faults ? CIO__GUARD_PAGES : CIO__GUARD_CANARY);
}
#endif

/* Every word of the band counts, and nothing above it. */
TEST(canary_detects_corruption) {
  cio__stack_pool pool;
  cio__stack *s;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY_ONLY), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &s), 0);
  CHECK(s->canary);
  CHECK(cio__stack_canary_ok(s));
  uint64_t *band = s->lo;
  for (int i = 0; i < CIO__CANARY_WORDS; i++) {
    uint64_t saved = band[i];
    band[i] = (uint64_t)(uintptr_t)&pool; /* what a return address looks like */
    CHECK(!cio__stack_canary_ok(s));
    band[i] = saved;
    CHECK(cio__stack_canary_ok(s));
  }
  band[CIO__CANARY_WORDS] = 0;
  CHECK(cio__stack_canary_ok(s));
  cio__stack_release(&pool, s);
  cio__stack_pool_destroy(&pool);
}

/* Guards are at least as large as the stack (and 64 KiB), in every mode. */
TEST(guard_at_least_stack_size) {
  static const size_t sizes[] = {16 * 1024, 64 * 1024, 256 * 1024,
                                 1024 * 1024 + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    for (int mode = CIO__GUARD_AUTO; mode <= CIO__GUARD_CANARY_ONLY; mode++) {
      cio__stack_pool pool;
      if (mode == CIO__GUARD_PAGES &&
          cio__stack_guard_probe() != CIO__GUARD_PAGES)
        continue;
      CHECK_EQ(cio__stack_pool_init(&pool, sizes[i], mode), 0);
      CHECK(pool.guard_size >= pool.stack_size);
      CHECK(pool.guard_size >= 64 * 1024);
      cio__stack_pool_destroy(&pool);
    }
  }
}

/* Without guard markers, stacks get PROT_NONE guards while the process's
 * budget lasts: a slab takes its stacks from the budget and gives them back
 * when it is unmapped. */
TEST(fallback_guards_come_from_a_budget) {
  skip_without_budget();
  long before = cio__stack_guard_budget();
  CHECK(before > 0);
  cio__stack_pool pool;
  cio__stack *s;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &s), 0);
  CHECK(!s->canary);
  long during = cio__stack_guard_budget();
  CHECK(during < before && during >= before - 64);
  cio__stack_release(&pool, s);
  cio__stack_pool_destroy(&pool);
  CHECK_EQ(cio__stack_guard_budget(), before);
}

/* A spent budget (CIO_STACK_GUARD=canary) leaves canary stacks. */
TEST(fallback_without_budget_uses_canaries) {
  if (!is_child()) {
    char out[4096];
    int status = run_child("fallback_without_budget_uses_canaries", "canary",
                           out, sizeof out);
    if (status != 0)
      test_fail(__FILE__, __LINE__, "child: status %d: %s", status, out);
    return;
  }
  CHECK_EQ(cio__stack_guard_probe(), CIO__GUARD_CANARY);
  CHECK_EQ(cio__stack_guard_budget(), 0);
  cio__stack_pool pool;
  cio__stack *s;
  CHECK_EQ(cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY), 0);
  CHECK_EQ(cio__stack_acquire(&pool, &s), 0);
  CHECK(s->canary);
  CHECK(cio__stack_canary_ok(s));
  cio__stack_release(&pool, s);
  cio__stack_pool_destroy(&pool);
  CHECK_EQ(cio__stack_guard_budget(), 0);
  CHECK_EQ(cio__stack_pool_init(&pool, 1, CIO__GUARD_PAGES), CIO_EINVAL);
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

/* Spending the whole budget: the slab where it runs out guards its lowest
 * stacks only, later slabs none, and a million stacks still fit under the
 * kernel's mapping limit. */
TEST(fallback_budget_runs_out) {
  skip_without_budget();
  long start = cio__stack_guard_budget();
  CHECK(start > 0);
  cio__stack_pool pool;
  CHECK_EQ(cio__stack_pool_init(&pool, 16 * 1024, CIO__GUARD_CANARY), 0);
  size_t n = (size_t)start + 200, guarded = 0, canary_seen = 0;
  cio__stack **s = malloc(n * sizeof *s);
  CHECK(s != NULL);
  for (size_t i = 0; i < n; i++) {
    CHECK_EQ(cio__stack_acquire(&pool, &s[i]), 0);
    if (s[i]->canary) {
      canary_seen++;
      CHECK(cio__stack_canary_ok(s[i]));
    } else {
      CHECK_EQ(canary_seen, 0); /* guarded stacks all come first */
      guarded++;
    }
  }
  CHECK_EQ(cio__stack_guard_budget(), 0);
  CHECK_EQ(guarded, (size_t)start);
  CHECK_EQ(canary_seen, n - (size_t)start);
  for (size_t i = 0; i < n; i++)
    cio__stack_release(&pool, s[i]);
  cio__stack_pool_destroy(&pool);
  free(s);
  CHECK_EQ(cio__stack_guard_budget(), start);
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

static void expect_report(int status, const char *out, const char *who) {
  if (!died_of(status, SIGABRT) ||
      strstr(out, "casyncio: stack overflow in ") == NULL ||
      strstr(out, who) == NULL)
    test_fail(__FILE__, __LINE__,
              "wanted an overflow report naming %s; got "
              "status %#x and: %s",
              who, status, out);
}

static void write_into_guard(int mode) {
  cio__stack_pool pool;
  cio__stack *s;
  if (cio__stack_pool_init(&pool, STACK_BYTES, mode) != 0 ||
      cio__stack_acquire(&pool, &s) != 0 || s->canary)
    _exit(3);
  signal(SIGSEGV, SIG_DFL); /* past any sanitizer handler */
  *((volatile char *)s->lo - 1) = 1;
  *((volatile char *)s->lo - pool.guard_size) = 1;
  _exit(4);
}

TEST(guard_write_faults) {
  if (is_child())
    write_into_guard(CIO__GUARD_PAGES);
  if (cio__stack_guard_probe() != CIO__GUARD_PAGES)
    test_skip("no kernel guard markers here");
  char out[4096];
  int status = run_child("guard_write_faults", NULL, out, sizeof out);
  CHECK(died_of(status, SIGSEGV));
}

TEST(fallback_guard_write_faults) {
  if (is_child())
    write_into_guard(CIO__GUARD_CANARY);
  skip_without_budget();
  char out[4096];
  int status = run_child("fallback_guard_write_faults", NULL, out, sizeof out);
  CHECK(died_of(status, SIGSEGV));
}

struct smash {
  cio__fiber native, f;
};

static void smash_own_canary(void *arg) {
  struct smash *sm = arg;
  ((volatile uint64_t *)sm->f.stack->lo)[CIO__CANARY_WORDS - 1] = 0;
  cio__fiber_switch(&sm->f, &sm->native); /* must abort here */
  _exit(5);
}

static void switch_with_bad_canary(void) {
  cio__stack_pool pool;
  cio__stack *s;
  struct smash sm;
  if (cio__stack_pool_init(&pool, STACK_BYTES, CIO__GUARD_CANARY_ONLY) != 0 ||
      cio__stack_acquire(&pool, &s) != 0)
    _exit(3);
  cio__fiber_init_native(&sm.native);
  cio__fiber_init(&sm.f, s, smash_own_canary, &sm);
  cio__fiber_switch(&sm.native, &sm.f);
  _exit(6);
}

TEST(canary_checked_at_switch) {
  if (is_child())
    switch_with_bad_canary();
  char out[1024];
  int status = run_child("canary_checked_at_switch", NULL, out, sizeof out);
  expect_report(status, out, "a fiber (stack size 65536 bytes)");
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

/* An owner of a fiber, as a task is: the name and number at offsets from
 * the fiber. */
struct owner {
  cio__fiber fiber;
  char *name;
  uint64_t number;
};

/* A fiber labelled like a task, renamed after it was made: the report
 * reads the name when it is written. */
static void overflow_labelled_fiber(int mode) {
  cio__stack_pool pool;
  cio__stack *s;
  cio__fiber native;
  static struct owner o;
  if (cio__overflow_install_thread() != 0 ||
      cio__stack_pool_init(&pool, STACK_BYTES, mode) != 0 ||
      cio__stack_acquire(&pool, &s) != 0)
    _exit(3);
  cio__fiber_init_native(&native);
  cio__fiber_init(&o.fiber, s, overflow_fiber, NULL);
  static const cio__fiber_kind kind = {"task", "Task-",
                                       offsetof(struct owner, name),
                                       offsetof(struct owner, number)};
  o.fiber.kind = &kind;
  o.number = 42;
  o.name = "renamed";
  cio__fiber_switch(&native, &o.fiber);
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

TEST(overflow_report_reads_label_fallback) {
  if (is_child())
    overflow_labelled_fiber(CIO__GUARD_CANARY);
  char out[1024];
  int status =
      run_child("overflow_report_reads_label_fallback", NULL, out, sizeof out);
  expect_report(status, out, "task 'renamed' (stack size 65536 bytes)");
}

/* Nothing faults below a canary stack: the runaway recursion runs down
 * through the memory below until it faults somewhere, and the handler
 * blames the fiber whose stack pointer left its stack. */
TEST(overflow_report_reads_label_canary_only) {
  if (is_child())
    overflow_labelled_fiber(CIO__GUARD_CANARY_ONLY);
  char out[1024];
  int status = run_child("overflow_report_reads_label_canary_only", NULL, out,
                         sizeof out);
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

/* --- overflowing tasks, in a child process --------------------------------
 *
 * Two tasks on a fresh loop: `victim`, made first, gets the lowest stack of
 * the slab, fills 16 KiB at the top of it and keeps checking them;
 * `overflower` gets the stack just above, so its guard is all that lies
 * between them.  It overflows in one of several shapes and then switches
 * (which is where a canary is checked).  The child must die with the
 * report naming `overflower` before the victim ever sees its memory
 * changed. */

enum shape {
  FRAME_100K,          /* a 100 KiB local array, written at its low end */
  FRAME_1M,            /* the same, 1 MiB */
  FRAME_100K_UNPROBED, /* 100 KiB without stack-clash probes (GCC only) */
  DEEP_RECURSION,      /* small frames, a few bytes written each, to 8 KiB into
                          the victim's stack, then back */
  RUNAWAY_RECURSION,   /* the same without end */
};

static struct {
  const cio__stack *victim, *overflower;
  bool stop;
} world;

enum { VICTIM_BYTES = 16 * 1024 };

static int victim(void *arg, void **result) {
  (void)arg, (void)result;
  volatile unsigned char keep[VICTIM_BYTES];
  for (size_t i = 0; i < sizeof keep; i++)
    keep[i] = (unsigned char)(i * 7 + 1);
  world.victim = cio__fiber_running->stack;
  while (!world.stop) {
    if (cio_sleep(0) != 0)
      _exit(8);
    for (size_t i = 0; i < sizeof keep; i++)
      if (keep[i] != (unsigned char)(i * 7 + 1)) {
        fprintf(stderr, "victim: its stack was corrupted\n");
        _exit(7);
      }
  }
  return 0;
}

static __attribute__((noinline)) int frame_100k(void) {
  volatile char a[100 * 1024];
  a[0] = 1;
  return a[0];
}

static __attribute__((noinline)) int frame_1m(void) {
  volatile char a[1024 * 1024];
  a[0] = 1;
  return a[0];
}

#if defined(__GNUC__) && !defined(__clang__)
static __attribute__((noinline, optimize("no-stack-clash-protection"))) int
frame_100k_unprobed(void) {
  volatile char a[100 * 1024];
  a[0] = 1;
  return a[0];
}
#else
static int frame_100k_unprobed(void) {
  return frame_100k();
}
#endif

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

static int overflower(void *arg, void **result) {
  (void)result;
  const cio__stack *me = cio__fiber_running->stack;
  world.overflower = me;
  const char *v_top = (char *)world.victim->lo + world.victim->size;
  if (!cio__stack_guard_contains(me, v_top) ||
      cio__stack_guard_contains(me, v_top - 1)) {
    fprintf(stderr, "layout: the victim's stack is not just below\n");
    _exit(4);
  }
  uintptr_t into_victim = (uintptr_t)v_top - 8 * 1024;
  switch ((enum shape)(intptr_t)arg) {
  case FRAME_100K:
    frame_100k();
    break;
  case FRAME_1M:
    frame_1m();
    break;
  case FRAME_100K_UNPROBED:
    frame_100k_unprobed();
    break;
  case DEEP_RECURSION:
    descend(into_victim);
    break;
  case RUNAWAY_RECURSION:
    descend(0);
    break;
  }
  if (cio_sleep(0) != 0) /* a switch: the canary check */
    _exit(9);
  world.stop = true;
  if (cio_sleep(0) != 0) /* the victim checks its memory */
    _exit(9);
  fprintf(stderr, "the overflow went unnoticed\n");
  return 0;
}

static void overflow_child(int guard, enum shape shape) {
#if defined(CIO__ASAN)
  /* With fake stacks ASan puts the arrays on the heap: nothing to test. */
  if (__asan_get_current_fake_stack() != NULL) {
    printf("SKIPPED: ASan's fake stacks keep big frames off task stacks\n");
    _exit(TEST_SKIP_CODE);
  }
#endif
  cio_loop *loop;
  cio_task *v, *o;
  if (cio_loop_open(&loop, &(cio_loop_opts){.stack_guard = guard}) != 0 ||
      cio_create_task(loop, &v, victim, NULL,
                      &(cio_task_opts){.name = "victim"}) != 0 ||
      cio_create_task(loop, &o, overflower, (void *)(intptr_t)shape,
                      &(cio_task_opts){.name = "overflower"}) != 0)
    _exit(3);
  (void)!cio_loop_run_until_complete(loop, o, NULL);
  _exit(0);
}

/* Run this test case again in a child as the overflow of `shape` with
 * `guard` (cio_loop_opts.stack_guard), under CIO_STACK_GUARD=`env` if not
 * NULL, and check that it died reporting `overflower`. */
static void overflow_case(const char *name, int guard, const char *env,
                          enum shape shape) {
  if (is_child())
    overflow_child(guard, shape);
  if (guard == 2 && env == NULL && shape <= FRAME_100K_UNPROBED)
    skip_without_budget();
  if (guard == 1 && env == NULL && cio__stack_guard_probe() != CIO__GUARD_PAGES)
    test_skip("no kernel guard markers here (Linux < 6.13, qemu-user, or "
              "CIO_STACK_GUARD set)");
  char out[8192];
  int status = run_child(name, env, out, sizeof out);
  if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_CODE)
    test_skip("%s", out);
  if (strstr(out, "victim") != NULL && strstr(out, "corrupted") != NULL)
    test_fail(__FILE__, __LINE__, "a neighbour's stack was corrupted: %s", out);
#if defined(CIO__ASAN)
  /* Nothing faults below a canary stack, so a recursion reaching into the
   * victim's stack writes into the redzones ASan keeps around the victim's
   * frames, and ASan stops it first: caught, though not by us. */
  const char *mode = env != NULL ? env : getenv("CIO_STACK_GUARD");
  if (mode != NULL && strcmp(mode, "canary") == 0 && WIFEXITED(status) &&
      WEXITSTATUS(status) != 0 &&
      strstr(out, "AddressSanitizer: stack-buffer-overflow") != NULL &&
      strstr(out, "in descend") != NULL) {
    printf("caught by AddressSanitizer before the canary check\n");
    return;
  }
#endif
  expect_report(status, out, "task 'overflower' (stack size 65536 bytes)");
}

/* Kernel guard markers. */
TEST(overflow_frame_100k_pages) {
  overflow_case("overflow_frame_100k_pages", 1, NULL, FRAME_100K);
}
TEST(overflow_frame_1m_pages) {
  overflow_case("overflow_frame_1m_pages", 1, NULL, FRAME_1M);
}
TEST(overflow_frame_unprobed_pages) {
  overflow_case("overflow_frame_unprobed_pages", 1, NULL, FRAME_100K_UNPROBED);
}
TEST(overflow_deep_recursion_pages) {
  overflow_case("overflow_deep_recursion_pages", 1, NULL, DEEP_RECURSION);
}
TEST(overflow_runaway_recursion_pages) {
  overflow_case("overflow_runaway_recursion_pages", 1, NULL, RUNAWAY_RECURSION);
}

/* The fallback of kernels without markers: PROT_NONE guards. */
TEST(overflow_frame_100k_fallback) {
  overflow_case("overflow_frame_100k_fallback", 2, NULL, FRAME_100K);
}
TEST(overflow_frame_1m_fallback) {
  overflow_case("overflow_frame_1m_fallback", 2, NULL, FRAME_1M);
}
TEST(overflow_frame_unprobed_fallback) {
  overflow_case("overflow_frame_unprobed_fallback", 2, NULL,
                FRAME_100K_UNPROBED);
}
TEST(overflow_deep_recursion_fallback) {
  overflow_case("overflow_deep_recursion_fallback", 2, NULL, DEEP_RECURSION);
}
TEST(overflow_runaway_recursion_fallback) {
  overflow_case("overflow_runaway_recursion_fallback", 2, NULL,
                RUNAWAY_RECURSION);
}

/* The fallback with its budget spent: canary stacks.  Small frames cannot
 * pass the canary band unseen, and a recursion that never returns is named
 * by its stack pointer when it faults.  (A big frame can jump the band and
 * the plain memory below it without writing either: only a faulting guard
 * catches that, which is why the budget exists.) */
TEST(overflow_deep_recursion_canary_only) {
  overflow_case("overflow_deep_recursion_canary_only", 2, "canary",
                DEEP_RECURSION);
}
TEST(overflow_runaway_recursion_canary_only) {
  const char *emu = getenv("CIO_TEST_EMULATOR");
  if (emu != NULL && emu[0] != '\0')
    test_skip("under %s: qemu-user does not deliver a fault this far "
              "below the stack to the program's handler ('uncaught target "
              "signal 11'); the native run checks it",
              emu);
  overflow_case("overflow_runaway_recursion_canary_only", 2, "canary",
                RUNAWAY_RECURSION);
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
    (void)!cio_loop_run_until_complete(loop, t, NULL);
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
