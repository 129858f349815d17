/* See pg_cluster.h.  Runs PostgreSQL's own tools (initdb, pg_ctl) with
 * the shell; each command's output goes to the cluster's log. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pg_cluster.h"
#include "test.h"

static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int shell(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return st == 0 ? 0 : -1;
}

/* The newest /usr/lib/postgresql/<v>/bin holding initdb, 15 first. */
static bool find_bindir(char *out, size_t cap) {
  if (access("/usr/lib/postgresql/15/bin/initdb", X_OK) == 0) {
    snprintf(out, cap, "/usr/lib/postgresql/15/bin");
    return true;
  }
  glob_t g;
  bool found = false;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 &&
      g.gl_pathc > 0) {
    snprintf(out, cap, "%s", g.gl_pathv[g.gl_pathc - 1]);
    char *slash = strrchr(out, '/');
    *slash = '\0';
    found = true;
  }
  globfree(&g);
  return found;
}

/* As root, the unprivileged user to run the server as. */
static bool pick_user(char *out, size_t cap) {
  if (geteuid() != 0) {
    out[0] = '\0';
    return true;
  }
  if (getpwnam("postgres") == NULL && getpwnam("cio-pg") == NULL &&
      shell("useradd --system --no-create-home --shell /usr/sbin/nologin "
            "cio-pg >/dev/null 2>&1") != 0)
    return false;
  snprintf(out, cap, "%s", getpwnam("postgres") ? "postgres" : "cio-pg");
  return true;
}

static void as_user(const struct pg_cluster *c, char *prefix, size_t cap) {
  if (c->user[0])
    snprintf(prefix, cap, "runuser -u %s --", c->user);
  else
    prefix[0] = '\0';
}

void pg_cluster_ctl_cmd(const struct pg_cluster *c, const char *args,
                        char *cmd, size_t cap) {
  char prefix[64];
  as_user(c, prefix, sizeof prefix);
  snprintf(cmd, cap, "%s %s/pg_ctl -D %s/data %s >>%s/log 2>&1", prefix,
           c->bindir, c->dir, args, c->dir);
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static void set_conninfo(struct pg_cluster *c) {
  snprintf(c->conninfo, sizeof c->conninfo,
           "host=127.0.0.1 port=%d user=postgres dbname=postgres "
           "connect_timeout=10",
           c->port);
  snprintf(c->unix_conninfo, sizeof c->unix_conninfo,
           "host=%s/sock port=%d user=postgres dbname=postgres", c->dir,
           c->port);
}

/* The port of a running cluster in `dir`, from its conninfo file. */
static bool running_port(struct pg_cluster *c) {
  char path[256];
  snprintf(path, sizeof path, "%s/port", c->dir);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  int ok = fscanf(f, "%d", &c->port) == 1;
  fclose(f);
  char cmd[1024];
  pg_cluster_ctl_cmd(c, "status", cmd, sizeof cmd);
  return ok && shell("%s", cmd) == 0;
}

static int init_cluster(struct pg_cluster *c, char *why, size_t cap) {
  char prefix[64];
  as_user(c, prefix, sizeof prefix);
  shell("rm -rf %s && mkdir -p %s/sock && chmod 755 %s", c->dir, c->dir,
        c->dir);
  if (c->user[0] && shell("chown -R %s %s", c->user, c->dir) != 0) {
    snprintf(why, cap, "cannot give %s to user %s", c->dir, c->user);
    return -1;
  }
  if (shell("%s %s/initdb -D %s/data -U postgres --auth=trust -E UTF8 "
            "--no-locale --no-sync >%s/initdb.log 2>&1",
            prefix, c->bindir, c->dir, c->dir) != 0) {
    snprintf(why, cap, "initdb failed: see %s/initdb.log", c->dir);
    return -1;
  }
  return 0;
}

int pg_cluster_start(struct pg_cluster *c, const char *dir, char *why,
                     size_t cap) {
  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "%s", dir);
  if (!find_bindir(c->bindir, sizeof c->bindir)) {
    snprintf(why, cap,
             "no PostgreSQL server in /usr/lib/postgresql/*/bin (apt-get "
             "install postgresql; scripts/deps.sh test does)");
    return 1;
  }
  if (!pick_user(c->user, sizeof c->user)) {
    snprintf(why, cap, "running as root and cannot create a user for the "
                       "server (useradd failed)");
    return 1;
  }
  if (running_port(c)) {
    set_conninfo(c);
    return 0;
  }
  if (init_cluster(c, why, cap) < 0)
    return -1;
  for (int attempt = 0; attempt < 5; attempt++) {
    c->port = free_port();
    char args[512], cmd[1024];
    snprintf(args, sizeof args,
             "-w -t 60 -o \"-c listen_addresses=127.0.0.1 -p %d -k %s/sock "
             "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
             "-c max_connections=200\" start",
             c->port, c->dir);
    pg_cluster_ctl_cmd(c, args, cmd, sizeof cmd);
    if (c->port > 0 && shell("%s", cmd) == 0) {
      shell("echo %d > %s/port", c->port, c->dir);
      set_conninfo(c);
      return 0;
    }
  }
  snprintf(why, cap, "pg_ctl start failed: see %s/log", c->dir);
  return -1;
}

void pg_cluster_stop(struct pg_cluster *c, const char *mode, bool remove) {
  char args[64], cmd[1024];
  snprintf(args, sizeof args, "-w -m %s stop", mode);
  pg_cluster_ctl_cmd(c, args, cmd, sizeof cmd);
  shell("%s", cmd);
  if (remove)
    shell("rm -rf %s", c->dir);
}

/* A child that outlives nothing: it waits for the pipe to close, which
 * happens however this process ends (return, _exit from a failed CHECK, a
 * crash, the runner's timeout), then stops the cluster and removes it. */
void pg_cluster_stop_at_exit(struct pg_cluster *c) {
  int fds[2];
  if (pipe(fds) < 0)
    return;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    /* Out of the test's process group, deaf to the signals that stop a
     * test (ctest's and timeout(1)'s kill the whole group). */
    setsid();
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    close(fds[1]);
    char b;
    while (read(fds[0], &b, 1) < 0 && errno == EINTR)
      continue;
    pg_cluster_stop(c, "immediate", true);
    _exit(0);
  }
  close(fds[0]);
  if (pid < 0) {
    close(fds[1]);
    return;
  }
  fcntl(fds[1], F_SETFD, FD_CLOEXEC); /* children must not hold it open */
  test_fd_outlives_case(fds[1]);      /* it closes when the process ends */
}

/* ---- the shared cluster of a test process ---------------------------- */

static struct pg_cluster shared;

const struct pg_cluster *pg_test_cluster(void) {
  if (shared.port > 0)
    return &shared;
  char why[512];
  const char *dir = getenv("CIO_TEST_PG_DIR");
  if (dir != NULL && dir[0] != '\0') {
    snprintf(shared.dir, sizeof shared.dir, "%s", dir);
    if (find_bindir(shared.bindir, sizeof shared.bindir) &&
        pick_user(shared.user, sizeof shared.user) && running_port(&shared)) {
      set_conninfo(&shared);
      return &shared;
    }
  }
  char own[128];
  snprintf(own, sizeof own, "/tmp/cio-pg-private.%d", (int)getpid());
  int rc = pg_cluster_start(&shared, own, why, sizeof why);
  if (rc == 1)
    test_skip("%s", why);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s", why);
  pg_cluster_stop_at_exit(&shared);
  return &shared;
}

const char *pg_test_conninfo(void) {
  return pg_test_cluster()->conninfo;
}
