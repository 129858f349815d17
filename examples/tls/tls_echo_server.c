/* A TLS echo server: every line a client sends comes back to it, over
 * TLS (asyncio.start_server(..., ssl=context)).
 *
 *   tls_echo_server CERT KEY [port] [max_clients]
 *
 * CERT is the certificate chain (PEM) and KEY its private key; see
 * docs/tls.md for making a test certificate with openssl.  Listens on
 * 127.0.0.1:port (default 8443; 0 picks a free port) and runs one task
 * per connection, after its TLS handshake.  With max_clients it exits
 * once that many clients have come and gone. */
#include <stdio.h>
#include <stdlib.h>

#include "casyncio.h"
#include "casyncio/tls.h"

struct app {
  const char *cert, *key;
  int port, max_clients, finished;
  cio_server *srv;
};

static int handle_client(cio_stream *s, void *arg) {
  struct app *app = arg;
  printf("client connected (%s, %s)\n", cio_tls_version(s), cio_tls_cipher(s));
  fflush(stdout);
  char line[1024];
  ssize_t n;
  while ((n = cio_stream_readline(s, line, sizeof line)) > 0) {
    int rc = cio_stream_write(s, line, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
  printf("client done\n");
  fflush(stdout);
  if (++app->finished == app->max_clients) {
    /* From a handler: stops accepting; serve_forever returns. */
    int rc = cio_server_close(app->srv);
    if (rc < 0)
      return rc;
  }
  return (int)n;
}

static int serve(void *arg, void **result) {
  (void)result;
  struct app *app = arg;
  cio_tls_context *ctx;
  int rc = cio_tls_context_new(&ctx, CIO_TLS_SERVER);
  if (rc == 0) {
    rc = cio_tls_context_load_cert_chain(ctx, app->cert, app->key, NULL, NULL);
    if (rc < 0)
      fprintf(stderr, "tls_echo_server: %s\n",
              cio_tls_context_error_reason(ctx));
  }
  if (rc == 0)
    rc = cio_tls_start_server(&app->srv, handle_client, app, "127.0.0.1",
                              app->port, NULL, &(cio_tls_opts){.context = ctx});
  if (rc == 0) {
    printf("listening on 127.0.0.1:%d (TLS)\n", cio_server_port(app->srv));
    fflush(stdout);
    rc = cio_server_serve_forever(app->srv);
    if (app->finished != app->max_clients) {
      int crc = cio_server_close(app->srv);
      if (rc == 0)
        rc = crc;
    }
  }
  cio_tls_context_free(ctx); /* the server kept its own reference */
  if (rc < 0)
    fprintf(stderr, "tls_echo_server: %s\n", cio_strerror(rc));
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: tls_echo_server CERT KEY [port] [max_clients]\n");
    return 2;
  }
  struct app app = {.cert = argv[1],
                    .key = argv[2],
                    .port = argc > 3 ? atoi(argv[3]) : 8443,
                    .max_clients = argc > 4 ? atoi(argv[4]) : -1};
  return cio_run(serve, &app) == 0 ? 0 : 1;
}
