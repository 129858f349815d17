/* Helpers of the HTTP server tests (tests/test_http_server*.c): a server
 * on the test's loop, real clients (curl, Debian's python3) run as child
 * processes while the loop goes on serving, and raw sockets for what no
 * well-behaved client sends.  Header-only: each test file is its own
 * program. */
#ifndef CIO_HTTP_SERVER_TEST_H
#define CIO_HTTP_SERVER_TEST_H

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "casyncio.h"
#include "casyncio/http_server.h"
#include "test.h"

#define PY "/usr/bin/python3" /* Debian's, not the pyenv one on PATH */
#define CURL "/usr/bin/curl"

static inline void need_program(const char *path) {
  if (access(path, X_OK) != 0)
    test_skip("%s is not installed (scripts/deps.sh test)", path);
}

static inline double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run `fn` as the main task of a fresh loop; the loop must close clean
 * (no task, handle or allocation left). */
static inline void run_main(cio_task_fn fn, void *arg) {
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

/* ---- a server on the current loop ------------------------------------ */

struct fx {
  cio_web_app *app;
  cio_web_server *srv;
  int port;
  char port_s[16];
  char base[64]; /* "http://127.0.0.1:PORT" */
};

static inline void fx_open(struct fx *f, const cio_web_server_opts *o) {
  CHECK_EQ(cio_web_server_open(&f->srv, f->app, "127.0.0.1", 0, o), 0);
  f->port = cio_web_server_port(f->srv);
  CHECK(f->port > 0);
  snprintf(f->port_s, sizeof f->port_s, "%d", f->port);
  snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
}

static inline void fx_close(struct fx *f) {
  CHECK_EQ(cio_web_server_close(f->srv), 0);
  cio_web_app_free(f->app);
}

/* ---- clients as child processes --------------------------------------- */

/* Run `argv`, feed it `input` (may be NULL), and return its exit status
 * (-1 if a signal killed it), its stdout in `*out` (malloc'd, NUL-ended;
 * may be NULL to drop) and stderr appended after a "\n--stderr--\n" line
 * when it is not empty.  Suspends: the loop serves meanwhile. */
static inline int client_run(const char *const *argv, const char *input,
                             char **out) {
  cio_process *p;
  cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
                        .stdout_mode = CIO_STDIO_PIPE,
                        .stderr_mode = CIO_STDIO_PIPE};
  int rc = cio_create_subprocess_exec(&p, argv, &o);
  if (rc < 0)
    test_fail(__FILE__, __LINE__, "cannot run %s: %s", argv[0],
              cio_strerror(rc));
  void *so, *se;
  size_t nso, nse;
  rc = cio_process_communicate(p, input, input ? strlen(input) : 0, &so,
                               &nso, &se, &nse);
  CHECK_EQ(rc, 0);
  int code;
  CHECK_EQ(cio_process_returncode(p, &code), 0);
  CHECK_EQ(cio_process_close(p), 0);
  char *text = malloc(nso + nse + 16);
  memcpy(text, so, nso);
  size_t n = nso;
  if (nse > 0) {
    memcpy(text + n, "\n--stderr--\n", 12);
    memcpy(text + n + 12, se, nse);
    n += 12 + nse;
  }
  text[n] = '\0';
  free(so);
  free(se);
  if (out != NULL)
    *out = text;
  else
    free(text);
  return code;
}

/* Run Debian's python3 with `script` and the port as argv[1]. */
static inline int py_run(const char *script, const struct fx *f,
                         char **out) {
  need_program(PY);
  const char *argv[] = {PY, "-c", script, f->port_s, NULL};
  return client_run(argv, NULL, out);
}

static inline void check_contains(const char *file, int line,
                                  const char *text, const char *want) {
  if (text == NULL || strstr(text, want) == NULL)
    test_fail(file, line, "expected \"%s\" in:\n%s", want,
              text ? text : "(null)");
}
#define CHECK_HAS(text, want) check_contains(__FILE__, __LINE__, text, want)

static inline void check_lacks(const char *file, int line, const char *text,
                               const char *bad) {
  if (text != NULL && strstr(text, bad) != NULL)
    test_fail(file, line, "did not expect \"%s\" in:\n%s", bad, text);
}
#define CHECK_LACKS(text, bad) check_lacks(__FILE__, __LINE__, text, bad)

static inline void check_prefix(const char *file, int line, const char *text,
                                const char *want) {
  if (text == NULL || strncmp(text, want, strlen(want)) != 0)
    test_fail(file, line, "expected to start with \"%s\":\n%s", want,
              text ? text : "(null)");
}
#define CHECK_PREFIX(text, want) check_prefix(__FILE__, __LINE__, text, want)

/* ---- raw sockets -------------------------------------------------------- */

/* Connect, send `n` bytes of `req`, and read what comes back until the
 * server closes or `timeout` seconds pass.  Returns the bytes (malloc'd,
 * NUL-ended, length in `*len` if not NULL) and in `*closed` whether the
 * server closed the connection. */
static inline char *raw_exchange(int port, const char *req, size_t n,
                                 double timeout, size_t *len, bool *closed) {
  cio_stream *s;
  CHECK_EQ(cio_open_connection(&s, "127.0.0.1", port, NULL), 0);
  if (n > 0)
    CHECK_EQ(cio_stream_write(s, req, n), 0);
  size_t cap = 4096, got = 0;
  char *buf = malloc(cap + 1);
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, timeout), 0);
  ssize_t r;
  for (;;) {
    if (cap - got < 1024)
      buf = realloc(buf, (cap *= 2) + 1);
    r = cio_stream_read(s, buf + got, cap - got);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  int rc = cio_timeout_exit(&to, (int)r);
  if (closed != NULL)
    *closed = rc == 0 || rc == CIO_ECONNRESET;
  CHECK(rc == 0 || rc == CIO_ETIMEDOUT || rc == CIO_ECONNRESET);
  CHECK_EQ(cio_stream_close(s), 0);
  buf[got] = '\0';
  if (len != NULL)
    *len = got;
  return buf;
}

/* How many times `needle` occurs in `text`. */
static inline int count_of(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

#endif
