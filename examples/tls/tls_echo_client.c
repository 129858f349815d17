/* A TLS echo client: sends each argument as a line and prints the echo
 * (asyncio.open_connection(..., ssl=context)).
 *
 *   tls_echo_client CAFILE port [message...]
 *
 * Connects to localhost:port and checks the server's certificate against
 * the CA certificates in CAFILE (PEM) and the name "localhost", with a 5
 * second limit on the whole exchange.  A refused certificate is reported
 * with its reason ("certificate has expired", "hostname mismatch"...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casyncio.h"
#include "casyncio/tls.h"

struct args {
  const char *cafile;
  int port, n;
  char **msgs;
};

static int talk(cio_stream *s, const char *msg) {
  char line[1024];
  int len = snprintf(line, sizeof line, "%s\n", msg);
  int rc = cio_stream_write(s, line, (size_t)len);
  if (rc < 0)
    return rc;
  ssize_t n = cio_stream_readline(s, line, sizeof line);
  if (n <= 0)
    return n == 0 ? CIO_ECONNRESET : (int)n;
  printf("echo: %.*s", (int)n, line);
  return 0;
}

static int exchange(cio_tls_context *ctx, struct args *a) {
  char why[256] = "";
  cio_tls_opts tls = {
      .context = ctx, .error_buf = why, .error_cap = sizeof why};
  cio_stream *s;
  int rc = cio_tls_open_connection(&s, "localhost", a->port, NULL, &tls);
  if (rc < 0) {
    if (why[0] != '\0')
      fprintf(stderr, "tls_echo_client: %s: %s\n", cio_strerror(rc), why);
    return rc;
  }
  char subject[256] = "?";
  cio_tls_peer_subject(s, subject, sizeof subject);
  printf("connected with %s to %s\n", cio_tls_version(s), subject);
  for (int i = 0; rc == 0 && i < a->n; i++)
    rc = talk(s, a->msgs[i]);
  int crc = cio_stream_close(s); /* close_notify, then the socket */
  return rc < 0 ? rc : crc;
}

static int client(void *arg, void **result) {
  (void)result;
  struct args *a = arg;
  cio_tls_context *ctx;
  int rc = cio_tls_context_new(&ctx, CIO_TLS_CLIENT);
  if (rc == 0)
    rc = cio_tls_context_load_verify_locations(ctx, a->cafile, NULL);
  if (rc < 0) {
    fprintf(stderr, "tls_echo_client: cannot load %s\n", a->cafile);
    cio_tls_context_free(ctx);
    return rc;
  }
  cio_timeout to;
  rc = cio_timeout_enter(&to, 5.0);
  if (rc == 0)
    rc = cio_timeout_exit(&to, exchange(ctx, a));
  if (rc == CIO_ETIMEDOUT || rc == CIO_ECONNREFUSED)
    fprintf(stderr, "tls_echo_client: %s\n", cio_strerror(rc));
  cio_tls_context_free(ctx);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tls_echo_client CAFILE port [message...]\n");
    return 2;
  }
  struct args a = {argv[1], atoi(argv[2]), argc - 3, argv + 3};
  return cio_run(client, &a) == 0 ? 0 : 1;
}
