/* Private side of src/debug/: seeing inside a running program.
 *
 *   setup.c     turning the features on for a loop (options, environment)
 *   text.c      cio__text, the growing string reports are built in
 *   symbols.c   code addresses to "function (file.c:42)": the module
 *               (dladdr, or /proc/self/maps from a signal handler), its
 *               ELF symbol table for the function, addr2line (binutils)
 *               for file and line when it is installed
 *   report.c    cio__report(): every report of this folder goes out
 *               through it (one place to route to an exception handler)
 *   dump.c      cio_loop_dump(): tasks, their waits, stacks, await tree
 *   registry.c  debug mode: each object's kind, name and creation site
 *   slow.c      debug mode: steps that ran too long
 *   endings.c   tasks still pending, objects left open, errors nobody
 *               read, a shutdown waiting on a task
 *   stall.c     the stall watchdog and the report its signal asks for
 *   inspect.c   the dump signal and the socket casyncio-ps asks
 */
#ifndef CIO_DEBUG_DEBUG_H
#define CIO_DEBUG_DEBUG_H

#include "internal.h"

/* One code address and what symbols say about it. */
struct cio__frame {
  const void *pc;
  bool exact;      /* pc is a function's address or an interrupted pc, not a
                      return address (which points after its call) */
  bool library;    /* casyncio's own code */
  char func[96];   /* function name, "" when unknown */
  char where[128]; /* "dump.c:42", else "libfoo.so+0x1234", else "" */
  /* When func was inlined: the functions it was inlined into, innermost
   * first, as "func (file.c:12)" lines; else "". */
  char inlined[192];
};

/* Fill func/where/library of `frames[0..n)` from their pc (and exact).
 * Reads ELF files and may run addr2line: not for signal handlers.
 * Thread-safe. */
void cio__symbolize(struct cio__frame *frames, size_t n);

/* The same from a signal handler: /proc/self/maps and ELF symbol tables
 * for functions, addr2line (a raw fork and execve) for lines; no malloc,
 * no locks.  `scratch` holds addr2line's output. */
void cio__symbolize_sigsafe(struct cio__frame *frames, size_t n, char *scratch,
                            size_t scratch_cap);

/* Append "func (where)", "func", or the bare address. */
void cio__frame_put(struct cio__text *out, const struct cio__frame *f);

/* Append "<indent>#k func (where)" lines for `f[0..n)`, with a line more
 * for each function a frame's code was inlined into. */
void cio__frames_put_list(struct cio__text *out, const struct cio__frame *f,
                          size_t n, const char *indent);

/* Frames of `pcs` (return addresses), symbolized, into `frames`. */
void cio__frames_from_pcs(struct cio__frame *frames, void *const *pcs,
                          size_t n);

/* Index of the frame a report calls "where" in a symbolized backtrace:
 * the first frame outside casyncio after the library's own frames at the
 * top (the caller of the casyncio call that was running); n when every
 * frame is casyncio's. */
size_t cio__frames_first_user(const struct cio__frame *frames, size_t n);

/* registry.c: debug mode's objects (see cio__registry_add in
 * internal.h).  Open and close with the loop; list every object still
 * registered ("  stream fd 7, ..., created at main (app.c:12)\n" each,
 * oldest first) and return how many; append where `obj` was created
 * (false if unknown). */
int cio__registry_open(cio_loop *loop);
void cio__registry_close(cio_loop *loop);
size_t cio__registry_list(cio_loop *loop, struct cio__text *out);
bool cio__registry_put_site(cio_loop *loop, const void *obj,
                            struct cio__text *out);
/* The return addresses where `obj` was created (0 if unknown), for a
 * report that symbolizes many at once; and "created at f (app.c:12),
 * called from g (app.c:40)" from those, symbolized. */
size_t cio__registry_site(cio_loop *loop, const void *obj, void **pcs,
                          size_t cap);
void cio__site_put(struct cio__text *out, const struct cio__frame *frames,
                   size_t n);
enum { CIO__SITE_FRAMES = 8 };

/* stall.c: put the loop in the watchdog's list, and take it out (the
 * loop thread; idempotent). */
int cio__stall_open(cio_loop *loop);
void cio__stall_close(cio_loop *loop);

/* inspect.c: the dump signal and the casyncio-ps socket. */
int cio__inspector_open(cio_loop *loop);
void cio__inspector_close(cio_loop *loop);

/* dump.c */
/* The whole dump of `loop`: every task, then the await tree. */
void cio__dump(cio_loop *loop, struct cio__text *out);
/* The return addresses of `t`'s stack, innermost first (0 for a task not
 * started), and what it waits on ("sleep: until 3.000 s (1.000 s from
 * now)"). */
size_t cio__task_backtrace(cio_loop *loop, cio_task *t, void **pcs,
                           size_t cap);
void cio__task_put_wait(cio_loop *loop, cio_task *t, struct cio__text *out);

#endif
