/* Private types of the SQLite battery (src/db/sqlite/).
 *
 * A connection is a sqlite3 handle served by one worker thread of its own
 * (a casyncio thread pool of one worker): every call becomes a job, run
 * on that thread in submission order, its outcome handed back to the loop
 * by the executor.
 *
 *   job QUEUED -> RUNNING     the worker picks it up        job_work()
 *   job RUNNING -> DONE       the statement finished        job_work()
 *   job * -> ABANDONED        the waiting task was cancelled (it no
 *                             longer waits; `job_finish` runs when the
 *                             job comes back, from the executor's
 *                             dispose)                       sqlite.c
 * (1) `db` is touched by the worker thread only, except sqlite3_interrupt
 *     (any thread) and sqlite3_close_v2 once the worker has stopped.
 * (2) `running` and `abandoned` are guarded by `lock`: the loop thread
 *     interrupts only while its own job runs, so an interrupt never hits
 *     the next job.
 * (3) A job is freed when both holders let go (`refs`): the task that
 *     waits for it, and the executor (which lets go through its dispose
 *     function when the task stopped waiting, else through the task).
 *
 * The connection's life (sqlite.c):
 *   OPEN -> CLOSING        cio_sqlite_close(): new calls fail with
 *                          CIO_ECLOSED; a close job is queued behind the
 *                          statements already queued, which run
 *   CLOSING -> released    the close job came back (or, outside a task,
 *                          the worker was joined): the worker stopped,
 *                          the handle closed                conn_release()
 *   released -> freed      the last reference dropped       conn_unref()
 * (4) `refs` counts the user (until the close is done), every job, and
 *     every call in progress (a transaction's function may suspend
 *     elsewhere while the connection closes: its next call must find the
 *     memory valid and get CIO_ECLOSED). */
#ifndef CIO_DB_SQLITE_H
#define CIO_DB_SQLITE_H

#include <sqlite3.h>

#include "db/db.h"

enum job_kind { JOB_OPEN, JOB_QUERY, JOB_SCRIPT, JOB_CLOSE };

struct cio_sqlite {
  cio_loop *loop;
  cio_executor *ex; /* one worker thread */
  sqlite3 *db;
  uv_mutex_t lock;
  struct job *running; /* lock */
  bool closing;  /* cio_sqlite_close was called */
  bool released; /* the worker is stopped and the handle closed */
  int refs;      /* invariant 4; loop thread only */
};

struct job {
  int kind; /* enum job_kind */
  int refs; /* invariant 3; loop thread only */
  cio_sqlite *conn;
  bool abandoned; /* conn->lock */
  /* Input, copied: it must outlive a task that stopped waiting. */
  char *sql;
  cio_db_value *params;
  size_t nparams;
  cio_sqlite_opts opts; /* JOB_OPEN; `sql` is the path */
  /* Output. */
  cio_db_result *res; /* malloc'd on the worker */
  char errmsg[256];   /* JOB_OPEN */
};

/* sqlite_run.c: the worker's side. */
int cio__sqlite_job_work(void *arg, void **result);

#endif
