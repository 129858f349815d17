/* TCP echo: a casyncio server process and a casyncio load client process.
 *
 *   bench_echo [round_trips] [connections] [message_bytes <= 4096]
 *
 * The server (forked child) runs one task per connection echoing what it
 * reads.  The client opens `connections` connections and runs ping-pong
 * on each (write a message, readexactly the echo) until `round_trips` in
 * all.  Prints round trips per second and the server's CPU time (user +
 * system, from getrusage) per round trip:
 *
 *   echo_rtt <rt/s> ops/s <ns> ns/op conns=C msg=B server_cpu_us_per_rt=X
 *            server_user_us_per_rt=U server_sys_us_per_rt=S
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "casyncio.h"

static long total_rt = 200000;
static int nconns = 50;
static size_t msg_bytes = 64;

/* ---- server ------------------------------------------------------------ */

/* The process's CPU time so far: [0] user, [1] system, in seconds. */
static void cpu_seconds(double out[2]) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  out[0] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  out[1] = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct server_app {
  cio_server *srv;
  int finished;
  int report_fd;
  double cpu0[2];
};

static int echo(cio_stream *s, void *arg) {
  struct server_app *app = arg;
  char buf[16384];
  ssize_t n;
  while ((n = cio_stream_read(s, buf, sizeof buf)) > 0) {
    int rc = cio_stream_write(s, buf, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
  if (++app->finished == nconns) {
    double cpu[2];
    cpu_seconds(cpu);
    cpu[0] -= app->cpu0[0];
    cpu[1] -= app->cpu0[1];
    if (write(app->report_fd, cpu, sizeof cpu) != sizeof cpu)
      return CIO_EIO;
    return cio_server_close(app->srv);
  }
  return (int)n;
}

static int server_main(void *arg, void **result) {
  (void)result;
  struct server_app *app = arg;
  int port_fd = app->finished;
  app->finished = 0;
  BENCH_CHECK(cio_start_server(&app->srv, echo, app, "127.0.0.1", 0,
                               &(cio_server_opts){.backlog = 1024}));
  int port = cio_server_port(app->srv);
  cpu_seconds(app->cpu0);
  if (write(port_fd, &port, sizeof port) != sizeof port)
    return CIO_EIO;
  return cio_server_serve_forever(app->srv);
}

/* ---- client ------------------------------------------------------------ */

static int port;
static long remaining;

static int pinger(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_stream *s;
  int rc = cio_open_connection(&s, "127.0.0.1", port, NULL);
  if (rc < 0)
    return rc;
  char out[4096], in[4096];
  memset(out, 'x', msg_bytes);
  while (rc == 0 && remaining > 0) {
    remaining--;
    rc = cio_stream_write(s, out, msg_bytes);
    if (rc == 0)
      rc = cio_stream_readexactly(s, in, msg_bytes, NULL);
  }
  int crc = cio_stream_close(s);
  return rc < 0 ? rc : crc;
}

static int client_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  remaining = total_rt;
  cio_call *calls = calloc((size_t)nconns, sizeof *calls);
  for (int i = 0; i < nconns; i++)
    calls[i] = (cio_call){pinger, NULL};
  int rc = cio_gather_calls(calls, (size_t)nconns, NULL, NULL, false);
  free(calls);
  return rc;
}

int main(int argc, char **argv) {
  total_rt = bench_arg(argc, argv, 1, total_rt);
  nconns = (int)bench_arg(argc, argv, 2, nconns);
  msg_bytes = (size_t)bench_arg(argc, argv, 3, (long)msg_bytes);
  if (msg_bytes > 4096)
    msg_bytes = 4096;
  int port_pipe[2], cpu_pipe[2];
  if (pipe(port_pipe) < 0 || pipe(cpu_pipe) < 0)
    return 1;
  pid_t pid = fork();
  if (pid == 0) {
    struct server_app app = {.finished = port_pipe[1],
                             .report_fd = cpu_pipe[1]};
    _exit(cio_run(server_main, &app) == 0 ? 0 : 1);
  }
  if (read(port_pipe[0], &port, sizeof port) != sizeof port)
    return 1;
  uint64_t t0 = bench_now_ns();
  BENCH_CHECK(cio_run(client_main, NULL));
  uint64_t ns = bench_now_ns() - t0;
  double cpu[2] = {0, 0};
  if (read(cpu_pipe[0], cpu, sizeof cpu) != sizeof cpu)
    return 1;
  int st;
  waitpid(pid, &st, 0);
  double per_rt = 1e6 / (double)total_rt;
  bench_report("echo_rtt", (double)total_rt, (double)ns,
               "conns=%d msg=%zu server_cpu_us_per_rt=%.2f "
               "server_user_us_per_rt=%.3f server_sys_us_per_rt=%.2f",
               nconns, msg_bytes, (cpu[0] + cpu[1]) * per_rt, cpu[0] * per_rt,
               cpu[1] * per_rt);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
