/* fetch_users: three queries gathered on one PostgreSQL connection.
 *
 * The asyncpg program of step 2 of docs/tutorial.md, in C:
 *
 *   async def fetch_users():
 *       conn = await asyncpg.connect('postgresql://...')
 *       results = await asyncio.gather(
 *           conn.fetch('SELECT * FROM users WHERE id = 1'),
 *           conn.fetch('SELECT * FROM users WHERE id = 2'),
 *           conn.fetch('SELECT * FROM orders WHERE user_id = 1'),
 *       )
 *       await conn.close()
 *
 * (asyncpg itself refuses that gather with "another operation is in
 * progress"; casyncio sends the three queries at once in libpq's pipeline
 * mode and the answers come back in order, in one round trip.)
 *
 * The server: $CIO_PG_CONNINFO (a libpq connection string such as
 * "host=localhost dbname=shop user=me") when set, else a throwaway
 * PostgreSQL server started in /tmp for the run.  The program creates its
 * own temporary tables.
 *
 * Expected output:
 *
 *   users 1: alice
 *   users 2: bob
 *   orders of user 1: 2 (book 12.50, pen 1.20)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>

#include "casyncio.h"
#include "casyncio/db.h"
#include "throwaway_cluster.h"

struct fetch {
  cio_pg_conn *conn;
  const char *sql;
  int64_t id;
  cio_db_result *rows;
};

/* conn.fetch(sql, id) as a task. */
static int fetch(void *arg, void **result) {
  (void)result;
  struct fetch *f = arg;
  cio_db_value id = cio_db_int(f->id);
  int rc = cio_pg_query(f->conn, f->sql, &id, 1, &f->rows);
  if (rc == CIO_EDB)
    fprintf(stderr, "%s: %s\n", f->sql, cio_db_result_error(f->rows)->message);
  return rc;
}

static int setup(cio_pg_conn *conn) {
  cio_db_result *err = NULL;
  int rc = cio_pg_exec_script(
      conn,
      "CREATE TEMP TABLE users (id int PRIMARY KEY, name text);"
      "CREATE TEMP TABLE orders (user_id int, item text, price numeric);"
      "INSERT INTO users VALUES (1, 'alice'), (2, 'bob');"
      "INSERT INTO orders VALUES (1, 'book', 12.50), (1, 'pen', 1.20),"
      "                          (2, 'lamp', 30.00)",
      &err);
  if (rc == CIO_EDB)
    fprintf(stderr, "setup: %s\n", cio_db_result_error(err)->message);
  cio_db_result_free(err);
  return rc;
}

static int fetch_users(void *arg, void **result) {
  (void)result;
  const char *conninfo = arg;
  cio_pg_conn *conn;
  char err[256];
  int rc = cio_pg_connect(&conn, conninfo, 10, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "connect: %s", err);
    return rc;
  }
  rc = setup(conn);
  struct fetch f[3] = {
      {conn, "SELECT * FROM users WHERE id = $1", 1, NULL},
      {conn, "SELECT * FROM users WHERE id = $1", 2, NULL},
      {conn,
       "SELECT item, price FROM orders WHERE user_id = $1 ORDER BY price "
       "DESC",
       1, NULL},
  };
  cio_call calls[3] = {{fetch, &f[0]}, {fetch, &f[1]}, {fetch, &f[2]}};
  if (rc == 0)
    rc = cio_gather_calls(calls, 3, NULL, NULL, false);
  if (rc == 0) {
    for (int i = 0; i < 2; i++)
      printf("users %d: %s\n", i + 1,
             cio_db_result_text(
                 f[i].rows, 0,
                 (size_t)cio_db_result_column_index(f[i].rows, "name"), NULL));
    size_t n = cio_db_result_nrows(f[2].rows);
    printf("orders of user 1: %zu (", n);
    for (size_t r = 0; r < n; r++)
      printf("%s%s %s", r ? ", " : "",
             cio_db_result_text(f[2].rows, r, 0, NULL),
             cio_db_result_text(f[2].rows, r, 1, NULL));
    printf(")\n");
  }
  for (int i = 0; i < 3; i++)
    cio_db_result_free(f[i].rows);
  cio_pg_close(conn);
  return rc;
}

static int run(void *arg, void **result) {
  (void)arg;
  struct cluster cluster;
  const char *conninfo = cluster_conninfo(&cluster);
  int rc = conninfo ? fetch_users((void *)conninfo, result) : CIO_ENOENT;
  cluster_stop(&cluster);
  return rc;
}

int main(void) {
  int rc = cio_run(run, NULL);
  if (rc < 0) {
    fprintf(stderr, "fetch_users: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
