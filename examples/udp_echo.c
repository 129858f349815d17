/* udp_echo: a UDP echo server and a client talking to it, in one program.
 *
 * Mirrors the UDP echo server and client of Python's asyncio
 * documentation (loop.create_datagram_endpoint with an
 * EchoServerProtocol that sends every datagram back, and a client that
 * sends "Hello World!" and prints the answer).  There a protocol's
 * datagram_received() callback gets each datagram; here a task waits for
 * the next one with cio_datagram_recvfrom(), which suspends only that
 * task.  The client's wait is bounded by a timeout scope: UDP may lose a
 * datagram, and a lost one must not hang the program.
 *
 * Output:
 *
 *   server: listening on 127.0.0.1 (UDP)
 *   client: send 'Hello World!'
 *   server: received 'Hello World!', sending it back
 *   client: received 'Hello World!'
 *   client: send 'How are you?'
 *   server: received 'How are you?', sending it back
 *   client: received 'How are you?'
 */
#include <stdio.h>
#include <string.h>

#include "casyncio.h"

/* The server: every datagram goes back where it came from. */
static int serve(void *arg, void **result) {
  (void)result;
  cio_datagram *server = arg;
  for (;;) {
    char buf[1500];
    cio_addr from;
    ssize_t n = cio_datagram_recvfrom(server, buf, sizeof buf, &from);
    if (n < 0)
      return (int)n; /* CIO_ECANCELED when the program ends */
    printf("server: received '%.*s', sending it back\n", (int)n, buf);
    int rc = cio_datagram_sendto(server, buf, (size_t)n, &from);
    if (rc < 0)
      return rc;
  }
}

/* The client: a socket connected to the server, one message at a time. */
static int ask(cio_datagram *client, const char *message) {
  printf("client: send '%s'\n", message);
  int rc = cio_datagram_sendto(client, message, strlen(message), NULL);
  if (rc < 0)
    return rc;
  char buf[1500];
  cio_timeout to;
  rc = cio_timeout_enter(&to, 2.0);
  if (rc < 0)
    return rc;
  ssize_t n = cio_datagram_recvfrom(client, buf, sizeof buf, NULL);
  rc = cio_timeout_exit(&to, n < 0 ? (int)n : 0); /* CIO_ETIMEDOUT: lost */
  if (rc < 0)
    return rc;
  printf("client: received '%.*s'\n", (int)n, buf);
  return 0;
}

static int amain(void *arg, void **result) {
  (void)arg, (void)result;
  cio_datagram *server = NULL, *client = NULL;
  cio_task *server_task = NULL;
  int rc = cio_datagram_open(&server, "127.0.0.1", 0, NULL, 0, NULL);
  if (rc < 0)
    return rc;
  cio_addr addr;
  char host[64];
  int port;
  rc = cio_datagram_sock_addr(server, &addr);
  if (rc == 0)
    rc = cio_addr_format(&addr, host, sizeof host, &port);
  if (rc == 0) {
    printf("server: listening on %s (UDP)\n", host);
    rc = cio_create_task(NULL, &server_task, serve, server, NULL);
  }
  if (rc == 0)
    rc = cio_datagram_open(&client, NULL, 0, host, port, NULL);
  if (rc == 0)
    rc = ask(client, "Hello World!");
  if (rc == 0)
    rc = ask(client, "How are you?");
  if (server_task != NULL) {
    cio_task_cancel(server_task);
    (void)!cio_task_join(server_task, NULL); /* CIO_ECANCELED, as asked */
  }
  (void)!cio_datagram_close(client); /* returns 0: nothing to check */
  (void)!cio_datagram_close(server);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "udp_echo: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
