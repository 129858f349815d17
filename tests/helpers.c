/* Helpers shared by the test files (declared in test.h): the event log,
 * clocks, running a main task, spawning and yielding, child commands. */
#include <time.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "casyncio.h"
#include "internal.h" /* cio__future_wait: waiting without reading */
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

/* ---- time ------------------------------------------------------------------
 */

double test_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- main tasks, tasks ------------------------------------------------------
 */

/* ---- DEFER, and the main task's end ---------------------------------- */

#define MAX_DEFERRED 4096

static struct deferred {
  enum test_defer_kind kind;
  void *obj;
  void (*fn)(void *obj); /* TEST_DEFER_CALL */
} deferred[MAX_DEFERRED];
static size_t ndeferred;
static bool in_run; /* inside test_run_virtual's main task */

void test_defer(enum test_defer_kind kind, void *obj) {
  if (!in_run)
    test_fail(__FILE__, __LINE__, "DEFER outside test_run or test_run_virtual");
  if (ndeferred == MAX_DEFERRED)
    test_fail(__FILE__, __LINE__, "DEFER: more than %d objects", MAX_DEFERRED);
  if (obj != NULL)
    deferred[ndeferred++] = (struct deferred){kind, obj, NULL};
}

void test_defer_call(void (*fn)(void *obj), void *obj) {
  test_defer(TEST_DEFER_CALL, obj);
  if (obj != NULL)
    deferred[ndeferred - 1].fn = fn;
}

static void release(const struct deferred *d) {
  switch (d->kind) {
  case TEST_DEFER_TASK:
    cio_task_release(d->obj);
    break;
  case TEST_DEFER_FUTURE:
    cio_future_release(d->obj);
    break;
  case TEST_DEFER_HANDLE:
    cio_handle_release(d->obj);
    break;
  case TEST_DEFER_QUEUE:
    cio_queue_free(d->obj);
    break;
  case TEST_DEFER_LOCK:
    cio_lock_free(d->obj);
    break;
  case TEST_DEFER_EVENT:
    cio_event_free(d->obj);
    break;
  case TEST_DEFER_CONDITION:
    cio_condition_free(d->obj);
    break;
  case TEST_DEFER_SEMAPHORE:
    cio_semaphore_free(d->obj);
    break;
  case TEST_DEFER_BARRIER:
    cio_barrier_free(d->obj);
    break;
  case TEST_DEFER_AS_COMPLETED:
    cio_as_completed_free(d->obj);
    break;
  case TEST_DEFER_STREAM:
    (void)!cio_stream_close(d->obj); /* frees it on every return */
    break;
  case TEST_DEFER_SERVER:
    (void)!cio_server_close(d->obj); /* frees it on every return */
    break;
  case TEST_DEFER_PROCESS:
    CHECK(cio_process_close(d->obj) != CIO_EPERM);
    break;
  case TEST_DEFER_CALL:
    d->fn(d->obj);
    break;
  }
}

static cio_task *main_task; /* test_run's, while its function runs */
static cio_loop *body_loop; /* test_with_loop's, while its body runs */

/* The case stopped early: cancel every other task and wait until each
 * ran out, so nothing still uses what is about to be released. */
static void finish_other_tasks(void) {
  cio_task *self = cio_current_task();
  for (;;) {
    cio_task *tasks[64];
    size_t n = cio_all_tasks(NULL, tasks, 64);
    cio_task *other = NULL;
    for (size_t i = 0; i < n && i < 64 && other == NULL; i++)
      if (tasks[i] != self)
        other = tasks[i];
    if (other == NULL)
      return;
    cio_task_retain(other);
    cio_task_cancel(other);
    /* Wait without reading the outcome: a result nobody took goes to
     * the task's dispose function when it is released, as it would in
     * the program (awaiting would take it and drop it).  Waiting this
     * way never allocates. */
    while (!cio_task_is_done(other))
      (void)!cio__future_wait(cio_task_future(other), false);
    (void)!cio_task_error(other); /* an error is expected here: retrieved */
    cio_task_release(other);
  }
}

void test_stop_here(void) {
  cio_task *self = cio_current_task();
  if (self != NULL && self == main_task)
    finish_other_tasks();
  else if (self == NULL && body_loop != NULL)
    CHECK_EQ(cio_loop_shutdown_tasks(body_loop), 0);
}

struct run {
  cio_task_fn fn;
  void *arg;
};

static int run_main_task(void *arg, void **result) {
  struct run *r = arg;
  main_task = cio_current_task();
  int rc = r->fn(r->arg, result);
  main_task = NULL;
  /* Stopped by a code returned straight (not through TRY): too late for
   * what the other tasks used on fn's stack, not for the rest. */
  if (rc != 0 && (test_alloc_failed() || test_cancel_injected()))
    finish_other_tasks();
  while (ndeferred > 0)
    release(&deferred[--ndeferred]);
  in_run = false;
  return rc;
}

static int run_with(cio_task_fn fn, void *arg, const cio_loop_opts *opts) {
  struct run r = {fn, arg};
  if (in_run)
    test_fail(__FILE__, __LINE__, "a test run inside another");
  in_run = true;
  ndeferred = 0;
  int rc = cio_run_ex(run_main_task, &r, opts, NULL);
  in_run = false;
  return rc;
}

int test_run(cio_task_fn fn, void *arg) {
  return run_with(fn, arg, NULL);
}

int test_run_virtual(cio_task_fn fn, void *arg) {
  cio_loop_opts opts = {.virtual_clock = true};
  return run_with(fn, arg, &opts);
}

int test_with_loop(const cio_loop_opts *opts,
                   int (*body)(cio_loop *loop, void *arg), void *arg) {
  if (in_run)
    test_fail(__FILE__, __LINE__, "a test run inside another");
  cio_loop *loop;
  int rc = cio_loop_open(&loop, opts);
  if (rc != 0)
    return rc;
  in_run = true;
  ndeferred = 0;
  body_loop = loop;
  rc = body(loop, arg);
  body_loop = NULL;
  /* Tasks a body that stopped early left (even never started) end first,
   * as cio_run ends them. */
  CHECK_EQ(cio_loop_shutdown_tasks(loop), 0);
  while (ndeferred > 0)
    release(&deferred[--ndeferred]);
  in_run = false;
  CHECK_EQ(cio_loop_close(loop), 0);
  return rc;
}

void test_run_main(cio_task_fn fn, void *arg) {
  int rc = test_run(fn, arg);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "main task: %s", cio_err_name(rc));
}

int test_spawn(cio_task **out, cio_task_fn fn, void *arg) {
  cio_task *t = NULL;
  int rc = cio_create_task(NULL, &t, fn, arg, NULL);
  DEFER(t);
  if (out != NULL)
    *out = t;
  return rc;
}

int test_yield_n(int n) {
  for (int i = 0; i < n; i++) {
    int rc = cio_sleep(0);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ---- child commands -------------------------------------------------------
 */

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

int test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    test_fail(__FILE__, __LINE__, "socket: %s", strerror(errno));
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sin;
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
    test_fail(__FILE__, __LINE__, "bind: %s", strerror(errno));
  close(fd);
  return ntohs(sin.sin_port);
}
