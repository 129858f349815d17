/* Shared part of the stream reader fuzzers (fuzz_stream_*.c): a real
 * cio_stream over one end of a socketpair, fed from the other end by a
 * task that writes the fuzzer's bytes in the chunks the input asks for,
 * with loop iterations between them, then ends the stream as the input
 * asks: end of file (shutdown) or a reset (close with unread data, which
 * a Unix socket reports as ECONNRESET after the bytes already sent).
 *
 * Input layout:
 *   byte 0   the stream's limit (see LIMITS)
 *   byte 1   bit 0: end with a reset instead of end of file;
 *            bits 1-7: the reader's own parameter (harness-specific)
 *   byte 2   chunking: seed of the chunk sizes (1..64 bytes) and of the
 *            yields (0..3) between writes
 *   byte 3   a second parameter for the reader
 *   rest     the bytes the peer sends
 *
 * Each harness defines `static void read_all(struct fz *z)`, which reads
 * the stream to its end with the reader under test and checks every
 * result against z->data; it sets z->reader_done when it stops.  Any
 * mismatch aborts (the fuzzer reports it with the input).  After the run
 * the loop must have closed cleanly (the Debug library aborts on leaked
 * memory or handles) and both descriptors must be closed. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "casyncio.h"

static const size_t LIMITS[] = {1, 2, 3, 5, 8, 16, 64, 100, 255, 1024, 65536};

struct fz {
  const uint8_t *data; /* what the peer sends */
  size_t len;
  size_t limit;
  bool reset;    /* end with a reset, else end of file */
  uint8_t param; /* byte 1 >> 1 */
  uint8_t param2;
  uint32_t rng;  /* chunking */
  int peer;      /* the raw end */
  int fds[2];
  cio_stream *s;
  bool reader_done;
  size_t off;    /* bytes of data the reader accounted for */
};

#define FZ_CHECK(cond)                                                         \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: %s (offset %zu of %zu, limit %zu, %s)\n",        \
              __FILE__, __LINE__, #cond, z->off, z->len, z->limit,             \
              z->reset ? "reset" : "eof");                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static uint32_t fz_next(struct fz *z) {
  z->rng = z->rng * 1103515245u + 12345u;
  return z->rng >> 16;
}

/* The distance from `at` to the first `sep` in data, or SIZE_MAX. */
static size_t fz_find(const struct fz *z, size_t at, const void *sep,
                      size_t seplen) {
  for (size_t i = at; i + seplen <= z->len; i++)
    if (memcmp(z->data + i, sep, seplen) == 0)
      return i - at;
  return SIZE_MAX;
}

/* `n` bytes the reader got must be the next bytes sent. */
static void fz_take(struct fz *z, const void *got, size_t n) {
  FZ_CHECK(n <= z->len - z->off);
  FZ_CHECK(memcmp(got, z->data + z->off, n) == 0);
  z->off += n;
}

/* The stream's end as the reader sees it: 0 at end of file, the reset's
 * error otherwise, and only once every byte was read. */
static void fz_end(struct fz *z, long rc) {
  FZ_CHECK(z->off == z->len);
  FZ_CHECK(rc == (z->reset ? CIO_ECONNRESET : 0));
}

static int fz_writer(void *arg, void **result) {
  (void)result;
  struct fz *z = arg;
  size_t at = 0;
  while (at < z->len) {
    size_t n = 1 + fz_next(z) % 64;
    if (n > z->len - at)
      n = z->len - at;
    ssize_t w = write(z->peer, z->data + at, n);
    if (w > 0)
      at += (size_t)w;
    int yields = (int)(fz_next(z) % 4) + (w < 0 ? 1 : 0);
    for (int i = 0; i < yields; i++)
      if (cio_sleep(0) < 0)
        return 0;
  }
  if (z->reset) {
    /* A reset: the byte the stream sent us is unread when we close. */
    close(z->peer);
    z->peer = -1;
  } else {
    shutdown(z->peer, SHUT_WR);
  }
  return 0;
}

static void read_all(struct fz *z);

static int fz_reader(void *arg, void **result) {
  (void)result;
  struct fz *z = arg;
  read_all(z);
  z->reader_done = true;
  return 0;
}

static int fz_main(void *arg, void **result) {
  (void)result;
  struct fz *z = arg;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    abort();
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  z->peer = sv[1];
  z->fds[0] = sv[0];
  z->fds[1] = sv[1];
  cio_stream_opts o = {.limit = z->limit};
  if (cio_open_connection_sock(&z->s, sv[0], &o) != 0)
    abort();
  /* Left unread by the peer: its close is then a reset. */
  if (cio_stream_write(z->s, "x", 1) != 0)
    abort();
  cio_task *w, *r;
  if (cio_create_task(NULL, &w, fz_writer, z, NULL) != 0 ||
      cio_create_task(NULL, &r, fz_reader, z, NULL) != 0)
    abort();
  if (cio_task_join(r, NULL) != 0 || cio_task_join(w, NULL) != 0)
    abort();
  if (!z->reader_done)
    abort();
  if (cio_stream_close(z->s) != 0)
    abort();
  if (z->peer >= 0)
    close(z->peer);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  struct fz z = {
      .data = data + 4,
      .len = size - 4,
      .limit = LIMITS[data[0] % (sizeof LIMITS / sizeof LIMITS[0])],
      .reset = data[1] & 1,
      .param = (uint8_t)(data[1] >> 1),
      .param2 = data[3],
      .rng = data[2],
      .peer = -1,
  };
  cio_loop_opts o = {.virtual_clock = true};
  if (cio_run_ex(fz_main, &z, &o, NULL) != 0)
    abort();
  /* Both ends closed: the stream's with it, the peer's by us. */
  if (fcntl(z.fds[0], F_GETFD) != -1 || fcntl(z.fds[1], F_GETFD) != -1)
    abort();
  return 0;
}
