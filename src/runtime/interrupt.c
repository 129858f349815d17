/* Ctrl-C under cio_run, as asyncio.run does since 3.11: the first SIGINT
 * cancels the main task (which can clean up; cio_run then returns
 * CIO_EINTR), a second one interrupts at once (the previous disposition
 * is put back and the signal raised again, as an uncaught
 * KeyboardInterrupt ends Python).  Only while SIGINT has its default
 * disposition: a program that chose one keeps it.  The previous
 * disposition is restored when cio_run ends.
 *
 * The handler only does what is async-signal-safe: count, set an atomic
 * flag and wake the loop (uv_async_send); the loop thread cancels the
 * main task at its next batch boundary or poll (cio__interrupt_check).
 * (1) At most one loop of the process owns the handler at a time.
 * (2) Only cio_run on the main thread takes it, as asyncio.Runner only
 *     installs its SIGINT handler there: a loop on a worker thread is not
 *     the one Ctrl-C means.  The main thread is the one that loaded the
 *     library (a constructor notes it). */
#include <signal.h>

#include "internal.h"

static cio_loop *_Atomic owner;     /* the loop cio_run runs, or NULL */
static volatile sig_atomic_t count; /* SIGINTs since it was installed */
static struct sigaction previous;
static uv_thread_t main_thread; /* (2) */

__attribute__((constructor)) static void note_main_thread(void) {
  main_thread = uv_thread_self();
}

static void on_sigint(int signum) {
  (void)signum;
  cio_loop *loop = atomic_load(&owner);
  if (++count > 1 || loop == NULL) {
    sigaction(SIGINT, &previous, NULL);
    raise(SIGINT);
    return;
  }
  atomic_store(&loop->interrupted, true); /* polled with the inbox */
  uv_async_send(&loop->wakeup);
}

bool cio__interrupt_install(cio_loop *loop) {
  uv_thread_t self = uv_thread_self();
  if (!uv_thread_equal(&self, &main_thread))
    return false; /* (2) */
  struct sigaction now;
  if (sigaction(SIGINT, NULL, &now) != 0 || now.sa_handler != SIG_DFL ||
      (now.sa_flags & SA_SIGINFO))
    return false; /* the program chose a disposition: keep it */
  cio_loop *none = NULL;
  if (!atomic_compare_exchange_strong(&owner, &none, loop))
    return false; /* another cio_run has it */
  count = 0;
  previous = now;
  struct sigaction sa = {.sa_handler = on_sigint};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGINT, &sa, NULL) != 0) {
    atomic_store(&owner, NULL);
    return false;
  }
  return true;
}

void cio__interrupt_uninstall(cio_loop *loop) {
  if (atomic_load(&owner) != loop)
    return;
  sigaction(SIGINT, &previous, NULL);
  atomic_store(&owner, NULL);
}

void cio__interrupt_check(cio_loop *loop) {
  if (!atomic_exchange(&loop->interrupted, false))
    return;
  loop->was_interrupted = true;
  if (loop->main_task != NULL && !cio_task_is_done(loop->main_task))
    cio_task_cancel(loop->main_task);
}
