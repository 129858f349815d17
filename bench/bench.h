/* Helpers shared by the bench_<what>.c programs: a monotonic clock, the
 * optional size argument, and the one-line result format
 *
 *   <name> <ops/s> ops/s <ns> ns/op [key=value ...]
 *
 * Header-only so that each benchmark stays a single program with its own
 * main. */
#ifndef CIO_BENCH_H
#define CIO_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* argv[i] as a positive count, or `dflt` when absent.  Exits on junk so a
 * CI typo does not silently run the full size. */
static inline long bench_arg(int argc, char **argv, int i, long dflt) {
  if (argc <= i)
    return dflt;
  char *end;
  long n = strtol(argv[i], &end, 10);
  if (*end != '\0' || n <= 0) {
    fprintf(stderr, "%s: bad size '%s'\n", argv[0], argv[i]);
    exit(2);
  }
  return n;
}

/* Print one measurement: `ops` operations took `ns` nanoseconds.  `extra`
 * (printf format, may be NULL) appends key=value fields. */
static inline void bench_report(const char *name, double ops, double ns,
                                const char *extra, ...) {
  double ns_op = ns / ops;
  printf("%s %.0f ops/s %.2f ns/op", name, 1e9 / ns_op, ns_op);
  if (extra != NULL) {
    va_list ap;
    va_start(ap, extra);
    putchar(' ');
    vprintf(extra, ap);
    va_end(ap);
  }
  putchar('\n');
  fflush(stdout);
}

/* Exit with a message when a casyncio call fails: a benchmark that goes on
 * after an error measures nothing. */
#define BENCH_CHECK(expr)                                                      \
  do {                                                                         \
    int bench_rc_ = (expr);                                                    \
    if (bench_rc_ < 0) {                                                       \
      fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #expr,     \
              bench_rc_);                                                      \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#endif
