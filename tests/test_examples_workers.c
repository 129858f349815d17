/* The examples with other threads and processes: a process pool that
 * survives a crashed worker, and a plain thread handing tasks to a loop
 * in another thread (run_coroutine_threadsafe). */
#include "example_harness.h"

TEST(process_pool) {
  char out[1024];
  run_example_output("process_pool", out, sizeof out);
  CHECK_STR(out, "primes below 1000000, counted in 4 worker processes: 78498\n"
                 "a job whose worker crashed: broken pipe\n"
                 "the pool still works: primes below 1000: 168\n");
}

TEST(threadsafe) {
  static const struct expect want[] = {
      {"loop thread: running", 0, 0},
      {"main thread: add(2, 3) = 5", 0.05, 0},
      {"main thread: slow() took too long (timed out), cancelling the task",
       0.25, 0},
      {"main thread: slow() ended: cancelled", 0.25, 0},
      {"loop thread: stopped", 0.25, 0},
  };
  CHECK_EXAMPLE("threadsafe", want);
}
