/* libFuzzer harness: cio_stream_read (and read_all) under arbitrary
 * chunking, limits, end of file and reset after any byte.  See
 * stream_harness.h for the input layout.  Parameter: the read size
 * (1..128); param2 % 8 == 0 reads everything with cio_stream_read_all. */
#include "stream_harness.h"

static void read_all(struct fz *z) {
  if (z->param2 % 8 == 0) {
    void *all;
    size_t len;
    int rc = cio_stream_read_all(z->s, &all, &len);
    if (z->reset) {
      FZ_CHECK(rc == CIO_ECONNRESET && all == NULL); /* documented loss */
      z->off = z->len;
      return;
    }
    FZ_CHECK(rc == 0);
    fz_take(z, all, len);
    free(all);
    fz_end(z, 0);
    return;
  }
  size_t n = 1 + z->param % 128;
  char buf[128];
  for (;;) {
    ssize_t r = cio_stream_read(z->s, buf, n);
    if (r <= 0) {
      fz_end(z, r);
      FZ_CHECK(cio_stream_read(z->s, buf, n) == r); /* it stays so */
      return;
    }
    FZ_CHECK((size_t)r <= n);
    fz_take(z, buf, (size_t)r);
  }
}
