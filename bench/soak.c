/* soak: a long run that must stay flat.  N connections do echo round
 * trips against a casyncio echo server in another process for S seconds;
 * every `interval` seconds the program samples both processes' resident
 * memory and open descriptors and the round trips done, prints a line and
 * appends it to a CSV file; at the end it draws the chart (gnuplot) and
 * fails (exit 1) if any round trip failed or either process's memory grew
 * by more than 5% after the warm-up.  Not a test: a program to run by
 * hand for minutes (CI runs it for 30 s with 1,000 connections).
 *
 *   soak [--connections N] [--seconds S] [--interval S] [--warmup S]
 *        [--csv PATH] [--chart PATH]
 *   soak --redraw [--connections N] [--seconds S] --csv PATH --chart PATH
 *        draws the chart of an earlier run again
 *
 * Defaults: 10,000 connections for 600 s, samples every 10 s, warm-up
 * 60 s (a third of the run when it is shorter than 600 s), soak.csv and soak.png.  Each
 * process needs N + some descriptors: the soft RLIMIT_NOFILE is raised to
 * the hard one, and the run refuses to start if that is not enough. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "casyncio.h"

struct opts {
  long conns;
  double seconds, interval, warmup;
  const char *csv, *chart;
  bool redraw; /* only draw the chart of an existing CSV */
};

struct sample {
  double t;
  long rss_client_kb, rss_server_kb;
  long fds_client, fds_server;
  unsigned long long trips;
  double trips_per_s;
  double cpu_client, cpu_server; /* % of one core over the interval */
  double load;                   /* the machine's 1-minute load average */
};

static struct opts opt = {10000, 600, 10, -1, "soak.csv", "soak.png", false};
static pid_t server_pid;
static int server_port;

/* ---- the server (a child process) --------------------------------------- */

static int echo_lines(cio_stream *s, void *arg) {
  (void)arg;
  char line[128];
  ssize_t n;
  while ((n = cio_stream_readline(s, line, sizeof line)) > 0) {
    int rc = cio_stream_write(s, line, (size_t)n);
    if (rc == 0)
      rc = cio_stream_drain(s);
    if (rc < 0)
      return rc;
  }
  return n < 0 && n != CIO_ECONNRESET ? (int)n : 0;
}

static void stop_serving(void *arg) {
  (void)!cio_server_close(arg); /* outside a task: starts the close */
}

static int serve(void *arg, void **result) {
  (void)result;
  int *report = arg;
  cio_server *srv;
  cio_server_opts o = {.backlog = 4096};
  int rc = cio_start_server(&srv, echo_lines, NULL, "127.0.0.1", 0, &o);
  if (rc < 0)
    return rc;
  int port = cio_server_port(srv);
  if (write(*report, &port, sizeof port) != sizeof port)
    return CIO_EIO;
  close(*report);
  rc = cio_loop_add_signal_handler(NULL, SIGTERM, stop_serving, srv);
  if (rc == 0)
    rc = cio_server_wait_closed(srv);
  (void)cio_loop_remove_signal_handler(NULL, SIGTERM);
  return rc;
}

static void start_server(void) {
  int fds[2];
  if (pipe(fds) != 0) {
    perror("soak: pipe");
    exit(2);
  }
  fflush(NULL);
  server_pid = fork();
  if (server_pid == 0) {
    close(fds[0]);
    int rc = cio_run(serve, &fds[1]);
    if (rc < 0)
      fprintf(stderr, "soak: server: %s\n", cio_strerror(rc));
    _exit(rc < 0);
  }
  close(fds[1]);
  if (server_pid < 0 ||
      read(fds[0], &server_port, sizeof server_port) != sizeof server_port) {
    fprintf(stderr, "soak: the server did not start\n");
    exit(2);
  }
  close(fds[0]);
}

/* ---- sampling ---------------------------------------------------------- */

static long rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
      break;
  if (f != NULL)
    fclose(f);
  return kb;
}

static long fd_count(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL)
    return -1;
  long n = -1; /* the directory's own descriptor */
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n - 2; /* "." and ".." */
}

/* CPU seconds (user + system) `pid` has used. */
static double cpu_seconds(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the name may hold spaces */
  unsigned long ut = 0, st = 0;
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                                 "%*u %lu %lu", &ut, &st) != 2)
    return 0;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double load_average(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f != NULL) {
    if (fscanf(f, "%lf", &l) != 1)
      l = -1;
    fclose(f);
  }
  return l;
}

/* ---- the clients --------------------------------------------------------- */

struct run {
  cio_semaphore *connecting; /* connects in flight */
  bool stop;
  long connected;
  unsigned long long trips;
  long failures;
  char first_failure[160];
  struct sample *samples;
  size_t nsamples, cap;
  FILE *csv;
  double t0;
  double cpu_client, cpu_server; /* CPU seconds at the last sample */
};

static void fail(struct run *r, long id, const char *what, int rc) {
  if (r->failures++ == 0)
    snprintf(r->first_failure, sizeof r->first_failure,
             "connection %ld: %s: %s", id, what, cio_strerror(rc));
}

struct conn {
  struct run *r;
  long id;
};

static int connection(void *arg, void **result) {
  (void)result;
  struct conn *c = arg;
  struct run *r = c->r;
  cio_stream *s;
  int rc = cio_semaphore_acquire(r->connecting);
  if (rc < 0)
    return rc;
  rc = cio_open_connection(&s, "127.0.0.1", server_port, NULL);
  (void)cio_semaphore_release(r->connecting);
  if (rc < 0) {
    fail(r, c->id, "connect", rc);
    return 0;
  }
  r->connected++;
  char out[64], back[64];
  for (unsigned long k = 0; !r->stop; k++) {
    int len = snprintf(out, sizeof out, "%ld %lu\n", c->id, k);
    rc = cio_stream_write(s, out, (size_t)len);
    ssize_t n = rc < 0 ? rc : cio_stream_readline(s, back, sizeof back);
    if (n != len || memcmp(out, back, (size_t)len) != 0) {
      fail(r, c->id, n < 0 ? "round trip" : "echo differs",
           n < 0 ? (int)n : CIO_EPROTO);
      break;
    }
    r->trips++;
  }
  r->connected--;
  (void)!cio_stream_close(s);
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void take_sample(struct run *r, unsigned long long *last_trips,
                        double *last_t) {
  double t = now();
  double cc = cpu_seconds(getpid()), cs = cpu_seconds(server_pid);
  struct sample s = {
      .t = t - r->t0,
      .rss_client_kb = rss_kb(getpid()),
      .rss_server_kb = rss_kb(server_pid),
      .fds_client = fd_count(getpid()),
      .fds_server = fd_count(server_pid),
      .trips = r->trips,
      .trips_per_s = (double)(r->trips - *last_trips) / (t - *last_t),
      .cpu_client = 100 * (cc - r->cpu_client) / (t - *last_t),
      .cpu_server = 100 * (cs - r->cpu_server) / (t - *last_t),
      .load = load_average(),
  };
  r->cpu_client = cc;
  r->cpu_server = cs;
  *last_trips = r->trips;
  *last_t = t;
  if (r->nsamples == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 64;
    r->samples = realloc(r->samples, r->cap * sizeof *r->samples);
    if (r->samples == NULL)
      abort();
  }
  r->samples[r->nsamples++] = s;
  printf("%5.0f s  client %6.1f MiB %5ld fds %3.0f%% cpu  server %6.1f MiB "
         "%5ld fds %3.0f%% cpu  %5ld conns  %11llu trips %7.0f/s  load "
         "%.1f\n",
         s.t, s.rss_client_kb / 1024.0, s.fds_client, s.cpu_client,
         s.rss_server_kb / 1024.0, s.fds_server, s.cpu_server, r->connected,
         s.trips, s.trips_per_s, s.load);
  fflush(stdout);
  fprintf(r->csv, "%.1f,%ld,%ld,%ld,%ld,%llu,%.0f,%.0f,%.0f,%.2f\n", s.t,
          s.rss_client_kb, s.rss_server_kb, s.fds_client, s.fds_server,
          s.trips, s.trips_per_s, s.cpu_client, s.cpu_server, s.load);
  fflush(r->csv);
}

static int sampler(void *arg, void **result) {
  (void)result;
  struct run *r = arg;
  unsigned long long last_trips = 0;
  double last_t = r->t0;
  r->cpu_client = cpu_seconds(getpid());
  r->cpu_server = cpu_seconds(server_pid);
  for (int i = 1; !r->stop; i++) {
    double due = r->t0 + i * opt.interval;
    int rc = cio_sleep(due - now());
    if (rc < 0)
      return rc;
    take_sample(r, &last_trips, &last_t);
    if (now() - r->t0 >= opt.seconds - 1e-3)
      r->stop = true;
  }
  return 0;
}

static int client_main(void *arg, void **result) {
  (void)result;
  struct run *r = arg;
  int rc = cio_semaphore_new(&r->connecting, 256);
  if (rc < 0)
    return rc;
  struct conn *conns = calloc((size_t)opt.conns, sizeof *conns);
  cio_task **tasks = calloc((size_t)opt.conns, sizeof *tasks);
  if (conns == NULL || tasks == NULL)
    return CIO_ENOMEM;
  r->t0 = now();
  for (long i = 0; i < opt.conns && rc == 0; i++) {
    conns[i] = (struct conn){r, i};
    rc = cio_create_task(NULL, &tasks[i], connection, &conns[i], NULL);
  }
  cio_task *samp;
  if (rc == 0)
    rc = cio_create_task(NULL, &samp, sampler, r, NULL);
  if (rc == 0)
    rc = cio_task_join(samp, NULL);
  r->stop = true;
  for (long i = 0; i < opt.conns; i++)
    if (tasks[i] != NULL)
      (void)!cio_task_join(tasks[i], NULL);
  cio_semaphore_free(r->connecting);
  free(tasks);
  free(conns);
  return rc;
}

/* ---- verdict and chart ----------------------------------------------------- */

/* The largest growth of a process's RSS after the warm-up, relative to
 * its first sample after it. */
static double growth(const struct run *r, bool server) {
  long base = -1;
  double worst = 0;
  for (size_t i = 0; i < r->nsamples; i++) {
    const struct sample *s = &r->samples[i];
    long kb = server ? s->rss_server_kb : s->rss_client_kb;
    if (s->t < opt.warmup - 1e-3 || kb <= 0)
      continue;
    if (base < 0)
      base = kb;
    double g = (double)(kb - base) / (double)base;
    if (g > worst)
      worst = g;
  }
  return worst;
}

static void draw_chart(void) {
  FILE *g = popen("gnuplot 2>/dev/null", "w");
  if (g == NULL)
    return;
  fprintf(g,
          "set terminal pngcairo size 900,480 font ',10'\n"
          "set output '%s'\n"
          "set datafile separator ','\n"
          "set title 'soak: %ld connections, echo round trips, %.0f s'\n"
          "set xlabel 'seconds'\nset ylabel 'resident memory (MiB)'\n"
          "set y2label 'round trips per second'\nset y2tics\n"
          "set xrange [0:%.0f]\nset yrange [0:*]\nset y2range [0:*]\n"
          "set offsets 0, 0, graph 0.35, 0\nset key bottom right\n"
          "set grid\n"
          "plot '%s' skip 1 using 1:($2/1024) with linespoints title "
          "'client RSS', '' skip 1 using 1:($3/1024) with linespoints title "
          "'server RSS', '' skip 1 using 1:7 axes x1y2 with lines lw 2 "
          "title 'round trips/s'\n",
          opt.chart, opt.conns, opt.seconds, opt.seconds, opt.csv);
  if (pclose(g) == 0)
    printf("chart: %s\n", opt.chart);
}

static void parse(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--redraw") == 0) {
      opt.redraw = true;
      continue;
    }
    if (v == NULL)
      goto usage;
    if (strcmp(a, "--connections") == 0)
      opt.conns = atol(v);
    else if (strcmp(a, "--seconds") == 0)
      opt.seconds = atof(v);
    else if (strcmp(a, "--interval") == 0)
      opt.interval = atof(v);
    else if (strcmp(a, "--warmup") == 0)
      opt.warmup = atof(v);
    else if (strcmp(a, "--csv") == 0)
      opt.csv = v;
    else if (strcmp(a, "--chart") == 0)
      opt.chart = v;
    else
      goto usage;
    i++;
  }
  if (opt.conns > 0 && opt.seconds > 0 && opt.interval > 0)
    return;
usage:
  fprintf(stderr, "usage: soak [--connections N] [--seconds S] [--interval "
                  "S] [--warmup S] [--csv PATH] [--chart PATH] [--redraw]\n");
  exit(2);
}

int main(int argc, char **argv) {
  parse(argc, argv);
  if (opt.redraw) {
    draw_chart();
    return 0;
  }
  if (opt.warmup < 0)
    opt.warmup = opt.seconds >= 600 ? 60 : opt.seconds / 3;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if ((long)rl.rlim_cur < opt.conns + 64) {
    fprintf(stderr, "soak: %ld connections need %ld descriptors per "
            "process; the limit is %ld (ulimit -n)\n", opt.conns,
            opt.conns + 64, (long)rl.rlim_cur);
    return 2;
  }
  struct run r = {0};
  r.csv = fopen(opt.csv, "w");
  if (r.csv == NULL) {
    perror(opt.csv);
    return 2;
  }
  fprintf(r.csv, "seconds,client_rss_kb,server_rss_kb,client_fds,"
                 "server_fds,round_trips,round_trips_per_s,client_cpu_pct,"
                 "server_cpu_pct,load_average\n");
  start_server();
  printf("soak: %ld connections for %.0f s against a casyncio echo server "
         "(pid %d, port %d), samples every %.0f s, warm-up %.0f s\n",
         opt.conns, opt.seconds, (int)server_pid, server_port, opt.interval,
         opt.warmup);
  fflush(stdout);
  int rc = cio_run(client_main, &r);
  kill(server_pid, SIGTERM);
  int status = 0;
  waitpid(server_pid, &status, 0);
  fclose(r.csv);
  double gc = growth(&r, false), gs = growth(&r, true);
  printf("soak: %llu round trips, %ld failed; RSS growth after warm-up: "
         "client %+.1f%%, server %+.1f%%\n", r.trips, r.failures, 100 * gc,
         100 * gs);
  if (r.failures > 0)
    printf("soak: first failure: %s\n", r.first_failure);
  draw_chart();
  bool ok = rc == 0 && r.failures == 0 && gc <= 0.05 && gs <= 0.05 &&
            WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (rc < 0)
    printf("soak: client: %s\n", cio_strerror(rc));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    printf("soak: the server did not exit cleanly (status %d)\n", status);
  printf("soak: %s\n", ok ? "PASS" : "FAIL");
  free(r.samples);
  return ok ? 0 : 1;
}
