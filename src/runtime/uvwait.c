/* A task waiting for one libuv callback (see internal.h). */
#include "internal.h"

void cio__uvwait_init(struct cio__uvwait *w, cio_task *task,
                      void (*cancel)(struct cio__uvwait *w)) {
  *w = (struct cio__uvwait){.task = task, .cancel = cancel};
}

void cio__uvwait_complete(struct cio__uvwait *w, int status) {
  w->done = true;
  w->status = status;
  if (w->parked) {
    w->parked = false;
    cio__task_wake(w->task, 0);
  }
}

static bool uvwait_cancel(cio_task *t, void *ctx) {
  (void)t;
  struct cio__uvwait *w = ctx;
  if (w->cancel == NULL || w->cancelled)
    return false;
  w->cancelled = true;
  w->cancel(w); /* the callback will come, and wake the task */
  return true;
}

int cio__uvwait_park(struct cio__uvwait *w) {
  int rc = 0;
  while (!w->done) {
    w->parked = true;
    int prc = cio__task_park(w->task, uvwait_cancel, w);
    w->parked = false;
    if (prc == CIO_ECANCELED)
      rc = CIO_ECANCELED; /* keep waiting: the request must finish */
  }
  if (w->cancelled || rc == CIO_ECANCELED)
    return CIO_ECANCELED;
  return w->status;
}

int cio__uv_error(int uv_status) {
  /* On Unix libuv's codes are negative errno, as ours are, and its own
   * codes (UV_EOF, UV_EAI_*) have the same values in our table. */
  return uv_status;
}
