/* The stall watchdog: a loop that has not come back to poll for longer
 * than its threshold is reported, naming the running task and showing
 * the loop thread's C backtrace at that moment (as Seastar's reactor
 * stall reports do).
 *
 * The loop's side costs two relaxed stores per round of the scheduler
 * (cio__stall_beat in internal.h): a counter, odd while a round runs.  A
 * round is where tasks and callbacks run, between two polls.  One
 * process-wide thread wakes every quarter threshold and reads each
 * loop's counter; a loop found inside the same round for a whole
 * threshold is stalled.  The watchdog then sends the loop's thread a
 * real-time signal, whose handler (on the loop thread, on the alternate
 * signal stack overflow.c installed) records the backtrace with glibc's
 * backtrace() (DWARF unwinding, so it crosses libc and code built without
 * frame pointers; warmed up once so that it loads nothing in the handler,
 * and lock-free on glibc 2.35+ with GCC 12+'s unwinder) and copies the
 * running task's name.  A reporter thread symbolizes the snapshot and
 * writes the report on stderr itself (the loop is stuck: it cannot run a
 * handler), then one line more when the loop polls again; the watchdog
 * goes on watching meanwhile.
 *
 * The watchdog's state is process-wide by nature (one thread, one signal
 * handler), set up once, and reset in a child after fork().
 *
 *   record: IDLE -> ASKED (watchdog) -> TAKEN (the handler) -> IDLE
 */
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "debug/debug.h"

enum { SNAP_FRAMES = 48, SNAP_IDLE = 0, SNAP_ASKED, SNAP_TAKEN };

struct cio__stall {
  struct cio__list node; /* in wd.loops (wd.lock) */
  _Atomic uint64_t beat; /* written by the loop thread: odd in a round */
  pthread_t thread;
  int tid;
  int64_t threshold_ns;
  /* The watchdog's view (wd.lock). */
  uint64_t seen;   /* the beat last read */
  int64_t seen_ns; /* when it was first read */
  bool reported;
  /* The snapshot the signal handler takes on the loop thread. */
  _Atomic int snap;
  int npcs;
  void *pcs[SNAP_FRAMES];
  uintptr_t pc; /* where the thread was interrupted */
  bool in_task;
  uint64_t task_id;
  char task_name[64]; /* "" for an unnamed task: Task-<id> */
};

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond; /* a loop joined the list */
  struct cio__list loops;
  bool running; /* the thread was started (in this process) */
  int signo;    /* 0: no free real-time signal */
} wd;

static pthread_once_t wd_once = PTHREAD_ONCE_INIT;

/* Reports wait here for the reporter thread, in order: symbolizing (and
 * running addr2line) takes long enough that the watchdog would miss the
 * next stall if it did it itself. */
struct report {
  struct report *next;
  bool over;  /* "stall over", else a stall report */
  bool taken; /* the snapshot came */
  int tid;
  int64_t ns, threshold_ns;
  bool in_task;
  uint64_t task_id;
  char task_name[64];
  uintptr_t pc;
  int npcs;
  void *pcs[SNAP_FRAMES];
};

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct report *head, *tail;
  bool running;
} rq;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the signal handler (async-signal-safe) -------------------------- */

static void copy_name(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++)
    dst[i] = src[i];
  dst[i] = '\0';
}

static void on_stall_signal(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)si;
  int saved_errno = errno;
  cio_loop *loop = cio__loop_current();
  struct cio__stall *s = loop ? loop->dbg.stall : NULL;
  if (s != NULL && atomic_load(&s->snap) == SNAP_ASKED) {
    uintptr_t pc = 0, fp, sp;
    (void)cio__ucontext_regs(uc, &pc, &fp, &sp);
    s->pc = pc;
    s->npcs = backtrace(s->pcs, SNAP_FRAMES);
    cio_task *t = loop->current;
    s->in_task = t != NULL;
    if (t != NULL) {
      s->task_id = t->id;
      copy_name(s->task_name, sizeof s->task_name, t->name);
    }
    atomic_store_explicit(&s->snap, SNAP_TAKEN, memory_order_release);
  }
  errno = saved_errno;
}

/* ---- setting up, once per process ------------------------------------ */

static void wd_reset(void) {
  pthread_mutex_init(&rq.lock, NULL);
  pthread_cond_init(&rq.cond, NULL);
  rq.head = rq.tail = NULL;
  rq.running = false;
  pthread_mutex_init(&wd.lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&wd.cond, &ca);
  pthread_condattr_destroy(&ca);
  cio__list_init(&wd.loops);
  wd.running = false;
}

/* After fork() the child has no watchdog thread, and the loops in the
 * list belong to the parent's threads. */
static void wd_child(void) {
  wd_reset();
}

/* The highest real-time signal nobody handles. */
static int pick_signal(void) {
  for (int sig = SIGRTMAX - 1; sig >= SIGRTMIN; sig--) {
    struct sigaction old;
    if (sigaction(sig, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL)
      return sig;
  }
  return 0;
}

static void wd_init(void) {
  wd_reset();
  pthread_atfork(NULL, NULL, wd_child);
  /* The first backtrace() loads libgcc's unwinder: not in a handler. */
  void *warm[4];
  (void)backtrace(warm, 4);
  int sig = pick_signal();
  if (sig == 0)
    return;
  struct sigaction sa = {0};
  sa.sa_sigaction = on_stall_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) == 0)
    wd.signo = sig;
}

/* ---- reports (the reporter thread) ------------------------------------ */

static void put_running(struct cio__text *t, const struct report *r) {
  if (!r->in_task) {
    cio__text_put(t, "running a callback, not a task");
    return;
  }
  if (r->task_name[0] != '\0')
    cio__text_printf(t, "running task '%s' (Task-%" PRIu64 ")", r->task_name,
                     r->task_id);
  else
    cio__text_printf(t, "running task 'Task-%" PRIu64 "'", r->task_id);
}

/* The snapshot's frames from the interrupted one on (those before are
 * the handler's own and the signal trampoline), symbolized. */
static void put_backtrace(struct cio__text *t, const struct report *r) {
  int first = 0;
  while (first < r->npcs && (uintptr_t)r->pcs[first] != r->pc)
    first++;
  if (first == r->npcs)
    first = r->npcs > 2 ? 2 : 0; /* unknown pc: skip handler, trampoline */
  size_t n = (size_t)(r->npcs - first);
  struct cio__frame frames[SNAP_FRAMES];
  for (size_t i = 0; i < n; i++)
    frames[i] = (struct cio__frame){.pc = r->pcs[first + (int)i],
                                    .exact = i == 0 && r->pc != 0};
  cio__symbolize(frames, n);
  cio__frames_put_list(t, frames, n, "    ");
}

static void write_report(const struct report *r) {
  struct cio__text t;
  cio__text_init(&t);
  if (r->over) {
    cio__text_printf(&t,
                     "casyncio: stall over: the loop of thread %d polled "
                     "again after %.3f s\n",
                     r->tid, (double)r->ns / 1e9);
  } else {
    cio__text_printf(&t,
                     "casyncio: stall: the loop of thread %d has not "
                     "polled for %.3f s (threshold %.3f s), ",
                     r->tid, (double)r->ns / 1e9,
                     (double)r->threshold_ns / 1e9);
    if (!r->taken) {
      cio__text_put(&t, "and its thread did not answer the signal asking "
                        "for its backtrace\n");
    } else {
      put_running(&t, r);
      cio__text_put(&t, "; the loop thread's backtrace:\n");
      put_backtrace(&t, r);
    }
  }
  const char *text = cio__text_str(&t);
  cio__report_raw(text, strlen(text));
  cio__text_free(&t);
}

static void *reporter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&rq.lock);
  for (;;) {
    while (rq.head == NULL)
      pthread_cond_wait(&rq.cond, &rq.lock);
    struct report *r = rq.head;
    rq.head = r->next;
    if (rq.head == NULL)
      rq.tail = NULL;
    pthread_mutex_unlock(&rq.lock);
    write_report(r);
    free(r);
    pthread_mutex_lock(&rq.lock);
  }
  return NULL;
}

static int start_thread(void *(*fn)(void *));

/* Queue `r` for the reporter (the watchdog thread); dropped without
 * memory or a thread. */
static void queue_report(struct report *r) {
  pthread_mutex_lock(&rq.lock);
  if (!rq.running && start_thread(reporter) == 0)
    rq.running = true;
  if (rq.running) {
    if (rq.tail != NULL)
      rq.tail->next = r;
    else
      rq.head = r;
    rq.tail = r;
    pthread_cond_signal(&rq.cond);
    r = NULL;
  }
  pthread_mutex_unlock(&rq.lock);
  free(r);
}

static void report_over(const struct cio__stall *s, int64_t ns) {
  struct report *r = calloc(1, sizeof *r);
  if (r == NULL)
    return;
  *r = (struct report){.over = true, .tid = s->tid, .ns = ns};
  queue_report(r);
}

static void report_stall(const struct cio__stall *s, int64_t ns,
                         bool taken) {
  struct report *r = calloc(1, sizeof *r);
  if (r == NULL)
    return;
  *r = (struct report){.taken = taken,
                       .tid = s->tid,
                       .ns = ns,
                       .threshold_ns = s->threshold_ns,
                       .in_task = s->in_task,
                       .task_id = s->task_id,
                       .pc = s->pc,
                       .npcs = s->npcs};
  memcpy(r->task_name, s->task_name, sizeof r->task_name);
  memcpy(r->pcs, s->pcs, sizeof r->pcs);
  queue_report(r);
}

/* Ask the loop thread for its snapshot and wait for it (up to 200 ms). */
static bool take_snapshot(struct cio__stall *s) {
  atomic_store(&s->snap, SNAP_ASKED);
  if (pthread_kill(s->thread, wd.signo) != 0)
    return false;
  for (int i = 0; i < 200; i++) {
    if (atomic_load_explicit(&s->snap, memory_order_acquire) == SNAP_TAKEN)
      return true;
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
  }
  return false;
}

/* One look at `s`; true when it is stalled (the caller reports it). */
static bool look(struct cio__stall *s, int64_t now) {
  uint64_t beat = atomic_load_explicit(&s->beat, memory_order_relaxed);
  if (beat != s->seen) {
    if (s->reported)
      report_over(s, now - s->seen_ns);
    s->seen = beat;
    s->seen_ns = now;
    s->reported = false;
    return false;
  }
  return (beat & 1) && !s->reported && now - s->seen_ns >= s->threshold_ns;
}

static int64_t period_ns(void) {
  int64_t p = INT64_MAX;
  cio__list_foreach(it, &wd.loops) {
    struct cio__stall *s = cio__container_of(it, struct cio__stall, node);
    if (s->threshold_ns / 4 < p)
      p = s->threshold_ns / 4;
  }
  return p < 5000000 ? 5000000 : p;
}

static void *watchdog(void *arg) {
  (void)arg;
  pthread_mutex_lock(&wd.lock);
  for (;;) {
    while (cio__list_empty(&wd.loops))
      pthread_cond_wait(&wd.cond, &wd.lock);
    int64_t until = mono_ns() + period_ns();
    struct timespec ts = {.tv_sec = until / 1000000000,
                          .tv_nsec = until % 1000000000};
    while (pthread_cond_timedwait(&wd.cond, &wd.lock, &ts) == 0 &&
           mono_ns() < until)
      ;
    int64_t now = mono_ns();
    cio__list_foreach(it, &wd.loops) {
      struct cio__stall *s = cio__container_of(it, struct cio__stall, node);
      if (!look(s, now))
        continue;
      s->reported = true;
      /* The loop's close waits for wd.lock, so `s` stays valid. */
      bool taken = take_snapshot(s);
      report_stall(s, now - s->seen_ns, taken);
      atomic_store(&s->snap, SNAP_IDLE);
    }
  }
  return NULL;
}

static int start_thread(void *(*fn)(void *)) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* no signal lands there */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  int rc = pthread_create(&th, &attr, fn, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc == 0 ? 0 : -rc;
}

/* ---- the loop's side ---------------------------------------------------- */

int cio__stall_open(cio_loop *loop) {
  pthread_once(&wd_once, wd_init);
  if (wd.signo == 0)
    return CIO_ENOTSUP;
  struct cio__stall *s = calloc(1, sizeof *s);
  if (s == NULL)
    return CIO_ENOMEM;
  s->thread = pthread_self();
  s->tid = (int)gettid();
  s->threshold_ns = loop->dbg.stall_ns;
  pthread_mutex_lock(&wd.lock);
  int rc = wd.running ? 0 : start_thread(watchdog);
  if (rc == 0) {
    wd.running = true;
    s->seen_ns = mono_ns();
    cio__list_push_back(&wd.loops, &s->node);
    pthread_cond_signal(&wd.cond);
  }
  pthread_mutex_unlock(&wd.lock);
  if (rc < 0) {
    free(s);
    return rc;
  }
  loop->dbg.stall = s;
  loop->dbg.beat = &s->beat;
  return 0;
}

void cio__stall_close(cio_loop *loop) {
  struct cio__stall *s = loop->dbg.stall;
  if (s == NULL)
    return;
  loop->dbg.beat = NULL;
  loop->dbg.stall = NULL;
  pthread_mutex_lock(&wd.lock);
  cio__list_remove(&s->node);
  pthread_mutex_unlock(&wd.lock);
  free(s);
}
