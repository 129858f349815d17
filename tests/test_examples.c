/* Examples: run each program of examples/ and check its output line by
 * line, and when each line appeared.  The examples sleep on the real
 * clock, so times are checked with a tolerance.  stderr is merged into
 * the output, so a warning from the runtime (a task destroyed while
 * pending, an error never retrieved) fails the comparison too. */
#include <sys/wait.h>
#include <time.h>

#include "example_harness.h"

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

/* A context variable set by each request's handler is read by a logging
 * helper below it, in a task it starts and in a thread (contextvars). */
TEST(request_id) {
  static const struct expect want[] = {
      {"[req-1] GET /items/1", 0, 0},
      {"[req-2] GET /items/2", 0, 0},
      {"[req-3] GET /items/3", 0, 0},
      {"[req-2] row loaded", 0.1, 0},
      {"[req-2] json built (in a thread)", 0.1, 0},
      {"[req-2] audit written", 0.1, 0},
      {"[req-2] 200 OK", 0.1, 0},
      {"[req-3] row loaded", 0.2, 0},
      {"[req-3] json built (in a thread)", 0.2, 0},
      {"[req-3] audit written", 0.2, 0},
      {"[req-3] 200 OK", 0.2, 0},
      {"[req-1] row loaded", 0.3, 0},
      {"[req-1] json built (in a thread)", 0.3, 0},
      {"[req-1] audit written", 0.3, 0},
      {"[req-1] 200 OK", 0.3, 0},
      {"[-] all requests served", 0.3, 0},
  };
  CHECK_EXAMPLE("request_id", want);
}
