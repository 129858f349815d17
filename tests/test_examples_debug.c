/* The examples of docs/debugging.md: dump_tasks prints a task dump with
 * the await tree; blocking_call stalls its loop on purpose and gets a
 * stall report naming the task and the blocking call, then runs the call
 * on a thread while the loop goes on.  Their text is what the guide
 * shows, so the checks are on content, not exact lines. */
#include "example_harness.h"

#define CHECK_HAS(text, needle)                                                \
  do {                                                                         \
    if (strstr((text), (needle)) == NULL)                                      \
      test_fail(__FILE__, __LINE__, "\"%s\" not found", (needle));             \
  } while (0)

TEST(dump_tasks) {
  char out[32768];
  run_example_output("dump_tasks", out, sizeof out);
  CHECK_HAS(out, "casyncio: dump of loop ");
  CHECK_HAS(out, "): 7 tasks\n");
  CHECK_HAS(out, "Task 'main' (Task-1): waiting");
  CHECK_HAS(out, "waits on: await: task 'crawl'");
  CHECK_HAS(out, "Task 'monitor' (Task-2): running");
  CHECK_HAS(out, "waits on: gather\n    #0 cio_gather");
  CHECK_HAS(out, "Task 'worker-3' (Task-7): waiting");
  CHECK_HAS(out, "waits on: semaphore acquire: semaphore 0x");
  CHECK_HAS(out, "(value 0, 1 waiting)");
  CHECK_HAS(out, " download (dump_tasks.c:");
  CHECK_HAS(out, " worker (dump_tasks.c:");
  const char *graph = strstr(out, "\nawait graph:\n");
  CHECK(graph != NULL);
  CHECK_HAS(graph, "\u251c\u2500\u2500 (T) main\n");
  CHECK_HAS(graph, "(T) crawl\n");
  CHECK_HAS(graph, "(T) worker-3\n");
  CHECK(strstr(graph, "(T) crawl") < strstr(graph, "(T) producer"));
  CHECK_HAS(graph, "\u2514\u2500\u2500 (T) monitor\n");
  CHECK_HAS(out, "page 8 downloaded\n");
}

TEST(blocking_call) {
  char out[16384];
  run_example_output("blocking_call", out, sizeof out);
  /* The report comes from another thread: its place among the lines of
   * the program varies. */
  CHECK_HAS(out, "resolving in the task...\n");
  CHECK_HAS(out, "casyncio: stall: the loop of thread ");
  CHECK_HAS(out, "(threshold 0.250 s), running task 'resolver' (Task-3); "
                 "the loop thread's backtrace:\n");
  CHECK_HAS(out, " blocking_lookup (blocking_call.c:");
  CHECK_HAS(out, " resolver (blocking_call.c:");
  CHECK(strstr(out, " blocking_lookup (") < strstr(out, " resolver ("));
  CHECK_HAS(out, "casyncio: stall over: the loop of thread ");
  CHECK_HAS(out, "resolving on a thread...\n");
  /* One stall only: the lookup on a thread does not stall the loop. */
  const char *first = strstr(out, "casyncio: stall:");
  CHECK(strstr(first + 1, "casyncio: stall:") == NULL);
  const char *went = strstr(out, "resolved (ticks went on: ");
  CHECK(went != NULL && atoi(went + strlen("resolved (ticks went on: ")) >= 4);
}
