/* A throwaway PostgreSQL server for the examples of this folder, started
 * with casyncio's own subprocess API: initdb in a temporary directory,
 * pg_ctl start on a Unix socket in it, pg_ctl stop and rm -rf at the end.
 * As root the server runs as the `postgres` user (it refuses root).
 *
 * An example first looks at $CIO_PG_CONNINFO ("host=... dbname=...") and
 * uses that server when it is set; this is only the fallback. */
#ifndef CIO_EXAMPLE_THROWAWAY_CLUSTER_H
#define CIO_EXAMPLE_THROWAWAY_CLUSTER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casyncio.h"

struct cluster {
  char dir[64];
  char as_user[48]; /* "runuser -u postgres --" as root, else "" */
  char conninfo[160];
  bool started;
};

/* Run `cmd` with /bin/sh and wait for it; its output is dropped. */
static int cluster_sh(const char *cmd) {
  cio_process *p;
  cio_process_opts o = {.stdout_mode = CIO_STDIO_DEVNULL,
                        .stderr_mode = CIO_STDIO_DEVNULL};
  int rc = cio_create_subprocess_shell(&p, cmd, &o);
  if (rc < 0)
    return rc;
  int code = -1;
  rc = cio_process_wait(p, &code);
  int crc = cio_process_close(p);
  if (rc == 0)
    rc = crc;
  return rc < 0 ? rc : code == 0 ? 0 : CIO_EIO;
}

/* Start the server; fills c->conninfo.  Returns 0 or a negative code. */
static int cluster_start(struct cluster *c) {
  const char *bin = "/usr/lib/postgresql/15/bin";
  char cmd[1024];
  if (access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0) {
    fprintf(stderr,
            "no PostgreSQL 15 server in %s (apt-get install "
            "postgresql), and CIO_PG_CONNINFO is not set\n",
            bin);
    return CIO_ENOENT;
  }
  snprintf(c->dir, sizeof c->dir, "/tmp/cio-example-pg.XXXXXX");
  if (mkdtemp(c->dir) == NULL)
    return CIO_EIO;
  c->as_user[0] = '\0';
  if (geteuid() == 0) {
    snprintf(c->as_user, sizeof c->as_user, "runuser -u postgres --");
    snprintf(cmd, sizeof cmd, "chmod 755 %s && chown postgres %s", c->dir,
             c->dir);
    if (cluster_sh(cmd) < 0)
      return CIO_EACCES;
  }
  snprintf(cmd, sizeof cmd,
           "%s %s/initdb -D %s/data -U postgres --auth=trust --no-sync",
           c->as_user, bin, c->dir);
  int rc = cluster_sh(cmd);
  if (rc < 0)
    return rc;
  snprintf(cmd, sizeof cmd,
           "%s %s/pg_ctl -D %s/data -l %s/log -w -o \"-c listen_addresses='' "
           "-k %s -c fsync=off\" start",
           c->as_user, bin, c->dir, c->dir, c->dir);
  rc = cluster_sh(cmd);
  if (rc < 0)
    return rc;
  c->started = true;
  snprintf(c->conninfo, sizeof c->conninfo,
           "host=%s user=postgres dbname=postgres", c->dir);
  return 0;
}

/* Stop the server and remove its directory. */
static void cluster_stop(struct cluster *c) {
  char cmd[512];
  if (c->started) {
    snprintf(cmd, sizeof cmd,
             "%s /usr/lib/postgresql/15/bin/pg_ctl -D %s/data -m fast -w stop",
             c->as_user, c->dir);
    cluster_sh(cmd);
  }
  if (c->dir[0] != '\0') {
    snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
    cluster_sh(cmd);
  }
}

/* $CIO_PG_CONNINFO, or a throwaway server (said on stderr).  Returns the
 * connection string, or NULL when neither can be had. */
static const char *cluster_conninfo(struct cluster *c) {
  memset(c, 0, sizeof *c);
  const char *env = getenv("CIO_PG_CONNINFO");
  if (env != NULL && env[0] != '\0')
    return env;
  fprintf(stderr, "(CIO_PG_CONNINFO is not set: starting a throwaway "
                  "PostgreSQL server in /tmp)\n");
  if (cluster_start(c) < 0) {
    cluster_stop(c);
    return NULL;
  }
  return c->conninfo;
}

#endif
