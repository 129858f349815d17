/* cio__report: the one way the reports of src/debug/ go out.
 *
 * Today a report is written to stderr in one piece, prefixed with
 * "casyncio: ".  It carries what asyncio's exception-handler context
 * carries (a message, the task or future it is about), so routing it
 * through a loop exception handler later changes only this function.
 * Stall reports are the exception: the loop is stuck, so the watchdog
 * thread writes them itself (stall.c), with cio__report_raw. */
#include <errno.h>
#include <unistd.h>

#include "debug/debug.h"

void cio__report_raw(const char *text, size_t len) {
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, text, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    text += n;
    len -= (size_t)n;
  }
}

void cio__report(cio_loop *loop, enum cio__report_kind kind,
                 const char *message, cio_task *task, cio_future *future) {
  (void)loop, (void)kind, (void)task, (void)future;
  struct cio__text t;
  cio__text_init(&t);
  cio__text_put(&t, "casyncio: ");
  cio__text_put(&t, message);
  if (t.len == 0 || cio__text_str(&t)[t.len - 1] != '\n')
    cio__text_put(&t, "\n");
  fflush(stderr); /* after what stdio already holds */
  const char *s = cio__text_str(&t);
  cio__report_raw(s, strlen(s));
  cio__text_free(&t);
}
