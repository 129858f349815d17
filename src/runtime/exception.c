/* The loop's exception handler (asyncio's set_exception_handler,
 * call_exception_handler, default_exception_handler).
 *
 * Everything the runtime reports about a program's mistakes and lost
 * errors goes through cio__report(): an error nobody read, a connection
 * handler's error, an error while cio_run shuts down, a task that returned
 * with a scope entered, a double release, what cio_loop_close finds still
 * open, a deadlock.  With no handler set (or no loop), the default handler
 * prints "casyncio: <message>" on stderr, which is what was always
 * printed.  The stack-overflow report is the exception: it is written
 * from a signal handler, where no user code may run.
 */
#include <stdarg.h>

#include "internal.h"

/* asyncio's default when a context has no message. */
#define DEFAULT_MESSAGE "Unhandled error in event loop"

void cio_loop_default_exception_handler(cio_loop *loop,
                                        const cio_exception_context *ctx) {
  (void)loop;
  if (ctx == NULL)
    return;
  fprintf(stderr, "casyncio: %s\n",
          ctx->message != NULL ? ctx->message : DEFAULT_MESSAGE);
}

int cio_loop_set_exception_handler(cio_loop *loop, cio_exception_handler h,
                                   void *arg) {
  loop = cio__loop_or_current(loop);
  if (loop == NULL)
    return CIO_EINVAL;
  loop->exc_handler = h;
  loop->exc_arg = arg;
  return 0;
}

cio_exception_handler cio_loop_get_exception_handler(cio_loop *loop,
                                                     void **arg) {
  loop = cio__loop_or_current(loop);
  if (arg != NULL)
    *arg = loop ? loop->exc_arg : NULL;
  return loop ? loop->exc_handler : NULL;
}

void cio_loop_call_exception_handler(cio_loop *loop,
                                     const cio_exception_context *ctx) {
  loop = cio__loop_or_current(loop);
  if (ctx == NULL)
    return;
  if (loop == NULL || loop->exc_handler == NULL || loop->in_exc_handler) {
    /* A handler reporting from inside itself gets the default, as
     * asyncio falls back when the custom handler fails. */
    cio_loop_default_exception_handler(loop, ctx);
    return;
  }
  cio_exception_context with_message;
  if (ctx->message == NULL) { /* the handler is promised one */
    with_message = *ctx;
    with_message.message = DEFAULT_MESSAGE;
    ctx = &with_message;
  }
  loop->in_exc_handler = true;
  loop->exc_handler(loop, ctx, loop->exc_arg);
  loop->in_exc_handler = false;
}

void cio__report(cio_loop *loop, const cio_exception_context *base,
                 const char *fmt, ...) {
  char message[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  cio_exception_context ctx = base != NULL ? *base : (cio_exception_context){0};
  ctx.message = message;
  cio_loop_call_exception_handler(loop, &ctx);
}
