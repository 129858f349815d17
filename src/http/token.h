/* What both HTTP batteries check before a name or value goes on the wire
 * (header injection: a CR or LF in a header value, or a method or header
 * name that is not a token, would let the caller's data start a new
 * header line or request).  Header-only: the client (src/http/client)
 * and the server (src/http/server) are built independently. */
#ifndef CIO_HTTP_TOKEN_H
#define CIO_HTTP_TOKEN_H

#include <stdbool.h>
#include <string.h>

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA  (RFC 9110 5.6.2);
 * 16 bytes a row from 0x00, nothing above 0x7f. */
static const bool cio__http_tchar[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
};

/* A method or header name: one or more tchars. */
static inline bool cio__http_is_token(const char *s) {
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!cio__http_tchar[(unsigned char)*s])
      return false;
  return true;
}

/* A header value: no CR nor LF (a C string holds no NUL). */
static inline bool cio__http_valid_value(const char *s) {
  return strpbrk(s, "\r\n") == NULL;
}

/* A URL: no control character (CR, LF, ... DEL).  libcurl's parser
 * refuses them too, but later and less plainly; checked up front. */
static inline bool cio__http_valid_url(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return false;
  return true;
}

#endif
