/* libFuzzer harness for the TLS record path: whatever bytes a peer sends
 * reach the TLS layer under a stream (src/tls/layer.c) as the first
 * flight of a handshake.
 *
 * The first byte picks the side the stream plays (even: server, reading
 * the input as a ClientHello; odd: client, reading it as the server's
 * answer to its ClientHello); the rest is written into the other end of a
 * socket pair, which is then shut.  The stream starts TLS, reads until
 * an error or the end, and closes: no crash, no leak, the loop closes
 * cleanly, whatever the bytes. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "casyncio.h"
#include "casyncio/tls.h"
#include "net/stream.h"
#include "tls/tls.h"

static cio_tls_context *server_ctx, *client_ctx;

/* A self-signed ECDSA certificate, in memory. */
static void make_contexts(void) {
  if (cio_tls_context_new(&server_ctx, CIO_TLS_SERVER) < 0 ||
      cio_tls_context_new(&client_ctx, CIO_TLS_CLIENT) < 0)
    abort();
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  if (key == NULL || cert == NULL)
    abort();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400L);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  if (X509_sign(cert, key, EVP_sha256()) <= 0 ||
      SSL_CTX_use_certificate(server_ctx->ssl_ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey(server_ctx->ssl_ctx, key) != 1)
    abort();
  X509_free(cert);
  EVP_PKEY_free(key);
  cio_tls_context_set_verify(client_ctx, CIO_TLS_VERIFY_NONE);
}

struct input {
  const uint8_t *data;
  size_t size;
};

static int fuzz_main(void *arg, void **result) {
  (void)result;
  struct input *in = arg;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
    abort();
  /* The pair's buffer holds the whole (bounded) input at once. */
  if (in->size > 1 && write(sv[1], in->data + 1, in->size - 1) < 0)
    abort();
  shutdown(sv[1], SHUT_WR);
  cio_stream *s;
  if (cio__stream_new(cio__loop_current(), CIO__STREAM_PIPE, NULL, &s) < 0)
    abort();
  if (uv_pipe_open(&s->h.pipe, sv[0]) < 0 ||
      cio__stream_start(s, CIO__STREAM_READ | CIO__STREAM_WRITE) < 0)
    abort();
  cio_tls_opts o = {.context = in->data[0] % 2 ? client_ctx : server_ctx,
                    .server_hostname = "localhost",
                    .handshake_timeout = 1.0,
                    .shutdown_timeout = 0.01};
  if (cio_stream_start_tls(s, &o) == 0) {
    char buf[4096];
    while (cio_stream_read(s, buf, sizeof buf) > 0)
      ;
  }
  cio_stream_close(s);
  close(sv[1]);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > 60000)
    return 0;
  if (server_ctx == NULL)
    make_contexts();
  struct input in = {data, size};
  if (cio_run(fuzz_main, &in) != 0)
    abort();
  return 0;
}
