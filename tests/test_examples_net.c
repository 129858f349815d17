/* The network examples, run as real processes: echo_server with
 * echo_client against it, and the crawler fetching from its own server. */
#include <sys/wait.h>

#include "example_harness.h"

TEST(echo_server_and_client) {
  char srv[1024], cli[1024], cmd[2200];
  example_path(srv, sizeof srv, "echo_server");
  example_path(cli, sizeof cli, "echo_client");
  /* Port 0: the server prints the port it got; it exits after 1 client. */
  snprintf(cmd, sizeof cmd, "'%s' 0 1 2>&1", srv);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  char line[256];
  int port = 0;
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK_EQ(sscanf(line, "listening on 127.0.0.1:%d", &port), 1);
  CHECK(port > 0);
  snprintf(cmd, sizeof cmd, "'%s' %d hello 'echo me' 2>&1", cli, port);
  char out[1024];
  int st = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK_STR(out, "echo: hello\necho: echo me\n");
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK(strncmp(line, "client 127.0.0.1:", 17) == 0);
  CHECK(strstr(line, " connected\n") != NULL);
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK(strstr(line, " done\n") != NULL);
  CHECK(fgets(line, sizeof line, p) == NULL);
  st = pclose(p);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(echo_client_without_server) {
  char cli[1024], cmd[1200], out[512];
  example_path(cli, sizeof cli, "echo_client");
  /* Port 1 on loopback: nothing listens there. */
  snprintf(cmd, sizeof cmd, "'%s' 1 hello 2>&1", cli);
  int st = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
  CHECK_STR(out, "echo_client: connection refused\n");
}

TEST(crawler_fetches_concurrently) {
  static const struct expect want[] = {
      {"[1] request started", 0, 0},
      {"[2] request started", 0, 0},
      {"[3] request started", 0, 0},
      {"[3] received 'data_3'", 1, 0},
      {"[1] received 'data_1'", 2, 0},
      {"[2] received 'data_2'", 3, 0},
      {"results: ['data_1', 'data_2', 'data_3']", 3, 0},
      {"elapsed: {sec} s (one after the other: 6 s)", 3, 3.0},
  };
  CHECK_EXAMPLE("crawler", want);
}

/* The port on the command line is the port it listens on. */
TEST(echo_server_listens_on_the_port_it_is_given) {
  int port = test_free_port();
  char srv[1024], cli[1024], cmd[2200];
  example_path(srv, sizeof srv, "echo_server");
  example_path(cli, sizeof cli, "echo_client");
  snprintf(cmd, sizeof cmd, "'%s' %d 1 2>&1", srv, port);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  char line[256], want[64];
  CHECK(fgets(line, sizeof line, p) != NULL);
  snprintf(want, sizeof want, "listening on 127.0.0.1:%d\n", port);
  CHECK_STR(line, want);
  snprintf(cmd, sizeof cmd, "'%s' %d ping 2>&1", cli, port);
  char out[256];
  int st = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK_STR(out, "echo: ping\n");
  while (fgets(line, sizeof line, p) != NULL)
    ;
  st = pclose(p);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
