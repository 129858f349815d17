/* An echo client: sends each argument as a line and prints the echo.
 *
 *   echo_client port [message...]
 *
 * Connects to 127.0.0.1:port, with a 5 second limit on connecting and on
 * each reply (a timeout scope around the calls). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casyncio.h"

struct args {
  int port;
  int n;
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

static int client(void *arg, void **result) {
  (void)result;
  struct args *a = arg;
  cio_timeout to;
  int rc = cio_timeout_enter(&to, 5.0);
  if (rc < 0)
    return rc;
  cio_stream *s;
  rc = cio_open_connection(&s, "127.0.0.1", a->port, NULL);
  for (int i = 0; rc == 0 && i < a->n; i++)
    rc = talk(s, a->msgs[i]);
  if (s != NULL) {
    int crc = cio_stream_close(s);
    if (rc == 0)
      rc = crc;
  }
  rc = cio_timeout_exit(&to, rc);
  if (rc < 0)
    fprintf(stderr, "echo_client: %s\n", cio_strerror(rc));
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: echo_client port [message...]\n");
    return 2;
  }
  struct args a = {.port = atoi(argv[1]), .n = argc - 2, .msgs = argv + 2};
  return cio_run(client, &a) == 0 ? 0 : 1;
}
