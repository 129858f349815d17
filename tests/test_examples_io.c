/* The I/O examples: UDP, Unix sockets, sendfile, name resolution, waits
 * on a descriptor, and a graceful shutdown on a signal.  Each runs as a
 * real process; stderr is merged into the output, so a runtime warning
 * fails the comparison. */
#include <signal.h>
#include <sys/wait.h>

#include "example_harness.h"

TEST(udp_echo) {
  char out[2048];
  run_example_output("udp_echo", out, sizeof out);
  CHECK_STR(out, "server: listening on 127.0.0.1 (UDP)\n"
                 "client: send 'Hello World!'\n"
                 "server: received 'Hello World!', sending it back\n"
                 "client: received 'Hello World!'\n"
                 "client: send 'How are you?'\n"
                 "server: received 'How are you?', sending it back\n"
                 "client: received 'How are you?'\n");
}

TEST(unix_echo) {
  char out[2048];
  run_example_output("unix_echo", out, sizeof out);
  CHECK_STR(out, "server: serving on a Unix socket\n"
                 "client: send 'Hello World!'\n"
                 "server: received 'Hello World!' from a Unix socket client\n"
                 "client: received 'Hello World!'\n"
                 "server: client gone, connection closed\n"
                 "socket file removed: yes\n");
}

TEST(sendfile) {
  char out[1024];
  run_example_output("sendfile", out, sizeof out);
  CHECK_STR(out, "wrote a 1048576-byte file\n"
                 "server: sent 1048576 bytes\n"
                 "client: received 1048576 bytes, identical to the file\n");
}

/* localhost resolves to 127.0.0.1 (and maybe ::1), and back to a name. */
TEST(getaddrinfo) {
  char out[2048];
  run_example_output("getaddrinfo", out, sizeof out);
  CHECK(strncmp(out, "localhost: ", 11) == 0);
  CHECK(strstr(out, "localhost: 127.0.0.1 port 80\n") != NULL);
  const char *back = strstr(out, "\n127.0.0.1 port 80 is ");
  if (back == NULL) /* ::1 came first */
    back = strstr(out, "\n::1 port 80 is ");
  CHECK(back != NULL);
  CHECK(strstr(back, ", service ") != NULL);
}

TEST(fd_wait) {
  static const struct expect want[] = {
      {"add_reader: received abc", 0, 0},
      {"fd_wait: nothing after 0.1 s (timed out)", 0.1, 0},
      {"writer: sending 'hello'", 0.3, 0},
      {"fd_wait: readable, read 'hello'", 0.3, 0},
  };
  CHECK_EXAMPLE("fd_wait", want);
}

/* `signal_shutdown 1` sends itself SIGTERM after a second: it finishes
 * every queued job and exits 0. */
static void check_shutdown(const char *out, const char *signame) {
  char want[64];
  snprintf(want, sizeof want, "\n%s received: finishing queued jobs\n",
           signame);
  CHECK(strncmp(out, "running; stop with Ctrl-C or SIGTERM\n", 37) == 0);
  CHECK(strstr(out, want) != NULL);
  int queued, done;
  const char *counts = strstr(out, "jobs queued ");
  CHECK(counts != NULL);
  CHECK_EQ(sscanf(counts, "jobs queued %d, done %d", &queued, &done), 2);
  CHECK(queued >= 3);
  CHECK_EQ(done, queued);
  CHECK(strstr(out, "\nstopped cleanly\n") != NULL);
}

TEST(signal_shutdown_on_sigterm) {
  struct line lines[MAX_LINES];
  double took;
  size_t n =
      run_example_with("", "signal_shutdown", "1", lines, MAX_LINES, &took);
  CHECK_EQ(n, 4);
  char out[1024] = "";
  for (size_t i = 0; i < n; i++)
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s\n",
             lines[i].text);
  check_shutdown(out, "SIGTERM");
  CHECK_NEAR(lines[1].at, 1.0, TIME_TOLERANCE);
  CHECK(took < 1.0 + 0.25 + 2 * TIME_TOLERANCE); /* the last jobs finish */
}

/* Ctrl-C from outside the process: SIGINT while it runs. */
TEST(signal_shutdown_on_sigint) {
  char path[1024], cmd[1400], out[1024];
  example_path(path, sizeof path, "signal_shutdown");
  snprintf(cmd, sizeof cmd,
           "'%s' 2>&1 & pid=$!; sleep 0.6; kill -INT $pid; wait $pid", path);
  int status = test_run_capture(cmd, out, sizeof out);
  fprintf(stderr, "%s", out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  check_shutdown(out, "SIGINT");
}
