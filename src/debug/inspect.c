/* Task dumps on request: a signal (cio_loop_opts.dump_signal) prints one
 * on stderr, and a Unix socket answers `casyncio-ps PID`
 * (cio_loop_opts.inspect).
 *
 * Both are libuv handles of the loop, unreferenced (they never keep it
 * alive, nor hide a deadlock), so a dump is made between two polls, when
 * every task is suspended and every object consistent.  A loop that is
 * stuck does not answer; the stall watchdog reports that case.
 *
 * The socket lives in $XDG_RUNTIME_DIR/casyncio/ (else
 * /tmp/casyncio-<uid>/, a directory of ours with mode 0700), named
 * <pid>-<thread id>.sock so that every loop of a process has one; its
 * mode is 0600.  A client connects and reads the dump until the end of
 * the stream; what it sends is ignored.  The file is removed when the
 * loop closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debug/debug.h"

struct client {
  uv_pipe_t pipe;
  uv_write_t req;
  struct cio__list node; /* in the inspector's clients */
  struct cio__inspector *in;
  struct cio__text text;
};

struct cio__inspector {
  cio_loop *loop;
  uv_signal_t signal;
  bool has_signal;
  uv_pipe_t server;
  bool has_server;
  char path[108];
  struct cio__list clients;
  size_t handles; /* ours, open or closing: freed at 0 once closed */
  bool closed;
};

/* One of our handles was closed: the last one frees the inspector. */
static void handle_gone(struct cio__inspector *in) {
  in->loop->uv_handles_open--;
  if (--in->handles == 0 && in->closed)
    free(in);
}

static void on_closed(uv_handle_t *h) {
  handle_gone(h->data);
}

static void open_handle(struct cio__inspector *in, uv_handle_t *h) {
  h->data = in;
  uv_unref(h);
  in->handles++;
  in->loop->uv_handles_open++;
}

/* ---- the dump signal --------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  struct cio__inspector *in =
      cio__container_of(h, struct cio__inspector, signal);
  struct cio__text t;
  cio__text_init(&t);
  cio__dump(in->loop, &t);
  /* cio__report prefixes "casyncio: ", which the dump starts with. */
  const char *s = cio__text_str(&t);
  if (strncmp(s, "casyncio: ", 10) == 0)
    s += 10;
  cio__debug_report(in->loop, &(cio_exception_context){.source = "dump"}, s);
  cio__text_free(&t);
}

/* ---- the socket ------------------------------------------------------- */

static void client_closed(uv_handle_t *h) {
  struct client *c = cio__container_of((uv_pipe_t *)h, struct client, pipe);
  struct cio__inspector *in = c->in;
  cio__text_free(&c->text);
  free(c);
  handle_gone(in);
}

static void client_close(struct client *c) {
  cio__list_remove(&c->node);
  uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  client_close(cio__container_of(req, struct client, req));
}

static void on_connection(uv_stream_t *server, int status) {
  struct cio__inspector *in =
      cio__container_of((uv_pipe_t *)server, struct cio__inspector, server);
  if (status < 0)
    return;
  struct client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  c->in = in;
  uv_pipe_init(in->loop->uv, &c->pipe, 0);
  open_handle(in, (uv_handle_t *)&c->pipe);
  cio__list_push_back(&in->clients, &c->node);
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
    client_close(c);
    return;
  }
  cio__text_init(&c->text);
  cio__dump(in->loop, &c->text);
  const char *s = cio__text_str(&c->text);
  uv_buf_t buf = uv_buf_init((char *)s, (unsigned)strlen(s));
  if (uv_write(&c->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) != 0)
    client_close(c);
}

/* Our directory for sockets: created 0700, or checked to be ours. */
static int socket_dir(char *dir, size_t cap) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  struct stat st;
  if (xdg != NULL && *xdg == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(dir, cap, "%s/casyncio", xdg);
  else
    snprintf(dir, cap, "/tmp/casyncio-%u", (unsigned)getuid());
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return -errno;
  if (lstat(dir, &st) != 0)
    return -errno;
  if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 0077) != 0)
    return CIO_EPERM; /* someone else's, or open to others */
  return 0;
}

static int open_socket(struct cio__inspector *in) {
  char dir[80];
  int rc = socket_dir(dir, sizeof dir);
  if (rc < 0)
    return rc;
  int n = snprintf(in->path, sizeof in->path, "%s/%d-%d.sock", dir,
                   (int)getpid(), (int)gettid());
  if (n < 0 || (size_t)n >= sizeof in->path)
    return CIO_ENAMETOOLONG;
  unlink(in->path); /* a previous process with our pid left it */
  uv_pipe_init(in->loop->uv, &in->server, 0);
  open_handle(in, (uv_handle_t *)&in->server);
  in->has_server = true;
  rc = uv_pipe_bind(&in->server, in->path);
  if (rc < 0) {
    in->path[0] = '\0'; /* not ours to remove */
    return rc;
  }
  if (chmod(in->path, 0600) != 0)
    return -errno;
  return uv_listen((uv_stream_t *)&in->server, 8, on_connection);
}

int cio__inspector_open(cio_loop *loop) {
  struct cio__inspector *in = calloc(1, sizeof *in);
  if (in == NULL)
    return CIO_ENOMEM;
  in->loop = loop;
  cio__list_init(&in->clients);
  loop->dbg.inspector = in;
  int rc = 0;
  if (loop->dbg.dump_signal > 0) {
    uv_signal_init(loop->uv, &in->signal);
    open_handle(in, (uv_handle_t *)&in->signal);
    in->has_signal = true;
    rc = uv_signal_start(&in->signal, on_signal, loop->dbg.dump_signal);
  }
  if (rc == 0 && loop->dbg.inspect)
    rc = open_socket(in);
  if (rc < 0)
    cio__inspector_close(loop);
  return rc;
}

void cio__inspector_close(cio_loop *loop) {
  struct cio__inspector *in = loop->dbg.inspector;
  if (in == NULL)
    return;
  loop->dbg.inspector = NULL;
  while (!cio__list_empty(&in->clients))
    client_close(cio__container_of(in->clients.next, struct client, node));
  if (in->has_signal)
    uv_close((uv_handle_t *)&in->signal, on_closed);
  if (in->has_server) {
    uv_close((uv_handle_t *)&in->server, on_closed);
    if (in->path[0] != '\0')
      unlink(in->path);
  }
  /* The handles live in `in` until their close callbacks ran (the last
   * frees it); cio_loop_close runs libuv until uv_handles_open is 0. */
  in->closed = true;
  if (in->handles == 0)
    free(in);
}
