/* casyncio TLS: streams over TLS on OpenSSL 3 (asyncio's ssl= argument).
 *
 * A TLS stream is an ordinary cio_stream: read, readline, readuntil,
 * readexactly, read_all, write, drain, write_eof, close, wait_closed and
 * the addresses work unchanged.  OpenSSL runs over memory BIOs under the
 * stream, as asyncio's sslproto and uvloop do: ciphertext from the socket
 * is decrypted into the stream's buffer, writes are encrypted on the way
 * out.
 *
 *   asyncio                                casyncio
 *   ssl.create_default_context()           cio_tls_context_new(CLIENT)
 *   ctx.load_cert_chain(cert, key, pw)     cio_tls_context_load_cert_chain
 *   ctx.load_verify_locations(cafile)      cio_tls_context_load_verify_locations
 *   open_connection(h, p, ssl=ctx,         cio_tls_open_connection(&s, h, p,
 *       server_hostname=...)                   NULL, &(cio_tls_opts){ctx})
 *   start_server(cb, h, p, ssl=ctx)        cio_tls_start_server
 *   writer.start_tls(ctx)                  cio_stream_start_tls
 *   ssl.SSLCertVerificationError           CIO_ECERT (+ reason text)
 *   ssl.SSLError                           CIO_ETLS (+ reason text)
 *   ssl_handshake_timeout (60 s)           cio_tls_opts.handshake_timeout
 *   ssl_shutdown_timeout (30 s)            cio_tls_opts.shutdown_timeout
 *   get_extra_info('peercert'), ...        cio_tls_peer_subject, ...
 *
 * Closing a TLS stream sends close_notify and waits (up to the shutdown
 * timeout) for the peer's, then closes the socket.  A peer that ends the
 * connection without close_notify gives readers CIO_ETLS ("truncated"):
 * a truncation attack cannot pass for a clean end of file.
 *
 * Contexts may be shared by streams of any loop and thread; a stream
 * holds a reference to its context.  Everything else follows
 * casyncio.h: one loop, one thread.
 */
#ifndef CASYNCIO_TLS_H
#define CASYNCIO_TLS_H

#include "casyncio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cio_tls_context cio_tls_context;

enum cio_tls_side {
  CIO_TLS_CLIENT = 0, /* ssl.PROTOCOL_TLS_CLIENT */
  CIO_TLS_SERVER = 1, /* ssl.PROTOCOL_TLS_SERVER */
};

/* Peer verification (ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED). */
enum cio_tls_verify {
  CIO_TLS_VERIFY_NONE = 0,     /* no certificate asked for or checked */
  CIO_TLS_VERIFY_OPTIONAL = 1, /* server: ask a client certificate and
                                  check it if one is sent */
  CIO_TLS_VERIFY_REQUIRED = 2, /* a valid certificate is required */
};

/* Protocol versions for cio_tls_context_set_min_version / max. */
#define CIO_TLS_VERSION_1_2 0x0303
#define CIO_TLS_VERSION_1_3 0x0304

/* Make a context for `side` (asyncio's ssl.create_default_context):
 * TLS 1.2 at least; a client verifies the server's certificate against
 * the system's default CAs, checks the host name and sends SNI; a server
 * does not ask for client certificates.  Does not suspend; any thread.
 * Returns 0, CIO_EINVAL (bad side), CIO_ENOMEM, CIO_ETLS (OpenSSL could
 * not make one).  On failure `*out` is NULL. */
CIO_API CIO_NODISCARD int cio_tls_context_new(cio_tls_context **out, int side);

/* Drop the caller's reference; streams using the context keep theirs.
 * NULL is accepted.  Thread-safe. */
CIO_API void cio_tls_context_free(cio_tls_context *ctx);

/* A passphrase callback: write the passphrase of an encrypted private
 * key into `buf` (`cap` bytes) and return its length, or -1 to fail. */
typedef int (*cio_tls_passphrase_fn)(char *buf, size_t cap, void *arg);

/* Load the certificate chain (PEM: the certificate first, then its
 * intermediates) and the private key (PEM; NULL: in `certfile` too),
 * with `passphrase` (may be NULL) for an encrypted key
 * (ctx.load_cert_chain).  Blocks on file I/O: call it at startup.
 * Returns 0, CIO_EINVAL, CIO_ETLS (missing or unreadable file, wrong
 * passphrase, key does not match: see cio_tls_context_error_reason). */
CIO_API CIO_NODISCARD int cio_tls_context_load_cert_chain(cio_tls_context *ctx,
                                            const char *certfile,
                                            const char *keyfile,
                                            cio_tls_passphrase_fn passphrase,
                                            void *arg);

/* The reason text of the context's last failed load_* call ("" if
 * none; never NULL). */
CIO_API const char *cio_tls_context_error_reason(const cio_tls_context *ctx);

/* Trust the CAs in `cafile` (PEM) and/or the hashed directory `capath`
 * (either may be NULL, not both) (ctx.load_verify_locations).  Returns
 * 0, CIO_EINVAL, CIO_ETLS. */
CIO_API CIO_NODISCARD int cio_tls_context_load_verify_locations(cio_tls_context *ctx,
                                                  const char *cafile,
                                                  const char *capath);

/* Trust the system's default CAs (ctx.load_default_certs; done already
 * for client contexts).  Returns 0 or CIO_ETLS. */
CIO_API CIO_NODISCARD int cio_tls_context_load_default_certs(cio_tls_context *ctx);

/* Set the verification mode (enum cio_tls_verify; ctx.verify_mode).
 * Client default REQUIRED, server default NONE.  Returns 0, CIO_EINVAL. */
CIO_API CIO_NODISCARD int cio_tls_context_set_verify(cio_tls_context *ctx, int mode);

/* Client: check that the certificate matches the server name (default
 * on; ctx.check_hostname).  Returns 0, CIO_EINVAL. */
CIO_API CIO_NODISCARD int cio_tls_context_set_check_hostname(cio_tls_context *ctx,
                                               bool check);

/* ALPN protocols to offer (client) or accept, in order of preference
 * (server): `n` strings of 1 to 255 bytes (ctx.set_alpn_protocols).
 * Returns 0, CIO_EINVAL, CIO_ENOMEM. */
CIO_API CIO_NODISCARD int cio_tls_context_set_alpn(cio_tls_context *ctx,
                                     const char *const *protocols, size_t n);

/* The lowest / highest protocol version (CIO_TLS_VERSION_*; 0 for no
 * upper bound).  Returns 0, CIO_EINVAL. */
CIO_API CIO_NODISCARD int cio_tls_context_set_min_version(cio_tls_context *ctx, int version);
CIO_API CIO_NODISCARD int cio_tls_context_set_max_version(cio_tls_context *ctx, int version);

/* OpenSSL cipher lists: `ciphers` for TLS 1.2 and below, `suites` for
 * TLS 1.3 (either may be NULL) (ctx.set_ciphers).  Returns 0, CIO_ETLS
 * (nothing usable in the list). */
CIO_API CIO_NODISCARD int cio_tls_context_set_ciphers(cio_tls_context *ctx,
                                        const char *ciphers,
                                        const char *suites);

/* Options of a TLS stream (asyncio's ssl=, server_hostname=,
 * ssl_handshake_timeout=, ssl_shutdown_timeout=).  Zero-initialise and
 * set `context`. */
typedef struct cio_tls_opts {
  cio_tls_context *context; /* required; the stream takes a reference */
  /* Client: the name for SNI and the certificate check; NULL: the host
   * given to cio_tls_open_connection (cio_stream_start_tls has none).
   * When the context checks host names (the default) and the name is
   * NULL or "", the call returns CIO_EINVAL before anything is sent,
   * as CPython's "check_hostname requires server_hostname". */
  const char *server_hostname;
  double handshake_timeout; /* seconds; 0: 60 */
  double shutdown_timeout;  /* seconds; 0: 30 */
  /* Where a failed connect or start_tls writes its reason ("certificate
   * verify failed: certificate has expired"); may be NULL. */
  char *error_buf;
  size_t error_cap;
} cio_tls_opts;

/* Connect to `host`:`port` and do the TLS handshake as a client
 * (asyncio.open_connection(..., ssl=ctx)).  `opts` may be NULL (stream
 * defaults); `tls` is required.  Suspends.  Returns 0, the errors of
 * cio_open_connection, CIO_ECERT (verification failed: expired, unknown
 * CA, self-signed, host name mismatch), CIO_ETLS (handshake failed),
 * CIO_ECONNRESET (the peer closed during the handshake), CIO_ETIMEDOUT
 * (handshake timeout), CIO_ECANCELED, CIO_EINVAL (no name to check the
 * certificate against: see server_hostname).  On failure `*out` is NULL, the
 * socket is closed and the reason is in tls->error_buf. */
CIO_API CIO_NODISCARD int cio_tls_open_connection(cio_stream **out, const char *host,
                                    int port, const cio_stream_opts *opts,
                                    const cio_tls_opts *tls);

/* Listen as cio_start_server does; each accepted connection does the
 * TLS handshake as a server (within the handshake timeout) in its task
 * before `handler` runs; a connection whose handshake fails is closed
 * without calling it.  The server keeps a reference to the context.
 * Returns as cio_start_server; CIO_EINVAL without a context. */
CIO_API CIO_NODISCARD int cio_tls_start_server(cio_server **out, cio_server_handler handler,
                                 void *arg, const char *host, int port,
                                 const cio_server_opts *opts,
                                 const cio_tls_opts *tls);

/* Upgrade the open plain stream `s` to TLS (StreamWriter.start_tls /
 * loop.start_tls): as a client or server by the context's side.  Bytes
 * already buffered are taken as the start of the TLS stream.  No other
 * task may use `s` meanwhile.  Suspends.  Returns 0 or the handshake
 * errors of cio_tls_open_connection, CIO_EALREADY (already TLS),
 * CIO_ECLOSED, CIO_EINVAL (a client context that checks host names and
 * no server_hostname: nothing is sent and the stream stays plain and
 * usable).  On another failure the stream stays open but every read and
 * write returns the error: close it. */
CIO_API CIO_NODISCARD int cio_stream_start_tls(cio_stream *s, const cio_tls_opts *tls);

/* True if `s` is a TLS stream (its handshake may have failed). */
CIO_API bool cio_stream_is_tls(const cio_stream *s);

/* The reason text of the last TLS error of `s` ("" if none; never
 * NULL): the words behind a CIO_ECERT or CIO_ETLS from its calls. */
CIO_API const char *cio_tls_error_reason(const cio_stream *s);

/* After the handshake (get_extra_info('ssl_object') and friends):
 * the negotiated version ("TLSv1.3") and cipher, NULL if not TLS. */
CIO_API const char *cio_tls_version(const cio_stream *s);
CIO_API const char *cio_tls_cipher(const cio_stream *s);

/* The protocol chosen by ALPN into `buf` (`cap` bytes, NUL-terminated):
 * returns its length, 0 if none was chosen, CIO_ENOSPC, CIO_EINVAL. */
CIO_API int cio_tls_alpn(const cio_stream *s, char *buf, size_t cap);

/* True if the session was resumed (the client context keeps one session
 * per server name and port). */
CIO_API bool cio_tls_session_reused(const cio_stream *s);

/* The peer certificate's subject (RFC 2253, "CN=example.com,O=...") and
 * subject alternative names ("DNS:example.com, IP Address:127.0.0.1", as
 * OpenSSL prints them) into `buf` (`cap` bytes, NUL-terminated).
 * Returns the length, CIO_ENOENT (no peer certificate), CIO_ENOSPC,
 * CIO_EINVAL. */
CIO_API int cio_tls_peer_subject(const cio_stream *s, char *buf, size_t cap);
CIO_API int cio_tls_peer_sans(const cio_stream *s, char *buf, size_t cap);

/* The SHA-256 fingerprint of the peer certificate (DER) into `out`.
 * Returns 0, CIO_ENOENT, CIO_EINVAL. */
CIO_API int cio_tls_peer_fingerprint(const cio_stream *s,
                                     unsigned char out[32]);

/* The peer certificate in DER (getpeercert(binary_form=True)) into
 * `buf`: returns its length (the length needed, if above `cap`; `buf`
 * may then be NULL), CIO_ENOENT, CIO_EINVAL. */
CIO_API int cio_tls_peer_cert_der(const cio_stream *s, unsigned char *buf,
                                  size_t cap);

#ifdef __cplusplus
}
#endif

#endif
