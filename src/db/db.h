/* Private side of casyncio/db.h shared by the PostgreSQL and SQLite
 * batteries: the result object and the value parsers (src/db/).
 *
 * A result is one allocation plus an arena of chunks for what is made
 * later (text forms of numbers, decoded bytea).  Its values are "cells":
 *   - SQLite builds the cells itself, on its worker thread: native
 *     integers and floats, text and blobs copied into the arena;
 *   - PostgreSQL keeps libpq's PGresult and hands cells out of it on
 *     demand (cell_fn), so a result costs no copy at all.
 * (1) Everything a getter returns lives until cio_db_result_free().
 * (2) A result made on the loop thread uses the loop's allocator
 *     (`loop` != NULL); one made on a worker thread uses malloc. */
#ifndef CIO_DB_PRIVATE_H
#define CIO_DB_PRIVATE_H

#include "casyncio/db.h"
#include "internal.h"

/* PostgreSQL type OIDs the getters know (pg_type.dat). */
enum {
  CIO__OID_BOOL = 16,
  CIO__OID_BYTEA = 17,
  CIO__OID_CHAR = 18,
  CIO__OID_NAME = 19,
  CIO__OID_INT8 = 20,
  CIO__OID_INT2 = 21,
  CIO__OID_INT4 = 23,
  CIO__OID_TEXT = 25,
  CIO__OID_OID = 26,
  CIO__OID_JSON = 114,
  CIO__OID_FLOAT4 = 700,
  CIO__OID_FLOAT8 = 701,
  CIO__OID_BPCHAR = 1042,
  CIO__OID_VARCHAR = 1043,
  CIO__OID_DATE = 1082,
  CIO__OID_TIMESTAMP = 1114,
  CIO__OID_TIMESTAMPTZ = 1184,
  CIO__OID_NUMERIC = 1700,
  CIO__OID_JSONB = 3802,
};

enum cio__cell_kind {
  CIO__CELL_NULL,
  CIO__CELL_INT,   /* i */
  CIO__CELL_FLOAT, /* f */
  CIO__CELL_TEXT,  /* data, len (NUL-terminated) */
  CIO__CELL_BYTES, /* data, len */
  CIO__CELL_PG,    /* data, len: PostgreSQL's form of type `oid`, text
                      (binary false, NUL-terminated) or binary */
};

struct cio__db_cell {
  uint8_t kind; /* cio__cell_kind */
  bool binary;
  uint32_t oid;
  const char *data;
  size_t len;
  int64_t i;
  double f;
};

struct cio__db_col {
  const char *name;
  uint32_t oid;
};

struct cio__db_chunk {
  struct cio__db_chunk *next;
  size_t used, cap;
  max_align_t data[];
};

/* A text form made on demand, remembered per cell. */
struct cio__db_memo {
  struct cio__db_memo *next;
  size_t row, col;
  const char *data;
  size_t len;
  bool is_bytes;
};

typedef void (*cio__db_cell_fn)(const cio_db_result *r, size_t row,
                                size_t col, struct cio__db_cell *out);

struct cio_db_result {
  cio_loop *loop; /* allocator; NULL: malloc (worker thread) */
  size_t nrows, ncols;
  size_t rows_cap;            /* rows the cell array holds */
  struct cio__db_col *cols;   /* ncols */
  struct cio__db_cell *cells; /* nrows * ncols, unless cell_fn */
  cio__db_cell_fn cell_fn;    /* PostgreSQL: cells out of `owner` */
  void *owner;                /* PGresult */
  void (*owner_free)(void *owner);
  const char *tag;
  int64_t rows_affected;
  int64_t last_insert_id;
  bool failed;
  cio_db_error err;
  struct cio__db_chunk *chunks;
  struct cio__db_memo *memos;
};

/* result.c */
/* A result with `ncols` columns and room for `nrows` rows of cells
 * (0 when cells come from cell_fn).  Strings are "" and counts -1. */
cio_db_result *cio__db_result_new(cio_loop *loop, size_t ncols, size_t nrows);
/* `n` bytes from the result's arena (max_align_t aligned), or NULL. */
void *cio__db_result_alloc(cio_db_result *r, size_t n);
/* A copy of `s` (`len` bytes, NUL added) in the arena, or NULL. */
char *cio__db_result_strdup(cio_db_result *r, const char *s, size_t len);
/* Grow the cell array to hold at least `nrows` rows (SQLite's fetch
 * loop); returns 0 or CIO_ENOMEM. */
int cio__db_result_reserve(cio_db_result *r, size_t nrows);

/* value.c: parsers of values in their text and binary forms.  Each
 * returns 0, CIO_EINVAL (not that type) or CIO_ERANGE. */
int cio__db_parse_int(const char *s, size_t len, int64_t *out);
int cio__db_parse_float(const char *s, size_t len, double *out);
int cio__db_parse_bool(const char *s, size_t len, bool *out);
/* bytea's text form ("\x0a0b" or the old escape form) into `out`, which
 * has room for `len` bytes; the decoded size goes to `*outlen`. */
int cio__db_bytea_decode(const char *s, size_t len, unsigned char *out,
                         size_t *outlen);
/* A binary PostgreSQL value of type `oid` as an integer, float or bool. */
int cio__db_pg_bin_int(uint32_t oid, const void *p, size_t len, int64_t *out);
int cio__db_pg_bin_float(uint32_t oid, const void *p, size_t len, double *out);
int cio__db_pg_bin_bool(uint32_t oid, const void *p, size_t len, bool *out);
/* The text form of a binary value of a type without one byte-for-byte
 * (numbers, bools, numeric, date, timestamps) into `buf` (`cap` bytes);
 * returns its length, CIO_EINVAL (malformed or unknown type) or
 * CIO_ENOSPC.  Text types are their own text form: not handled here. */
ssize_t cio__db_pg_bin_text(uint32_t oid, const void *p, size_t len,
                            char *buf, size_t cap);
/* Whether the binary form of `oid` is its text (text, varchar, name,
 * bpchar, char, json). */
bool cio__db_pg_oid_is_text(uint32_t oid);
/* The enum cio_db_type a value of `oid` reads best as. */
int cio__db_pg_oid_type(uint32_t oid);

#endif
