/* casyncio-ps: print the task dump of a running casyncio program, as
 * `python -m asyncio ps PID` does for asyncio.
 *
 *   casyncio-ps [--tree] [--timeout SECONDS] PID
 *
 * The program must have opted in (cio_loop_opts.inspect, or CIO_INSPECT=1
 * in its environment): each of its loops then serves its dump on a Unix
 * socket named <pid>-<thread id>.sock in $XDG_RUNTIME_DIR/casyncio (else
 * /tmp/casyncio-<uid>).  This asks every loop of PID and prints each dump
 * (with --tree, only the await graphs).  A loop answers between two of
 * its polls; one that does not answer within the timeout (2 s) is stuck,
 * and said to be.
 *
 * Exit status: 0 when at least one loop answered, 1 otherwise, 2 for a
 * usage error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read the whole answer of the loop at `path`; NULL (errno set) if it
 * could not be had within `timeout` seconds. */
static char *ask(const char *path, double timeout) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if (len >= sizeof sun.sun_path) {
    close(fd);
    errno = ENAMETOOLONG;
    return NULL;
  }
  memcpy(sun.sun_path, path, len + 1);
  if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return NULL;
  }
  len = 0;
  size_t cap = 65536;
  char *buf = malloc(cap);
  double deadline = now_s() + timeout;
  while (buf != NULL) {
    int left_ms = (int)((deadline - now_s()) * 1000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (left_ms <= 0 || poll(&p, 1, left_ms) == 0) {
      free(buf);
      buf = NULL;
      errno = ETIMEDOUT;
      break;
    }
    if (len + 4096 + 1 > cap) {
      char *grown = realloc(buf, cap *= 2);
      if (grown == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  if (buf != NULL)
    buf[len] = '\0';
  return buf;
}

/* Print `dump`, or with `tree_only` its first line and its await graph. */
static void print_dump(const char *dump, bool tree_only) {
  if (!tree_only) {
    fputs(dump, stdout);
    return;
  }
  const char *eol = strchr(dump, '\n');
  fwrite(dump, 1, eol ? (size_t)(eol - dump + 1) : strlen(dump), stdout);
  const char *graph = strstr(dump, "\nawait graph:\n");
  if (graph != NULL)
    fputs(graph + strlen("\nawait graph:\n"), stdout);
}

/* Ask every socket of `pid` in `dir`; returns how many answered. */
static int ask_dir(const char *dir, long pid, bool tree_only, double timeout,
                   int *found) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return 0;
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%ld-", pid);
  int answered = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || n < 5 ||
        strcmp(e->d_name + n - 5, ".sock") != 0)
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    int tid = atoi(e->d_name + strlen(prefix));
    (*found)++;
    char *dump = ask(path, timeout);
    if (dump != NULL) {
      if (answered > 0)
        putchar('\n');
      print_dump(dump, tree_only);
      free(dump);
      answered++;
    } else if (errno == ETIMEDOUT) {
      fprintf(stderr,
              "casyncio-ps: the loop of thread %d did not answer within "
              "%.1f s: it is stuck in a task or callback (its stall report, "
              "on the program's stderr, shows where)\n",
              tid, timeout);
    } else if (errno == ECONNREFUSED) {
      fprintf(stderr,
              "casyncio-ps: %s: nobody listens (a loop that ended "
              "without closing?)\n",
              path);
    } else {
      fprintf(stderr, "casyncio-ps: %s: %s\n", path, strerror(errno));
    }
  }
  closedir(d);
  return answered;
}

static void usage(FILE *out) {
  fprintf(out, "usage: casyncio-ps [--tree] [--timeout SECONDS] PID\n"
               "Print the tasks of a running casyncio program that opted in "
               "(cio_loop_opts.inspect,\nor CIO_INSPECT=1 in its "
               "environment): each task's state, age, what it waits on\n"
               "and its stack, then the await graph (--tree: only the "
               "graph).\n");
}

int main(int argc, char **argv) {
  bool tree_only = false;
  double timeout = 2.0;
  long pid = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tree") == 0) {
      tree_only = true;
    } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      timeout = atof(argv[++i]);
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      char *end;
      pid = strtol(argv[i], &end, 10);
      if (*end != '\0' || pid <= 0) {
        usage(stderr);
        return 2;
      }
    }
  }
  if (pid <= 0 || timeout <= 0) {
    usage(stderr);
    return 2;
  }
  char dirs[2][4096];
  int ndirs = 0;
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg != NULL && *xdg == '/')
    snprintf(dirs[ndirs++], sizeof dirs[0], "%s/casyncio", xdg);
  snprintf(dirs[ndirs++], sizeof dirs[0], "/tmp/casyncio-%u",
           (unsigned)getuid());
  int found = 0, answered = 0;
  for (int i = 0; i < ndirs; i++)
    answered += ask_dir(dirs[i], pid, tree_only, timeout, &found);
  if (found == 0)
    fprintf(stderr,
            "casyncio-ps: process %ld has no casyncio loop to ask (it must "
            "run with CIO_INSPECT=1 or cio_loop_opts.inspect, as the same "
            "user)\n",
            pid);
  return answered > 0 ? 0 : 1;
}
