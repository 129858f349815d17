/* fetch_users_sqlite: fetch_users of step 2 of docs/tutorial.md on SQLite,
 * the database
 * that needs no server.
 *
 *   async def fetch_users():
 *       conn = await asyncpg.connect('postgresql://...')
 *       results = await asyncio.gather(
 *           conn.fetch('SELECT * FROM users WHERE id = 1'),
 *           conn.fetch('SELECT * FROM users WHERE id = 2'),
 *           conn.fetch('SELECT * FROM orders WHERE user_id = 1'),
 *       )
 *
 * The connection's statements run on a thread of its own (aiosqlite's
 * model), one after another, while the loop stays free for other tasks:
 * here a ticker task keeps counting while a slow query counts to a
 * million.  The database is a file in /tmp, removed at the end.
 *
 * Expected output (the number of ticks varies with the machine):
 *
 *   users 1: alice
 *   users 2: bob
 *   orders of user 1: 2 (book 12.5, pen 1.2)
 *   slow query: 1000000, while the loop ticked 12 times
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <unistd.h>

#include "casyncio.h"
#include "casyncio/db.h"

struct fetch {
  cio_sqlite *db;
  const char *sql;
  int64_t id;
  cio_db_result *rows;
};

static int fetch(void *arg, void **result) {
  (void)result;
  struct fetch *f = arg;
  cio_db_value id = cio_db_int(f->id);
  int rc = cio_sqlite_query(f->db, f->sql, &id, 1, &f->rows);
  if (rc == CIO_EDB)
    fprintf(stderr, "%s: %s\n", f->sql, cio_db_result_error(f->rows)->message);
  return rc;
}

static int ticks;

static int ticker(void *arg, void **result) {
  (void)arg;
  (void)result;
  for (;;) {
    int rc = cio_sleep(0.01);
    if (rc < 0)
      return rc;
    ticks++;
  }
}

static int slow_query(cio_sqlite *db) {
  cio_task *tick;
  int rc = cio_create_task(NULL, &tick, ticker, NULL, NULL);
  if (rc < 0)
    return rc;
  cio_db_result *r = NULL;
  rc = cio_sqlite_query(db,
                        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                        "SELECT x + 1 FROM c WHERE x < 1000000) "
                        "SELECT count(*) FROM c",
                        NULL, 0, &r);
  cio_task_cancel(tick);
  (void)!cio_task_join(tick, NULL); /* ends cancelled: that is its job */
  if (rc == 0)
    printf("slow query: %s, while the loop ticked %d times\n",
           cio_db_result_text(r, 0, 0, NULL), ticks);
  cio_db_result_free(r);
  return rc;
}

static int fetch_users(void *arg, void **result) {
  (void)result;
  cio_sqlite *db;
  char err[256];
  int rc = cio_sqlite_open(&db, arg, NULL, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "open: %s\n", err);
    return rc;
  }
  rc = cio_sqlite_exec_script(
      db,
      "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
      "CREATE TABLE orders (user_id INTEGER, item TEXT, price REAL);"
      "INSERT INTO users VALUES (1, 'alice'), (2, 'bob');"
      "INSERT INTO orders VALUES (1, 'book', 12.5), (1, 'pen', 1.2),"
      "                          (2, 'lamp', 30.0)",
      NULL);
  struct fetch f[3] = {
      {db, "SELECT * FROM users WHERE id = ?", 1, NULL},
      {db, "SELECT * FROM users WHERE id = ?", 2, NULL},
      {db,
       "SELECT item, price FROM orders WHERE user_id = ? ORDER BY price "
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
    rc = slow_query(db);
  }
  for (int i = 0; i < 3; i++)
    cio_db_result_free(f[i].rows);
  int crc = cio_sqlite_close(db);
  return rc < 0 ? rc : crc;
}

int main(void) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/fetch_users_sqlite.%d.db", (int)getpid());
  int rc = cio_run(fetch_users, path);
  char side[80];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
  if (rc < 0) {
    fprintf(stderr, "fetch_users_sqlite: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
