/* Examples: run each program of examples/ and check its output line by
 * line, and when each line appeared.  The examples sleep on the real
 * clock, so times are checked with a tolerance.  stderr is merged into
 * the output, so a warning from the runtime (a task destroyed while
 * pending, an error never retrieved) fails the comparison too. */
#include <sys/wait.h>
#include <time.h>

#include "test.h"

#define MAX_LINES 64
#define TIME_TOLERANCE 0.5 /* seconds */

struct line {
  char text[256];
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

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run examples/<name> and record each output line with the time it
 * arrived.  Fails the test unless the program exits with status 0. */
static size_t run_example(const char *name, struct line *lines, size_t cap) {
  char path[1024], cmd[1100];
  snprintf(path, sizeof path, "%s/%s", CIO_EXAMPLES_DIR, name);
  if (access(path, X_OK) != 0)
    test_fail(__FILE__, __LINE__,
              "%s is not built (configure with -DCIO_BUILD_EXAMPLES=ON)", path);
  snprintf(cmd, sizeof cmd, "'%s' 2>&1", path);
  double start = now_seconds();
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  size_t n = 0;
  char buf[sizeof lines[0].text];
  while (fgets(buf, sizeof buf, p) != NULL) {
    double at = now_seconds() - start;
    buf[strcspn(buf, "\n")] = '\0';
    if (n < cap) {
      snprintf(lines[n].text, sizeof lines[n].text, "%s", buf);
      lines[n].at = at;
    }
    n++;
  }
  int status = pclose(p);
  for (size_t i = 0; i < n && i < cap; i++)
    fprintf(stderr, "%6.3f %s\n", lines[i].at, lines[i].text);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  CHECK(n <= cap);
  return n;
}

/* Match `text` against `pattern`; see struct expect.  Stores the {hms}
 * time as seconds of the day in `*hms` (or -1) and the {sec} number in
 * `*sec`. */
static bool line_matches(const char *pattern, const char *text, long *hms,
                         double *sec) {
  *hms = -1;
  while (*pattern != '\0') {
    if (strncmp(pattern, "{hms}", 5) == 0) {
      int h, m, s, len = 0;
      if (sscanf(text, "%2d:%2d:%2d%n", &h, &m, &s, &len) != 3 || len != 8)
        return false;
      *hms = (long)h * 3600 + m * 60 + s;
      pattern += 5;
      text += len;
    } else if (strncmp(pattern, "{sec}", 5) == 0) {
      char *end;
      *sec = strtod(text, &end);
      if (end == text)
        return false;
      pattern += 5;
      text = end;
    } else if (*pattern++ != *text++) {
      return false;
    }
  }
  return *text == '\0';
}

/* Check the output of `name` against `want[0..nwant)`: the same lines in
 * the same order, each on time.  Wall-clock stamps must advance with the
 * real time between them (to the second, so within 1 s plus slack). */
static void check_example(const char *name, const struct expect *want,
                          size_t nwant) {
  struct line lines[MAX_LINES];
  size_t n = run_example(name, lines, MAX_LINES);
  CHECK_EQ(n, nwant);
  long first_hms = -1;
  double first_hms_at = 0;
  for (size_t i = 0; i < n; i++) {
    long hms;
    double sec = 0;
    if (!line_matches(want[i].text, lines[i].text, &hms, &sec))
      test_fail(__FILE__, __LINE__, "%s line %zu: \"%s\", want \"%s\"", name,
                i + 1, lines[i].text, want[i].text);
    if (fabs(lines[i].at - want[i].at) > TIME_TOLERANCE)
      test_fail(__FILE__, __LINE__, "%s line %zu \"%s\" at %.3f s, want %.1f",
                name, i + 1, lines[i].text, lines[i].at, want[i].at);
    if (strstr(want[i].text, "{sec}") != NULL)
      CHECK_NEAR(sec, want[i].value, TIME_TOLERANCE);
    if (hms < 0)
      continue;
    if (first_hms < 0) {
      first_hms = hms;
      first_hms_at = lines[i].at;
    }
    long elapsed = (hms - first_hms + 86400) % 86400;
    CHECK_NEAR((double)elapsed, lines[i].at - first_hms_at,
               1.0 + TIME_TOLERANCE);
  }
}

#define CHECK_EXAMPLE(name, want)                                              \
  check_example(name, want, sizeof(want) / sizeof(want)[0])

/* The sync part takes 3 + 2 + 1 s one after another; the async part runs
 * the three requests at once, in the tutorial's order, in 3 s. */
TEST(find_users) {
  static const struct expect want[] = {
      {"3명 중 1번 째 사용자 조회 중 ...", 0, 0},
      {"3명 중 2번 째 사용자 조회 중 ...", 1, 0},
      {"3명 중 3번 째 사용자 조회 중 ...", 2, 0},
      {"> 총 3 명 사용자 동기 조회 완료!", 3, 0},
      {"2명 중 1번 째 사용자 조회 중 ...", 3, 0},
      {"2명 중 2번 째 사용자 조회 중 ...", 4, 0},
      {"> 총 2 명 사용자 동기 조회 완료!", 5, 0},
      {"1명 중 1번 째 사용자 조회 중 ...", 5, 0},
      {"> 총 1 명 사용자 동기 조회 완료!", 6, 0},
      {">>> 동기 처리 총 소요 시간: {sec}", 6, 6.0},
      {"1명 중 1번 째 사용자 조회 중 ...", 6, 0},
      {"2명 중 1번 째 사용자 조회 중 ...", 6, 0},
      {"3명 중 1번 째 사용자 조회 중 ...", 6, 0},
      {"> 총 1 명 사용자 비동기 조회 완료!", 7, 0},
      {"2명 중 2번 째 사용자 조회 중 ...", 7, 0},
      {"3명 중 2번 째 사용자 조회 중 ...", 7, 0},
      {"> 총 2 명 사용자 비동기 조회 완료!", 8, 0},
      {"3명 중 3번 째 사용자 조회 중 ...", 8, 0},
      {"> 총 3 명 사용자 비동기 조회 완료!", 9, 0},
      {">>> 비동기 처리 총 소요 시간: {sec}", 9, 3.0},
  };
  CHECK_EXAMPLE("find_users", want);
}

/* Two sleeps of 2 s awaited in turn take 4 s; as two tasks, 2 s. */
TEST(time_log) {
  static const struct expect want[] = {
      {"# await async_sleep() twice (4 s)", 0, 0},
      {"{hms} start", 0, 0},
      {"{hms} async_sleep", 2, 0},
      {"{hms} async_sleep", 4, 0},
      {"{hms} end", 4, 0},
      {"# two tasks, then await both (2 s)", 4, 0},
      {"{hms} start", 4, 0},
      {"{hms} async_sleep", 6, 0},
      {"{hms} async_sleep", 6, 0},
      {"{hms} end", 6, 0},
  };
  CHECK_EXAMPLE("time_log", want);
}

/* A task runs while its creator sleeps (A 1 B 2 over 2 s); say_after
 * awaited in turn takes 3 s, as tasks 2 s; a result comes back both
 * ways. */
TEST(create_task) {
  static const struct expect want[] = {
      {"# main and other_function (2 s)", 0, 0},
      {"A", 0, 0},
      {"1", 0, 0},
      {"B", 1, 0},
      {"2", 2, 0},
      {"# await say_after one after another (3 s)", 2, 0},
      {"started at {hms}", 2, 0},
      {"hello", 3, 0},
      {"world", 5, 0},
      {"finished at {hms}", 5, 0},
      {"# say_after as two tasks (2 s)", 5, 0},
      {"started at {hms}", 5, 0},
      {"hello", 6, 0},
      {"world", 7, 0},
      {"finished at {hms}", 7, 0},
      {"# nested(): awaited, then as a task", 7, 0},
      {"42", 7, 0},
      {"42", 7, 0},
  };
  CHECK_EXAMPLE("create_task", want);
}

/* The README's example: a task returns 42 after half a second. */
TEST(hello) {
  static const struct expect want[] = {
      {"answer: 42", 0.5, 0},
  };
  CHECK_EXAMPLE("hello", want);
}
