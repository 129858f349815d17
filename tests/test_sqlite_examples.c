/* The SQLite example (examples/sqlite/). */
#include "example_harness.h"

TEST(fetch_users_sqlite) {
  struct line lines[MAX_LINES];
  size_t n =
      run_example_with("", "fetch_users_sqlite", "", lines, MAX_LINES, NULL);
  CHECK_EQ(n, 4);
  CHECK_STR(lines[0].text, "users 1: alice");
  CHECK_STR(lines[1].text, "users 2: bob");
  CHECK_STR(lines[2].text, "orders of user 1: 2 (book 12.5, pen 1.2)");
  int ticks = -1;
  CHECK(sscanf(lines[3].text,
               "slow query: 1000000, while the loop ticked %d times",
               &ticks) == 1);
  CHECK(ticks > 0); /* the loop ran while SQLite worked */
}
