/* cio__text: the growing string reports and dumps are built in (see
 * internal.h for why it uses libc's heap). */
#include <stdarg.h>
#include <string.h>

#include "internal.h"

void cio__text_init(struct cio__text *t) {
  *t = (struct cio__text){0};
}

void cio__text_free(struct cio__text *t) {
  free(t->buf);
  *t = (struct cio__text){0};
}

/* Room for `more` bytes and the NUL; false (and `failed`) without. */
static bool reserve(struct cio__text *t, size_t more) {
  if (t->failed)
    return false;
  if (t->len + more + 1 <= t->cap)
    return true;
  size_t cap = t->cap ? t->cap : 256;
  while (cap < t->len + more + 1)
    cap *= 2;
  char *buf = realloc(t->buf, cap);
  if (buf == NULL) {
    t->failed = true;
    return false;
  }
  t->buf = buf;
  t->cap = cap;
  return true;
}

void cio__text_putn(struct cio__text *t, const char *s, size_t n) {
  if (!reserve(t, n))
    return;
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

void cio__text_put(struct cio__text *t, const char *s) {
  cio__text_putn(t, s, strlen(s));
}

static void text_vprintf(struct cio__text *t, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  if (n < 0) {
    va_end(again);
    return;
  }
  if ((size_t)n < sizeof small) {
    cio__text_putn(t, small, (size_t)n);
  } else if (reserve(t, (size_t)n)) {
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, again);
    t->len += (size_t)n;
  }
  va_end(again);
}

void cio__text_printf(struct cio__text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  text_vprintf(t, fmt, ap);
  va_end(ap);
}

const char *cio__text_str(const struct cio__text *t) {
  if (t->failed)
    return t->len ? t->buf : "(out of memory)";
  return t->buf ? t->buf : "";
}
