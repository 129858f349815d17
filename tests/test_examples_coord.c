/* The coordination examples: Condition, Barrier, PriorityQueue and plain
 * futures, each checked line by line and for when each line appears. */
#include "example_harness.h"

TEST(condition) {
  static const struct expect want[] = {
      {"consumer 1: waiting", 0, 0},
      {"consumer 2: waiting", 0, 0},
      {"producer: item 1 ready", 0.1, 0},
      {"consumer 1: got item 1", 0.1, 0},
      {"producer: item 2 ready", 0.2, 0},
      {"consumer 2: got item 2", 0.2, 0},
      {"producer: item 3 ready", 0.3, 0},
      {"consumer 1: got item 3", 0.3, 0},
      {"producer: no more items", 0.4, 0},
      {"consumer 2: done", 0.4, 0},
      {"consumer 1: done", 0.4, 0},
  };
  CHECK_EXAMPLE("condition", want);
}

TEST(barrier) {
  static const struct expect want[] = {
      {"A arrives, round 1 (0 already waiting)", 0.1, 0},
      {"B arrives, round 1 (1 already waiting)", 0.2, 0},
      {"C arrives, round 1 (2 already waiting)", 0.3, 0},
      {"C passes", 0.3, 0},
      {"A passes", 0.3, 0},
      {"B passes", 0.3, 0},
      {"A arrives, round 2 (0 already waiting)", 0.4, 0},
      {"B arrives, round 2 (1 already waiting)", 0.5, 0},
      {"C arrives, round 2 (2 already waiting)", 0.6, 0},
      {"C passes", 0.6, 0},
      {"A passes", 0.6, 0},
      {"B passes", 0.6, 0},
  };
  CHECK_EXAMPLE("barrier", want);
}

TEST(priority_queue) {
  static const struct expect want[] = {
      {"queued 6 jobs: backup (3), alert (1), report (2), page (1), "
       "email (2), cleanup (3)",
       0, 0},
      {"W1 runs alert (priority 1)", 0, 0},
      {"W2 runs page (priority 1)", 0, 0},
      {"W1 runs report (priority 2)", 0.1, 0},
      {"W2 runs email (priority 2)", 0.1, 0},
      {"W1 runs backup (priority 3)", 0.2, 0},
      {"W2 runs cleanup (priority 3)", 0.2, 0},
      {"all jobs done", 0.3, 0},
  };
  CHECK_EXAMPLE("priority_queue", want);
}

TEST(futures) {
  static const struct expect want[] = {
      {"customer: ordered bibimbap, got a token", 0, 0},
      {"customer: is it ready? no", 0, 0},
      {"cook: cooking bibimbap", 0, 0},
      {"bell: an order is ready", 1, 0},
      {"customer: got bibimbap", 1, 0},
      {"customer: ordered naengmyeon, will wait 0.5 s", 1, 0},
      {"cook: cooking naengmyeon", 1, 0},
      {"customer: gave up waiting: timed out (order cancelled: yes)", 1.5, 0},
      {"cook: naengmyeon is ready, but the order was cancelled", 2, 0},
  };
  CHECK_EXAMPLE("futures", want);
}
