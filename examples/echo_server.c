/* An echo server: every line a client sends comes back to it.
 *
 *   echo_server [port] [max_clients]
 *
 * Listens on 127.0.0.1:port (default 8888; 0 picks a free port) and runs
 * one task per connection.  With max_clients it exits once that many
 * clients have come and gone (the tests use that). */
#include <stdio.h>
#include <stdlib.h>

#include "casyncio.h"

struct app {
  int port;
  cio_server *srv;
  int max_clients;
  int finished;
};

static int handle_client(cio_stream *s, void *arg) {
  struct app *app = arg;
  cio_addr peer;
  char host[64] = "?";
  int port = 0;
  if (cio_stream_peer_addr(s, &peer) == 0 &&
      cio_addr_format(&peer, host, sizeof host, &port) < 0)
    snprintf(host, sizeof host, "?");
  printf("client %s:%d connected\n", host, port);
  char line[1024];
  ssize_t n;
  while ((n = cio_stream_readline(s, line, sizeof line)) > 0) {
    int rc = cio_stream_write(s, line, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s); /* wait if the client reads slowly */
    if (rc < 0)
      return rc;
  }
  printf("client %s:%d done\n", host, port);
  fflush(stdout);
  if (++app->finished == app->max_clients) {
    /* From a handler: stops accepting; serve_forever in serve() returns.
     * The handler's own connection ends when it returns. */
    int rc = cio_server_close(app->srv);
    if (rc < 0)
      return rc;
  }
  return (int)n;
}

static int serve(void *arg, void **result) {
  (void)result;
  struct app *app = arg;
  int rc = cio_start_server(&app->srv, handle_client, app, "127.0.0.1",
                            app->port, NULL);
  if (rc < 0) {
    fprintf(stderr, "echo_server: %s\n", cio_strerror(rc));
    return rc;
  }
  printf("listening on 127.0.0.1:%d\n", cio_server_port(app->srv));
  fflush(stdout);
  rc = cio_server_serve_forever(app->srv);
  if (app->finished != app->max_clients) {
    int crc = cio_server_close(app->srv);
    if (rc == 0)
      rc = crc;
  }
  return rc;
}

int main(int argc, char **argv) {
  struct app app = {.port = argc > 1 ? atoi(argv[1]) : 8888,
                    .max_clients = argc > 2 ? atoi(argv[2]) : -1};
  return cio_run(serve, &app) == 0 ? 0 : 1;
}
