/* A throwaway PostgreSQL cluster for the tests: initdb in a temporary
 * directory as an unprivileged user (the server refuses to run as root:
 * as root, Debian's `postgres` user, else one made with useradd), the
 * server on 127.0.0.1 and a Unix socket directory, stopped and removed at
 * the end.  Never a mock: where the server binaries are missing the test
 * is skipped, saying why.
 *
 * The test_pg* cases share one cluster: ctest starts it before them
 * (test_pg.cluster_start, a fixture) in $CIO_TEST_PG_DIR and stops it
 * after (test_pg.cluster_stop).  A case run by hand, without that
 * cluster, starts a private one for its process. */
#ifndef CIO_TEST_PG_CLUSTER_H
#define CIO_TEST_PG_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

struct pg_cluster {
  char dir[200];      /* holds data/, log, sock/ and conninfo */
  char bindir[128];   /* /usr/lib/postgresql/15/bin */
  char user[32];      /* who runs the server; "" when not root */
  int port;
  char conninfo[512]; /* TCP: host=127.0.0.1 port=... */
  char unix_conninfo[512];
};

/* initdb (unless `dir` holds a cluster already) and start the server in
 * `dir`.  Returns 0, or -1 with the reason in `why`; a missing server
 * gives 1 (skip). */
int pg_cluster_start(struct pg_cluster *c, const char *dir, char *why,
                     size_t cap);

/* Stop the server (pg_ctl stop -m `mode`: "fast", "immediate") and, with
 * `remove`, delete `dir`. */
void pg_cluster_stop(struct pg_cluster *c, const char *mode, bool remove);

/* Stop and remove the cluster when this process ends, however it ends
 * (a failed CHECK exits at once): a watcher process does it. */
void pg_cluster_stop_at_exit(struct pg_cluster *c);

/* The shell command running `pg_ctl <args>` on the cluster as its user. */
void pg_cluster_ctl_cmd(const struct pg_cluster *c, const char *args,
                        char *cmd, size_t cap);

/* The shared cluster of this test process: the fixture's, or a private
 * one started now and stopped at exit.  Skips the test when there is no
 * server to run. */
const struct pg_cluster *pg_test_cluster(void);

/* pg_test_cluster()->conninfo. */
const char *pg_test_conninfo(void);

#endif
