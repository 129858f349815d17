/* Turning src/debug/'s features on for a loop: debug mode, the stall
 * watchdog, the dump signal and the casyncio-ps socket, from
 * cio_loop_opts and the environment (CIO_DEBUG, CIO_STALL_MS,
 * CIO_DUMP_SIGNAL, CIO_INSPECT).  A feature that cannot start (no memory,
 * no socket directory) is left off with a line on stderr: the loop runs
 * the same without it. */
#include <signal.h>
#include <string.h>

#include "debug/debug.h"

#define DEFAULT_SLOW_MS 100
#define DEFAULT_STALL_MS 250
#define DEFAULT_SHUTDOWN_MS 5000

static bool env_true(const char *name) {
  const char *v = getenv(name);
  return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* CIO_STALL_MS: a number of milliseconds; 0 turns the watchdog off. */
static int env_stall_ms(void) {
  const char *v = getenv("CIO_STALL_MS");
  if (v == NULL || *v == '\0')
    return DEFAULT_STALL_MS;
  char *end;
  long ms = strtol(v, &end, 10);
  if (*end != '\0' || ms < 0 || ms > 3600 * 1000)
    return DEFAULT_STALL_MS;
  return ms == 0 ? -1 : (int)ms;
}

/* CIO_DUMP_SIGNAL: "USR1", "SIGUSR1" or a number. */
static int env_dump_signal(void) {
  const char *v = getenv("CIO_DUMP_SIGNAL");
  if (v == NULL || *v == '\0')
    return 0;
  if (strncmp(v, "SIG", 3) == 0)
    v += 3;
  static const struct {
    const char *name;
    int sig;
  } names[] = {{"USR1", SIGUSR1},
               {"USR2", SIGUSR2},
               {"HUP", SIGHUP},
               {"QUIT", SIGQUIT},
               {"WINCH", SIGWINCH}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(v, names[i].name) == 0)
      return names[i].sig;
  char *end;
  long sig = strtol(v, &end, 10);
  return *end == '\0' && sig > 0 && sig < NSIG ? (int)sig : 0;
}

static void say_off(cio_loop *loop, const char *what, int rc) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s is off: %s", what, cio_strerror(rc));
  cio__debug_report(loop, &(cio_exception_context){.source = "casyncio"}, msg);
}

void cio__debug_open(cio_loop *loop, const cio_loop_opts *o) {
  struct cio__loop_debug *d = &loop->dbg;
  d->on = o->debug || env_true("CIO_DEBUG");
  int slow_ms = o->slow_step_ms > 0 ? o->slow_step_ms : DEFAULT_SLOW_MS;
  d->slow_ns = (int64_t)slow_ms * 1000000;
  int stall_ms = o->stall_ms != 0 ? o->stall_ms : env_stall_ms();
  d->stall_ns = stall_ms > 0 ? (int64_t)stall_ms * 1000000 : 0;
  int shut_ms =
      o->shutdown_report_ms != 0 ? o->shutdown_report_ms : DEFAULT_SHUTDOWN_MS;
  d->shutdown_ns = shut_ms > 0 ? (int64_t)shut_ms * 1000000 : 0;
  d->dump_signal = o->dump_signal > 0 ? o->dump_signal : env_dump_signal();
  d->inspect = o->inspect || env_true("CIO_INSPECT");
  int rc;
  if (d->on) {
    loop->pop_gate |= CIO__POP_DEBUG; /* cio__debug_step at every pop */
    if ((rc = cio__registry_open(loop)) < 0)
      say_off(loop, "debug mode's object registry", rc);
  }
  if (d->stall_ns > 0 && (rc = cio__stall_open(loop)) < 0)
    say_off(loop, "the stall detector", rc);
  if ((d->dump_signal > 0 || d->inspect) &&
      (rc = cio__inspector_open(loop)) < 0)
    say_off(loop, "the task dump signal and socket", rc);
}

void cio__debug_close(cio_loop *loop) {
  cio__stall_close(loop);
  cio__inspector_close(loop);
}

void cio__debug_free(cio_loop *loop) {
  cio__registry_close(loop);
  loop->dbg.on = false;
}
