/* Test runner.  `test_x` runs every case of the file, each in a forked
 * child with a time limit; `test_x NAME` runs one case in the foreground
 * (that is how ctest calls it, and how to debug one).
 *
 * No case may be dropped silently: a registration past MAX_TESTS or a name
 * registered twice makes every run fail, and `test_x --check-cases NAME...`
 * (a ctest case of its own per file, given the names tests/CMakeLists.txt
 * found) fails unless ctest and the binary know the same cases. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "casyncio.h"
#include "internal.h" /* cio__test_*: what loops leaked */
#include "test.h"

#define MAX_TESTS 512

static struct {
  const char *name;
  test_fn fn;
  bool scenario; /* SCENARIO: the cancellation sweep reruns it */
} tests[MAX_TESTS];
static int ntests;
/* Registration problems, reported by main() before anything runs (the
 * constructors that register cases run before stderr is worth trusting). */
static int overflowed;
static const char *duplicate;

void test_register(const char *name, test_fn fn, const char *file,
                   bool scenario) {
  (void)file;
  for (int i = 0; i < ntests; i++)
    if (strcmp(tests[i].name, name) == 0)
      duplicate = name;
  if (ntests == MAX_TESTS) {
    overflowed++;
    return;
  }
  tests[ntests].name = name;
  tests[ntests].fn = fn;
  tests[ntests].scenario = scenario;
  ntests++;
}

static bool registration_ok(void) {
  if (overflowed > 0)
    fprintf(stderr, "runner: %d cases beyond MAX_TESTS (%d) were not "
            "registered; raise MAX_TESTS in tests/runner.c\n",
            overflowed, MAX_TESTS);
  if (duplicate != NULL)
    fprintf(stderr, "runner: two cases are named %s\n", duplicate);
  return overflowed == 0 && duplicate == NULL;
}

static int find_case(const char *name) {
  for (int i = 0; i < ntests; i++)
    if (strcmp(tests[i].name, name) == 0)
      return i;
  return -1;
}

/* The names ctest was given (argv) against the registered cases: every
 * case must be in both, else one of them would never run. */
static int check_cases(int argc, char **argv) {
  int missing = 0;
  for (int i = 0; i < argc; i++)
    if (find_case(argv[i]) < 0) {
      fprintf(stderr, "runner: ctest has a case %s that the binary did not "
              "register\n", argv[i]);
      missing++;
    }
  for (int i = 0; i < ntests; i++) {
    bool known = false;
    for (int j = 0; j < argc && !known; j++)
      known = strcmp(argv[j], tests[i].name) == 0;
    if (!known) {
      fprintf(stderr, "runner: case %s is registered but ctest does not know "
              "it (tests/CMakeLists.txt finds cases written as a line "
              "starting with TEST(name))\n", tests[i].name);
      missing++;
    }
  }
  if (missing == 0)
    printf("%d cases, all known to ctest\n", ntests);
  return missing == 0 ? 0 : 1;
}

/* ---- seeds ---------------------------------------------------------------- */

static bool seeded;
static uint64_t seed, rand_state;

uint64_t test_seed(void) {
  if (!seeded) {
    const char *env = getenv("CIO_TEST_SEED");
    if (env != NULL && env[0] != '\0') {
      seed = strtoull(env, NULL, 0);
    } else {
      seed = (uint64_t)(test_now() * 1e6) ^ ((uint64_t)getpid() << 32);
      seed &= 0xffffffffffffull; /* short enough to type back */
    }
    rand_state = seed ? seed : 0x9e3779b97f4a7c15ull;
    seeded = true;
  }
  return seed;
}

uint64_t test_rand(void) {
  (void)test_seed();
  rand_state ^= rand_state >> 12;
  rand_state ^= rand_state << 25;
  rand_state ^= rand_state >> 27;
  return rand_state * 0x2545f4914f6cdd1dull;
}

uint64_t test_rand_below(uint64_t n) {
  return n == 0 ? 0 : test_rand() % n;
}

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: FAILED: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  if (seeded)
    fprintf(stderr, "seed %llu: rerun with CIO_TEST_SEED=%llu\n",
            (unsigned long long)seed, (unsigned long long)seed);
  fflush(NULL);
  _exit(1);
}

void test_skip(const char *fmt, ...) {
  va_list ap;
  printf("SKIPPED: ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(NULL);
  _exit(TEST_SKIP_CODE);
}

static char self_path[8192];

const char *test_self(void) {
  return self_path;
}

/* ---- leak checks -------------------------------------------------------
 * After a case returns, nothing it opened may be left: no loop (open on
 * this thread, abandoned by cio_run, or open on a thread the case
 * started), no allocation or libuv handle a loop still held when it
 * closed, no file descriptor that was not open before the case. */

#define MAX_FDS 4096

static unsigned char fds_before[MAX_FDS / 8];

static void fd_snapshot(unsigned char *set) {
  memset(set, 0, MAX_FDS / 8);
  for (int fd = 0; fd < MAX_FDS; fd++)
    if (fcntl(fd, F_GETFD) != -1)
      set[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

void test_fd_outlives_case(int fd) {
  if (fd >= 0 && fd < MAX_FDS)
    fds_before[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

/* What `fd` is, for the report: "socket:[1234]", a path, ... */
static void fd_describe(int fd, char *out, size_t cap) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, cap - 1);
  if (n < 0)
    n = snprintf(out, cap, "?");
  out[n] = '\0';
}

/* A loop opened and closed before the snapshot: libuv creates process-wide
 * descriptors on its first loop (the signal lock pipe), which no case
 * leaked. */
static void leak_baseline(void) {
  cio_loop *loop;
  if (cio_loop_open(&loop, NULL) == 0)
    (void)!cio_loop_close(loop);
  fd_snapshot(fds_before);
}

/* Print one line per kind of leak; the number of kinds found. */
static int leak_report(void) {
  int kinds = 0;
  if (cio_get_running_loop() != NULL) {
    fprintf(stderr, "leaked: the loop of this thread was never closed\n");
    kinds++;
  }
  struct cio__test_leaks l;
  cio__test_leaks(&l);
  if (l.loops != 0) {
    fprintf(stderr, "leaked: %ld loop(s) never freed (not closed, or "
            "abandoned by cio_run because cio_loop_close failed)\n", l.loops);
    kinds++;
  }
  if (l.allocs != 0) {
    fprintf(stderr, "leaked: %ld allocation(s) still live when their loop "
            "closed\n", l.allocs);
    kinds++;
  }
  if (l.handles != 0) {
    fprintf(stderr, "leaked: %ld libuv handle(s) still open when their loop "
            "closed\n", l.handles);
    kinds++;
  }
  unsigned char now[MAX_FDS / 8];
  fd_snapshot(now);
  for (int fd = 0; fd < MAX_FDS; fd++) {
    unsigned char bit = (unsigned char)(1u << (fd % 8));
    if ((now[fd / 8] & bit) && !(fds_before[fd / 8] & bit)) {
      char what[256];
      fd_describe(fd, what, sizeof what);
      fprintf(stderr, "leaked: file descriptor %d (%s)\n", fd, what);
      kinds++;
    }
  }
  return kinds;
}

static int run_one(int i) {
  leak_baseline();
  tests[i].fn();
  fflush(NULL);
  if (leak_report() > 0) {
    fprintf(stderr, "FAILED: %s left the above behind\n", tests[i].name);
    return 1;
  }
  return 0;
}

/* ---- allocation failures -------------------------------------------------
 * CIO_TEST_FAIL_ALLOC in the environment:
 *   sweep   run each case again and again, failing its 1st, 2nd, ...
 *           allocation (stack slabs and loops included), each run in a
 *           child, until a run sees no injected failure.  Every run must
 *           pass: a case tolerates the failure only where it surfaces as
 *           CIO_ENOMEM (see TRY in test.h), and the leak checks hold.
 *           Up to SWEEP_DENSE every allocation is failed in turn, then
 *           N grows by N / 16: past that point a case repeats itself.
 *   sweep-persist
 *           the same, but from the Nth on every allocation fails: the
 *           paths that clean up after a failure must not need memory.
 *   N, N+   run once failing allocation N only, or N and every later one
 *           (to debug one sweep run)
 *   count   run once and print how many allocations the case made
 */

#define SWEEP_DENSE 256
#define SWEEP_LAST_CLEAN 78 /* a sweep run in which nothing failed */

#define SWEEP_ABSORBED 79    /* the failure did not stop the case */

static bool sweeping;     /* this run fails an allocation */
static bool persist;      /* ...and every one after it */
static bool stopped;      /* ...and the case stopped on it */

bool test_alloc_failed(void) {
  return sweeping && cio__test_alloc_failures() > 0;
}

static bool injecting; /* this run injects a cancellation */

bool test_cancel_injected(void) {
  return injecting && cio__test_inject_count() > 0;
}

void test_inject_cancel(unsigned task, long n, bool after_wake) {
  injecting = true;
  cio__test_inject_cancel(task, n,
                          after_wake ? CIO__INJECT_WAKE : CIO__INJECT_PARK);
}

bool test_tolerated(int rc) {
  bool alloc = test_alloc_failed() && (rc == CIO_ENOMEM || rc == CIO_ECANCELED);
  bool cancel = test_cancel_injected() && rc == CIO_ECANCELED;
  if (!alloc && !cancel)
    return false;
  stopped = true;
  return true;
}

/* A process the case forks (to check a crash report, say) runs without
 * injected failures: they belong to the case's own process. */
static void disarm_in_child(void) {
  cio__test_fail_alloc(0, false);
  sweeping = false;
  cio__test_inject_cancel(0, 0, 0);
  injecting = false;
}

static int run_failing(int i, long n) {
  leak_baseline();
  pthread_atfork(NULL, NULL, disarm_in_child);
  sweeping = true;
  cio__test_fail_alloc(n, persist);
  tests[i].fn();
  long failures = cio__test_alloc_failures();
  long count = cio__test_alloc_count();
  cio__test_fail_alloc(0, false);
  fflush(NULL);
  if (leak_report() > 0) {
    fprintf(stderr, "FAILED: %s left the above behind (allocation %ld "
            "failed)\n", tests[i].name, n);
    return 1;
  }
  if (n == LONG_MAX)
    printf("%s: %ld allocations\n", tests[i].name, count);
  if (failures == 0)
    return SWEEP_LAST_CLEAN;
  return stopped ? 0 : SWEEP_ABSORBED;
}

static long sweep_next(long n) {
  return n < SWEEP_DENSE ? n + 1 : n + n / 16;
}

static int sweep(int i) {
  long runs = 0, absorbed = 0;
  for (long n = 1;; n = sweep_next(n)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      /* A case that runs this binary again runs it normally. */
      unsetenv("CIO_TEST_FAIL_ALLOC");
      alarm(60);
      int rc = run_failing(i, n);
      fflush(NULL);
      _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == SWEEP_LAST_CLEAN) {
      if (n == 1)
        printf("%s: makes no allocation\n", tests[i].name);
      else if (n <= SWEEP_DENSE + 1)
        printf("%s: failed each of its %ld allocations in turn: %ld runs "
               "stopped at CIO_ENOMEM, %ld went on\n", tests[i].name, n - 1,
               runs - absorbed, absorbed);
      else
        printf("%s: failed each of its first %d allocations in turn, then "
               "sampled up to %ld: %ld runs stopped at CIO_ENOMEM, %ld went "
               "on\n", tests[i].name, SWEEP_DENSE, n, runs - absorbed,
               absorbed);
      return 0;
    }
    if (code == TEST_SKIP_CODE)
      return TEST_SKIP_CODE;
    if (code != 0 && code != SWEEP_ABSORBED) {
      fprintf(stderr, "FAILED: %s with allocation %ld%s failing (%s %d); "
              "rerun: CIO_TEST_FAIL_ALLOC=%ld%s %s %s\n", tests[i].name, n,
              persist ? " and later ones" : "",
              WIFSIGNALED(status) ? "signal" : "exit",
              WIFSIGNALED(status) ? WTERMSIG(status) : code, n,
              persist ? "+" : "", self_path, tests[i].name);
      return 1;
    }
    runs++;
    absorbed += code == SWEEP_ABSORBED;
  }
}

/* ---- injected cancellation -----------------------------------------------
 * CIO_TEST_CANCEL in the environment (SCENARIO cases; a plain TEST runs
 * once, as without it):
 *   sweep   run the scenario again and again, cancelling its 1st task
 *           (the main task of test_run) at its 1st, 2nd, ... suspension,
 *           once as it parks and once after its wait was woken, until a
 *           run sees no injection left to make; then the 2nd task, ...,
 *           until a run creates fewer tasks.  Each run in a child; every
 *           run must pass: no crash, no leak, the scenario's own checks.
 *           Past CANCEL_DENSE suspensions N grows by N / 16.
 *   main    the same for the 1st task only.
 *   T:N     one run cancelling task T at its Nth suspension as it parks;
 *   T:Nw    ... once its wait was woken (to debug one sweep run).
 *   count   how many tasks the scenario makes and how often each suspends.
 */

#define CANCEL_DENSE 256
#define CANCEL_NOT_REACHED 78 /* the target suspended fewer than N times */
#define CANCEL_MISSED 80      /* reached, but nothing to inject (a yield, a
                                 wait that was not woken) */
#define CANCEL_NO_TASK 81     /* the run made fewer tasks than the target */

/* One run in this process; returns the run's status (above, 0 when a
 * cancellation was injected and the scenario stopped on it, SWEEP_ABSORBED
 * when it went on). */
static int run_cancelling(int i, uint64_t task, long n, int when) {
  leak_baseline();
  pthread_atfork(NULL, NULL, disarm_in_child);
  injecting = true;
  cio__test_inject_cancel(task, n, when);
  tests[i].fn();
  long seen = cio__test_inject_seen();
  long count = cio__test_inject_count();
  uint64_t tasks = cio__test_inject_tasks();
  cio__test_inject_cancel(0, 0, 0);
  fflush(NULL);
  if (leak_report() > 0) {
    fprintf(stderr, "FAILED: %s left the above behind (task %llu cancelled "
            "at suspension %ld%s)\n", tests[i].name,
            (unsigned long long)task, n, when == CIO__INJECT_WAKE ?
            " after its wake" : "");
    return 1;
  }
  if (n == LONG_MAX) {
    printf("%s: task %llu suspended %ld times (%llu tasks made)\n",
           tests[i].name, (unsigned long long)task, seen,
           (unsigned long long)tasks);
  }
  if (tasks < task)
    return CANCEL_NO_TASK;
  if (seen < n)
    return CANCEL_NOT_REACHED;
  if (count == 0)
    return CANCEL_MISSED;
  return stopped ? 0 : SWEEP_ABSORBED;
}

static int run_cancelling_child(int i, uint64_t task, long n, int when) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    unsetenv("CIO_TEST_CANCEL");
    alarm(60);
    int rc = run_cancelling(i, task, n, when);
    fflush(NULL);
    _exit(rc);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  fprintf(stderr, "FAILED: %s: signal %d\n", tests[i].name, WTERMSIG(status));
  return -1;
}

struct cancel_tally {
  long runs, stopped, absorbed;
};

/* Sweep task `task`'s suspensions; 0, 1 (failed) or CANCEL_NO_TASK. */
static int cancel_sweep_task(int i, uint64_t task, struct cancel_tally *t) {
  long n;
  for (n = 1;; n = n < CANCEL_DENSE ? n + 1 : n + n / 16) {
    for (int when = CIO__INJECT_PARK; when <= CIO__INJECT_WAKE; when++) {
      int code = run_cancelling_child(i, task, n, when);
      if (code == CANCEL_NO_TASK)
        return CANCEL_NO_TASK;
      if (code == CANCEL_NOT_REACHED) {
        if (n > 1)
          printf("%s: task %llu cancelled at each of its %ld suspensions\n",
                 tests[i].name, (unsigned long long)task, n - 1);
        return 0;
      }
      if (code == TEST_SKIP_CODE)
        return TEST_SKIP_CODE;
      if (code != 0 && code != SWEEP_ABSORBED && code != CANCEL_MISSED) {
        fprintf(stderr, "FAILED: %s with task %llu cancelled at suspension "
                "%ld%s (exit %d); rerun: CIO_TEST_CANCEL=%llu:%ld%s %s %s\n",
                tests[i].name, (unsigned long long)task, n,
                when == CIO__INJECT_WAKE ? " after its wake" : "", code,
                (unsigned long long)task, n,
                when == CIO__INJECT_WAKE ? "w" : "", self_path, tests[i].name);
        return 1;
      }
      if (code != CANCEL_MISSED) {
        t->runs++;
        t->stopped += code == 0;
        t->absorbed += code == SWEEP_ABSORBED;
      }
    }
  }
}

static int cancel_sweep(int i, bool main_only) {
  struct cancel_tally t = {0};
  uint64_t task;
  for (task = 1; !main_only || task == 1; task++) {
    int rc = cancel_sweep_task(i, task, &t);
    if (rc == CANCEL_NO_TASK)
      break;
    if (rc != 0)
      return rc;
  }
  printf("%s: %ld injected cancellations over %llu task(s): %ld runs "
         "stopped at CIO_ECANCELED, %ld went on\n", tests[i].name, t.runs,
         (unsigned long long)(task - 1), t.stopped, t.absorbed);
  return 0;
}

static int cancel_count(int i) {
  for (uint64_t task = 1;; task++) {
    int code = run_cancelling_child(i, task, LONG_MAX, CIO__INJECT_PARK);
    if (code == CANCEL_NO_TASK)
      return 0;
    if (code != CANCEL_NOT_REACHED)
      return code;
  }
}

static int run_cancel_mode(int i, const char *mode) {
  if (!tests[i].scenario)
    return run_one(i);
  if (strcmp(mode, "sweep") == 0 || strcmp(mode, "main") == 0)
    return cancel_sweep(i, strcmp(mode, "main") == 0);
  if (strcmp(mode, "count") == 0)
    return cancel_count(i);
  char *end;
  unsigned long long task = strtoull(mode, &end, 10);
  long n = *end == ':' ? strtol(end + 1, &end, 10) : 0;
  bool wake = *end == 'w';
  if (task == 0 || n <= 0 || end[wake] != '\0') {
    fprintf(stderr, "CIO_TEST_CANCEL: sweep, main, count, T:N or T:Nw, not "
            "%s\n", mode);
    return 2;
  }
  int code = run_cancelling(i, task, n, wake ? CIO__INJECT_WAKE :
                            CIO__INJECT_PARK);
  if (code == CANCEL_NO_TASK || code == CANCEL_NOT_REACHED ||
      code == CANCEL_MISSED)
    printf("%s: no cancellation injected (%s)\n", tests[i].name,
           code == CANCEL_NO_TASK ? "no such task" :
           code == CANCEL_NOT_REACHED ? "fewer suspensions" : "not woken");
  else if (code == SWEEP_ABSORBED)
    printf("%s: cancellation injected; the scenario went on\n",
           tests[i].name);
  return code == 1 ? 1 : 0;
}

/* Run case i as the environment asks. */
static int run_case(int i) {
  const char *cancel = getenv("CIO_TEST_CANCEL");
  if (cancel != NULL && cancel[0] != '\0')
    return run_cancel_mode(i, cancel);
  const char *mode = getenv("CIO_TEST_FAIL_ALLOC");
  if (mode == NULL || mode[0] == '\0')
    return run_one(i);
  persist = strcmp(mode, "sweep-persist") == 0;
  if (strcmp(mode, "sweep") == 0 || persist)
    return sweep(i);
  if (strcmp(mode, "count") == 0) {
    int rc = run_failing(i, LONG_MAX);
    return rc == SWEEP_LAST_CLEAN ? 0 : rc;
  }
  char *end;
  long n = strtol(mode, &end, 10);
  persist = *end == '+';
  if (end[persist] != '\0' || n <= 0) {
    fprintf(stderr, "CIO_TEST_FAIL_ALLOC: sweep, sweep-persist, count, N or "
            "N+, not %s\n", mode);
    return 2;
  }
  int rc = run_failing(i, n);
  if (rc == SWEEP_LAST_CLEAN)
    printf("%s: allocation %ld did not fail (the case makes fewer)\n",
           tests[i].name, n);
  if (rc == SWEEP_ABSORBED)
    printf("%s: allocation %ld failed, and the case went on\n",
           tests[i].name, n);
  return rc == SWEEP_LAST_CLEAN || rc == SWEEP_ABSORBED ? 0 : rc;
}

int main(int argc, char **argv) {
  char path[4096];
  if (realpath(argv[0], path) == NULL)
    snprintf(path, sizeof path, "%s", argv[0]);
  /* A cross build runs under qemu-user, which a child started from a
   * shell command only gets when binfmt_misc is set up; name it. */
  const char *emulator = getenv("CIO_TEST_EMULATOR");
  if (emulator != NULL && emulator[0] != '\0')
    snprintf(self_path, sizeof self_path, "%s %s", emulator, path);
  else
    snprintf(self_path, sizeof self_path, "%s", path);
  if (!registration_ok())
    return 2;
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (int i = 0; i < ntests; i++)
      printf("%s\n", tests[i].name);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--check-cases") == 0)
    return check_cases(argc - 2, argv + 2);
  if (argc > 1) {
    int i = find_case(argv[1]);
    if (i >= 0)
      return run_case(i);
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
  }
  int passed = 0, failed = 0, skipped = 0;
  for (int i = 0; i < ntests; i++) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      if (getenv("CIO_TEST_FAIL_ALLOC") == NULL &&
          getenv("CIO_TEST_CANCEL") == NULL)
        alarm(60);
      int rc = run_case(i);
      fflush(NULL);
      _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_CODE) {
      skipped++;
    } else if (ok) {
      passed++;
    } else {
      failed++;
      fprintf(stderr, "FAIL %s (%s %d)\n", tests[i].name,
              WIFSIGNALED(status) ? "signal" : "exit",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
  }
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
