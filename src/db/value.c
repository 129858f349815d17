/* Values of both database batteries in their text and binary forms: the
 * parsers behind the typed getters of casyncio/db.h.  They read bytes
 * that come off the wire (PostgreSQL's text and binary formats) or out of
 * a database file, so each checks every length and never trusts a
 * terminator: fuzz/fuzz_pg_value.c runs them on arbitrary input. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>

#include "db/db.h"

/* ---- text forms ------------------------------------------------------ */

int cio__db_parse_int(const char *s, size_t len, int64_t *out) {
  size_t i = 0;
  bool neg = false;
  *out = 0;
  if (i < len && (s[i] == '-' || s[i] == '+'))
    neg = s[i++] == '-';
  if (i == len || !isdigit((unsigned char)s[i]))
    return CIO_EINVAL;
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  bool overflow = false;
  for (; i < len && isdigit((unsigned char)s[i]); i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (limit - d) / 10)
      overflow = true;
    else
      v = v * 10 + d;
  }
  /* numeric's integral values print a zero fraction: "42.000" */
  if (i < len && s[i] == '.') {
    for (i++; i < len && s[i] == '0'; i++)
      continue;
  }
  if (i != len)
    return CIO_EINVAL;
  if (overflow)
    return CIO_ERANGE;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

int cio__db_parse_float(const char *s, size_t len, double *out) {
  char small[128];
  *out = 0;
  if (len == 0 || isspace((unsigned char)s[0]))
    return CIO_EINVAL;
  char *buf = len < sizeof small ? small : malloc(len + 1);
  if (buf == NULL)
    return CIO_ENOMEM;
  memcpy(buf, s, len);
  buf[len] = '\0';
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  int rc = 0;
  if (end != buf + len || (len >= 2 && buf[0] == '0' &&
                           (buf[1] == 'x' || buf[1] == 'X')))
    rc = CIO_EINVAL; /* trailing junk, an inner NUL, or C's hex floats */
  else if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
    rc = CIO_ERANGE;
  if (buf != small)
    free(buf);
  if (rc == 0)
    *out = d;
  return rc;
}

static bool word_is(const char *s, size_t len, const char *w) {
  return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

int cio__db_parse_bool(const char *s, size_t len, bool *out) {
  static const char *const yes[] = {"t", "true", "1", "yes", "on", "y"};
  static const char *const no[] = {"f", "false", "0", "no", "off", "n"};
  *out = false;
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (word_is(s, len, yes[i])) {
      *out = true;
      return 0;
    }
    if (word_is(s, len, no[i]))
      return 0;
  }
  return CIO_EINVAL;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int cio__db_bytea_decode(const char *s, size_t len, unsigned char *out,
                         size_t *outlen) {
  size_t n = 0;
  *outlen = 0;
  if (len >= 2 && s[0] == '\\' && s[1] == 'x') {
    for (size_t i = 2; i < len;) {
      if (isspace((unsigned char)s[i])) {
        i++;
        continue;
      }
      if (i + 1 >= len)
        return CIO_EINVAL;
      int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
      if (hi < 0 || lo < 0)
        return CIO_EINVAL;
      out[n++] = (unsigned char)(hi << 4 | lo);
      i += 2;
    }
    *outlen = n;
    return 0;
  }
  /* The escape form: \\ is a backslash, \ooo an octal byte. */
  for (size_t i = 0; i < len;) {
    if (s[i] != '\\') {
      out[n++] = (unsigned char)s[i++];
    } else if (i + 1 < len && s[i + 1] == '\\') {
      out[n++] = '\\';
      i += 2;
    } else if (i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
               s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' &&
               s[i + 3] <= '7') {
      out[n++] = (unsigned char)((s[i + 1] - '0') << 6 |
                                 (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
      i += 4;
    } else {
      return CIO_EINVAL;
    }
  }
  *outlen = n;
  return 0;
}

/* ---- binary forms (network byte order) ------------------------------- */

static uint64_t be(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

static int bin_number(uint32_t oid, const void *p, size_t len, int64_t *i,
                      double *f, bool *is_float) {
  const unsigned char *b = p;
  *is_float = false;
  switch (oid) {
  case CIO__OID_INT2:
    if (len != 2)
      return CIO_EINVAL;
    *i = (int16_t)be(b, 2);
    return 0;
  case CIO__OID_INT4:
    if (len != 4)
      return CIO_EINVAL;
    *i = (int32_t)be(b, 4);
    return 0;
  case CIO__OID_OID:
    if (len != 4)
      return CIO_EINVAL;
    *i = (uint32_t)be(b, 4);
    return 0;
  case CIO__OID_INT8:
    if (len != 8)
      return CIO_EINVAL;
    *i = (int64_t)be(b, 8);
    return 0;
  case CIO__OID_BOOL:
    if (len != 1)
      return CIO_EINVAL;
    *i = b[0] != 0;
    return 0;
  case CIO__OID_FLOAT4: {
    if (len != 4)
      return CIO_EINVAL;
    uint32_t u = (uint32_t)be(b, 4);
    float x;
    memcpy(&x, &u, 4);
    *f = x;
    *is_float = true;
    return 0;
  }
  case CIO__OID_FLOAT8: {
    if (len != 8)
      return CIO_EINVAL;
    uint64_t u = be(b, 8);
    memcpy(f, &u, 8);
    *is_float = true;
    return 0;
  }
  default:
    return CIO_EINVAL;
  }
}

int cio__db_pg_bin_int(uint32_t oid, const void *p, size_t len, int64_t *out) {
  double f;
  bool is_float;
  *out = 0;
  if (oid == CIO__OID_NUMERIC) {
    char buf[160];
    ssize_t n = cio__db_pg_bin_text(oid, p, len, buf, sizeof buf);
    if (n < 0)
      return n == CIO_ENOSPC ? CIO_ERANGE : (int)n;
    return cio__db_parse_int(buf, (size_t)n, out);
  }
  int rc = bin_number(oid, p, len, out, &f, &is_float);
  if (rc < 0 || !is_float)
    return rc;
  *out = 0;
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
    return CIO_ERANGE;
  if ((double)(int64_t)f != f)
    return CIO_EINVAL;
  *out = (int64_t)f;
  return 0;
}

int cio__db_pg_bin_float(uint32_t oid, const void *p, size_t len,
                         double *out) {
  int64_t i;
  bool is_float;
  *out = 0;
  if (oid == CIO__OID_NUMERIC) {
    char buf[160];
    ssize_t n = cio__db_pg_bin_text(oid, p, len, buf, sizeof buf);
    if (n < 0)
      return n == CIO_ENOSPC ? CIO_ERANGE : (int)n;
    return cio__db_parse_float(buf, (size_t)n, out);
  }
  if (oid == CIO__OID_BOOL)
    return CIO_EINVAL;
  int rc = bin_number(oid, p, len, &i, out, &is_float);
  if (rc == 0 && !is_float)
    *out = (double)i;
  return rc;
}

int cio__db_pg_bin_bool(uint32_t oid, const void *p, size_t len, bool *out) {
  int64_t i = 0;
  double f;
  bool is_float;
  *out = false;
  int rc = bin_number(oid, p, len, &i, &f, &is_float);
  if (rc < 0 || is_float || (i != 0 && i != 1))
    return CIO_EINVAL;
  *out = i == 1;
  return 0;
}

/* ---- text forms of binary values ------------------------------------- */

/* Shortest of %.Ng that reads back the same, as PostgreSQL 12+ prints. */
static int float_text(double d, bool single, char *buf, size_t cap) {
  if (d != d)
    return snprintf(buf, cap, "NaN");
  if (d == HUGE_VAL || d == -HUGE_VAL)
    return snprintf(buf, cap, "%sInfinity", d < 0 ? "-" : "");
  int n = 0;
  for (int prec = single ? 6 : 15; prec <= (single ? 9 : 17); prec++) {
    n = snprintf(buf, cap, "%.*g", prec, d);
    if (single ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
      break;
  }
  return n;
}

static ssize_t numeric_text(const unsigned char *b, size_t len, char *buf,
                            size_t cap) {
  if (len < 8)
    return CIO_EINVAL;
  int ndigits = (int16_t)be(b, 2), weight = (int16_t)be(b + 2, 2);
  unsigned sign = (unsigned)be(b + 4, 2), dscale = (unsigned)be(b + 6, 2);
  if (ndigits < 0 || len != 8 + 2 * (size_t)ndigits || dscale > 0x3FFF)
    return CIO_EINVAL;
  const char *special = sign == 0xC000   ? "NaN"
                        : sign == 0xD000 ? "Infinity"
                        : sign == 0xF000 ? "-Infinity"
                                         : NULL;
  if (special != NULL) {
    int n = snprintf(buf, cap, "%s", special);
    return (size_t)n < cap ? n : CIO_ENOSPC;
  }
  if (sign != 0 && sign != 0x4000)
    return CIO_EINVAL;
  size_t need = (weight >= 0 ? 4 * ((size_t)weight + 1) : 1) + dscale + 3;
  if (need > cap)
    return CIO_ENOSPC;
  size_t n = 0;
  if (sign == 0x4000)
    buf[n++] = '-';
  for (int d = 0; d < ndigits; d++)
    if (be(b + 8 + 2 * d, 2) > 9999)
      return CIO_EINVAL;
  if (weight < 0) {
    buf[n++] = '0';
  } else {
    for (int d = 0; d <= weight; d++) {
      unsigned dig = d < ndigits ? (unsigned)be(b + 8 + 2 * d, 2) : 0;
      n += (size_t)snprintf(buf + n, cap - n, d == 0 ? "%u" : "%04u", dig);
    }
  }
  if (dscale > 0) {
    buf[n++] = '.';
    size_t start = n;
    for (int d = weight + 1; n - start < dscale; d++) {
      unsigned dig = d >= 0 && d < ndigits ? (unsigned)be(b + 8 + 2 * d, 2) : 0;
      n += (size_t)snprintf(buf + n, cap - n, "%04u", dig);
    }
    n = start + dscale;
    buf[n] = '\0';
  }
  return (ssize_t)n;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

#define PG_EPOCH_DAYS 10957 /* 2000-01-01 - 1970-01-01 */

static int date_text(int64_t days, char *buf, size_t cap) {
  int64_t y;
  unsigned m, d;
  civil(days + PG_EPOCH_DAYS, &y, &m, &d);
  bool bc = y <= 0;
  return snprintf(buf, cap, "%04" PRId64 "-%02u-%02u%s", bc ? 1 - y : y, m, d,
                  bc ? " BC" : "");
}

static ssize_t timestamp_text(int64_t us, bool tz, char *buf, size_t cap) {
  if (us == INT64_MAX || us == INT64_MIN)
    return snprintf(buf, cap, "%sinfinity", us == INT64_MIN ? "-" : "");
  int64_t days = us / 86400000000LL, rem = us % 86400000000LL;
  if (rem < 0) {
    rem += 86400000000LL;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil(days + PG_EPOCH_DAYS, &y, &m, &d);
  bool bc = y <= 0;
  int64_t secs = rem / 1000000, frac = rem % 1000000;
  int n = snprintf(buf, cap, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d",
                   bc ? 1 - y : y, m, d, (int)(secs / 3600),
                   (int)(secs / 60 % 60), (int)(secs % 60));
  if (frac != 0 && n > 0 && (size_t)n < cap) {
    char f[8];
    snprintf(f, sizeof f, "%06d", (int)frac);
    for (int i = 5; i > 0 && f[i] == '0'; i--)
      f[i] = '\0';
    n += snprintf(buf + n, cap - (size_t)n, ".%s", f);
  }
  if (n > 0 && (size_t)n < cap)
    n += snprintf(buf + n, cap - (size_t)n, "%s%s", tz ? "+00" : "",
                  bc ? " BC" : "");
  return n;
}

ssize_t cio__db_pg_bin_text(uint32_t oid, const void *p, size_t len,
                            char *buf, size_t cap) {
  const unsigned char *b = p;
  int64_t i;
  double f;
  bool is_float;
  ssize_t n;
  if (cap == 0)
    return CIO_ENOSPC;
  switch (oid) {
  case CIO__OID_NUMERIC:
    return numeric_text(b, len, buf, cap);
  case CIO__OID_DATE:
    if (len != 4)
      return CIO_EINVAL;
    i = (int32_t)be(b, 4);
    n = i == INT32_MAX   ? snprintf(buf, cap, "infinity")
        : i == INT32_MIN ? snprintf(buf, cap, "-infinity")
                         : date_text(i, buf, cap);
    break;
  case CIO__OID_TIMESTAMP:
  case CIO__OID_TIMESTAMPTZ:
    if (len != 8)
      return CIO_EINVAL;
    n = timestamp_text((int64_t)be(b, 8), oid == CIO__OID_TIMESTAMPTZ, buf,
                       cap);
    break;
  case CIO__OID_JSONB:
    if (len < 1 || b[0] != 1)
      return CIO_EINVAL;
    if (len - 1 >= cap)
      return CIO_ENOSPC;
    memcpy(buf, b + 1, len - 1);
    buf[len - 1] = '\0';
    return (ssize_t)len - 1;
  case CIO__OID_BOOL:
    if (len != 1)
      return CIO_EINVAL;
    n = snprintf(buf, cap, "%s", b[0] ? "t" : "f");
    break;
  default: {
    int rc = bin_number(oid, p, len, &i, &f, &is_float);
    if (rc < 0)
      return rc;
    n = is_float ? float_text(f, oid == CIO__OID_FLOAT4, buf, cap)
                 : snprintf(buf, cap, "%" PRId64, i);
  }
  }
  return n >= 0 && (size_t)n < cap ? n : CIO_ENOSPC;
}

bool cio__db_pg_oid_is_text(uint32_t oid) {
  switch (oid) {
  case CIO__OID_TEXT:
  case CIO__OID_VARCHAR:
  case CIO__OID_BPCHAR:
  case CIO__OID_NAME:
  case CIO__OID_CHAR:
  case CIO__OID_JSON:
  case 705: /* unknown: an untyped literal */
    return true;
  default:
    return false;
  }
}

int cio__db_pg_oid_type(uint32_t oid) {
  switch (oid) {
  case CIO__OID_BOOL:
    return CIO_DB_BOOL;
  case CIO__OID_INT2:
  case CIO__OID_INT4:
  case CIO__OID_INT8:
  case CIO__OID_OID:
    return CIO_DB_INT;
  case CIO__OID_FLOAT4:
  case CIO__OID_FLOAT8:
    return CIO_DB_FLOAT;
  case CIO__OID_BYTEA:
    return CIO_DB_BYTES;
  default:
    return CIO_DB_TEXT;
  }
}
