/* Signal handlers on the loop (asyncio's add/remove_signal_handler, see
 * CPython's test_unix_events.py): real signals sent to this process. */
#include <signal.h>
#include <sys/wait.h>

#include "casyncio.h"
#include "test.h"

static bool is_default(int signum) {
  struct sigaction sa;
  CHECK_EQ(sigaction(signum, NULL, &sa), 0);
  return sa.sa_handler == SIG_DFL;
}

struct counter {
  const char *name;
  int calls;
  cio_event *ev;
  bool in_task;
};

static void on_sig(void *arg) {
  struct counter *c = arg;
  c->calls++;
  c->in_task = cio_current_task() != NULL;
  test_log("%s", c->name);
  if (c->ev != NULL)
    cio_event_set(c->ev);
}

/* The handler runs on the loop, later, as a plain callback; one call per
 * signal. */
static int main_basic(void *arg, void **result) {
  (void)arg, (void)result;
  struct counter c = {.name = "usr1"};
  CHECK_EQ(cio_event_new(&c.ev), 0);
  CHECK_EQ(cio_loop_add_signal_handler(NULL, SIGUSR1, on_sig, &c), 0);
  CHECK(!is_default(SIGUSR1));
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  test_log("sent");
  CHECK_EQ(c.calls, 0); /* not in signal context */
  CHECK_EQ(cio_event_wait(c.ev), 0);
  CHECK_EQ(c.calls, 1);
  CHECK(!c.in_task);
  cio_event_clear(c.ev);
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_EQ(cio_event_wait(c.ev), 0);
  CHECK_EQ(c.calls, 2);
  CHECK_EQ(cio_loop_remove_signal_handler(NULL, SIGUSR1), 1);
  CHECK_EQ(cio_loop_remove_signal_handler(NULL, SIGUSR1), 0);
  CHECK(is_default(SIGUSR1));
  cio_event_free(c.ev);
  CHECK_STR(test_log_text(), "sent usr1 usr1 ");
  return 0;
}

TEST(handler_runs_on_loop) {
  CHECK_EQ(cio_run(main_basic, NULL), 0);
}

/* Adding a handler for a signal that has one replaces it. */
static int main_replace(void *arg, void **result) {
  (void)arg, (void)result;
  struct counter a = {.name = "a"}, b = {.name = "b"};
  CHECK_EQ(cio_event_new(&b.ev), 0);
  CHECK_EQ(cio_loop_add_signal_handler(NULL, SIGUSR2, on_sig, &a), 0);
  CHECK_EQ(cio_loop_add_signal_handler(NULL, SIGUSR2, on_sig, &b), 0);
  CHECK_EQ(raise(SIGUSR2), 0);
  CHECK_EQ(cio_event_wait(b.ev), 0);
  CHECK_EQ(a.calls, 0);
  CHECK_EQ(b.calls, 1);
  CHECK_EQ(cio_loop_remove_signal_handler(NULL, SIGUSR2), 1);
  cio_event_free(b.ev);
  return 0;
}

TEST(add_replaces_handler) {
  CHECK_EQ(cio_run(main_replace, NULL), 0);
}

static void nop(void *arg) {
  (void)arg;
}

TEST(invalid_signals) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_add_signal_handler(NULL, SIGUSR1, nop, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  CHECK_EQ(cio_loop_add_signal_handler(loop, 0, nop, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_add_signal_handler(loop, -1, nop, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_add_signal_handler(loop, NSIG, nop, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_add_signal_handler(loop, SIGKILL, nop, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_add_signal_handler(loop, SIGSTOP, nop, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_add_signal_handler(loop, SIGUSR1, NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_loop_remove_signal_handler(loop, 0), CIO_EINVAL);
  CHECK_EQ(cio_loop_remove_signal_handler(loop, NSIG + 1), CIO_EINVAL);
  CHECK_EQ(cio_loop_remove_signal_handler(loop, SIGKILL), 0);
  CHECK_EQ(cio_loop_remove_signal_handler(loop, SIGHUP), 0);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* cio_loop_close removes the handlers left (asyncio's close does). */
TEST(close_removes_handlers) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  CHECK_EQ(cio_loop_add_signal_handler(loop, SIGUSR1, nop, NULL), 0);
  CHECK_EQ(cio_loop_add_signal_handler(loop, SIGHUP, nop, NULL), 0);
  CHECK_EQ(cio_loop_remove_signal_handler(loop, SIGHUP), 1);
  CHECK(!is_default(SIGUSR1));
  CHECK_EQ(cio_loop_close(loop), 0); /* no leak: it aborts on one */
  CHECK(is_default(SIGUSR1));
  CHECK(is_default(SIGHUP));
  /* A new loop starts with none. */
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  CHECK_EQ(cio_loop_remove_signal_handler(loop, SIGUSR1), 0);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* A signal from another process wakes a loop that has nothing else to
 * wait for, and a handler may remove itself. */
static void remove_self(void *arg) {
  struct counter *c = arg;
  on_sig(c);
  CHECK_EQ(cio_loop_remove_signal_handler(NULL, SIGUSR1), 1);
}

static int main_from_child(void *arg, void **result) {
  (void)arg, (void)result;
  struct counter c = {.name = "got"};
  CHECK_EQ(cio_event_new(&c.ev), 0);
  CHECK_EQ(cio_loop_add_signal_handler(NULL, SIGUSR1, remove_self, &c), 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    usleep(100 * 1000);
    kill(getppid(), SIGUSR1);
    _exit(0);
  }
  CHECK_EQ(cio_event_wait(c.ev), 0); /* nothing else can set it */
  CHECK_EQ(c.calls, 1);
  CHECK(is_default(SIGUSR1));
  int status;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  cio_event_free(c.ev);
  return 0;
}

TEST(signal_from_another_process) {
  CHECK_EQ(cio_run(main_from_child, NULL), 0);
}
