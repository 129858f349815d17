/* Subprocesses against real programs (cat, sh, sleep), following CPython's
 * Lib/test/test_asyncio/test_subprocess.py: pipes, communicate with large
 * inputs and outputs, exit codes and signals, cancellation, and children
 * always reaped. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "casyncio.h"
#include "test.h"

static const char *const CAT[] = {"cat", NULL};
static const char *const SLEEP[] = {"sleep", "30", NULL};

static cio_process *spawn(const char *const *argv, int in, int out, int err) {
  cio_process_opts o = {
      .stdin_mode = in, .stdout_mode = out, .stderr_mode = err};
  cio_process *p = NULL;
  CHECK_EQ(cio_create_subprocess_exec(&p, argv, &o), 0);
  CHECK(p != NULL);
  CHECK(cio_process_pid(p) > 0);
  return p;
}

static cio_process *shell(const char *cmd, int in, int out, int err) {
  cio_process_opts o = {
      .stdin_mode = in, .stdout_mode = out, .stderr_mode = err};
  cio_process *p = NULL;
  CHECK_EQ(cio_create_subprocess_shell(&p, cmd, &o), 0);
  return p;
}

/* The child `pid` is gone for good: reaped, not a zombie. */
static void check_reaped(int pid) {
  CHECK_EQ(waitpid(pid, NULL, WNOHANG), -1);
  CHECK_EQ(errno, ECHILD);
  CHECK_EQ(kill(pid, 0), -1); /* a zombie could still be signalled */
  CHECK_EQ(errno, ESRCH);
}

static int run(cio_task_fn fn) {
  return cio_run(fn, NULL);
}

#define P CIO_STDIO_PIPE
#define I CIO_STDIO_INHERIT
#define N CIO_STDIO_DEVNULL

/* ------------------------------------------------------------------ */

static int main_stdin_stdout(void *arg, void **result) {
  (void)arg, (void)result;
  cio_process *p = spawn(CAT, P, P, I);
  CHECK(cio_process_stderr(p) == NULL);
  int code = 99;
  CHECK_EQ(cio_process_returncode(p, &code), CIO_EINPROGRESS);
  CHECK_EQ(cio_stream_write(cio_process_stdin(p), "some data", 9), 0);
  CHECK_EQ(cio_stream_drain(cio_process_stdin(p)), 0);
  CHECK_EQ(cio_stream_close(cio_process_stdin(p)), 0); /* end of file */
  void *data;
  size_t len;
  CHECK_EQ(cio_stream_read_all(cio_process_stdout(p), &data, &len), 0);
  CHECK_EQ(len, 9);
  CHECK(memcmp(data, "some data", 9) == 0);
  free(data);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(cio_process_returncode(p, &code), 0);
  CHECK_EQ(code, 0);
  int pid = cio_process_pid(p);
  CHECK_EQ(cio_process_close(p), 0);
  check_reaped(pid);
  return 0;
}

TEST(stdin_stdout_pipes) {
  CHECK_EQ(run(main_stdin_stdout), 0);
}

/* ------------------------------------------------------------------ */

static int main_communicate(void *arg, void **result) {
  (void)arg, (void)result;
  cio_process *p = spawn(CAT, P, P, I);
  void *out, *err = (void *)1;
  size_t len, elen = 5;
  CHECK_EQ(cio_process_communicate(p, "some data", 9, &out, &len, &err, &elen),
           0);
  CHECK_EQ(len, 9);
  CHECK(memcmp(out, "some data", 9) == 0);
  CHECK(err == NULL); /* stderr is not a pipe: asyncio's None */
  CHECK_EQ(elen, 0);
  free(out);
  CHECK(cio_process_stdin(p) == NULL && cio_process_stdout(p) == NULL);
  int code;
  CHECK_EQ(cio_process_returncode(p, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(cio_process_close(p), 0);

  /* Empty input still closes stdin (test_empty_input). */
  p = shell("wc -c", P, P, P);
  CHECK_EQ(cio_process_communicate(p, "", 0, &out, &len, &err, &elen), 0);
  CHECK(err != NULL);
  CHECK_EQ(elen, 0);
  CHECK_EQ(atoi(out), 0);
  free(out);
  free(err);
  CHECK_EQ(cio_process_close(p), 0);

  /* Nothing piped: communicate just waits. */
  p = shell("exit 3", I, N, N);
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
  CHECK(out == NULL);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, 3);
  CHECK_EQ(cio_process_close(p), 0);
  return 0;
}

TEST(communicate) {
  CHECK_EQ(run(main_communicate), 0);
}

/* ------------------------------------------------------------------ */

/* More than a pipe holds in every direction at once: writing all the
 * input before reading (or reading stdout before stderr) would deadlock. */
#define BIG_IN (3 * 1024 * 1024 + 17)

static int main_large(void *arg, void **result) {
  (void)arg, (void)result;
  unsigned char *in = malloc(BIG_IN);
  for (size_t i = 0; i < BIG_IN; i++)
    in[i] = (unsigned char)(i * 31 + 7);
  cio_process *p = spawn(CAT, P, P, P);
  void *out, *err;
  size_t len, elen;
  CHECK_EQ(cio_process_communicate(p, in, BIG_IN, &out, &len, &err, &elen), 0);
  CHECK_EQ(len, BIG_IN);
  CHECK(memcmp(out, in, BIG_IN) == 0);
  CHECK_EQ(elen, 0);
  free(out);
  free(err);
  CHECK_EQ(cio_process_close(p), 0);
  free(in);

  p = shell("head -c 2000000 /dev/zero; head -c 1500000 /dev/zero >&2; "
            "exit 5",
            P, P, P);
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &len, &err, &elen), 0);
  CHECK_EQ(len, 2000000);
  CHECK_EQ(elen, 1500000);
  int code;
  CHECK_EQ(cio_process_returncode(p, &code), 0);
  CHECK_EQ(code, 5);
  free(out);
  free(err);
  CHECK_EQ(cio_process_close(p), 0);
  return 0;
}

TEST(communicate_large_no_deadlock) {
  CHECK_EQ(run(main_large), 0);
}

/* ------------------------------------------------------------------ */

static int main_stdio_modes(void *arg, void **result) {
  (void)arg, (void)result;
  void *out;
  size_t len;
  /* stderr into stdout's pipe. */
  cio_process *p = shell("echo out; echo err >&2", N, P, CIO_STDIO_STDOUT);
  CHECK(cio_process_stderr(p) == NULL);
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
  CHECK_EQ(len, 8);
  CHECK(memcmp(out, "out\nerr\n", 8) == 0);
  free(out);
  CHECK_EQ(cio_process_close(p), 0);
  /* stdin from /dev/null (test_devnull_input). */
  p = shell("wc -c", N, P, I);
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
  CHECK_EQ(atoi(out), 0);
  free(out);
  CHECK_EQ(cio_process_close(p), 0);
  /* stdout to /dev/null, stderr piped (test_devnull_output). */
  void *err;
  size_t elen;
  p = shell("echo lost; echo kept >&2", N, N, P);
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &len, &err, &elen), 0);
  CHECK(out == NULL);
  CHECK_EQ(elen, 5);
  CHECK(memcmp(err, "kept\n", 5) == 0);
  free(err);
  CHECK_EQ(cio_process_close(p), 0);
  /* Environment and working directory. */
  const char *env[] = {"FOO=bar", NULL};
  cio_process_opts o = {.stdout_mode = P, .env = env, .cwd = "/"};
  CHECK_EQ(cio_create_subprocess_shell(&p, "echo \"$FOO\"; pwd", &o), 0);
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
  CHECK_EQ(len, 6);
  CHECK(memcmp(out, "bar\n/\n", 6) == 0);
  free(out);
  CHECK_EQ(cio_process_close(p), 0);
  /* A new session (test_start_new_session): the child leads it. */
  o = (cio_process_opts){.stdout_mode = P, .start_new_session = true};
  CHECK_EQ(
      cio_create_subprocess_shell(
          &p, "set -- $(cat /proc/$$/stat); test \"$6\" -eq $$ && exit 8", &o),
      0);
  int code;
  CHECK_EQ(cio_process_communicate(p, NULL, 0, NULL, NULL, NULL, NULL), 0);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, 8);
  CHECK_EQ(cio_process_close(p), 0);
  return 0;
}

TEST(stdio_modes_env_cwd_session) {
  CHECK_EQ(run(main_stdio_modes), 0);
}

/* ------------------------------------------------------------------ */

static int main_exit_codes(void *arg, void **result) {
  (void)arg, (void)result;
  int code;
  cio_process *p = shell("exit 7", I, I, I);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, 7);
  CHECK_EQ(cio_process_close(p), 0);
  p = shell("nonexistent-command-xyz 2>/dev/null", I, I, I);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, 127);
  CHECK_EQ(cio_process_close(p), 0);

  const char *const missing[] = {"/nonexistent/program", NULL};
  p = (cio_process *)1;
  CHECK_EQ(cio_create_subprocess_exec(&p, missing, NULL), CIO_ENOENT);
  CHECK(p == NULL);
  const char *const notexec[] = {"/etc/passwd", NULL};
  CHECK_EQ(cio_create_subprocess_exec(&p, notexec, NULL), CIO_EACCES);
  /* A failed spawn of a piped child leaks no pipe. */
  cio_process_opts o = {.stdin_mode = P, .stdout_mode = P};
  CHECK_EQ(cio_create_subprocess_exec(&p, missing, &o), CIO_ENOENT);
  const char *const none[] = {NULL};
  CHECK_EQ(cio_create_subprocess_exec(&p, none, NULL), CIO_EINVAL);
  o = (cio_process_opts){.stdout_mode = CIO_STDIO_STDOUT};
  CHECK_EQ(cio_create_subprocess_exec(&p, CAT, &o), CIO_EINVAL);
  o = (cio_process_opts){.stdin_mode = 9};
  CHECK_EQ(cio_create_subprocess_exec(&p, CAT, &o), CIO_EINVAL);
  CHECK_EQ(cio_create_subprocess_shell(&p, NULL, NULL), CIO_EINVAL);
  return 0;
}

TEST(exit_codes_and_spawn_errors) {
  CHECK_EQ(run(main_exit_codes), 0);
  cio_process *p;
  /* No loop. */
  CHECK_EQ(cio_create_subprocess_exec(&p, CAT, NULL), CIO_EINVAL);
}

/* ------------------------------------------------------------------ */

static int main_signals(void *arg, void **result) {
  (void)arg, (void)result;
  int code;
  cio_process *p = spawn(SLEEP, I, I, I);
  CHECK_EQ(cio_process_kill(p), 0);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, -SIGKILL);
  /* Exited: asyncio's ProcessLookupError. */
  CHECK_EQ(cio_process_send_signal(p, SIGTERM), CIO_ESRCH);
  CHECK_EQ(cio_process_kill(p), CIO_ESRCH);
  CHECK_EQ(cio_process_close(p), 0);

  p = spawn(SLEEP, I, I, I);
  CHECK_EQ(cio_process_terminate(p), 0);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, -SIGTERM);
  CHECK_EQ(cio_process_send_signal(p, NSIG), CIO_EINVAL);
  CHECK_EQ(cio_process_close(p), 0);

  /* test_send_signal: once the child says it is ready. */
  p = shell("echo sleeping; exec sleep 30", I, P, I);
  char line[32];
  CHECK_EQ(cio_stream_readline(cio_process_stdout(p), line, sizeof line), 9);
  CHECK(memcmp(line, "sleeping\n", 9) == 0);
  CHECK_EQ(cio_process_send_signal(p, SIGHUP), 0);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, -SIGHUP);
  CHECK_EQ(cio_process_close(p), 0);
  return 0;
}

TEST(kill_terminate_send_signal) {
  CHECK_EQ(run(main_signals), 0);
}

/* ------------------------------------------------------------------ */

struct waiter {
  cio_process *p;
  int code;
};

static int wait_task(void *arg, void **result) {
  (void)result;
  struct waiter *w = arg;
  return cio_process_wait(w->p, &w->code);
}

/* Several waiters get the same code; a cancelled wait leaves the child
 * running (test_cancel_process_wait). */
static int main_wait(void *arg, void **result) {
  (void)arg, (void)result;
  cio_process *p = spawn(SLEEP, I, I, I);
  struct waiter w[3] = {{p, 0}, {p, 0}, {p, 0}};
  cio_task *t[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(cio_create_task(NULL, &t[i], wait_task, &w[i], NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK_EQ(cio_task_cancel(t[2]), 1);
  CHECK_EQ(cio_task_join(t[2], NULL), CIO_ECANCELED);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK_EQ(cio_process_returncode(p, NULL), CIO_EINPROGRESS);
  CHECK_EQ(kill(cio_process_pid(p), 0), 0); /* still running */
  CHECK_EQ(cio_process_kill(p), 0);
  CHECK_EQ(cio_task_join(t[0], NULL), 0);
  CHECK_EQ(cio_task_join(t[1], NULL), 0);
  CHECK_EQ(w[0].code, -SIGKILL);
  CHECK_EQ(w[1].code, -SIGKILL);
  check_reaped(cio_process_pid(p));
  CHECK_EQ(cio_process_close(p), 0);
  return 0;
}

TEST(wait_many_and_cancelled) {
  CHECK_EQ(run(main_wait), 0);
}

TEST(wait_outside_task) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  CHECK_EQ(cio_process_wait(NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_process_returncode(NULL, NULL), CIO_EINVAL);
  CHECK_EQ(cio_process_communicate(NULL, NULL, 0, NULL, NULL, NULL, NULL),
           CIO_EINVAL);
  CHECK_EQ(cio_process_close(NULL), 0);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* ------------------------------------------------------------------ */

struct comm {
  cio_process *p;
  int rc;
};

static int comm_task(void *arg, void **result) {
  (void)result;
  struct comm *c = arg;
  void *out, *err;
  c->rc = cio_process_communicate(c->p, "x", 1, &out, NULL, &err, NULL);
  CHECK(out == NULL && err == NULL);
  return c->rc;
}

/* A cancelled communicate leaves the child running, still owned by the
 * process object; killing and waiting reaps it. */
static int main_cancel_communicate(void *arg, void **result) {
  (void)arg, (void)result;
  cio_process *p = shell("echo partial; exec sleep 30", P, P, P);
  struct comm c = {p, 1};
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, comm_task, &c, NULL), 0);
  CHECK_EQ(cio_wait_for(cio_task_future(t), 0.2, NULL), CIO_ETIMEDOUT);
  CHECK_EQ(c.rc, CIO_ECANCELED);
  cio_task_release(t);
  CHECK_EQ(cio_process_returncode(p, NULL), CIO_EINPROGRESS);
  int pid = cio_process_pid(p), code;
  CHECK_EQ(cio_process_kill(p), 0);
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, -SIGKILL);
  check_reaped(pid);
  CHECK_EQ(cio_process_close(p), 0);

  /* Cancelled again, then the object is closed right away: close kills
   * the child and returns once it is reaped. */
  p = shell("exec sleep 30", P, P, I);
  c = (struct comm){p, 1};
  CHECK_EQ(cio_create_task(NULL, &t, comm_task, &c, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK_EQ(cio_task_cancel(t), 1);
  CHECK_EQ(cio_task_join(t, NULL), CIO_ECANCELED);
  pid = cio_process_pid(p);
  CHECK_EQ(kill(pid, 0), 0);
  CHECK_EQ(cio_process_close(p), 0);
  check_reaped(pid);
  return 0;
}

TEST(cancelled_communicate_leaves_no_zombie) {
  CHECK_EQ(run(main_cancel_communicate), 0);
}

/* Closing a child that never reads its stdin, with a megabyte queued for
 * it: close kills it first instead of waiting for the flush. */
static int main_close_unread(void *arg, void **result) {
  (void)arg, (void)result;
  char *big = calloc(1, 1 << 20);
  cio_process *p = spawn(SLEEP, P, P, I);
  CHECK_EQ(cio_stream_write(cio_process_stdin(p), big, 1 << 20), 0);
  CHECK(cio_stream_write_buffer_size(cio_process_stdin(p)) > 0);
  int pid = cio_process_pid(p);
  CHECK_EQ(cio_process_close(p), 0);
  check_reaped(pid);
  free(big);
  return 0;
}

TEST(close_kills_child_that_does_not_read) {
  CHECK_EQ(run(main_close_unread), 0);
}

/* ------------------------------------------------------------------ */

/* The child exits without reading: writing to it gives CIO_EPIPE (not a
 * fatal SIGPIPE), which communicate ignores (test_stdin_broken_pipe,
 * test_communicate_ignore_broken_pipe). */
#define PIPE_MAX (4 * 1024 * 1024)

static int main_broken_pipe(void *arg, void **result) {
  (void)arg, (void)result;
  char *big = calloc(1, PIPE_MAX);
  const char *const TRUE_[] = {"true", NULL};
  cio_process *p = spawn(TRUE_, P, I, I);
  CHECK_EQ(cio_process_wait(p, NULL), 0);
  cio_stream *in = cio_process_stdin(p);
  int rc = cio_stream_write(in, big, PIPE_MAX);
  if (rc == 0)
    rc = cio_stream_drain(in);
  CHECK(rc == CIO_EPIPE || rc == CIO_ECONNRESET);
  CHECK_EQ(cio_process_close(p), 0);

  p = spawn(TRUE_, P, I, I);
  CHECK_EQ(cio_process_wait(p, NULL), 0);
  CHECK_EQ(cio_process_communicate(p, big, PIPE_MAX, NULL, NULL, NULL, NULL),
           0);
  CHECK_EQ(cio_process_close(p), 0);
  free(big);
  return 0;
}

TEST(broken_pipe) {
  CHECK_EQ(run(main_broken_pipe), 0);
}

/* A process left open keeps the loop from closing; one closed does not. */
static int leave_open(void *arg, void **result) {
  (void)result;
  *(cio_process **)arg = spawn(SLEEP, I, I, I);
  return 0;
}

static int close_it(void *arg, void **result) {
  (void)result;
  return cio_process_close(arg);
}

TEST(loop_close_busy_while_process_open) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_process *p = NULL;
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, leave_open, &p, NULL), 0);
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  cio_task_release(t);
  CHECK_EQ(cio_loop_close(loop), CIO_EBUSY);
  int pid = cio_process_pid(p);
  CHECK_EQ(cio_create_task(loop, &t, close_it, p, NULL), 0);
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  cio_task_release(t);
  CHECK_EQ(cio_loop_close(loop), 0);
  check_reaped(pid);
}
