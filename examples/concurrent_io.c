/* concurrent_io: the lesson of step 1 of docs/tutorial.md made concrete
 * ("waiting work done concurrently at least doubles the throughput").
 * Waiting work (file I/O, a blocking database lookup) done one piece after
 * another versus concurrently, with the speed-up measured.
 *
 * Each of N jobs reads a file and runs a blocking lookup (a stand-in for
 * a database client's query: 100 ms of waiting in a call that blocks its
 * thread).
 *   sequential: plain read(2) and the blocking call, job after job, as a
 *               synchronous program does;
 *   concurrent: one task per job; the file is read with cio_fs_* (libuv's
 *               thread pool) and the lookup runs with cio_to_thread
 *               (asyncio.to_thread), so the waits overlap.
 * Both give the same answers; the program checks that and prints the
 * times and the speed-up (it fails if the speed-up is below 2x). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "casyncio.h"

#define NJOBS 8
#define FILE_BYTES (256 * 1024)
#define LOOKUP_SECONDS 0.1

static char dir[] = "/tmp/concurrent_io_XXXXXX";

static void file_path(char *buf, size_t cap, int i) {
  snprintf(buf, cap, "%s/data%d.bin", dir, i);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a job computes from its file: a checksum of its bytes. */
static uint32_t checksum(const unsigned char *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i < n; i++)
    sum = sum * 31 + p[i];
  return sum;
}

/* The "database": blocks its thread, then answers. */
static int lookup(void *arg, void **result) {
  intptr_t key = (intptr_t)arg;
  struct timespec ts = {0, (long)(LOOKUP_SECONDS * 1e9)};
  nanosleep(&ts, NULL);
  *result = (void *)(key * key + 1);
  return 0;
}

struct job {
  int index;
  uint32_t sum;
  intptr_t answer;
};

/* ---- sequential: the synchronous program ---------------------------- */

static int job_sync(struct job *j) {
  char path[64];
  file_path(path, sizeof path, j->index);
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return CIO_ENOENT;
  static unsigned char buf[64 * 1024];
  ssize_t n;
  j->sum = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    j->sum = checksum(buf, (size_t)n, j->sum);
  close(fd);
  void *answer;
  lookup((void *)(intptr_t)j->index, &answer);
  j->answer = (intptr_t)answer;
  return n < 0 ? CIO_EIO : 0;
}

/* ---- concurrent: one task per job ----------------------------------- */

static int job_async(void *arg, void **result) {
  (void)result;
  struct job *j = arg;
  char path[64];
  file_path(path, sizeof path, j->index);
  int fd;
  int rc = cio_fs_open(path, O_RDONLY, 0, &fd);
  if (rc < 0)
    return rc;
  unsigned char *buf = malloc(64 * 1024); /* off the task's stack */
  ssize_t n = buf ? 0 : CIO_ENOMEM;
  j->sum = 0;
  while (buf && (n = cio_fs_read(fd, buf, 64 * 1024)) > 0)
    j->sum = checksum(buf, (size_t)n, j->sum);
  free(buf);
  int crc = cio_fs_close(fd);
  if (n >= 0 && crc < 0)
    n = crc;
  if (n < 0)
    return (int)n;
  void *answer;
  rc = cio_to_thread(lookup, (void *)(intptr_t)j->index, &answer);
  j->answer = (intptr_t)answer;
  return rc;
}

/* ---- setup ---------------------------------------------------------- */

static int make_files(void) {
  unsigned char *data = malloc(FILE_BYTES);
  int rc = data ? 0 : CIO_ENOMEM;
  for (int i = 0; i < NJOBS && rc == 0; i++) {
    for (size_t k = 0; k < FILE_BYTES; k++)
      data[k] = (unsigned char)(k * (size_t)(i + 3));
    char path[64];
    file_path(path, sizeof path, i);
    int fd;
    rc = cio_fs_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd);
    if (rc == 0) {
      ssize_t n = cio_fs_write(fd, data, FILE_BYTES);
      rc = cio_fs_close(fd);
      if (n < 0)
        rc = (int)n;
    }
  }
  free(data);
  return rc;
}

static void remove_files(void) {
  for (int i = 0; i < NJOBS; i++) {
    char path[64];
    file_path(path, sizeof path, i);
    (void)!cio_fs_unlink(path); /* best effort: a leftover is harmless */
  }
}

static int main_task(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = make_files();
  if (rc < 0)
    return rc;
  printf("# %d jobs: read a %d KiB file, then a %.0f ms blocking lookup\n",
         NJOBS, FILE_BYTES / 1024, LOOKUP_SECONDS * 1000);

  struct job seq[NJOBS], con[NJOBS];
  double t0 = now();
  for (int i = 0; i < NJOBS && rc == 0; i++) {
    seq[i] = (struct job){.index = i};
    rc = job_sync(&seq[i]);
  }
  double t_seq = now() - t0;
  if (rc < 0)
    return rc;
  printf("sequential: %.2f s\n", t_seq);

  cio_call calls[NJOBS];
  for (int i = 0; i < NJOBS; i++) {
    con[i] = (struct job){.index = i};
    calls[i] = (cio_call){job_async, &con[i]};
  }
  t0 = now();
  rc = cio_gather_calls(calls, NJOBS, NULL, NULL, false);
  double t_con = now() - t0;
  remove_files();
  if (rc < 0)
    return rc;
  printf("concurrent: %.2f s\n", t_con);

  for (int i = 0; i < NJOBS; i++)
    if (seq[i].sum != con[i].sum || seq[i].answer != con[i].answer)
      return CIO_EIO;
  printf("same results: yes\n");
  double speedup = t_seq / t_con;
  printf("speed-up: %.1fx\n", speedup);
  return speedup >= 2.0 ? 0 : CIO_ETIME;
}

int main(void) {
  if (mkdtemp(dir) == NULL) {
    perror("concurrent_io: mkdtemp");
    return 1;
  }
  /* The sequential run blocks the loop for most of a second on purpose:
   * the stall detector, on by default, would rightly report it. */
  int rc = cio_run_ex(main_task, NULL, &(cio_loop_opts){.stall_ms = -1}, NULL);
  rmdir(dir);
  if (rc < 0)
    fprintf(stderr, "concurrent_io: %s\n", cio_strerror(rc));
  return rc < 0;
}
