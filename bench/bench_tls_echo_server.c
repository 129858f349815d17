/* The casyncio TLS echo server that bench/suites/tls.py drives, side by
 * side with Go crypto/tls, Node tls and uvloop with ssl (bench/peers/).
 *
 *   bench_tls_echo_server PORT CERT KEY
 *
 * Listens on 127.0.0.1:PORT with the certificate chain CERT and key KEY
 * and runs one task per connection, written as a user would: read what
 * has arrived, write it back, drain.  Runs until killed and prints
 * nothing: the suite measures it from outside (round trips and
 * handshakes from bench/load/tls_client.c, CPU time from
 * /proc/PID/stat). */
#include "bench.h"
#include "casyncio.h"
#include "casyncio/tls.h"

struct args {
  int port;
  const char *cert, *key;
};

static int echo(cio_stream *s, void *arg) {
  (void)arg;
  char buf[16384];
  ssize_t n;
  while ((n = cio_stream_read(s, buf, sizeof buf)) > 0) {
    int rc = cio_stream_write(s, buf, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return 0;
  }
  return 0; /* load clients leave abruptly: not the server's error */
}

static int serve(void *arg, void **result) {
  (void)result;
  struct args *a = arg;
  cio_tls_context *ctx;
  BENCH_CHECK(cio_tls_context_new(&ctx, CIO_TLS_SERVER));
  BENCH_CHECK(cio_tls_context_load_cert_chain(ctx, a->cert, a->key, NULL,
                                              NULL));
  cio_server *srv;
  BENCH_CHECK(cio_tls_start_server(&srv, echo, NULL, "127.0.0.1", a->port,
                                   &(cio_server_opts){.backlog = 4096},
                                   &(cio_tls_opts){.context = ctx}));
  int rc = cio_server_serve_forever(srv);
  cio_tls_context_free(ctx);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench_tls_echo_server PORT CERT KEY\n");
    return 2;
  }
  struct args a = {atoi(argv[1]), argv[2], argv[3]};
  int rc = cio_run(serve, &a);
  if (rc < 0)
    fprintf(stderr, "bench_tls_echo_server: %s\n", cio_strerror(rc));
  return rc < 0;
}
