/* The PostgreSQL examples (examples/postgres/), run against the test
 * cluster through $CIO_PG_CONNINFO, and once starting their own server. */
#include "example_harness.h"
#include "pg_cluster.h"

static size_t run_pg_example(const char *name, const char *args,
                             struct line *lines, bool own_server) {
  char env[700];
  if (own_server)
    snprintf(env, sizeof env, "CIO_PG_CONNINFO=");
  else
    snprintf(env, sizeof env, "CIO_PG_CONNINFO='%s'", pg_test_conninfo());
  return run_example_with(env, name, args, lines, MAX_LINES, NULL);
}

static void check_fetch_users(bool own_server) {
  struct line lines[MAX_LINES];
  size_t n = run_pg_example("fetch_users", "", lines, own_server);
  size_t at = 0;
  if (own_server) {
    CHECK(n == 4);
    CHECK(strstr(lines[0].text, "starting a throwaway PostgreSQL") != NULL);
    at = 1;
  }
  CHECK(n == at + 3);
  CHECK_STR(lines[at].text, "users 1: alice");
  CHECK_STR(lines[at + 1].text, "users 2: bob");
  CHECK_STR(lines[at + 2].text, "orders of user 1: 2 (book 12.50, pen 1.20)");
}

TEST(fetch_users) {
  check_fetch_users(false);
}

TEST(fetch_users_starts_its_own_server) {
  if (access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0)
    test_skip("no PostgreSQL 15 server (apt-get install postgresql)");
  check_fetch_users(true);
}

TEST(db_sync_vs_async) {
  struct line lines[MAX_LINES];
  size_t n = run_pg_example("db_sync_vs_async", "40", lines, false);
  CHECK_EQ(n, 4);
  CHECK_STR(lines[0].text, "40 queries, each 5 ms of server time");
  double sync_s, async_s, ratio;
  CHECK(sscanf(lines[1].text, "synchronous libpq, one after another: %lf s",
               &sync_s) == 1);
  CHECK(sscanf(lines[2].text, "casyncio, 40 tasks over a pool of 10: %lf s",
               &async_s) == 1);
  CHECK(sscanf(lines[3].text, "speed-up: x%lf", &ratio) == 1);
  CHECK(sync_s >= 40 * 0.005); /* the server really waited */
  CHECK(ratio > 1.0);          /* loose: a loaded machine must not fail it */
}
