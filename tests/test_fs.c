/* Files on libuv's thread pool: round trips through real files, errors,
 * a loop that keeps running while a file operation blocks (a FIFO nobody
 * writes to yet), and cancellation of queued and of running requests. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "casyncio.h"
#include "test.h"

static char dir[64];

/* A fresh directory for the test's files; `name` inside it. */
static const char *path_in(const char *name) {
  static char buf[4][512];
  static int next;
  if (dir[0] == '\0') {
    snprintf(dir, sizeof dir, "/tmp/cio_fs_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
  }
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", dir, name);
  return p;
}

static void remove_dir(void) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      unlink(path_in(e->d_name));
  closedir(d);
  rmdir(dir);
}

static int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

static int run(cio_task_fn fn) {
  int rc = test_run(fn, NULL);
  remove_dir();
  return rc;
}

/* ------------------------------------------------------------------ */

static int main_roundtrip(void *arg, void **result) {
  (void)arg, (void)result;
  const char *a = path_in("a.txt"), *b = path_in("b.txt");
  int fd;
  CHECK_EQ(cio_fs_open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd), 0);
  CHECK(fd >= 0);
  CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(cio_fs_write(fd, "hello, world\n", 13), 13);
  CHECK_EQ(cio_fs_pwrite(fd, "HELLO", 5, 0), 5);
  CHECK_EQ(cio_fs_write(fd, "more\n", 5), 5); /* position was not moved */
  CHECK_EQ(cio_fs_fsync(fd), 0);
  cio_stat st;
  CHECK_EQ(cio_fs_fstat(fd, &st), 0);
  CHECK_EQ(st.size, 18);
  CHECK(S_ISREG(st.mode));
  CHECK_EQ(cio_fs_close(fd), 0);

  CHECK_EQ(cio_fs_rename(a, b), 0);
  CHECK_EQ(cio_fs_stat(a, &st), CIO_ENOENT);
  CHECK_EQ(cio_fs_stat(b, &st), 0);
  CHECK_EQ(st.size, 18);
  CHECK(st.mtime > 1e9);

  char buf[64] = {0};
  CHECK_EQ(cio_fs_open(b, O_RDONLY, 0, &fd), 0);
  CHECK_EQ(cio_fs_pread(fd, buf, 5, 7), 5);
  CHECK(memcmp(buf, "world", 5) == 0);
  CHECK_EQ(cio_fs_read(fd, buf, sizeof buf), 18);
  CHECK(memcmp(buf, "HELLO, world\nmore\n", 18) == 0);
  CHECK_EQ(cio_fs_read(fd, buf, sizeof buf), 0); /* end of file */
  CHECK_EQ(cio_fs_pread(fd, buf, sizeof buf, 1000), 0);
  CHECK_EQ(cio_fs_close(fd), 0);

  CHECK_EQ(cio_fs_unlink(b), 0);
  CHECK_EQ(cio_fs_unlink(b), CIO_ENOENT);
  return 0;
}

TEST(roundtrip) {
  CHECK_EQ(run(main_roundtrip), 0);
}

/* ------------------------------------------------------------------ */

static int main_errors(void *arg, void **result) {
  (void)arg, (void)result;
  int fd = 123;
  CHECK_EQ(cio_fs_open(path_in("missing"), O_RDONLY, 0, &fd), CIO_ENOENT);
  CHECK_EQ(fd, -1);
  CHECK_EQ(cio_fs_open(NULL, O_RDONLY, 0, &fd), CIO_EINVAL);
  CHECK_EQ(cio_fs_open(dir, O_WRONLY, 0, &fd), CIO_EISDIR);
  CHECK_EQ(cio_fs_open(path_in("x"), O_RDONLY | O_CREAT | O_EXCL, 0600, &fd),
           0);
  int fd2;
  CHECK_EQ(cio_fs_open(path_in("x"), O_RDONLY | O_CREAT | O_EXCL, 0600, &fd2),
           CIO_EEXIST);
  char c;
  CHECK_EQ(cio_fs_write(fd, "a", 1), CIO_EBADF); /* opened read-only */
  CHECK_EQ(cio_fs_pread(fd, &c, 1, -1), CIO_EINVAL);
  CHECK_EQ(cio_fs_pwrite(fd, &c, 1, -1), CIO_EINVAL);
  CHECK_EQ(cio_fs_close(fd), 0);
  CHECK_EQ(cio_fs_close(fd), CIO_EBADF);
  CHECK_EQ(cio_fs_read(fd, &c, 1), CIO_EBADF);
  CHECK_EQ(cio_fs_fsync(-1), CIO_EBADF);
  cio_stat st;
  CHECK_EQ(cio_fs_fstat(-1, &st), CIO_EBADF);
  CHECK_EQ(cio_fs_stat(NULL, &st), CIO_EINVAL);
  CHECK_EQ(cio_fs_rename(path_in("nope"), path_in("nope2")), CIO_ENOENT);
  return 0;
}

TEST(errors) {
  CHECK_EQ(run(main_errors), 0);
  /* Outside a task every call refuses to suspend. */
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  int fd;
  cio_stat st;
  char c;
  CHECK_EQ(cio_fs_open("/dev/null", O_RDONLY, 0, &fd), CIO_EPERM);
  CHECK_EQ(cio_fs_read(0, &c, 1), CIO_EPERM);
  CHECK_EQ(cio_fs_stat("/", &st), CIO_EPERM);
  CHECK_EQ(cio_fs_unlink("/nonexistent"), CIO_EPERM);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* ------------------------------------------------------------------ */

/* Several MiB written and read back in uneven chunks, by two tasks
 * working on two files at once. */
#define BIG (3 * 1024 * 1024 + 123)

static int big_file(void *arg, void **result) {
  (void)result;
  const char *path = arg;
  unsigned char *data = malloc(BIG), *back = malloc(BIG);
  for (size_t i = 0; i < BIG; i++)
    data[i] = (unsigned char)(i * 7 + (size_t)path[strlen(path) - 1]);
  int fd;
  CHECK_EQ(cio_fs_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, &fd), 0);
  CHECK_EQ(cio_fs_write(fd, data, BIG), BIG);
  size_t got = 0;
  while (got < BIG) {
    size_t want = BIG - got < 100000 ? BIG - got : 100000;
    ssize_t n = cio_fs_pread(fd, back + got, want, (int64_t)got);
    CHECK(n > 0);
    got += (size_t)n;
  }
  CHECK(memcmp(data, back, BIG) == 0);
  CHECK_EQ(cio_fs_close(fd), 0);
  free(data);
  free(back);
  return 0;
}

static int main_big(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *a;
  CHECK_EQ(test_spawn(&a, big_file, (void *)path_in("big1")), 0);
  cio_task *b;
  CHECK_EQ(test_spawn(&b, big_file, (void *)path_in("big2")), 0);
  CHECK_EQ(cio_task_await(a, NULL), 0);
  CHECK_EQ(cio_task_await(b, NULL), 0);
  return 0;
}

TEST(big_files_concurrently) {
  CHECK_EQ(run(main_big), 0);
}

/* ------------------------------------------------------------------ */

/* Opening a FIFO for reading blocks until a writer comes: the loop must
 * go on running other tasks meanwhile, one of which is that writer. */
static int fifo_reader(void *arg, void **result) {
  (void)result;
  int fd;
  CHECK_EQ(cio_fs_open(arg, O_RDONLY, 0, &fd), 0);
  test_log("reader-open");
  char buf[16] = {0};
  CHECK_EQ(cio_fs_read(fd, buf, sizeof buf - 1), 2);
  test_log("read-%s", buf);
  CHECK_EQ(cio_fs_close(fd), 0);
  return 0;
}

static int main_not_blocking(void *arg, void **result) {
  (void)arg, (void)result;
  const char *fifo = path_in("fifo");
  CHECK_EQ(mkfifo(fifo, 0600), 0);
  cio_task *r;
  CHECK_EQ(test_spawn(&r, fifo_reader, (void *)fifo), 0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(cio_sleep(0.02), 0);
    test_log("tick%d", i);
  }
  int fd;
  CHECK_EQ(cio_fs_open(fifo, O_WRONLY, 0, &fd), 0);
  CHECK_EQ(cio_fs_write(fd, "hi", 2), 2);
  CHECK_EQ(cio_fs_close(fd), 0);
  CHECK_EQ(cio_task_await(r, NULL), 0);
  CHECK_STR(test_log_text(), "tick0 tick1 tick2 reader-open read-hi ");
  return 0;
}

TEST(loop_runs_while_file_op_blocks) {
  CHECK_EQ(run(main_not_blocking), 0);
}

/* ------------------------------------------------------------------ */

/* libuv's pool has 4 threads: four opens of FIFOs occupy them all, so a
 * fifth request queues.  Cancelling the queued one returns at once;
 * cancelling a running one waits for it to end, and the descriptor it
 * opened for nobody is closed. */
#define POOL 4

struct opener {
  const char *path;
  int rc, fd;
  bool done;
};

static int fifo_open_task(void *arg, void **result) {
  (void)result;
  struct opener *o = arg;
  o->rc = cio_fs_open(o->path, O_RDONLY, 0, &o->fd);
  o->done = true;
  return o->rc;
}

static int stat_task(void *arg, void **result) {
  (void)arg, (void)result;
  cio_stat st;
  return cio_fs_stat("/", &st);
}

static int main_cancel(void *arg, void **result) {
  (void)arg, (void)result;
  int fds_before = count_fds();
  static const char *names[POOL] = {"f0", "f1", "f2", "f3"};
  struct opener o[POOL];
  cio_task *t[POOL];
  for (int i = 0; i < POOL; i++) {
    o[i] = (struct opener){.path = path_in(names[i]), .fd = -1};
    CHECK_EQ(mkfifo(o[i].path, 0600), 0);
    CHECK_EQ(test_spawn(&t[i], fifo_open_task, &o[i]), 0);
  }
  CHECK_EQ(cio_sleep(0.1), 0); /* all four now block in the pool */

  cio_task *queued;
  CHECK_EQ(test_spawn(&queued, stat_task, NULL), 0);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK(!cio_task_is_done(queued));
  double t0 = test_now();
  CHECK_EQ(cio_task_cancel(queued), 1);
  CHECK_EQ(cio_task_await(queued, NULL), CIO_ECANCELED);
  CHECK(test_now() - t0 < 0.05);

  /* A running open cannot be stopped: the task stays until it ends. */
  CHECK_EQ(cio_task_cancel(t[0]), 1);
  CHECK_EQ(cio_sleep(0.05), 0);
  CHECK(!o[0].done);
  for (int i = 0; i < POOL; i++) {
    int w = open(o[i].path, O_WRONLY | O_NONBLOCK);
    CHECK(w >= 0);
    close(w);
  }
  CHECK_EQ(cio_task_await(t[0], NULL), CIO_ECANCELED);
  CHECK_EQ(o[0].fd, -1);
  for (int i = 1; i < POOL; i++) {
    CHECK_EQ(cio_task_await(t[i], NULL), 0);
    CHECK_EQ(cio_fs_close(o[i].fd), 0);
  }
  CHECK_EQ(count_fds(), fds_before); /* t[0]'s descriptor was closed */
  return 0;
}

TEST(cancel_queued_and_running) {
  setenv("UV_THREADPOOL_SIZE", "4", 1);
  CHECK_EQ(run(main_cancel), 0);
}

/* ------------------------------------------------------------------ */

/* sendfile into a child's stdin (`cat`), read back from its stdout by
 * another task: the whole file, then a slice, then a count past the end
 * of the file. */
#define SF_SIZE (1024 * 1024 + 333)

struct slurp {
  cio_stream *s;
  void *data;
  size_t len;
};

static int slurp_task(void *arg, void **result) {
  (void)result;
  struct slurp *sl = arg;
  return cio_stream_read_all(sl->s, &sl->data, &sl->len);
}

/* Send [offset, offset + count) of `fd` through cat and return what came
 * out (malloc'd, *len bytes). */
static void *through_cat(int fd, int64_t offset, size_t count, ssize_t want,
                         size_t *len) {
  const char *const argv[] = {"cat", NULL};
  cio_process_opts o = {.stdin_mode = CIO_STDIO_PIPE,
                        .stdout_mode = CIO_STDIO_PIPE};
  cio_process *p;
  CHECK_EQ(cio_create_subprocess_exec(&p, argv, &o), 0);
  struct slurp sl = {.s = cio_process_stdout(p)};
  cio_task *reader;
  CHECK_EQ(test_spawn(&reader, slurp_task, &sl), 0);
  CHECK_EQ(cio_stream_write(cio_process_stdin(p), "<", 1), 0);
  CHECK_EQ(cio_fs_sendfile(cio_process_stdin(p), fd, offset, count), want);
  CHECK_EQ(cio_stream_close(cio_process_stdin(p)), 0);
  CHECK_EQ(cio_task_await(reader, NULL), 0);
  int code;
  CHECK_EQ(cio_process_wait(p, &code), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(cio_process_close(p), 0);
  *len = sl.len;
  return sl.data;
}

static int main_sendfile(void *arg, void **result) {
  (void)arg, (void)result;
  unsigned char *data = malloc(SF_SIZE);
  for (size_t i = 0; i < SF_SIZE; i++)
    data[i] = (unsigned char)(i * 13 + 1);
  int fd;
  CHECK_EQ(cio_fs_open(path_in("sf"), O_RDWR | O_CREAT, 0600, &fd), 0);
  CHECK_EQ(cio_fs_write(fd, data, SF_SIZE), SF_SIZE);
  size_t len;
  unsigned char *out = through_cat(fd, 0, 0, SF_SIZE, &len);
  CHECK_EQ(len, SF_SIZE + 1);
  CHECK(out[0] == '<' && memcmp(out + 1, data, SF_SIZE) == 0);
  free(out);
  out = through_cat(fd, 1000, 70000, 70000, &len);
  CHECK_EQ(len, 70001);
  CHECK(memcmp(out + 1, data + 1000, 70000) == 0);
  free(out);
  out = through_cat(fd, SF_SIZE - 10, 100, 10, &len);
  CHECK_EQ(len, 11);
  CHECK(memcmp(out + 1, data + SF_SIZE - 10, 10) == 0);
  free(out);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), SF_SIZE); /* position untouched */
  CHECK_EQ(cio_fs_sendfile(NULL, fd, 0, 0), CIO_EINVAL);
  CHECK_EQ(cio_fs_close(fd), 0);
  free(data);
  return 0;
}

TEST(sendfile_to_stream) {
  CHECK_EQ(run(main_sendfile), 0);
}
