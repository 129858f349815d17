/* What a TLS stream tells after its handshake: version, cipher, ALPN,
 * resumption, the peer certificate (asyncio's get_extra_info('ssl_object'),
 * 'peercert', 'cipher'...). */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

bool cio_stream_is_tls(const cio_stream *s) {
  return cio__tls_of(s) != NULL;
}

const char *cio_tls_error_reason(const cio_stream *s) {
  struct cio__tls *t = cio__tls_of(s);
  return t ? t->reason : "";
}

/* The session, once the handshake succeeded. */
static SSL *session_of(const cio_stream *s) {
  struct cio__tls *t = cio__tls_of(s);
  if (t == NULL || t->state == CIO__TLS_HANDSHAKE ||
      !SSL_is_init_finished(t->ssl))
    return NULL;
  return t->ssl;
}

const char *cio_tls_version(const cio_stream *s) {
  SSL *ssl = session_of(s);
  return ssl ? SSL_get_version(ssl) : NULL;
}

const char *cio_tls_cipher(const cio_stream *s) {
  SSL *ssl = session_of(s);
  return ssl ? SSL_get_cipher_name(ssl) : NULL;
}

static int copy_out(char *buf, size_t cap, const char *p, size_t n) {
  if (n + 1 > cap)
    return CIO_ENOSPC;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return (int)n;
}

int cio_tls_alpn(const cio_stream *s, char *buf, size_t cap) {
  SSL *ssl = session_of(s);
  if (ssl == NULL || buf == NULL)
    return CIO_EINVAL;
  const unsigned char *p;
  unsigned int n;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return copy_out(buf, cap, p ? (const char *)p : "", p ? n : 0);
}

bool cio_tls_session_reused(const cio_stream *s) {
  SSL *ssl = session_of(s);
  return ssl != NULL && SSL_session_reused(ssl);
}

static X509 *peer_cert(const cio_stream *s, int *rc) {
  SSL *ssl = session_of(s);
  *rc = CIO_EINVAL;
  if (ssl == NULL)
    return NULL;
  X509 *cert = SSL_get0_peer_certificate(ssl);
  *rc = cert ? 0 : CIO_ENOENT;
  return cert;
}

/* What `print` writes to a memory BIO, into buf. */
static int print_to(char *buf, size_t cap, X509 *cert,
                    int (*print)(BIO *b, X509 *cert)) {
  BIO *b = BIO_new(BIO_s_mem());
  if (b == NULL)
    return CIO_ENOMEM;
  int rc = print(b, cert);
  if (rc == 0) {
    char *p;
    long n = BIO_get_mem_data(b, &p);
    rc = copy_out(buf, cap, n > 0 ? p : "", n > 0 ? (size_t)n : 0);
  }
  BIO_free(b);
  ERR_clear_error();
  return rc;
}

static int print_subject(BIO *b, X509 *cert) {
  return X509_NAME_print_ex(b, X509_get_subject_name(cert), 0,
                            XN_FLAG_RFC2253) >= 0
             ? 0
             : CIO_ENOMEM;
}

static int print_sans(BIO *b, X509 *cert) {
  int i = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
  if (i < 0)
    return 0; /* none: "" */
  return X509V3_EXT_print(b, X509_get_ext(cert, i), 0, 0) == 1 ? 0 : CIO_ENOMEM;
}

int cio_tls_peer_subject(const cio_stream *s, char *buf, size_t cap) {
  int rc;
  X509 *cert = peer_cert(s, &rc);
  if (cert == NULL || buf == NULL)
    return cert ? CIO_EINVAL : rc;
  return print_to(buf, cap, cert, print_subject);
}

int cio_tls_peer_sans(const cio_stream *s, char *buf, size_t cap) {
  int rc;
  X509 *cert = peer_cert(s, &rc);
  if (cert == NULL || buf == NULL)
    return cert ? CIO_EINVAL : rc;
  return print_to(buf, cap, cert, print_sans);
}

int cio_tls_peer_fingerprint(const cio_stream *s, unsigned char out[32]) {
  int rc;
  X509 *cert = peer_cert(s, &rc);
  if (cert == NULL || out == NULL)
    return cert ? CIO_EINVAL : rc;
  unsigned int n = 0;
  if (!X509_digest(cert, EVP_sha256(), out, &n) || n != 32) {
    ERR_clear_error();
    return CIO_ENOMEM;
  }
  return 0;
}

int cio_tls_peer_cert_der(const cio_stream *s, unsigned char *buf, size_t cap) {
  int rc;
  X509 *cert = peer_cert(s, &rc);
  if (cert == NULL)
    return rc;
  int n = i2d_X509(cert, NULL);
  if (n <= 0)
    return CIO_ENOMEM;
  if ((size_t)n > cap || buf == NULL)
    return n;
  unsigned char *p = buf;
  return i2d_X509(cert, &p);
}
