/* Many idle tasks: N tasks sleep 1 s at once on the real clock.
 *
 *   bench_sleepers [N] [CONFIG]   tasks (default 1,000,000); CONFIG runs
 *                                 only that configuration (default: all)
 *
 * Reports, per stack configuration, the wall time from the first spawn to
 * the last task's end (ideally just over 1 s), the time spent spawning,
 * and the peak resident memory per task: VmHWM from /proc/self/status at
 * the end minus VmHWM just before spawning, over N.  That covers the task
 * object, its stack pages actually touched and the timer.
 *
 * Configurations, each in a forked child so that peaks do not mix and
 * memory freed by one run is not reused by the next:
 *   sleepers/default     cio_loop_opts zeroed: 64 KiB stacks, guard pages
 *                        where the kernel has MADV_GUARD_INSTALL
 *   sleepers/stack16k    stack_size = 16 KiB
 *   sleepers/canary      default stacks, stack_guard = 2: the fallback for
 *                        kernels without guard pages, which keeps a canary
 *                        word at each stack's low end (one more page)
 *   sleepers/small       small tasks (cio_task_opts.small): one shared
 *                        stack, each sleeping task's frames copied out
 * ns/op is wall time over N; the line also gives kib_per_task. */
#include "bench.h"
#include "casyncio.h"

#include <sys/wait.h>
#include <unistd.h>

static long n_tasks;

/* VmHWM in KiB, or -1 if /proc is unavailable. */
static long peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

struct run {
  long remaining;
  cio_future *all_done;
};

static int sleeper(void *arg, void **result) {
  (void)result;
  struct run *r = arg;
  BENCH_CHECK(cio_sleep(1.0));
  if (--r->remaining == 0)
    BENCH_CHECK(cio_future_set_result(r->all_done, NULL));
  return 0;
}

static bool small_tasks;

static int bench_main(void *arg, void **result) {
  (void)result;
  const char *name = arg;
  cio_task_opts topts = {.small = small_tasks};
  struct run r = {.remaining = n_tasks};
  BENCH_CHECK(cio_future_new(NULL, &r.all_done));
  long base_kib = peak_rss_kib();
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n_tasks; i++)
    BENCH_CHECK(cio_create_task(NULL, NULL, sleeper, &r, &topts));
  uint64_t t_spawned = bench_now_ns();
  BENCH_CHECK(cio_await(r.all_done, NULL));
  uint64_t t1 = bench_now_ns();
  long kib = peak_rss_kib() - base_kib;
  cio_future_release(r.all_done);
  bench_report(name, (double)n_tasks, (double)(t1 - t0),
               "tasks=%ld wall_s=%.3f spawn_s=%.3f peak_kib=%ld "
               "kib_per_task=%.2f",
               n_tasks, (double)(t1 - t0) / 1e9,
               (double)(t_spawned - t0) / 1e9, kib,
               (double)kib / (double)n_tasks);
  return 0;
}

static const char *only;

static void run_child(const char *name, cio_loop_opts opts, bool small) {
  if (only != NULL && strcmp(name + strlen("sleepers/"), only) != 0)
    return;
  small_tasks = small;
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    int rc = cio_run_ex(bench_main, (void *)name, &opts, NULL);
    if (rc < 0)
      fprintf(stderr, "%s: %s\n", name, cio_strerror(rc));
    _exit(rc < 0 ? 1 : 0);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "%s: child failed\n", name);
    exit(1);
  }
}

int main(int argc, char **argv) {
  n_tasks = bench_arg(argc, argv, 1, 1000000);
  only = argc > 2 ? argv[2] : NULL;
  fflush(stdout);
  run_child("sleepers/default", (cio_loop_opts){0}, false);
  run_child("sleepers/stack16k", (cio_loop_opts){.stack_size = 16 * 1024},
            false);
  run_child("sleepers/canary", (cio_loop_opts){.stack_guard = 2}, false);
  run_child("sleepers/small", (cio_loop_opts){0}, true);
  return 0;
}
