/* cio__debug_report: the one way the reports of src/debug/ go out,
 * through the loop's exception handler (exception.c; the default prints
 * "casyncio: <message>" on stderr).  Unlike cio__report it takes a message
 * already built, of any length: dumps and lists run to many lines.  Stall
 * reports are the exception: a signal handler on the stuck loop thread
 * writes them, straight to stderr (stall.c). */
#include "debug/debug.h"

void cio__debug_report(cio_loop *loop, const cio_exception_context *base,
                       const char *message) {
  cio_exception_context ctx = base != NULL ? *base : (cio_exception_context){0};
  ctx.message = message;
  cio_loop_call_exception_handler(loop, &ctx);
}
