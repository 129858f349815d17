/* Private types and cross-file functions of casyncio (prefix cio__).
 *
 * The scheduling model, in one paragraph: every runnable thing sits in the
 * loop's ready queue as a `struct cio__callback`: a task to resume (run ==
 * NULL, the node is task->ready) or a callback to call (call_soon handles,
 * fired timers, future done-callbacks).  One *batch* runs exactly the
 * entries queued when it began (a marker node closes it), so anything
 * queued meanwhile waits for the next batch, as in asyncio's _run_once.  A
 * task that suspends switches straight to the next task of the queue
 * without passing through the loop's own stack; the loop's stack only runs
 * plain callbacks, buries finished tasks, and returns to libuv to poll for
 * I/O after a bounded number of batches (see sched.c).
 */
#ifndef CIO_INTERNAL_H
#define CIO_INTERNAL_H

#include "casyncio.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "arch/fiber.h"

struct fd_watch;
#include "list.h"

#if defined(CIO_DEBUG)
#define CIO_ASSERT(cond)                                                       \
  do {                                                                         \
    if (!(cond))                                                               \
      cio__assert_fail(#cond, __FILE__, __LINE__);                             \
  } while (0)
#else
#define CIO_ASSERT(cond)                                                       \
  do {                                                                         \
    (void)sizeof(cond);                                                        \
  } while (0)
#endif

_Noreturn void cio__assert_fail(const char *expr, const char *file, int line);

/* Entries run before the loop returns to libuv to poll I/O (checked at
 * batch boundaries).  asyncio polls before every batch; polling costs a
 * system call (about 1 us here), which would dominate task switches of a
 * few ns when batches are small.  Large batches still poll after each. */
#define CIO__STEPS_PER_POLL 1024

#define CIO__DEFAULT_STACK_SIZE (64 * 1024)

/* run_body's gap (task.c): bytes between the task's entry frames and its
 * body's, so that a scope the body left entered is read back before
 * anything overwrites it.  Small tasks' stack copies skip it (small.c). */
#define CIO__BODY_GAP 512

/* ------------------------------------------------------------------------
 * Ready-queue entries
 * ---------------------------------------------------------------------- */
struct cio__callback {
  struct cio__list node; /* in the ready queue, a future's list, or alone */
  /* NULL: this is task->ready, resume the task.  Otherwise call it. */
  void (*run)(struct cio__callback *self);
};

/* ------------------------------------------------------------------------
 * The wait kernel (wait.c): how every suspending call parks its task.
 *
 * A wait record lives on the waiting task's stack.  The waited-for object
 * links it into a list of its own (a lock's waiters, a future's callbacks,
 * an fd's readers...) or keeps a pointer to it (a timer, a libuv request);
 * the waker sets `result` and readies the task; cio_task_cancel() goes
 * through cio__wait_cancel(), the one cancel path:
 *
 *   WAITING -> WOKEN       cio__wait_wake() and the wake_first/n/all helpers
 *   WAITING -> CANCELLED   cio__wait_cancel(): unlink, wake with CIO_ECANCELED
 *
 * Variations are flags and one optional hook, never a copied cancel path:
 * - CIO__WAIT_STAY_LINKED: a woken or cancelled record stays in its list
 *   until its own task runs and unlinks it (locks.py keeps a done future in
 *   its deque until the waiting task's `finally` removes it).
 * - CIO__WAIT_SHIELDED: cancellation does not interrupt the wait; it is
 *   delivered as CIO_ECANCELED when the wait ends by itself (a close that
 *   must see libuv's close callback).
 * - `interrupt`: what cancelling must do instead of the default, for waits
 *   whose end depends on something else: cancel the awaited future, abort
 *   a libuv request, cancel gather's children.  It returns true when the
 *   task will be woken (now or when that something completes), false to
 *   have CIO_ECANCELED delivered when the wait ends by itself.
 *
 * (1) A WAITING record's task is WAITING with task->wait == the record.
 * (2) Without STAY_LINKED a record that is not WAITING is unlinked.
 * (3) Only the record's own task unlinks a STAY_LINKED record, and the
 *     record never outlives the wait call that made it.
 * ---------------------------------------------------------------------- */
enum cio__wait_state {
  CIO__WAIT_IDLE, /* initialised, not parked yet */
  CIO__WAIT_WAITING,
  CIO__WAIT_WOKEN,
  CIO__WAIT_CANCELLED,
};

enum cio__wait_flag {
  CIO__WAIT_STAY_LINKED = 1u << 0,
  CIO__WAIT_SHIELDED = 1u << 1,
};

/* A growing string for reports and dumps (src/debug/text.c).  It lives
 * in libc's heap, not the loop allocator's: the stall watchdog builds
 * reports on its own thread, and a text never outlives the call that
 * builds it.  Out of memory, it keeps what it had and says so. */
struct cio__text {
  char *buf; /* NUL-terminated once anything was written; may be NULL */
  size_t len, cap;
  bool failed;
};

/* What a wait is for, read only by task dumps (src/debug/dump.c): one
 * static const per kind of wait site, named with the object waited on by
 * cio__wait_about().  Setting it is two stores; describing it happens
 * only when someone asks for a dump. */
struct cio__wait_kind {
  const char *what; /* "sleep", "lock acquire", "queue get", "stream read" */
  /* Optional: how `obj` looks now ("until 12.500 s", "pid 4242"). */
  void (*describe)(cio_loop *loop, const void *obj, struct cio__text *out);
  /* Optional: the futures (and tasks) the wait awaits, for the await
   * graph: up to `cap` into `out`; returns how many there are. */
  size_t (*awaits)(const void *obj, struct cio_future **out, size_t cap);
};

struct cio__wait {
  struct cio__callback cb; /* cb.node: in the object's list, or alone */
  cio_task *task;
  uint8_t state; /* cio__wait_state */
  uint8_t flags; /* cio__wait_flag */
  int result;    /* set by the waker: 0, events, or a negative code */
  bool (*interrupt)(struct cio__wait *w);
  void *ctx; /* for the waiter and its interrupt hook */
  const struct cio__wait_kind *kind; /* what it waits for, or NULL */
  const void *obj;                   /* ...and on what: for dumps only */
};

/* The `run` of a wait record's callback node: never called. */
void cio__wait_run(struct cio__callback *self);

/* Prepare `w` for the running task `t` (not yet linked anywhere).
 * Inline: every suspending call makes one. */
static inline void cio__wait_init(struct cio__wait *w, cio_task *t,
                                  unsigned flags) {
  *w = (struct cio__wait){.task = t, .flags = (uint8_t)flags};
  w->cb.run = cio__wait_run;
  cio__list_init(&w->cb.node);
}

/* Say what `w` waits for, for task dumps: every wait site does, right
 * after cio__wait_init (or through cio__wait_in). */
static inline void cio__wait_about(struct cio__wait *w,
                                   const struct cio__wait_kind *kind,
                                   const void *obj) {
  w->kind = kind;
  w->obj = obj;
}

/* Park until woken or cancelled; `w` may be linked by the caller or be
 * referenced by a timer or request.  Returns w->result, or CIO_ECANCELED
 * when a cancellation is delivered (even after a wake-up: CPython's
 * must_cancel).  w->state tells whether it was woken. */
int cio__wait_park(struct cio__wait *w);

/* Append `w` to `list`, park, and unlink on return (any state). */
int cio__wait_on(struct cio__list *list, struct cio__wait *w);

/* The common case in one call: a record for `t` with `flags`, about
 * `kind` and `obj`, appended to `list`, parked, unlinked on return.
 * Returns as cio__wait_park. */
int cio__wait_in(struct cio__list *list, cio_task *t, unsigned flags,
                 const struct cio__wait_kind *kind, const void *obj);

/* Wake the record's task with `result` (WAITING -> WOKEN). */
void cio__wait_wake(struct cio__wait *w, int result);

/* The same if `w` is still WAITING (a timer or callback that may come
 * after a cancellation woke the task first); true if it woke it. */
static inline bool cio__wait_try_wake(struct cio__wait *w, int result) {
  if (w->state != CIO__WAIT_WAITING)
    return false;
  cio__wait_wake(w, result);
  return true;
}

/* How many records of `list` are still WAITING (for dumps). */
size_t cio__wait_count(const struct cio__list *list);

/* The first record of `list` still WAITING, or NULL. */
struct cio__wait *cio__wait_first(struct cio__list *list);

/* Wake up to `n` / every record of `list` still WAITING, oldest first;
 * return how many were woken. */
size_t cio__wait_wake_n(struct cio__list *list, size_t n, int result);
size_t cio__wait_wake_all(struct cio__list *list, int result);
static inline bool cio__wait_wake_first(struct cio__list *list, int result) {
  return cio__wait_wake_n(list, 1, result) == 1;
}

/* True when every record of `list` is CANCELLED (or there is none): a newcomer may then take a resource, since a woken waiter keeps
 * its turn. */
bool cio__wait_all_cancelled(const struct cio__list *list);

/* The cancel path of a WAITING task (called by cio_task_cancel): true
 * when the cancellation was taken by the wait (see above). */
bool cio__wait_cancel(struct cio__wait *w);

/* The default cancel (unlink unless STAY_LINKED, CANCELLED, wake with
 * CIO_ECANCELED), for an interrupt hook that does something first. */
bool cio__wait_cancel_default(struct cio__wait *w);

/* True for a wait record's callback node (in a future's list). */
bool cio__callback_is_wait(const struct cio__callback *cb);

/* A record's node back to its record. */
static inline struct cio__wait *cio__wait_of(struct cio__list *n) {
  return cio__container_of(n, struct cio__wait, cb.node);
}

/* A timer: sits in the loop's heap until due, then its callback node moves
 * to the ready queue and `cb.run` is called in its turn.  The heap keeps
 * its keys in an array (timer.c), so a timer is only read when it fires. */
struct cio__timer {
  struct cio__callback cb; /* cb.node: in the spill list while spilled */
  int64_t when_ns;  /* loop clock; may be in the past (call_later(-2)) */
  uint64_t seq;     /* start order: ties run first started first */
  uint32_t slot;    /* in loop->timers.slots while in_heap, not spilled */
  bool in_heap;     /* started and not yet due (in the arrays or spilled) */
  bool spilled;     /* ...in the spill list: the arrays could not grow */
};

/* The loop's timers (timer.c): entries {deadline, sequence, slot} in a
 * sorted ring (`run`) and a 4-ary heap, and the slot table from slots to
 * timers. */
struct cio__timer_entry;
struct cio__timer_slot;
struct cio__timers {
  struct cio__timer_entry *heap;
  size_t count, cap;     /* heap entries, live or stale */
  struct cio__timer_entry *run;
  size_t run_head, run_count, run_cap;
  size_t live;           /* timers in the heap or the run */
  struct cio__timer_slot *slots;
  uint32_t nslots, slots_cap, free_slot;
  /* Timers started when the arrays could not grow (no memory), in
   * (deadline, seq) order through their cb.node: starting a timer never
   * fails. */
  struct cio__list spill;
};

/* ------------------------------------------------------------------------
 * Futures and tasks
 * ---------------------------------------------------------------------- */
/* A future's life (future.c):
 *   PENDING -> RESULT | ERROR | CANCELLED   cio__future_complete()
 *   any     -> FREED                        last release (tasks: cached) */
enum cio__fut_state {
  CIO__FUT_PENDING,
  CIO__FUT_RESULT,
  CIO__FUT_ERROR,
  CIO__FUT_CANCELLED,
  CIO__FUT_FREED, /* released for good: a later release is a double one */
};

/* A cancellation message (Task.cancel(msg)), shared along the await
 * chain it travels: refcounted, so passing it on never allocates. */
struct cio__msg {
  int refs;
  char text[];
};
struct cio__msg *cio__msg_new(cio_loop *loop, const char *text);
struct cio__msg *cio__msg_retain(struct cio__msg *m);
void cio__msg_release(cio_loop *loop, struct cio__msg *m);
/* Replace *slot by `m` (retained). */
void cio__msg_set(cio_loop *loop, struct cio__msg **slot, struct cio__msg *m);

struct cio_future {
  cio_loop *loop;
  uint8_t state;     /* cio__fut_state */
  bool is_task;      /* this is the first member of a cio_task */
  bool retrieved;    /* the error was read (or there is none) */
  bool result_taken; /* the result was handed to someone */
  int refs;
  int code;          /* ERROR: the error; RESULT: 0 or the body's count */
  void *result;      /* for CIO__FUT_RESULT */
  struct cio__list callbacks; /* waiters and done-callbacks, in order */
  struct cio__msg *cancel_msg; /* CANCELLED: the message, or NULL */
  /* A result nobody took goes here when the future is freed. */
  cio_dispose_fn dispose;
  void *dispose_arg;
};

/* "'worker' (Task-3), waiting" / "future 0x... (pending)": how object
 * lists name tasks and futures (src/debug/dump.c). */
void cio__task_describe(cio_loop *loop, const void *obj, struct cio__text *out);
void cio__future_describe(cio_loop *loop, const void *obj,
                          struct cio__text *out);

/* Whole-object checks, asserted at public entry points (CIO_ASSERT). */
bool cio__future_check(const struct cio_future *f);
bool cio__task_check(const cio_task *t);

/* Task life cycle (see task.c for the edges):
 *   NEW -> READY -> RUNNING -> (WAITING -> READY -> RUNNING)* -> DONE */
enum cio__task_state {
  CIO__TASK_NEW,     /* queued for its first step, body not started */
  CIO__TASK_READY,   /* in the ready queue */
  CIO__TASK_RUNNING, /* loop->current */
  CIO__TASK_WAITING, /* parked; woken by cio__task_wake() */
  CIO__TASK_DONE,
};


struct cio_task {
  struct cio_future fut;  /* must be first: a task is a future */
  struct cio__callback ready; /* run == NULL; in the ready queue */
  cio__fiber fiber;
  uint8_t state;          /* cio__task_state */
  bool must_cancel;       /* deliver CIO_ECANCELED at the next resume */
  bool is_small;          /* runs on the loop's shared stack (small.c) */
  int num_cancels;        /* cancelling() */
  struct cio__wait *wait; /* while WAITING: the record it is parked on */
  struct cio__list scopes; /* cio__scope_guard: entered, not yet left */
  struct cio__ctx *ctx;    /* its context (contextvars), until DONE */
  cio_task_fn fn;         /* its argument is fut.dispose_arg */
  union {
    cio__stack_pool *pool;    /* a normal task's stack came from here */
    struct cio__small *small; /* a small task's frames, when saved */
  };
  struct cio__msg *cancel_request; /* Task.cancel(msg): the next delivery's */
  struct cio__msg *cancel_received; /* the CIO_ECANCELED it last received */
  struct cio__list alive; /* in loop->tasks until DONE */
  uint64_t id;            /* for the default name Task-<id> */
  int64_t created_ns;     /* loop time at creation (coarse), for dumps */
  char *name;             /* owned; NULL until set */
  /* Task-<id>, formatted here when asked for, so that asking a task its
   * name never needs memory.  Room for ids below 10^18 (three centuries
   * at a hundred million tasks a second); a larger one is cut short. */
  char default_name[sizeof "Task-999999999999999999"];
};

/* ------------------------------------------------------------------------
 * The loop
 * ---------------------------------------------------------------------- */
/* What a loop counts until it is released or closed, by kind, so that
 * cio_loop_close and cio_run can say what was left open. */
#define CIO__OBJ_KIND_MAP(X)                                                   \
  X(TASK, "task", "tasks")                                                     \
  X(FUTURE, "future", "futures")                                               \
  X(HANDLE, "callback handle", "callback handles")                             \
  X(STREAM, "stream", "streams")                                               \
  X(SERVER, "server", "servers")                                               \
  X(DATAGRAM, "datagram endpoint", "datagram endpoints")                       \
  X(PROCESS, "subprocess", "subprocesses")                                     \
  X(OTHER, "other object", "other objects")
enum cio__obj_kind {
#define CIO__OBJ_ENUM(name, one, many) CIO__OBJ_##name,
  CIO__OBJ_KIND_MAP(CIO__OBJ_ENUM)
#undef CIO__OBJ_ENUM
      CIO__OBJ_KINDS
};

/* A function describing an object for reports and dumps (the signature
 * of cio__wait_kind's `describe`). */
typedef void (*cio__describe_fn)(cio_loop *loop, const void *obj,
                                 struct cio__text *out);

struct cio__registry;
struct cio__stall;
struct cio__inspector;
struct cio__shutdown_watch;

/* The loop's side of src/debug/ (debug mode, the stall watchdog, dumps),
 * set up by cio__debug_open from cio_loop_opts and the environment. */
struct cio__loop_debug {
  bool on;             /* debug mode (CIO_DEBUG=1 or the option) */
  int64_t slow_ns;     /* debug mode: a step this long is reported */
  int64_t stall_ns;    /* the stall watchdog's threshold; 0: off */
  int64_t shutdown_ns; /* cio_run's shutdown: report after; 0: never */
  int dump_signal;     /* dump on this signal; 0: none */
  bool inspect;        /* answer casyncio-ps */
  struct cio__registry *registry;   /* debug mode: objects and their sites */
  struct cio__stall *stall;         /* this loop in the watchdog's list */
  _Atomic uint64_t beat;            /* the watchdog reads it: odd in a round */
  struct cio__inspector *inspector; /* the dump signal and socket */
  struct cio__shutdown_watch *shutdown_watch; /* cio_run's shutdown */
  /* Debug mode: the step running now, when it started, what it is (a
   * copy: a finished task may be freed before its step is reported) and
   * where a task resumed. */
  int64_t step_ns;
  struct cio__callback *step;
  bool step_is_task;
  bool step_started; /* a task that ran before (else: its first step) */
  uint64_t step_id;
  char step_name[64];
  const void *step_code; /* a callback's function, or a new task's */
  void *step_at[16];
  size_t step_nat;
};

/* loop->pop_gate: what sends the scheduler's pop to its slow path. */
enum {
  CIO__POP_ROUND_OVER = 1u << 0, /* stop taking entries until next poll */
  CIO__POP_DEBUG = 1u << 1,      /* debug mode times every step */
};

struct cio__extra_pool {
  struct cio__extra_pool *next;
  cio__stack_pool pool;
};

struct cio_loop {
  uv_loop_t *uv;
  uv_loop_t uv_own;       /* used when the application gave no loop */
  bool owns_uv;
  uv_check_t check;       /* runs the ready queue after each poll */
  uv_idle_t idle;         /* active while work is ready: poll won't block */
  uv_timer_t timer;       /* wakes poll at the earliest deadline */
  uv_async_t wakeup;      /* other threads; ref'd while outside work is
                             in flight, or in run_forever */
  /* Written by other threads (threadsafe.c): on cache lines of their own,
   * so that senders do not slow the loop thread down. */
  char ts_pad0[64];
  _Atomic(struct cio__remote *) inbox; /* newest first */
  atomic_bool ts_closed;
  atomic_bool ts_spinning;  /* the loop watches `inbox`: no wake-up needed */
  atomic_size_t ts_users;   /* senders between the closed check and done */
  char ts_pad1[64];
  bool spin_hint;         /* outside work may come back soon: spin first */
  size_t external_refs;   /* cio__loop_external_ref() count */
  struct cio__hub *exec;  /* src/executor: jobs in flight, default pool */
  bool running_forever;
  bool detect_deadlock;   /* cio_loop_opts.detect_deadlock */
  int uv_handles_open;    /* closed asynchronously in cio_loop_close */

  struct cio__list ready;      /* cio__callback nodes */
  struct cio__callback marker; /* closes the running batch */
  struct cio__callback *handoff; /* a callback a task left for the loop */
  unsigned steps;              /* entries run since the last poll */
  uint8_t pop_gate;            /* 0: the fast path; else CIO__POP_* */
  bool stopping;               /* cio_loop_stop() */
  bool running;
  bool in_round;
  bool closing;

  struct cio__timers timers;
  uint64_t timer_seq;
  int64_t armed_ns;            /* deadline the uv timer is set for */
  bool virtual_clock;
  int64_t virtual_ns;

  cio__fiber native;           /* the stack libuv runs on */
  cio_task *current;
  cio_task *dead;              /* finished task whose stack to release */

  cio__stack_pool stacks;      /* default stack size */
  cio__stack *shared;          /* small tasks' stack (small.c), or NULL */
  cio_task *shared_owner;      /* the small task whose frames are on it */
  char *shared_gap;            /* run_body's gap on it */
  size_t small_margin;         /* frame bytes below a reservation */
  /* The small task that switched out last (the one an eviction moves):
   * the record it parked on, that wait's timer, where it reserved. */
  struct cio__wait *small_wait;
  struct cio__timer *small_timer;
  const char *small_frame;
  char *poison_lo;             /* Debug: shared stack filled from here */
  bool poison_pending;         /* Debug: ...and not checked since */
  struct cio__extra_pool *extra_pools;
  int guard_mode;

  struct cio__list tasks;      /* not-done tasks, oldest first */
  size_t live_tasks;
  size_t objects[CIO__OBJ_KINDS]; /* by kind: not yet freed / closed */

  uint64_t task_ids_next, task_ids_end; /* a block of task numbers */
  cio_task *task_cache;        /* freed task structs, linked via fut.result */
  size_t task_cache_count;
  cio_future *future_cache;    /* freed plain futures, linked via result */
  size_t future_cache_count;

  struct cio__list signals;    /* signal handlers (process/signal.c) */
  struct fd_watch **fd_watches; /* by fd: cio_fd_wait, add_reader (net/fd.c) */
  size_t fd_cap;
  struct cio__list fd_idle;     /* watches nobody wants, closed by... */
  struct cio__callback fd_sweep; /* ...this, queued while fd_idle is not
                                    empty (both set up on first use) */

  cio_task *main_task;         /* cio_run's, for Ctrl-C (interrupt.c) */
  _Atomic bool interrupted;    /* SIGINT seen, not yet acted on */
  bool was_interrupted;        /* the main task was cancelled for it */

  cio_exception_handler exc_handler; /* NULL: the default */
  void *exc_arg;
  bool in_exc_handler;

  struct cio__loop_debug dbg; /* src/debug/: debug mode, stalls, dumps */

  size_t live_allocs;          /* cio__malloc'd and not freed */
  long fail_alloc_after;       /* tests: fail the Nth allocation, or -1 */
};

/* The loop of this thread (src/runtime/loop.c); NULL when none.  Read on
 * every suspending call, so it is inline, with the initial-exec TLS model
 * (no __tls_get_addr call from the shared library). */
#if defined(__GNUC__)
#define CIO__TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CIO__TLS_MODEL
#endif
extern _Thread_local cio_loop *cio__current_loop CIO__TLS_MODEL;

static inline cio_loop *cio__loop_current(void) {
  return cio__current_loop;
}

/* Loop allocator: counts live blocks and can fail on demand in tests. */
void *cio__malloc(cio_loop *loop, size_t size);
void *cio__calloc(cio_loop *loop, size_t n, size_t size);
void cio__free(cio_loop *loop, void *p);
char *cio__strdup(cio_loop *loop, const char *s);

/* Test hooks (alloc.c), for tests/runner.c only.
 *
 * True when the allocation about to be made must fail: asked by
 * cio__malloc, by cio_loop_open for the loop itself, and by the stack
 * pools before they map a slab.  Armed by cio__test_fail_alloc(n,
 * persist): the nth allocation from then on fails (and with `persist`
 * every later one); n == 0 disarms.  Counts since arming are read back
 * with cio__test_alloc_count() and cio__test_alloc_failures(). */
bool cio__alloc_fault(void);
void cio__test_fail_alloc(long n, bool persist);
long cio__test_alloc_count(void);
long cio__test_alloc_failures(void);
/* What loops left behind, over the whole process: loops opened and not
 * yet freed (one that cio_run abandons stays counted), and the blocks
 * and libuv handles loops still held when cio_loop_close freed them. */
struct cio__test_leaks {
  long loops;
  long allocs;
  long handles;
};
void cio__test_leaks(struct cio__test_leaks *out);
void cio__test_loop_opened(void);
void cio__test_loop_freed(size_t allocs, size_t handles);

#if defined(__GNUC__)
#define CIO__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CIO__UNLIKELY(x) (x)
#endif

/* Debug mode's registry (src/debug/registry.c): `obj` of kind `kind`
 * ("task", "HTTP session"), named by `describe` (may be NULL), created at
 * the caller's call site; and forgotten. */
void cio__registry_add(cio_loop *loop, const char *kind, const void *obj,
                       cio__describe_fn describe);
void cio__registry_remove(cio_loop *loop, const void *obj);
/* "task", "stream"... */
const char *cio__obj_kind_name(enum cio__obj_kind kind);

/* Count `obj` of `kind` as alive on `loop` (in debug mode, note where it
 * was created and how to name it), and as gone (`obj` is only a key: it
 * may be freed already).  Called last where that keeps the hot path free
 * of the registry's call. */
static inline void cio__obj_add(cio_loop *loop, enum cio__obj_kind kind,
                                const void *obj, cio__describe_fn describe) {
  loop->objects[kind]++;
  if (CIO__UNLIKELY(loop->dbg.on))
    cio__registry_add(loop, cio__obj_kind_name(kind), obj, describe);
}
static inline void cio__obj_remove(cio_loop *loop, enum cio__obj_kind kind,
                                   const void *obj) {
  CIO_ASSERT(loop->objects[kind] > 0);
  loop->objects[kind]--;
  if (CIO__UNLIKELY(loop->dbg.on))
    cio__registry_remove(loop, obj);
}

/* The same for objects the loop does not count (a battery's sessions and
 * connections): debug mode lists those still open when the loop closes. */
static inline void cio__debug_track(cio_loop *loop, const char *kind,
                                    const void *obj,
                                    cio__describe_fn describe) {
  if (loop->dbg.on)
    cio__registry_add(loop, kind, obj, describe);
}
static inline void cio__debug_untrack(cio_loop *loop, const void *obj) {
  if (loop->dbg.on)
    cio__registry_remove(loop, obj);
}
/* Objects of any kind still counted. */
size_t cio__obj_total(const cio_loop *loop);
/* "2 streams and 1 server" (kinds in `mask`, 0: all), into buf. */
void cio__obj_describe(const cio_loop *loop, unsigned mask, char *buf,
                       size_t cap);

/* Test hook (inject.c), for tests/runner.c only: cancel the `task`-th
 * task created from now on (1: the first) at its `n`-th suspension, as
 * it parks (CIO__INJECT_PARK) or once that wait was woken, before it
 * resumes (CIO__INJECT_WAKE); task or n 0 disarms.  Read back how many
 * suspensions of the target were seen, how many cancellations were
 * injected, and how many tasks were created since arming. */
enum { CIO__INJECT_PARK, CIO__INJECT_WAKE };
void cio__test_inject_cancel(uint64_t task, long n, int when);
long cio__test_inject_seen(void);
long cio__test_inject_count(void);
uint64_t cio__test_inject_tasks(void);
/* Called by the scheduler while armed (one relaxed load otherwise). */
extern atomic_bool cio__inject_on;
static inline bool cio__inject_armed(void) {
  return atomic_load_explicit(&cio__inject_on, memory_order_relaxed);
}
void cio__inject_park(cio_task *t, struct cio__wait *w);
void cio__inject_ready(cio_task *t, struct cio__wait *w);

/* Resolve a NULL loop argument to the thread's loop. */
static inline cio_loop *cio__loop_or_current(cio_loop *loop) {
  return loop ? loop : cio__loop_current();
}

/* End the running round at the next batch boundary, so libuv polls (and
 * runs close callbacks) before the next batch instead of after up to
 * CIO__STEPS_PER_POLL entries: for waits that asyncio ends in the next
 * iteration but that here end in a libuv callback.  Outside a round it
 * changes nothing (the next round starts after a poll anyway). */
static inline void cio__loop_poll_soon(cio_loop *loop) {
  loop->steps = CIO__STEPS_PER_POLL;
}

/* threadsafe.c: what other threads send to a loop.  A remote is queued in
 * the ready queue in the order it was sent and `run` is called in its
 * turn; `drop` instead if the loop closes (or is closed) first.  Both on
 * the loop thread; either may free the remote. */
struct cio__remote {
  struct cio__callback cb;   /* in the ready queue once taken */
  struct cio__remote *next;  /* in the inbox */
  void (*run)(struct cio__remote *r);
  void (*drop)(struct cio__remote *r);
};
/* Any thread: send `r` (run and drop set) to `loop`.  Returns 0 or
 * CIO_ESHUTDOWN (closed: `r` stays the caller's). */
int cio__loop_send(cio_loop *loop, struct cio__remote *r);
/* The same for a sender that keeps the loop from closing until this
 * returns (an executor job the loop waits for): never fails. */
void cio__loop_send_owned(cio_loop *loop, struct cio__remote *r);
/* The remote queued as `cb`, or NULL if `cb` is something else. */
struct cio__remote *cio__remote_of(struct cio__callback *cb);
void cio__threadsafe_close(cio_loop *loop);
/* The loop is about to wait in its poll: if outside work it handed out is
 * in flight and expected back soon, watch the inbox for a short while
 * first (see threadsafe.c). */
void cio__threadsafe_spin(cio_loop *loop);
/* In a spin loop started at `start_ns` (uv_hrtime), every so often: past
 * its first microseconds lets another thread of this CPU run, and says
 * whether `deadline_ns` has passed. */
bool cio__spin_pause(uint64_t start_ns, uint64_t deadline_ns);
/* One spin-wait step: tells the CPU this is a spin loop. */
static inline void cio__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}
/* Outside work was just handed out (an executor job): the next wait may
 * spin for it. */
static inline void cio__loop_expect_soon(cio_loop *loop) {
  loop->spin_hint = true;
}
/* call_soon_threadsafe whose `drop(arg)` runs (on the closing thread)
 * instead of `cb(arg)` if the loop closes before running it: lets the
 * sender release what it handed over. */
int cio__loop_call_soon_threadsafe_or_drop(cio_loop *loop, cio_callback_fn cb,
                                           cio_callback_fn drop, void *arg);
/* Work outside the loop thread (an executor job, a foreign thread that
 * will call back) keeps run_until_complete waiting instead of reporting a
 * deadlock.  Loop thread only; pair every ref with an unref. */
void cio__loop_external_ref(cio_loop *loop);
void cio__loop_external_unref(cio_loop *loop);
/* Ref the wakeup handle (the loop waits for other threads) while outside
 * work is in flight, in run_forever, or whenever the loop runs without
 * deadlock detection; unref it otherwise. */
void cio__loop_update_wakeup_ref(cio_loop *loop);
/* Move what other threads sent to the ready queue; true if there was any. */
bool cio__threadsafe_take(cio_loop *loop);
/* The same, only if something was sent (one relaxed load): at every
 * batch boundary, so a callback posted from another thread runs in the
 * next batch, as asyncio's call_soon_threadsafe appends to _ready. */
static inline void cio__threadsafe_poll(cio_loop *loop) {
  if (atomic_load_explicit(&loop->inbox, memory_order_relaxed) != NULL ||
      atomic_load_explicit(&loop->interrupted, memory_order_relaxed))
    cio__threadsafe_take(loop);
}

/* src/executor/executor.c: called by cio_loop_close() once no task is
 * alive.  Takes back this loop's queued executor jobs, shuts the default
 * executor down, blocks until jobs still running finish (their outcomes
 * are disposed of) and frees the loop's executor state. */
void cio__executor_loop_close(cio_loop *loop);

/* uvwait.c: a task waiting for one libuv callback.
 *
 *   struct cio__uvwait w;
 *   cio__uvwait_init(&w, self, cancel_fn);   // cancel_fn may be NULL
 *   start the libuv request; its callback calls cio__uvwait_complete(&w, st)
 *   rc = cio__uvwait_park(&w);
 *
 * The request usually lives on the task's stack, so park returns only
 * after the callback ran, even when the task is cancelled: `cancel`
 * (uv_cancel, uv_close, uv_read_stop + complete...) must make the callback
 * come soon.  Without `cancel`, a cancellation is delivered once the
 * operation ends by itself.  Returns the callback's status, or
 * CIO_ECANCELED if the task was cancelled while waiting. */
struct cio__uvwait {
  struct cio__wait wait; /* interrupt: `cancel`; shielded without it */
  void (*cancel)(struct cio__uvwait *w);
  void *data;      /* for the caller and its cancel function */
  int status;
  bool done;
  bool cancelled;
};
void cio__uvwait_init(struct cio__uvwait *w, cio_task *task,
                      void (*cancel)(struct cio__uvwait *w));
void cio__uvwait_complete(struct cio__uvwait *w, int status);
int cio__uvwait_park(struct cio__uvwait *w);

/* process/signal.c: remove every signal handler (cio_loop_close, as
 * asyncio's close does); their handles count in uv_handles_open until
 * closed. */
void cio__signals_close(cio_loop *loop);

/* net/fd.c: remove the add_reader/add_writer callbacks still registered
 * (cio_loop_close); their handles count in uv_handles_open until closed. */
void cio__fd_watches_close(cio_loop *loop);

/* exception.c: report through the loop's exception handler (the default
 * prints "casyncio: <message>").  `base` (may be NULL) gives the error,
 * task, future, stream and source; the message is formatted here.  `loop`
 * may be NULL (the default handler then). */
void cio__report(cio_loop *loop, const cio_exception_context *base,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* context.c: contexts (contextvars).  The current one is the running
 * task's, else the thread's; a callback runs in the context it captured
 * when it was scheduled: enter() makes (a reference to) `c` the thread's
 * and returns the one to give back to leave().  Maps are shared: retain
 * to keep one. */
struct cio__ctx;
struct cio__ctx *cio__ctx_current(void);
struct cio__ctx *cio__ctx_retain(struct cio__ctx *c);
void cio__ctx_release(struct cio__ctx *c);
struct cio__ctx *cio__ctx_enter(struct cio__ctx *c);
void cio__ctx_leave(struct cio__ctx *saved);

/* interrupt.c: Ctrl-C under cio_run.  install returns false when the
 * program chose its own SIGINT disposition or another loop has it. */
bool cio__interrupt_install(cio_loop *loop);
void cio__interrupt_uninstall(cio_loop *loop);
/* Loop thread: act on a SIGINT seen since (cancel the main task). */
void cio__interrupt_check(cio_loop *loop);

/* libuv status (UV_E*, negative errno on Unix) to a CIO_E code. */
int cio__uv_error(int uv_status);

/* net/sock_posix.c: SIGPIPE becomes EPIPE (done when a loop opens). */
void cio__sock_ignore_sigpipe(void);

/* clock.c */
/* Loop times are signed nanoseconds: a deadline may lie in the past, as
 * asyncio's call_later(-2) is call_at(now - 2).  CIO__NS_NEVER is "no
 * deadline". */
#define CIO__NS_NEVER INT64_MAX
int64_t cio__now_ns(const cio_loop *loop);
/* The same as of the current loop iteration (libuv's cached clock, in
 * milliseconds), without a clock read: cheap enough for every task
 * creation. */
static inline int64_t cio__now_coarse_ns(const cio_loop *loop) {
  return loop->virtual_clock ? loop->virtual_ns
                             : (int64_t)uv_now(loop->uv) * 1000000;
}
/* Seconds to nanoseconds, either sign, saturating (NaN gives 0). */
int64_t cio__seconds_to_ns(double seconds);
int64_t cio__deadline_after(const cio_loop *loop, double delay);

/* sched.c */
void cio__ready_push_outside_round(cio_loop *loop);

/* Queue `cb` at the tail of the ready queue. */
static inline void cio__ready_push(cio_loop *loop, struct cio__callback *cb) {
  cio__list_push_back(&loop->ready, &cb->node);
  if (!loop->in_round)
    cio__ready_push_outside_round(loop);
}

void cio__sched_round(cio_loop *loop);
_Noreturn void cio__sched_exit(cio_loop *loop, cio_task *self);
/* Release the stack and the loop's reference of loop->dead, the task that
 * ended just before the running code got the CPU. */
void cio__sched_bury_dead(cio_loop *loop);
void cio__sched_update_handles(cio_loop *loop);
/* Set up the ready queue and the check/idle/timer handles. */
int cio__sched_open(cio_loop *loop);

/* timer.c */
void cio__timers_init(struct cio__timers *h);
/* Free the arrays (cio_loop_close, once no timer is left). */
void cio__timers_destroy(cio_loop *loop);
/* Start `t` (not running) for `when_ns`.  Never fails: when the arrays
 * cannot grow, the timer waits in the spill list instead. */
void cio__timer_start(cio_loop *loop, struct cio__timer *t, int64_t when_ns,
                     void (*run)(struct cio__callback *));
void cio__timer_stop(cio_loop *loop, struct cio__timer *t);
/* `t` (in the heap) now lives at this address: a small task's stack moved. */
void cio__timer_moved(cio_loop *loop, struct cio__timer *t);
/* The earliest timer in the heap, or NULL. */
struct cio__timer *cio__timers_first(cio_loop *loop);
static inline bool cio__timers_any(const cio_loop *loop) {
  return loop->timers.live > 0 || !cio__list_empty(&loop->timers.spill);
}
void cio__timers_collect(cio_loop *loop);

/* handle.c, future.c: used by cio_loop_close() to drop a queued callback
 * without running it.  False when `cb` is not of their kind. */
bool cio__handle_try_drop(struct cio__callback *cb);
/* The function a call_soon/call_later handle calls, or NULL when `cb` is
 * not a handle (for reports). */
const void *cio__handle_code(const struct cio__callback *cb);
bool cio__threadsafe_try_drop(struct cio__callback *cb);
bool cio__done_cb_try_drop(struct cio__callback *cb);

/* task.c */
/* Free the cache of task structs kept for reuse (cio_loop_close). */
void cio__task_cache_drain(cio_loop *loop);
void cio__task_resume(cio_loop *loop, cio_task *t);
void cio__task_bury(cio_loop *loop, cio_task *t);

/* The kernel's side of a task (sched.c; use the cio__wait_* calls):
 * park the running task `t` on record `w` until its wake, and make a
 * WAITING task ready again.  cio__task_park returns w->result, or
 * CIO_ECANCELED if a cancellation is to be delivered. */
int cio__task_park_on(cio_task *t, struct cio__wait *w);
void cio__task_ready(cio_task *t);

/* A scope a task enters and must leave before its body returns (a
 * timeout scope; registered by the layer that owns it, so the runtime
 * never calls upward).  A task that returns with one still entered is
 * reported, naming the task and `what`, and `abandon` closes the scope
 * (its storage is on the dead task's stack: it must let go of it). */
struct cio__scope_guard {
  struct cio__list node; /* in task->scopes */
  const char *what;      /* "a timeout scope" */
  void (*abandon)(struct cio__scope_guard *g);
  /* A timer of the scope's, moved with a small task's stack (or NULL). */
  struct cio__timer *timer;
};
void cio__task_scope_enter(cio_task *t, struct cio__scope_guard *g);
void cio__task_scope_leave(struct cio__scope_guard *g);

/* Suspend for one batch (sleep(0)).  Returns 0 or CIO_ECANCELED. */
int cio__task_yield(cio_task *t);

/* small.c: small tasks share the loop's stack (see there).  Open takes the
 * shared stack (0 or CIO_ENOMEM); close gives it back. */
int cio__small_open(cio_loop *loop);
void cio__small_close(cio_loop *loop);
/* Before switching into small task `t` (not on the shared stack): make its
 * frames the ones on the shared stack, moving the occupant's out. */
void cio__small_enter(cio_loop *loop, cio_task *t);
/* Back on the loop's stack after running tasks: Debug builds move the
 * occupant's frames out at once, to check that nothing points there. */
void cio__small_left(cio_loop *loop);
/* A small task is done: forget its frames. */
void cio__small_bury(cio_loop *loop, cio_task *t);
/* The running small task `t` is about to switch out, `frame` being an
 * address in its deepest frame: make room for its frames in its buffer.
 * Returns 0 or CIO_ENOMEM (then it must not switch out). */
int cio__small_reserve(cio_task *t, const void *frame);
/* For dumps (src/debug): whether `p` points into the loop's shared stack,
 * where a parked small task's frames may not be (they may be in its
 * buffer, and another task's or the Debug pattern in their place). */
bool cio__small_on_shared(const cio_loop *loop, const void *p);
/* task.c: set up a NEW task's context, on the stack it takes now (on the
 * shared stack for a small task). */
void cio__task_start(cio_task *t);
void cio__fiber_init_small(cio_task *t);
/* The running task is about to park: room for a small task's frames.  A
 * park does not fail for want of it: a reservation that could not be made
 * is made at the eviction (small.c), which stops the process with a
 * message naming the task if memory is still short then.  Failing the
 * park instead left callers that must wait (a TaskGroup's exit, a
 * condition re-taking its lock, a libuv request) nothing to do but spin. */
static inline void cio__task_park_prepare(cio_task *t) {
  if (!t->is_small)
    return;
  char here = 0; /* its address: about where this frame is */
  (void)cio__small_reserve(t, &here);
}

/* The running task, or NULL with *rc set to CIO_EPERM: for suspending API
 * calls. */
static inline cio_task *cio__task_for_suspend(int *rc) {
  cio_loop *loop = cio__loop_current();
  cio_task *t = loop ? loop->current : NULL;
  *rc = t ? 0 : CIO_EPERM;
  return t;
}

/* future.c */
void cio__future_init(struct cio_future *f, cio_loop *loop, bool is_task);
/* cio_future_retain/release for the runtime's own references: inline in
 * the common case, the rest (a task, the last reference, misuse) out of
 * line. */
static inline struct cio_future *cio__future_ref(struct cio_future *f) {
  if (!f->is_task && f->state != CIO__FUT_FREED) {
    f->refs++;
    return f;
  }
  return cio_future_retain(f);
}
static inline void cio__future_unref(struct cio_future *f) {
  if (!f->is_task && f->refs > 1) {
    f->refs--;
    return;
  }
  cio_future_release(f);
}
/* Complete `f`: RESULT (code >= 0), ERROR (code < 0) or CANCELLED (with
 * `msg`, retained; may be NULL). */
void cio__future_complete(struct cio_future *f, int state, void *result,
                          int code, struct cio__msg *msg);
/* Cancel a pending plain future or ask a task to cancel, with `msg`. */
int cio__future_cancel_msg(struct cio_future *f, struct cio__msg *msg);
/* The running task `self` received a CIO_ECANCELED carrying `msg` (an
 * awaited future's cancellation): what cio_cancel_message() reads. */
void cio__task_received_cancel(cio_task *self, struct cio__msg *msg);
/* The outcome of a done `f` (CIO_EINPROGRESS if pending): its code with
 * its result (marked taken: the reader owns it now), its error (marked
 * retrieved), or CIO_ECANCELED.  cio__future_take() is the same read by
 * the running task: a CIO_ECANCELED carries f's message to it. */
int cio__future_outcome(struct cio_future *f, void **result);
int cio__future_take(struct cio_future *f, void **result);
/* The last reference went: dispose of an untaken result, free what `f`
 * holds, mark it FREED. */
void cio__future_finalize(struct cio_future *f);
void cio__future_cache_drain(cio_loop *loop);
/* "casyncio: task 'x' released once more..." */
void cio__report_double_release(const char *what, const void *obj,
                                const char *name);
int cio__task_cancel_msg(cio_task *t, struct cio__msg *msg);
/* Task ids issued so far in the process (the last id given). */
uint64_t cio__task_ids_issued(void);
void cio__future_free_callbacks(struct cio_future *f);
void cio__future_report_unretrieved(struct cio_future *f, const char *what,
                                    const char *name);

/* Park the running task until `f` is done.  If the task is cancelled
 * meanwhile: with `propagate`, `f` is cancelled too (asyncio's await);
 * without, the wait just ends with CIO_ECANCELED and `f` is untouched
 * (what shield, wait and TaskGroup need).  Returns 0 or CIO_ECANCELED. */
int cio__future_wait(struct cio_future *f, bool propagate);
/* The same, saying what the wait is for when that is more than "await
 * a future" (an executor job's future). */
int cio__future_wait_about(struct cio_future *f, bool propagate,
                           const struct cio__wait_kind *kind, const void *obj);

/* CIO_EINVAL unless every future of `futs` is non-NULL and belongs to
 * `loop` (the calling thread's): for calls taking arrays of futures. */
int cio__futures_check(struct cio_future *const *futs, size_t n,
                       const cio_loop *loop);

/* Can the running task wait for `f`?  0, CIO_EPERM outside a task,
 * CIO_EDEADLK (awaiting itself), CIO_EINVAL (another loop's). */
int cio__await_check(const struct cio_future *f);

/* cio_await (propagate) and cio_shield (not): wait for `f` from the
 * running task, then give its outcome. */
int cio__await(struct cio_future *f, void **result, bool propagate);
int cio__await_about(struct cio_future *f, void **result, bool propagate,
                     const struct cio__wait_kind *kind, const void *obj);

/* Append the function at `code` ("name (file.c:12)" when symbols allow,
 * else its address): for wait descriptions naming a callback. */
void cio__text_code(struct cio__text *out, const void *code);
/* The same with the function's name only (no addr2line run): for
 * descriptions a report may repeat for many objects. */
void cio__text_code_name(struct cio__text *out, const void *code);

/* The address of the function in the lvalue `fn` as a data pointer (ISO C
 * has no conversion between the two; POSIX guarantees the layout). */
#define CIO__CODE_ADDR(fn) cio__code_addr(&(fn), sizeof(fn))
static inline const void *cio__code_addr(const void *fnp, size_t size) {
  const void *p = NULL;
  memcpy(&p, fnp, size < sizeof p ? size : sizeof p);
  return p;
}

/* A link: a callback node owned by the caller (often one of an array),
 * attached to a future like a done-callback.  When the future completes
 * the link is queued and `run` is called on a later batch, owning one
 * reference to the future that it must drop with cio__link_done().
 * cio__link_detach() makes it inert whatever state it is in. */
struct cio__link {
  struct cio__callback cb;
  struct cio_future *f;
  void *owner;
  size_t index;
};
/* The futures of `links[0..n)` still pending, for a cio__wait_kind's
 * `awaits`: up to `cap` into `out`; returns how many there are. */
size_t cio__links_pending(const struct cio__link *links, size_t n,
                          struct cio_future **out, size_t cap);
void cio__link_attach(struct cio__link *l, struct cio_future *f,
                      void (*run)(struct cio__callback *), void *owner,
                      size_t index);
void cio__link_done(struct cio__link *l);
void cio__link_detach(struct cio__link *l);

/* ------------------------------------------------------------------------
 * Seeing inside a running program (src/debug/): texts, reports, dumps
 * ---------------------------------------------------------------------- */
#if defined(__GNUC__)
#define CIO__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CIO__PRINTF(f, a)
#endif

void cio__text_init(struct cio__text *t);
void cio__text_free(struct cio__text *t);
void cio__text_put(struct cio__text *t, const char *s);
void cio__text_putn(struct cio__text *t, const char *s, size_t n);
void cio__text_printf(struct cio__text *t, const char *fmt, ...)
    CIO__PRINTF(2, 3);
/* What was written ("" if nothing; what fitted if memory ran out). */
const char *cio__text_str(const struct cio__text *t);

/* The loop's hooks into src/debug/.  Open and close with the loop (close:
 * before its libuv handles are closed; free: once it is really freed). */
void cio__debug_open(cio_loop *loop, const cio_loop_opts *opts);
void cio__debug_close(cio_loop *loop);
void cio__debug_free(cio_loop *loop);

/* Reports of src/debug/endings.c.  Every task still pending, one report
 * each ("<prefix>: task 'x' <what>: waiting on ... at f (app.c:9)", and in
 * debug mode where it was created), with `source` and `error` in its
 * context; the objects cio_loop_close found open (`what`: "2 streams"),
 * listed one by one in debug mode; in debug mode, objects not counted (a
 * battery's sessions) still open as the loop closes; an error nobody
 * read, with where its future was created in debug mode. */
void cio__report_pending(cio_loop *loop, const char *prefix, const char *source,
                         int error, const char *what);
void cio__report_left_open(cio_loop *loop, const char *what);
void cio__report_untracked_left(cio_loop *loop);
void cio__report_unretrieved(struct cio_future *f, const char *what,
                             const char *name);
/* cio_run's shutdown begins (in debug mode, names the tasks it cancels)
 * and ends: between the two, a task still running after
 * cio_loop_opts.shutdown_report_ms is named with where it waits. */
void cio__shutdown_watch_start(cio_loop *loop);
void cio__shutdown_watch_stop(cio_loop *loop);

/* Debug mode: the scheduler pops `next` (NULL: the round is over), which
 * ends the step before it (slow.c). */
void cio__debug_step(cio_loop *loop, struct cio__callback *next);

/* A round of the scheduler starts or ends: the stall watchdog's
 * heartbeat, a relaxed store (odd while a round runs). */
static inline void cio__stall_beat(cio_loop *loop) {
  uint64_t beat = atomic_load_explicit(&loop->dbg.beat, memory_order_relaxed);
  atomic_store_explicit(&loop->dbg.beat, beat + 1, memory_order_relaxed);
}

/* The reports of src/debug/ (any length, several lines) through the
 * loop's exception handler (exception.c): `message` with the source,
 * error, task and future of `base`. */
void cio__debug_report(cio_loop *loop, const cio_exception_context *base,
                       const char *message);

#endif
