/* Throwaway certificates for the TLS tests, made at test time with the
 * OpenSSL API into a fresh temporary directory (ECDSA P-256):
 *
 *   ca.pem              a CA (CN=casyncio test CA)
 *   server.pem/.key     localhost + 127.0.0.1, signed by the CA
 *   expired.pem/.key    the same names, expired a year ago
 *   other.pem/.key      other.example only, signed by the CA
 *   self.pem/.key       localhost, self-signed
 *   client.pem/.key     a client certificate (CN=casyncio client)
 *   secret.key          server.key encrypted with the passphrase "hunter2"
 *
 * tls_certs_make() returns the directory; tls_path("server.pem") a full
 * path (static buffer, one at a time).  tls_certs_remove() deletes it. */
#ifndef CIO_TESTS_TLS_CERTS_H
#define CIO_TESTS_TLS_CERTS_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static char tls_dir[256];

static const char *tls_path(const char *name) {
  static char paths[4][512];
  static int next;
  char *p = paths[next++ % 4];
  snprintf(p, 512, "%s/%s", tls_dir, name);
  return p;
}

static EVP_PKEY *tls_key_new(void) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  CHECK(k != NULL);
  return k;
}

static void tls_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  CHECK(ext != NULL);
  CHECK(X509_add_ext(cert, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

/* A certificate for `cn` valid from now + from_days to now + to_days,
 * signed by (issuer, issuer_key), or self-signed when issuer is NULL. */
static X509 *tls_cert_new(EVP_PKEY *key, const char *cn, const char *sans,
                          bool ca, long from_days, long to_days, X509 *issuer,
                          EVP_PKEY *issuer_key) {
  static long serial = 1;
  X509 *c = X509_new();
  CHECK(c != NULL);
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c), from_days * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(c), to_days * 86400L);
  X509_set_pubkey(c, key);
  X509_NAME *name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             (const unsigned char *)"casyncio tests", -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)cn, -1, -1, 0);
  X509 *iss = issuer ? issuer : c;
  X509_set_issuer_name(c, X509_get_subject_name(iss));
  tls_add_ext(c, iss, NID_basic_constraints,
              ca ? "critical,CA:TRUE" : "CA:FALSE");
  tls_add_ext(c, iss, NID_subject_key_identifier, "hash");
  if (ca)
    tls_add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (sans != NULL)
    tls_add_ext(c, iss, NID_subject_alt_name, sans);
  CHECK(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return c;
}

static void tls_write_cert(const char *name, X509 *c) {
  FILE *f = fopen(tls_path(name), "w");
  CHECK(f != NULL);
  CHECK(PEM_write_X509(f, c) == 1);
  fclose(f);
}

static void tls_write_key(const char *name, EVP_PKEY *k, const char *pass) {
  FILE *f = fopen(tls_path(name), "w");
  CHECK(f != NULL);
  CHECK(PEM_write_PrivateKey(f, k, pass ? EVP_aes_256_cbc() : NULL,
                             (const unsigned char *)pass,
                             pass ? (int)strlen(pass) : 0, NULL, NULL) == 1);
  fclose(f);
}

/* One leaf: key and certificate under `stem`.pem / `stem`.key. */
static void tls_leaf(const char *stem, const char *cn, const char *sans,
                     long from, long to, X509 *ca, EVP_PKEY *ca_key) {
  char n[64];
  EVP_PKEY *k = tls_key_new();
  X509 *c = tls_cert_new(k, cn, sans, false, from, to, ca, ca_key);
  snprintf(n, sizeof n, "%s.pem", stem);
  tls_write_cert(n, c);
  snprintf(n, sizeof n, "%s.key", stem);
  tls_write_key(n, k, NULL);
  if (strcmp(stem, "server") == 0)
    tls_write_key("secret.key", k, "hunter2");
  X509_free(c);
  EVP_PKEY_free(k);
}

static const char *tls_certs_make(void) {
  snprintf(tls_dir, sizeof tls_dir, "/tmp/cio-tls-XXXXXX");
  CHECK(mkdtemp(tls_dir) != NULL);
  EVP_PKEY *ca_key = tls_key_new();
  X509 *ca = tls_cert_new(ca_key, "casyncio test CA", NULL, true, -1, 3650,
                          NULL, NULL);
  tls_write_cert("ca.pem", ca);
  const char *local = "DNS:localhost,IP:127.0.0.1";
  tls_leaf("server", "localhost", local, -1, 365, ca, ca_key);
  tls_leaf("expired", "localhost", local, -400, -365, ca, ca_key);
  tls_leaf("other", "other.example", "DNS:other.example", -1, 365, ca, ca_key);
  tls_leaf("self", "localhost", local, -1, 365, NULL, NULL);
  tls_leaf("client", "casyncio client", NULL, -1, 365, ca, ca_key);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return tls_dir;
}

static void tls_certs_remove(void) {
  char cmd[300];
  if (tls_dir[0] == '\0')
    return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tls_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tls_dir);
  tls_dir[0] = '\0';
}

#endif
