/* casyncio/db.h: databases, PostgreSQL (asyncpg's job) and SQLite (the
 * embedded default, aiosqlite's model).
 *
 * Both give back results of one shape, cio_db_result: rows and columns,
 * columns by index or by name, NULLs, typed getters, the command tag and
 * the number of rows affected.  Parameters are passed as an array of
 * cio_db_value (see cio_db_int(), cio_db_text() ...) and are referred to
 * as $1, $2 ... in PostgreSQL and as ?, ?NNN, :name or $1 in SQLite.
 *
 * Errors.  A query the server (or SQLite) refuses returns CIO_EDB; its
 * result still comes back in `*res` and carries the message, the SQLSTATE
 * and the detail (cio_db_result_error()): free it like any other.  Other
 * failures are the core's codes (CIO_ECONNREFUSED, CIO_ECONNRESET,
 * CIO_ETIMEDOUT, CIO_ECANCELED ...) with `*res` NULL.
 *
 * Cancellation.  A task cancelled while its query runs returns
 * CIO_ECANCELED at once; the query is stopped (PostgreSQL: a cancel
 * request to the server; SQLite: sqlite3_interrupt) and the connection
 * stays usable.  Timeouts come from cio_wait_for() or a timeout scope.
 *
 * Threads: a connection, pool or result belongs to the loop that made it;
 * none is thread-safe. */
#ifndef CASYNCIO_DB_H
#define CASYNCIO_DB_H

#include <string.h>

#include "casyncio.h"
#include "casyncio/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Values: parameters of queries, and the type of a result's value
 * ---------------------------------------------------------------------- */

enum cio_db_type {
  CIO_DB_NULL = 0,
  CIO_DB_INT = 1,   /* 64-bit integer (int2, int4, int8, oid; SQLite INTEGER) */
  CIO_DB_FLOAT = 2, /* double (float4, float8; SQLite REAL) */
  CIO_DB_BOOL = 3,  /* bool (PostgreSQL; SQLite stores 0/1 as INTEGER) */
  CIO_DB_TEXT = 4,  /* text, and every other type in its text form
                       (numeric, timestamps, json ...) */
  CIO_DB_BYTES = 5, /* bytea; SQLite BLOB */
};

/* One parameter.  Build it with the functions below; text and bytes are
 * borrowed and must stay valid for the call that takes the array. */
typedef struct cio_db_value {
  int type; /* enum cio_db_type */
  int64_t i; /* INT, BOOL; TEXT: 1 when p[len] is a NUL (cio_db_text) */
  double f;
  const void *p;
  size_t len;
} cio_db_value;

static inline cio_db_value cio_db_null(void) {
  cio_db_value v = {CIO_DB_NULL, 0, 0.0, NULL, 0};
  return v;
}
static inline cio_db_value cio_db_int(int64_t i) {
  cio_db_value v = {CIO_DB_INT, i, 0.0, NULL, 0};
  return v;
}
static inline cio_db_value cio_db_float(double f) {
  cio_db_value v = {CIO_DB_FLOAT, 0, f, NULL, 0};
  return v;
}
static inline cio_db_value cio_db_bool(bool b) {
  cio_db_value v = {CIO_DB_BOOL, b ? 1 : 0, 0.0, NULL, 0};
  return v;
}
/* A NUL-terminated string; NULL gives SQL NULL. */
static inline cio_db_value cio_db_text(const char *s) {
  cio_db_value v = {s ? CIO_DB_TEXT : CIO_DB_NULL, 1, 0.0, s,
                    s ? strlen(s) : 0};
  return v;
}
/* `len` bytes of text (no NUL needed; none may be inside). */
static inline cio_db_value cio_db_textn(const char *s, size_t len) {
  cio_db_value v = {CIO_DB_TEXT, 0, 0.0, s, len};
  return v;
}
static inline cio_db_value cio_db_bytes(const void *p, size_t len) {
  cio_db_value v = {CIO_DB_BYTES, 0, 0.0, p, len};
  return v;
}

/* ------------------------------------------------------------------------
 * Results
 *
 * A result holds every row of a query (as asyncpg's fetch does).  It is
 * the caller's: free it with cio_db_result_free().  Rows and columns
 * count from 0.  Getters given a row or column out of range return
 * CIO_EINVAL (or NULL / false / 0).  Pointers into a result stay valid
 * until it is freed.
 * ---------------------------------------------------------------------- */
typedef struct cio_db_result cio_db_result;

/* What the server said about a failed query.  Strings are never NULL
 * (empty when the server gave none) and live as long as the result. */
typedef struct cio_db_error {
  const char *message;  /* primary message: 'relation "x" does not exist' */
  const char *sqlstate; /* five characters: "42601" syntax error, "23505"
                           unique violation, "57014" cancelled ... (SQLite:
                           mapped from its result code where one fits,
                           else "HY000") */
  const char *detail;   /* 'Key (id)=(1) already exists.' */
  const char *hint;
  const char *severity; /* "ERROR", "FATAL" ... (SQLite: "ERROR") */
  int code;             /* SQLite's extended result code; PostgreSQL: 0 */
} cio_db_error;

CIO_API size_t cio_db_result_nrows(const cio_db_result *r);
CIO_API size_t cio_db_result_ncols(const cio_db_result *r);

/* The name of column `col`, or NULL. */
CIO_API const char *cio_db_result_column_name(const cio_db_result *r,
                                              size_t col);

/* The index of the first column called `name`, or CIO_ENOENT. */
CIO_API int cio_db_result_column_index(const cio_db_result *r,
                                       const char *name);

/* PostgreSQL: the type OID of column `col` (23 int4, 25 text ...);
 * SQLite: 0.  0 out of range. */
CIO_API uint32_t cio_db_result_column_oid(const cio_db_result *r, size_t col);

/* The type of the value at (row, col): CIO_DB_NULL for SQL NULL, else
 * what the typed getters read it best as (enum cio_db_type), or
 * CIO_EINVAL out of range. */
CIO_API int cio_db_result_type(const cio_db_result *r, size_t row, size_t col);

CIO_API bool cio_db_result_is_null(const cio_db_result *r, size_t row,
                                   size_t col);

/* Typed getters.  Each returns 0 with `*out` set, CIO_ENODATA for SQL
 * NULL (`*out` zeroed), CIO_EINVAL when the value does not read as that
 * type (or out of range), CIO_ERANGE when it does not fit.  Integers read
 * from integer types and from integral text or numeric; floats from any
 * number (and 'NaN', 'Infinity'); bools from bool, from 0/1 and from the
 * text t/f/true/false. */
CIO_API int cio_db_result_int(const cio_db_result *r, size_t row, size_t col,
                              int64_t *out);
CIO_API int cio_db_result_float(const cio_db_result *r, size_t row, size_t col,
                                double *out);
CIO_API int cio_db_result_bool(const cio_db_result *r, size_t row, size_t col,
                               bool *out);

/* The value as text, NUL-terminated, its length in `*len` (may be NULL):
 * what PostgreSQL prints for it (numeric '12.50', timestamp
 * '2024-01-02 03:04:05+00', bytea '\x0102' ...), SQLite's text of the
 * value.  NULL for SQL NULL, out of range, and a PostgreSQL value asked in
 * binary format whose text form casyncio does not make (see
 * CIO_PG_BINARY_RESULTS). */
CIO_API const char *cio_db_result_text(cio_db_result *r, size_t row,
                                       size_t col, size_t *len);

/* The value as bytes (bytea decoded from its text form, a BLOB, or the
 * bytes of text).  Returns 0 with `*data` (valid until the result is
 * freed) and `*len`, CIO_ENODATA for NULL, CIO_EINVAL, CIO_ENOMEM. */
CIO_API int cio_db_result_bytes(cio_db_result *r, size_t row, size_t col,
                                const void **data, size_t *len);

/* The command tag: "SELECT 3", "INSERT 0 1", "UPDATE 2", "CREATE TABLE"
 * ...  SQLite's are made the same way ("SELECT n", "INSERT 0 n",
 * "UPDATE n", "DELETE n", else the statement's first keyword).  Never
 * NULL. */
CIO_API const char *cio_db_result_command_tag(const cio_db_result *r);

/* Rows inserted, updated, deleted, copied or returned by the command, or
 * -1 when the command has no count (CREATE TABLE). */
CIO_API int64_t cio_db_result_rows_affected(const cio_db_result *r);

/* SQLite: the rowid of the last row inserted by the connection (0 if
 * none).  PostgreSQL: -1 (use INSERT ... RETURNING). */
CIO_API int64_t cio_db_result_last_insert_id(const cio_db_result *r);

/* The error a CIO_EDB result carries, or NULL for a successful result. */
CIO_API const cio_db_error *cio_db_result_error(const cio_db_result *r);

/* Free `r`.  NULL is accepted. */
CIO_API void cio_db_result_free(cio_db_result *r);

#if CIO_HAVE_POSTGRES
/* ------------------------------------------------------------------------
 * PostgreSQL, on libpq in non-blocking pipeline mode
 *
 * One connection may be used by many tasks at once: their queries are
 * sent as they come, in pipeline mode, and answered in that order, so
 * gathering three queries on one connection costs one round trip rather
 * than three (asyncpg refuses this with "another operation is in
 * progress").  Each query is its own implicit transaction (its own
 * pipeline sync), so an error in one never aborts another, unless the
 * tasks share an explicit transaction: while a task runs
 * cio_pg_transaction() on a connection, other tasks' queries on that
 * connection run inside it.  Use a pool to keep them apart.
 *
 * A connection that breaks (server gone, network error, cio_pg_close)
 * fails every query waiting on it with CIO_ECONNRESET (or the socket's
 * error) and cio_pg_is_broken() says so; it cannot be used again.
 *
 * Closing a connection other tasks are using (asyncpg: their operations
 * fail with ConnectionDoesNotExistError) is safe: every call in progress
 * on it returns CIO_ECONNRESET promptly, whatever it waited for (its turn
 * to send, its results, a COPY, a notification), and so does every call
 * those tasks make on it until they leave (inside cio_pg_transaction's
 * function, on a COPY or a statement of it).  The memory goes when the
 * last of them has left.  The handle itself is invalid once cio_pg_close
 * returned: a call made through it afterwards is a use after free, as
 * with free().
 * ---------------------------------------------------------------------- */
typedef struct cio_pg_conn cio_pg_conn;

/* Connect with a libpq connection string ("host=127.0.0.1 port=5432
 * dbname=app user=me", or a postgresql:// URI) without blocking the
 * loop: name lookup, TCP or Unix socket, TLS when the server offers it,
 * authentication.  `timeout` seconds in all (CIO_NO_TIMEOUT: none beyond
 * libpq's connect_timeout).  On failure libpq's message goes to `errbuf`
 * (`errcap` bytes, may be NULL).  Suspends.  Returns 0, CIO_ECONNREFUSED
 * (nothing listens), CIO_ETIMEDOUT, CIO_EDB (the server refused: bad
 * password, no such database...), CIO_ECANCELED, CIO_EINVAL,
 * CIO_ENOMEM, CIO_EPERM outside a task; `*out` is NULL on failure. */
CIO_API CIO_NODISCARD int cio_pg_connect(cio_pg_conn **out, const char *conninfo,
                           double timeout, char *errbuf, size_t errcap);

/* Close and free `c`.  Calls in progress on it in other tasks (queries
 * waiting for their turn or their results, a COPY, a notification wait,
 * a transaction) return CIO_ECONNRESET; they hold the memory until they
 * return, and the COPYs and statements made on `c` until they are ended
 * and freed.  `c` is invalid afterwards.  Does not suspend (libpq's
 * goodbye message is sent without waiting).  Returns 0.  NULL is
 * accepted. */
CIO_API int cio_pg_close(cio_pg_conn *c);

/* True once the connection broke; it then fails every call. */
CIO_API bool cio_pg_is_broken(const cio_pg_conn *c);

/* True while the connection is inside a transaction block (after the
 * last answer received). */
CIO_API bool cio_pg_in_transaction(const cio_pg_conn *c);

/* Queries not yet answered (sent or queued), all tasks together. */
CIO_API size_t cio_pg_pending(const cio_pg_conn *c);

/* The server's process id for this connection (pg_backend_pid()). */
CIO_API int cio_pg_backend_pid(const cio_pg_conn *c);

/* Flags of cio_pg_query_ex(). */
enum {
  /* Ask for results in binary format.  The getters read it as they read
   * text; cio_db_result_text() formats numbers, bool, numeric, date and
   * timestamps (timestamptz in UTC) the way the server prints them, and
   * returns NULL for other types (uuid, arrays ...): ask for text. */
  CIO_PG_BINARY_RESULTS = 1,
};

/* Run one statement with `n` parameters ($1 .. $n; `params` may be NULL
 * when n is 0) and wait for its result, which goes to `*res` (may be NULL
 * to drop it).  Integers, floats, bools and text are sent in text format
 * with their type left to the server (as psql's literals are), bytes in
 * binary format as bytea.  The statement is prepared and cached on the
 * connection (up to 64, as asyncpg does; the first use costs no extra
 * round trip); a cached statement gone stale (the table changed: SQLSTATE
 * 0A000; DEALLOCATE ALL: 26000) fails once and is prepared again on the
 * next call.  Suspends.  Returns 0, CIO_EDB (see the top of
 * this file), CIO_ECANCELED (a cancel request goes to the server; the
 * connection stays usable), CIO_ECONNRESET (the connection broke),
 * CIO_EINVAL, CIO_ENOMEM, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_pg_query(cio_pg_conn *c, const char *sql,
                         const cio_db_value *params, size_t n,
                         cio_db_result **res);

/* cio_pg_query() with flags (CIO_PG_BINARY_RESULTS). */
CIO_API CIO_NODISCARD int cio_pg_query_ex(cio_pg_conn *c, const char *sql,
                            const cio_db_value *params, size_t n, int flags,
                            cio_db_result **res);

/* cio_pg_query() for a statement whose rows do not matter: the number of
 * rows it affected goes to `*rows_affected` (may be NULL; -1 when the
 * command has no count).  On CIO_EDB the error is printed nowhere: use
 * cio_pg_query() to read it. */
CIO_API CIO_NODISCARD int cio_pg_execute(cio_pg_conn *c, const char *sql,
                           const cio_db_value *params, size_t n,
                           int64_t *rows_affected);

/* Run several statements separated by ';' with no parameters (the simple
 * query protocol; psql -c).  Suspends.  Returns as cio_pg_query(), the
 * result being the last statement's (or NULL when `res` is NULL). */
CIO_API CIO_NODISCARD int cio_pg_exec_script(cio_pg_conn *c, const char *sql,
                               cio_db_result **res);

/* -- Prepared statements.  The statement is parsed once; its parameter
 * types are learnt from the server, so integers, floats, bools and bytea
 * then travel in binary format. */
typedef struct cio_pg_stmt cio_pg_stmt;

/* Prepare `sql` on `c` under a generated name.  Suspends.  Returns 0,
 * CIO_EDB (`*err_res`, may be NULL, gets the error result), and as
 * cio_pg_query(); `*out` is NULL on failure. */
CIO_API CIO_NODISCARD int cio_pg_prepare(cio_pg_conn *c, const char *sql, cio_pg_stmt **out,
                           cio_db_result **err_res);

/* Number of parameters the statement takes. */
CIO_API size_t cio_pg_stmt_nparams(const cio_pg_stmt *s);

/* Run the prepared statement with `n` parameters (exactly its number,
 * else CIO_EINVAL).  Returns as cio_pg_query_ex(). */
CIO_API CIO_NODISCARD int cio_pg_stmt_query(cio_pg_stmt *s, const cio_db_value *params,
                              size_t n, int flags, cio_db_result **res);

/* Deallocate the statement on the server (when the connection is still
 * usable; not waiting for the answer) and free `s`.  Does not suspend.
 * NULL is accepted.  A statement may outlive its connection's close: it
 * then fails with CIO_ECONNRESET, and freeing it is safe (and needed:
 * it holds the closed connection's memory). */
CIO_API void cio_pg_stmt_free(cio_pg_stmt *s);

/* -- Transactions. */
typedef int (*cio_pg_tx_fn)(cio_pg_conn *c, void *arg);

/* Run `fn(c, arg)` inside BEGIN ... COMMIT.  If fn returns an error (a
 * negative code, CIO_ECANCELED included) or COMMIT fails, the transaction
 * is rolled back: the ROLLBACK is queued on the connection at once, so
 * it runs before anything sent later, even when the task was cancelled.
 * Suspends.  Returns fn's status (its success value when it commits), or
 * the error of BEGIN or COMMIT (CIO_EDB: the commit failed, e.g. a
 * deferred constraint). */
CIO_API CIO_NODISCARD int cio_pg_transaction(cio_pg_conn *c, cio_pg_tx_fn fn, void *arg);

/* -- COPY, streamed by the task.  The connection is used by the copy
 * alone while it runs: other tasks' queries wait for it to end. */
typedef struct cio_pg_copy cio_pg_copy;

/* Start `sql`, a COPY ... FROM STDIN or COPY ... TO STDOUT.  Waits for
 * the queries already queued on `c`.  Suspends.  Returns 0, CIO_EDB (the
 * COPY was refused; `*err_res`, may be NULL, gets the error result),
 * CIO_EINVAL (not a COPY), and as cio_pg_query(). */
CIO_API CIO_NODISCARD int cio_pg_copy_start(cio_pg_conn *c, const char *sql,
                              cio_pg_copy **out, cio_db_result **err_res);

/* COPY FROM STDIN: send `n` bytes of data (rows in the COPY format;
 * they need not be split at rows).  Suspends while the socket is full.
 * Returns 0, CIO_EINVAL (a COPY TO), CIO_ECONNRESET, CIO_ECANCELED (the
 * copy then ends in failure: call cio_pg_copy_end). */
CIO_API CIO_NODISCARD int cio_pg_copy_write(cio_pg_copy *cp, const void *data, size_t n);

/* COPY TO STDOUT: the next row into `*data`, `*len` bytes (valid until
 * the next call or the end).  Suspends.  Returns 1 with a row, 0 once all
 * rows were read, CIO_EDB, CIO_ECONNRESET, CIO_ECANCELED (call
 * cio_pg_copy_end, which cancels the COPY on the server). */
CIO_API CIO_NODISCARD int cio_pg_copy_read(cio_pg_copy *cp, const void **data, size_t *len);

/* End the copy and free `cp`: COPY FROM finishes (or, after an error or
 * a cancellation, fails with "aborted"), COPY TO reads what is left.  The
 * row count goes to `*rows` (may be NULL).  Suspends; the connection is
 * given back to the other tasks.  Returns 0, CIO_EDB (the server
 * rejected the data: the copy is rolled back), CIO_ECONNRESET,
 * CIO_ECANCELED. */
CIO_API CIO_NODISCARD int cio_pg_copy_end(cio_pg_copy *cp, int64_t *rows);

/* -- LISTEN / NOTIFY. */
typedef struct cio_pg_notification {
  char *channel;
  char *payload;
  int pid; /* the notifying server process */
} cio_pg_notification;

/* LISTEN on `channel` (quoted as an identifier).  Suspends.  Returns as
 * cio_pg_execute(). */
CIO_API CIO_NODISCARD int cio_pg_listen(cio_pg_conn *c, const char *channel);

/* Wait for the next notification on `c` (those that arrived first are
 * handed out in order).  Only one task may wait at a time (another gets
 * CIO_EBUSY).  Suspends.  Returns 0 with `*out` (free it with
 * cio_pg_notification_free), CIO_ECONNRESET, CIO_ECANCELED, CIO_EBUSY. */
CIO_API CIO_NODISCARD int cio_pg_wait_notification(cio_pg_conn *c,
                                     cio_pg_notification **out);

CIO_API void cio_pg_notification_free(cio_pg_notification *n);

/* -- Pools (asyncpg.create_pool). */
typedef struct cio_pg_pool cio_pg_pool;

typedef struct cio_pg_pool_opts {
  size_t min_size;         /* connections opened at once; 0: none */
  size_t max_size;         /* 0: 10 */
  double connect_timeout;  /* per connection; 0: 10 s */
  double idle_timeout;     /* close a connection idle this long (above
                              min_size); 0: 300 s; CIO_NO_TIMEOUT: never */
  uint64_t max_queries;    /* replace a connection after this many
                              acquisitions; 0: 50,000 */
} cio_pg_pool_opts;

/* Open a pool of connections to `conninfo` and connect min_size of them.
 * `opts` may be NULL.  Suspends.  Returns 0 or an error of
 * cio_pg_connect(); `*out` is NULL on failure. */
CIO_API CIO_NODISCARD int cio_pg_pool_open(cio_pg_pool **out, const char *conninfo,
                             const cio_pg_pool_opts *opts);

/* Take a connection: an idle one (checked: a broken one is replaced), a
 * new one while fewer than max_size are open, else wait (FIFO) for a
 * release.  `timeout` seconds (CIO_NO_TIMEOUT: wait as long as it takes).
 * Suspends.  Returns 0, CIO_ETIMEDOUT, CIO_ECANCELED, a connect error,
 * CIO_ESHUTDOWN (the pool is closing), CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_pg_pool_acquire(cio_pg_pool *p, double timeout,
                                cio_pg_conn **out);

/* Give `c` back.  A broken connection, one still in a transaction or
 * with queries pending is closed instead of being reused.  Does not
 * suspend.  Returns 0 or CIO_EINVAL (not from this pool). */
CIO_API int cio_pg_pool_release(cio_pg_pool *p, cio_pg_conn *c);

/* acquire, cio_pg_query, release (asyncpg's pool.fetch). */
CIO_API CIO_NODISCARD int cio_pg_pool_query(cio_pg_pool *p, const char *sql,
                              const cio_db_value *params, size_t n,
                              cio_db_result **res);

/* Connections open (idle and in use) / idle. */
CIO_API size_t cio_pg_pool_size(const cio_pg_pool *p);
CIO_API size_t cio_pg_pool_idle(const cio_pg_pool *p);

/* Close the pool: new acquires fail with CIO_ESHUTDOWN, waiting ones
 * too (at once); then wait until every connection in use is released
 * (they work until then), close them all and free the pool (its memory
 * goes once the last acquire in progress has returned).  Suspends (outside a task: closes what is idle
 * and frees the pool only if none is in use, else CIO_EBUSY).  Returns
 * 0, CIO_ECANCELED (the pool is still closing: call again), CIO_EBUSY.
 * NULL is accepted. */
CIO_API CIO_NODISCARD int cio_pg_pool_close(cio_pg_pool *p);
#endif /* CIO_HAVE_POSTGRES */

#if CIO_HAVE_SQLITE
/* ------------------------------------------------------------------------
 * SQLite, one worker thread per connection (aiosqlite's model)
 *
 * Every call runs on the connection's own thread, in the order the calls
 * were made, while the loop goes on; so a long query never blocks other
 * tasks.  Many tasks may share a connection; their statements run one at
 * a time.  A cancelled call returns CIO_ECANCELED at once: a statement
 * not started is dropped, one running is interrupted (sqlite3_interrupt),
 * and the connection stays usable.
 * ---------------------------------------------------------------------- */
typedef struct cio_sqlite cio_sqlite;

typedef struct cio_sqlite_opts {
  /* How long, in seconds, a statement waits for a lock held by another
   * connection (SQLITE_BUSY).  0: 5 s; below a millisecond: do not wait;
   * more than INT_MAX ms (about 24.8 days, CIO_NO_TIMEOUT included) is
   * clamped to INT_MAX ms, SQLite's longest; NaN or negative: CIO_EINVAL
   * from cio_sqlite_open. */
  double busy_timeout;
  /* Keep SQLite's default rollback journal instead of WAL. */
  bool no_wal;
  /* Open read-only / do not create a missing file. */
  bool read_only;
  bool no_create;
} cio_sqlite_opts;

/* Open the database file `path` (":memory:" for a private in-memory
 * database) on a new worker thread; WAL mode and the busy timeout are set
 * (`opts` may be NULL).  Suspends.  Returns 0, CIO_EDB (SQLite refused:
 * `errbuf`, `errcap` bytes, may be NULL, gets its message), CIO_ECANCELED,
 * CIO_EINVAL (no path, a NaN or negative busy_timeout), CIO_ENOMEM,
 * CIO_EPERM outside a task; `*out` is NULL on failure. */
CIO_API CIO_NODISCARD int cio_sqlite_open(cio_sqlite **out, const char *path,
                            const cio_sqlite_opts *opts, char *errbuf,
                            size_t errcap);

/* Wait for the statements queued on `db`, close it and stop its thread.
 * Statements other tasks queued before the close (the one running
 * included) run and return their results, as in aiosqlite; calls made
 * after the close began, by tasks already inside a call on `db` (a
 * transaction's function), return CIO_ECLOSED, and the transaction
 * rolls back.  Those tasks hold the memory until they return; `db` is
 * invalid once the close returned.  A second close while one runs
 * returns 0 at once.  Suspends (outside a task it blocks until then).
 * Returns 0, or CIO_ECANCELED (the close goes on without the caller).
 * NULL is accepted. */
CIO_API CIO_NODISCARD int cio_sqlite_close(cio_sqlite *db);

/* Run one statement with `n` parameters and fetch all its rows into
 * `*res` (may be NULL).  Suspends.  Returns 0, CIO_EDB (the error is in
 * the result: see the top of this file), CIO_ECANCELED, CIO_ECLOSED (the
 * connection is closing), CIO_EINVAL, CIO_ENOMEM, CIO_EPERM. */
CIO_API CIO_NODISCARD int cio_sqlite_query(cio_sqlite *db, const char *sql,
                             const cio_db_value *params, size_t n,
                             cio_db_result **res);

/* cio_sqlite_query() for a statement whose rows do not matter: rows
 * changed go to `*rows_affected` (may be NULL). */
CIO_API CIO_NODISCARD int cio_sqlite_execute(cio_sqlite *db, const char *sql,
                               const cio_db_value *params, size_t n,
                               int64_t *rows_affected);

/* Run several statements separated by ';' without parameters
 * (sqlite3_exec); a failing one stops the rest.  Returns 0, CIO_EDB
 * (`*err_res`, may be NULL, gets the error result), and as
 * cio_sqlite_query(). */
CIO_API CIO_NODISCARD int cio_sqlite_exec_script(cio_sqlite *db, const char *sql,
                                   cio_db_result **err_res);

typedef int (*cio_sqlite_tx_fn)(cio_sqlite *db, void *arg);

/* Run `fn(db, arg)` inside BEGIN ... COMMIT, rolled back when fn returns
 * an error (CIO_ECANCELED included) or the commit fails; the ROLLBACK
 * runs even when the task was cancelled.  Suspends.  Returns as
 * cio_pg_transaction().
 *
 * The transaction is the connection's, not the task's: while one task
 * runs cio_sqlite_transaction on a shared connection, other tasks'
 * statements on it run inside that transaction (committed or rolled back
 * with it), and another task's cio_sqlite_transaction fails its BEGIN
 * with CIO_EDB.  Give such tasks a connection each. */
CIO_API CIO_NODISCARD int cio_sqlite_transaction(cio_sqlite *db, cio_sqlite_tx_fn fn,
                                   void *arg);
#endif /* CIO_HAVE_SQLITE */

#ifdef __cplusplus
}
#endif
#endif
