/* The runner itself: a case that leaks fails, naming what it leaked.  Each
 * case runs a leaking case body in a child (test_run_child) and checks
 * what the runner said about it. */
#include <fcntl.h>
#include <sys/wait.h>

#include "casyncio.h"
#include "test.h"

static void check_child_leaks(const char *name, const char *what) {
  char out[4096];
  int status = test_run_child(name, out, sizeof out);
  fprintf(stderr, "%s", out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 1);
  CHECK(strstr(out, what) != NULL);
  CHECK(strstr(out, "left the above behind") != NULL);
}

TEST(leaked_fd_fails) {
  if (test_is_child()) {
    CHECK(open("/dev/null", O_RDONLY) >= 0);
    return;
  }
  check_child_leaks("leaked_fd_fails", "leaked: file descriptor");
}

TEST(loop_left_open_fails) {
  if (test_is_child()) {
    cio_loop *loop;
    CHECK_EQ(cio_loop_open(&loop, NULL), 0);
    return;
  }
  check_child_leaks("loop_left_open_fails",
                    "leaked: the loop of this thread was never closed");
}

/* A future never released: cio_loop_close refuses, and cio_run abandons
 * the loop. */
static int keep_future(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  CHECK_EQ(cio_future_new(NULL, &f), 0);
  return 0;
}

TEST(abandoned_loop_fails) {
  if (test_is_child()) {
    CHECK_EQ(cio_run(keep_future, NULL), 0);
    return;
  }
  check_child_leaks("abandoned_loop_fails", "leaked: 1 loop(s) never freed");
}

/* A clean case passes. */
static int clean_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_future *f;
  CHECK_EQ(cio_future_new(NULL, &f), 0);
  cio_future_release(f);
  return cio_sleep(0.001);
}

TEST(clean_case_passes) {
  if (test_is_child()) {
    CHECK_EQ(cio_run(clean_main, NULL), 0);
    return;
  }
  char out[4096];
  int status = test_run_child("clean_case_passes", out, sizeof out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  CHECK_STR(out, "");
}

/* The allocation-failure sweep: a case that checks an allocating call with
 * CHECK_EQ fails the run in which that allocation fails, and the sweep
 * names it; the same case written with TRY passes every run. */
static int two_futures(void *arg, void **result) {
  (void)result;
  bool careful = arg != NULL;
  cio_future *a, *b;
  TRY(cio_future_new(NULL, &a));
  DEFER(a);
  if (careful)
    TRY(cio_future_new(NULL, &b));
  else
    CHECK_EQ(cio_future_new(NULL, &b), 0);
  DEFER(b);
  return 0;
}

static int sweep_child(const char *name, char *out, size_t cap) {
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "CIO_CHILD=1 CIO_TEST_FAIL_ALLOC=sweep %s %s 2>&1",
           test_self(), name);
  return test_run_capture(cmd, out, cap);
}

TEST(sweep_names_an_unchecked_allocation) {
  if (test_is_child()) {
    CHECK_RUN(test_run_virtual(two_futures, NULL), 0);
    return;
  }
  char out[4096];
  int status = sweep_child("sweep_names_an_unchecked_allocation", out,
                           sizeof out);
  fprintf(stderr, "%s", out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK(strstr(out, "cio_future_new(NULL, &b) == 0: -12 != 0") != NULL);
  CHECK(strstr(out, "FAILED: sweep_names_an_unchecked_allocation with "
                    "allocation ") != NULL);
}

TEST(sweep_passes_a_careful_case) {
  if (test_is_child()) {
    CHECK_RUN(test_run_virtual(two_futures, (void *)1), 0);
    return;
  }
  char out[4096];
  int status = sweep_child("sweep_passes_a_careful_case", out, sizeof out);
  fprintf(stderr, "%s", out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strstr(out, "sweep_passes_a_careful_case: failed each of its ") !=
        NULL);
  CHECK(strstr(out, " went on") != NULL);
}
