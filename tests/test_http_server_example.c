/* The HTTP server example, run as a real process: examples/items_api
 * (its items in SQLite) answered by curl, several requests at once, and
 * shutting down gracefully on SIGTERM and SIGINT. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "http_server_test.h"

struct example {
  pid_t pid;
  FILE *out;
  int port;
};

/* Start items_api on a free port and read the port it prints. */
static void start(struct example *ex) {
  char path[1024];
  snprintf(path, sizeof path, "%s/items_api", CIO_EXAMPLES_DIR);
  if (access(path, X_OK) != 0) /* configured without examples */
    test_skip("%s is not built (CIO_BUILD_EXAMPLES=OFF)", path);
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  ex->pid = fork();
  CHECK(ex->pid >= 0);
  if (ex->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test leaves no server */
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execl(path, path, "0", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  ex->out = fdopen(fds[0], "r");
  char line[256];
  CHECK(fgets(line, sizeof line, ex->out) != NULL);
  CHECK_EQ(sscanf(line, "listening on http://127.0.0.1:%d", &ex->port), 1);
}

static char *curl(const char *fmt, int port) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, fmt, port, port, port, port, port, port);
  static char out[8192];
  int st = test_run_capture(cmd, out, sizeof out);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    test_fail(__FILE__, __LINE__, "%s:\n%s", cmd, out);
  return out;
}

TEST(items_api_answers_curl_and_shuts_down_on_sigterm) {
  need_program(CURL);
  struct example ex;
  start(&ex);
  CHECK_STR(curl(CURL " -sS http://127.0.0.1:%d/items/", ex.port),
            "[{\"id\":1,\"name\":\"apple\",\"price\":0.5},"
            "{\"id\":2,\"name\":\"bread\",\"price\":2.25},"
            "{\"id\":3,\"name\":\"coffee\",\"price\":7.0}]");
  CHECK_STR(curl(CURL " -sS http://127.0.0.1:%d/items/2", ex.port),
            "{\"id\":2,\"name\":\"bread\",\"price\":2.25}");
  CHECK_STR(curl(CURL " -sS -w ' %%{http_code}' http://127.0.0.1:%d/items/9",
                 ex.port),
            "{\"detail\":\"Item not found\"} 404");
  CHECK_STR(curl(CURL " -sS -w ' %%{http_code}' -d '{\"name\": \"lamp\", "
                      "\"price\": 12.5}' http://127.0.0.1:%d/items/",
                 ex.port),
            "{\"id\":4,\"name\":\"lamp\",\"price\":12.5} 201");
  CHECK_STR(curl(CURL " -sS -w ' %%{http_code}' -d 'oops' "
                      "http://127.0.0.1:%d/items/",
                 ex.port),
            "{\"detail\":\"the body must be JSON\"} 400");
  /* Six requests at once, each awaiting its query. */
  char *out = curl(CURL " -sS -Z --parallel-max 6 "
                        "http://127.0.0.1:%d/items/1 "
                        "http://127.0.0.1:%d/items/2 "
                        "http://127.0.0.1:%d/items/3 "
                        "http://127.0.0.1:%d/items/4 "
                        "http://127.0.0.1:%d/items/5 "
                        "http://127.0.0.1:%d/items/",
                   ex.port);
  CHECK_EQ(count_of(out, "\"id\":"), 4 + 4);
  CHECK_EQ(count_of(out, "Item not found"), 1);
  CHECK_EQ(count_of(out, "\"lamp\""), 2);
  /* SIGTERM: a graceful shutdown, then exit 0. */
  CHECK_EQ(kill(ex.pid, SIGTERM), 0);
  char line[256];
  CHECK(fgets(line, sizeof line, ex.out) != NULL);
  CHECK_STR(line, "shutting down\n");
  CHECK(fgets(line, sizeof line, ex.out) != NULL);
  CHECK_STR(line, "bye\n");
  CHECK(fgets(line, sizeof line, ex.out) == NULL);
  int st;
  CHECK_EQ(waitpid(ex.pid, &st, 0), ex.pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  fclose(ex.out);
}

/* A client holding a keep-alive connection open: SIGINT closes it (it is
 * idle) and the program exits. */
static const char py_idle[] =
    "import http.client, sys\n"
    "c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))\n"
    "c.request('GET', '/items/3')\n"
    "r = c.getresponse()\n"
    "print(r.status, r.read().decode(), flush=True)\n"
    "print('closed' if c.sock.recv(1) == b'' else 'data')\n";

TEST(items_api_closes_idle_connections_on_sigint) {
  need_program(PY);
  struct example ex;
  start(&ex);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s -c \"%s\" %d", PY, py_idle, ex.port);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  char line[256];
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK_STR(line, "200 {\"id\":3,\"name\":\"coffee\",\"price\":7.0}\n");
  CHECK_EQ(kill(ex.pid, SIGINT), 0);
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK_STR(line, "closed\n");
  CHECK_EQ(pclose(p), 0);
  int st;
  CHECK_EQ(waitpid(ex.pid, &st, 0), ex.pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  fclose(ex.out);
}
