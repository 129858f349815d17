/* Error names and messages, generated from the one table in casyncio.h. */
#include <string.h>

#include "internal.h"

const char *cio_strerror(int code) {
  switch (code) {
#define CIO__ERRNO_TEXT(name, value, text)                                     \
  case CIO_##name:                                                             \
    return text;
    CIO_ERRNO_MAP(CIO__ERRNO_TEXT)
#undef CIO__ERRNO_TEXT
  case 0:
    return "success";
  default:
    /* Any other errno: the C library's text (static for known ones). */
    if (code < 0 && code > -4000)
      return strerror(-code);
    return "unknown error";
  }
}

const char *cio_err_name(int code) {
  switch (code) {
#define CIO__ERRNO_NAME(name, value, text)                                     \
  case CIO_##name:                                                             \
    return #name;
    CIO_ERRNO_MAP(CIO__ERRNO_NAME)
#undef CIO__ERRNO_NAME
  case 0:
    return "OK";
  default:
    return "EUNKNOWN";
  }
}

void cio__assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "casyncio: internal invariant broken: %s (%s:%d)\n", expr,
          file, line);
  abort();
}
