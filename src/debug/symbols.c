/* Code addresses to names, without a debugger or libunwind.
 *
 * dladdr() finds the module (the executable or a shared library) of an
 * address and where it is loaded; the module's own ELF symbol table
 * (.symtab, else .dynsym) names the function, static ones included, as
 * long as the file is not stripped; addr2line (binutils), when installed,
 * adds the source file and line from the debug information.  Nothing is
 * cached: each call maps the files it needs and lets go of them, so there
 * is no global state, and reports are rare.  CIO_ADDR2LINE=off in the
 * environment skips addr2line (CIO_ADDR2LINE=/path/to/it picks one).
 *
 * Which frames are casyncio's own (a report skips them to name the user's
 * code): every frame of libcasyncio.so, or, when the library is linked
 * statically into a program, functions named cio_* and whatever lies
 * between the first and the last of them (the archive's members are laid
 * out together by the linker).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "debug/debug.h"

extern char **environ;

/* The lookup address: a return address points after its call, which may
 * be the first byte of the next function. */
static const void *lookup_pc(const struct cio__frame *f) {
  return f->exact ? f->pc : (const char *)f->pc - 1;
}

/* ---- ELF symbol tables ------------------------------------------------ */

struct elf_file {
  void *map;
  size_t size;
  bool shared; /* ET_DYN: addresses are relative to the load base */
  const Elf64_Sym *syms;
  size_t nsyms;
  const char *strs;
  size_t strs_size;
  uintptr_t lib_lo, lib_hi; /* extent of the cio_* functions, or 0 */
};

static bool in_file(const struct elf_file *e, uint64_t off, uint64_t len) {
  return off <= e->size && len <= e->size - off;
}

/* The symbol table and its strings: .symtab if present, else .dynsym. */
static bool find_symtab(struct elf_file *e) {
  const Elf64_Ehdr *eh = e->map;
  if (!in_file(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
    return false;
  const Elf64_Shdr *sh =
      (const Elf64_Shdr *)((const char *)e->map + eh->e_shoff);
  const Elf64_Shdr *pick = NULL;
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type == SHT_SYMTAB)
      pick = &sh[i];
    else if (sh[i].sh_type == SHT_DYNSYM && pick == NULL)
      pick = &sh[i];
  }
  if (pick == NULL || pick->sh_link >= eh->e_shnum)
    return false;
  const Elf64_Shdr *str = &sh[pick->sh_link];
  if (!in_file(e, pick->sh_offset, pick->sh_size) ||
      !in_file(e, str->sh_offset, str->sh_size))
    return false;
  e->syms = (const Elf64_Sym *)((const char *)e->map + pick->sh_offset);
  e->nsyms = pick->sh_size / sizeof(Elf64_Sym);
  e->strs = (const char *)e->map + str->sh_offset;
  e->strs_size = str->sh_size;
  return true;
}

static bool is_func(const Elf64_Sym *s) {
  int type = ELF64_ST_TYPE(s->st_info);
  return (type == STT_FUNC || type == STT_GNU_IFUNC) &&
         s->st_shndx != SHN_UNDEF && s->st_value != 0;
}

static const char *sym_name(const struct elf_file *e, const Elf64_Sym *s) {
  return s->st_name < e->strs_size ? e->strs + s->st_name : "";
}

/* Where the cio_* functions lie: casyncio linked statically. */
static void find_library_extent(struct elf_file *e) {
  for (size_t i = 0; i < e->nsyms; i++) {
    const Elf64_Sym *s = &e->syms[i];
    if (!is_func(s) || strncmp(sym_name(e, s), "cio_", 4) != 0)
      continue;
    if (e->lib_lo == 0 || s->st_value < e->lib_lo)
      e->lib_lo = s->st_value;
    if (s->st_value + s->st_size > e->lib_hi)
      e->lib_hi = s->st_value + s->st_size;
  }
}

static bool elf_open(struct elf_file *e, const char *path) {
  *e = (struct elf_file){0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
    close(fd);
    return false;
  }
  e->size = (size_t)st.st_size;
  e->map = mmap(NULL, e->size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (e->map == MAP_FAILED) {
    e->map = NULL;
    return false;
  }
  const Elf64_Ehdr *eh = e->map;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || !find_symtab(e)) {
    munmap(e->map, e->size);
    e->map = NULL;
    return false;
  }
  e->shared = eh->e_type == ET_DYN;
  find_library_extent(e);
  return true;
}

static void elf_close(struct elf_file *e) {
  if (e->map != NULL)
    munmap(e->map, e->size);
  e->map = NULL;
}

/* The function containing module address `addr`, or NULL. */
static const Elf64_Sym *elf_lookup(const struct elf_file *e, uintptr_t addr) {
  const Elf64_Sym *best = NULL;
  for (size_t i = 0; i < e->nsyms; i++) {
    const Elf64_Sym *s = &e->syms[i];
    if (!is_func(s) || addr < s->st_value)
      continue;
    if (addr < s->st_value + s->st_size)
      return s;
    /* Assembly without a size: the nearest below, if close. */
    if (s->st_size == 0 && addr - s->st_value < 256 &&
        (best == NULL || s->st_value > best->st_value))
      best = s;
  }
  return best;
}

/* ---- addr2line -------------------------------------------------------- */

enum { A2L_BATCH = 256 };

/* addr2line's command line for `n` addresses of the file at `path`, into
 * `argv` (n + A2L_ARGS slots) with the addresses written in `words`;
 * nothing allocated, so the stall report's signal handler uses it too. */
enum { A2L_ARGS = 9, A2L_WORD = 2 + 16 + 1 };
static void a2l_argv(char **argv, char (*words)[A2L_WORD], const char *prog,
                     const char *path, const uintptr_t *addrs, size_t n) {
  size_t a = 0;
  argv[a++] = (char *)prog;
  argv[a++] = "-a";
  argv[a++] = "-f";
  argv[a++] = "-i";
  argv[a++] = "-p";
  argv[a++] = "-C";
  argv[a++] = "-e";
  argv[a++] = (char *)path;
  for (size_t i = 0; i < n; i++) {
    snprintf(words[i], A2L_WORD, "0x%lx", (unsigned long)addrs[i]);
    argv[a++] = words[i];
  }
  argv[a] = NULL;
}

static const char *addr2line_program(void) {
  const char *p = getenv("CIO_ADDR2LINE");
  if (p == NULL)
    return "addr2line";
  if (*p == '\0' || strcmp(p, "off") == 0 || strcmp(p, "0") == 0)
    return NULL;
  return p;
}

/* Run addr2line on `argv` and read all it prints (NUL-terminated, in
 * libc's heap; NULL when it could not run). */
static char *run_capture(const char *prog, char **argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY,
                                   0);
  pid_t pid;
  int rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  struct cio__text out;
  cio__text_init(&out);
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0)
        cio__text_putn(&out, buf, (size_t)n);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  close(fds[0]);
  if (rc != 0 || out.failed || out.buf == NULL) {
    cio__text_free(&out);
    return NULL;
  }
  return out.buf;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Copy `src` into `dst` (`cap` bytes), cut if longer. */
static void copy_cut(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* "file.c:42" from "/src/file.c:42 (discriminator 1)"; false for "??:0"
 * and the like. */
static bool parse_where(const char *loc, char *out, size_t cap) {
  if (loc[0] == '?')
    return false;
  char tmp[512];
  size_t len = strcspn(loc, " \n");
  if (len >= sizeof tmp)
    len = sizeof tmp - 1;
  memcpy(tmp, loc, len);
  tmp[len] = '\0';
  const char *colon = strrchr(tmp, ':');
  if (colon == NULL || colon[1] == '?' || strcmp(colon, ":0") == 0)
    return false;
  copy_cut(out, cap, base_name(tmp));
  return true;
}

/* Split "FUNC at FILE:LINE..." (addr2line -p) into its two halves. */
static void split_pretty(const char *line, size_t len, char *func, size_t fcap,
                         char *where, size_t wcap) {
  char tmp[768];
  if (len >= sizeof tmp)
    len = sizeof tmp - 1;
  memcpy(tmp, line, len);
  tmp[len] = '\0';
  func[0] = where[0] = '\0';
  char *at = NULL;
  for (char *p = strstr(tmp, " at "); p != NULL; p = strstr(p + 1, " at "))
    at = p; /* the last one: a C++ name may hold " at " */
  if (at == NULL)
    return;
  *at = '\0';
  if (tmp[0] != '?')
    copy_cut(func, fcap, tmp);
  if (!parse_where(at + 4, where, wcap))
    where[0] = '\0';
}

/* Append "func (where)" to a frame's list of inline callers. */
static void add_inlined(struct cio__frame *f, const char *func,
                        const char *where) {
  /* A function split by the compiler shows up inlined into itself. */
  const char *last = strrchr(f->inlined, '\n');
  last = last ? last + 1 : f->inlined[0] ? f->inlined : f->func;
  size_t flen = strlen(func);
  if (func[0] != '\0' && strncmp(last, func, flen) == 0 &&
      (last[flen] == '\0' || last[flen] == ' '))
    return;
  size_t at = strlen(f->inlined);
  int n = snprintf(f->inlined + at, sizeof f->inlined - at, "%s%s (%s)",
                   at ? "\n" : "", func[0] ? func : "?", where);
  if (n < 0 || (size_t)n >= sizeof f->inlined - at)
    f->inlined[at] = '\0'; /* does not fit: left out */
}

/* Read what `addr2line -a -f -i -p` printed for the frames `idx[0..n)`
 * of `frames`, in order. */
static void parse_a2l(const char *text, struct cio__frame *frames,
                      const size_t *idx, size_t n) {
  static const char inl[] = " (inlined by) ";
  size_t k = 0; /* the address being read, plus one */
  for (const char *p = text; *p != '\0';) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char func[sizeof frames[0].func], where[sizeof frames[0].where];
    if (strncmp(p, "0x", 2) == 0 && k < n) {
      const char *colon = memchr(p, ':', len);
      struct cio__frame *f = &frames[idx[k++]];
      if (colon != NULL) {
        size_t skip = (size_t)(colon + 2 - p);
        split_pretty(colon + 2, len > skip ? len - skip : 0, func, sizeof func,
                     where, sizeof where);
        if (func[0] != '\0')
          memcpy(f->func, func, sizeof func);
        if (where[0] != '\0')
          memcpy(f->where, where, sizeof where);
      }
    } else if (strncmp(p, inl, sizeof inl - 1) == 0 && k > 0) {
      split_pretty(p + sizeof inl - 1, len - (sizeof inl - 1), func,
                   sizeof func, where, sizeof where);
      add_inlined(&frames[idx[k - 1]], func, where);
    }
    p = end ? end + 1 : p + len;
  }
}

/* File and line (and the function, if symbols had none) of the frames
 * `idx[0..n)` of `frames`, all in module `path` at `addrs`; a frame of a
 * function inlined into another also gets the chain it was inlined into
 * (addr2line -i). */
static void addr2line_batch(const char *prog, const char *path,
                            struct cio__frame *frames, const size_t *idx,
                            const uintptr_t *addrs, size_t n) {
  char *argv[A2L_BATCH + A2L_ARGS];
  char words[A2L_BATCH][A2L_WORD];
  a2l_argv(argv, words, prog, path, addrs, n);
  char *text = run_capture(prog, argv);
  if (text == NULL)
    return;
  parse_a2l(text, frames, idx, n);
  free(text);
}

/* ---- per module ------------------------------------------------------- */

/* The file to read for module `fname` (into `buf`): the running
 * program's path as dladdr gives it (argv[0]) may be relative to another
 * directory, so the program is found through /proc/self/exe, resolved
 * here (in addr2line, /proc/self would be addr2line). */
static const char *module_path(const char *fname, char *buf, size_t cap) {
  extern char *program_invocation_name;
  if (fname != NULL && fname[0] != '\0' &&
      strcmp(fname, program_invocation_name) != 0)
    return fname;
  ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
  if (n <= 0)
    return fname != NULL ? fname : "";
  buf[n] = '\0';
  return buf;
}

/* The module holding casyncio's own code. */
static const char *library_module(void) {
  static void (*const self)(struct cio__frame *, size_t) = cio__symbolize;
  Dl_info info;
  if (dladdr(CIO__CODE_ADDR(self), &info) == 0)
    return NULL;
  return info.dli_fname;
}

static bool same_module(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Symbolize the frames of `frames[0..n)` whose module is `fname` (loaded
 * at `base`); `done[i]` marks those handled. */
static void symbolize_module(struct cio__frame *frames, size_t n, bool *done,
                             const char *fname, uintptr_t base, bool lines) {
  const char *lib = library_module();
  bool lib_module = same_module(fname, lib);
  bool whole_lib = lib_module && strstr(base_name(fname), "casyncio") != NULL;
  char path_buf[4096];
  const char *path = module_path(fname, path_buf, sizeof path_buf);
  struct elf_file e;
  bool have_elf = elf_open(&e, path);
  const char *prog = lines ? addr2line_program() : NULL;
  size_t idx[A2L_BATCH];
  uintptr_t addrs[A2L_BATCH];
  size_t batch = 0;
  for (size_t i = 0; i < n; i++) {
    Dl_info info;
    if (done[i] || dladdr(lookup_pc(&frames[i]), &info) == 0 ||
        !same_module(info.dli_fname, fname))
      continue;
    done[i] = true;
    struct cio__frame *f = &frames[i];
    uintptr_t pc = (uintptr_t)lookup_pc(f);
    uintptr_t addr = have_elf && !e.shared ? pc : pc - base;
    snprintf(f->where, sizeof f->where, "%.96s+0x%lx", base_name(fname),
             (unsigned long)(pc - base));
    const Elf64_Sym *s = have_elf ? elf_lookup(&e, addr) : NULL;
    if (s != NULL)
      snprintf(f->func, sizeof f->func, "%s", sym_name(&e, s));
    else if (info.dli_sname != NULL) /* the nearest export below: say so */
      snprintf(f->func, sizeof f->func, "%s+0x%lx", info.dli_sname,
               (unsigned long)(pc - (uintptr_t)info.dli_saddr));
    f->library =
        whole_lib || strncmp(f->func, "cio_", 4) == 0 ||
        (lib_module && have_elf && addr >= e.lib_lo && addr < e.lib_hi);
    if (prog != NULL) {
      idx[batch] = i;
      addrs[batch++] = addr;
      if (batch == A2L_BATCH) {
        addr2line_batch(prog, path, frames, idx, addrs, batch);
        batch = 0;
      }
    }
  }
  if (batch > 0)
    addr2line_batch(prog, path, frames, idx, addrs, batch);
  elf_close(&e);
}

/* Symbolize `frames`, each pc once (see cio__symbolize); file and line
 * too with `lines`. */
static void symbolize_unique(struct cio__frame *frames, size_t n, bool lines) {
  bool *done = calloc(n ? n : 1, sizeof *done);
  if (done == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    frames[i].func[0] = frames[i].where[0] = frames[i].inlined[0] = '\0';
    frames[i].library = false;
  }
  for (size_t i = 0; i < n; i++) {
    Dl_info info;
    if (done[i])
      continue;
    if (frames[i].pc == NULL || dladdr(lookup_pc(&frames[i]), &info) == 0) {
      done[i] = true;
      continue;
    }
    symbolize_module(frames, n, done, info.dli_fname, (uintptr_t)info.dli_fbase,
                     lines);
  }
  free(done);
}

static int by_pc(const void *a, const void *b) {
  const struct cio__frame *x = *(const struct cio__frame *const *)a;
  const struct cio__frame *y = *(const struct cio__frame *const *)b;
  if (x->pc != y->pc)
    return (uintptr_t)x->pc < (uintptr_t)y->pc ? -1 : 1;
  return (int)x->exact - (int)y->exact;
}

/* A dump repeats the same addresses in task after task: each distinct
 * one is looked up (and given to addr2line) once, and copied. */
void cio__symbolize(struct cio__frame *frames, size_t n) {
  struct cio__frame **order = malloc((n ? n : 1) * sizeof *order);
  struct cio__frame *unique = malloc((n ? n : 1) * sizeof *unique);
  if (order == NULL || unique == NULL) {
    free(order);
    free(unique);
    symbolize_unique(frames, n, true); /* slower, same result */
    return;
  }
  for (size_t i = 0; i < n; i++)
    order[i] = &frames[i];
  qsort(order, n, sizeof *order, by_pc);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || by_pc(&order[i], &order[i - 1]) != 0)
      unique[u++] = (struct cio__frame){.pc = order[i]->pc,
                                        .exact = order[i]->exact};
  symbolize_unique(unique, u, true);
  for (size_t i = 0, k = 0; i < n; i++) {
    if (i > 0 && by_pc(&order[i], &order[i - 1]) != 0)
      k++;
    *order[i] = unique[k];
  }
  free(order);
  free(unique);
}

void cio__frame_put(struct cio__text *out, const struct cio__frame *f) {
  if (f->func[0] != '\0' && f->where[0] != '\0')
    cio__text_printf(out, "%s (%s)", f->func, f->where);
  else if (f->func[0] != '\0')
    cio__text_put(out, f->func);
  else if (f->where[0] != '\0')
    cio__text_printf(out, "%p (%s)", f->pc, f->where);
  else
    cio__text_printf(out, "%p", f->pc);
}

void cio__frames_put_list(struct cio__text *out, const struct cio__frame *f,
                          size_t n, const char *indent) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    cio__text_printf(out, "%s#%zu ", indent, k++);
    cio__frame_put(out, &f[i]);
    cio__text_put(out, "\n");
    for (const char *p = f[i].inlined; *p != '\0';) {
      size_t len = strcspn(p, "\n");
      cio__text_printf(out, "%s#%zu ", indent, k++);
      cio__text_putn(out, p, len);
      cio__text_put(out, "\n");
      p += len + (p[len] == '\n');
    }
  }
}

void cio__frames_from_pcs(struct cio__frame *frames, void *const *pcs,
                          size_t n) {
  for (size_t i = 0; i < n; i++)
    frames[i] = (struct cio__frame){.pc = pcs[i]};
  cio__symbolize(frames, n);
}

size_t cio__frames_first_user(const struct cio__frame *frames, size_t n) {
  size_t i = 0;
  while (i < n && frames[i].library)
    i++;
  return i;
}

void cio__text_code(struct cio__text *out, const void *code) {
  struct cio__frame f = {.pc = code, .exact = true};
  cio__symbolize(&f, 1);
  cio__frame_put(out, &f);
}

void cio__text_code_name(struct cio__text *out, const void *code) {
  struct cio__frame f = {.pc = code, .exact = true};
  symbolize_unique(&f, 1, false);
  if (f.func[0] != '\0')
    cio__text_put(out, f.func);
  else
    cio__frame_put(out, &f);
}

/* ---- from a signal handler (stall reports) ------------------------------
 *
 * The stall report is written by a signal handler on the stuck loop
 * thread, so this symbolizes without dladdr, malloc or stdio: the module
 * of an address comes from /proc/self/maps, its function from the ELF
 * symbol table (mapped with mmap), its line from addr2line started with a
 * raw fork and execve.  Only system calls the kernel offers to handlers,
 * and buffers the caller provides. */

struct mapping {
  uintptr_t start, end, offset;
  char path[256];
};

static bool parse_hex(const char **p, uintptr_t *out) {
  uintptr_t v = 0;
  const char *s = *p;
  for (; (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'); s++)
    v = v * 16 + (uintptr_t)(*s <= '9' ? *s - '0' : *s - 'a' + 10);
  if (s == *p)
    return false;
  *p = s;
  *out = v;
  return true;
}

/* "start-end perms offset dev inode   path": true when it holds `pc`. */
static bool map_line(const char *line, uintptr_t pc, struct mapping *m) {
  const char *p = line;
  if (!parse_hex(&p, &m->start) || *p++ != '-' || !parse_hex(&p, &m->end))
    return false;
  if (pc < m->start || pc >= m->end)
    return false;
  for (int field = 0; field < 4 && *p != '\0'; field++) {
    while (*p == ' ')
      p++;
    if (field == 1 && !parse_hex(&p, &m->offset))
      return false;
    while (*p != ' ' && *p != '\0')
      p++;
  }
  while (*p == ' ')
    p++;
  copy_cut(m->path, sizeof m->path, p);
  return m->path[0] == '/';
}

static bool find_mapping(uintptr_t pc, struct mapping *m) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char buf[2048];
  size_t have = 0;
  bool found = false;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0)
      break;
    have += (size_t)n;
    buf[have] = '\0';
    char *line = buf, *nl;
    while (!found && (nl = strchr(line, '\n')) != NULL) {
      *nl = '\0';
      found = map_line(line, pc, m);
      line = nl + 1;
    }
    if (found)
      break;
    have -= (size_t)(line - buf);
    memmove(buf, line, have);
    if (have == sizeof buf - 1)
      have = 0; /* a line longer than the buffer: not ours to read */
  }
  close(fd);
  return found;
}

/* The load bias of the module mapped at `m` (0 for a fixed executable). */
static uintptr_t load_bias(const struct elf_file *e, const struct mapping *m,
                           uintptr_t pc) {
  if (!e->shared)
    return 0;
  const Elf64_Ehdr *eh = e->map;
  if (!in_file(e, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
    return m->start - m->offset;
  const Elf64_Phdr *ph =
      (const Elf64_Phdr *)((const char *)e->map + eh->e_phoff);
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD)
      continue;
    /* Where this segment would put the mapping's file offset. */
    uintptr_t bias = m->start - m->offset - ph[i].p_vaddr + ph[i].p_offset;
    if (pc - bias >= ph[i].p_vaddr && pc - bias < ph[i].p_vaddr + ph[i].p_memsz)
      return bias;
  }
  return m->start - m->offset;
}

/* Run addr2line on `argv` as the stall handler may: a raw fork, execve
 * along $PATH; its output into `out`.  False when nothing came. */
static bool run_capture_raw(const char *prog, char **argv, char *out,
                            size_t cap) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return false;
  long pid = cio__raw_syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    cio__raw_syscall(SYS_dup3, fds[1], STDOUT_FILENO, 0, 0, 0);
    long dn = cio__raw_syscall(SYS_openat, AT_FDCWD, (long)"/dev/null",
                               O_WRONLY, 0, 0);
    if (dn >= 0)
      cio__raw_syscall(SYS_dup3, dn, STDERR_FILENO, 0, 0, 0);
    const char *path = strchr(prog, '/') ? "" : getenv("PATH");
    char full[512];
    for (const char *p = path ? path : "/usr/bin";;) {
      size_t len = strcspn(p, ":");
      if (len + 1 + strlen(prog) < sizeof full) {
        memcpy(full, p, len);
        full[len] = len ? '/' : '\0';
        strcpy(full + len + (len ? 1 : 0), prog);
        cio__raw_syscall(SYS_execve, (long)full, (long)argv, (long)environ, 0,
                         0);
      }
      if (p[len] == '\0')
        break;
      p += len + 1;
    }
    cio__raw_syscall(SYS_exit_group, 127, 0, 0, 0, 0);
  }
  close(fds[1]);
  size_t have = 0;
  if (pid > 0) {
    ssize_t n;
    while (have + 1 < cap &&
           ((n = read(fds[0], out + have, cap - 1 - have)) > 0 ||
            (n < 0 && errno == EINTR)))
      if (n > 0)
        have += (size_t)n;
    while (cio__raw_syscall(SYS_wait4, pid, 0, 0, 0, 0) == -EINTR)
      ;
  }
  close(fds[0]);
  out[have] = '\0';
  return have > 0;
}

void cio__symbolize_sigsafe(struct cio__frame *frames, size_t n, char *scratch,
                            size_t scratch_cap) {
  struct mapping self, m;
  static void (*const me)(struct cio__frame *, size_t, char *, size_t) =
      cio__symbolize_sigsafe;
  bool have_self = find_mapping((uintptr_t)CIO__CODE_ADDR(me), &self);
  bool whole_lib = have_self && strstr(base_name(self.path), "casyncio");
  const char *prog = addr2line_program();
  for (size_t i = 0; i < n; i++) {
    frames[i].func[0] = frames[i].where[0] = frames[i].inlined[0] = '\0';
    frames[i].library = false;
  }
  /* One module at a time: its frames, then addr2line once for them. */
  bool done[64] = {0};
  for (size_t i = 0; i < n && i < 64; i++) {
    uintptr_t pc = (uintptr_t)lookup_pc(&frames[i]);
    if (done[i] || !find_mapping(pc, &m))
      continue;
    struct elf_file e;
    bool have_elf = elf_open(&e, m.path);
    bool lib_module = have_self && strcmp(m.path, self.path) == 0;
    size_t idx[64];
    uintptr_t addrs[64];
    size_t k = 0;
    uintptr_t bias = have_elf ? load_bias(&e, &m, pc) : m.start - m.offset;
    for (size_t j = i; j < n && j < 64; j++) {
      uintptr_t pj = (uintptr_t)lookup_pc(&frames[j]);
      if (done[j] || pj < m.start || pj >= m.end)
        continue; /* other segments of the module come in their turn */
      done[j] = true;
      struct cio__frame *f = &frames[j];
      uintptr_t addr = pj - bias;
      snprintf(f->where, sizeof f->where, "%.96s+0x%lx", base_name(m.path),
               (unsigned long)(pj - (m.start - m.offset)));
      const Elf64_Sym *s = have_elf ? elf_lookup(&e, addr) : NULL;
      if (s != NULL)
        copy_cut(f->func, sizeof f->func, sym_name(&e, s));
      f->library =
          (lib_module && whole_lib) || strncmp(f->func, "cio_", 4) == 0 ||
          (lib_module && have_elf && addr >= e.lib_lo && addr < e.lib_hi);
      idx[k] = j;
      addrs[k++] = addr;
    }
    elf_close(&e);
    if (prog == NULL || k == 0 || scratch_cap < 1024)
      continue;
    char *argv[64 + A2L_ARGS];
    char words[64][A2L_WORD];
    a2l_argv(argv, words, prog, m.path, addrs, k);
    if (run_capture_raw(prog, argv, scratch, scratch_cap))
      parse_a2l(scratch, frames, idx, k);
  }
}
