/* unix_echo: an echo server on a Unix socket and a client, in one program.
 *
 * Mirrors the TCP echo client and server of Python's asyncio streams
 * documentation, moved to a Unix socket as asyncio.start_unix_server()
 * and asyncio.open_unix_connection() do: the client sends a line, the
 * server sends it back and the client prints it.  The socket file lives
 * in /tmp while the server runs; closing the server removes it.
 *
 * Output:
 *
 *   server: serving on a Unix socket
 *   client: send 'Hello World!'
 *   server: received 'Hello World!' from a Unix socket client
 *   client: received 'Hello World!'
 *   server: client gone, connection closed
 *   socket file removed: yes
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "casyncio.h"

/* One task per connection: echo lines until the client closes. */
static int handle_client(cio_stream *s, void *arg) {
  (void)arg;
  char line[256];
  ssize_t n;
  while ((n = cio_stream_readline(s, line, sizeof line)) > 0) {
    printf("server: received '%.*s' from a Unix socket client\n",
           (int)n - 1, line);
    int rc = cio_stream_write(s, line, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
  printf("server: client gone, connection closed\n");
  return (int)n; /* 0 at end of file; the server closes the stream */
}

static int client(const char *path, const char *message) {
  cio_stream *s;
  int rc = cio_open_unix_connection(&s, path, NULL);
  if (rc < 0)
    return rc;
  printf("client: send '%s'\n", message);
  char line[256];
  snprintf(line, sizeof line, "%s\n", message);
  rc = cio_stream_write(s, line, strlen(line));
  ssize_t n = rc < 0 ? rc : cio_stream_readline(s, line, sizeof line);
  if (n > 0)
    printf("client: received '%.*s'\n", (int)n - 1, line);
  int crc = cio_stream_close(s);
  return n < 0 ? (int)n : crc;
}

static int amain(void *arg, void **result) {
  (void)arg, (void)result;
  char path[64];
  snprintf(path, sizeof path, "/tmp/casyncio-unix-echo-%ld.sock",
           (long)getpid());
  cio_server *srv;
  int rc = cio_start_unix_server(&srv, handle_client, NULL, path, NULL);
  if (rc < 0)
    return rc;
  printf("server: serving on a Unix socket\n");
  rc = client(path, "Hello World!");
  /* Waits for the handler, then removes the socket file. */
  int crc = cio_server_close(srv);
  rc = rc < 0 ? rc : crc;
  printf("socket file removed: %s\n", access(path, F_OK) != 0 ? "yes" : "no");
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "unix_echo: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
