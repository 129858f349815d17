/* Scenarios for the cancellation sweep (`make test-cancel`): streams over
 * a socketpair, a TCP server with echo handlers, a child's pipes.  The
 * law: every byte read is the byte written at that position, never more
 * bytes read than written, and all of them once the reader saw the end
 * of the stream; every stream, server and child closed. */
#include <sys/socket.h>

#include "casyncio.h"
#include "test.h"

static unsigned char pattern(size_t i) {
  return (unsigned char)((i * 7 + i / 251) % 251);
}

/* ---- a transfer over a socketpair: write+drain against mixed reads -- */

#define CHUNK 6000
#define CHUNKS 6

struct transfer {
  cio_stream *w, *r;
  size_t queued, got;
  bool reader_saw_end, writer_done;
};

static int writer(void *arg, void **result) {
  (void)result;
  struct transfer *t = arg;
  static unsigned char buf[CHUNK];
  for (int c = 0; c < CHUNKS; c++) {
    for (size_t i = 0; i < CHUNK; i++)
      buf[i] = pattern(t->queued + i);
    int rc = cio_stream_write(t->w, buf, CHUNK);
    if (rc < 0)
      return rc;
    t->queued += CHUNK;
    rc = cio_stream_drain(t->w);
    if (rc < 0)
      return rc;
  }
  int rc = cio_stream_write_eof(t->w);
  t->writer_done = rc == 0;
  return rc;
}

static int take(struct transfer *t, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(p[i], pattern(t->got + i));
  t->got += n;
  return 0;
}

static int reader(void *arg, void **result) {
  (void)result;
  struct transfer *t = arg;
  unsigned char buf[2048];
  for (int turn = 0;; turn++) {
    ssize_t n;
    size_t got = 0;
    int rc;
    switch (turn % 3) {
    case 0:
      rc = cio_stream_readexactly(t->r, buf, 1500, &got);
      take(t, buf, got);
      if (rc == CIO_ENODATA) {
        t->reader_saw_end = true;
        return 0;
      }
      if (rc < 0)
        return rc;
      break;
    case 1:
      n = cio_stream_readline(t->r, buf, sizeof buf);
      if (n < 0)
        return (int)n;
      take(t, buf, (size_t)n);
      if (n == 0 || buf[n - 1] != '\n') {
        t->reader_saw_end = true;
        return 0;
      }
      break;
    default:
      n = cio_stream_read(t->r, buf, 777);
      if (n < 0)
        return (int)n;
      take(t, buf, (size_t)n);
      if (n == 0) {
        t->reader_saw_end = true;
        return 0;
      }
    }
  }
}

static int main_transfer(void *arg, void **result) {
  (void)result;
  struct transfer *t = arg;
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  /* Small kernel buffers: the writer's queue fills and drain waits. */
  int small = 4096;
  CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  CHECK_EQ(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  cio_stream_opts o = {.limit = CIO_STREAM_DEFAULT_LIMIT,
                       .write_high_water = 4096,
                       .write_low_water = 1024};
  int rc = cio_open_connection_sock(&t->w, sv[0], &o);
  if (rc < 0)
    close(sv[0]);
  DEFER(t->w);
  int rc2 = cio_open_connection_sock(&t->r, sv[1], &o);
  if (rc2 < 0)
    close(sv[1]);
  DEFER(t->r);
  TRY(rc);
  TRY(rc2);
  cio_task *tw, *tr;
  TRY(test_spawn(&tw, writer, t));
  TRY(test_spawn(&tr, reader, t));
  TRY(cio_task_await(tw, NULL));
  TRY(cio_task_await(tr, NULL));
  return 0;
}

SCENARIO(socketpair_transfer) {
  struct transfer t = {0};
  CHECK_OUTCOME(test_run(main_transfer, &t));
  CHECK(t.got <= t.queued);
  if (t.reader_saw_end)
    CHECK_EQ(t.got, t.queued);
  if (!test_cancel_injected()) {
    CHECK(t.writer_done && t.reader_saw_end);
    CHECK_EQ(t.got, (size_t)CHUNK * CHUNKS);
  }
}

/* ---- a server with line-echo handlers, two clients ------------------- */

struct echo {
  int port;
  long lines_sent, lines_echoed, handlers_ended;
};

static int echo_handler(cio_stream *s, void *arg) {
  struct echo *e = arg;
  char line[128];
  int rc;
  for (;;) {
    ssize_t n = cio_stream_readline(s, line, sizeof line);
    if (n <= 0) {
      rc = (int)n;
      break;
    }
    rc = cio_stream_write(s, line, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      break;
  }
  e->handlers_ended++;
  /* A client that went away (it was the task cancelled) is no error. */
  if (rc == CIO_ECANCELED || rc == CIO_ECONNRESET || rc == CIO_EPIPE)
    rc = 0;
  return rc;
}

static int client(void *arg, void **result) {
  (void)result;
  struct echo *e = arg;
  cio_stream *s;
  int rc = cio_open_connection(&s, "127.0.0.1", e->port, NULL);
  if (rc < 0)
    return rc;
  for (int i = 0; i < 3 && rc == 0; i++) {
    char line[64], back[64];
    int len = snprintf(line, sizeof line, "line %d from %p\n", i, (void *)s);
    rc = cio_stream_write(s, line, (size_t)len);
    if (rc < 0)
      break;
    e->lines_sent++;
    ssize_t n = cio_stream_readline(s, back, sizeof back);
    if (n == 0)
      rc = CIO_ENODATA; /* the handler ended: it was cancelled */
    else if (n < 0)
      rc = (int)n;
    else {
      CHECK_EQ(n, len);
      CHECK(memcmp(back, line, (size_t)len) == 0);
      e->lines_echoed++;
    }
  }
  int crc = cio_stream_close(s);
  return rc != 0 ? rc : crc;
}

static int main_server(void *arg, void **result) {
  (void)result;
  struct echo *e = arg;
  cio_server *srv;
  TRY(cio_start_server(&srv, echo_handler, e, "127.0.0.1", 0, NULL));
  DEFER(srv);
  e->port = cio_server_port(srv);
  cio_task *c[2];
  for (int i = 0; i < 2; i++)
    TRY(test_spawn(&c[i], client, e));
  for (int i = 0; i < 2; i++) {
    int rc = cio_task_await(c[i], NULL);
    /* Its handler was the task cancelled: the server closed the
     * connection, with the client's line unread (a reset) or not. */
    if ((rc == CIO_ENODATA || rc == CIO_ECONNRESET || rc == CIO_EPIPE) &&
        test_cancel_injected())
      rc = 0;
    TRY(rc);
  }
  return 0;
}

SCENARIO(server_echo_clients) {
  struct echo e = {0};
  CHECK_OUTCOME(test_run(main_server, &e));
  CHECK(e.lines_echoed <= e.lines_sent);
  if (!test_cancel_injected()) {
    CHECK_EQ(e.lines_echoed, 6);
    CHECK_EQ(e.handlers_ended, 2);
  }
}

/* ---- a child's pipes: all written comes back through cat ------------ */

struct piped {
  cio_process *p;
  size_t sent, got;
  bool saw_end;
};

static int feed(void *arg, void **result) {
  (void)result;
  struct piped *pp = arg;
  cio_stream *in = cio_process_stdin(pp->p);
  char buf[4096];
  for (int c = 0; c < 4; c++) {
    for (size_t i = 0; i < sizeof buf; i++)
      buf[i] = (char)pattern(pp->sent + i);
    int rc = cio_stream_write(in, buf, sizeof buf);
    if (rc < 0)
      return rc;
    pp->sent += sizeof buf;
    rc = cio_stream_drain(in);
    if (rc < 0)
      return rc;
  }
  return cio_stream_close(in); /* end of file for cat */
}

static int main_pipe(void *arg, void **result) {
  (void)result;
  struct piped *pp = arg;
  const char *argv[] = {"cat", NULL};
  cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
                        .stdout_mode = CIO_STDIO_PIPE};
  TRY(cio_create_subprocess_exec(&pp->p, argv, &o));
  DEFER(pp->p);
  cio_task *f;
  TRY(test_spawn(&f, feed, pp));
  cio_stream *out = cio_process_stdout(pp->p);
  unsigned char buf[3000];
  for (;;) {
    ssize_t n = cio_stream_read(out, buf, sizeof buf);
    TRY_EQ(n < 0 ? n : 0, 0);
    for (ssize_t i = 0; i < n; i++)
      CHECK_EQ(buf[i], pattern(pp->got + (size_t)i));
    pp->got += (size_t)n;
    if (n == 0)
      break;
  }
  pp->saw_end = true;
  TRY(cio_task_await(f, NULL));
  int code;
  TRY(cio_process_wait(pp->p, &code));
  CHECK_EQ(code, 0);
  return 0;
}

SCENARIO(subprocess_pipes) {
  struct piped pp = {0};
  CHECK_OUTCOME(test_run(main_pipe, &pp));
  CHECK(pp.got <= pp.sent);
  if (!test_cancel_injected()) {
    CHECK(pp.saw_end);
    CHECK_EQ(pp.got, 4 * 4096);
  }
}
