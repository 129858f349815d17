/* The stall watchdog: a loop that has not come back to poll for longer
 * than its threshold is reported, naming the running task and showing
 * the loop thread's C backtrace at that moment (as Seastar's reactor
 * stall reports do).
 *
 * The loop's side costs two relaxed increments per round of the
 * scheduler (cio__stall_beat in internal.h): a counter in the loop, odd
 * while a round runs.  A
 * round is where tasks and callbacks run, between two polls.  One
 * process-wide thread wakes every quarter threshold and reads each
 * loop's counter; a loop found inside the same round for a whole
 * threshold is stalled.  The watchdog then sends the loop's thread a
 * real-time signal.  Its handler, on the stuck thread (on the alternate
 * signal stack overflow.c installed), takes the backtrace with glibc's
 * backtrace() (DWARF unwinding: it crosses libc and code without frame
 * pointers; warmed up once so that it loads nothing there, lock-free on
 * glibc 2.35+ with GCC 12+), symbolizes it the async-signal-safe way
 * (symbols.c) and writes the report on stderr: the loop cannot run a
 * handler of its own, it is stuck.  When the loop polls again the
 * watchdog writes one line more.
 *
 * The watchdog thread is one libc does not know about (rawthread.c), so
 * a single-threaded program stays single-threaded for glibc's fast paths:
 * it uses only raw system calls and atomics, and reaches the loops
 * through a fixed table of slots.  A loop leaving the table waits for the
 * scan in progress, if any, so its record is never read once freed.
 * The state is process-wide by nature (one thread, one signal handler),
 * set up once, and reset in a child after fork().
 *
 *   record: IDLE -> ASKED (watchdog) -> IDLE (the handler, once reported)
 */
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "debug/debug.h"

enum { MAX_LOOPS = 64, SNAP_FRAMES = 40, REPORT_BYTES = 16384 };

struct cio__stall {
  _Atomic uint64_t *beat; /* the loop's: odd while a round runs */
  _Atomic int asked;      /* the watchdog wants a report */
  int tid;
  int64_t threshold_ns;
  int64_t stalled_ns; /* set before asking: how long so far */
  /* The watchdog's view, only it touches these. */
  uint64_t seen;   /* the beat last read */
  int64_t seen_ns; /* when it was first read */
  bool reported;
  /* The handler's workspace, so that it needs little stack. */
  void *pcs[SNAP_FRAMES + 8];
  struct cio__frame frames[SNAP_FRAMES];
  char scratch[8192];
  char text[REPORT_BYTES];
};

static struct {
  struct cio__stall *_Atomic slots[MAX_LOOPS];
  _Atomic uint64_t scans; /* odd while the watchdog reads the slots */
  _Atomic int loops;      /* futex word: slots in use */
  _Atomic bool running;   /* the thread was started (in this process) */
  int signo;              /* 0: no free real-time signal */
  int pid;
  pthread_mutex_t lock; /* loop threads taking and leaving slots */
} wd = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t wd_once = PTHREAD_ONCE_INIT;

/* ---- writing without stdio (the handler and the watchdog) ------------- */

struct out {
  char *buf;
  size_t len, cap;
};

static void put(struct out *o, const char *s) {
  while (*s != '\0' && o->len + 1 < o->cap)
    o->buf[o->len++] = *s++;
  o->buf[o->len] = '\0';
}

static void put_uint(struct out *o, uint64_t v) {
  char digits[24];
  int n = 0;
  do
    digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0 && n < 23);
  char rev[24];
  for (int i = 0; i < n; i++)
    rev[i] = digits[n - 1 - i];
  rev[n] = '\0';
  put(o, rev);
}

/* Nanoseconds as seconds with three decimals. */
static void put_seconds(struct out *o, int64_t ns) {
  uint64_t ms = ns > 0 ? (uint64_t)ns / 1000000 : 0;
  put_uint(o, ms / 1000);
  put(o, ".");
  char frac[4] = {(char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10),
                  (char)('0' + ms % 10), '\0'};
  put(o, frac);
}

/* ---- the report (the signal handler, on the stuck loop thread) ------- */

static void put_running(struct out *o, const cio_loop *loop) {
  cio_task *t = loop->current;
  if (t == NULL) {
    put(o, "running a callback, not a task");
    return;
  }
  put(o, "running task '");
  if (t->name != NULL) {
    put(o, t->name);
    put(o, "' (Task-");
  } else {
    put(o, "Task-");
  }
  put_uint(o, t->id);
  put(o, t->name != NULL ? ")" : "'");
}

/* The frames from the interrupted one on: those before it are the
 * handler's own and the signal trampoline. */
static size_t interrupted_frames(struct cio__stall *s, int n, uintptr_t pc) {
  int first = 0;
  while (first < n && (uintptr_t)s->pcs[first] != pc)
    first++;
  if (first == n)
    first = n > 2 ? 2 : 0;
  size_t k = 0;
  for (int i = first; i < n && k < SNAP_FRAMES; i++)
    s->frames[k++] =
        (struct cio__frame){.pc = s->pcs[i], .exact = i == first && pc != 0};
  return k;
}

static void put_frames(struct out *o, const struct cio__frame *f, size_t n) {
  for (size_t i = 0, k = 0; i < n; i++) {
    const char *inl = f[i].inlined;
    put(o, "    #");
    put_uint(o, k++);
    put(o, " ");
    put(o, f[i].func[0] ? f[i].func : "?");
    if (f[i].where[0] != '\0') {
      put(o, " (");
      put(o, f[i].where);
      put(o, ")");
    }
    put(o, "\n");
    while (*inl != '\0') { /* "caller (file.c:12)" lines */
      put(o, "    #");
      put_uint(o, k++);
      put(o, " ");
      for (; *inl != '\0' && *inl != '\n'; inl++) {
        char c[2] = {*inl, '\0'};
        put(o, c);
      }
      put(o, "\n");
      if (*inl == '\n')
        inl++;
    }
  }
}

static void report(cio_loop *loop, struct cio__stall *s, void *uc) {
  uintptr_t pc = 0, fp, sp;
  (void)cio__ucontext_regs(uc, &pc, &fp, &sp);
  int npcs = backtrace(s->pcs, SNAP_FRAMES + 8);
  size_t n = interrupted_frames(s, npcs, pc);
  struct out o = {.buf = s->text, .cap = sizeof s->text};
  put(&o, "casyncio: stall: the loop of thread ");
  put_uint(&o, (uint64_t)s->tid);
  put(&o, " has not polled for ");
  put_seconds(&o, s->stalled_ns);
  put(&o, " s (threshold ");
  put_seconds(&o, s->threshold_ns);
  put(&o, " s), ");
  put_running(&o, loop);
  put(&o, "; the loop thread's backtrace:\n");
  cio__symbolize_sigsafe(s->frames, n, s->scratch, sizeof s->scratch);
  /* Below a task's own code: casyncio's entry into it, nothing to read. */
  while (loop->current != NULL && n > 1 && s->frames[n - 1].library)
    n--;
  put_frames(&o, s->frames, n);
  cio__raw_write(STDERR_FILENO, o.buf, o.len);
}

static void on_stall_signal(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)si;
  int saved_errno = errno;
  cio_loop *loop = cio__loop_current();
  struct cio__stall *s = loop ? loop->dbg.stall : NULL;
  if (s != NULL && atomic_exchange(&s->asked, 0) == 1)
    report(loop, s, uc);
  errno = saved_errno;
}

/* ---- the watchdog thread (raw system calls and atomics only) ---------- */

static void report_over(const struct cio__stall *s, int64_t ns) {
  char buf[160];
  struct out o = {.buf = buf, .cap = sizeof buf};
  put(&o, "casyncio: stall over: the loop of thread ");
  put_uint(&o, (uint64_t)s->tid);
  put(&o, " polled again after ");
  put_seconds(&o, ns);
  put(&o, " s\n");
  cio__raw_write(STDERR_FILENO, o.buf, o.len);
}

/* One look at `s`: a stall is reported once, its end in one line. */
static void look(struct cio__stall *s, int64_t now) {
  uint64_t beat = atomic_load_explicit(s->beat, memory_order_relaxed);
  if (beat != s->seen) {
    if (s->reported)
      report_over(s, now - s->seen_ns);
    s->seen = beat;
    s->seen_ns = now;
    s->reported = false;
    return;
  }
  if (!(beat & 1) || s->reported || now - s->seen_ns < s->threshold_ns)
    return;
  s->reported = true;
  s->stalled_ns = now - s->seen_ns;
  atomic_store(&s->asked, 1);
  cio__raw_signal_thread(wd.pid, s->tid, wd.signo);
}

static void watchdog(void *arg) {
  (void)arg;
  for (;;) {
    int loops = atomic_load(&wd.loops);
    if (loops == 0) {
      cio__raw_futex_wait(&wd.loops, 0);
      continue;
    }
    /* Reading a loop's slot is a scan too (odd): cio__stall_close may
     * otherwise free it under this read. */
    int64_t period = INT64_MAX;
    atomic_fetch_add(&wd.scans, 1);
    for (int i = 0; i < MAX_LOOPS; i++) {
      struct cio__stall *s = atomic_load(&wd.slots[i]);
      if (s != NULL && s->threshold_ns / 4 < period)
        period = s->threshold_ns / 4;
    }
    atomic_fetch_add(&wd.scans, 1);
    cio__raw_sleep_ns(period < 5000000 ? 5000000 : period);
    atomic_fetch_add(&wd.scans, 1); /* odd: reading the slots */
    int64_t now = cio__raw_monotonic_ns();
    for (int i = 0; i < MAX_LOOPS; i++) {
      struct cio__stall *s = atomic_load(&wd.slots[i]);
      if (s != NULL)
        look(s, now);
    }
    atomic_fetch_add(&wd.scans, 1);
  }
}

/* ---- setting up, once per process ------------------------------------ */

/* After fork() the child has no watchdog thread, and the slots hold the
 * parent's loops. */
static void wd_child(void) {
  for (int i = 0; i < MAX_LOOPS; i++)
    atomic_store(&wd.slots[i], NULL);
  atomic_store(&wd.loops, 0);
  atomic_store(&wd.running, false);
  atomic_store(&wd.scans, 0);
  wd.pid = cio__raw_getpid();
  pthread_mutex_init(&wd.lock, NULL);
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
  wd.pid = cio__raw_getpid();
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
  sigfillset(&sa.sa_mask); /* nothing else runs on top of the report */
  if (sigaction(sig, &sa, NULL) == 0)
    wd.signo = sig;
}

/* ---- the loop's side ---------------------------------------------------- */

int cio__stall_open(cio_loop *loop) {
  pthread_once(&wd_once, wd_init);
  if (wd.signo == 0)
    return CIO_ENOTSUP;
  struct cio__stall *s = calloc(1, sizeof *s);
  if (s == NULL)
    return CIO_ENOMEM;
  s->tid = cio__raw_gettid();
  s->beat = &loop->dbg.beat;
  s->seen = atomic_load(&loop->dbg.beat);
  s->threshold_ns = loop->dbg.stall_ns;
  s->seen_ns = cio__raw_monotonic_ns();
  pthread_mutex_lock(&wd.lock);
  int rc = 0;
  if (!atomic_load(&wd.running)) {
    rc = cio__raw_thread_start(watchdog, NULL);
    atomic_store(&wd.running, rc == 0);
  }
  int slot = -1;
  for (int i = 0; rc == 0 && i < MAX_LOOPS && slot < 0; i++)
    if (atomic_load(&wd.slots[i]) == NULL)
      slot = i;
  if (rc == 0 && slot < 0)
    rc = CIO_EBUSY; /* more loops than the watchdog watches */
  if (rc == 0) {
    atomic_store(&wd.slots[slot], s);
    atomic_fetch_add(&wd.loops, 1);
    cio__raw_futex_wake(&wd.loops);
  }
  pthread_mutex_unlock(&wd.lock);
  if (rc < 0) {
    free(s);
    return rc;
  }
  loop->dbg.stall = s;
  return 0;
}

void cio__stall_close(cio_loop *loop) {
  struct cio__stall *s = loop->dbg.stall;
  if (s == NULL)
    return;
  loop->dbg.stall = NULL;
  pthread_mutex_lock(&wd.lock);
  for (int i = 0; i < MAX_LOOPS; i++)
    if (atomic_load(&wd.slots[i]) == s)
      atomic_store(&wd.slots[i], NULL);
  atomic_fetch_sub(&wd.loops, 1);
  pthread_mutex_unlock(&wd.lock);
  /* A scan under way may still read `s`: wait for it to end. */
  uint64_t scans = atomic_load(&wd.scans);
  while ((scans & 1) && atomic_load(&wd.scans) == scans)
    cio__raw_sleep_ns(1000000);
  free(s);
}
