/* casyncio: Python's asyncio, in C, on libuv.
 *
 * A program writes ordinary functions and runs thousands of them
 * concurrently on one thread as tasks.  A call that waits (cio_sleep,
 * cio_task_await, ...) suspends only the calling task; the loop runs the
 * others meanwhile.  Semantics follow CPython's asyncio (3.12+): ordering,
 * cancellation and error reporting match it, translated to error codes.
 *
 * Conventions used throughout this header
 * - Every call that can suspend or fail returns int: 0 (or a count) on
 *   success, a negative CIO_E* code on failure.  Results come back through
 *   out-parameters.  cio_strerror() names any code.
 * - "Suspends" means the call must be made from a task and may let other
 *   tasks run.  Outside a task such a call returns CIO_EPERM.
 * - Any suspending call may return CIO_ECANCELED: the calling task was
 *   cancelled.  Clean up and return it (or handle it: see cio_task_uncancel).
 * - Arguments are borrowed for the duration of the call unless the
 *   documentation says the call takes ownership.
 * - Objects belong to one loop and one thread.  Only functions documented
 *   as thread-safe may be called from another thread.
 * - Calls marked CIO_NODISCARD (every suspending call, and every call
 *   whose failure leaves you without what you asked for) warn when their
 *   result is ignored; write `(void)!call()` to ignore one on purpose.
 *
 * Ownership, in one place (each declaration repeats what applies to it)
 * - Constructors (_new, _open, cio_create_task, cio_start_server...) give
 *   the caller one reference or the object itself through `*out`; on
 *   failure `*out` is NULL and nothing is left allocated.
 * - Tasks and futures are reference counted: cio_create_task hands one
 *   reference (none with out = NULL: fire and forget), the loop keeps its
 *   own while a task runs, cio_task_join is await + release.  A second
 *   release of the same reference is reported on stderr, naming the
 *   object, and ignored.
 * - A task's or job's `*result` pointer is not owned by casyncio: whoever
 *   reads the outcome (await, join, result, gather, executor calls) takes
 *   it, even through a NULL result pointer.  An outcome nobody read goes
 *   to the `dispose` function given with the task (cio_task_opts) or job,
 *   if any, when the task or future is freed.  A future's result set with
 *   cio_future_set_result is the setter's business.
 * - Handles from call_soon/call_later/call_at are the caller's reference
 *   only if requested; give it back with cio_handle_release.
 * - Sync objects and queues (_new/_free) are freed by their owner once no
 *   task waits on them.
 * - Streams, servers, datagram endpoints and subprocesses are closed and
 *   freed by their _close call (which suspends until the OS resource is
 *   released).  A connection handed to a server's handler is the
 *   handler's; the server closes it if the handler did not.  A program
 *   that returns from its main task with any of these still open gets a
 *   message naming what was left, and the loop is abandoned.
 * - Executors and their pools are the creator's (_free, after shutdown).
 *   A blocking function's `arg` is borrowed until it returns.
 * - Strings passed in (names, messages, hosts) are copied; strings handed
 *   out are valid for as long as their object, or as documented.  Buffers
 *   handed out with malloc (cio_stream_read_all) are freed with free().
 * - Thread-safe: cio_loop_call_soon_threadsafe, cio_loop_stop,
 *   cio_run_coroutine_threadsafe, the cio_concurrent_future calls, and
 *   cio_strerror / cio_err_name.  Everything else is called on the loop's
 *   thread.
 */
#ifndef CASYNCIO_H
#define CASYNCIO_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>     /* FILE, for cio_loop_dump */
#include <sys/types.h> /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CIO_BUILDING) && defined(__GNUC__)
#define CIO_API __attribute__((visibility("default")))
#else
#define CIO_API
#endif

/* A call whose result must not be ignored: every suspending call (it may
 * return CIO_ECANCELED, which must be passed on) and every call whose
 * failure leaves the caller without what it asked for.  To ignore one on
 * purpose, write `(void)!cio_call(...)` (GCC does not accept a plain
 * (void) cast for this attribute). */
#if defined(__GNUC__) || defined(__clang__)
#define CIO_NODISCARD __attribute__((warn_unused_result))
#else
#define CIO_NODISCARD
#endif

#define CIO_VERSION_MAJOR 0
#define CIO_VERSION_MINOR 1
#define CIO_VERSION_PATCH 0

/* ------------------------------------------------------------------------
 * Errors
 *
 * Codes are libuv's UV_E* values, so a libuv status is a casyncio code on
 * every platform: negative errno (libuv's definition on Unix; the build
 * checks each against libuv's), the resolver's UV_EAI_* and UV_EOF; and
 * casyncio's own from -5001.  The asyncio exception each stands for is in
 * the comment.  Sorted by name within each group.
 * ---------------------------------------------------------------------- */
#include <errno.h>

#define CIO_ERRNO_MAP(X)                                                       \
  X(E2BIG, (-E2BIG), "argument list too long")                                 \
  X(EACCES, (-EACCES), "permission denied")                                    \
  X(EADDRINUSE, (-EADDRINUSE), "address already in use")                       \
  X(EADDRNOTAVAIL, (-EADDRNOTAVAIL), "address not available")                  \
  X(EAFNOSUPPORT, (-EAFNOSUPPORT), "address family not supported")             \
  X(EAGAIN, (-EAGAIN), "resource temporarily unavailable") /* QueueFull */     \
  X(EALREADY, (-EALREADY), "already done")           /* InvalidStateError */   \
  X(EBADF, (-EBADF), "bad file descriptor")                                    \
  X(EBUSY, (-EBUSY), "resource busy")                /* already running */     \
  X(ECANCELED, (-ECANCELED), "cancelled")            /* CancelledError */      \
  X(ECHILD, (-ECHILD), "one or more child tasks failed") /* ExceptionGroup */  \
  X(ECONNABORTED, (-ECONNABORTED), "connection aborted")                       \
  X(ECONNREFUSED, (-ECONNREFUSED), "connection refused")                       \
  X(ECONNRESET, (-ECONNRESET), "connection reset by peer")                     \
  X(EDEADLK, (-EDEADLK), "deadlock would occur")     /* await on itself */     \
  X(EEXIST, (-EEXIST), "file already exists")                                  \
  X(EFAULT, (-EFAULT), "bad address")                                          \
  X(EHOSTUNREACH, (-EHOSTUNREACH), "host is unreachable")                      \
  X(EINPROGRESS, (-EINPROGRESS), "not done yet")     /* InvalidStateError */   \
  X(EINTR, (-EINTR), "interrupted")                  /* loop stopped early */  \
  X(EINVAL, (-EINVAL), "invalid argument")           /* ValueError */          \
  X(EIO, (-EIO), "i/o error")                                                  \
  X(EISCONN, (-EISCONN), "socket is already connected")                        \
  X(EISDIR, (-EISDIR), "is a directory")                                       \
  X(ELOOP, (-ELOOP), "too many symbolic links")                                \
  X(EMFILE, (-EMFILE), "too many open files")                                  \
  X(EMSGSIZE, (-EMSGSIZE), "message too long")                                 \
  X(ENAMETOOLONG, (-ENAMETOOLONG), "name too long")                            \
  X(ENETUNREACH, (-ENETUNREACH), "network is unreachable")                     \
  X(ENFILE, (-ENFILE), "file table overflow")                                  \
  X(ENOBUFS, (-ENOBUFS), "limit overrun")            /* LimitOverrunError */   \
  X(ENODATA, (-ENODATA), "incomplete read")          /* IncompleteRead */      \
  X(ENOENT, (-ENOENT), "no such file or directory")                            \
  X(ENOMEM, (-ENOMEM), "not enough memory")                                    \
  X(ENOSPC, (-ENOSPC), "no space left on device")                              \
  X(ENOSYS, (-ENOSYS), "function not implemented")                             \
  X(ENOTCONN, (-ENOTCONN), "socket is not connected")                          \
  X(ENOTDIR, (-ENOTDIR), "not a directory")                                    \
  X(ENOTEMPTY, (-ENOTEMPTY), "directory not empty")                            \
  X(ENOTRECOVERABLE, (-ENOTRECOVERABLE), "broken barrier") /* BrokenBarrier */ \
  X(ENOTSOCK, (-ENOTSOCK), "socket operation on non-socket")                   \
  X(ENOTSUP, (-ENOTSUP), "operation not supported")                            \
  X(ENXIO, (-ENXIO), "no such device or address")                              \
  X(EOVERFLOW, (-EOVERFLOW), "value too large")      /* BoundedSemaphore */    \
  X(EPERM, (-EPERM), "operation not permitted")      /* RuntimeError */        \
  X(EPIPE, (-EPIPE), "broken pipe")                                            \
  X(EPROTO, (-EPROTO), "protocol error")                                       \
  X(ERANGE, (-ERANGE), "result out of range")                                  \
  X(EROFS, (-EROFS), "read-only file system")                                  \
  X(ESHUTDOWN, (-ESHUTDOWN), "shut down")            /* closed loop/queue */   \
  X(ESPIPE, (-ESPIPE), "invalid seek")                                         \
  X(ESRCH, (-ESRCH), "no such process")                                        \
  X(ETIME, (-ETIME), "timer expired")                                          \
  X(ETIMEDOUT, (-ETIMEDOUT), "timed out")            /* TimeoutError */        \
  X(EAI_ADDRFAMILY, -3000, "address family not supported")                     \
  X(EAI_AGAIN, -3001, "temporary failure in name resolution")                  \
  X(EAI_BADFLAGS, -3002, "bad resolver flags")                                 \
  X(EAI_CANCELED, -3003, "name resolution cancelled")                          \
  X(EAI_FAIL, -3004, "permanent failure in name resolution")                   \
  X(EAI_FAMILY, -3005, "address family not supported by resolver")             \
  X(EAI_MEMORY, -3006, "out of memory in resolver")                            \
  X(EAI_NODATA, -3007, "no address for host")                                  \
  X(EAI_NONAME, -3008, "unknown host or service")                              \
  X(EAI_OVERFLOW, -3009, "resolver argument buffer overflow")                  \
  X(EAI_SERVICE, -3010, "service not available for socket type")               \
  X(EAI_SOCKTYPE, -3011, "socket type not supported")                          \
  X(EOF, -4095, "end of file")                                                \
  X(EUNKNOWN, -4094, "unknown error")                                          \
  X(ECLOSED, -5001, "closed")                                                  \
  X(ETLS, -5002, "TLS error")                        /* ssl.SSLError */        \
  X(ECERT, -5003, "certificate verification failed") /* SSLCertVerify */       \
  X(EHTTP, -5004, "HTTP protocol error")             /* ClientPayloadError */  \
  X(EREDIRECT, -5005, "too many redirects")          /* TooManyRedirects */    \
  X(EDB, -5006, "database error")                    /* PostgresError */

enum cio_errno {
#define CIO__ERRNO_ENUM(name, value, text) CIO_##name = (value),
  CIO_ERRNO_MAP(CIO__ERRNO_ENUM)
#undef CIO__ERRNO_ENUM
};

/* A sentence describing `code` ("cancelled", "timed out", ...).  Unknown
 * codes give "unknown error".  Never NULL; the string is static.
 * Thread-safe. */
CIO_API const char *cio_strerror(int code);

/* The symbolic name of `code` ("ECANCELED"), or "EUNKNOWN".  Never NULL.
 * Thread-safe. */
CIO_API const char *cio_err_name(int code);

/* ------------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------- */
typedef struct cio_loop cio_loop;
typedef struct cio_task cio_task;
typedef struct cio_future cio_future;
typedef struct cio_handle cio_handle;

/* A task's body.  It runs on its own stack.  Return 0 on success, with an
 * optional pointer-sized result stored in `*result` (initially NULL), or a
 * negative CIO_E* code.  A positive return is a success too, and is kept:
 * awaiting the task returns it (a count, say) along with `*result`.
 * Returning CIO_ECANCELED ends the task cancelled, as letting
 * CancelledError escape does in asyncio; returning another error ends it
 * with that error even if a cancellation was pending (CPython keeps the
 * exception the coroutine raised). */
typedef int (*cio_task_fn)(void *arg, void **result);

/* A plain callback run by the loop (call_soon, call_later, call_at). */
typedef void (*cio_callback_fn)(void *arg);

/* A done-callback of a future or task.  `f` is the future (for a task,
 * cio_task_future(task)); it stays valid during the call. */
typedef void (*cio_done_fn)(cio_future *f, void *arg);

/* Called on the loop thread with an outcome nobody will read: a task's
 * or executor job's result whose outcome nobody read (the task released
 * unawaited, a gather that stopped at the first error, a caller cancelled
 * after the job finished, before it resumed), or, for a job, `status`
 * CIO_ECANCELED and `result` NULL if it never ran.  Reading the outcome
 * (await, result, gather...) takes the result, even with a NULL result
 * pointer.  `arg` is the argument the function was
 * started with.  Free `result` (and `arg`) here. */
typedef void (*cio_dispose_fn)(void *arg, void *result, int status);

/* ------------------------------------------------------------------------
 * Running: the high-level entry point
 * ---------------------------------------------------------------------- */

/* Options for a loop.  Zero-initialise and set what you need. */
typedef struct cio_loop_opts {
  /* Default usable stack bytes per task (0: 64 KiB).  Rounded up to whole
   * pages.  A task may ask for another size (cio_task_opts). */
  size_t stack_size;
  /* Time starts at 0 and jumps to the next timer whenever no task is
   * ready (trio's MockClock with autojump), so a program that sleeps for
   * minutes runs in milliseconds and its times are exact.  For tests. */
  bool virtual_clock;
  /* Run on this libuv loop (a uv_loop_t *) instead of a private one.  The
   * application keeps running it with uv_run(); casyncio adds its handles
   * to it and removes them in cio_loop_close().  NULL: a private loop. */
  void *uv_loop;
  /* How a task's stack overflow is caught (see "Stacks" under Tasks).
   * 0: detect: kernel guard markers where the kernel has them
   * (MADV_GUARD_INSTALL, Linux 6.13+), else the fallback; 1: force guard
   * markers (CIO_EINVAL without them); 2: force the fallback.  Mostly for
   * tests.  The environment variable CIO_STACK_GUARD=fallback makes the
   * process behave as on a kernel without markers (0 means 2, 1 is
   * CIO_EINVAL); CIO_STACK_GUARD=canary also leaves the fallback no guard
   * pages, as when their budget is spent. */
  int stack_guard;
  /* false (asyncio's behaviour): a loop with nothing to do waits, since
   * another thread may still call cio_loop_call_soon_threadsafe.
   * true: when no timer, no I/O, no signal handler, no executor job and
   * nothing sent from another thread can wake a waiting task,
   * run_until_complete returns CIO_EDEADLK (listing the stuck tasks on
   * stderr) and cio_run's shutdown gives up on tasks that cannot finish
   * instead of waiting for ever.  Only for programs whose other threads
   * reach the loop through casyncio's executors. */
  bool detect_deadlock;
  /* Debug mode, as asyncio's (CIO_DEBUG=1 in the environment also turns
   * it on): a task step or callback that runs longer than slow_step_ms is
   * reported with the task's name and where it resumed; tasks, futures,
   * streams, servers and other objects still open when the loop closes,
   * errors nobody read and tasks that never finished are named with
   * where each was created.  It costs time on every step and object
   * creation: for development.  See docs/debugging.md. */
  bool debug;
  /* Debug mode's threshold in milliseconds (0: 100, asyncio's
   * slow_callback_duration). */
  int slow_step_ms;
  /* The stall detector, on by default: when the loop has not come back
   * to poll for this many milliseconds (a task or callback blocking the
   * thread), a watchdog thread writes on stderr the running task and the
   * loop thread's C backtrace at that moment, and again a line when the
   * loop polls again.  0: CIO_STALL_MS from the environment, else 250;
   * negative (or CIO_STALL_MS=0): off.  It uses one process-wide thread
   * and a real-time signal (see docs/debugging.md). */
  int stall_ms;
  /* Print a task dump (cio_loop_dump) on stderr whenever the process
   * receives this signal, e.g. SIGUSR1; the loop prints it between two
   * steps.  0: CIO_DUMP_SIGNAL from the environment (a number or a name
   * such as USR1), else none. */
  int dump_signal;
  /* Answer `casyncio-ps PID` (the command installed with the library):
   * serve task dumps on a Unix socket named after the process and the
   * loop's thread, in $XDG_RUNTIME_DIR/casyncio (else
   * /tmp/casyncio-<uid>), removed when the loop closes.  CIO_INSPECT=1 in
   * the environment turns it on too. */
  bool inspect;
  /* cio_run's shutdown: when a task still has not finished this many
   * milliseconds after being cancelled (it ignores its cancellation),
   * name it on stderr with what it waits on and where (0: 5000;
   * negative: never).  The shutdown goes on waiting. */
  int shutdown_report_ms;
} cio_loop_opts;

/* Run `fn(arg)` as the main task of a new loop, as asyncio.run() does.
 *
 * When the main task finishes, the loop runs one more iteration (what it
 * queued last runs once), then every task still alive is cancelled and
 * awaited, errors they end with go to the exception handler (stderr by
 * default), the loop is closed and the main task's status is returned:
 * 0 (or its positive count), its negative error code, CIO_ECANCELED if it
 * ended cancelled, CIO_EINTR if Ctrl-C cancelled it, or CIO_EBUSY if a loop
 * is already running in this thread.  Must not be called from inside a
 * task.
 *
 * Ctrl-C, as asyncio.run since 3.11: while SIGINT has its default
 * disposition, the first SIGINT cancels the main task (its cleanup runs,
 * then cio_run returns CIO_EINTR), a second one ends the process as an
 * uncaught KeyboardInterrupt would (SIGINT with its default action).  The
 * previous disposition is back when cio_run returns.  A program that set
 * its own SIGINT handler keeps it. */
CIO_API CIO_NODISCARD int cio_run(cio_task_fn fn, void *arg);

/* cio_run() with options and the main task's result.  `opts` and `result`
 * may be NULL. */
CIO_API CIO_NODISCARD int cio_run_ex(cio_task_fn fn, void *arg, const cio_loop_opts *opts,
                       void **result);

/* ------------------------------------------------------------------------
 * The loop: explicit lifecycle
 *
 * One loop per thread at a time.  The loop is "current" on its thread from
 * cio_loop_open() until cio_loop_close().
 * ---------------------------------------------------------------------- */

/* Create a loop and make it current on the calling thread.  `opts` may be
 * NULL.  If SIGPIPE still has its default action it is set to SIG_IGN, as
 * Python, Node and Go do, so that writing to a closed socket or pipe
 * returns CIO_EPIPE instead of killing the process (children get the
 * default back).  Returns 0, CIO_EBUSY if this thread already has a loop, CIO_EINVAL
 * for bad options, or CIO_ENOMEM.  On failure `*out` is NULL. */
CIO_API CIO_NODISCARD int cio_loop_open(cio_loop **out, const cio_loop_opts *opts);

/* Close `loop` and free it.  Returns CIO_EBUSY, closing nothing, while
 * the loop is running or any task is alive (each task still alive is
 * named on stderr); CIO_EPERM from another thread.  Otherwise pending
 * call_soon/call_later callbacks are dropped, as in asyncio, executor jobs
 * are finished or cancelled, and then, if the program still holds
 * references to tasks, futures, handles or other objects of the loop, it
 * returns CIO_EBUSY after saying so on stderr: release them and close
 * again (the loop stays usable).  NULL is accepted. */
CIO_API CIO_NODISCARD int cio_loop_close(cio_loop *loop);

/* The loop current on this thread, or NULL.  Thread-safe. */
CIO_API cio_loop *cio_get_running_loop(void);

/* Run the loop until `task` is done and return the task's status (its
 * result in `*result`, which may be NULL).  Returns CIO_EINTR if
 * cio_loop_stop() was called first, CIO_EDEADLK (only with
 * cio_loop_opts.detect_deadlock) if nothing can ever complete the task,
 * CIO_EBUSY if the loop is already running, CIO_EPERM from a task or
 * another thread.  Otherwise, like asyncio, it waits as long as it takes. */
CIO_API CIO_NODISCARD int cio_loop_run_until_complete(cio_loop *loop, cio_task *task,
                                        void **result);

/* Run the loop until cio_loop_stop().  Waits for timers, I/O and other
 * threads while there is nothing to do.  Returns 0 or CIO_EBUSY. */
CIO_API CIO_NODISCARD int cio_loop_run_forever(cio_loop *loop);

/* Make the running loop return after the current iteration.  Called
 * before a run, the next run does one iteration (its poll does not block)
 * and returns.  Thread-safe: from another thread it is queued as
 * call_soon_threadsafe(stop) and wakes the loop.  Returns 0, CIO_EINVAL
 * (NULL and no loop on this thread), CIO_ESHUTDOWN (from another thread,
 * the loop is closed or closing), CIO_ENOMEM. */
CIO_API int cio_loop_stop(cio_loop *loop);

CIO_API bool cio_loop_is_running(const cio_loop *loop);

/* The loop's libuv loop (a uv_loop_t *), to add your own handles. */
CIO_API void *cio_loop_uv(cio_loop *loop);

/* Cancel every task still alive and run the loop until all are done,
 * reporting errors they end with (asyncio.run's shutdown).  Returns 0. */
CIO_API CIO_NODISCARD int cio_loop_shutdown_tasks(cio_loop *loop);

/* Write a dump of `loop` (NULL: this thread's) to `out` (NULL: stderr):
 * every task not yet done with its name, state, age, what it waits on
 * (a sleep's deadline, which lock, event, queue or semaphore, which
 * future or task, which stream or fd, which executor job, which
 * subprocess...) and the C backtrace of its own stack, symbolized; then
 * the await graph as a tree, as Python's `asyncio pstree` draws it.  In
 * debug mode each task also says where it was created.  Does not
 * suspend; call it on the loop's thread, from a task or outside one.  It
 * reads symbol tables and may run addr2line (binutils) for file and line
 * numbers, so it takes milliseconds: not for hot paths.  Backtraces go
 * through frames built with frame pointers (-fno-omit-frame-pointer):
 * code built without them shortens them.  See docs/debugging.md for the
 * format, the dump signal (cio_loop_opts.dump_signal) and casyncio-ps.
 * Returns 0, CIO_EINVAL (no loop), CIO_EPERM (another thread's loop),
 * CIO_ENOMEM (the dump is cut short) or CIO_EIO (writing failed). */
CIO_API int cio_loop_dump(cio_loop *loop, FILE *out);

/* ------------------------------------------------------------------------
 * Time and callbacks
 * ---------------------------------------------------------------------- */

/* The loop's monotonic clock in seconds (virtual with virtual_clock).
 * `loop` NULL means the current loop; 0.0 without one. */
CIO_API double cio_loop_time(const cio_loop *loop);

/* cio_loop_time(NULL). */
CIO_API double cio_time(void);

/* Schedule `cb(arg)` to run on the next loop iteration, after everything
 * scheduled before it (FIFO).  `loop` NULL means the current loop.  If
 * `handle` is not NULL it receives a reference that can cancel the call
 * and must be given back with cio_handle_release().  Returns 0,
 * CIO_EINVAL, CIO_ESHUTDOWN if the loop is closing, or CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_loop_call_soon(cio_loop *loop, cio_callback_fn cb, void *arg,
                               cio_handle **handle);

/* Schedule `cb(arg)` after `delay` seconds: call_at(now + delay), so a
 * negative delay is a deadline in the past (call_later(-2) runs before an
 * earlier call_later(-1)); a due timer still runs after callbacks already
 * queued.  Timers run in deadline order; equal deadlines run in the order
 * they were scheduled.  Returns as cio_loop_call_soon(), and CIO_EINVAL
 * for a NaN delay. */
CIO_API CIO_NODISCARD int cio_loop_call_later(cio_loop *loop, double delay,
                                cio_callback_fn cb, void *arg,
                                cio_handle **handle);

/* Schedule `cb(arg)` at loop time `when` (see cio_loop_time()). */
CIO_API CIO_NODISCARD int cio_loop_call_at(cio_loop *loop, double when, cio_callback_fn cb,
                             void *arg, cio_handle **handle);

/* Schedule `cb(arg)` on `loop` from any thread (asyncio's
 * call_soon_threadsafe): it runs on the loop's thread, in the order calls
 * were made, and wakes the loop if it is waiting.  Thread-safe; `loop`
 * must not have been closed yet (then CIO_ESHUTDOWN; after
 * cio_loop_close() has returned the pointer is invalid).  Returns 0,
 * CIO_EINVAL, CIO_ESHUTDOWN or CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_loop_call_soon_threadsafe(cio_loop *loop, cio_callback_fn cb,
                                          void *arg);

/* Stop a scheduled callback from running.  Idempotent; does nothing once
 * it has run.  NULL is accepted. */
CIO_API void cio_handle_cancel(cio_handle *h);

CIO_API bool cio_handle_is_cancelled(const cio_handle *h);

/* The deadline of a call_later/call_at handle in loop time, or -1.0 for a
 * call_soon handle. */
CIO_API double cio_handle_when(const cio_handle *h);

/* Give back the reference from call_soon/call_later/call_at.  Does not
 * cancel.  NULL is accepted. */
CIO_API void cio_handle_release(cio_handle *h);

/* ------------------------------------------------------------------------
 * The exception handler (asyncio's loop.set_exception_handler)
 *
 * What the runtime reports about errors nobody handled goes to the loop's
 * exception handler with a context: a task's or future's error nobody
 * read, a connection handler's error, an error while cio_run() shuts
 * down, a task that returned with a timeout scope entered, a double
 * release, what cio_loop_close() finds still open, a deadlock.  The
 * default handler prints "casyncio: <message>" on stderr.  (C callbacks
 * return nothing, so unlike asyncio there is no "callback raised" case.)
 * A stack overflow is reported from a signal handler and bypasses it.
 * ---------------------------------------------------------------------- */
typedef struct cio_exception_context {
  const char *message;     /* what happened, in a sentence; never NULL */
  int error;               /* the CIO_E* code concerned, or 0 */
  const char *source;      /* who reports: "task", "future", "connection
                              handler", "cio_run shutdown", "cio_loop_close",
                              "deadlock", "timeout scope", "release"... */
  cio_task *task;          /* the task concerned, or NULL */
  cio_future *future;      /* the (plain) future concerned, or NULL */
  struct cio_stream *stream; /* the connection concerned, or NULL */
} cio_exception_context;

/* Every pointer in `ctx` is valid only during the call. */
typedef void (*cio_exception_handler)(cio_loop *loop,
                                      const cio_exception_context *ctx,
                                      void *arg);

/* Set the handler of `loop` (NULL: the current one), or the default with
 * `h` NULL.  Never suspends.  Returns 0 or CIO_EINVAL without a loop. */
CIO_API int cio_loop_set_exception_handler(cio_loop *loop,
                                           cio_exception_handler h,
                                           void *arg);

/* The handler set (NULL for the default), its `arg` in `*arg`. */
CIO_API cio_exception_handler cio_loop_get_exception_handler(cio_loop *loop,
                                                             void **arg);

/* Report `ctx` through the handler: the program's own errors can take
 * the same road.  A handler that reports from inside itself reaches the
 * default handler.  Loop thread only. */
CIO_API void cio_loop_call_exception_handler(cio_loop *loop,
                                             const cio_exception_context *ctx);

/* What the default handler does: print "casyncio: <message>" on stderr. */
CIO_API void
cio_loop_default_exception_handler(cio_loop *loop,
                                   const cio_exception_context *ctx);

/* ------------------------------------------------------------------------
 * Tasks
 *
 * Ownership: cio_create_task() hands the caller one reference in `*out`
 * (pass out = NULL for a fire-and-forget task).  The loop holds its own
 * reference while the task runs, so a task runs to its end whether or not
 * anyone keeps it.  Release yours with cio_task_release() when done with
 * the task; the task and its result are freed when the last reference
 * goes.  The task's stack is given back as soon as its body returns.
 *
 * Stacks: each task runs on its own fixed-size stack (64 KiB unless
 * cio_loop_opts or cio_task_opts say otherwise), so deep recursion and big
 * local arrays belong in a task with a bigger stack or on the heap.  A
 * task that overflows its stack is caught and the process aborts with
 * "casyncio: stack overflow in task '<name>' (stack size <n> bytes)":
 * below every stack lies a guard region at least as large as the stack
 * that faults when touched.  Without kernel guard markers (Linux < 6.13)
 * these are PROT_NONE pages, two kernel mappings per stack, for as many
 * stacks as a quarter of vm.max_map_count (16382 by default; raise the
 * limit to guard more); stacks past that carry a band of canary words
 * checked at every switch, which catches overflows by small frames, and a
 * task whose stack pointer ran below its stack is named when it faults.
 *
 * Compile task code with -fstack-clash-protection (`pkg-config --cflags
 * casyncio` includes it): a function whose locals span more than a page
 * then touches each page in order, so a frame bigger than what is left of
 * the stack hits the guard.  Without it such a frame can jump over the
 * guard and write into another task's stack unnoticed.
 * ---------------------------------------------------------------------- */

typedef struct cio_task_opts {
  /* Copied.  NULL: "Task-<n>", n from a process-wide counter. */
  const char *name;
  /* Usable stack bytes (at least 16 KiB); 0 means the loop's default. */
  size_t stack_size;
  /* Receives the task's result if nobody took it by the time the task is
   * freed (see cio_dispose_fn): a heap result never leaks.  May be NULL. */
  cio_dispose_fn dispose;
  /* A small task, for programs with very many mostly idle tasks (see
   * "Small tasks" below).  stack_size must then be 0. */
  bool small;
} cio_task_opts;

/* Small tasks (cio_task_opts.small): every small task of a loop runs on
 * one shared stack of the loop's default size.  When another small task
 * needs that stack, the used part of a switched-out one (a few hundred
 * bytes for a task waiting in cio_sleep) is copied to a buffer of its own
 * and copied back, to the same address, before it runs again.  A parked
 * small task costs under 0.8 KiB instead of at least a 4 KiB stack page,
 * and a switch into or out of one goes through the loop and copies its
 * frames (about 5 times a plain switch: 72 against 14 ns in one
 * bench/run on a 2-core VM).  Any function may still
 * suspend.
 *
 * What a small task must not do: keep a pointer to its own stack (its
 * locals) anywhere that is used while it is suspended, since its frames
 * may then be elsewhere; nor may any task use a pointer into another
 * parked small task's stack.  casyncio moves its own bookkeeping along: the
 * waits of cio_sleep, cio_await and task joins, gather, wait, wait_for,
 * as_completed, timeout scopes, TaskGroups, locks, events, conditions,
 * semaphores, barriers and queues all work (their items must not point
 * into the task's stack either).  Not in a small task: I/O that reads
 * into or writes from a buffer on its stack, and calls that keep a request
 * on the caller's stack while they wait (files, DNS, connecting,
 * subprocesses, fd waits): use a normal task for those, and pass it heap
 * memory.  Debug builds check this: at every switch out of a small task
 * its frames leave the shared stack, which is filled with a pattern; if
 * the pattern is disturbed before the next small task runs, the process
 * aborts naming the cause (under AddressSanitizer the vacated stack is
 * also poisoned, so the stray access itself is reported); a file, DNS,
 * connect or subprocess call from a small task aborts at once, naming
 * the task, in Debug builds (fd waits are not checked).  If memory
 * runs out when a small task's frames must be saved, the process stops
 * with a message naming the task.
 * Task dumps (cio_loop_dump) list a parked small task and what it waits
 * on, but do not walk its stack: its frames may be copied out.
 * docs/tasks.md has more, and bench/run's switch table the cost of a
 * small task's switch. */

/* Schedule `fn(arg)` to run as a new task on `loop` (NULL: the current
 * loop).  The body starts on a later loop iteration, never inside this
 * call.  `opts` may be NULL.  Returns 0, CIO_EINVAL (no loop, fn NULL),
 * CIO_ESHUTDOWN (loop closing) or CIO_ENOMEM; on failure `*out` is NULL
 * and `fn` never runs.  A stack_size below 16 KiB is CIO_EINVAL. */
CIO_API CIO_NODISCARD int cio_create_task(cio_loop *loop, cio_task **out, cio_task_fn fn,
                            void *arg, const cio_task_opts *opts);

/* Wait until `task` is done and return its status: 0 with its result in
 * `*result` (may be NULL), its error, or CIO_ECANCELED if it was cancelled.
 * A task that is already done is not waited for: no suspension.
 * Suspends.  Returns CIO_EDEADLK when a task awaits itself, CIO_EPERM
 * outside a task.  If the caller is cancelled while waiting, the
 * cancellation is passed on to `task` (as asyncio does) and the caller
 * goes on waiting for it to finish.  Reading the status marks the error
 * as retrieved. */
CIO_API CIO_NODISCARD int cio_task_await(cio_task *task, void **result);

/* cio_task_await() then cio_task_release(). */
CIO_API CIO_NODISCARD int cio_task_join(cio_task *task, void **result);

/* Ask `task` to cancel: its current or next suspension returns
 * CIO_ECANCELED.  Returns 1 if the request was made (every call while the
 * task is not done counts, see cio_task_cancelling), 0 if the task is
 * already done, CIO_EINVAL for NULL.  Does not suspend. */
CIO_API int cio_task_cancel(cio_task *task);

/* Number of cancellation requests not yet withdrawn with uncancel. */
CIO_API int cio_task_cancelling(const cio_task *task);

/* cio_task_cancel() with a message (asyncio's Task.cancel(msg)): `msg`
 * (copied; NULL for none) replaces the task's last one and travels with
 * the cancellation: to the future or task it awaits (gather's children,
 * wait_for's inner task...), into the CIO_ECANCELED the task receives
 * (cio_cancel_message), and into its outcome if it ends cancelled
 * (cio_task_cancel_message).  Returns as cio_task_cancel, and
 * CIO_ENOMEM (then nothing was done). */
CIO_API int cio_task_cancel_msg(cio_task *task, const char *msg);

/* The message of a task that ended cancelled (NULL if none, or not
 * cancelled): the one carried by the CIO_ECANCELED it returned, or its own
 * request's if it returned normally with a cancellation pending.  Valid
 * while the task is. */
CIO_API const char *cio_task_cancel_message(const cio_task *task);

/* From a task that just got CIO_ECANCELED from a suspending call or from
 * reading a cancelled outcome: the message it carries (CPython's
 * `except CancelledError as e: e.args`), or NULL.  Valid until the task
 * receives another cancellation or ends.  NULL outside a task. */
CIO_API const char *cio_cancel_message(void);

/* Withdraw one cancellation request (never below 0) and return how many
 * remain.  When none remain, a request not yet delivered is dropped. */
CIO_API int cio_task_uncancel(cio_task *task);

CIO_API bool cio_task_is_done(const cio_task *task);
CIO_API bool cio_task_is_cancelled(const cio_task *task);

/* The status of a done task without waiting: 0 with `*result` set, its
 * error, or CIO_ECANCELED.  CIO_EINPROGRESS if not done.  Marks the error
 * as retrieved. */
CIO_API CIO_NODISCARD int cio_task_result(cio_task *task, void **result);

/* The error of a done task (0 if it succeeded), CIO_ECANCELED if it was
 * cancelled, CIO_EINPROGRESS if not done.  Marks the error as retrieved. */
CIO_API int cio_task_error(cio_task *task);

/* The task's name; valid until the name changes or the task is freed. */
CIO_API const char *cio_task_get_name(cio_task *task);

/* Rename the task (copied).  Returns 0, CIO_EINVAL or CIO_ENOMEM. */
CIO_API int cio_task_set_name(cio_task *task, const char *name);

/* The task currently running on this thread, or NULL in a plain callback
 * or outside the loop.  No reference is added. */
CIO_API cio_task *cio_current_task(void);

/* Fill `out` with up to `cap` tasks of `loop` (NULL: current) that are not
 * done, oldest first, and return how many there are in all (which may be
 * more than `cap`).  No references are added. */
CIO_API size_t cio_all_tasks(cio_loop *loop, cio_task **out, size_t cap);

/* Call `cb(f, arg)` on a later iteration once the task is done (at once if
 * it already is), in registration order.  Returns 0, CIO_EINVAL, ENOMEM. */
CIO_API CIO_NODISCARD int cio_task_add_done_callback(cio_task *task, cio_done_fn cb,
                                       void *arg);

/* Remove every registration of (cb, arg); returns how many were removed. */
CIO_API int cio_task_remove_done_callback(cio_task *task, cio_done_fn cb,
                                          void *arg);

CIO_API cio_task *cio_task_retain(cio_task *task);
CIO_API void cio_task_release(cio_task *task);

/* The task seen as a future, to pass to functions taking futures (gather,
 * wait, shield...).  The task's result calls work on it; setting its
 * result does not (CIO_EINVAL). */
CIO_API cio_future *cio_task_future(cio_task *task);

/* The task behind `f`, or NULL if `f` is a plain future. */
CIO_API cio_task *cio_future_task(cio_future *f);

/* ------------------------------------------------------------------------
 * Context variables (Python's contextvars, as asyncio uses them)
 *
 * A context variable holds a value per context.  Each task has its own
 * context: a new task starts with a copy of its creator's, so a value set
 * later in one task is never seen by another; callbacks (call_soon,
 * call_later, call_at, done callbacks, call_soon_threadsafe, add_reader,
 * add_writer, signal handlers) run in the context they were scheduled
 * from (a reader callback in the same one at each call, so what it sets
 * is seen by its next call); a server's connection handlers start with
 * a copy of the context cio_start_server() was called in; outside tasks
 * the context is the thread's.  cio_run's main task starts with a copy of the calling
 * thread's context; cio_to_thread carries the caller's context into the
 * worker thread, cio_run_in_executor does not (asyncio.to_thread versus
 * loop.run_in_executor).  Values are pointers the context does not own.
 *
 *   static cio_contextvar *request_id;   // made once, at start-up
 *   cio_contextvar_new(&request_id, "request_id", true, "-");
 *   cio_contextvar_set(request_id, "req-7", NULL);     // in a handler
 *   log_line(cio_contextvar_value(request_id, "-"));   // anywhere below
 * ---------------------------------------------------------------------- */
typedef struct cio_contextvar cio_contextvar;

/* The state cio_contextvar_reset() needs (ContextVar.set's Token); caller
 * storage, fields private. */
typedef struct cio_context_token {
  void *private_[5];
} cio_context_token;

/* Create a variable named `name` (copied), with `default_value` when
 * `has_default`.  Variables are process-wide and usually live as long as
 * the program.  Never suspends; thread-safe.  Returns 0, CIO_EINVAL,
 * CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_contextvar_new(cio_contextvar **out,
                                             const char *name,
                                             bool has_default,
                                             void *default_value);

/* Free a variable no context holds a value of any more.  NULL accepted. */
CIO_API void cio_contextvar_free(cio_contextvar *var);

CIO_API const char *cio_contextvar_name(const cio_contextvar *var);

/* The variable's value in the current context, else its default
 * (ContextVar.get()).  Returns 0, CIO_ENOENT (set nowhere and no default:
 * LookupError), CIO_EINVAL. */
CIO_API CIO_NODISCARD int cio_contextvar_get(const cio_contextvar *var,
                                             void **value);

/* The value, or `fallback` when cio_contextvar_get would fail
 * (ContextVar.get(default)). */
CIO_API void *cio_contextvar_value(const cio_contextvar *var, void *fallback);

/* Set the variable in the current context only.  `token` (may be NULL)
 * records what reset needs.  Never suspends.  Returns 0, CIO_EINVAL,
 * CIO_ENOMEM (nothing changed). */
CIO_API CIO_NODISCARD int cio_contextvar_set(cio_contextvar *var, void *value,
                                             cio_context_token *token);

/* Put the variable back as it was before the set that filled `token`.
 * Returns 0, CIO_EINVAL if the token was used already or was made in
 * another context (asyncio's RuntimeError / ValueError), CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_contextvar_reset(cio_context_token *token);

/* ------------------------------------------------------------------------
 * Sleeping and yielding
 * ---------------------------------------------------------------------- */

/* Suspend the calling task for `seconds`.  cio_sleep(0) (or any delay
 * <= 0) yields exactly once: every task already ready runs before the
 * caller resumes.  Suspends.  Returns 0, CIO_ECANCELED, CIO_EINVAL for NaN,
 * CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_sleep(double seconds);

/* ------------------------------------------------------------------------
 * Futures
 *
 * A future is a slot for a result that some code will set later; tasks
 * await it.  Reference counted: cio_future_new gives one reference.
 * ---------------------------------------------------------------------- */

/* Create a pending future on `loop` (NULL: current).  Returns 0,
 * CIO_EINVAL (no loop) or CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_future_new(cio_loop *loop, cio_future **out);

CIO_API cio_future *cio_future_retain(cio_future *f);

/* Drop a reference.  A future freed holding an error nobody read is
 * reported on stderr ("Future exception was never retrieved"). */
CIO_API void cio_future_release(cio_future *f);

/* Complete `f` with `result`.  Done-callbacks and waiters are scheduled on
 * the next iteration, in registration order.  Returns 0, CIO_EALREADY if
 * `f` is already done, CIO_EINVAL if `f` is a task. */
CIO_API int cio_future_set_result(cio_future *f, void *result);

/* Complete `f` with `error` (negative).  CIO_ECANCELED is refused with
 * CIO_EINVAL: use cio_future_cancel.  Returns as set_result. */
CIO_API int cio_future_set_error(cio_future *f, int error);

/* Cancel `f`: it becomes done and cancelled at once.  Returns 1, or 0 if
 * `f` was already done.  For a task this is cio_task_cancel(). */
CIO_API int cio_future_cancel(cio_future *f);

/* cio_future_cancel() with a message (Future.cancel(msg); copied, may be
 * NULL); for a task, cio_task_cancel_msg().  Returns as cio_future_cancel,
 * and CIO_ENOMEM (then nothing was done). */
CIO_API int cio_future_cancel_msg(cio_future *f, const char *msg);

/* The message `f` was cancelled with, NULL if none or not cancelled. */
CIO_API const char *cio_future_cancel_message(const cio_future *f);

CIO_API bool cio_future_is_done(const cio_future *f);
CIO_API bool cio_future_is_cancelled(const cio_future *f);

/* The outcome without waiting: 0 with `*result` (may be NULL), the error,
 * CIO_ECANCELED, or CIO_EINPROGRESS if pending.  Marks the error read. */
CIO_API CIO_NODISCARD int cio_future_result(cio_future *f, void **result);

/* The error (0 if it has a result), CIO_ECANCELED, or CIO_EINPROGRESS. */
CIO_API int cio_future_error(cio_future *f);

/* Wait until `f` is done, then return as cio_future_result().  A done
 * future returns at once without suspending.  Suspends.  If the caller is
 * cancelled while waiting, `f` is cancelled (for a task: asked to cancel)
 * as in asyncio. */
CIO_API CIO_NODISCARD int cio_await(cio_future *f, void **result);

CIO_API CIO_NODISCARD int cio_future_add_done_callback(cio_future *f, cio_done_fn cb,
                                         void *arg);
CIO_API int cio_future_remove_done_callback(cio_future *f, cio_done_fn cb,
                                            void *arg);

/* The loop `f` belongs to. */
CIO_API cio_loop *cio_future_loop(const cio_future *f);

/* ------------------------------------------------------------------------
 * Composing tasks: gather, wait, as_completed, wait_for, timeouts, shield,
 * TaskGroup
 * ---------------------------------------------------------------------- */
/* (section: composition) */

/* "No deadline" for the timeout arguments below. */
#define CIO_NO_TIMEOUT HUGE_VAL

/* Wait for `f` with a time limit, as asyncio.wait_for (3.12+).
 *
 * `timeout` seconds (CIO_NO_TIMEOUT: a plain cio_await).  When the time is
 * up, `f` is cancelled (a task is asked to cancel) and awaited to its end,
 * then CIO_ETIMEDOUT is returned.  If `f` handles the cancellation and
 * finishes with a result anyway, that result is returned instead: nothing
 * is lost.  With timeout <= 0 a done `f` gives its outcome, otherwise it is
 * cancelled at once.  Cancelling the caller cancels `f`.  Suspends.
 * Returns f's status, CIO_ETIMEDOUT, CIO_ECANCELED, CIO_EINVAL (NULL, NaN),
 * CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_wait_for(cio_future *f, double timeout, void **result);

/* A timeout scope (asyncio.timeout / timeout_at): every suspension of the
 * calling task between cio_timeout_enter() and cio_timeout_exit() is
 * bounded by the deadline.  When it passes, the task is cancelled; its
 * waiting call returns CIO_ECANCELED, the code unwinds to
 * cio_timeout_exit(), which turns that cancellation into CIO_ETIMEDOUT.
 * A cancellation from outside stays CIO_ECANCELED and never counts as a
 * timeout.  Scopes nest.  Caller storage; the fields are private.
 *
 *   cio_timeout to;
 *   cio_timeout_enter(&to, 2.0);
 *   int rc = fetch(...);              // any suspending calls
 *   rc = cio_timeout_exit(&to, rc);   // CIO_ETIMEDOUT if it expired
 */
typedef struct cio_timeout {
  uint64_t private_[16];
} cio_timeout;

/* Enter a scope that expires `delay` seconds from now: when() is
 * loop time + delay, in the past for a negative delay, and a deadline
 * already passed expires the scope at the next suspension;
 * CIO_NO_TIMEOUT: never, until rescheduled.  Every enter needs its exit:
 * a task that returns with a scope still entered is reported on stderr,
 * naming it, and the scope is closed.  Call from a task.  Returns 0,
 * CIO_EINVAL (NULL, NaN), CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_timeout_enter(cio_timeout *to, double delay);

/* Enter a scope that expires at loop time `when` (see cio_loop_time). */
CIO_API CIO_NODISCARD int cio_timeout_enter_at(cio_timeout *to, double when);

/* Leave the scope.  `rc` is the status the body ends with; returns the
 * status to pass on: CIO_ETIMEDOUT when the scope expired and `rc` is the
 * resulting CIO_ECANCELED, otherwise `rc` unchanged.  Does not suspend.
 * CIO_EINVAL for a scope that is not entered (zero it, or enter it, before
 * passing it anywhere) or already left; CIO_EPERM from another task.
 * Every entered scope must be left before its task returns. */
CIO_API CIO_NODISCARD int cio_timeout_exit(cio_timeout *to, int rc);

/* Move the deadline to loop time `when` (CIO_NO_TIMEOUT: remove it; a
 * past time expires at the next suspension).  Only while the scope is
 * active and has not expired: CIO_EINVAL otherwise. */
CIO_API CIO_NODISCARD int cio_timeout_reschedule(cio_timeout *to, double when);

/* The deadline in loop time (also after it fired), or CIO_NO_TIMEOUT. */
CIO_API double cio_timeout_when(const cio_timeout *to);

/* True once the deadline fired (even before the scope is left). */
CIO_API bool cio_timeout_expired(const cio_timeout *to);

/* Await `f` without letting a cancellation of the caller reach it
 * (asyncio.shield): if the caller is cancelled while waiting, this returns
 * CIO_ECANCELED at once and `f` runs on to its end; keep a reference to
 * it.  Otherwise returns f's outcome as cio_await() does.  Suspends. */
CIO_API CIO_NODISCARD int cio_shield(cio_future *f, void **result);

/* Run many futures (tasks) concurrently and collect their outcomes in
 * input order (asyncio.gather).
 *
 * Default (`return_exceptions` false): returns 0 with `results[i]` set
 * once all succeed, or the first error (a child's CIO_ECANCELED counts) as
 * soon as it happens, leaving the other children running.  Collecting
 * mode (`return_exceptions` true): waits for all and returns 0; each
 * child's status goes to `errors[i]` (required) and its result to
 * `results[i]`.  `results` may be NULL; `errors` may be NULL in default
 * mode.  If the caller is cancelled, every child not done is cancelled,
 * the call waits for them and returns CIO_ECANCELED.  A future given twice
 * is awaited once.  n == 0 returns 0 at once.  Suspends unless every child
 * is already done.  CIO_EINVAL for a NULL array entry. */
CIO_API CIO_NODISCARD int cio_gather(cio_future *const *futs, size_t n, void **results,
                       int *errors, bool return_exceptions);

/* A function to run as a task, for cio_gather_calls(). */
typedef struct cio_call {
  cio_task_fn fn;
  void *arg;
} cio_call;

/* cio_gather() over new tasks running calls[i].fn(calls[i].arg), the way
 * asyncio.gather wraps coroutines.  Children still running after an early
 * return keep running; their later errors are considered handled. */
CIO_API CIO_NODISCARD int cio_gather_calls(const cio_call *calls, size_t n, void **results,
                             int *errors, bool return_exceptions);

/* When cio_wait() returns. */
enum cio_return_when {
  CIO_ALL_COMPLETED = 0,
  CIO_FIRST_COMPLETED = 1,
  CIO_FIRST_EXCEPTION = 2, /* a child error; cancellations don't count */
};

/* Wait for some or all of `futs` (asyncio.wait).  Never cancels them and
 * never fails because of them: on return `done[i]` tells which are done
 * (all finished by the time the caller resumes count); `*ndone` (may be
 * NULL) how many.  A timeout (CIO_NO_TIMEOUT: none) just returns with
 * pending ones.  Suspends, at least one batch.  Returns 0, CIO_ECANCELED
 * (the caller was cancelled; the futures are not), CIO_EINVAL (n == 0,
 * NULL entry, bad `return_when`, NaN timeout), CIO_EPERM outside a task,
 * CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_wait(cio_future *const *futs, size_t n, double timeout,
                     int return_when, bool *done, size_t *ndone);

/* Hands back futures in the order they finish (asyncio.as_completed). */
typedef struct cio_as_completed cio_as_completed;

/* Start watching `futs` (borrowed: keep them alive until freed) with an
 * overall `timeout` (CIO_NO_TIMEOUT: none).  Duplicates are handed back
 * once.  Returns 0, CIO_EINVAL, CIO_ENOMEM, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_as_completed_new(cio_as_completed **out,
                                 cio_future *const *futs, size_t n,
                                 double timeout);

/* Wait for the next future to finish and store it in `*next` (the
 * original object).  Returns 1 with a future, 0 when all were handed back,
 * CIO_ETIMEDOUT once the timeout passed (unfinished futures are not
 * cancelled; ones that finished before it are still handed back first),
 * CIO_ECANCELED.  Suspends unless one is already waiting to be handed. */
CIO_API CIO_NODISCARD int cio_as_completed_next(cio_as_completed *ac, cio_future **next);

/* Stop watching.  NULL is accepted. */
CIO_API void cio_as_completed_free(cio_as_completed *ac);

/* Structured concurrency (asyncio.TaskGroup).
 *
 *   cio_taskgroup *tg;
 *   cio_taskgroup_enter(&tg);
 *   cio_taskgroup_create_task(tg, NULL, fetch, url1, NULL);
 *   cio_taskgroup_create_task(tg, NULL, fetch, url2, NULL);
 *   int rc = cio_taskgroup_exit(tg, 0);  // waits for every child
 *   cio_taskgroup_free(tg);
 *
 * The first child that fails (not by cancellation) cancels the others and
 * the body (the parent's current wait returns CIO_ECANCELED; pass that to
 * exit).  Exit waits for all children and returns CIO_ECHILD when any child
 * or the body failed (cio_taskgroup_errors lists them, body error last),
 * CIO_ECANCELED when the parent was cancelled from outside, otherwise 0.
 * Nothing outlives the group. */
typedef struct cio_taskgroup cio_taskgroup;

/* Create a group whose parent is the calling task.  Returns 0, CIO_EPERM
 * outside a task, CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_taskgroup_enter(cio_taskgroup **out);

/* Start a child.  `out` (may be NULL) receives a reference to release.
 * Returns as cio_create_task(), and CIO_EINVAL when the group is finished
 * or shutting down after a failure (the function never runs). */
CIO_API CIO_NODISCARD int cio_taskgroup_create_task(cio_taskgroup *tg, cio_task **out,
                                      cio_task_fn fn, void *arg,
                                      const cio_task_opts *opts);

/* Leave the group: `body_rc` is how the body ended (0 or an error).
 * Suspends until every child is done.  Returns 0, CIO_ECHILD,
 * CIO_ECANCELED, CIO_EINVAL (already exited), CIO_EPERM (not the parent). */
CIO_API CIO_NODISCARD int cio_taskgroup_exit(cio_taskgroup *tg, int body_rc);

/* After exit: fill `codes` with up to `cap` errors (children in completion
 * order, then the body's) and return how many there are. */
CIO_API size_t cio_taskgroup_errors(const cio_taskgroup *tg, int *codes,
                                    size_t cap);

/* Free a group that was exited (or never given a child).  NULL is
 * accepted.  Returns CIO_EBUSY if children are still running. */
CIO_API int cio_taskgroup_free(cio_taskgroup *tg);

/* Retrying a call with exponential backoff (what tenacity, backoff or
 * aiohttp-retry give asyncio programs).
 *
 *   cio_retry_opts o = {.max_attempts = 5, .max_time = 30};
 *   rc = cio_retry(fetch_price, &query, &price, &o);
 *
 * `fn(arg, &result)` runs in the calling task (no task is created), as
 * often as needed: after a failed attempt that the predicate says to
 * retry, the task sleeps for a "full jitter" backoff, a random delay in
 * [0, min(max_delay, base_delay * 2^(n-1))) after the n-th attempt (AWS's
 * recommendation: clients that failed together do not retry together),
 * or for the delay the predicate asks for (a server's Retry-After).
 * CIO_ECANCELED, from `fn` or from the sleep, is never retried: it is
 * returned at once. */
typedef struct cio_retry_opts {
  int max_attempts;  /* calls of fn at most; 0: 3 */
  /* Give up rather than wait past this many seconds after the first call
   * began (checked before each wait; an attempt is not interrupted: bound
   * it with a timeout scope).  0 or CIO_NO_TIMEOUT: no limit. */
  double max_time;
  double base_delay; /* seconds; 0: 0.1 */
  double max_delay;  /* cap of one backoff, seconds; 0: 30 */
  bool no_jitter;    /* wait the whole backoff, not a random part of it */
  /* Whether the attempt that ended with `rc` and `result` is to be
   * retried.  `*delay` holds the backoff about to be waited; set it to
   * wait something else (>= 0).  NULL: cio_retry_is_transient(rc). */
  bool (*retry_if)(int rc, void *result, double *delay, void *ctx);
  /* Called before each wait with the attempt's number (1 = the first),
   * outcome and the delay: log it, and free `result` if it holds
   * anything, since it is dropped.  May be NULL. */
  void (*on_retry)(int attempt, int rc, void *result, double delay,
                   void *ctx);
  void *ctx; /* passed to retry_if and on_retry */
} cio_retry_opts;

/* Call `fn(arg, result)` until it succeeds or should not be retried (see
 * cio_retry_opts), and return the last attempt's status with its result
 * in `*result` (may be NULL; set to NULL before each attempt).  `opts`
 * may be NULL (3 attempts, connection errors retried).  Suspends while
 * waiting between attempts.  Returns what the last attempt returned,
 * CIO_ECANCELED (from the attempt or the wait), CIO_EINVAL (fn NULL, a
 * negative or NaN option), CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_retry(cio_task_fn fn, void *arg, void **result,
                      const cio_retry_opts *opts);

/* The default predicate: true for the errors a later attempt may not
 * meet (connection refused, reset or aborted, timed out, host or network
 * unreachable, broken pipe, temporary resolver failure, CIO_EAGAIN);
 * false for success, CIO_ECANCELED and everything else. */
CIO_API bool cio_retry_is_transient(int rc);

/* ------------------------------------------------------------------------
 * Synchronization primitives and queues
 * ---------------------------------------------------------------------- */
/* (section: sync) */

/* Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier and the
 * queues of asyncio, with CPython's semantics (Lib/asyncio/locks.py,
 * queues.py).
 *
 * Lifecycle: every primitive is an opaque heap object made by
 * cio_<kind>_new(&out, ...) and freed by cio_<kind>_free() (NULL
 * accepted).  Creation does not need a running loop; made on a thread
 * with a loop, the object is counted by that loop's allocator and must
 * be freed before cio_loop_close().  Free an object only when no task
 * waits on it.  None of these is thread-safe; use an object from the
 * tasks of one loop.  _new returns 0, CIO_EINVAL or CIO_ENOMEM, with
 * *out NULL on failure.
 *
 * Waiting: the calls marked "may suspend" return at once, without
 * suspending, when they can succeed at once (an uncontended acquire, a
 * get with items present); otherwise they must run in a task (else
 * CIO_EPERM) and wait FIFO.  Waiting never allocates.  Any wait may end
 * with CIO_ECANCELED; a cancelled waiter takes nothing with it (a lock
 * turn, permit, item or queue slot it was handed goes to the next in
 * line) and leaves the object consistent.  None takes a timeout: use
 * cio_wait_for() or a timeout scope, which cancel the wait.
 * A NULL object gives CIO_EINVAL (queries return false / 0). */

typedef struct cio_lock cio_lock;
typedef struct cio_event cio_event;
typedef struct cio_condition cio_condition;
typedef struct cio_semaphore cio_semaphore;
typedef struct cio_barrier cio_barrier;
typedef struct cio_queue cio_queue;

/* -- Lock: a mutual-exclusion lock not owned by any task (any task may
 * release it).  Waiters get the lock in FIFO order; release() wakes the
 * first one but does not hand the lock over, yet no newcomer can take it
 * before that waiter runs. */

CIO_API CIO_NODISCARD int cio_lock_new(cio_lock **out);
CIO_API void cio_lock_free(cio_lock *lock);

/* Take the lock, waiting while it is held or others queue first.  May
 * suspend.  Returns 0 (the caller holds the lock), CIO_ECANCELED (it does
 * not), CIO_EPERM outside a task when it would have to wait. */
CIO_API CIO_NODISCARD int cio_lock_acquire(cio_lock *lock);

/* Free the lock and wake the first waiter.  Does not suspend.  Returns 0,
 * or CIO_EPERM if the lock is not held (asyncio's RuntimeError). */
CIO_API int cio_lock_release(cio_lock *lock);

CIO_API bool cio_lock_is_locked(const cio_lock *lock);

/* -- Event: a flag tasks can wait for. */

CIO_API CIO_NODISCARD int cio_event_new(cio_event **out);
CIO_API void cio_event_free(cio_event *ev);

/* Set the flag and wake every task waiting now (they resume on a later
 * iteration, in the order they began waiting).  Returns 0. */
CIO_API int cio_event_set(cio_event *ev);

/* Reset the flag.  Waiters already woken still return 0.  Returns 0. */
CIO_API int cio_event_clear(cio_event *ev);

CIO_API bool cio_event_is_set(const cio_event *ev);

/* Wait until the flag is set; returns 0 at once if it is.  May suspend.
 * Returns 0, CIO_ECANCELED, or CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_event_wait(cio_event *ev);

/* -- Condition: a condition variable over a Lock. */

/* `lock` NULL: the condition makes and owns its own lock.  Otherwise
 * `lock` is borrowed and must outlive the condition. */
CIO_API CIO_NODISCARD int cio_condition_new(cio_condition **out, cio_lock *lock);
CIO_API void cio_condition_free(cio_condition *cond);

/* The condition's lock; cio_condition_acquire/release/is_locked are
 * cio_lock_acquire/release/is_locked on it. */
CIO_API cio_lock *cio_condition_lock(cio_condition *cond);
CIO_API CIO_NODISCARD int cio_condition_acquire(cio_condition *cond);
CIO_API int cio_condition_release(cio_condition *cond);
CIO_API bool cio_condition_is_locked(const cio_condition *cond);

/* Release the lock, wait to be notified, and take the lock again.
 * Suspends.  The lock is held again on every return but CIO_EPERM and
 * CIO_EINVAL, cancellation included: a cancellation surfaces only once
 * the lock is re-acquired.  A wait that ends with an error passes its
 * notification, if it got one, on to another waiter.  May return 0
 * spuriously: re-check what you wait for.  Returns 0, CIO_ECANCELED, or
 * CIO_EPERM if the lock is not held or outside a task. */
CIO_API CIO_NODISCARD int cio_condition_wait(cio_condition *cond);

/* Wait until `pred(arg)` is true: `while (!pred(arg)) wait()`.  The lock
 * must be held when waiting is needed.  Returns 0 (pred was true, lock
 * still held) or an error of cio_condition_wait(). */
CIO_API CIO_NODISCARD int cio_condition_wait_for(cio_condition *cond,
                                   bool (*pred)(void *arg), void *arg);

/* Wake up to `n` tasks waiting on `cond` (oldest first) that were not
 * woken already; they return from wait() once they re-acquire the lock.
 * Does not suspend.  Returns 0, or CIO_EPERM if the lock is not held. */
CIO_API int cio_condition_notify(cio_condition *cond, size_t n);
CIO_API int cio_condition_notify_all(cio_condition *cond);

/* -- Semaphore and BoundedSemaphore: a counter of permits. */

/* `value` initial permits.  Returns CIO_EINVAL if value < 0. */
CIO_API CIO_NODISCARD int cio_semaphore_new(cio_semaphore **out, int value);

/* As cio_semaphore_new, but release() may never raise the count above
 * `value`. */
CIO_API CIO_NODISCARD int cio_bounded_semaphore_new(cio_semaphore **out, int value);
CIO_API void cio_semaphore_free(cio_semaphore *sem);

/* Take a permit, waiting (FIFO) while none is free or others queue
 * first.  May suspend.  Returns 0, CIO_ECANCELED (no permit taken), or
 * CIO_EPERM outside a task when it would have to wait. */
CIO_API CIO_NODISCARD int cio_semaphore_acquire(cio_semaphore *sem);

/* Give a permit back and hand it to the first waiter.  Does not suspend.
 * Returns 0, or CIO_EOVERFLOW for a bounded semaphore already at its
 * initial value (asyncio's ValueError) or a count at INT_MAX. */
CIO_API int cio_semaphore_release(cio_semaphore *sem);

/* True if acquire() would wait: no permit free, or tasks queued. */
CIO_API bool cio_semaphore_is_locked(const cio_semaphore *sem);

/* Permits free now (not counting those handed to woken waiters). */
CIO_API int cio_semaphore_value(const cio_semaphore *sem);

/* -- Barrier: `parties` tasks wait for each other. */

/* Returns CIO_EINVAL if parties < 1. */
CIO_API CIO_NODISCARD int cio_barrier_new(cio_barrier **out, int parties);
CIO_API void cio_barrier_free(cio_barrier *barrier);

/* Wait until `parties` tasks are waiting, then let them all go; `*index`
 * (may be NULL) gets this task's arrival index, 0 .. parties-1, unique
 * per round (-1 on error).  A task arriving while the previous round
 * still leaves waits for the next round.  Suspends.  Returns 0,
 * CIO_ENOTRECOVERABLE if the barrier is or gets broken or reset
 * (asyncio's BrokenBarrierError), CIO_ECANCELED (the task no longer
 * counts as waiting), CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_barrier_wait(cio_barrier *barrier, int *index);

/* Return the barrier to its initial state: tasks waiting now get
 * CIO_ENOTRECOVERABLE; a broken barrier works again.  May suspend briefly
 * (it takes the barrier's internal lock).  Returns 0, CIO_ECANCELED,
 * CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_barrier_reset(cio_barrier *barrier);

/* Break the barrier: current and future waits return
 * CIO_ENOTRECOVERABLE until cio_barrier_reset().  Returns as reset. */
CIO_API CIO_NODISCARD int cio_barrier_abort(cio_barrier *barrier);

CIO_API int cio_barrier_parties(const cio_barrier *barrier);
/* Tasks waiting in the filling round (0 while it drains or resets). */
CIO_API int cio_barrier_n_waiting(const cio_barrier *barrier);
CIO_API bool cio_barrier_is_broken(const cio_barrier *barrier);

/* -- Queues of pointer-sized items: FIFO, LIFO (a stack) and priority.
 * The queue stores the pointers; what they point to stays the caller's
 * business (cio_queue_free and an immediate shutdown drop the items
 * without looking at them). */

/* `maxsize` 0: unbounded; otherwise put() waits while `maxsize` items
 * are queued. */
CIO_API CIO_NODISCARD int cio_queue_new(cio_queue **out, size_t maxsize);
CIO_API CIO_NODISCARD int cio_lifo_queue_new(cio_queue **out, size_t maxsize);

/* Items come out lowest first by `cmp(a, b)` (negative: a before b),
 * called with the items themselves.  Order among equal items is
 * unspecified (as with heapq): add a sequence number for stability.
 * Returns CIO_EINVAL if cmp is NULL. */
CIO_API CIO_NODISCARD int cio_priority_queue_new(cio_queue **out, size_t maxsize,
                                   int (*cmp)(const void *a, const void *b));
CIO_API void cio_queue_free(cio_queue *q);

/* Add `item`, waiting while the queue is full.  May suspend.  Returns 0,
 * CIO_ESHUTDOWN if the queue is or gets shut down, CIO_ECANCELED,
 * CIO_ENOMEM, CIO_EPERM outside a task when it would have to wait.  On
 * any error the item was not added. */
CIO_API CIO_NODISCARD int cio_queue_put(cio_queue *q, void *item);

/* Add `item` without waiting.  Returns 0, CIO_EAGAIN if the queue is full
 * (asyncio's QueueFull), CIO_ESHUTDOWN, or CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_queue_put_nowait(cio_queue *q, void *item);

/* Remove the next item into `*item`, waiting while the queue is empty.
 * May suspend.  Returns 0, CIO_ESHUTDOWN once the queue is shut down and
 * empty, CIO_ECANCELED (no item taken), CIO_EPERM outside a task when it
 * would have to wait.  `*item` is NULL on error. */
CIO_API CIO_NODISCARD int cio_queue_get(cio_queue *q, void **item);

/* Remove the next item without waiting.  Returns 0, CIO_EAGAIN if the
 * queue is empty (asyncio's QueueEmpty), CIO_ESHUTDOWN if it is empty and
 * shut down. */
CIO_API CIO_NODISCARD int cio_queue_get_nowait(cio_queue *q, void **item);

/* Mark one item taken with get() as processed.  Returns 0, or CIO_EINVAL
 * if called more times than items were put. */
CIO_API int cio_queue_task_done(cio_queue *q);

/* Wait until every item put has been marked done; returns at once if so.
 * May suspend.  Returns 0, CIO_ECANCELED, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_queue_join(cio_queue *q);

/* Shut the queue down (Python 3.13): puts fail with CIO_ESHUTDOWN from
 * now on; gets drain what is left, then fail with CIO_ESHUTDOWN.  Blocked
 * getters and putters are woken to re-check.  With `immediate` the items
 * left are dropped at once, each counting as task_done (which may release
 * join()).  Does not suspend.  Returns 0. */
CIO_API CIO_NODISCARD int cio_queue_shutdown(cio_queue *q, bool immediate);

CIO_API size_t cio_queue_qsize(const cio_queue *q);
CIO_API size_t cio_queue_maxsize(const cio_queue *q);
CIO_API bool cio_queue_is_empty(const cio_queue *q);
/* True when maxsize > 0 and qsize >= maxsize. */
CIO_API bool cio_queue_is_full(const cio_queue *q);
CIO_API bool cio_queue_is_shut_down(const cio_queue *q);

/* ------------------------------------------------------------------------
 * Executors and threads: run_in_executor, to_thread, process pools,
 * run_coroutine_threadsafe
 * ---------------------------------------------------------------------- */
/* (section: executor) */

/* Blocking work runs on other threads (or processes) while the loop and
 * its tasks go on, as asyncio's run_in_executor / to_thread do.
 *
 * An executor is a pool of worker threads (concurrent.futures'
 * ThreadPoolExecutor) or of worker processes (ProcessPoolExecutor).  It
 * is not tied to a loop: tasks of several loops, in several threads, may
 * share one.  Each loop also has a default thread pool, made on first use
 * with min(32, CPUs + 4) threads, which the loop shuts down when it closes.
 * These are casyncio's own threads, not libuv's threadpool, so blocking
 * work never delays file and DNS requests.
 *
 * Cancellation: cancelling the waiting task makes the call return
 * CIO_ECANCELED at once.  A job no worker has started is dropped; a job
 * already running cannot be interrupted and runs to its end, and its late
 * outcome goes to the `dispose` function given with it (if any), on the
 * loop thread, so results can be freed.
 *
 * cio_loop_close() with jobs of that loop still in flight (their tasks
 * were cancelled): queued ones are dropped, and the call blocks until the
 * running ones finish, disposing of their outcomes; nothing leaks and no
 * callback ever reaches a closed loop. */
typedef struct cio_executor cio_executor;

/* A blocking function run on a worker thread: return 0 (or more) with an
 * optional result in `*result` (initially NULL), or a negative CIO_E*
 * code (CIO_ECANCELED ends the future cancelled; it is best avoided, since
 * the caller then cannot tell it from its own cancellation).  It must not
 * call casyncio functions that need a loop. */
typedef int (*cio_blocking_fn)(void *arg, void **result);


/* Create a pool of up to `max_workers` threads (0: min(32, CPUs + 4)),
 * started as jobs arrive.  Does not need a loop.  Returns 0, CIO_EINVAL or
 * CIO_ENOMEM; `*out` is NULL on failure. */
CIO_API CIO_NODISCARD int cio_thread_pool_new(cio_executor **out, size_t max_workers);

/* Run `fn(arg, &result)` on `ex` (NULL: the loop's default executor) and
 * wait for it (await loop.run_in_executor(ex, fn, arg)).  `arg` must stay
 * valid until fn returns; after a cancellation, `dispose` (may be NULL)
 * says when.  Suspends.  Returns fn's status with its result in
 * `*result` (may be NULL), CIO_ECANCELED, CIO_ESHUTDOWN (executor shut
 * down), CIO_EINVAL (fn NULL, a process pool), CIO_ENOMEM, CIO_EPERM
 * outside a task. */
CIO_API CIO_NODISCARD int cio_run_in_executor(cio_executor *ex, cio_blocking_fn fn,
                                void *arg, cio_dispose_fn dispose,
                                void **result);

/* cio_run_in_executor(NULL, fn, arg, NULL, result): asyncio.to_thread. */
CIO_API CIO_NODISCARD int cio_to_thread(cio_blocking_fn fn, void *arg, void **result);

/* Start `fn(arg, &result)` on `ex` (NULL: the default executor) without
 * waiting (loop.run_in_executor without await): `*out` gets a future of
 * the current loop that completes with fn's result or error, to pass to
 * cio_await, cio_gather, cio_wait...  Cancelling the future cancels the
 * job if it has not started; the late outcome of a started one goes to
 * `dispose`.  Does not suspend; call on a loop's thread.  Returns 0,
 * CIO_ESHUTDOWN, CIO_EINVAL, CIO_ENOMEM, CIO_EPERM without a loop.
 * Release the future when done. */
CIO_API CIO_NODISCARD int cio_executor_submit(cio_executor *ex, cio_blocking_fn fn,
                                void *arg, cio_dispose_fn dispose,
                                cio_future **out);

/* Shut `ex` down (Executor.shutdown): new jobs get CIO_ESHUTDOWN.  With
 * `cancel_futures`, jobs not yet started are dropped (their waiters get
 * CIO_ECANCELED); otherwise they still run.  With `wait`, returns once
 * every job has run and the workers have exited: from a task it suspends
 * (CIO_ECANCELED if the task is cancelled meanwhile; the shutdown goes
 * on), elsewhere it blocks the thread.  Returns 0, CIO_ECANCELED,
 * CIO_EINVAL, CIO_ENOMEM.  Thread-safe.  Idempotent. */
CIO_API CIO_NODISCARD int cio_executor_shutdown(cio_executor *ex, bool wait,
                                  bool cancel_futures);

/* Shut `ex` down without cancelling (if not done yet), block until its
 * workers exit, and free it.  In a task, call cio_executor_shutdown(ex,
 * true, ...) first so this does not block the loop.  NULL is accepted.
 * Do not use with the loop's default executor. */
CIO_API void cio_executor_free(cio_executor *ex);

/* Make `ex` (a thread pool) the default executor of `loop` (NULL: the
 * current loop); the loop takes ownership and shuts it down and frees it
 * when it closes (loop.set_default_executor).  Loop thread only.  Returns
 * 0, CIO_EINVAL, CIO_EPERM (another thread's loop), CIO_EBUSY (a default
 * executor is already in use or was shut down), CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_loop_set_default_executor(cio_loop *loop, cio_executor *ex);

/* Shut the current loop's default executor down, waiting for its jobs
 * (loop.shutdown_default_executor); later jobs for it get CIO_ESHUTDOWN.
 * Suspends.  Returns 0, CIO_ECANCELED, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_shutdown_default_executor(void);

/* -- Process pools: CPU-bound or crash-prone work in worker processes.
 *
 * Workers are the program itself, started again (posix_spawn, never
 * fork) with CIO_PROCESS_WORKER in the environment: main() must call
 * cio_process_worker_main() first thing, with the table of functions a
 * job may name.  A job sends bytes and gets bytes back.  Workers start
 * with the first jobs and are reused; one that dies (a crash, abort(), a
 * kill) fails its job with CIO_EPIPE (asyncio's BrokenProcessPool) and
 * is replaced at once, and the pool goes on working.
 *
 *   static const cio_process_fn_entry fns[] = {{"square", square}};
 *   int main(void) {
 *     cio_process_worker_main(fns, 1);   // returns only in the parent
 *     ...
 *   } */

/* A function a worker process runs: read `in_len` bytes at `in` (NULL
 * when `in_len` is 0), store a malloc()ed reply in `*out` (`*out_len`
 * bytes; may stay NULL) and return 0 (or more), or a negative CIO_E*
 * code (the reply is then dropped). */
typedef int (*cio_process_fn)(const void *in, size_t in_len, void **out,
                              size_t *out_len);

typedef struct cio_process_fn_entry {
  const char *name;
  cio_process_fn fn;
} cio_process_fn_entry;

/* In a worker process (CIO_PROCESS_WORKER is set), serve jobs with
 * `fns[0..n)` until the pool closes, then exit the process: never
 * returns.  In any other process return 0 at once.  Call it before
 * anything else in main(). */
CIO_API int cio_process_worker_main(const cio_process_fn_entry *fns, size_t n);

/* Create a pool of up to `workers` processes (0: one per CPU).  `argv`
 * (NULL-terminated, copied) is the command that starts a worker; NULL
 * runs this program again without arguments.  Does not need a loop.
 * Returns 0, CIO_EINVAL, CIO_ENOMEM; `*out` is NULL on failure.  Shut down
 * and free it like a thread pool. */
CIO_API CIO_NODISCARD int cio_process_pool_new(cio_executor **out, size_t workers,
                                 const char *const *argv);

/* Run the function named `name` in a worker of `pool` with the `in_len`
 * bytes at `in` (copied) and wait for the reply: on success `*out` gets a
 * malloc()ed buffer (free() it; NULL for an empty reply) and `*out_len`
 * its size.  A cancelled call returns at once; a job already running
 * finishes in its worker and the reply is dropped.  Suspends.  Returns
 * the function's status, CIO_ENOSYS (no function by that name), CIO_EPIPE
 * (the worker died: crash, kill...), CIO_ECANCELED, CIO_ESHUTDOWN,
 * CIO_EINVAL (not a process pool, NULL arguments), CIO_ENOMEM, an error
 * starting the worker (CIO_ENOENT...), or CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_process_pool_run(cio_executor *pool, const char *name,
                                 const void *in, size_t in_len, void **out,
                                 size_t *out_len);

/* -- Threads talking to loops (run_coroutine_threadsafe).
 *
 * Several loops may run at once, one per thread.  Any thread may hand a
 * callback (cio_loop_call_soon_threadsafe) or a task to any running loop
 * and wait for the task's result from its own thread. */

/* A thread-safe handle on a task running on another thread's loop
 * (concurrent.futures.Future). */
typedef struct cio_concurrent_future cio_concurrent_future;

/* Run `fn(arg)` as a new task on `loop`, which runs in another thread
 * (asyncio.run_coroutine_threadsafe).  The task is created on the loop's
 * thread, soon.  Thread-safe.  Returns 0, CIO_EINVAL, CIO_ESHUTDOWN (loop
 * closed), CIO_ENOMEM; `*out` is NULL on failure.  If `loop` closes before
 * it starts the task, the future never completes (wait times out). */
CIO_API CIO_NODISCARD int cio_run_coroutine_threadsafe(cio_loop *loop, cio_task_fn fn,
                                         void *arg,
                                         cio_concurrent_future **out);

/* Block the calling thread until the task is done or `timeout` seconds
 * pass (CIO_NO_TIMEOUT: no limit; 0: just look).  Returns the task's status
 * with its result in `*result` (may be NULL), CIO_ECANCELED (the task or
 * this future was cancelled), CIO_ETIMEDOUT (the task goes on),
 * CIO_EDEADLK when called on the task's own loop thread (it would block
 * the loop the task needs), CIO_EINVAL.  Thread-safe. */
CIO_API CIO_NODISCARD int cio_concurrent_future_wait(cio_concurrent_future *cf,
                                       double timeout, void **result);

/* Cancel: the future is done and cancelled at once (waiters get
 * CIO_ECANCELED) and the task is asked to cancel on its loop.  Returns 1,
 * 0 if it was already done, or CIO_EINVAL.  Thread-safe. */
CIO_API int cio_concurrent_future_cancel(cio_concurrent_future *cf);

CIO_API bool cio_concurrent_future_is_done(cio_concurrent_future *cf);

/* Drop the handle; the task, if still running, runs on and its result is
 * dropped.  NULL is accepted.  Thread-safe. */
CIO_API void cio_concurrent_future_free(cio_concurrent_future *cf);

/* ------------------------------------------------------------------------
 * Waiting on file descriptors
 *
 * For libraries that own their sockets (libpq, libcurl, OpenSSL over a
 * raw fd...): a task waits until a descriptor is readable or writable, or
 * a callback runs whenever it is (asyncio's add_reader / add_writer).
 * Readiness is level-triggered, as asyncio's selector: a callback keeps
 * being called, once per loop iteration, while the descriptor stays ready
 * and the callback registered.  A hang-up or socket error counts as ready
 * both ways, so the next read or write reports what happened.
 *
 * The loop watches a descriptor only while a task waits on it or a
 * callback is registered, so a program may close it once its waits have
 * returned and its callbacks are removed (asyncio: remove_reader before
 * close).  A descriptor that a casyncio stream, server or datagram
 * endpoint owns cannot be waited on (CIO_EEXIST).  Regular files are
 * always ready and are refused (CIO_EPERM, libuv's answer).
 * ---------------------------------------------------------------------- */
enum {
  CIO_READABLE = 1,
  CIO_WRITABLE = 2,
};

/* Wait until `fd` is ready for any of `events` (CIO_READABLE,
 * CIO_WRITABLE or both), at most `timeout` seconds (CIO_NO_TIMEOUT: no
 * limit; 0 or less expires at the next batch, possibly before the loop
 * polled: a way to give up, not to poll).  Several tasks may wait on it;
 * every waiter whose events became ready is woken.  Suspends.  Returns
 * the ready events it asked for (> 0), CIO_ETIMEDOUT, CIO_ECANCELED,
 * CIO_EINVAL (events or a NaN timeout), CIO_EBADF (fd < 0 or not open),
 * CIO_EEXIST (a casyncio stream owns fd), CIO_EPERM (a regular file, or
 * outside a task), CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_fd_wait(int fd, int events, double timeout);

/* Call `cb(arg)` on the loop whenever `fd` is readable (asyncio's
 * loop.add_reader); registering again replaces the callback.  The
 * callback runs from the ready queue, after the poll that saw the event,
 * like any loop callback.  Never suspends.  `loop` NULL is the thread's
 * loop.  Returns 0, CIO_EINVAL, CIO_EBADF, CIO_EEXIST, CIO_EPERM,
 * CIO_ENOMEM, CIO_ESHUTDOWN.  Callbacks still registered when the loop
 * closes are removed. */
CIO_API CIO_NODISCARD int cio_loop_add_reader(cio_loop *loop, int fd, cio_callback_fn cb,
                                void *arg);
/* Stop calling the reader of `fd`.  Returns 1 if one was registered, 0
 * if not, CIO_EINVAL without a loop. */
CIO_API int cio_loop_remove_reader(cio_loop *loop, int fd);
/* The same for writability (asyncio's add_writer / remove_writer). */
CIO_API CIO_NODISCARD int cio_loop_add_writer(cio_loop *loop, int fd, cio_callback_fn cb,
                                void *arg);
CIO_API int cio_loop_remove_writer(cio_loop *loop, int fd);

/* ------------------------------------------------------------------------
 * Streams, servers, datagrams and name resolution
 * ---------------------------------------------------------------------- */
/* (section: net) */

/* TCP and Unix-socket streams, servers, UDP endpoints and name lookups,
 * with asyncio's semantics (Lib/asyncio/streams.py) translated to codes:
 *
 *   asyncio                          casyncio
 *   IncompleteReadError(partial, n)  CIO_ENODATA, partial bytes in `buf`,
 *                                    their count in `*n`
 *   LimitOverrunError(consumed)      CIO_ENOBUFS, `*n` = consumed, buffer
 *                                    untouched
 *   ValueError from readline limit   CIO_EMSGSIZE (the line is dropped)
 *   second concurrent reader         CIO_EBUSY
 *   ConnectionResetError, ...        CIO_ECONNRESET, CIO_EPIPE, ...
 *
 * Timeouts are composed by the caller: run the call under cio_wait_for()
 * or a cio_timeout scope.  A suspending call cancelled while waiting
 * returns CIO_ECANCELED and leaves the stream usable: no buffered byte is
 * lost. */

struct addrinfo;

/* A socket address (IPv4, IPv6 or Unix), large enough for any of them;
 * `(struct sockaddr *)&addr` is usable with the socket API. */
typedef struct cio_addr {
  uint64_t private_[16];
} cio_addr;

/* Fill `out` from a numeric IPv4 or IPv6 address and a port.  Returns 0
 * or CIO_EINVAL.  Does not suspend. */
CIO_API CIO_NODISCARD int cio_addr_parse(cio_addr *out, const char *ip, int port);

/* Write the numeric host of `a` into `host` (`cap` bytes; 46 is enough)
 * and its port into `*port` (either may be NULL; a Unix address gives its
 * path and port 0).  Returns 0, CIO_EINVAL or CIO_ENOSPC. */
CIO_API CIO_NODISCARD int cio_addr_format(const cio_addr *a, char *host, size_t cap,
                            int *port);

/* -- Streams: one object is asyncio's StreamReader and StreamWriter.
 *
 * Reading: bytes arrive in the stream's buffer as soon as the peer sends
 * them (up to 2 * limit: then reading pauses until the buffer drains to
 * `limit`, as asyncio does).  The read calls take from the buffer first
 * and suspend only when it cannot satisfy them.  Only one task may wait
 * for data at a time (another gets CIO_EBUSY).  When the connection
 * fails (a reset...), the bytes received before it are still read first:
 * cio_stream_read returns them, readline / readuntil / readexactly return
 * the complete lines or chunks they find; a call the buffer cannot
 * satisfy then returns the error (CIO_ECONNRESET), leaving a partial line
 * buffered for cio_stream_read.  A reset is never read as a clean end of
 * file.  (asyncio raises at once and drops the buffered bytes.)
 *
 * Writing: cio_stream_write() never suspends; it sends what the kernel
 * takes and queues the rest.  cio_stream_drain() suspends while more than
 * the high-water mark is queued, until it falls to the low-water mark.
 *
 * Lifetime: cio_stream_close() flushes what is queued, closes and frees
 * the stream (asyncio's close() + wait_closed()).  A server's connection
 * stream is closed by the server when its handler returns, if the
 * handler did not.  Not thread-safe. */
typedef struct cio_stream cio_stream;

/* Options of a stream.  Pass NULL for the defaults.  A struct you pass
 * states its limit explicitly, as asyncio's `limit=` argument: a limit of
 * 0 or less is refused with CIO_EINVAL (it never silently means the
 * default), so start from CIO_STREAM_DEFAULT_LIMIT:
 *
 *   cio_stream_opts o = {.limit = CIO_STREAM_DEFAULT_LIMIT,
 *                        .write_high_water = 1 << 20};
 *
 * The water marks keep 0 as "default", as set_write_buffer_limits does. */
#define CIO_STREAM_DEFAULT_LIMIT 65536 /* asyncio's _DEFAULT_LIMIT */

typedef struct cio_stream_opts {
  ssize_t limit;           /* line / separator limit, > 0 */
  size_t write_high_water; /* drain() waits above this; 0: 64 KiB */
  size_t write_low_water;  /* ... until at most this; 0: high / 4 */
} cio_stream_opts;

/* Connect to `host`:`port` over TCP (asyncio.open_connection).  `host`
 * is a name or numeric address; each address it resolves to is tried in
 * turn.  TCP_NODELAY is set.  `opts` may be NULL.  Suspends.  Returns 0,
 * CIO_ECONNREFUSED and the other connect errors (the last address's),
 * resolver errors (CIO_EAI_*), CIO_ECANCELED (the attempt is aborted),
 * CIO_EINVAL (also: opts->limit <= 0), CIO_ENOMEM, CIO_EPERM outside a
 * task.  On failure `*out` is NULL. */
CIO_API CIO_NODISCARD int cio_open_connection(cio_stream **out, const char *host, int port,
                                const cio_stream_opts *opts);

/* Connect to the Unix socket at `path` (asyncio.open_unix_connection).
 * Returns as cio_open_connection (CIO_ENOENT when nothing is there). */
CIO_API CIO_NODISCARD int cio_open_unix_connection(cio_stream **out, const char *path,
                                     const cio_stream_opts *opts);

/* Read up to `n` bytes into `buf`: as soon as at least one is buffered,
 * or 0 at end of file (n == 0 returns 0 at once).  May suspend.  Returns
 * the count, the stored connection error, CIO_EBUSY, CIO_ECANCELED,
 * CIO_EPERM outside a task when it would have to wait. */
CIO_API CIO_NODISCARD ssize_t cio_stream_read(cio_stream *s, void *buf, size_t n);

/* Read until end of file (asyncio's read(-1)).  `*data` gets a buffer
 * from malloc() holding `*len` bytes (free it with free(); never NULL on
 * success, even when empty).  May suspend.  Returns 0 or as
 * cio_stream_read; on error `*data` is NULL and what was read is lost. */
CIO_API CIO_NODISCARD int cio_stream_read_all(cio_stream *s, void **data, size_t *len);

/* Read exactly `n` bytes into `buf`.  May suspend.  Returns 0, or
 * CIO_ENODATA when the stream ends first: the partial bytes are in `buf`,
 * their count in `*nread` (may be NULL; set on every return), and the
 * buffer is emptied.  Other errors as cio_stream_read, with nothing
 * consumed. */
CIO_API CIO_NODISCARD int cio_stream_readexactly(cio_stream *s, void *buf, size_t n,
                                   size_t *nread);

/* Read up to and including the next `sep` (`seplen` > 0 bytes) into
 * `buf` (`cap` bytes) and return the length.  The chunk before the
 * separator may not exceed the stream's limit, nor cap - seplen.  May
 * suspend.  Errors:
 *   CIO_ENOBUFS  the limit is exceeded; `*n` = bytes consumed looking
 *                for the separator; nothing is removed from the stream.
 *   CIO_ENODATA  end of file before the separator: the buffered bytes
 *                (up to cap) are moved to `buf`, `*n` of them.
 *   CIO_EINVAL   seplen == 0; and as cio_stream_read.
 * `n` may be NULL. */
CIO_API CIO_NODISCARD ssize_t cio_stream_readuntil(cio_stream *s, const void *sep,
                                     size_t seplen, void *buf, size_t cap,
                                     size_t *n);

/* cio_stream_readuntil with several separators (asyncio 3.13's
 * readuntil(tuple)): `nseps` > 0 separators `seps[i]` of `seplens[i]` > 0
 * bytes.  The match that ends first wins (the shorter separator on a
 * tie); the limit counts the bytes before it, and while none is found the
 * bytes scanned up to the end of the longest separator.  `cap` must hold
 * the longest separator, and the chunk before a match may not exceed
 * cap - (longest separator).  Returns and errors as cio_stream_readuntil;
 * CIO_EINVAL for an empty list or an empty separator. */
CIO_API CIO_NODISCARD ssize_t cio_stream_readuntil_any(cio_stream *s, const void *const *seps,
                                         const size_t *seplens, size_t nseps,
                                         void *buf, size_t cap, size_t *n);

/* Read one line, '\n' included, into `buf` (`cap` bytes) and return its
 * length.  At end of file returns the partial last line (0 when none);
 * after a connection error, the error (the partial line stays buffered).
 * A line longer than the limit (or than cap - 1) gives CIO_EMSGSIZE and
 * is discarded (through its '\n' if that is buffered, otherwise the whole
 * buffer), as asyncio's ValueError.  May suspend; other errors as
 * cio_stream_read. */
CIO_API CIO_NODISCARD ssize_t cio_stream_readline(cio_stream *s, void *buf, size_t cap);

/* True once end of file was received and the buffer is empty. */
CIO_API bool cio_stream_at_eof(const cio_stream *s);

/* Bytes buffered and not yet read. */
CIO_API size_t cio_stream_buffered(const cio_stream *s);

/* The stored connection error (0 if none), asyncio's exception(). */
CIO_API int cio_stream_error(const cio_stream *s);

/* Queue `n` bytes of `data` (copied) for sending.  Never suspends.
 * Returns 0, CIO_ECLOSED after close() or write_eof(), the connection's
 * write error (CIO_EPIPE, CIO_ECONNRESET...), CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_stream_write(cio_stream *s, const void *data, size_t n);

/* Wait until the write queue is below the low-water mark if it went
 * above the high-water mark (returns at once otherwise).  Any number of
 * tasks may wait.  Suspends.  Returns 0, the connection's error,
 * CIO_ECONNRESET if the stream was closed ("Connection lost"),
 * CIO_ECANCELED, CIO_EPERM outside a task when it would have to wait. */
CIO_API CIO_NODISCARD int cio_stream_drain(cio_stream *s);

/* Close the sending side once the queue is flushed (half-close: the peer
 * reads end of file; this side can still read).  On a TLS stream this
 * sends close_notify.  Never suspends.  Returns 0, CIO_ECLOSED, or an
 * error of the socket. */
CIO_API CIO_NODISCARD int cio_stream_write_eof(cio_stream *s);

/* Bytes queued and not yet taken by the kernel. */
CIO_API size_t cio_stream_write_buffer_size(const cio_stream *s);

/* Change the water marks (high 0: 64 KiB; low 0: high / 4).  Returns 0 or
 * CIO_EINVAL (low > high). */
CIO_API CIO_NODISCARD int cio_stream_set_write_buffer_limits(cio_stream *s, size_t high,
                                               size_t low);

/* The water marks in force (asyncio's get_write_buffer_limits(), which
 * returns (low, high)).  Either pointer may be NULL.  Returns 0 or
 * CIO_EINVAL (s NULL). */
CIO_API int cio_stream_get_write_buffer_limits(const cio_stream *s,
                                               size_t *high, size_t *low);

/* Close and free `s`: queued writes are flushed first, then the socket is
 * closed; a task waiting in a read gets end of file, one in drain
 * CIO_ECONNRESET.  Suspends until the socket is closed; outside a task it
 * starts the close and returns 0 (the loop finishes it).  `s` is invalid
 * afterwards.  Returns 0, or CIO_ECANCELED if cancelled while flushing
 * (the flush is abandoned; the stream is still closed and freed).  NULL
 * is accepted.  A TLS stream (casyncio/tls.h) first sends close_notify
 * and waits for the peer's, up to its shutdown timeout: CIO_ETIMEDOUT if
 * none came (closed and freed all the same). */
CIO_API CIO_NODISCARD int cio_stream_close(cio_stream *s);

/* From another task than the one closing it: wait until `s` is closed
 * (asyncio's wait_closed()).  `s` stays valid until this returns.
 * Suspends.  Returns 0, CIO_ECANCELED, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_stream_wait_closed(cio_stream *s);

/* True once close() was called or the socket is closing. */
CIO_API bool cio_stream_is_closing(const cio_stream *s);

/* The peer's / the local address (asyncio's get_extra_info('peername')
 * and ('sockname')).  Returns 0, CIO_ENOTCONN, CIO_ENOTSUP (a pipe). */
CIO_API CIO_NODISCARD int cio_stream_peer_addr(cio_stream *s, cio_addr *out);
CIO_API CIO_NODISCARD int cio_stream_sock_addr(cio_stream *s, cio_addr *out);

/* -- Streams over a descriptor the program already has.  The stream takes
 * `fd` over (it is closed with the stream); the descriptor is made
 * non-blocking.  `opts` may be NULL.  They do not suspend and need the
 * thread's loop (else CIO_EPERM).  On failure `*out` is NULL and `fd`
 * stays the caller's (except in the unlikely case that libuv accepted it
 * but could not start reading, reported with libuv's code: then it was
 * closed with the stream).
 *
 * cio_open_connection_sock: a connected stream socket (TCP, Unix), as
 * asyncio.open_connection(sock=...).  Returns 0, CIO_EINVAL if `fd` is not
 * a stream socket or opts->limit <= 0, CIO_EBADF, CIO_EEXIST if casyncio already watches
 * `fd`, CIO_ENOMEM, CIO_ESHUTDOWN (the loop is closing).
 * cio_connect_read_pipe / cio_connect_write_pipe: a pipe, FIFO, character
 * device or stream socket used in one direction (loop.connect_read_pipe /
 * connect_write_pipe): reading from the first and writing to the second
 * work as on any stream; the other direction gives CIO_ENOTSUP.  Returns
 * as above; CIO_EINVAL for a regular file or a datagram socket. */
CIO_API CIO_NODISCARD int cio_open_connection_sock(cio_stream **out, int fd,
                                     const cio_stream_opts *opts);
CIO_API CIO_NODISCARD int cio_connect_read_pipe(cio_stream **out, int fd,
                                  const cio_stream_opts *opts);
CIO_API CIO_NODISCARD int cio_connect_write_pipe(cio_stream **out, int fd,
                                   const cio_stream_opts *opts);

/* -- Servers (asyncio.start_server).  Each accepted connection runs
 * `handler(stream, arg)` in a task of its own.  The handler may read,
 * write and close the stream; when it returns the server closes the
 * stream if it did not.  A handler returning an error is reported on
 * stderr ("unhandled error in connection handler") and only its own
 * connection is closed.  When the process runs out of file descriptors
 * the server stops accepting for 100 ms and retries (pending clients wait
 * in the kernel's backlog). */
typedef struct cio_server cio_server;
typedef int (*cio_server_handler)(cio_stream *s, void *arg);

typedef struct cio_server_opts {
  /* For accepted connections (copied); NULL: the defaults. */
  const cio_stream_opts *stream;
  int backlog;            /* 0: 128 */
  /* SO_REUSEPORT: several loops (one per core) may listen on one port and
   * the kernel spreads connections among them. */
  bool reuse_port;
  /* At most this many connections at once (0: no limit).  At the limit
   * the server stops accepting: new clients wait in the kernel's backlog
   * (nothing is refused or dropped) until a connection ends. */
  size_t max_connections;
} cio_server_opts;

/* Listen on `host`:`port` (host NULL: all IPv4 interfaces, "0.0.0.0";
 * port 0: any free port, see cio_server_port) and start accepting.
 * Suspends only to resolve a host name (a numeric host needs no task).
 * Returns 0, CIO_EADDRINUSE and other bind errors, resolver errors,
 * CIO_EINVAL (also: opts->stream->limit <= 0), CIO_ENOMEM.  On failure
 * `*out` is NULL. */
CIO_API CIO_NODISCARD int cio_start_server(cio_server **out, cio_server_handler handler,
                             void *arg, const char *host, int port,
                             const cio_server_opts *opts);

/* Listen on the Unix socket `path` (removed again by close).  Returns as
 * cio_start_server. */
CIO_API CIO_NODISCARD int cio_start_unix_server(cio_server **out, cio_server_handler handler,
                                  void *arg, const char *path,
                                  const cio_server_opts *opts);

/* The bound TCP port (useful after port 0), or -1 for a Unix server. */
CIO_API int cio_server_port(const cio_server *srv);

/* Suspend until the server is closed (returns 0).  If the calling task
 * is cancelled, the server stops listening and CIO_ECANCELED is returned
 * (as asyncio).  CIO_EBUSY if another task already serves forever,
 * CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_server_serve_forever(cio_server *srv);

/* True while the server listens. */
CIO_API bool cio_server_is_serving(const cio_server *srv);

/* Connections whose handler has not finished. */
CIO_API size_t cio_server_connections(const cio_server *srv);

/* Close every live connection (asyncio's close_clients(): their readers
 * see end of file).  Never suspends.  Returns 0. */
CIO_API int cio_server_close_clients(cio_server *srv);

/* Stop listening, wake serve_forever, wait until every connection
 * handler has finished (but the caller's own, when a handler closes its
 * server), and free the server (asyncio's close() + wait_closed()).
 * Suspends; outside a task it only starts the close.  `srv` is invalid
 * afterwards.  Returns 0 or CIO_ECANCELED (still closed; freed once the
 * handlers end).  NULL is accepted. */
CIO_API CIO_NODISCARD int cio_server_close(cio_server *srv);

/* From another task: wait until `srv` is closed and its handlers are
 * done.  Waiters wake in the iteration after the last connection is gone,
 * as asyncio's Server._wakeup.  Suspends.  Returns 0, CIO_ECANCELED,
 * CIO_EPERM. */
CIO_API CIO_NODISCARD int cio_server_wait_closed(cio_server *srv);

/* -- UDP endpoints (asyncio.create_datagram_endpoint). */
typedef struct cio_datagram cio_datagram;

typedef struct cio_datagram_opts {
  bool reuse_port;
  bool allow_broadcast;
} cio_datagram_opts;

/* Open a UDP socket bound to `local_host`:`local_port` (NULL host: any
 * address of the remote's family, or 0.0.0.0) and, when `remote_host` is
 * not NULL, connected to `remote_host`:`remote_port`.  Suspends only to
 * resolve names.  Returns 0, bind/connect errors, resolver errors,
 * CIO_EINVAL, CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_datagram_open(cio_datagram **out, const char *local_host,
                              int local_port, const char *remote_host,
                              int remote_port, const cio_datagram_opts *opts);

/* Send one datagram to `to` (NULL: the connected peer).  Suspends only
 * while the socket's send buffer is full.  Returns 0, CIO_EMSGSIZE,
 * CIO_ECLOSED, a socket error, CIO_ECANCELED (the datagram may still be
 * sent), CIO_EPERM outside a task when it would have to wait. */
CIO_API CIO_NODISCARD int cio_datagram_sendto(cio_datagram *d, const void *data, size_t n,
                                const cio_addr *to);

/* Receive one datagram into `buf` (a longer one is truncated to `cap`)
 * and its sender into `from` (may be NULL).  Suspends.  Returns its
 * length, CIO_EBUSY if another task is receiving, CIO_ECLOSED,
 * CIO_ECANCELED, a socket error, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD ssize_t cio_datagram_recvfrom(cio_datagram *d, void *buf, size_t cap,
                                      cio_addr *from);

/* The bound local address. */
CIO_API CIO_NODISCARD int cio_datagram_sock_addr(cio_datagram *d, cio_addr *out);

/* Close and free `d`; a task receiving gets CIO_ECLOSED.  Suspends until
 * closed (outside a task: starts it).  Returns 0.  NULL is accepted. */
CIO_API CIO_NODISCARD int cio_datagram_close(cio_datagram *d);

/* -- Name resolution, on libuv's thread pool. */

/* Resolve `host` and/or `service` as getaddrinfo(3).  `hints` may be
 * NULL.  Suspends.  On success `*res` is a list to free with
 * cio_freeaddrinfo().  Returns 0, CIO_EAI_* (CIO_EAI_NONAME: unknown
 * host), CIO_ECANCELED (the lookup is abandoned), CIO_EPERM outside a
 * task. */
CIO_API CIO_NODISCARD int cio_getaddrinfo(const char *host, const char *service,
                            const struct addrinfo *hints,
                            struct addrinfo **res);
CIO_API void cio_freeaddrinfo(struct addrinfo *res);

/* Look `addr` up as getnameinfo(3) with `flags` (NI_*): the host name
 * into `host` (`hostcap` bytes), the service into `serv` (`servcap`);
 * either may be NULL.  Suspends.  Returns 0, CIO_EAI_*, CIO_ENOSPC,
 * CIO_ECANCELED, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_getnameinfo(const cio_addr *addr, int flags, char *host,
                            size_t hostcap, char *serv, size_t servcap);

/* ------------------------------------------------------------------------
 * Subprocesses, signals and files
 * ---------------------------------------------------------------------- */
/* (section: process) */

#include <sys/types.h> /* ssize_t */

/* -- Files.  Each call runs the system call on libuv's thread pool while
 * the calling task waits, so a task working on files never blocks the
 * loop (asyncio has no file API; this is what aiofiles and to_thread
 * give it).  Descriptors are plain OS file descriptors.
 *
 * All of these suspend: call them from a task (else CIO_EPERM).  Errors
 * are the system call's errno as a CIO_E code (CIO_ENOENT, CIO_EACCES,
 * CIO_EBADF, CIO_EISDIR...).  Cancellation: an operation still queued is
 * dropped; one already running cannot be stopped, so the task waits for
 * it to finish and then returns CIO_ECANCELED.  Its effect stays (bytes
 * may have been written, a file renamed) except for cio_fs_open, which
 * closes a file it opened for a cancelled caller.  Not thread-safe. */

/* Open `path` with open(2) `flags` (O_RDONLY, O_WRONLY | O_CREAT |
 * O_TRUNC, ...; O_CLOEXEC is always added) and `mode` for a new file.
 * `*fd` gets the descriptor, to close with cio_fs_close (or close(2)).
 * Returns 0, CIO_EINVAL (NULL), an errno code, CIO_ECANCELED, CIO_EPERM;
 * `*fd` is -1 on failure. */
CIO_API CIO_NODISCARD int cio_fs_open(const char *path, int flags, int mode, int *fd);

/* Close `fd`.  Returns 0, CIO_EBADF, CIO_EIO, CIO_ECANCELED, CIO_EPERM. */
CIO_API CIO_NODISCARD int cio_fs_close(int fd);

/* Read up to `nbytes` into `buf` at the file position, which advances.
 * Returns the count (0 at end of file), or a negative code. */
CIO_API CIO_NODISCARD ssize_t cio_fs_read(int fd, void *buf, size_t nbytes);

/* Write all `nbytes` of `buf` at the file position (a short write goes on
 * where it stopped).  Returns `nbytes`, or a negative code (some bytes may
 * have been written). */
CIO_API CIO_NODISCARD ssize_t cio_fs_write(int fd, const void *buf, size_t nbytes);

/* Read up to `nbytes` at byte `offset` (>= 0, else CIO_EINVAL) without
 * moving the file position.  Returns the count (0 past the end). */
CIO_API CIO_NODISCARD ssize_t cio_fs_pread(int fd, void *buf, size_t nbytes,
                             int64_t offset);

/* Write all `nbytes` at byte `offset` (>= 0) without moving the file
 * position.  Returns `nbytes` or a negative code. */
CIO_API CIO_NODISCARD ssize_t cio_fs_pwrite(int fd, const void *buf, size_t nbytes,
                              int64_t offset);

/* What stat(2) says about a file.  Times are seconds since the epoch. */
typedef struct cio_stat {
  uint64_t size;
  uint64_t mode; /* type and permission bits: S_ISREG(mode)... */
  uint64_t nlink, uid, gid, ino, dev, blksize, blocks;
  double atime, mtime, ctime;
} cio_stat;

/* stat(2) `path` (following symbolic links) into `*st`.  Returns 0,
 * CIO_ENOENT..., CIO_EINVAL (NULL), CIO_ECANCELED, CIO_EPERM. */
CIO_API CIO_NODISCARD int cio_fs_stat(const char *path, cio_stat *st);

/* fstat(2) an open descriptor.  Returns as cio_fs_stat. */
CIO_API CIO_NODISCARD int cio_fs_fstat(int fd, cio_stat *st);

/* Flush `fd`'s data and metadata to the device (fsync(2)).  Returns 0 or
 * a negative code. */
CIO_API CIO_NODISCARD int cio_fs_fsync(int fd);

/* Remove the name `path` (unlink(2)).  Returns 0 or a negative code. */
CIO_API CIO_NODISCARD int cio_fs_unlink(const char *path);

/* Rename `from` to `to`, replacing `to` atomically (rename(2)).  Returns 0
 * or a negative code. */
CIO_API CIO_NODISCARD int cio_fs_rename(const char *from, const char *to);

/* Send `count` bytes of file `fd` from byte `offset` (>= 0) to stream
 * `out` (asyncio's loop.sendfile); `count` 0 means up to the end of the
 * file.  Stops early at end of file.  The file position does not move.
 * Bytes go after whatever was written to `out` before, in 64 KiB chunks
 * read on the thread pool, queued with cio_stream_write() and drained
 * (asyncio's fallback path: the bytes pass through one buffer instead of
 * sendfile(2), so any stream works: TCP, Unix sockets, a child's stdin).
 * Suspends.  Returns the number of bytes sent, or a negative code: a read
 * error, the stream's write error (CIO_EPIPE...), CIO_ECLOSED,
 * CIO_ECANCELED (some bytes may have been sent), CIO_EINVAL, CIO_ENOMEM,
 * CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD ssize_t cio_fs_sendfile(cio_stream *out, int fd, int64_t offset,
                                size_t count);

/* -- Signals (loop.add_signal_handler).  POSIX signals delivered to the
 * process. */

/* Call `cb(arg)` on `loop` (NULL: the current loop) each time the signal
 * `signum` arrives.  The callback runs on the loop's thread as a plain
 * callback (not in signal context, not in a task): it may set events,
 * cancel tasks, stop the loop, add or remove handlers.  A second handler
 * for the same signal replaces the first, as in asyncio.  While a handler
 * is registered the loop waits for it: a task waiting for what the
 * handler does is not reported as deadlocked.  cio_loop_close() removes
 * every handler.  Does not suspend.  Returns 0, CIO_EINVAL (no loop, NULL
 * `cb`, a number that is no signal, SIGKILL or SIGSTOP, which cannot be
 * caught), CIO_ESHUTDOWN (loop closing), CIO_ENOMEM.  Not thread-safe. */
CIO_API CIO_NODISCARD int cio_loop_add_signal_handler(cio_loop *loop, int signum,
                                        cio_callback_fn cb, void *arg);

/* Remove the handler of `signum` and restore the signal's default action
 * (SIG_DFL).  Returns 1 if a handler was removed, 0 if there was none,
 * CIO_EINVAL (no loop, a number that is no signal).  Does not suspend. */
CIO_API int cio_loop_remove_signal_handler(cio_loop *loop, int signum);

/* -- Subprocesses (asyncio.create_subprocess_exec/_shell, Process).
 *
 *   const char *argv[] = {"sort", "-r", NULL};
 *   cio_process *p;
 *   cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
 *                         .stdout_mode = CIO_STDIO_PIPE};
 *   int rc = cio_create_subprocess_exec(&p, argv, &o);
 *   void *out; size_t len; int code;
 *   rc = cio_process_communicate(p, "b\na\n", 4, &out, &len, NULL, NULL);
 *   cio_process_returncode(p, &code);        // 0; out holds "b\na\n"
 *   free(out);
 *   cio_process_close(p);
 *
 * The child is reaped by the loop as soon as it exits, whether or not
 * anyone waits, so it never lingers as a zombie; a process object lives
 * until cio_process_close().  The pipes are cio_streams (see Streams):
 * stdin is written with cio_stream_write/drain and closed with
 * cio_stream_close to send end of file; stdout and stderr are read with
 * the read calls.  They belong to the process: do not use them after
 * cio_process_close (nor after cio_stream_close, for stdin).
 * Writing to a child that exited gives CIO_EPIPE (see cio_loop_open on
 * SIGPIPE).  Not thread-safe. */
typedef struct cio_process cio_process;

/* Where a child's stdin, stdout or stderr goes (subprocess.PIPE...). */
enum cio_stdio {
  CIO_STDIO_INHERIT = 0, /* the parent's own descriptor (None) */
  CIO_STDIO_PIPE = 1,    /* a pipe to the parent: a cio_stream */
  CIO_STDIO_DEVNULL = 2, /* /dev/null */
  CIO_STDIO_STDOUT = 3,  /* stderr only: wherever stdout goes */
};

/* Options for a child.  Zero-initialise and set what you need. */
typedef struct cio_process_opts {
  int stdin_mode, stdout_mode, stderr_mode; /* enum cio_stdio */
  const char *cwd;           /* NULL: the parent's */
  const char *const *env;    /* "NAME=value" strings, NULL-terminated;
                                NULL: the parent's environment */
  bool start_new_session;    /* setsid() in the child */
  /* Limit and water marks of the pipes (copied); NULL: the defaults. */
  const cio_stream_opts *stream;
} cio_process_opts;

/* Start `argv[0]` (searched in PATH when it has no '/') with arguments
 * `argv` (NULL-terminated; argv[0] is the program's name too).  `opts`
 * may be NULL (everything inherited).  Does not suspend; call it on the
 * loop's thread.  Returns 0, CIO_EINVAL (no loop, no argv[0], a bad
 * mode, opts->stream->limit <= 0), CIO_ENOENT / CIO_EACCES / ... (the program could not be run),
 * CIO_EMFILE, CIO_ENOMEM, CIO_ESHUTDOWN (loop closing).  On failure
 * `*out` is NULL and no child runs. */
CIO_API CIO_NODISCARD int cio_create_subprocess_exec(cio_process **out,
                                       const char *const *argv,
                                       const cio_process_opts *opts);

/* Run `cmd` with /bin/sh -c.  Returns as cio_create_subprocess_exec (a
 * command the shell cannot find is the shell's exit status 127). */
CIO_API CIO_NODISCARD int cio_create_subprocess_shell(cio_process **out, const char *cmd,
                                        const cio_process_opts *opts);

/* The child's process id (-1 for NULL). */
CIO_API int cio_process_pid(const cio_process *p);

/* Once the child has exited: 0 with `*returncode` (may be NULL) set to its
 * exit status, or -N if signal N killed it.  CIO_EINPROGRESS while it
 * runs (asyncio's None), CIO_EINVAL for NULL.  Does not suspend. */
CIO_API int cio_process_returncode(const cio_process *p, int *returncode);

/* The parent's end of the child's stdin / stdout / stderr pipe, or NULL
 * when that descriptor is not CIO_STDIO_PIPE or after communicate()
 * closed it.  Owned by `p`. */
CIO_API cio_stream *cio_process_stdin(cio_process *p);
CIO_API cio_stream *cio_process_stdout(cio_process *p);
CIO_API cio_stream *cio_process_stderr(cio_process *p);

/* Wait for the child to exit and store its returncode (see
 * cio_process_returncode) in `*returncode` (may be NULL).  Returns at once
 * if it has exited.  Any number of tasks may wait.  Cancelling the wait
 * leaves the child running (as asyncio).  A child that fills a pipe
 * nobody reads never exits: use communicate().  Suspends.  Returns 0,
 * CIO_ECANCELED, CIO_EINVAL, CIO_EPERM outside a task. */
CIO_API CIO_NODISCARD int cio_process_wait(cio_process *p, int *returncode);

/* Write `input_len` bytes of `input` (may be NULL with 0) to stdin and
 * close it, read stdout and stderr to their end, all at once (so a child
 * writing much while reading much never deadlocks), then wait for the
 * child to exit.  Does not write or read descriptors that are not pipes;
 * stdin is closed even without input.  A child that stops reading its
 * input (CIO_EPIPE, CIO_ECONNRESET) is not an error.  On success `*out` /
 * `*err` get malloc()ed buffers (free with free(); never NULL when that
 * descriptor is a pipe, even when empty; NULL when it is not) of
 * `*out_len` / `*err_len` bytes; any of the four may be NULL to discard.
 * The pipes read to their end are closed.  Suspends.  Returns 0,
 * CIO_ECANCELED (the child keeps running, the pipes stay open, bytes read
 * so far are lost), a pipe's error, CIO_EINVAL, CIO_EPERM outside a task.
 * Outputs are NULL / 0 on error. */
CIO_API CIO_NODISCARD int cio_process_communicate(cio_process *p, const void *input,
                                    size_t input_len, void **out,
                                    size_t *out_len, void **err,
                                    size_t *err_len);

/* Send signal `signum` to the child (asyncio's send_signal).  Does not
 * suspend.  Returns 0, CIO_ESRCH once the child has exited (asyncio's
 * ProcessLookupError), CIO_EINVAL (NULL, no such signal), CIO_EPERM. */
CIO_API int cio_process_send_signal(cio_process *p, int signum);

/* cio_process_send_signal(p, SIGTERM) / (p, SIGKILL). */
CIO_API int cio_process_terminate(cio_process *p);
CIO_API int cio_process_kill(cio_process *p);

/* Close the pipes (flushing stdin), kill the child with SIGKILL if it is
 * still running (as closing asyncio's subprocess transport does), wait
 * until it is reaped, and free `p`.  Suspends; a cancellation does not
 * interrupt it (the killed child exits at once) and is returned at the
 * end.  `p` is freed on every return but CIO_EPERM (outside a task: call
 * it from one).  Returns 0, CIO_ECANCELED, CIO_EPERM.  NULL is accepted. */
CIO_API CIO_NODISCARD int cio_process_close(cio_process *p);

#ifdef __cplusplus
}
#endif
#endif
