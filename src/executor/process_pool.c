/* Process pools: each worker thread of the executor owns one worker
 * process and talks to it over a socket pair with blocking calls, so the
 * loop never waits.  The worker process is this program started again
 * (posix_spawn: forking a process with threads is unsafe) with the
 * socket on fd 3 and CIO_PROCESS_WORKER=3 in its environment.
 *
 * Protocol (same machine, native byte order), one job at a time:
 *   request:  u32 name_len, u64 in_len, name bytes, in bytes
 *   response: i32 status, u64 out_len, out bytes
 *
 *   NO_PROCESS -> RUNNING   spawn_worker() on the first job, or at once
 *                           after a death
 *   RUNNING -> NO_PROCESS   EOF/error on the socket: killed and reaped
 *                           (the job fails with CIO_EPIPE); or stop
 * (1) A worker process is always reaped by the thread that spawned it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

extern char **environ;

#define WORKER_ENV "CIO_PROCESS_WORKER"
#define WORKER_FD 3

/* Headers go out as packed bytes: no padding, nothing uninitialised. */
#define REQ_HEADER 12  /* u32 name_len, u64 in_len */
#define RESP_HEADER 12 /* i32 status, u64 out_len */

static void put_header(unsigned char *h, uint32_t a, uint64_t b) {
  memcpy(h, &a, sizeof a);
  memcpy(h + 4, &b, sizeof b);
}

static void get_header(const unsigned char *h, uint32_t *a, uint64_t *b) {
  memcpy(a, h, sizeof *a);
  memcpy(b, h + 4, sizeof *b);
}

/* ---- blocking I/O on the socket ------------------------------------- */

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return CIO_EPIPE;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* 0, CIO_EOF at a clean end before any byte, CIO_EPIPE otherwise. */
static int read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return got == 0 && r == 0 ? CIO_EOF : CIO_EPIPE;
    got += (size_t)r;
  }
  return 0;
}

/* Read `n` bytes into a new malloc()ed buffer (NULL when n == 0). */
static int read_alloc(int fd, size_t n, void **out) {
  *out = NULL;
  if (n == 0)
    return 0;
  void *buf = malloc(n);
  if (buf == NULL)
    return CIO_ENOMEM;
  int rc = read_all(fd, buf, n);
  if (rc < 0) {
    free(buf);
    return CIO_EPIPE;
  }
  *out = buf;
  return 0;
}

/* ---- the worker process ---------------------------------------------- */

static int serve_one(int fd, const cio_process_fn_entry *fns, size_t n) {
  unsigned char h[REQ_HEADER];
  int rc = read_all(fd, h, sizeof h);
  if (rc < 0)
    return rc;
  uint32_t name_len;
  uint64_t in_len;
  get_header(h, &name_len, &in_len);
  void *name = NULL, *in = NULL, *out = NULL;
  size_t out_len = 0;
  rc = read_alloc(fd, (size_t)name_len + 1, &name);
  if (rc == 0)
    rc = read_alloc(fd, in_len, &in);
  if (rc < 0)
    goto done;
  ((char *)name)[name_len] = '\0'; /* the byte read after the name */
  int status = CIO_ENOSYS;
  for (size_t i = 0; i < n; i++)
    if (strcmp(fns[i].name, name) == 0)
      status = fns[i].fn(in, in_len, &out, &out_len);
  if (status < 0 || out == NULL) {
    free(out);
    out = NULL;
    out_len = 0;
  }
  put_header(h, (uint32_t)status, out_len);
  rc = write_all(fd, h, RESP_HEADER);
  if (rc == 0)
    rc = write_all(fd, out, out_len);
done:
  free(name);
  free(in);
  free(out);
  return rc;
}

int cio_process_worker_main(const cio_process_fn_entry *fns, size_t n) {
  const char *v = getenv(WORKER_ENV);
  if (v == NULL)
    return 0;
  int fd = atoi(v);
  unsetenv(WORKER_ENV); /* its own children are not workers */
  while (serve_one(fd, fns, n) == 0)
    ;
  fflush(NULL);
  _exit(0); /* the parent's atexit work is not ours to run */
}

/* ---- the worker thread's side ---------------------------------------- */

static char **worker_env(void) {
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **env = malloc((n + 2) * sizeof *env);
  if (env == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], WORKER_ENV "=", sizeof WORKER_ENV) != 0)
      env[k++] = environ[i];
  static char marker[] = WORKER_ENV "=3";
  static_assert(WORKER_FD == 3, "marker names fd 3");
  env[k++] = marker;
  env[k] = NULL;
  return env;
}

static int spawn_worker(cio_executor *ex, struct cio__worker *w) {
  /* Report a missing program as such, not as a worker dying at once
   * (which is what a failed exec looks like to some posix_spawns). */
  if (strchr(ex->argv[0], '/') != NULL && access(ex->argv[0], X_OK) != 0)
    return -errno;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return -errno;
  char **env = worker_env();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  /* dup2 onto itself would keep close-on-exec; the pair is never fd 3
   * when 0..2 are open, but be sure. */
  int child = sv[1] == WORKER_FD ? fcntl(sv[1], F_DUPFD_CLOEXEC, 4) : sv[1];
  posix_spawn_file_actions_adddup2(&fa, child, WORKER_FD);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid;
  int err = env == NULL
                ? ENOMEM
                : posix_spawnp(&pid, ex->argv[0], &fa, NULL, ex->argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  if (child != sv[1])
    close(child);
  close(sv[1]);
  if (err != 0) {
    close(sv[0]);
    return -err;
  }
  w->pid = pid;
  w->fd = sv[0];
  return 0;
}

/* End the worker process: EOF makes a live worker exit; `kill` for one
 * that may be stuck or broken. */
static void reap_worker(struct cio__worker *w, bool kill_it) {
  if (w->pid <= 0)
    return;
  if (kill_it)
    kill(w->pid, SIGKILL);
  close(w->fd);
  int st;
  while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
    ;
  w->pid = 0;
  w->fd = -1;
}

static void process_worker_stop(struct cio__worker *w) {
  reap_worker(w, false);
}

/* A job of cio_process_pool_run, with its name and input copied behind
 * it. */
struct pjob {
  struct cio__job job;
  struct cio__list waiter; /* the task's pwait until it stops waiting */
  size_t name_len;
  size_t in_len;
  void *out; /* malloc()ed by the worker thread */
  size_t out_len;
  char data[]; /* name, NUL, input */
};

static void pjob_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out) {
  (void)loop;
  const struct pjob *pj = obj;
  cio__text_printf(out, "function '%s' on process pool %p", pj->data,
                   (void *)pj->job.ex);
}

static const struct cio__wait_kind pjob_kind = {.what = "process pool job",
                                                .describe = pjob_describe};

/* On the waiting task's stack. */
struct pwait {
  struct cio__wait wait; /* in job->waiter */
  struct pjob *job;
  int status;
  void *out;
  size_t out_len;
  bool done;
};

static int round_trip(struct cio__worker *w, struct pjob *pj) {
  unsigned char h[REQ_HEADER];
  put_header(h, (uint32_t)pj->name_len, pj->in_len);
  int rc = write_all(w->fd, h, sizeof h);
  if (rc == 0)
    rc = write_all(w->fd, pj->data, pj->name_len + 1 + pj->in_len);
  if (rc == 0)
    rc = read_all(w->fd, h, RESP_HEADER);
  uint32_t status = 0;
  uint64_t out_len = 0;
  if (rc == 0) {
    get_header(h, &status, &out_len);
    rc = read_alloc(w->fd, out_len, &pj->out);
  }
  if (rc < 0)
    return rc == CIO_ENOMEM ? rc : CIO_EPIPE;
  pj->out_len = out_len;
  return (int32_t)status;
}

static void pjob_work(struct cio__job *j, struct cio__worker *w) {
  struct pjob *pj = cio__container_of(j, struct pjob, job);
  j->result = NULL;
  if (w->pid <= 0) {
    j->status = spawn_worker(w->ex, w);
    if (j->status < 0)
      return;
  }
  j->status = round_trip(w, pj);
  if (j->status == CIO_EPIPE || j->status == CIO_ENOMEM) {
    /* Dead, or out of step with us: replace it. */
    reap_worker(w, true);
    spawn_worker(w->ex, w); /* on failure, the next job tries again */
  }
}

static void pjob_done(struct cio__job *j) {
  struct pjob *pj = cio__container_of(j, struct pjob, job);
  cio_loop *loop = j->hub->loop;
  struct cio__wait *rec = cio__wait_first(&pj->waiter);
  if (rec != NULL) {
    struct pwait *pw = cio__container_of(rec, struct pwait, wait);
    pw->status = j->status;
    pw->out = pj->out;
    pw->out_len = pj->out_len;
    pw->done = true;
    cio__wait_wake(rec, 0);
  } else {
    free(pj->out); /* a late reply nobody reads */
  }
  cio__free(loop, pj);
}

/* The caller stops waiting (the job frees itself when it comes back) and
 * takes the job back if no worker has started it. */
static bool pwait_interrupt(struct cio__wait *rec) {
  struct pwait *pw = cio__container_of(rec, struct pwait, wait);
  cio__wait_cancel_default(rec);
  cio__job_try_cancel(&pw->job->job); /* may run done and free the job */
  return true;
}

int cio_process_pool_run(cio_executor *pool, const char *name, const void *in,
                         size_t in_len, void **out, size_t *out_len) {
  if (out != NULL)
    *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  if (pool == NULL || !pool->is_process || name == NULL ||
      (in == NULL && in_len > 0) || out == NULL || out_len == NULL)
    return CIO_EINVAL;
  size_t name_len = strlen(name);
  if (name_len > UINT32_MAX ||
      in_len > SIZE_MAX - name_len - 1 - sizeof(struct pjob))
    return CIO_EINVAL;
  cio_loop *loop = self->fut.loop;
  struct pjob *pj = cio__malloc(loop, sizeof *pj + name_len + 1 + in_len);
  if (pj == NULL)
    return CIO_ENOMEM;
  *pj = (struct pjob){.name_len = name_len, .in_len = in_len};
  memcpy(pj->data, name, name_len + 1);
  if (in_len > 0)
    memcpy(pj->data + name_len + 1, in, in_len);
  pj->job.work = pjob_work;
  pj->job.done = pjob_done;
  struct pwait pw = {.job = pj};
  cio__wait_init(&pw.wait, self, 0);
  cio__wait_about(&pw.wait, &pjob_kind, pj);
  pw.wait.interrupt = pwait_interrupt;
  cio__list_init(&pj->waiter);
  rc = cio__job_submit(pool, loop, &pj->job);
  if (rc < 0) {
    cio__free(loop, pj);
    return rc;
  }
  rc = cio__wait_on(&pj->waiter, &pw.wait);
  if (rc < 0 && pw.done) { /* cancelled after the reply came */
    free(pw.out);
    return rc;
  }
  if (rc < 0)
    return rc;
  if (pw.status >= 0) {
    *out = pw.out;
    *out_len = pw.out_len;
  }
  return pw.status;
}

/* ---- creation -------------------------------------------------------- */

static char **copy_argv(const char *const *argv) {
  char self[4096];
  size_t len = sizeof self;
  const char *const self_argv[] = {self, NULL};
  if (argv == NULL) {
    if (uv_exepath(self, &len) != 0)
      return NULL;
    argv = self_argv;
  }
  size_t n = 0;
  while (argv[n] != NULL)
    n++;
  char **copy = calloc(n + 1, sizeof *copy);
  for (size_t i = 0; copy != NULL && i < n; i++) {
    copy[i] = strdup(argv[i]);
    if (copy[i] == NULL) {
      while (i-- > 0)
        free(copy[i]);
      free(copy);
      copy = NULL;
    }
  }
  return copy;
}

int cio_process_pool_new(cio_executor **out, size_t workers,
                         const char *const *argv) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (argv != NULL && argv[0] == NULL)
    return CIO_EINVAL;
  if (workers == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    workers = cpus > 0 ? (size_t)cpus : 1;
  }
  char **copy = copy_argv(argv);
  if (copy == NULL)
    return CIO_ENOMEM;
  cio_executor *ex;
  int rc = cio__executor_alloc(&ex, workers);
  if (rc < 0) {
    for (char **a = copy; *a != NULL; a++)
      free(*a);
    free(copy);
    return rc;
  }
  ex->is_process = true;
  ex->worker_stop = process_worker_stop;
  ex->argv = copy;
  *out = ex;
  return 0;
}
