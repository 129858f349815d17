/* cio_tls_context: an SSL_CTX with asyncio's defaults
 * (ssl.create_default_context), shared by streams through a reference
 * count, and the client's session cache (one session per "host:port").
 *
 * Contexts are not tied to a loop: they are made with malloc and may be
 * used by streams of several threads, hence the atomic count and the
 * cache's mutex.  Setters are for setup time, before streams use the
 * context (as with SSLContext). */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>

#include "tls/tls.h"

static void set_error(cio_tls_context *ctx, const char *what) {
  unsigned long e = ERR_peek_last_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  snprintf(ctx->error, sizeof ctx->error, "%s%s%s", what, why ? ": " : "",
           why ? why : "");
  ERR_clear_error();
}

/* Client: keep new sessions (TLS 1.3 tickets arrive after the handshake)
 * under the stream's key. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  struct cio__tls *t = SSL_get_app_data(ssl);
  if (t == NULL || t->key[0] == '\0')
    return 0;
  cio__tls_session_put(t->ctx, t->key, sess);
  return 1; /* the cache keeps the reference */
}

/* Server: the first of our protocols that the client offers. */
static int on_alpn_select(SSL *ssl, const unsigned char **out,
                          unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  (void)ssl;
  cio_tls_context *ctx = arg;
  unsigned char *sel;
  if (ctx->alpn == NULL ||
      SSL_select_next_proto(&sel, outlen, ctx->alpn, (unsigned)ctx->alpn_len,
                            in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static int apply_verify(cio_tls_context *ctx) {
  int mode = SSL_VERIFY_NONE;
  if (ctx->verify != CIO_TLS_VERIFY_NONE)
    mode = SSL_VERIFY_PEER;
  if (ctx->side == CIO_TLS_SERVER && ctx->verify == CIO_TLS_VERIFY_REQUIRED)
    mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx->ssl_ctx, mode, NULL);
  return 0;
}

static int setup(cio_tls_context *ctx) {
  SSL_CTX *c = ctx->ssl_ctx;
  if (!SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION))
    return CIO_ETLS;
  /* No renegotiation (a denial-of-service lever; asyncio's default too),
   * no compression. */
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(c, SSL_MODE_AUTO_RETRY);
  if (ctx->side == CIO_TLS_CLIENT) {
    ctx->verify = CIO_TLS_VERIFY_REQUIRED;
    ctx->check_hostname = true;
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT |
                                          SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, on_new_session);
    if (!SSL_CTX_set_default_verify_paths(c))
      return CIO_ETLS;
  } else {
    ctx->verify = CIO_TLS_VERIFY_NONE;
    static const unsigned char sid[] = "casyncio";
    SSL_CTX_set_session_id_context(c, sid, sizeof sid - 1);
    SSL_CTX_set_alpn_select_cb(c, on_alpn_select, ctx);
    /* One TLS 1.3 ticket per handshake, as Go sends (OpenSSL's default of
     * two costs a second session encoding on every handshake; a client
     * resumes with one). */
    SSL_CTX_set_num_tickets(c, 1);
  }
  return apply_verify(ctx);
}

int cio_tls_context_new(cio_tls_context **out, int side) {
  if (out == NULL)
    return CIO_EINVAL;
  *out = NULL;
  if (side != CIO_TLS_CLIENT && side != CIO_TLS_SERVER)
    return CIO_EINVAL;
  cio_tls_context *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL)
    return CIO_ENOMEM;
  ctx->side = side;
  atomic_init(&ctx->refs, 1);
  ctx->ssl_ctx = SSL_CTX_new(side == CIO_TLS_CLIENT ? TLS_client_method()
                                                    : TLS_server_method());
  int rc = ctx->ssl_ctx == NULL ? CIO_ETLS : 0;
  if (rc == 0 && uv_mutex_init(&ctx->lock) != 0)
    rc = CIO_ENOMEM;
  if (rc == 0 && (rc = setup(ctx)) < 0)
    uv_mutex_destroy(&ctx->lock);
  if (rc < 0) {
    ERR_clear_error();
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

void cio__tls_context_retain(cio_tls_context *ctx) {
  atomic_fetch_add(&ctx->refs, 1);
}

void cio_tls_context_free(cio_tls_context *ctx) {
  if (ctx == NULL || atomic_fetch_sub(&ctx->refs, 1) != 1)
    return;
  for (int i = 0; i < CIO__TLS_SESSION_SLOTS; i++)
    SSL_SESSION_free(ctx->cache[i].sess);
  uv_mutex_destroy(&ctx->lock);
  SSL_CTX_free(ctx->ssl_ctx);
  free(ctx->alpn);
  free(ctx);
}

const char *cio_tls_context_error_reason(const cio_tls_context *ctx) {
  return ctx ? ctx->error : "";
}

/* ---- certificates and keys ------------------------------------------ */

static int on_passphrase(char *buf, int size, int rwflag, void *arg) {
  (void)rwflag;
  cio_tls_context *ctx = arg;
  if (ctx->passphrase == NULL || size <= 0)
    return -1;
  int n = ctx->passphrase(buf, (size_t)size, ctx->passphrase_arg);
  return n >= 0 && n <= size ? n : -1;
}

int cio_tls_context_load_cert_chain(cio_tls_context *ctx, const char *certfile,
                                    const char *keyfile,
                                    cio_tls_passphrase_fn passphrase,
                                    void *arg) {
  if (ctx == NULL || certfile == NULL)
    return CIO_EINVAL;
  ERR_clear_error();
  ctx->passphrase = passphrase;
  ctx->passphrase_arg = arg;
  SSL_CTX_set_default_passwd_cb(ctx->ssl_ctx, on_passphrase);
  SSL_CTX_set_default_passwd_cb_userdata(ctx->ssl_ctx, ctx);
  int rc = 0;
  if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, certfile) != 1) {
    set_error(ctx, "cannot load the certificate chain");
    rc = CIO_ETLS;
  } else if (SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx,
                                         keyfile ? keyfile : certfile,
                                         SSL_FILETYPE_PEM) != 1) {
    set_error(ctx, "cannot load the private key");
    rc = CIO_ETLS;
  } else if (SSL_CTX_check_private_key(ctx->ssl_ctx) != 1) {
    set_error(ctx, "the private key does not match the certificate");
    rc = CIO_ETLS;
  }
  /* The callback is for loading only: do not keep the caller's arg. */
  SSL_CTX_set_default_passwd_cb(ctx->ssl_ctx, NULL);
  SSL_CTX_set_default_passwd_cb_userdata(ctx->ssl_ctx, NULL);
  ctx->passphrase = NULL;
  ctx->passphrase_arg = NULL;
  return rc;
}

int cio_tls_context_load_verify_locations(cio_tls_context *ctx,
                                          const char *cafile,
                                          const char *capath) {
  if (ctx == NULL || (cafile == NULL && capath == NULL))
    return CIO_EINVAL;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, cafile, capath) != 1) {
    set_error(ctx, "cannot load the CA certificates");
    return CIO_ETLS;
  }
  return 0;
}

int cio_tls_context_load_default_certs(cio_tls_context *ctx) {
  if (ctx == NULL)
    return CIO_EINVAL;
  ERR_clear_error();
  if (SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1) {
    set_error(ctx, "cannot load the default CA certificates");
    return CIO_ETLS;
  }
  return 0;
}

/* ---- options -------------------------------------------------------- */

int cio_tls_context_set_verify(cio_tls_context *ctx, int mode) {
  if (ctx == NULL || mode < CIO_TLS_VERIFY_NONE ||
      mode > CIO_TLS_VERIFY_REQUIRED)
    return CIO_EINVAL;
  ctx->verify = mode;
  return apply_verify(ctx);
}

int cio_tls_context_set_check_hostname(cio_tls_context *ctx, bool check) {
  if (ctx == NULL)
    return CIO_EINVAL;
  ctx->check_hostname = check;
  return 0;
}

int cio_tls_context_set_alpn(cio_tls_context *ctx, const char *const *protocols,
                             size_t n) {
  if (ctx == NULL || (protocols == NULL && n > 0))
    return CIO_EINVAL;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    size_t k = protocols[i] ? strlen(protocols[i]) : 0;
    if (k == 0 || k > 255)
      return CIO_EINVAL;
    len += 1 + k;
  }
  unsigned char *wire = len ? malloc(len) : NULL;
  if (len > 0 && wire == NULL)
    return CIO_ENOMEM;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    size_t k = strlen(protocols[i]);
    wire[at++] = (unsigned char)k;
    memcpy(wire + at, protocols[i], k);
    at += k;
  }
  if (ctx->side == CIO_TLS_CLIENT &&
      SSL_CTX_set_alpn_protos(ctx->ssl_ctx, wire, (unsigned)len) != 0) {
    free(wire);
    return CIO_ENOMEM;
  }
  free(ctx->alpn);
  ctx->alpn = wire;
  ctx->alpn_len = len;
  return 0;
}

static bool valid_version(int v) {
  return v == CIO_TLS_VERSION_1_2 || v == CIO_TLS_VERSION_1_3;
}

int cio_tls_context_set_min_version(cio_tls_context *ctx, int version) {
  if (ctx == NULL || !valid_version(version))
    return CIO_EINVAL;
  return SSL_CTX_set_min_proto_version(ctx->ssl_ctx, version) ? 0 : CIO_EINVAL;
}

int cio_tls_context_set_max_version(cio_tls_context *ctx, int version) {
  if (ctx == NULL || (version != 0 && !valid_version(version)))
    return CIO_EINVAL;
  return SSL_CTX_set_max_proto_version(ctx->ssl_ctx, version) ? 0 : CIO_EINVAL;
}

int cio_tls_context_set_ciphers(cio_tls_context *ctx, const char *ciphers,
                                const char *suites) {
  if (ctx == NULL)
    return CIO_EINVAL;
  ERR_clear_error();
  if ((ciphers && SSL_CTX_set_cipher_list(ctx->ssl_ctx, ciphers) != 1) ||
      (suites && SSL_CTX_set_ciphersuites(ctx->ssl_ctx, suites) != 1)) {
    set_error(ctx, "no usable cipher");
    return CIO_ETLS;
  }
  return 0;
}

/* ---- the client's session cache --------------------------------------- */

SSL_SESSION *cio__tls_session_get(cio_tls_context *ctx, const char *key) {
  SSL_SESSION *found = NULL;
  uv_mutex_lock(&ctx->lock);
  for (int i = 0; i < CIO__TLS_SESSION_SLOTS; i++) {
    struct cio__tls_session *e = &ctx->cache[i];
    if (e->sess != NULL && strcmp(e->key, key) == 0) {
      if (SSL_SESSION_is_resumable(e->sess) && SSL_SESSION_up_ref(e->sess))
        found = e->sess;
      e->used = ++ctx->clock;
      break;
    }
  }
  uv_mutex_unlock(&ctx->lock);
  return found;
}

void cio__tls_session_put(cio_tls_context *ctx, const char *key,
                          SSL_SESSION *sess) {
  uv_mutex_lock(&ctx->lock);
  struct cio__tls_session *slot = &ctx->cache[0];
  for (int i = 0; i < CIO__TLS_SESSION_SLOTS; i++) {
    struct cio__tls_session *e = &ctx->cache[i];
    if (e->sess != NULL && strcmp(e->key, key) == 0) {
      slot = e;
      break;
    }
    if (e->used < slot->used)
      slot = e; /* least recently used (or empty: used 0) */
  }
  SSL_SESSION *old = slot->sess;
  snprintf(slot->key, sizeof slot->key, "%s", key);
  slot->sess = sess;
  slot->used = ++ctx->clock;
  uv_mutex_unlock(&ctx->lock);
  SSL_SESSION_free(old);
}
