/* Running the programs of examples/ from tests: each output line is
 * recorded with the time it arrived, and compared with what the seed
 * tutorial prints.  stderr is merged into the output, so a warning from
 * the runtime (a task destroyed while pending, an error never retrieved)
 * fails the comparison too.  The examples sleep on the real clock, so
 * times are checked with a tolerance. */
#ifndef CIO_EXAMPLE_HARNESS_H
#define CIO_EXAMPLE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "test.h"

#define MAX_LINES 64
#define TIME_TOLERANCE 0.5 /* seconds */

struct line {
  char text[512];
  double at; /* seconds since the program started */
};

/* One expected line.  `text` matches literally except for two
 * placeholders: {hms} matches a wall-clock time HH:MM:SS, {sec} a number
 * of seconds that must be within TIME_TOLERANCE of `value`.  `at` is when
 * the line should appear. */
struct expect {
  const char *text;
  double at;
  double value;
};

/* examples/<name> into buf; fails the case unless it was built. */
void example_path(char *buf, size_t cap, const char *name);

/* Run `env examples/<name> args` with the shell and record each output
 * line with the time it arrived; `*took` (unless NULL) gets how long the
 * program ran.  Fails the case unless the program exits with status 0. */
size_t run_example_with(const char *env, const char *name, const char *args,
                        struct line *lines, size_t cap, double *took);
size_t run_example(const char *name, struct line *lines, size_t cap);

/* Run examples/<name>, put its whole output in `out`, and return how many
 * seconds it ran.  Fails the case unless it exits with status 0. */
double run_example_output(const char *name, char *out, size_t cap);

/* Match `text` against `pattern` (see struct expect); the {hms} time goes
 * to `*hms` as seconds of the day (or -1), the {sec} number to `*sec`. */
bool line_matches(const char *pattern, const char *text, long *hms,
                  double *sec);

/* Check the output of `name` against `want[0..nwant)`: the same lines in
 * the same order, each on time; wall-clock stamps advance with real time. */
void check_example(const char *name, const struct expect *want, size_t nwant);

#define CHECK_EXAMPLE(name, want)                                              \
  check_example(name, want, sizeof(want) / sizeof(want)[0])

#endif
