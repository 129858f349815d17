/* Examples of composition (gather, as_completed, TaskGroup, timeouts,
 * wait_for, shield) and the tour: run each program of examples/ and check
 * its output line by line, and when each line appeared.  The examples
 * sleep on the real clock, so times are checked with a tolerance.  stderr
 * is merged into the output, so a warning from the runtime (a task
 * destroyed while pending, an error never retrieved) fails the comparison
 * too.  Same approach as test_examples.c. */
#include <sys/wait.h>
#include <time.h>

#include "example_harness.h"


/* Seed 001: three one-second look-ups take 3 s blocking and 1 s gathered;
 * fetch_data's three requests finish in 3 s in the order 3, 1, 2 while
 * the results keep the input order. */
TEST(fetch_data) {
  static const struct expect want[] = {
      {"# find_users_sync(1) three times (3 s)", 0, 0},
      {"User 1 found", 1, 0},
      {"User 1 found", 2, 0},
      {"User 1 found", 3, 0},
      {"# find_users_async(1) three times with gather (1 s)", 3, 0},
      {"User 1 found", 4, 0},
      {"User 1 found", 4, 0},
      {"User 1 found", 4, 0},
      {"# fetch_data(1, 2), (2, 3), (3, 1) with gather (3 s)", 4, 0},
      {"[1] 데이터 요청 시작", 4, 0},
      {"[2] 데이터 요청 시작", 4, 0},
      {"[3] 데이터 요청 시작", 4, 0},
      {"[3] 데이터 수신 완료", 5, 0},
      {"[1] 데이터 수신 완료", 6, 0},
      {"[2] 데이터 수신 완료", 7, 0},
      {"결과: ['data_1', 'data_2', 'data_3']", 7, 0},
      {"소요 시간: {sec}초 (동기는 6초 소요)", 7, 3.0},
  };
  CHECK_EXAMPLE("fetch_data", want);
}

/* Parse "(i, delay)" at `s`; returns the text after it or NULL. */
static const char *parse_tuple(const char *s, int *i, double *delay) {
  int len = 0;
  if (sscanf(s, "(%d, %lf)%n", i, delay, &len) != 2 || len == 0)
    return NULL;
  return s + len;
}

/* Seed 002: delays are random, so check the shape.  gather prints the
 * five (i, delay) results in input order once the slowest is done;
 * as_completed prints each as it finishes, shortest delay first. */
TEST(gather_as_completed) {
  struct line lines[MAX_LINES];
  size_t n = run_example("gather_as_completed", lines, MAX_LINES);
  CHECK_EQ(n, 6);
  const char *prefix = "gather order: [";
  CHECK(strncmp(lines[0].text, prefix, strlen(prefix)) == 0);
  const char *s = lines[0].text + strlen(prefix);
  double longest = 0;
  for (int k = 0; k < 5; k++) {
    int i;
    double delay;
    if (k > 0) {
      CHECK(strncmp(s, ", ", 2) == 0);
      s += 2;
    }
    s = parse_tuple(s, &i, &delay);
    CHECK(s != NULL);
    CHECK_EQ(i, k); /* input order */
    CHECK(delay >= 0 && delay < 2);
    if (delay > longest)
      longest = delay;
  }
  CHECK_STR(s, "]");
  CHECK_NEAR(lines[0].at, longest, TIME_TOLERANCE);

  bool seen[5] = {false};
  double last = 0;
  for (size_t k = 1; k < 6; k++) {
    int i;
    double delay;
    CHECK(strncmp(lines[k].text, "completed: ", 11) == 0);
    s = parse_tuple(lines[k].text + 11, &i, &delay);
    CHECK(s != NULL && *s == '\0');
    CHECK(i >= 0 && i < 5 && !seen[i]);
    seen[i] = true;
    CHECK(delay >= last); /* finishing order */
    last = delay;
    CHECK_NEAR(lines[k].at, lines[0].at + delay, TIME_TOLERANCE);
  }
}

/* Seed 003: five two-second tasks gathered take 2 s, twice; the second
 * time the lines are the tasks' return values, printed after gather. */
TEST(gather_tasks) {
  static const struct expect want[] = {
      {"# five tasks, then gather (2 s)", 0, 0},
      {"{hms} start", 0, 0},
      {"{hms} async_sleep", 2, 0},
      {"{hms} async_sleep", 2, 0},
      {"{hms} async_sleep", 2, 0},
      {"{hms} async_sleep", 2, 0},
      {"{hms} async_sleep", 2, 0},
      {"{hms} end", 2, 0},
      {"# five tasks, gather their return values (2 s)", 2, 0},
      {"{hms} start", 2, 0},
      {"{hms} async_sleep", 4, 0},
      {"{hms} async_sleep", 4, 0},
      {"{hms} async_sleep", 4, 0},
      {"{hms} async_sleep", 4, 0},
      {"{hms} async_sleep", 4, 0},
      {"{hms} end", 4, 0},
  };
  CHECK_EXAMPLE("gather_tasks", want);
}

/* Seed 004: the three factorials interleave A, B, C each second. */
TEST(factorial) {
  static const struct expect want[] = {
      {"Task A: Compute factorial(2), currently i=2...", 0, 0},
      {"Task B: Compute factorial(3), currently i=2...", 0, 0},
      {"Task C: Compute factorial(4), currently i=2...", 0, 0},
      {"Task A: factorial(2) = 2", 1, 0},
      {"Task B: Compute factorial(3), currently i=3...", 1, 0},
      {"Task C: Compute factorial(4), currently i=3...", 1, 0},
      {"Task B: factorial(3) = 6", 2, 0},
      {"Task C: Compute factorial(4), currently i=4...", 2, 0},
      {"Task C: factorial(4) = 24", 3, 0},
      {"asynco gather output: [2, 6, 24]", 3, 0},
  };
  CHECK_EXAMPLE("factorial", want);
}

/* Seed 004: say_after in a TaskGroup takes 2 s; results after the group. */
TEST(taskgroup) {
  static const struct expect want[] = {
      {"# say_after in a TaskGroup (2 s)", 0, 0},
      {"started at {hms}", 0, 0},
      {"hello", 1, 0},
      {"world", 2, 0},
      {"finished at {hms}", 2, 0},
      {"# task results after the group (2 s)", 2, 0},
      {"Both tasks have completed now: 1, 2", 4, 0},
  };
  CHECK_EXAMPLE("taskgroup", want);
}

/* Seed 004: both timeout scopes expire after 10 s. */
TEST(timeout) {
  static const struct expect want[] = {
      {"# timeout(10) around long_running_task() (10 s)", 0, 0},
      {"The long operation timed out, but we've handled it.", 10, 0},
      {"This statement will run regardless.", 10, 0},
      {"# timeout(None), then reschedule(loop.time() + 10) (10 s)", 10, 0},
      {"Looks like we haven't finished on time.", 20, 0},
  };
  CHECK_EXAMPLE("timeout", want);
}

/* Seed 004: wait_for gives up on eternity() after one second. */
TEST(wait_for) {
  static const struct expect want[] = {
      {"timeout!", 1, 0},
  };
  CHECK_EXAMPLE("wait_for", want);
}

/* Seed 004: shield(task) gives the task's result; a cancelled caller of
 * shield(task) stops at once while the task runs on; a cancelled caller
 * of something() cancels it. */
TEST(shield) {
  static const struct expect want[] = {
      {"# await shield(task), then await something() (2 s)", 0, 0},
      {"await shield(task): something done", 1, 0},
      {"await something(): something done", 2, 0},
      {"# a caller awaiting shield(task) cancelled after 0.5 s (1 s)", 2, 0},
      {"caller: cancelled", 2.5, 0},
      {"task: something done", 3, 0},
      {"# a caller awaiting something() cancelled after 0.5 s (0.5 s)", 3, 0},
      {"something(): cancelled", 3.5, 0},
      {"caller: cancelled", 3.5, 0},
  };
  CHECK_EXAMPLE("shield", want);
}

/* Seed 004: the retry loop sleeps as each scripted error says. */
TEST(retry) {
  static const struct expect want[] = {
      {"# a request that succeeds on the third attempt (2 s)", 0, 0},
      {"API error, waiting for 1 second...", 0, 0},
      {"Timeout error, waiting for 1 second...", 1, 0},
      {"ret: completion (attempt 3)", 2, 0},
      {"# a request that fails three times (7 s)", 2, 0},
      {"Service unavailable error, waiting for 3 second...", 2, 0},
      {"API Connection error, waiting for 3 second...", 5, 0},
      {"API error, waiting for 1 second...", 8, 0},
      {"ret: None", 9, 0},
  };
  CHECK_EXAMPLE("retry", want);
}

/* ---- the tour -------------------------------------------------------- */

#define TOUR_SCALE 0.1

/* Each row of the tour: the tutorial's sync and async seconds. */
static const struct tour_row {
  const char *step, *name, *how;
  double sync_s, async_s;
} tour_rows[] = {
    {"1", "find_users(3), (2), (1)", "asyncio.wait", 6, 3},
    {"2", "find_users_async(1) three times", "asyncio.gather", 3, 1},
    {"2", "fetch_data: 2 s, 3 s, 1 s", "asyncio.gather", 6, 3},
    {"3", "worker(\"A\", 1), worker(\"B\", 2)", "create_task", 3, 2},
    {"4", "async_sleep() twice", "create_task", 4, 2},
    {"4", "async_sleep() five times", "asyncio.gather", 10, 2},
    {"5", "say_after(1), say_after(2)", "TaskGroup", 3, 2},
    {"5", "factorial(2), (3), (4)", "asyncio.gather", 6, 3},
};

enum { NTOUR = sizeof tour_rows / sizeof tour_rows[0] };

/* A measured time against the tutorial's, scaled: 20 ms of scheduling
 * slack plus 10%. */
static void check_seconds(double got, double tutorial) {
  double want = tutorial * TOUR_SCALE;
  CHECK_NEAR(got, want, 0.02 + 0.1 * want);
}

/* At scale 0.1 (6 s in all) every program shows its tutorial's speed-up
 * within 15%, its rows arrive as the sleeps add up, and the total adds
 * the rows. */
TEST(tour) {
  struct line lines[MAX_LINES];
  size_t n =
      run_example_with("CIO_TOUR_SCALE=0.1", "tour", "", lines, MAX_LINES,
                       NULL);
  CHECK_EQ(n, 4 + NTOUR + 2);
  CHECK(strncmp(lines[0].text, "casyncio tour: ", 15) == 0);
  CHECK(strncmp(lines[1].text, "scale 0.10: ", 12) == 0);
  CHECK_STR(lines[2].text, "");
  CHECK(strncmp(lines[3].text, "step program", 12) == 0);
  double elapsed = 0, sync_total = 0, async_total = 0;
  for (size_t i = 0; i < NTOUR; i++) {
    const struct tour_row *row = &tour_rows[i];
    const struct line *l = &lines[4 + i];
    char head[64];
    snprintf(head, sizeof head, "%-4s %s", row->step, row->name);
    if (strncmp(l->text, head, strlen(head)) != 0)
      test_fail(__FILE__, __LINE__, "tour row %zu: \"%s\", want \"%s...\"",
                i + 1, l->text, head);
    const char *how = strstr(l->text + strlen(head), row->how);
    CHECK(how != NULL);
    double sync_s, async_s, speedup, want_sync, want_async;
    CHECK_EQ(sscanf(how + strlen(row->how), "%lf s %lf s x%lf %lf s vs %lf s",
                    &sync_s, &async_s, &speedup, &want_sync, &want_async),
             5);
    CHECK_NEAR(want_sync, row->sync_s, 1e-9);
    CHECK_NEAR(want_async, row->async_s, 1e-9);
    check_seconds(sync_s, row->sync_s);
    check_seconds(async_s, row->async_s);
    double ratio = row->sync_s / row->async_s;
    CHECK_NEAR(speedup, ratio, 0.15 * ratio);
    CHECK_NEAR(speedup, sync_s / async_s, 0.05 + 0.02 * ratio); /* rounded */
    elapsed += (row->sync_s + row->async_s) * TOUR_SCALE;
    CHECK_NEAR(l->at, elapsed, TIME_TOLERANCE);
    sync_total += sync_s;
    async_total += async_s;
  }
  CHECK_STR(lines[4 + NTOUR].text, "");
  double sync_s, async_s, speedup;
  const char *total = lines[5 + NTOUR].text;
  CHECK(strncmp(total, "total ", 6) == 0);
  CHECK_EQ(sscanf(total + 6, "%lf s %lf s x%lf", &sync_s, &async_s, &speedup),
           3);
  CHECK_NEAR(sync_s, sync_total, 0.05);
  CHECK_NEAR(async_s, async_total, 0.05);
  CHECK_NEAR(speedup, 41.0 / 18.0, 0.15 * 41.0 / 18.0);
}

/* A scale that is not a positive number is refused with a usage line. */
TEST(tour_bad_scale) {
  char path[1024], cmd[1100], out[512];
  snprintf(path, sizeof path, "%s/tour", CIO_EXAMPLES_DIR);
  snprintf(cmd, sizeof cmd, "'%s' fast 2>&1", path);
  int status = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 2);
  CHECK(strncmp(out, "usage: tour [scale]", 19) == 0);
  snprintf(cmd, sizeof cmd, "CIO_TOUR_SCALE=-1 '%s' 2>&1", path);
  status = test_run_capture(cmd, out, sizeof out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 2);
}
