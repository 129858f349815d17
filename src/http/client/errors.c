/* libcurl's result codes as casyncio codes, the way aiohttp's exceptions
 * sort the same failures: resolver, connect (with the errno libcurl saw),
 * TLS, timeout, redirects, protocol.  libcurl's own message stays in the
 * transfer's error buffer for the user to read. */
#include "client.h"

/* The errno of a failed connect, send or receive, as a code. */
static int os_error(CURL *easy, int fallback) {
  long err = 0;
  if (easy != NULL &&
      curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &err) == CURLE_OK && err > 0)
    return (int)-err;
  return fallback;
}

int cio__http_curl_error(CURLcode code, CURL *easy) {
  switch (code) {
  case CURLE_OK:
    return 0;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return CIO_EAI_NONAME;
  case CURLE_COULDNT_CONNECT:
    return os_error(easy, CIO_ECONNREFUSED);
  case CURLE_OPERATION_TIMEDOUT:
    return CIO_ETIMEDOUT;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return CIO_ECERT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_USE_SSL_FAILED:
    return CIO_ETLS;
  case CURLE_TOO_MANY_REDIRECTS:
    return CIO_EREDIRECT;
  case CURLE_GOT_NOTHING:
    return CIO_ECONNRESET; /* aiohttp's ServerDisconnectedError */
  case CURLE_SEND_ERROR:
    return os_error(easy, CIO_EPIPE);
  case CURLE_RECV_ERROR:
    return os_error(easy, CIO_ECONNRESET);
  case CURLE_PARTIAL_FILE:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_RANGE_ERROR:
  case CURLE_HTTP_RETURNED_ERROR:
    return CIO_EHTTP;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_BAD_FUNCTION_ARGUMENT:
    return CIO_EINVAL;
  case CURLE_OUT_OF_MEMORY:
    return CIO_ENOMEM;
  case CURLE_READ_ERROR:
  case CURLE_WRITE_ERROR:
    return CIO_EIO;
  case CURLE_LOGIN_DENIED:
  case CURLE_REMOTE_ACCESS_DENIED:
  case CURLE_AUTH_ERROR:
    return CIO_EACCES;
  case CURLE_ABORTED_BY_CALLBACK:
    return CIO_ECANCELED;
  default:
    return CIO_EIO;
  }
}

int cio__http_curlm_error(CURLMcode code) {
  switch (code) {
  case CURLM_OK:
    return 0;
  case CURLM_OUT_OF_MEMORY:
    return CIO_ENOMEM;
  case CURLM_ADDED_ALREADY:
    return CIO_EBUSY;
  default:
    return CIO_EINVAL;
  }
}

_Static_assert(CIO_HTTP_ERROR_SIZE >= CURL_ERROR_SIZE,
               "CIO_HTTP_ERROR_SIZE holds libcurl's messages");
