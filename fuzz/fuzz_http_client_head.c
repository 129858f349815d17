/* The HTTP client's response-head parser (src/http/client/response.c):
 * the input, cut into lines at '\n' as libcurl delivers them, goes through
 * cio__http_head_line() on a bare transfer (no easy handle, no session),
 * then every accessor reads the result.  Looks for overflows in the
 * status line, header and offset handling. */
#include <stdint.h>
#include <string.h>

#include "http/client/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cio_http_response t;
  memset(&t, 0, sizeof t);
  t.state = CIO__XFER_SENDING;
  t.follow = size > 0 && (data[0] & 1);
  const char *p = (const char *)data, *end = p + size;
  while (p < end && t.state == CIO__XFER_SENDING) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    if (cio__http_head_line(&t, p, n) < 0)
      break;
    p += n;
  }
  (void)cio_http_response_status(&t);
  (void)cio_http_response_reason(&t);
  (void)cio_http_response_version(&t);
  (void)cio_http_response_content_length(&t);
  (void)cio_http_response_retry_after(&t);
  const char *values[4], *name, *value;
  (void)cio_http_response_header_all(&t, "x-multi", values, 4);
  for (size_t i = 0; i < cio_http_response_header_count(&t); i++)
    if (cio_http_response_header_at(&t, i, &name, &value) == 0)
      (void)strlen(name), (void)strlen(value);
  free(t.hbuf);
  free(t.hdrs);
  return 0;
}
