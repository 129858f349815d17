/* The statement cache of a connection, as asyncpg keeps one: a query
 * whose text (and parameter types) was seen before runs as a named
 * prepared statement, so the server parses and plans it once.  The first
 * use sends Prepare right before the execution, in the same pipeline
 * segment, so caching costs no round trip.
 *
 * (1) At most STMT_CACHE entries; the least recently used is dropped and
 *     deallocated on the server (in the pipeline: after every use of it).
 * (2) An error while preparing, or "prepared statement does not exist" /
 *     "cached plan must not change result type" later (someone ran
 *     DEALLOCATE ALL, or the table changed), drops the entry: the next
 *     call prepares again. */
#include <inttypes.h>
#include <stdio.h>

#include "db/postgres/pg.h"

static uint32_t hash_of(const char *sql, const Oid *types, int n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char *p = sql; *p; p++)
    h = (h ^ (unsigned char)*p) * 16777619u;
  for (int i = 0; i < n; i++)
    h = (h ^ (uint32_t)types[i]) * 16777619u;
  return h ^ (uint32_t)n;
}

static bool same(const struct pg_cached *e, const char *sql, const Oid *types,
                 int n, uint32_t h) {
  if (e->hash != h || e->n != n || strcmp(e->sql, sql) != 0)
    return false;
  for (int i = 0; i < n; i++)
    if (e->types[i] != types[i])
      return false;
  return true;
}

static void drop(cio_pg_conn *c, struct pg_cached *e, bool deallocate) {
  if (deallocate && c->mode == PG_PIPELINE) {
    char sql[64];
    snprintf(sql, sizeof sql, "DEALLOCATE %s", e->name);
    cio__pg_send_detached(c, sql);
  }
  cio__free(c->loop, e->sql);
  *e = (struct pg_cached){0};
}

struct pg_cached *cio__pg_cache_get(cio_pg_conn *c, const char *sql,
                                    const Oid *types, int n, bool *fresh) {
  uint32_t h = hash_of(sql, types, n);
  struct pg_cached *slot = NULL;
  *fresh = false;
  if (n > PG_CACHE_MAX_PARAMS)
    return NULL;
  for (int i = 0; i < STMT_CACHE; i++) {
    struct pg_cached *e = &c->cache[i];
    if (e->sql != NULL && same(e, sql, types, n, h)) {
      e->last_use = ++c->cache_clock;
      return e;
    }
    if (slot == NULL || (slot->sql != NULL &&
                         (e->sql == NULL || e->last_use < slot->last_use)))
      slot = e;
  }
  if (slot->sql != NULL)
    drop(c, slot, true); /* invariant 1 */
  size_t len = strlen(sql) + 1;
  if ((slot->sql = cio__malloc(c->loop, len)) == NULL)
    return NULL;
  memcpy(slot->sql, sql, len);
  slot->hash = h;
  slot->n = n;
  for (int i = 0; i < n; i++)
    slot->types[i] = types[i];
  slot->last_use = ++c->cache_clock;
  snprintf(slot->name, sizeof slot->name, "cio_q%" PRIu64, ++c->stmt_seq);
  *fresh = true;
  return slot;
}

void cio__pg_cache_failed(cio_pg_conn *c, const char *name, bool prepared,
                          const char *sqlstate) {
  bool stale = sqlstate != NULL && (strcmp(sqlstate, "26000") == 0 ||
                                    strcmp(sqlstate, "0A000") == 0);
  if (!prepared && !stale)
    return;
  for (int i = 0; i < STMT_CACHE; i++)
    if (c->cache[i].sql != NULL && strcmp(c->cache[i].name, name) == 0)
      drop(c, &c->cache[i], stale);
}

void cio__pg_cache_clear(cio_pg_conn *c) {
  for (int i = 0; i < STMT_CACHE; i++)
    if (c->cache[i].sql != NULL)
      drop(c, &c->cache[i], false);
}
