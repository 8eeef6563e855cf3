/* loop/symbolize.c — naming a callback's address (see symbolize.h).
 *
 * The dynamic loader says which object holds the address and where it is
 * loaded (dladdr1).  With libdw (EVA_HAVE_LIBDW) the watchdog then reads that
 * object's symbol table, which names static functions too, and its DWARF for
 * the function's file:line.  Debug info comes from the file itself or from a
 * -dbgsym package by build-id (/usr/lib/debug/.build-id/): never from a
 * debuginfod server, whose network fetch would stall the watchdog.
 */
#define _GNU_SOURCE /* dladdr1, struct link_map */
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if EVA_HAVE_LIBDW
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#endif

#include "symbolize.h"

/* The object holding an address, as the dynamic loader knows it. */
typedef struct object {
    const char *path;  /* the file to read: /proc/self/exe for the program */
    const char *shown; /* how reports name it: the loader's name */
    uintptr_t bias;    /* load bias: an address in the file, plus bias, is in memory */
} object;

static bool object_of(uintptr_t addr, object *o) {
    Dl_info info;
    struct link_map *map = NULL;
    if (!dladdr1((void *)addr, &info, (void **)&map, RTLD_DL_LINKMAP) || !map)
        return false;
    /* The program's own link_map has an empty name, and dladdr's is argv[0],
     * relative to a directory the daemon may have left. */
    bool program = !map->l_name || !map->l_name[0];
    o->path = program ? "/proc/self/exe" : map->l_name;
    o->shown = info.dli_fname && info.dli_fname[0] ? info.dli_fname : o->path;
    o->bias = map->l_addr;
    return true;
}

/* out's phrase: the address in its object, and why it has no name. */
static void name_unknown(eva__name *out, uintptr_t addr, const object *o, const char *why) {
    out->symbol[0] = '\0';
    if (!o) {
        snprintf(out->phrase, sizeof out->phrase, "at %#lx (in no loaded object)",
                 (unsigned long)addr);
        return;
    }
    unsigned long in_file = (unsigned long)(addr - o->bias); /* what addr2line takes */
    snprintf(out->phrase, sizeof out->phrase, "at %s+%#lx (%s)", o->shown, in_file, why);
}

/* out's phrase from a symbol and, if known, where it is declared. */
static void name_found(eva__name *out, const char *symbol, unsigned long offset,
                       const char *file, int line) {
    snprintf(out->symbol, sizeof out->symbol, "%s", symbol);
    int n = offset ? snprintf(out->phrase, sizeof out->phrase, "%s+%#lx", symbol, offset)
                   : snprintf(out->phrase, sizeof out->phrase, "%s()", symbol);
    if (file && n >= 0 && (size_t)n < sizeof out->phrase) {
        const char *base = strrchr(file, '/');
        snprintf(out->phrase + n, sizeof out->phrase - (size_t)n, " (%s:%d)",
                 base ? base + 1 : file, line);
    }
}

#if EVA_HAVE_LIBDW

/* libdw's module for o, reported to it on first use. */
static Dwfl_Module *module_of(eva__names *n, const object *o, uintptr_t addr) {
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_build_id_find_debuginfo, /* build-id only: no debuginfod */
        .section_address = dwfl_offline_section_address,
    };
    if (!n->dwfl && !(n->dwfl = dwfl_begin(&callbacks)))
        return NULL;
    Dwfl_Module *m = dwfl_addrmodule(n->dwfl, addr);
    if (m)
        return m;
    dwfl_report_begin_add(n->dwfl);
    m = dwfl_report_elf(n->dwfl, o->shown, o->path, -1, o->bias, true);
    dwfl_report_end(n->dwfl, NULL, NULL);
    return m;
}

/* The compile unit holding addr.  libdw finds it through .debug_aranges,
 * which clang does not emit: then each unit is asked. */
static Dwarf_Die *unit_of(Dwfl_Module *m, uintptr_t addr, Dwarf_Addr *bias) {
    Dwarf_Die *cu = dwfl_module_addrdie(m, addr, bias);
    for (Dwarf_Die *next = NULL; !cu && (next = dwfl_module_nextcu(m, next, bias));)
        if (dwarf_haspc(next, addr - *bias) > 0)
            cu = next;
    return cu;
}

/* Where the function holding addr is declared, from its DWARF entry. */
static bool declared_at(Dwfl_Module *m, uintptr_t addr, const char **file, int *line) {
    Dwarf_Addr bias;
    Dwarf_Die *cu = unit_of(m, addr, &bias);
    Dwarf_Die *scopes = NULL;
    int count = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
    bool found = false;
    for (int i = 0; i < count && !found; i++) { /* innermost first */
        if (dwarf_tag(&scopes[i]) != DW_TAG_subprogram)
            continue;
        *file = dwarf_decl_file(&scopes[i]);
        found = *file && dwarf_decl_line(&scopes[i], line) == 0;
    }
    free(scopes);
    return found;
}

static bool has_symbol_table(Dwfl_Module *m) {
    GElf_Addr bias;
    Elf *elf = dwfl_module_getelf(m, &bias);
    for (Elf_Scn *scn = NULL; elf && (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_SYMTAB)
            return true;
    }
    return false;
}

static void name_address(eva__names *n, uintptr_t addr, const object *o, eva__name *out) {
    Dwfl_Module *m = module_of(n, o, addr);
    if (!m) {
        name_unknown(out, addr, o, "its file could not be read: addr2line -f -e FILE names it");
        return;
    }
    GElf_Off offset;
    GElf_Sym sym;
    const char *symbol = dwfl_module_addrinfo(m, addr, &offset, &sym, NULL, NULL, NULL);
    /* A stripped object still has its exported symbols: the nearest one below
     * addr names it only if it spans it. */
    bool covers = symbol && (sym.st_size ? offset < sym.st_size : offset == 0);
    if (!covers) {
        name_unknown(out, addr, o,
                     has_symbol_table(m)
                         ? "in no function of its symbol table"
                         : "no symbol table: built stripped; install its -dbgsym package, "
                           "or build with -g and do not strip");
        return;
    }
    const char *file = NULL;
    int line = 0;
    if (!declared_at(m, addr, &file, &line))
        file = NULL;
    name_found(out, symbol, (unsigned long)offset, file, line);
}

#else /* no libdw: the dynamic symbols only */

static void name_address(eva__names *n, uintptr_t addr, const object *o, eva__name *out) {
    (void)n;
    Dl_info info;
    if (dladdr((void *)addr, &info) && info.dli_sname && info.dli_saddr == (void *)addr)
        name_found(out, info.dli_sname, 0, NULL, 0);
    else
        name_unknown(out, addr, o,
                     "not exported, and evasync was built without libdw: "
                     "addr2line -f -e FILE names it");
}

#endif

const eva__name *eva__names_find(const eva__names *n, uintptr_t addr) {
    for (unsigned i = 0; i < EVA__NAMES_CACHED; i++) {
        uintptr_t at = atomic_load_explicit(&n->cached[i].addr, memory_order_acquire);
        if (at == addr)
            return &n->cached[i];
        if (!at)
            return NULL; /* entries fill in order */
    }
    return NULL;
}

const eva__name *eva__names_resolve(eva__names *n, uintptr_t addr) {
    if (!addr)
        return NULL; /* 0 marks a free entry */
    const eva__name *known = eva__names_find(n, addr);
    if (known)
        return known;
    eva__name *out = n->used < EVA__NAMES_CACHED ? &n->cached[n->used] : &n->scratch;
    object o;
    if (object_of(addr, &o))
        name_address(n, addr, &o, out);
    else
        name_unknown(out, addr, NULL, NULL);
    if (out != &n->scratch) {
        n->used++;
        atomic_store_explicit(&out->addr, addr, memory_order_release); /* publish */
    }
    return out;
}

void eva__names_free(eva__names *n) {
#if EVA_HAVE_LIBDW
    if (n->dwfl)
        dwfl_end(n->dwfl);
#endif
    memset(n, 0, sizeof *n);
}
