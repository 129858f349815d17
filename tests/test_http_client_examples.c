/* The HTTP client's examples, run as real processes: each prints what its
 * Python twin (the tutorial's program with aiohttp, beside it in
 * examples/http_client/) prints, line for line, at the same moments. */
#include <sys/wait.h>

#include "http_client_peers.h"

#define MAX_LINES 32

struct run {
  char lines[MAX_LINES][256];
  double at[MAX_LINES];
  size_t n;
  double took;
};

/* Run `cmd` (stdout only: stderr stays the test's) and record each line
 * with the time it arrived. */
static void run_cmd(const char *cmd, struct run *r) {
  memset(r, 0, sizeof *r);
  double t0 = mono_now();
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  char line[256];
  while (fgets(line, sizeof line, p) != NULL && r->n < MAX_LINES) {
    line[strcspn(line, "\n")] = '\0';
    snprintf(r->lines[r->n], sizeof r->lines[r->n], "%s", line);
    r->at[r->n++] = mono_now() - t0;
  }
  int st = pclose(p);
  r->took = mono_now() - t0;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    test_fail(__FILE__, __LINE__, "%s exited with %d", cmd, st);
}

static void run_example(const char *name, struct run *r) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "%s/%s", CIO_EXAMPLES_DIR, name);
  if (access(cmd, X_OK) != 0)
    test_skip("%s is not built (CIO_BUILD_EXAMPLES=OFF)", cmd);
  snprintf(cmd, sizeof cmd, "'%s/%s'", CIO_EXAMPLES_DIR, name);
  run_cmd(cmd, r);
}

/* The Python twin, when Debian's python3 has aiohttp. */
static bool run_twin(const char *name, struct run *r) {
  if (system(PY " -c 'import aiohttp' 2>/dev/null") != 0)
    return false;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, PY " '%s/../examples/http_client/%s.py'",
           tests_dir(), name);
  run_cmd(cmd, r);
  return true;
}

/* Same lines, at the same times counted from each one's first line
 * (Python takes a while to import aiohttp before it starts). */
static void check_same(const struct run *c, const struct run *py) {
  CHECK_EQ(c->n, py->n);
  for (size_t i = 0; i < c->n; i++) {
    CHECK_STR(c->lines[i], py->lines[i]);
    CHECK_NEAR(c->at[i] - c->at[0], py->at[i] - py->at[0], 0.5);
  }
}

TEST(scrape_pages_fetches_all_at_once) {
  struct run c, py;
  run_example("scrape_pages", &c);
  CHECK_EQ(c.n, 1);
  CHECK_STR(c.lines[0], "['Example page 1', 'Example page 2', "
                        "'Example page 3']");
  CHECK(c.took < 1.2); /* three 0.5 s pages at once, not 1.5 s */
  if (run_twin("scrape_pages", &py))
    check_same(&c, &py);
}

TEST(api_call_with_retry_prints_the_tutorials_lines) {
  static const struct {
    const char *text;
    double at;
  } want[] = {
      {"# a request that succeeds on the third attempt", 0},
      {"Rate limit error, waiting for 1 second...", 0},
      {"API error, waiting for 1 second...", 1},
      {"ret: Hello! How can I help you today?", 2},
      {"# a request that fails three times", 2},
      {"Service unavailable error, waiting for 3 second...", 2},
      {"API Connection error, waiting for 3 second...", 5},
      {"Timeout error, waiting for 1 second...", 8.5},
      {"ret: None", 9.5},
  };
  struct run c, py;
  run_example("api_call_with_retry", &c);
  CHECK_EQ(c.n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < c.n; i++) {
    CHECK_STR(c.lines[i], want[i].text);
    CHECK_NEAR(c.at[i], want[i].at, 0.4);
  }
  if (run_twin("api_call_with_retry", &py))
    check_same(&c, &py);
}
