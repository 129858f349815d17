/* The sync and queue examples (C twins of seed 002's programs): run each
 * from CIO_EXAMPLES_DIR and check what it prints.  stderr is merged into
 * the output, so a runtime warning fails the comparison. */
#include "example_harness.h"

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Ten workers, each finishing once, never more than three at a time. */
TEST(sync_semaphore) {
  char out[4096];
  run_example_output("sync_semaphore", out, sizeof out);
  CHECK_EQ(count_lines(out), 11);
  for (int i = 0; i < 10; i++) {
    char want[32];
    int found = 0;
    snprintf(want, sizeof want, "worker %d finished after ", i);
    for (const char *p = out; (p = strstr(p, want)) != NULL; p++)
      found++;
    CHECK_EQ(found, 1);
  }
  CHECK(strstr(out, "\nmax concurrent: 3\n") != NULL);
}

TEST(sync_lock) {
  char out[256];
  run_example_output("sync_lock", out, sizeof out);
  CHECK_STR(out, "final counter: 5000\n");
}

/* Both waiters resume, after the setter's line, a second in. */
TEST(sync_event) {
  char out[1024];
  double took = run_example_output("sync_event", out, sizeof out);
  CHECK_STR(out, "W1 is waiting for event\n"
                 "W2 is waiting for event\n"
                 "setter will sleep and then set the event\n"
                 "event set by setter\n"
                 "W1 resumed after event set\n"
                 "W2 resumed after event set\n");
  CHECK_NEAR(took, 1.0, 0.5);
}

/* Every item produced once and consumed once, by both consumers. */
TEST(queue_producer_consumer) {
  char out[4096];
  run_example_output("queue_producer_consumer", out, sizeof out);
  CHECK_EQ(count_lines(out), 20);
  for (int i = 0; i < 10; i++) {
    char produced[32], consumed[32];
    snprintf(produced, sizeof produced, "produced item-%d\n", i);
    snprintf(consumed, sizeof consumed, " consumed item-%d\n", i);
    const char *p = strstr(out, produced), *c = strstr(out, consumed);
    CHECK(p != NULL && strstr(p + 1, produced) == NULL);
    CHECK(c != NULL && strstr(c + 1, consumed) == NULL);
  }
  CHECK(strstr(out, "C0 consumed") != NULL);
  CHECK(strstr(out, "C1 consumed") != NULL);
}
