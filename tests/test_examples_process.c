/* The process and file examples: run each from CIO_EXAMPLES_DIR and check
 * what it prints.  stderr is merged into the output, so a runtime warning
 * fails the comparison. */
#include "example_harness.h"

/* Six children joined by pumping tasks give the text's top five words,
 * and every stage exits 0 (head included: its writer stops on EPIPE). */
TEST(subprocess_pipeline) {
  char out[4096];
  run_example_output("subprocess_pipeline", out, sizeof out);
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
  run_example_output("concurrent_io", out, sizeof out);
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
