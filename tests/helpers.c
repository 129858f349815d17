/* Helpers shared by the test files (declared in test.h): the event log,
 * clocks, running a main task, spawning and yielding, child commands. */
#include <time.h>

#include "casyncio.h"
#include "test.h"

/* ---- event log ----------------------------------------------------------- */

static char log_buf[16384];
static size_t log_len;

void test_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(log_buf + log_len, sizeof log_buf - log_len, fmt, ap);
  va_end(ap);
  if (n > 0 && log_len + (size_t)n + 1 < sizeof log_buf) {
    log_len += (size_t)n;
    log_buf[log_len++] = ' ';
    log_buf[log_len] = '\0';
  }
}

const char *test_log_text(void) {
  return log_buf;
}

void test_log_reset(void) {
  log_len = 0;
  log_buf[0] = '\0';
}

int test_logger(void *arg, void **result) {
  (void)result;
  test_log("%s", (const char *)arg);
  return 0;
}

/* ---- time ------------------------------------------------------------------ */

double test_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- main tasks, tasks ------------------------------------------------------ */

int test_run_virtual(int (*fn)(void *arg, void **result), void *arg) {
  cio_loop_opts opts = {.virtual_clock = true};
  return cio_run_ex(fn, arg, &opts, NULL);
}

void test_run_main(cio_task_fn fn, void *arg) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, fn, arg, NULL), 0);
  int rc = cio_loop_run_until_complete(loop, t, NULL);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "main task: %s", cio_err_name(rc));
  cio_task_release(t);
  CHECK_EQ(cio_loop_close(loop), 0);
}

cio_task *test_spawn(cio_task_fn fn, void *arg) {
  cio_task *t = NULL;
  CHECK_EQ(cio_create_task(NULL, &t, fn, arg, NULL), 0);
  return t;
}

void test_yield_n(int n) {
  for (int i = 0; i < n; i++)
    CHECK_EQ(cio_sleep(0), 0);
}

/* ---- child commands ------------------------------------------------------- */

int test_run_capture(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  if (p == NULL)
    return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = '\0';
  return pclose(p);
}

bool test_is_child(void) {
  return getenv("CIO_CHILD") != NULL;
}

int test_run_child(const char *name, char *out, size_t cap) {
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "CIO_CHILD=1 %s %s 2>&1", test_self(), name);
  return test_run_capture(cmd, out, cap);
}

static int saved_stderr = -1;
static FILE *captured;

void test_stderr_begin(void) {
  fflush(stderr);
  captured = tmpfile();
  if (captured == NULL)
    test_fail(__FILE__, __LINE__, "tmpfile: cannot capture stderr");
  saved_stderr = dup(2);
  dup2(fileno(captured), 2);
}

const char *test_stderr_end(void) {
  static char text[16384];
  fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  saved_stderr = -1;
  rewind(captured);
  size_t n = fread(text, 1, sizeof text - 1, captured);
  text[n] = '\0';
  fclose(captured);
  captured = NULL;
  return text;
}
