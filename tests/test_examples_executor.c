/* The executor examples (C twins of seed 002's run_in_executor and
 * "Semaphore + run_in_executor" programs and seed 003's five blocking
 * sleeps): run each from CIO_EXAMPLES_DIR and check every line and when
 * it appeared.  stderr is merged in, so a runtime warning fails too. */
#include "example_harness.h"

/* "HH:MM:SS rest": the seconds of the day, or -1. */
static long hms_of(const char *text, const char **rest) {
  int h, m, s, len = 0;
  if (sscanf(text, "%2d:%2d:%2d%n", &h, &m, &s, &len) != 3 || len != 8 ||
      text[8] != ' ')
    return -1;
  *rest = text + 9;
  return (long)h * 3600 + m * 60 + s;
}

/* Three ticks every 0.5 s while the blocking call runs, then its result
 * after 2 s. */
TEST(executor_blocking_io) {
  struct line l[MAX_LINES];
  size_t n = run_example("executor_blocking_io", l, MAX_LINES);
  CHECK_EQ(n, 4);
  for (int i = 0; i < 3; i++) {
    CHECK_STR(l[i].text, "tick");
    CHECK_NEAR(l[i].at, 0.5 * (i + 1), TIME_TOLERANCE);
  }
  CHECK_STR(l[3].text, "blocking result: 9");
  CHECK_NEAR(l[3].at, 2.0, TIME_TOLERANCE);
}

/* Twenty workers, five at a time, each 0..0.5 s of "network" and 1 s in
 * the pool: every worker prints once, none before 1 s, the first five
 * by 1.5 s, all within about 4 rounds of 1..1.5 s. */
TEST(executor_semaphore) {
  struct line l[MAX_LINES];
  size_t n = run_example("executor_semaphore", l, MAX_LINES);
  CHECK_EQ(n, 20);
  int seen[20] = {0};
  for (size_t i = 0; i < n; i++) {
    int k = -1, len = 0;
    CHECK(sscanf(l[i].text, "processed-data-%d%n", &k, &len) == 1);
    CHECK(k >= 0 && k < 20 && l[i].text[len] == '\0');
    seen[k]++;
    CHECK(l[i].at >= 1.0 - 0.05);
  }
  for (int k = 0; k < 20; k++)
    CHECK_EQ(seen[k], 1);
  CHECK(l[4].at <= 1.5 + TIME_TOLERANCE);
  CHECK(l[19].at >= 4.0 - 0.05 && l[19].at <= 6.0 + TIME_TOLERANCE);
}

/* start, then the five sleeps all end together 2 s later, in order,
 * then end: about 2 s in all, not 10. */
TEST(executor_sync_sleep) {
  struct line l[MAX_LINES];
  double took;
  size_t n =
      run_example_with("", "executor_sync_sleep", "", l, MAX_LINES, &took);
  CHECK_EQ(n, 7);
  const char *rest;
  long t0 = hms_of(l[0].text, &rest);
  CHECK(t0 >= 0);
  CHECK_STR(rest, "start");
  CHECK_NEAR(l[0].at, 0.0, TIME_TOLERANCE);
  for (int i = 1; i <= 6; i++) {
    long t = hms_of(l[i].text, &rest);
    CHECK(t >= 0);
    char want[8];
    snprintf(want, sizeof want, "%d", i - 1);
    CHECK_STR(rest, i == 6 ? "end" : want);
    CHECK_NEAR(l[i].at, 2.0, TIME_TOLERANCE);
    /* The stamps moved on by 2 s (to the second). */
    CHECK_NEAR((double)((t - t0 + 86400) % 86400), 2.0, 1.0);
  }
  CHECK_NEAR(took, 2.0, TIME_TOLERANCE);
}
