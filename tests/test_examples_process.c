/* The process and file examples: run each from CIO_EXAMPLES_DIR and check
 * what it prints.  stderr is merged into the output, so a runtime warning
 * fails the comparison. */
#include <sys/wait.h>

#include "test.h"

/* Run examples/<name>, expect exit status 0, return its output. */
static void run_example(const char *name, char *out, size_t cap) {
  char path[1024], cmd[1200];
  snprintf(path, sizeof path, "%s/%s", CIO_EXAMPLES_DIR, name);
  if (access(path, X_OK) != 0)
    test_fail(__FILE__, __LINE__,
              "%s is not built (configure with -DCIO_BUILD_EXAMPLES=ON)", path);
  const char *emu = getenv("CIO_TEST_EMULATOR");
  snprintf(cmd, sizeof cmd, "%s '%s' 2>&1", emu ? emu : "", path);
  int status = test_run_capture(cmd, out, cap);
  fprintf(stderr, "%s:\n%s", name, out);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
}

/* Six children joined by pumping tasks give the text's top five words,
 * and every stage exits 0 (head included: its writer stops on EPIPE). */
TEST(subprocess_pipeline) {
  char out[4096];
  run_example("subprocess_pipeline", out, sizeof out);
  CHECK_STR(out, "# six processes, one thread: the text's five most used "
                 "words\n"
                 "      9 task\n"
                 "      8 the\n"
                 "      7 waits\n"
                 "      4 it\n"
                 "      3 a\n"
                 "# exit status of each stage: tr=0 tr=0 sort=0 uniq=0 "
                 "sort=0 head=0\n");
}

/* Eight jobs of 100 ms of blocking lookup each: about 0.8 s one after
 * another; concurrently at least twice as fast, with the same results. */
TEST(concurrent_io) {
  char out[4096];
  run_example("concurrent_io", out, sizeof out);
  double seq = -1, con = -1, speedup = -1;
  char *line = strchr(out, '\n');
  CHECK(line != NULL);
  CHECK(strncmp(out, "# 8 jobs: read a 256 KiB file, then a 100 ms", 44) == 0);
  CHECK_EQ(sscanf(line + 1,
                  "sequential: %lf s\nconcurrent: %lf s\nsame results: "
                  "yes\nspeed-up: %lfx",
                  &seq, &con, &speedup),
           3);
  CHECK(seq >= 0.8 && seq < 3.0);
  CHECK(con > 0 && con <= seq / 2);
  CHECK(speedup >= 2.0);
  CHECK(strstr(out, "same results: yes\n") != NULL);
}
