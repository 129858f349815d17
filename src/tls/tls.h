/* Private side of the TLS battery (include/casyncio/tls.h).
 *
 *   context.c   cio_tls_context: an SSL_CTX, its options, the client's
 *               session cache
 *   layer.c     the TLS layer under a stream (the ops of the stream's
 *               transport seam, src/net/stream.h): feed, pump, write,
 *               goodbye
 *   handshake.c handshake with its timeout, start_tls, open_connection,
 *               start_server, error reasons
 *   info.c      what can be read after the handshake (peer certificate,
 *               version, ALPN...)
 *
 * OpenSSL sees one BIO of ours for both directions (bio_method in
 * layer.c): a memory BIO over the layer's two buffers, so no socket is
 * ever touched by OpenSSL.  Bytes read from the socket land in `in`; SSL
 * pulls them from there.  What SSL writes is appended to `out` and sent
 * with one cio__stream_raw_write after each SSL call (one system call per
 * flight, not per record).
 */
#ifndef CIO_TLS_TLS_H
#define CIO_TLS_TLS_H

#include <stdatomic.h>

#include <openssl/ssl.h>

#include "casyncio/tls.h"
#include "net/stream.h"

/* The waits of a TLS layer, for task dumps (`obj`: the cio__tls). */
extern const struct cio__wait_kind cio__tls_handshake_kind;
extern const struct cio__wait_kind cio__tls_shutdown_kind;

#define CIO__TLS_SESSION_SLOTS 32
#define CIO__TLS_KEY_MAX 280 /* "host:port" of the session cache */

struct cio__tls_session {
  char key[CIO__TLS_KEY_MAX];
  SSL_SESSION *sess;
  unsigned long used; /* LRU clock */
};

struct cio_tls_context {
  SSL_CTX *ssl_ctx;
  atomic_int refs;
  int side;
  int verify;
  bool check_hostname;
  cio_tls_passphrase_fn passphrase;
  void *passphrase_arg;
  unsigned char *alpn; /* wire format, for the server's choice */
  size_t alpn_len;
  uv_mutex_t lock; /* the session cache: contexts are shared by threads */
  struct cio__tls_session cache[CIO__TLS_SESSION_SLOTS];
  unsigned long clock;
  char error[256];
};

void cio__tls_context_retain(cio_tls_context *ctx);
/* Client session cache: the session for `key`, retained (NULL if none). */
SSL_SESSION *cio__tls_session_get(cio_tls_context *ctx, const char *key);
/* Keep `sess` (the cache takes the caller's reference) under `key`. */
void cio__tls_session_put(cio_tls_context *ctx, const char *key,
                          SSL_SESSION *sess);

/* The layer's lifecycle, each edge with the function that takes it:
 *   HANDSHAKE -> OPEN       SSL_do_handshake() succeeded   handshake.c
 *   HANDSHAKE -> FAILED     handshake error, timeout,
 *                           cancellation                   handshake.c
 *   OPEN -> FAILED          a fatal alert, bad record,
 *                           truncation                     layer.c fail()
 *   OPEN -> SHUTDOWN        close(): close_notify sent     layer.c tls_close()
 *   SHUTDOWN -> DONE        the peer's close_notify, its
 *                           end of file, the timeout       layer.c
 * (1) `ssl` lives as long as the stream: freed only in tls_free (the
 *     stream's free), so no path leaves a half-freed SSL.
 * (2) `in` holds the socket's bytes [in_start, in_end) not yet taken by
 *     SSL; `out` holds [0, out_len) written by SSL and not yet sent; it is
 *     empty between calls (flush() follows every SSL call).
 * (3) FAILED has `error` < 0 and the stream's error set to it.
 * (4) Tasks park on `waiters` only in HANDSHAKE and SHUTDOWN; every feed
 *     and the socket's end wake them all. */
enum cio__tls_state {
  CIO__TLS_HANDSHAKE,
  CIO__TLS_OPEN,
  CIO__TLS_SHUTDOWN,
  CIO__TLS_DONE,
  CIO__TLS_FAILED,
};

struct cio__tls {
  cio_stream *s;
  cio_tls_context *ctx;
  SSL *ssl;
  uint8_t state;  /* cio__tls_state */
  bool sock_end;  /* the socket's read side ended */
  int sock_err;   /* ... with this error (0: end of file) */
  int error;      /* for FAILED */
  double shutdown_timeout;
  char *in;
  size_t in_start, in_end, in_cap;
  char *out;
  size_t out_len, out_cap;
  struct cio__list waiters;
  char key[CIO__TLS_KEY_MAX]; /* client: the session cache key, or "" */
  char reason[256];
};

/* Put a TLS layer under the OPEN stream `s` (layer.c).  `server_name`
 * (client only; may be NULL) is checked against the certificate and sent
 * as SNI; `port` completes the session cache key.  Returns 0, CIO_ENOMEM,
 * CIO_ETLS. */
int cio__tls_attach(cio_stream *s, cio_tls_context *ctx,
                    const char *server_name, int port, double shutdown_timeout);

/* Send what SSL wrote.  Returns 0 or the socket's error. */
int cio__tls_flush(struct cio__tls *t);

/* Decrypt what is buffered into the stream (OPEN). */
void cio__tls_pump(struct cio__tls *t);

/* The layer failed with `code` and `reason`: FAILED, the stream's read
 * and write sides get the error, waiters wake.  Returns `code`. */
int cio__tls_fail(struct cio__tls *t, int code, const char *reason);

/* Turn a failed SSL call (SSL_get_error's `e`) into a code and a reason
 * (CIO_ECERT for verification, CIO_ETLS otherwise) and fail. */
int cio__tls_fail_ssl(struct cio__tls *t, int e);

/* The layer of `s`, or NULL if it is not a TLS stream. */
struct cio__tls *cio__tls_of(const cio_stream *s);

#endif
