/* The TLS examples run as real processes: tls_echo_server with
 * tls_echo_client against it (certificates made at test time), and the
 * client refusing a certificate for another host name. */
#include <signal.h>
#include <sys/wait.h>

#include "test.h"
#include "tls_certs.h"

static void example_path(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", CIO_EXAMPLES_DIR, name);
  if (access(buf, X_OK) != 0)
    test_skip("%s is not built (CIO_BUILD_EXAMPLES is off)", buf);
}

/* Start the server with `stem`.pem/.key for one client; return its
 * output pipe, its port and its process id. */
static FILE *start_server(const char *stem, int *port, int *pid) {
  char srv[1024], cmd[4096], cert[64], key[64];
  example_path(srv, sizeof srv, "tls_echo_server");
  snprintf(cert, sizeof cert, "%s.pem", stem);
  snprintf(key, sizeof key, "%s.key", stem);
  snprintf(cmd, sizeof cmd, "echo $$; exec '%s' '%s' '%s' 0 1 2>&1", srv,
           tls_path(cert), tls_path(key));
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  char line[256];
  CHECK(fgets(line, sizeof line, p) != NULL);
  *pid = atoi(line);
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK_EQ(sscanf(line, "listening on 127.0.0.1:%d (TLS)", port), 1);
  return p;
}

TEST(tls_echo_server_and_client) {
  tls_certs_make();
  int port, pid;
  FILE *p = start_server("server", &port, &pid);
  char cli[1024], cmd[2400], out[1024];
  example_path(cli, sizeof cli, "tls_echo_client");
  snprintf(cmd, sizeof cmd, "'%s' '%s' %d hello 'echo me' 2>&1", cli,
           tls_path("ca.pem"), port);
  int st = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK_STR(out, "connected with TLSv1.3 to CN=localhost,O=casyncio tests\n"
                 "echo: hello\necho: echo me\n");
  char line[256];
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK(strncmp(line, "client connected (TLSv1.3, ", 27) == 0);
  CHECK(fgets(line, sizeof line, p) != NULL);
  CHECK_STR(line, "client done\n");
  st = pclose(p);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  tls_certs_remove();
}

TEST(tls_echo_client_refuses_a_certificate_for_another_host) {
  tls_certs_make();
  int port, pid;
  FILE *p = start_server("other", &port, &pid);
  char cli[1024], cmd[2400], out[1024];
  example_path(cli, sizeof cli, "tls_echo_client");
  snprintf(cmd, sizeof cmd, "'%s' '%s' %d hello 2>&1", cli, tls_path("ca.pem"),
           port);
  int st = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
  CHECK_STR(out, "tls_echo_client: certificate verification failed: "
                 "certificate verify failed: hostname mismatch, the "
                 "certificate is not valid for 'localhost'\n");
  /* The server saw a failed handshake (its handler never ran) and goes
   * on listening: stop it. */
  CHECK_EQ(kill(pid, SIGTERM), 0);
  char line[256];
  CHECK(fgets(line, sizeof line, p) == NULL);
  pclose(p);
  tls_certs_remove();
}
