/* Real servers for the HTTP client's tests, started on 127.0.0.1 by the
 * test and stopped after it: tests/http_client_server.py on Debian's
 * python3 (plain or TLS), nghttpd (HTTP/2), and a test CA made with the
 * openssl command.  Included by tests/test_http_client*.c. */
#ifndef CIO_HTTP_CLIENT_PEERS_H
#define CIO_HTTP_CLIENT_PEERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "casyncio.h"
#include "casyncio/http_client.h"
#include "test.h"

#define PY "/usr/bin/python3"

/* This file's folder, where the server script lives. */
static inline const char *tests_dir(void) {
  static char dir[4096];
  if (dir[0] == '\0') {
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
      *slash = '\0';
    else
      snprintf(dir, sizeof dir, ".");
  }
  return dir;
}

static inline double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct peer {
  pid_t pid;
  int in_fd; /* its stdin: closing it stops the Python server */
  int port;
};

/* Run argv with a pipe on its stdin (and on its stdout when `read_port`:
 * the first line must be "port N"). */
static inline void peer_spawn(struct peer *p, char *const argv[],
                              bool read_port) {
  int in[2], out[2];
  CHECK(pipe(in) == 0 && pipe(out) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    /* A failing test exits at once: take the server with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(in[0], 0);
    if (read_port)
      dup2(out[1], 1);
    else
      dup2(open("/dev/null", O_WRONLY), 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  p->pid = pid;
  p->in_fd = in[1];
  if (read_port) {
    char line[64] = {0};
    size_t n = 0;
    while (n < sizeof line - 1) {
      ssize_t k = read(out[0], line + n, 1);
      if (k <= 0 || line[n] == '\n')
        break;
      n++;
    }
    CHECK(sscanf(line, "port %d", &p->port) == 1);
  }
  close(out[0]);
}

static inline void peer_stop(struct peer *p) {
  if (p->pid <= 0)
    return;
  close(p->in_fd);
  kill(p->pid, SIGTERM);
  waitpid(p->pid, NULL, 0);
  p->pid = 0;
}

/* The Python server of tests/http_client_server.py; `cert`/`key` NULL:
 * plain HTTP. */
static inline void py_server_start(struct peer *p, const char *cert,
                                   const char *key) {
  if (access(PY, X_OK) != 0)
    test_skip("%s is missing (apt-get install python3)", PY);
  char script[4200];
  snprintf(script, sizeof script, "%s/http_client_server.py", tests_dir());
  char *argv[] = {PY,           script,      cert ? "--tls" : NULL,
                  (char *)cert, (char *)key, NULL};
  peer_spawn(p, argv, true);
}

/* An unused TCP port on 127.0.0.1 (for servers that take one). */
static inline int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* Wait until something accepts on 127.0.0.1:port (10 s at most). */
static inline void wait_listening(int port) {
  double end = mono_now() + 10;
  while (mono_now() < end) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
    if (rc == 0)
      return;
    usleep(20000);
  }
  test_fail(__FILE__, __LINE__, "nothing listens on port %d", port);
}

/* A test CA and a server certificate for 127.0.0.1 (IP only, so
 * "localhost" does not match) in a fresh folder: <dir>/ca.pem,
 * <dir>/server.pem, <dir>/server.key. */
static inline void make_test_ca(char *dir, size_t cap) {
  snprintf(dir, cap, "/tmp/cio-http-ca-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "(cd '%s' && "
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key "
           "-out ca.pem -days 2 -subj '/CN=casyncio test CA' && "
           "openssl req -newkey rsa:2048 -nodes -keyout server.key "
           "-out server.csr -subj '/CN=127.0.0.1' && "
           "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
           "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
           "-CAcreateserial -out server.pem -days 2 -extfile ext.cnf) 2>&1",
           dir);
  char out[8192];
  int st = test_run_capture(cmd, out, sizeof out);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    test_fail(__FILE__, __LINE__, "openssl failed: %s", out);
}

static inline void remove_dir(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

/* Run `fn(arg)` as the main task of a fresh loop and check that the loop
 * closes with nothing left (every allocation freed). */
static inline void run_main(cio_task_fn fn, void *arg) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, fn, arg, NULL), 0);
  int rc = cio_loop_run_until_complete(loop, t, NULL);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "main task: %s", cio_strerror(rc));
  cio_task_release(t);
  CHECK_EQ(cio_loop_shutdown_tasks(loop), 0);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* A body read whole as a string (freed by the caller). */
static inline char *read_text(cio_http_response *r) {
  void *body;
  size_t len;
  int rc = cio_http_response_read(r, &body, &len, 0);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "read: %s (%s)", cio_strerror(rc),
              cio_http_response_error(r));
  return body;
}

#endif
