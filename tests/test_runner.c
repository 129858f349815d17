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
