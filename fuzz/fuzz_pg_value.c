/* libFuzzer harness for the value parsers behind casyncio/db.h's typed
 * getters (src/db/value.c): PostgreSQL's text and binary forms, as they
 * come off the wire.  Input: one byte picks the type, one the form, the
 * rest is the value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

static const uint32_t oids[] = {
    CIO__OID_BOOL,   CIO__OID_BYTEA,     CIO__OID_INT8,
    CIO__OID_INT2,   CIO__OID_INT4,      CIO__OID_OID,
    CIO__OID_FLOAT4, CIO__OID_FLOAT8,    CIO__OID_NUMERIC,
    CIO__OID_DATE,   CIO__OID_TIMESTAMP, CIO__OID_TIMESTAMPTZ,
    CIO__OID_JSONB,  CIO__OID_TEXT,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint32_t oid = oids[data[0] % (sizeof oids / sizeof *oids)];
  bool binary = data[1] & 1;
  const char *v = (const char *)data + 2;
  size_t len = size - 2;
  /* An exact-size copy, so ASan sees any read past the value. */
  char *copy = malloc(len ? len : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, v, len);
  int64_t i;
  double f;
  bool b;
  if (binary) {
    cio__db_pg_bin_int(oid, copy, len, &i);
    cio__db_pg_bin_float(oid, copy, len, &f);
    cio__db_pg_bin_bool(oid, copy, len, &b);
    char small[160];
    ssize_t n = cio__db_pg_bin_text(oid, copy, len, small, sizeof small);
    if (n >= (ssize_t)sizeof small)
      abort();
    if (n == CIO_ENOSPC) {
      size_t cap = len + 4 * 32768 + 16384 + 16;
      char *big = malloc(cap);
      if (big != NULL) {
        n = cio__db_pg_bin_text(oid, copy, len, big, cap);
        if (n >= (ssize_t)cap)
          abort();
        free(big);
      }
    }
  } else {
    cio__db_parse_int(copy, len, &i);
    cio__db_parse_float(copy, len, &f);
    cio__db_parse_bool(copy, len, &b);
    unsigned char *out = malloc(len ? len : 1);
    size_t outlen;
    if (out != NULL && cio__db_bytea_decode(copy, len, out, &outlen) == 0 &&
        outlen > len)
      abort();
    free(out);
  }
  free(copy);
  return 0;
}
