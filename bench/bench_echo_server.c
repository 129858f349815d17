/* The casyncio echo server that bench/run's load client drives, side by
 * side with the peers in bench/peers/ (libuv callbacks, Go, Node, uvloop).
 *
 *   bench_echo_server PORT
 *
 * Listens on 127.0.0.1:PORT and runs one task per connection, written with
 * the streams API as a user would (asyncio's start_server with a
 * StreamReader/StreamWriter handler): read what has arrived, write it
 * back, drain.  Runs until killed and prints nothing: bench/run measures
 * it from outside (round trips from bench/load/echo_client.c, CPU time
 * from /proc/PID/stat).  bench_echo.c is the self-contained version with
 * a casyncio client in the same program. */
#include "bench.h"
#include "casyncio.h"

static int echo(cio_stream *s, void *arg) {
  (void)arg;
  char buf[16384];
  ssize_t n;
  while ((n = cio_stream_read(s, buf, sizeof buf)) > 0) {
    int rc = cio_stream_write(s, buf, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
  return n < 0 && n != CIO_ECONNRESET ? (int)n : 0;
}

static int serve(void *arg, void **result) {
  (void)result;
  cio_server *srv;
  BENCH_CHECK(cio_start_server(&srv, echo, NULL, "127.0.0.1", *(int *)arg,
                               &(cio_server_opts){.backlog = 4096}));
  return cio_server_serve_forever(srv);
}

int main(int argc, char **argv) {
  int port = (int)bench_arg(argc, argv, 1, 9000);
  int rc = cio_run(serve, &port);
  if (rc < 0)
    fprintf(stderr, "bench_echo_server: %s\n", cio_strerror(rc));
  return rc < 0;
}
