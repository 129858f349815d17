/* libFuzzer harness: cio_stream_readexactly under arbitrary chunking,
 * limits, end of file and reset after any byte.  See stream_harness.h.
 * Parameter: n (1..128, times 1 + param2 % 4). */
#include "stream_harness.h"

static void read_rest(struct fz *z) {
  char buf[256];
  ssize_t r;
  while ((r = cio_stream_read(z->s, buf, sizeof buf)) > 0)
    fz_take(z, buf, (size_t)r);
  fz_end(z, r);
}

static void read_all(struct fz *z) {
  size_t n = (1 + z->param % 128) * (1 + z->param2 % 4);
  char buf[512];
  for (;;) {
    size_t got = 12345;
    int rc = cio_stream_readexactly(z->s, buf, n, &got);
    if (rc == 0) {
      FZ_CHECK(got == n);
      fz_take(z, buf, n);
      continue;
    }
    if (rc == CIO_ENODATA) {
      /* End of file first: the partial bytes, and the buffer emptied. */
      FZ_CHECK(!z->reset);
      FZ_CHECK(got < n);
      fz_take(z, buf, got);
      FZ_CHECK(cio_stream_buffered(z->s) == 0);
      read_rest(z);
      return;
    }
    /* A reset: nothing consumed; every byte sent is buffered. */
    FZ_CHECK(rc == CIO_ECONNRESET);
    FZ_CHECK(z->reset);
    FZ_CHECK(got == 0);
    FZ_CHECK(z->len - z->off < n);
    FZ_CHECK(cio_stream_buffered(z->s) == z->len - z->off);
    read_rest(z);
    return;
  }
}
