/* TLS against other implementations, each started by the test on
 * 127.0.0.1 and stopped after: `openssl s_server` and `openssl s_client`,
 * and Debian's /usr/bin/python3 (ssl + asyncio) as server and as client,
 * plus a Python peer that ends the connection without close_notify; the
 * system's default CA store (through SSL_CERT_FILE), and TLS 1.1 and 1.0
 * peers refused by default. */
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "casyncio.h"
#include "casyncio/tls.h"
#include "test.h"
#include "tls_certs.h"

#define OPENSSL "/usr/bin/openssl"
#define PYTHON "/usr/bin/python3"

static void need(const char *prog) {
  if (access(prog, X_OK) != 0)
    test_skip("%s is not installed (scripts/deps.sh test installs it)", prog);
}

static void run_main(cio_task_fn fn, void *arg) {
  tls_certs_make();
  test_run_main(fn, arg);
  tls_certs_remove();
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_EQ(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  socklen_t len = sizeof sin;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  close(fd);
  return ntohs(sin.sin_port);
}

static cio_tls_context *client_ctx(void) {
  cio_tls_context *ctx;
  CHECK_EQ(cio_tls_context_new(&ctx, CIO_TLS_CLIENT), 0);
  CHECK_EQ(cio_tls_context_load_verify_locations(ctx, tls_path("ca.pem"), NULL),
           0);
  return ctx;
}

static cio_tls_context *server_ctx(void) {
  cio_tls_context *ctx;
  CHECK_EQ(cio_tls_context_new(&ctx, CIO_TLS_SERVER), 0);
  CHECK_EQ(cio_tls_context_load_cert_chain(ctx, tls_path("server.pem"),
                                           tls_path("server.key"), NULL, NULL),
           0);
  return ctx;
}

/* Connect with TLS, retrying while the peer starts up. */
static cio_stream *connect_retry(int port, cio_tls_context *ctx) {
  char err[256];
  cio_tls_opts o = {.context = ctx,
                    .shutdown_timeout = 5,
                    .error_buf = err,
                    .error_cap = sizeof err};
  for (int i = 0; i < 200; i++) {
    cio_stream *s;
    int rc = cio_tls_open_connection(&s, "localhost", port, NULL, &o);
    if (rc == 0)
      return s;
    if (rc != CIO_ECONNREFUSED)
      test_fail(__FILE__, __LINE__, "connect: %s (%s)", cio_err_name(rc), err);
    CHECK_EQ(cio_sleep(0.05), 0);
  }
  test_fail(__FILE__, __LINE__, "the peer never listened");
}

/* ---- openssl s_server / s_client -------------------------------------------- */

static int s_server_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port = free_port();
  char accept[32];
  snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
  const char *argv[] = {OPENSSL, "s_server", "-quiet", "-naccept", "1",
                        "-rev", "-accept", accept, "-cert",
                        tls_path("server.pem"), "-key",
                        tls_path("server.key"), NULL};
  /* tls_path keeps 4 results: the last two are still valid here. */
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(
               &p, argv,
               &(cio_process_opts){.stdout_mode = CIO_STDIO_DEVNULL,
                                   .stdin_mode = CIO_STDIO_DEVNULL}),
           0);
  cio_tls_context *ctx = client_ctx();
  cio_stream *s = connect_retry(port, ctx);
  CHECK_STR(cio_tls_version(s), "TLSv1.3");
  /* -rev: each line comes back reversed. */
  CHECK_EQ(cio_stream_write(s, "casyncio\n", 9), 0);
  char line[64];
  ssize_t n = cio_stream_readline(s, line, sizeof line);
  CHECK_EQ(n, 9);
  CHECK(memcmp(line, "oicnysac\n", 9) == 0);
  CHECK_EQ(cio_stream_close(s), 0); /* close_notify both ways */
  int status;
  CHECK_EQ(cio_process_wait(p, &status), 0);
  CHECK_EQ(cio_process_close(p), 0);
  cio_tls_context_free(ctx);
  return 0;
}

TEST(client_talks_to_openssl_s_server) {
  need(OPENSSL);
  run_main(s_server_main, NULL);
}

/* Echo one line, then close (s_client -quiet ends when the server
 * closes). */
static int line_echo_handler(cio_stream *s, void *arg) {
  (void)arg;
  char line[256];
  ssize_t n = cio_stream_readline(s, line, sizeof line);
  if (n > 0) {
    char out[300];
    int k = snprintf(out, sizeof out, "%s got %.*s", cio_tls_version(s),
                     (int)n, line);
    CHECK_EQ(cio_stream_write(s, out, (size_t)k), 0);
  }
  return cio_stream_close(s);
}

static int s_client_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *ctx = server_ctx();
  cio_server *srv;
  CHECK_EQ(cio_tls_start_server(&srv, line_echo_handler, NULL, "127.0.0.1", 0,
                                NULL, &(cio_tls_opts){.context = ctx}),
           0);
  char connect[32];
  snprintf(connect, sizeof connect, "127.0.0.1:%d", cio_server_port(srv));
  const char *argv[] = {OPENSSL, "s_client", "-quiet", "-verify_return_error",
                        "-connect", connect, "-servername", "localhost",
                        "-verify_hostname", "localhost", "-CAfile",
                        tls_path("ca.pem"), NULL};
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(
               &p, argv,
               &(cio_process_opts){.stdin_mode = CIO_STDIO_PIPE,
                                   .stdout_mode = CIO_STDIO_PIPE,
                                   .stderr_mode = CIO_STDIO_DEVNULL}),
           0);
  void *out;
  size_t len;
  CHECK_EQ(cio_process_communicate(p, "hello\n", 6, &out, &len, NULL, NULL), 0);
  const char *want = "TLSv1.3 got hello\n";
  if (len != strlen(want) || memcmp(out, want, len) != 0)
    test_fail(__FILE__, __LINE__, "s_client printed \"%.*s\"", (int)len,
              (char *)out);
  free(out);
  int status;
  CHECK_EQ(cio_process_returncode(p, &status), 0);
  CHECK_EQ(status, 0);
  CHECK_EQ(cio_process_close(p), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(ctx);
  return 0;
}

TEST(server_talks_to_openssl_s_client) {
  need(OPENSSL);
  run_main(s_client_main, NULL);
}

/* ---- the system's default CAs ------------------------------------------------ */

/* A client context trusts the system's default CAs (as
 * ssl.create_default_context does): OpenSSL finds them through
 * SSL_CERT_FILE when it is set.  Without it the test CA is unknown and
 * the handshake fails; with it pointing at the test CA a fresh context
 * (no load_verify_locations) connects, and so does an older context
 * after cio_tls_context_load_default_certs.  Each case is its own
 * process, so setting the environment here touches no other test. */
static int default_cas_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  unsetenv("SSL_CERT_FILE");
  unsetenv("SSL_CERT_DIR");
  cio_tls_context *sctx = server_ctx(), *before;
  cio_server *srv;
  CHECK_EQ(cio_tls_start_server(&srv, line_echo_handler, NULL, "127.0.0.1", 0,
                                NULL, &(cio_tls_opts){.context = sctx}),
           0);
  int port = cio_server_port(srv);
  char err[256];
  cio_tls_opts o = {.error_buf = err, .error_cap = sizeof err};
  cio_stream *s;
  /* The system's store does not know the test CA. */
  CHECK_EQ(cio_tls_context_new(&before, CIO_TLS_CLIENT), 0);
  o.context = before;
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL, &o),
           CIO_ECERT);
  CHECK(strstr(err, "unable to get local issuer certificate") != NULL);
  /* The default store is read when a context is made... */
  CHECK_EQ(setenv("SSL_CERT_FILE", tls_path("ca.pem"), 1), 0);
  cio_tls_context *fresh;
  CHECK_EQ(cio_tls_context_new(&fresh, CIO_TLS_CLIENT), 0);
  o.context = fresh;
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL, &o), 0);
  CHECK_EQ(cio_stream_write(s, "hi\n", 3), 0);
  char line[64];
  CHECK(cio_stream_readline(s, line, sizeof line) > 0);
  CHECK_EQ(cio_stream_close(s), 0);
  /* ... and again by load_default_certs. */
  CHECK_EQ(cio_tls_context_load_default_certs(before), 0);
  o.context = before;
  CHECK_EQ(cio_tls_open_connection(&s, "localhost", port, NULL, &o), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(before);
  cio_tls_context_free(fresh);
  cio_tls_context_free(sctx);
  return 0;
}

TEST(client_context_trusts_the_default_ca_store) {
  run_main(default_cas_main, NULL);
}

/* ---- TLS 1.1 and older are refused -------------------------------------------- */

/* Security level 0 lets OpenSSL speak TLS 1.1 at all (its SHA-1
 * signatures are refused from level 1 up): both ends use it, so that only
 * the context's minimum version (TLS 1.2) stands in the way. */
#define SECLEVEL0 "DEFAULT:@SECLEVEL=0"

static int old_server_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  int port = free_port();
  char accept[32];
  snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
  const char *argv[] = {OPENSSL, "s_server", "-quiet", "-tls1_1", "-cipher",
                        SECLEVEL0, "-accept", accept, "-cert",
                        tls_path("server.pem"), "-key",
                        tls_path("server.key"), NULL};
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(
               &p, argv,
               &(cio_process_opts){.stdout_mode = CIO_STDIO_DEVNULL,
                                   .stderr_mode = CIO_STDIO_DEVNULL,
                                   .stdin_mode = CIO_STDIO_DEVNULL}),
           0);
  cio_tls_context *ctx = client_ctx();
  CHECK_EQ(cio_tls_context_set_ciphers(ctx, SECLEVEL0, NULL), 0);
  char err[256] = "";
  cio_tls_opts o = {.context = ctx, .error_buf = err, .error_cap = sizeof err};
  int rc = CIO_ECONNREFUSED;
  for (int i = 0; i < 200 && rc == CIO_ECONNREFUSED; i++) {
    cio_stream *s;
    rc = cio_tls_open_connection(&s, "localhost", port, NULL, &o);
    if (rc == 0)
      test_fail(__FILE__, __LINE__, "a TLS 1.1 server was accepted (%s)",
                cio_tls_version(s));
    if (rc == CIO_ECONNREFUSED)
      CHECK_EQ(cio_sleep(0.05), 0);
  }
  if (rc != CIO_ETLS && rc != CIO_ECONNRESET)
    test_fail(__FILE__, __LINE__, "connect: %s (%s)", cio_err_name(rc), err);
  CHECK_EQ(cio_process_kill(p), 0);
  int status;
  CHECK_EQ(cio_process_wait(p, &status), 0);
  CHECK_EQ(cio_process_close(p), 0);
  cio_tls_context_free(ctx);
  return 0;
}

TEST(client_refuses_a_tls_1_1_server) {
  need(OPENSSL);
  run_main(old_server_main, NULL);
}

static int old_client_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *ctx = server_ctx();
  CHECK_EQ(cio_tls_context_set_ciphers(ctx, SECLEVEL0, NULL), 0);
  cio_server *srv;
  CHECK_EQ(cio_tls_start_server(&srv, line_echo_handler, NULL, "127.0.0.1", 0,
                                NULL, &(cio_tls_opts){.context = ctx}),
           0);
  char connect[32];
  snprintf(connect, sizeof connect, "127.0.0.1:%d", cio_server_port(srv));
  for (int v = 0; v < 2; v++) {
    const char *argv[] = {OPENSSL, "s_client", "-quiet",
                          v == 0 ? "-tls1_1" : "-tls1", "-cipher", SECLEVEL0,
                          "-connect", connect, "-CAfile", tls_path("ca.pem"),
                          NULL};
    cio_process *p;
    CHECK_EQ(cio_create_subprocess_exec(
                 &p, argv,
                 &(cio_process_opts){.stdin_mode = CIO_STDIO_PIPE,
                                     .stdout_mode = CIO_STDIO_PIPE,
                                     .stderr_mode = CIO_STDIO_DEVNULL}),
             0);
    void *out;
    size_t len;
    CHECK_EQ(cio_process_communicate(p, "hello\n", 6, &out, &len, NULL, NULL),
             0);
    if (len != 0)
      test_fail(__FILE__, __LINE__, "s_client %s was served: \"%.*s\"",
                argv[3], (int)len, (char *)out);
    free(out);
    int status;
    CHECK_EQ(cio_process_returncode(p, &status), 0);
    CHECK(status != 0);
    CHECK_EQ(cio_process_close(p), 0);
  }
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(ctx);
  return 0;
}

TEST(server_refuses_tls_1_1_and_1_0_clients) {
  need(OPENSSL);
  run_main(old_client_main, NULL);
}

/* ---- CPython ssl + asyncio ------------------------------------------------- */

/* asyncio server: uppercases one line, then closes (close_notify). */
static const char *py_server =
    "import asyncio, ssl, sys\n"
    "d = sys.argv[1]\n"
    "ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)\n"
    "ctx.load_cert_chain(d + '/server.pem', d + '/server.key')\n"
    "async def handle(r, w):\n"
    "    line = await r.readline()\n"
    "    w.write(line.upper())\n"
    "    await w.drain()\n"
    "    w.close()\n"
    "    await w.wait_closed()\n"
    "    srv.close()\n"
    "async def main():\n"
    "    global srv\n"
    "    srv = await asyncio.start_server(handle, '127.0.0.1', 0, ssl=ctx)\n"
    "    print(srv.sockets[0].getsockname()[1], flush=True)\n"
    "    async with srv:\n"
    "        try:\n"
    "            await srv.serve_forever()\n"
    "        except asyncio.CancelledError:\n"
    "            pass\n"
    "asyncio.run(main())\n";

static int py_server_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  const char *argv[] = {PYTHON, "-c", py_server, tls_dir, NULL};
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(
               &p, argv, &(cio_process_opts){.stdout_mode = CIO_STDIO_PIPE}),
           0);
  char line[64];
  CHECK(cio_stream_readline(cio_process_stdout(p), line, sizeof line) > 0);
  int port = atoi(line);
  CHECK(port > 0);
  cio_tls_context *ctx = client_ctx();
  cio_stream *s = connect_retry(port, ctx);
  CHECK_EQ(cio_stream_write(s, "hello asyncio\n", 14), 0);
  ssize_t n = cio_stream_readline(s, line, sizeof line);
  CHECK_EQ(n, 14);
  CHECK(memcmp(line, "HELLO ASYNCIO\n", 14) == 0);
  /* asyncio's close sent close_notify: a clean end of file. */
  CHECK_EQ(cio_stream_read(s, line, sizeof line), 0);
  CHECK_EQ(cio_stream_close(s), 0);
  int status;
  CHECK_EQ(cio_process_wait(p, &status), 0);
  CHECK_EQ(status, 0);
  CHECK_EQ(cio_process_close(p), 0);
  cio_tls_context_free(ctx);
  return 0;
}

TEST(client_talks_to_python_asyncio_server) {
  need(PYTHON);
  run_main(py_server_main, NULL);
}

/* asyncio client: sends a line, prints the answer. */
static const char *py_client =
    "import asyncio, ssl, sys\n"
    "d, port = sys.argv[1], int(sys.argv[2])\n"
    "ctx = ssl.create_default_context(cafile=d + '/ca.pem')\n"
    "async def main():\n"
    "    r, w = await asyncio.open_connection('127.0.0.1', port, ssl=ctx,\n"
    "                                         server_hostname='localhost')\n"
    "    w.write(b'from python\\n')\n"
    "    print((await r.readline()).decode(), end='')\n"
    "    print(repr(await r.read()))\n"
    "    w.close()\n"
    "    await w.wait_closed()\n"
    "asyncio.run(main())\n";

static int py_client_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_tls_context *ctx = server_ctx();
  cio_server *srv;
  CHECK_EQ(cio_tls_start_server(&srv, line_echo_handler, NULL, "127.0.0.1", 0,
                                NULL, &(cio_tls_opts){.context = ctx}),
           0);
  char port[16];
  snprintf(port, sizeof port, "%d", cio_server_port(srv));
  const char *argv[] = {PYTHON, "-c", py_client, tls_dir, port, NULL};
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(
               &p, argv, &(cio_process_opts){.stdout_mode = CIO_STDIO_PIPE}),
           0);
  void *out;
  size_t len;
  CHECK_EQ(cio_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
  /* The answer, then b'' (our close_notify is a clean end of file). */
  const char *want = "TLSv1.3 got from python\nb''\n";
  if (len != strlen(want) || memcmp(out, want, len) != 0)
    test_fail(__FILE__, __LINE__, "python printed \"%.*s\"", (int)len,
              (char *)out);
  free(out);
  int status;
  CHECK_EQ(cio_process_returncode(p, &status), 0);
  CHECK_EQ(status, 0);
  CHECK_EQ(cio_process_close(p), 0);
  CHECK_EQ(cio_server_close(srv), 0);
  cio_tls_context_free(ctx);
  return 0;
}

TEST(server_talks_to_python_asyncio_client) {
  need(PYTHON);
  run_main(py_client_main, NULL);
}

/* A plain ssl server that sends a little and closes the socket without
 * close_notify (SSLSocket.close() without unwrap()). */
static const char *py_truncating =
    "import socket, ssl, sys\n"
    "d = sys.argv[1]\n"
    "ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)\n"
    "ctx.load_cert_chain(d + '/server.pem', d + '/server.key')\n"
    "ls = socket.create_server(('127.0.0.1', 0))\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "conn, _ = ls.accept()\n"
    "s = ctx.wrap_socket(conn, server_side=True)\n"
    "s.sendall(b'partial')\n"
    "s.recv(1)\n"
    "s.close()\n";

static int truncation_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  const char *argv[] = {PYTHON, "-c", py_truncating, tls_dir, NULL};
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(
               &p, argv, &(cio_process_opts){.stdout_mode = CIO_STDIO_PIPE}),
           0);
  char line[64];
  CHECK(cio_stream_readline(cio_process_stdout(p), line, sizeof line) > 0);
  cio_tls_context *ctx = client_ctx();
  cio_stream *s = connect_retry(atoi(line), ctx);
  CHECK_EQ(cio_stream_readexactly(s, line, 7, NULL), 0);
  CHECK(memcmp(line, "partial", 7) == 0);
  CHECK_EQ(cio_stream_write(s, "!", 1), 0);
  void *data;
  size_t len;
  CHECK_EQ(cio_stream_read_all(s, &data, &len), CIO_ETLS);
  CHECK(strstr(cio_tls_error_reason(s), "without close_notify") != NULL);
  CHECK_EQ(cio_stream_close(s), 0);
  int status;
  CHECK_EQ(cio_process_wait(p, &status), 0);
  CHECK_EQ(cio_process_close(p), 0);
  cio_tls_context_free(ctx);
  return 0;
}

TEST(peer_truncating_without_close_notify_gives_a_clear_error) {
  need(PYTHON);
  run_main(truncation_main, NULL);
}
