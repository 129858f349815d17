/* A task waiting for one libuv callback (see internal.h), on a wait
 * record whose interrupt hook is the request's cancel function. */
#include "internal.h"

static bool uvwait_interrupt(struct cio__wait *rec) {
  struct cio__uvwait *w = cio__container_of(rec, struct cio__uvwait, wait);
  if (!w->cancelled) {
    w->cancelled = true;
    w->cancel(w); /* the callback will come, and wake the task */
  }
  return true;
}

void cio__uvwait_init(struct cio__uvwait *w, cio_task *task,
                      void (*cancel)(struct cio__uvwait *w)) {
  *w = (struct cio__uvwait){.cancel = cancel};
  cio__wait_init(&w->wait, task, cancel == NULL ? CIO__WAIT_SHIELDED : 0);
  if (cancel != NULL)
    w->wait.interrupt = uvwait_interrupt;
}

void cio__uvwait_complete(struct cio__uvwait *w, int status) {
  w->done = true;
  w->status = status;
  cio__wait_try_wake(&w->wait, 0);
}

int cio__uvwait_park(struct cio__uvwait *w) {
#if defined(CIO_DEBUG)
  /* The request lives on the caller's stack while libuv holds it: not on
   * a small task's, whose frames move while it is parked (small.c). */
  if (w->wait.task->is_small) {
    fprintf(stderr,
            "casyncio: small task '%s' started a libuv request (a file, DNS, "
            "connect or process call), which keeps a pointer into its stack "
            "while it waits: use a normal task (see cio_task_opts.small)\n",
            cio_task_get_name(w->wait.task));
    abort();
  }
#endif
  int rc = 0;
  while (!w->done)
    if (cio__wait_park(&w->wait) == CIO_ECANCELED)
      rc = CIO_ECANCELED; /* keep waiting: the request must finish */
  if (w->cancelled || rc == CIO_ECANCELED)
    return CIO_ECANCELED;
  return w->status;
}

int cio__uv_error(int uv_status) {
  /* A libuv status is a casyncio code on every platform (error.c checks
   * the table against libuv's). */
  return uv_status;
}
