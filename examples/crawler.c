/* Fetch many things concurrently: the Python crawler that gathers several
 * page fetches at once (step 2 of docs/tutorial.md), against a small HTTP
 * server this program starts on 127.0.0.1 (any free port).
 *
 * Page /N answers after N's delay (2, 3 and 1 seconds, as the Python
 * program's fetch_data(1, 2), fetch_data(2, 3), fetch_data(3, 1)).  The three
 * fetches run at once with cio_gather, so the whole takes about 3 s
 * where one after the other would take 6 s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casyncio.h"

static const double delays[] = {0, 2.0, 3.0, 1.0}; /* page 1..3 */
static int port;

/* Server side: "GET /N HTTP/1.0", headers, blank line; reply after N's
 * delay. */
static int serve_page(cio_stream *s, void *arg) {
  (void)arg;
  char line[256];
  ssize_t n = cio_stream_readline(s, line, sizeof line);
  int id = 0;
  if (n <= 0 || sscanf(line, "GET /%d", &id) != 1 || id < 1 || id > 3)
    return cio_stream_write(s, "HTTP/1.0 404 Not Found\r\n\r\n", 26);
  while ((n = cio_stream_readline(s, line, sizeof line)) > 2)
    ;                             /* headers, up to the blank line */
  int rc = cio_sleep(delays[id]); /* a slow backend */
  if (rc < 0)
    return rc;
  char body[32], reply[128];
  int blen = snprintf(body, sizeof body, "data_%d", id);
  int len =
      snprintf(reply, sizeof reply,
               "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", blen, body);
  return cio_stream_write(s, reply, (size_t)len);
}

/* Client side: one fetch, returning the body (malloc'd) as the result. */
static int fetch(void *arg, void **result) {
  int id = (int)(intptr_t)arg;
  printf("[%d] request started\n", id);
  cio_stream *s;
  int rc = cio_open_connection(&s, "127.0.0.1", port, NULL);
  if (rc < 0)
    return rc;
  char req[64];
  int len = snprintf(req, sizeof req, "GET /%d HTTP/1.0\r\n\r\n", id);
  void *data = NULL;
  size_t n = 0;
  rc = cio_stream_write(s, req, (size_t)len);
  if (rc == 0)
    rc = cio_stream_read_all(s, &data, &n); /* HTTP/1.0: until EOF */
  int crc = cio_stream_close(s);
  if (rc == 0)
    rc = crc;
  if (rc < 0)
    return rc;
  char *text = data;
  text[n] = '\0'; /* read_all leaves room for it */
  char *body = strstr(text, "\r\n\r\n");
  if (body == NULL || strncmp(text, "HTTP/1.0 200", 12) != 0) {
    free(data);
    return CIO_EPROTO;
  }
  memmove(text, body + 4, strlen(body + 4) + 1);
  printf("[%d] received '%s'\n", id, text);
  *result = text;
  return 0;
}

static int crawl(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_server *srv;
  int rc = cio_start_server(&srv, serve_page, NULL, "127.0.0.1", 0, NULL);
  if (rc < 0)
    return rc;
  port = cio_server_port(srv);
  double start = cio_time();
  cio_call calls[3];
  for (int i = 0; i < 3; i++)
    calls[i] = (cio_call){fetch, (void *)(intptr_t)(i + 1)};
  void *bodies[3] = {0};
  rc = cio_gather_calls(calls, 3, bodies, NULL, false);
  double elapsed = cio_time() - start;
  if (rc == 0) {
    printf("results: ['%s', '%s', '%s']\n", (char *)bodies[0],
           (char *)bodies[1], (char *)bodies[2]);
    printf("elapsed: %.1f s (one after the other: 6 s)\n", elapsed);
  }
  for (int i = 0; i < 3; i++)
    free(bodies[i]);
  int crc = cio_server_close(srv);
  return rc < 0 ? rc : crc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(crawl, NULL);
  if (rc < 0)
    fprintf(stderr, "crawler: %s\n", cio_strerror(rc));
  return rc == 0 ? 0 : 1;
}
