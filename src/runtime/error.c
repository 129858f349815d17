/* Error names and messages, generated from the one table in casyncio.h. */
#include <string.h>

#include "internal.h"

/* Every code libuv also has must be libuv's value on this platform, so
 * that a libuv status is returned as it is (cio__uv_error). */
#define CIO__SAME_AS_UV(X)                                                     \
  X(E2BIG)                                                                     \
  X(EACCES)                                                                    \
  X(EADDRINUSE)                                                                \
  X(EADDRNOTAVAIL) X(EAFNOSUPPORT) X(EAGAIN) X(EALREADY) X(EBADF) X(EBUSY) X(  \
      ECANCELED) X(ECONNABORTED) X(ECONNREFUSED) X(ECONNRESET) X(EEXIST)       \
      X(EFAULT) X(EHOSTUNREACH) X(EINTR) X(EINVAL) X(EIO) X(EISCONN) X(EISDIR) \
          X(ELOOP) X(EMFILE) X(EMSGSIZE) X(ENAMETOOLONG) X(ENETUNREACH)        \
              X(ENFILE) X(ENOBUFS) X(ENOENT) X(ENOMEM) X(ENOSPC) X(ENOSYS)     \
                  X(ENOTCONN) X(ENOTDIR) X(ENOTEMPTY) X(ENOTSOCK) X(ENOTSUP)   \
                      X(ENXIO) X(EOVERFLOW) X(EPERM) X(EPIPE) X(EPROTO)        \
                          X(ERANGE) X(EROFS) X(ESHUTDOWN) X(ESPIPE) X(ESRCH)   \
                              X(ETIMEDOUT) X(EAI_ADDRFAMILY) X(EAI_AGAIN)      \
                                  X(EAI_BADFLAGS) X(EAI_CANCELED) X(EAI_FAIL)  \
                                      X(EAI_FAMILY) X(EAI_MEMORY)              \
                                          X(EAI_NODATA) X(EAI_NONAME)          \
                                              X(EAI_OVERFLOW) X(EAI_SERVICE)   \
                                                  X(EAI_SOCKTYPE) X(EOF)
#define CIO__CHECK_UV(name)                                                    \
  _Static_assert((int)CIO_##name == (int)UV_##name,                            \
                 "CIO_" #name " is not UV_" #name);
CIO__SAME_AS_UV(CIO__CHECK_UV)
_Static_assert((int)CIO_EUNKNOWN == (int)UV_UNKNOWN,
               "CIO_EUNKNOWN is not UV_UNKNOWN");
#undef CIO__CHECK_UV

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
