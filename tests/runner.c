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
} tests[MAX_TESTS];
static int ntests;
/* Registration problems, reported by main() before anything runs (the
 * constructors that register cases run before stderr is worth trusting). */
static int overflowed;
static const char *duplicate;

void test_register(const char *name, test_fn fn, const char *file) {
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

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: FAILED: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
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

bool test_tolerated(int rc) {
  if (!test_alloc_failed() || (rc != CIO_ENOMEM && rc != CIO_ECANCELED))
    return false;
  stopped = true;
  return true;
}

/* A process the case forks (to check a crash report, say) runs without
 * injected failures: they belong to the case's own process. */
static void disarm_in_child(void) {
  cio__test_fail_alloc(0, false);
  sweeping = false;
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

/* Run case i as the environment asks. */
static int run_case(int i) {
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
      if (getenv("CIO_TEST_FAIL_ALLOC") == NULL)
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
