/* Results of both database batteries (casyncio/db.h): the getters over
 * cells, the arena, and free.  See db.h for the layout.
 *
 * Getters look a cell up (from the cell array, or from PostgreSQL's
 * PGresult through cell_fn), then read it with the parsers of value.c.
 * A text form made on demand (an integer's digits, a decoded bytea) is
 * kept in a memo list so that asking twice returns the same pointer. */
#include <inttypes.h>
#include <stdio.h>

#include "db/db.h"

static const char empty[] = "";

cio_db_result *cio__db_result_new(cio_loop *loop, size_t ncols, size_t nrows) {
  cio_db_result *r = cio__calloc(loop, 1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->loop = loop;
  r->ncols = ncols;
  r->tag = empty;
  r->rows_affected = -1;
  r->last_insert_id = -1;
  r->err = (cio_db_error){empty, empty, empty, empty, empty, 0};
  if (ncols > 0) {
    r->cols = cio__db_result_alloc(r, ncols * sizeof *r->cols);
    if (r->cols == NULL)
      goto fail;
    for (size_t i = 0; i < ncols; i++)
      r->cols[i] = (struct cio__db_col){.name = empty};
  }
  if (nrows > 0 && cio__db_result_reserve(r, nrows) < 0)
    goto fail;
  return r;

fail:
  cio_db_result_free(r);
  return NULL;
}

void *cio__db_result_alloc(cio_db_result *r, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  struct cio__db_chunk *c = r->chunks;
  if (c == NULL || c->cap - c->used < n) {
    size_t cap = n > 4000 ? n : 4000;
    c = cio__malloc(r->loop, sizeof *c + cap);
    if (c == NULL)
      return NULL;
    c->used = 0;
    c->cap = cap;
    c->next = r->chunks;
    r->chunks = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

char *cio__db_result_strdup(cio_db_result *r, const char *s, size_t len) {
  char *p = cio__db_result_alloc(r, len + 1);
  if (p == NULL)
    return NULL;
  if (len > 0)
    memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

int cio__db_result_reserve(cio_db_result *r, size_t nrows) {
  if (r->ncols == 0 || nrows <= r->rows_cap)
    return 0;
  if (nrows < 2 * r->rows_cap)
    nrows = 2 * r->rows_cap;
  if (nrows > SIZE_MAX / r->ncols / sizeof *r->cells)
    return CIO_ENOMEM;
  size_t n = nrows * r->ncols;
  struct cio__db_cell *cells = cio__malloc(r->loop, n * sizeof *cells);
  if (cells == NULL)
    return CIO_ENOMEM;
  if (r->cells != NULL) {
    memcpy(cells, r->cells, r->nrows * r->ncols * sizeof *cells);
    cio__free(r->loop, r->cells);
  }
  r->cells = cells;
  r->rows_cap = nrows;
  return 0;
}

void cio_db_result_free(cio_db_result *r) {
  if (r == NULL)
    return;
  if (r->owner_free != NULL)
    r->owner_free(r->owner);
  cio_loop *loop = r->loop;
  struct cio__db_chunk *c = r->chunks;
  while (c != NULL) {
    struct cio__db_chunk *next = c->next;
    cio__free(loop, c);
    c = next;
  }
  cio__free(loop, r->cells);
  cio__free(loop, r);
}

/* ---- cells ---------------------------------------------------------- */

static bool cell_at(const cio_db_result *r, size_t row, size_t col,
                    struct cio__db_cell *out) {
  if (r == NULL || row >= r->nrows || col >= r->ncols)
    return false;
  if (r->cell_fn != NULL)
    r->cell_fn(r, row, col, out);
  else
    *out = r->cells[row * r->ncols + col];
  return true;
}

size_t cio_db_result_nrows(const cio_db_result *r) {
  return r ? r->nrows : 0;
}

size_t cio_db_result_ncols(const cio_db_result *r) {
  return r ? r->ncols : 0;
}

const char *cio_db_result_column_name(const cio_db_result *r, size_t col) {
  return r && col < r->ncols ? r->cols[col].name : NULL;
}

int cio_db_result_column_index(const cio_db_result *r, const char *name) {
  if (r == NULL || name == NULL)
    return CIO_EINVAL;
  for (size_t i = 0; i < r->ncols; i++)
    if (strcmp(r->cols[i].name, name) == 0)
      return (int)i;
  return CIO_ENOENT;
}

uint32_t cio_db_result_column_oid(const cio_db_result *r, size_t col) {
  return r && col < r->ncols ? r->cols[col].oid : 0;
}

int cio_db_result_type(const cio_db_result *r, size_t row, size_t col) {
  struct cio__db_cell c;
  if (!cell_at(r, row, col, &c))
    return CIO_EINVAL;
  switch (c.kind) {
  case CIO__CELL_NULL:
    return CIO_DB_NULL;
  case CIO__CELL_INT:
    return CIO_DB_INT;
  case CIO__CELL_FLOAT:
    return CIO_DB_FLOAT;
  case CIO__CELL_TEXT:
    return CIO_DB_TEXT;
  case CIO__CELL_BYTES:
    return CIO_DB_BYTES;
  default:
    return cio__db_pg_oid_type(c.oid);
  }
}

bool cio_db_result_is_null(const cio_db_result *r, size_t row, size_t col) {
  struct cio__db_cell c;
  return cell_at(r, row, col, &c) && c.kind == CIO__CELL_NULL;
}

int cio_db_result_int(const cio_db_result *r, size_t row, size_t col,
                      int64_t *out) {
  struct cio__db_cell c;
  if (out == NULL)
    return CIO_EINVAL;
  *out = 0;
  if (!cell_at(r, row, col, &c))
    return CIO_EINVAL;
  switch (c.kind) {
  case CIO__CELL_NULL:
    return CIO_ENODATA;
  case CIO__CELL_INT:
    *out = c.i;
    return 0;
  case CIO__CELL_FLOAT:
    if (!(c.f >= -9223372036854775808.0 && c.f < 9223372036854775808.0))
      return CIO_ERANGE;
    if ((double)(int64_t)c.f != c.f)
      return CIO_EINVAL;
    *out = (int64_t)c.f;
    return 0;
  case CIO__CELL_TEXT:
    return cio__db_parse_int(c.data, c.len, out);
  case CIO__CELL_BYTES:
    return CIO_EINVAL;
  default:
    if (c.binary)
      return cio__db_pg_bin_int(c.oid, c.data, c.len, out);
    if (c.oid == CIO__OID_BOOL) {
      bool b;
      int rc = cio__db_parse_bool(c.data, c.len, &b);
      *out = b;
      return rc;
    }
    return cio__db_parse_int(c.data, c.len, out);
  }
}

int cio_db_result_float(const cio_db_result *r, size_t row, size_t col,
                        double *out) {
  struct cio__db_cell c;
  if (out == NULL)
    return CIO_EINVAL;
  *out = 0;
  if (!cell_at(r, row, col, &c))
    return CIO_EINVAL;
  switch (c.kind) {
  case CIO__CELL_NULL:
    return CIO_ENODATA;
  case CIO__CELL_INT:
    *out = (double)c.i;
    return 0;
  case CIO__CELL_FLOAT:
    *out = c.f;
    return 0;
  case CIO__CELL_TEXT:
    return cio__db_parse_float(c.data, c.len, out);
  case CIO__CELL_BYTES:
    return CIO_EINVAL;
  default:
    if (c.binary)
      return cio__db_pg_bin_float(c.oid, c.data, c.len, out);
    return cio__db_parse_float(c.data, c.len, out);
  }
}

int cio_db_result_bool(const cio_db_result *r, size_t row, size_t col,
                       bool *out) {
  struct cio__db_cell c;
  if (out == NULL)
    return CIO_EINVAL;
  *out = false;
  if (!cell_at(r, row, col, &c))
    return CIO_EINVAL;
  switch (c.kind) {
  case CIO__CELL_NULL:
    return CIO_ENODATA;
  case CIO__CELL_INT:
    if (c.i != 0 && c.i != 1)
      return CIO_EINVAL;
    *out = c.i == 1;
    return 0;
  case CIO__CELL_FLOAT:
  case CIO__CELL_BYTES:
    return CIO_EINVAL;
  case CIO__CELL_TEXT:
    return cio__db_parse_bool(c.data, c.len, out);
  default:
    if (c.binary)
      return cio__db_pg_bin_bool(c.oid, c.data, c.len, out);
    return cio__db_parse_bool(c.data, c.len, out);
  }
}

/* ---- text and bytes made on demand ---------------------------------- */

static struct cio__db_memo *memo_find(cio_db_result *r, size_t row,
                                      size_t col, bool is_bytes) {
  for (struct cio__db_memo *m = r->memos; m != NULL; m = m->next)
    if (m->row == row && m->col == col && m->is_bytes == is_bytes)
      return m;
  return NULL;
}

static struct cio__db_memo *memo_add(cio_db_result *r, size_t row, size_t col,
                                     bool is_bytes, const char *data,
                                     size_t len) {
  struct cio__db_memo *m = cio__db_result_alloc(r, sizeof *m);
  if (m == NULL)
    return NULL;
  *m = (struct cio__db_memo){.next = r->memos, .row = row, .col = col,
                             .data = data, .len = len, .is_bytes = is_bytes};
  r->memos = m;
  return m;
}

/* bytes as PostgreSQL prints bytea: \x then hex. */
static const char *hex_text(cio_db_result *r, const char *data, size_t n,
                            size_t *len) {
  static const char hex[] = "0123456789abcdef";
  char *p = cio__db_result_alloc(r, 2 * n + 3);
  if (p == NULL)
    return NULL;
  p[0] = '\\';
  p[1] = 'x';
  const unsigned char *b = (const unsigned char *)data;
  for (size_t i = 0; i < n; i++) {
    p[2 + 2 * i] = hex[b[i] >> 4];
    p[3 + 2 * i] = hex[b[i] & 15];
  }
  p[2 + 2 * n] = '\0';
  *len = 2 + 2 * n;
  return p;
}

/* The text of a cell that is not stored as text; NULL if it has none. */
static const char *make_text(cio_db_result *r, const struct cio__db_cell *c,
                             size_t *len) {
  char buf[160];
  ssize_t n;
  if (c->kind == CIO__CELL_BYTES ||
      (c->kind == CIO__CELL_PG && c->oid == CIO__OID_BYTEA))
    return hex_text(r, c->data, c->len, len);
  if (c->kind == CIO__CELL_PG && cio__db_pg_oid_is_text(c->oid)) {
    *len = c->len; /* binary text is not NUL-terminated */
    return cio__db_result_strdup(r, c->data, c->len);
  }
  if (c->kind == CIO__CELL_INT)
    n = snprintf(buf, sizeof buf, "%" PRId64, c->i);
  else if (c->kind == CIO__CELL_FLOAT)
    n = snprintf(buf, sizeof buf, "%.17g", c->f);
  else
    n = cio__db_pg_bin_text(c->oid, c->data, c->len, buf, sizeof buf);
  if (n == CIO_ENOSPC) {
    /* A long numeric (up to 131072 digits before the point, 16383
     * after) or jsonb: once, in the arena. */
    size_t cap = c->len + 4 * 32768 + 16384 + 16;
    char *big = cio__db_result_alloc(r, cap);
    if (big == NULL)
      return NULL;
    n = cio__db_pg_bin_text(c->oid, c->data, c->len, big, cap);
    *len = n < 0 ? 0 : (size_t)n;
    return n < 0 ? NULL : big;
  }
  if (n < 0)
    return NULL;
  *len = (size_t)n;
  return cio__db_result_strdup(r, buf, (size_t)n);
}

const char *cio_db_result_text(cio_db_result *r, size_t row, size_t col,
                               size_t *len) {
  struct cio__db_cell c;
  size_t dummy;
  if (len == NULL)
    len = &dummy;
  *len = 0;
  if (!cell_at(r, row, col, &c) || c.kind == CIO__CELL_NULL)
    return NULL;
  if (c.kind == CIO__CELL_TEXT || (c.kind == CIO__CELL_PG && !c.binary)) {
    *len = c.len;
    return c.data;
  }
  struct cio__db_memo *m = memo_find(r, row, col, false);
  if (m == NULL) {
    size_t n = 0;
    const char *t = make_text(r, &c, &n);
    if (t == NULL || (m = memo_add(r, row, col, false, t, n)) == NULL)
      return NULL;
  }
  *len = m->len;
  return m->data;
}

int cio_db_result_bytes(cio_db_result *r, size_t row, size_t col,
                        const void **data, size_t *len) {
  struct cio__db_cell c;
  if (data == NULL || len == NULL)
    return CIO_EINVAL;
  *data = NULL;
  *len = 0;
  if (!cell_at(r, row, col, &c))
    return CIO_EINVAL;
  switch (c.kind) {
  case CIO__CELL_NULL:
    return CIO_ENODATA;
  case CIO__CELL_INT:
  case CIO__CELL_FLOAT:
    return CIO_EINVAL;
  case CIO__CELL_TEXT:
  case CIO__CELL_BYTES:
    break;
  default:
    if (c.oid == CIO__OID_BYTEA && !c.binary)
      break; /* decoded below */
    if (c.binary && c.oid != CIO__OID_BYTEA && !cio__db_pg_oid_is_text(c.oid))
      return CIO_EINVAL;
    *data = c.data;
    *len = c.len;
    return 0;
  }
  if (c.kind != CIO__CELL_PG) {
    *data = c.data;
    *len = c.len;
    return 0;
  }
  struct cio__db_memo *m = memo_find(r, row, col, true);
  if (m == NULL) {
    unsigned char *buf = cio__db_result_alloc(r, c.len + 1);
    size_t n;
    if (buf == NULL)
      return CIO_ENOMEM;
    int rc = cio__db_bytea_decode(c.data, c.len, buf, &n);
    if (rc < 0)
      return rc;
    m = memo_add(r, row, col, true, (const char *)buf, n);
    if (m == NULL)
      return CIO_ENOMEM;
  }
  *data = m->data;
  *len = m->len;
  return 0;
}

/* ---- the command ----------------------------------------------------- */

const char *cio_db_result_command_tag(const cio_db_result *r) {
  return r ? r->tag : empty;
}

int64_t cio_db_result_rows_affected(const cio_db_result *r) {
  return r ? r->rows_affected : -1;
}

int64_t cio_db_result_last_insert_id(const cio_db_result *r) {
  return r ? r->last_insert_id : -1;
}

const cio_db_error *cio_db_result_error(const cio_db_result *r) {
  return r && r->failed ? &r->err : NULL;
}
