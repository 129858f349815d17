/* Debug mode's registry: every counted object (task, future, handle,
 * stream, server, datagram endpoint, subprocess) and every tracked one (a
 * battery's sessions and connections), with its kind, how to name it and
 * where it was created, so that a loop closing with objects left names
 * each one, and an error nobody read says where its future came from.
 *
 * The creation site is the chain of return addresses at the call to
 * cio__registry_add, recorded by glibc's backtrace() (a microsecond or
 * two, only in debug mode) and symbolized only when a report needs it.
 * That names the user's call whatever constructor it went through,
 * without a macro around every public constructor (which would also
 * report a wrapper's line for every object made through the wrapper).
 *
 * An open-addressing table keyed by the object's address, in libc's heap
 * (debug bookkeeping stays out of the loop allocator's counts).  Loop
 * thread only.
 */
#include <inttypes.h>

#include "debug/debug.h"

enum { SITE_FRAMES = CIO__SITE_FRAMES };

#define TOMBSTONE ((const void *)1)

struct reg_entry {
  const void *obj; /* NULL: free; TOMBSTONE: removed */
  const char *kind;
  cio__describe_fn describe;
  uint64_t seq; /* creation order */
  uint8_t nsite;
  void *site[SITE_FRAMES];
};

struct cio__registry {
  struct reg_entry *slots;
  size_t cap;  /* a power of two */
  size_t used; /* live entries and tombstones */
  size_t live;
  uint64_t seq;
};

const char *cio__obj_kind_name(enum cio__obj_kind kind) {
  static const char *const names[] = {
#define CIO__OBJ_ONE(name, one, many) one,
      CIO__OBJ_KIND_MAP(CIO__OBJ_ONE)
#undef CIO__OBJ_ONE
  };
  return kind < CIO__OBJ_KINDS ? names[kind] : "object";
}

static size_t slot_of(const struct cio__registry *r, const void *obj) {
  uint64_t h = (uint64_t)(uintptr_t)obj * UINT64_C(0x9e3779b97f4a7c15);
  return (size_t)(h >> 17) & (r->cap - 1);
}

static struct reg_entry *find(const struct cio__registry *r, const void *obj) {
  if (r == NULL || r->cap == 0)
    return NULL;
  for (size_t i = slot_of(r, obj);; i = (i + 1) & (r->cap - 1)) {
    struct reg_entry *e = &r->slots[i];
    if (e->obj == obj)
      return e;
    if (e->obj == NULL)
      return NULL;
  }
}

static void insert(struct cio__registry *r, const struct reg_entry *in) {
  for (size_t i = slot_of(r, in->obj);; i = (i + 1) & (r->cap - 1)) {
    if (r->slots[i].obj == NULL || r->slots[i].obj == TOMBSTONE) {
      if (r->slots[i].obj == NULL)
        r->used++;
      r->slots[i] = *in;
      r->live++;
      return;
    }
  }
}

/* Room for one more entry (rehashing away the tombstones when full). */
static bool make_room(struct cio__registry *r) {
  if ((r->used + 1) * 2 <= r->cap)
    return true;
  size_t cap = r->cap ? r->cap : 64;
  while ((r->live + 1) * 2 > cap / 2)
    cap *= 2;
  struct reg_entry *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return false;
  struct reg_entry *old = r->slots;
  size_t old_cap = r->cap;
  *r = (struct cio__registry){.slots = slots, .cap = cap, .seq = r->seq};
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].obj != NULL && old[i].obj != TOMBSTONE)
      insert(r, &old[i]);
  free(old);
  return true;
}

void cio__registry_add(cio_loop *loop, const char *kind, const void *obj,
                       cio__describe_fn describe) {
  struct cio__registry *r = loop->dbg.registry;
  if (r == NULL || obj == NULL || !make_room(r))
    return; /* a debugging aid: without memory, the object goes unlisted */
  struct reg_entry *e = find(r, obj);
  if (e != NULL) { /* reused memory whose removal we missed */
    e->obj = TOMBSTONE;
    r->live--;
  }
  struct reg_entry in = {
      .obj = obj, .kind = kind, .describe = describe, .seq = ++r->seq};
  in.nsite = (uint8_t)cio__backtrace_here(in.site, SITE_FRAMES);
  insert(r, &in);
}

void cio__registry_remove(cio_loop *loop, const void *obj) {
  struct cio__registry *r = loop->dbg.registry;
  struct reg_entry *e = find(r, obj);
  if (e == NULL)
    return;
  e->obj = TOMBSTONE;
  r->live--;
}

int cio__registry_open(cio_loop *loop) {
  loop->dbg.registry = calloc(1, sizeof *loop->dbg.registry);
  return loop->dbg.registry ? 0 : CIO_ENOMEM;
}

void cio__registry_close(cio_loop *loop) {
  struct cio__registry *r = loop->dbg.registry;
  if (r == NULL)
    return;
  free(r->slots);
  free(r);
  loop->dbg.registry = NULL;
}

/* ---- naming and creation sites --------------------------------------- */

void cio__site_put(struct cio__text *out, const struct cio__frame *frames,
                   size_t n) {
  size_t i = cio__frames_first_user(frames, n);
  if (i == n) {
    cio__text_put(out, n > 0 ? "created inside casyncio ("
                             : "created at an unknown place");
    if (n > 0) {
      cio__frame_put(out, &frames[n - 1]);
      cio__text_put(out, ")");
    }
    return;
  }
  cio__text_put(out, "created at ");
  cio__frame_put(out, &frames[i]);
  if (i + 1 < n && !frames[i + 1].library) {
    cio__text_put(out, ", called from ");
    cio__frame_put(out, &frames[i + 1]);
  }
}

size_t cio__registry_site(cio_loop *loop, const void *obj, void **pcs,
                          size_t cap) {
  const struct reg_entry *e = find(loop->dbg.registry, obj);
  size_t n = 0;
  for (; e != NULL && n < e->nsite && n < cap; n++)
    pcs[n] = e->site[n];
  return n;
}

bool cio__registry_put_site(cio_loop *loop, const void *obj,
                            struct cio__text *out) {
  const struct reg_entry *e = find(loop->dbg.registry, obj);
  if (e == NULL)
    return false;
  struct cio__frame frames[SITE_FRAMES];
  cio__frames_from_pcs(frames, e->site, e->nsite);
  cio__site_put(out, frames, e->nsite);
  return true;
}

static void put_entry(cio_loop *loop, const struct reg_entry *e,
                      const struct cio__frame *site, struct cio__text *out) {
  struct cio__text what;
  cio__text_init(&what);
  if (e->describe != NULL)
    e->describe(loop, e->obj, &what);
  else
    cio__text_printf(&what, "%p", e->obj);
  /* "server fd 5, ..." already says what it is. */
  const char *w = cio__text_str(&what);
  size_t klen = strlen(e->kind);
  if (strncmp(w, e->kind, klen) == 0 && w[klen] == ' ')
    cio__text_printf(out, "  %s", w);
  else
    cio__text_printf(out, "  %s %s", e->kind, w);
  cio__text_free(&what);
  cio__text_put(out, ", ");
  cio__site_put(out, site, e->nsite);
  cio__text_put(out, "\n");
}

static int by_seq(const void *a, const void *b) {
  const struct reg_entry *x = *(const struct reg_entry *const *)a;
  const struct reg_entry *y = *(const struct reg_entry *const *)b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Append every live entry, oldest first; returns how many. */
size_t cio__registry_list(cio_loop *loop, struct cio__text *out) {
  struct cio__registry *r = loop->dbg.registry;
  if (r == NULL || r->live == 0)
    return 0;
  const struct reg_entry **list = malloc(r->live * sizeof *list);
  if (list == NULL)
    return 0;
  size_t n = 0;
  for (size_t i = 0; i < r->cap; i++)
    if (r->slots[i].obj != NULL && r->slots[i].obj != TOMBSTONE)
      list[n++] = &r->slots[i];
  qsort(list, n, sizeof *list, by_seq);
  /* Every site symbolized at once: addr2line runs once per module. */
  struct cio__frame *frames = calloc(n * SITE_FRAMES, sizeof *frames);
  if (frames != NULL) {
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < list[i]->nsite; k++)
        frames[i * SITE_FRAMES + k] =
            (struct cio__frame){.pc = list[i]->site[k]};
    cio__symbolize(frames, n * SITE_FRAMES);
    for (size_t i = 0; i < n; i++)
      put_entry(loop, list[i], frames + i * SITE_FRAMES, out);
  }
  free(frames);
  free(list);
  return n;
}
