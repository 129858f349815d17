/* libFuzzer harness: cio_stream_readuntil with one- to four-byte
 * separators (self-overlapping ones included) under arbitrary chunking,
 * limits, end of file and reset after any byte.  See stream_harness.h.
 * Parameters: the separator (param % 7), the caller's buffer (param2 odd:
 * 64 KiB, else seplen + param2).  The outcome is exact whatever the
 * chunking: a limit overrun consumes nothing and says how far it looked,
 * and the harness then takes those bytes with readexactly. */
#include "stream_harness.h"

static const struct {
  const char *sep;
  size_t len;
} SEPS[] = {{"\n", 1},  {"\r\n", 2}, {"--", 2},        {"aa", 2},
            {"aba", 3}, {"aab", 3},  {"\0\0\0\0", 4}};

static char chunk[1 << 19];

static void read_all(struct fz *z) {
  const char *sep = SEPS[z->param % 7].sep;
  size_t seplen = SEPS[z->param % 7].len;
  size_t cap = z->param2 & 1 ? 65536 : seplen + z->param2;
  size_t lim = z->limit < cap - seplen ? z->limit : cap - seplen;
  bool lossy = false;
  for (;;) {
    size_t n = 12345;
    ssize_t r = cio_stream_readuntil(z->s, sep, seplen, chunk, cap, &n);
    if (r > 0) {
      FZ_CHECK((size_t)r == n && n >= seplen && n <= cap);
      FZ_CHECK(memcmp(chunk + n - seplen, sep, seplen) == 0);
      FZ_CHECK(fz_find(z, z->off, sep, seplen) == n - seplen);
      FZ_CHECK(n - seplen <= lim);
      fz_take(z, chunk, n);
      continue;
    }
    if (r == CIO_ENOBUFS) {
      /* Nothing consumed; `n` bytes were searched. */
      size_t d = fz_find(z, z->off, sep, seplen);
      FZ_CHECK(d == SIZE_MAX || d > lim);
      FZ_CHECK(n > lim && n <= z->len - z->off && n <= sizeof chunk);
      size_t got;
      FZ_CHECK(cio_stream_readexactly(z->s, chunk, n, &got) == 0);
      fz_take(z, chunk, n);
      continue;
    }
    if (r == CIO_ENODATA) {
      /* End of file before a separator: the rest, up to cap. */
      FZ_CHECK(!z->reset);
      FZ_CHECK(fz_find(z, z->off, sep, seplen) == SIZE_MAX);
      size_t left = z->len - z->off;
      FZ_CHECK(n == (left < cap ? left : cap));
      fz_take(z, chunk, n);
      if (n < left)
        lossy = true; /* the part beyond cap is dropped */
      if (n == 0 || lossy) {
        z->off = z->len;
        FZ_CHECK(cio_stream_read(z->s, chunk, 1) == 0);
        fz_end(z, 0);
        return;
      }
      continue;
    }
    /* A reset before a separator: the partial chunk stays buffered. */
    FZ_CHECK(r == CIO_ECONNRESET);
    FZ_CHECK(z->reset);
    FZ_CHECK(fz_find(z, z->off, sep, seplen) == SIZE_MAX);
    FZ_CHECK(cio_stream_buffered(z->s) == z->len - z->off);
    ssize_t k;
    while ((k = cio_stream_read(z->s, chunk, 100)) > 0)
      fz_take(z, chunk, (size_t)k);
    fz_end(z, k);
    return;
  }
}
