/* Running example programs and checking their output line by line and
 * when each line appeared: shared by the tests/test_examples*.c files. */
#include <sys/wait.h>
#include <time.h>

#include "example_harness.h"

void example_path(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", CIO_EXAMPLES_DIR, name);
  if (access(buf, X_OK) != 0)
    test_fail(__FILE__, __LINE__,
              "%s is not built (configure with -DCIO_BUILD_EXAMPLES=ON)", buf);
}

/* The shell command running `env examples/<name> args`, merging stderr;
 * under $CIO_TEST_EMULATOR (qemu-user) when that is set. */
static void example_command(char *cmd, size_t cap, const char *env,
                            const char *name, const char *args) {
  char path[1024];
  example_path(path, sizeof path, name);
  const char *emu = getenv("CIO_TEST_EMULATOR");
  snprintf(cmd, cap, "%s %s '%s' %s 2>&1", env, emu ? emu : "", path, args);
}

size_t run_example_with(const char *env, const char *name, const char *args,
                        struct line *lines, size_t cap, double *took) {
  char cmd[1600];
  example_command(cmd, sizeof cmd, env, name, args);
  double start = test_now();
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  size_t n = 0;
  char buf[sizeof lines[0].text];
  while (fgets(buf, sizeof buf, p) != NULL) {
    double at = test_now() - start;
    buf[strcspn(buf, "\n")] = '\0';
    if (n < cap) {
      snprintf(lines[n].text, sizeof lines[n].text, "%s", buf);
      lines[n].at = at;
    }
    n++;
  }
  int status = pclose(p);
  if (took != NULL)
    *took = test_now() - start;
  for (size_t i = 0; i < n && i < cap; i++)
    fprintf(stderr, "%6.3f %s\n", lines[i].at, lines[i].text);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  CHECK(n <= cap);
  return n;
}

size_t run_example(const char *name, struct line *lines, size_t cap) {
  return run_example_with("", name, "", lines, cap, NULL);
}

double run_example_output(const char *name, char *out, size_t cap) {
  char cmd[1600];
  example_command(cmd, sizeof cmd, "", name, "");
  double start = test_now();
  int status = test_run_capture(cmd, out, cap);
  double took = test_now() - start;
  fprintf(stderr, "%s (%.3f s):\n%s", name, took, out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  return took;
}

/* Match `text` against `pattern`; see struct expect.  Stores the {hms}
 * time as seconds of the day in `*hms` (or -1) and the {sec} number in
 * `*sec`. */
bool line_matches(const char *pattern, const char *text, long *hms,
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
void check_example(const char *name, const struct expect *want, size_t nwant) {
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
