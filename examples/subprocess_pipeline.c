/* subprocess_pipeline: the shell pipeline
 *
 *   tr -cs A-Za-z '\n' | tr A-Z a-z | sort | uniq -c | sort -k1,1nr -k2 |
 *   head -n 5
 *
 * built from six child processes whose pipes all end in this program: one
 * task feeds the text to the first child, one task per link copies a
 * child's stdout to the next child's stdin, and the main task reads the
 * last one's output, all at once, on one thread.  When `head` has read
 * its five lines and exits, writing to it fails with CIO_EPIPE; its pump
 * then keeps reading (and dropping) what `sort` sends, so that `sort` can
 * finish instead of blocking on a full pipe.  Finally every child is
 * waited for and its exit status printed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "casyncio.h"

#define NSTAGES 6

static const char *const stages[NSTAGES][6] = {
    {"tr", "-cs", "A-Za-z", "\n", NULL},
    {"tr", "A-Z", "a-z", NULL},
    {"sort", NULL},
    {"uniq", "-c", NULL},
    {"sort", "-k1,1nr", "-k2", NULL},
    {"head", "-n", "5", NULL},
};

static const char text[] =
    "A task runs until it waits. When the task waits, the loop runs another "
    "task, and the waiting task resumes when what it waits for is ready. "
    "The loop never waits for one task while another task could run: it "
    "waits only when every task waits. A task that reads a pipe waits for "
    "the child that writes it, and the loop runs the task that feeds the "
    "next child meanwhile.\n";

/* One link of the pipeline: copy `from` into `to`, then close `to`. */
struct link {
  cio_stream *from; /* NULL: write `text` instead */
  cio_stream *to;
};

static int write_some(cio_stream *to, const void *buf, size_t n) {
  int rc = cio_stream_write(to, buf, n);
  return rc < 0 ? rc : cio_stream_drain(to);
}

static int pump(void *arg, void **result) {
  (void)result;
  struct link *l = arg;
  int rc = 0;
  bool broken = false; /* the reader exited: drop what comes */
  if (l->from == NULL)
    rc = write_some(l->to, text, strlen(text));
  while (l->from != NULL) {
    char buf[16 * 1024];
    ssize_t n = cio_stream_read(l->from, buf, sizeof buf);
    if (n <= 0) {
      rc = (int)n;
      break;
    }
    if (!broken && (rc = write_some(l->to, buf, (size_t)n)) < 0) {
      if (rc != CIO_EPIPE && rc != CIO_ECONNRESET)
        break;
      broken = true;
      rc = 0;
    }
  }
  int crc = cio_stream_close(l->to); /* the next child sees end of file */
  return rc < 0 ? rc : crc;
}

static int main_task(void *arg, void **result) {
  (void)arg, (void)result;
  cio_process *procs[NSTAGES] = {NULL};
  cio_task *pumps[NSTAGES] = {NULL};
  struct link links[NSTAGES];
  int rc = 0;
  for (int i = 0; i < NSTAGES && rc == 0; i++) {
    cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
                          .stdout_mode = CIO_STDIO_PIPE};
    rc = cio_create_subprocess_exec(&procs[i], stages[i], &o);
    if (rc < 0)
      break;
    links[i] = (struct link){
        .from = i == 0 ? NULL : cio_process_stdout(procs[i - 1]),
        .to = cio_process_stdin(procs[i]),
    };
    rc = cio_create_task(NULL, &pumps[i], pump, &links[i], NULL);
  }
  if (rc == 0) {
    printf("# six processes, one thread: the text's five most used words\n");
    char line[128];
    ssize_t n;
    cio_stream *out = cio_process_stdout(procs[NSTAGES - 1]);
    while ((n = cio_stream_readline(out, line, sizeof line)) > 0)
      printf("%.*s", (int)n, line);
    rc = n < 0 ? (int)n : 0;
  }
  for (int i = 0; i < NSTAGES; i++) {
    int prc = pumps[i] ? cio_task_join(pumps[i], NULL) : 0;
    if (prc < 0 && rc == 0)
      rc = prc;
  }
  printf("# exit status of each stage:");
  for (int i = 0; i < NSTAGES && procs[i] != NULL; i++) {
    int code = -1;
    int wrc = cio_process_wait(procs[i], &code);
    if (rc == 0 && wrc < 0)
      rc = wrc;
    printf(" %s=%d", stages[i][0], code);
  }
  printf("\n");
  for (int i = 0; i < NSTAGES; i++) {
    int crc = cio_process_close(procs[i]);
    if (rc == 0 && crc < 0)
      rc = crc;
  }
  return rc;
}

int main(void) {
  int rc = cio_run(main_task, NULL);
  if (rc < 0)
    fprintf(stderr, "subprocess_pipeline: %s\n", cio_strerror(rc));
  return rc < 0;
}
