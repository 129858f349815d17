/* libFuzzer harness: cio_stream_readline under arbitrary chunking,
 * limits, line lengths, end of file and reset after any byte.  See
 * stream_harness.h.  Parameters: the caller's buffer (param2 odd: 64 KiB,
 * else 1 + param); lines longer than the limit are dropped (EMSGSIZE),
 * through their newline if it is buffered, else the whole buffer, which
 * depends on the chunking: the lines after one are found further on. */
#include "stream_harness.h"

static char line[65536];

static void read_all(struct fz *z) {
  size_t cap = z->param2 & 1 ? sizeof line : 1 + z->param;
  size_t lim = z->limit < cap - 1 ? z->limit : cap - 1;
  bool lossy = false; /* a line was dropped: offsets are found again */
  for (;;) {
    ssize_t r = cio_stream_readline(z->s, line, cap);
    if (r > 0) {
      FZ_CHECK((size_t)r <= cap); /* the newline may fill it: no NUL */
      bool whole = line[r - 1] == '\n';
      if (lossy) {
        /* After a dropped line: the next bytes come from further on. */
        size_t at = z->off;
        while (at + (size_t)r <= z->len &&
               memcmp(z->data + at, line, (size_t)r) != 0)
          at++;
        FZ_CHECK(at + (size_t)r <= z->len);
        z->off = at;
      }
      FZ_CHECK(memchr(line, '\n', (size_t)r - 1) == NULL);
      FZ_CHECK((size_t)r - whole <= lim);
      fz_take(z, line, (size_t)r);
      if (!whole) { /* the partial last line, at end of file */
        FZ_CHECK(!z->reset);
        FZ_CHECK(z->off == z->len || lossy);
      }
      continue;
    }
    if (r == CIO_EMSGSIZE) {
      size_t d = fz_find(z, z->off, "\n", 1);
      if (!lossy) /* the line at off is longer than the limit */
        FZ_CHECK(d == SIZE_MAX ? z->len - z->off > lim : d > lim);
      lossy = true;
      if (z->off < z->len)
        z->off++; /* at least the start of the long line is gone */
      continue;
    }
    if (r == CIO_ECONNRESET) {
      /* Complete lines were all returned: the rest is a partial line,
       * still buffered for read. */
      FZ_CHECK(z->reset);
      if (!lossy) {
        FZ_CHECK(fz_find(z, z->off, "\n", 1) == SIZE_MAX);
        FZ_CHECK(cio_stream_buffered(z->s) == z->len - z->off);
      }
      size_t left = cio_stream_buffered(z->s);
      FZ_CHECK(cio_stream_read(z->s, line, sizeof line) == (ssize_t)left ||
               left == 0);
      if (!lossy)
        fz_take(z, line, left);
      else
        z->off = z->len;
      FZ_CHECK(cio_stream_read(z->s, line, sizeof line) == CIO_ECONNRESET);
      return;
    }
    FZ_CHECK(r == 0);
    if (lossy)
      z->off = z->len;
    fz_end(z, 0);
    return;
  }
}
