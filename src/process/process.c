/* Subprocesses (asyncio.create_subprocess_exec/_shell and Process) on
 * uv_spawn, with the child's stdio as cio_streams over pipes.
 *
 *   RUNNING -> EXITED   libuv's exit callback (it reaped the child):
 *                       returncode set, waiters woken, uv_close started
 *   EXITED -> CLOSED    the uv_close callback
 *   any -> freed        cio_process_close(): closes the pipes, kills a
 *                       child still running (asyncio's transport close),
 *                       waits for CLOSED, frees
 * (1) The uv_process_t lives inside the object and the object is freed
 *     only once the handle is closed, which happens only after the exit
 *     callback: the child is always reaped, never left a zombie, whatever
 *     the user cancels.
 * (2) pipes[i] holds one reference of its own on the stream, so the user
 *     may cio_stream_close() a pipe (to send end of file) and the object
 *     still knows it; close_pipe() drops it.
 * (3) Every allocation happens before uv_spawn: once a child runs,
 *     creating the process object cannot fail.
 * (4) The object counts as a loop object (cio_loop_close is EBUSY while
 *     one is not closed). */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "internal.h"
#include "net/stream.h"

struct cio_process {
  uv_process_t handle;
  cio_loop *loop;
  int pid;
  int returncode;
  bool exited;
  bool uv_closed;
  cio_stream *pipes[3];
  struct cio__list waiters;  /* cio__wait: tasks in wait() */
  struct cio__uvwait *close; /* cio_process_close waiting for CLOSED */
};

/* "subprocess pid 4242" (waits, object lists). */
static void process_describe(cio_loop *loop, const void *obj,
                             struct cio__text *out) {
  (void)loop;
  const cio_process *p = obj;
  cio__text_printf(out, "subprocess pid %d%s", p->pid,
                   p->exited ? " (exited)" : "");
}

static const struct cio__wait_kind wait_kind = {.what = "subprocess wait",
                                                .describe = process_describe};
static const struct cio__wait_kind close_kind = {.what = "subprocess close",
                                                 .describe = process_describe};

/* ---- exit and close ---------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  cio_process *p = h->data;
  p->uv_closed = true;
  if (p->close != NULL)
    cio__uvwait_complete(p->close, 0);
}

static void on_child_exit(uv_process_t *h, int64_t exit_status,
                          int term_signal) {
  cio_process *p = h->data;
  /* Python's returncode: the exit status, or -N when killed by signal N. */
  p->returncode = term_signal != 0 ? -term_signal : (int)exit_status;
  p->exited = true;
  cio__wait_wake_all(&p->waiters, 0);
  uv_close((uv_handle_t *)&p->handle, on_handle_closed);
}

/* A handle uv_spawn failed on still needs uv_close; it frees `p`. */
static void on_failed_closed(uv_handle_t *h) {
  cio_process *p = h->data;
  p->loop->uv_handles_open--;
  cio__free(p->loop, p);
}

/* ---- pipes ------------------------------------------------------------- */

/* Create the pipe for child descriptor `i` and its parent-side stream.
 * `*child_fd` gets the end the child inherits. */
static int pipe_open(cio_process *p, int i, const cio_stream_opts *opts,
                     int *child_fd) {
  uv_file fds[2];
  int rc = uv_pipe(fds, 0, 0); /* both ends close-on-exec */
  if (rc < 0)
    return cio__uv_error(rc);
  int parent = i == 0 ? fds[1] : fds[0];
  *child_fd = i == 0 ? fds[0] : fds[1];
  cio_stream *s;
  rc = cio__stream_new(p->loop, CIO__STREAM_PIPE, opts, &s);
  if (rc == 0) {
    p->pipes[i] = s;
    cio__stream_ref(s);
    rc = cio__uv_error(uv_pipe_open(&s->h.pipe, parent));
  }
  if (rc < 0) {
    close(parent);
    close(*child_fd);
    *child_fd = -1;
  }
  return rc;
}

/* Release pipe `i`: close the stream unless the user did, drop our
 * reference.  Suspends in a task until the pipe is closed. */
static int pipe_close(cio_process *p, int i) {
  cio_stream *s = p->pipes[i];
  if (s == NULL)
    return 0;
  p->pipes[i] = NULL;
  int rc = cio_stream_close(s); /* no-op if the user closed it */
  cio__stream_unref(s);
  return rc;
}

/* ---- spawning ---------------------------------------------------------- */

static bool valid_mode(int mode, int i) {
  return mode == CIO_STDIO_INHERIT || mode == CIO_STDIO_PIPE ||
         mode == CIO_STDIO_DEVNULL || (i == 2 && mode == CIO_STDIO_STDOUT);
}

struct spawn_fds {
  int child[3]; /* what the child gets as 0, 1, 2 */
  bool own[3];  /* child[i] is a pipe end to close after the spawn */
  int devnull;
};

/* Set up the child's three descriptors and our pipe streams. */
static int stdio_open(cio_process *p, const cio_process_opts *o,
                      struct spawn_fds *f) {
  int modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
  for (int i = 0; i < 3; i++) {
    f->child[i] = i; /* inherit */
    if (modes[i] == CIO_STDIO_DEVNULL && f->devnull < 0) {
      f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (f->devnull < 0)
        return CIO_EMFILE;
    }
    if (modes[i] == CIO_STDIO_DEVNULL)
      f->child[i] = f->devnull;
    else if (modes[i] == CIO_STDIO_STDOUT)
      f->child[i] = f->child[1];
    else if (modes[i] == CIO_STDIO_PIPE) {
      int rc = pipe_open(p, i, o->stream, &f->child[i]);
      if (rc < 0)
        return rc;
      f->own[i] = true;
    }
  }
  return 0;
}

static void stdio_close_child_ends(struct spawn_fds *f) {
  for (int i = 0; i < 3; i++)
    if (f->own[i])
      close(f->child[i]);
  if (f->devnull >= 0)
    close(f->devnull);
}

/* Abandon the pipes of a process that never started. */
static void pipes_abort(cio_process *p) {
  for (int i = 0; i < 3; i++) {
    cio_stream *s = p->pipes[i];
    if (s == NULL)
      continue;
    p->pipes[i] = NULL;
    cio__stream_discard(s); /* drops the user's reference */
    cio__stream_unref(s);   /* ours */
  }
}

static int spawn(cio_process **out, char **argv, const cio_process_opts *opts) {
  *out = NULL;
  cio_loop *loop = cio__loop_current();
  if (loop == NULL || argv == NULL || argv[0] == NULL)
    return CIO_EINVAL;
  if (loop->closing)
    return CIO_ESHUTDOWN;
  cio_process_opts o = opts ? *opts : (cio_process_opts){0};
  if (!valid_mode(o.stdin_mode, 0) || !valid_mode(o.stdout_mode, 1) ||
      !valid_mode(o.stderr_mode, 2) || cio__stream_opts_check(o.stream) < 0)
    return CIO_EINVAL;
  cio_process *p = cio__calloc(loop, 1, sizeof *p);
  if (p == NULL)
    return CIO_ENOMEM;
  p->loop = loop;
  p->handle.data = p;
  cio__list_init(&p->waiters);
  struct spawn_fds f = {.devnull = -1};
  int rc = stdio_open(p, &o, &f);
  if (rc < 0) {
    stdio_close_child_ends(&f);
    pipes_abort(p);
    cio__free(loop, p);
    return rc;
  }
  uv_stdio_container_t stdio[3];
  for (int i = 0; i < 3; i++)
    stdio[i] =
        (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = f.child[i]};
  uv_process_options_t uo = {
      .exit_cb = on_child_exit,
      .file = argv[0],
      .args = argv,
      .env = (char **)o.env,
      .cwd = o.cwd,
      .flags = o.start_new_session ? UV_PROCESS_DETACHED : 0,
      .stdio_count = 3,
      .stdio = stdio,
  };
  rc = uv_spawn(loop->uv, &p->handle, &uo);
  stdio_close_child_ends(&f);
  if (rc < 0) {
    pipes_abort(p);
    loop->uv_handles_open++; /* cio_loop_close waits for the callback */
    uv_close((uv_handle_t *)&p->handle, on_failed_closed);
    return cio__uv_error(rc);
  }
  p->pid = p->handle.pid;
  for (int i = 0; i < 3; i++) {
    if (p->pipes[i] == NULL)
      continue;
    rc = cio__stream_start(p->pipes[i],
                           i == 0 ? CIO__STREAM_WRITE : CIO__STREAM_READ);
    CIO_ASSERT(rc == 0); /* a fresh open pipe: libuv cannot refuse */
  }
  cio__obj_add(loop, CIO__OBJ_PROCESS, p, process_describe);
  *out = p;
  return 0;
}

int cio_create_subprocess_exec(cio_process **out, const char *const *argv,
                               const cio_process_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  /* libuv does not write to the arguments; its prototype is older. */
  return spawn(out, (char **)argv, opts);
}

int cio_create_subprocess_shell(cio_process **out, const char *cmd,
                                const cio_process_opts *opts) {
  if (out == NULL)
    return CIO_EINVAL;
  if (cmd == NULL) {
    *out = NULL;
    return CIO_EINVAL;
  }
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  return spawn(out, (char **)argv, opts);
}

/* ---- queries and signals ----------------------------------------------- */

int cio_process_pid(const cio_process *p) {
  return p ? p->pid : -1;
}

int cio_process_returncode(const cio_process *p, int *returncode) {
  if (p == NULL)
    return CIO_EINVAL;
  if (!p->exited)
    return CIO_EINPROGRESS;
  if (returncode != NULL)
    *returncode = p->returncode;
  return 0;
}

cio_stream *cio_process_stdin(cio_process *p) {
  return p ? p->pipes[0] : NULL;
}

cio_stream *cio_process_stdout(cio_process *p) {
  return p ? p->pipes[1] : NULL;
}

cio_stream *cio_process_stderr(cio_process *p) {
  return p ? p->pipes[2] : NULL;
}

int cio_process_send_signal(cio_process *p, int signum) {
  if (p == NULL || signum < 0 || signum >= NSIG)
    return CIO_EINVAL;
  if (p->exited)
    return CIO_ESRCH; /* asyncio's ProcessLookupError */
  return cio__uv_error(uv_process_kill(&p->handle, signum));
}

int cio_process_terminate(cio_process *p) {
  return cio_process_send_signal(p, SIGTERM);
}

int cio_process_kill(cio_process *p) {
  return cio_process_send_signal(p, SIGKILL);
}

/* ---- waiting ----------------------------------------------------------- */

int cio_process_wait(cio_process *p, int *returncode) {
  if (p == NULL)
    return CIO_EINVAL;
  if (!p->exited) {
    int rc;
    cio_task *self = cio__task_for_suspend(&rc);
    if (self == NULL)
      return rc;
    struct cio__wait w;
    cio__wait_init(&w, self, 0);
    cio__wait_about(&w, &wait_kind, p);
    rc = cio__wait_on(&p->waiters, &w);
    if (rc < 0)
      return rc; /* cancelled: the child runs on, as in asyncio */
  }
  if (returncode != NULL)
    *returncode = p->returncode;
  return 0;
}

/* ---- communicate ------------------------------------------------------- */

struct comm {
  cio_process *p;
  const void *input;
  size_t input_len;
  void *data[3];
  size_t len[3];
};

static int feed_stdin(void *arg, void **result) {
  (void)result;
  struct comm *c = arg;
  cio_stream *s = c->p->pipes[0];
  int rc = 0;
  if (c->input_len > 0)
    rc = cio_stream_write(s, c->input, c->input_len);
  if (rc == 0)
    rc = cio_stream_drain(s);
  if (rc == CIO_EPIPE || rc == CIO_ECONNRESET || rc == CIO_ECLOSED)
    rc = 0; /* a child that stopped reading, stdin closed by the user */
  if (rc < 0)
    return rc; /* cancelled: the pipe stays open, as in asyncio */
  rc = pipe_close(c->p, 0);
  return rc == CIO_EPIPE || rc == CIO_ECONNRESET ? 0 : rc;
}

static int read_pipe(struct comm *c, int i) {
  int rc = cio_stream_read_all(c->p->pipes[i], &c->data[i], &c->len[i]);
  if (rc < 0)
    return rc; /* the pipe stays open, as in asyncio */
  return pipe_close(c->p, i);
}

static int read_stdout(void *arg, void **result) {
  (void)result;
  return read_pipe(arg, 1);
}

static int read_stderr(void *arg, void **result) {
  (void)result;
  return read_pipe(arg, 2);
}

static void hand_out(struct comm *c, int i, void **data, size_t *len) {
  if (data != NULL) {
    *data = c->data[i];
    c->data[i] = NULL;
  }
  if (len != NULL)
    *len = c->len[i];
}

int cio_process_communicate(cio_process *p, const void *input, size_t input_len,
                            void **out, size_t *out_len, void **err,
                            size_t *err_len) {
  if (out != NULL)
    *out = NULL;
  if (err != NULL)
    *err = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if (err_len != NULL)
    *err_len = 0;
  if (p == NULL || (input == NULL && input_len > 0))
    return CIO_EINVAL;
  int rc;
  if (cio__task_for_suspend(&rc) == NULL)
    return rc;
  struct comm c = {.p = p, .input = input, .input_len = input_len};
  cio_call calls[3];
  size_t n = 0;
  if (p->pipes[0] != NULL)
    calls[n++] = (cio_call){feed_stdin, &c};
  if (p->pipes[1] != NULL)
    calls[n++] = (cio_call){read_stdout, &c};
  if (p->pipes[2] != NULL)
    calls[n++] = (cio_call){read_stderr, &c};
  int errors[3] = {0};
  rc = cio_gather_calls(calls, n, NULL, errors, true);
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = errors[i];
  if (rc == 0)
    rc = cio_process_wait(p, NULL);
  if (rc == 0) {
    hand_out(&c, 1, out, out_len);
    hand_out(&c, 2, err, err_len);
  }
  free(c.data[1]);
  free(c.data[2]);
  return rc;
}

/* ---- closing ----------------------------------------------------------- */

int cio_process_close(cio_process *p) {
  if (p == NULL)
    return 0;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  /* Kill first (asyncio's transport close): flushing stdin into a child
   * that does not read would wait for ever. */
  if (!p->exited)
    uv_process_kill(&p->handle, SIGKILL);
  for (int i = 0; i < 3; i++) {
    int prc = pipe_close(p, i);
    if (rc == 0)
      rc = prc;
  }
  if (!p->uv_closed) {
    /* No cancel function: the child was killed, its exit comes soon, and
     * the object must live until libuv let go of the handle. */
    struct cio__uvwait w;
    cio__uvwait_init(&w, self, NULL);
    cio__wait_about(&w.wait, &close_kind, p);
    p->close = &w;
    int wrc = cio__uvwait_park(&w);
    p->close = NULL;
    if (rc == 0)
      rc = wrc;
  }
  CIO_ASSERT(cio__list_empty(&p->waiters));
  cio__obj_remove(p->loop, CIO__OBJ_PROCESS, p);
  cio__free(p->loop, p);
  return rc;
}
