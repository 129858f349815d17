/* libFuzzer harness: cio_stream_readuntil with one- to four-byte
 * separators (self-overlapping ones included), and cio_stream_readuntil_any
 * with two or three of them, under arbitrary chunking, limits, end of
 * file and reset after any byte.  See stream_harness.h.  Parameters: the
 * separator (param % 7), or with param & 64 a set of three (param % 7,
 * param2 % 7, param2 / 7 % 7; duplicates allowed); the caller's buffer
 * (param2 odd: 64 KiB, else the longest separator + param2).  The outcome
 * is exact whatever the chunking: a limit overrun consumes nothing and
 * says how far it looked, and the harness then takes those bytes with
 * readexactly. */
#include "stream_harness.h"

static const struct {
  const char *sep;
  size_t len;
} SEPS[] = {{"\n", 1},  {"\r\n", 2}, {"--", 2},        {"aa", 2},
            {"aba", 3}, {"aab", 3},  {"\0\0\0\0", 4}};

static char chunk[1 << 19];

struct sepset {
  const void *sep[3];
  size_t len[3];
  size_t n, max_len;
};

/* The match that ends first at or after `at` (the shorter separator on a
 * tie): its distance from `at` in *start and its end in *end; false when
 * there is none in the data. */
static bool first_match(const struct fz *z, size_t at,
                        const struct sepset *ss, size_t *start,
                        size_t *end) {
  bool found = false;
  for (size_t i = 0; i < ss->n; i++) {
    size_t d = fz_find(z, at, ss->sep[i], ss->len[i]);
    if (d == SIZE_MAX)
      continue;
    size_t e = d + ss->len[i];
    if (!found || e < *end || (e == *end && d > *start)) {
      *start = d;
      *end = e;
      found = true;
    }
  }
  return found;
}

static void read_all(struct fz *z) {
  struct sepset ss = {.n = z->param & 64 ? 3 : 1};
  int pick[3] = {z->param % 7, z->param2 % 7, z->param2 / 7 % 7};
  for (size_t i = 0; i < ss.n; i++) {
    ss.sep[i] = SEPS[pick[i]].sep;
    ss.len[i] = SEPS[pick[i]].len;
    if (ss.len[i] > ss.max_len)
      ss.max_len = ss.len[i];
  }
  size_t cap = z->param2 & 1 ? 65536 : ss.max_len + z->param2;
  size_t lim = z->limit < cap - ss.max_len ? z->limit : cap - ss.max_len;
  bool lossy = false;
  for (;;) {
    size_t n = 12345, start = 0, end = 0;
    ssize_t r = ss.n == 1
                    ? cio_stream_readuntil(z->s, ss.sep[0], ss.len[0], chunk,
                                           cap, &n)
                    : cio_stream_readuntil_any(z->s, ss.sep, ss.len, ss.n,
                                               chunk, cap, &n);
    bool found = first_match(z, z->off, &ss, &start, &end);
    if (r > 0) {
      FZ_CHECK((size_t)r == n && n <= cap);
      FZ_CHECK(found && n == end && start <= lim);
      fz_take(z, chunk, n);
      continue;
    }
    if (r == CIO_ENOBUFS) {
      /* Nothing consumed; `n` bytes were searched. */
      FZ_CHECK(!found || start > lim);
      FZ_CHECK(n > lim && n <= z->len - z->off && n <= sizeof chunk);
      size_t got;
      FZ_CHECK(cio_stream_readexactly(z->s, chunk, n, &got) == 0);
      fz_take(z, chunk, n);
      continue;
    }
    if (r == CIO_ENODATA) {
      /* End of file before a separator: the rest, up to cap. */
      FZ_CHECK(!z->reset);
      FZ_CHECK(!found);
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
    FZ_CHECK(!found);
    FZ_CHECK(cio_stream_buffered(z->s) == z->len - z->off);
    ssize_t k;
    while ((k = cio_stream_read(z->s, chunk, 100)) > 0)
      fz_take(z, chunk, (size_t)k);
    fz_end(z, k);
    return;
  }
}
