/* sendfile: a server sends a file to each client, a client saves it.
 *
 * Mirrors the Python pattern of serving a file with loop.sendfile():
 *
 *   async def handle(reader, writer):
 *       with open(path, 'rb') as f:
 *           await loop.sendfile(writer.transport, f)
 *       writer.close()
 *       await writer.wait_closed()
 *
 * The program writes a 1 MiB file in /tmp, serves it on 127.0.0.1 (a
 * free port), and connects a client that reads to end of file and checks
 * every byte.  cio_fs_sendfile() reads the file on libuv's thread pool in
 * 64 KiB chunks and writes them to the stream with backpressure, so the
 * server task never blocks the loop.
 *
 * Output:
 *
 *   wrote a 1048576-byte file
 *   server: sent 1048576 bytes
 *   client: received 1048576 bytes, identical to the file
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casyncio.h"

enum { FILE_SIZE = 1 << 20 };

struct app {
  char path[64];
  unsigned char *content;
};

static int serve_file(cio_stream *s, void *arg) {
  struct app *app = arg;
  int fd;
  int rc = cio_fs_open(app->path, O_RDONLY, 0, &fd);
  if (rc < 0)
    return rc;
  ssize_t sent = cio_fs_sendfile(s, fd, 0, 0); /* 0: to the end */
  (void)!cio_fs_close(fd); /* read only: nothing to lose */
  if (sent < 0)
    return (int)sent;
  printf("server: sent %zd bytes\n", sent);
  return cio_stream_close(s); /* flushes, then closes */
}

static int fetch_file(struct app *app, int port) {
  cio_stream *s;
  int rc = cio_open_connection(&s, "127.0.0.1", port, NULL);
  if (rc < 0)
    return rc;
  void *data;
  size_t len;
  rc = cio_stream_read_all(s, &data, &len);
  int crc = cio_stream_close(s);
  if (rc == 0 && crc < 0) {
    free(data);
    rc = crc;
  }
  if (rc < 0)
    return rc;
  bool same = len == FILE_SIZE && memcmp(data, app->content, len) == 0;
  printf("client: received %zu bytes, %s\n", len,
         same ? "identical to the file" : "NOT the file");
  free(data);
  return same ? 0 : CIO_EIO;
}

static int write_file(struct app *app) {
  int fd;
  int rc = cio_fs_open(app->path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd);
  if (rc < 0)
    return rc;
  ssize_t n = cio_fs_write(fd, app->content, FILE_SIZE);
  rc = cio_fs_close(fd); /* a write error may show only here */
  if (n < 0)
    return (int)n;
  if (rc < 0)
    return rc;
  printf("wrote a %zd-byte file\n", n);
  return 0;
}

static int amain(void *arg, void **result) {
  (void)result;
  struct app *app = arg;
  int rc = write_file(app);
  cio_server *srv = NULL;
  if (rc == 0)
    rc = cio_start_server(&srv, serve_file, app, "127.0.0.1", 0, NULL);
  if (rc == 0)
    rc = fetch_file(app, cio_server_port(srv));
  int crc = cio_server_close(srv);
  int urc = cio_fs_unlink(app->path);
  if (rc == 0)
    rc = crc < 0 ? crc : urc;
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct app app;
  snprintf(app.path, sizeof app.path, "/tmp/casyncio-sendfile-%ld",
           (long)getpid());
  app.content = malloc(FILE_SIZE);
  if (app.content == NULL)
    return 1;
  for (size_t i = 0; i < FILE_SIZE; i++)
    app.content[i] = (unsigned char)(i * 7 + i / 4096);
  int rc = cio_run(amain, &app);
  free(app.content);
  if (rc < 0) {
    fprintf(stderr, "sendfile: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
