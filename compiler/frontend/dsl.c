/* dsl.c: loading a .cnn file.
 *
 * Takes a path; reads the file whole (any bytes), hands it to the scanner
 * (grammar/cnn.l) and parser (grammar/cnn.y), which build a syntax tree in
 * an arena, then lowers the tree into a Graph (dsl_lower.c). Gives the
 * Graph, or NULL after reporting every error found. Re-entered for the
 * files a model imports (dsl_import.c): it keeps the stack of the files
 * being read, which finds import cycles, and quotes each file's own lines. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cnnc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.tab.h"
#include "cnn.lex.h"

/* Larger sources are surely not networks; refuse before lines overflow int. */
#define MAX_SOURCE (64u << 20)

/* ---- the tree's arena: freed in one go, whatever recovery dropped ---- */

struct Chunk {
    Chunk *next;
    size_t used, size;
    _Alignas(max_align_t) unsigned char data[];
};

void *dsl_alloc(DslParse *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    Chunk *c = p->arena;
    if (!c || c->size - c->used < n) {
        size_t size = n > 65536 ? n : 65536;
        c = xmalloc(sizeof *c + size);
        c->size = size;
        c->used = 0;
        c->next = p->arena;
        p->arena = c;
    }
    void *mem = c->data + c->used;
    c->used += n;
    memset(mem, 0, n);
    return mem;
}

char *dsl_strndup(DslParse *p, const char *s, size_t n)
{
    char *d = dsl_alloc(p, n + 1);
    memcpy(d, s, n);
    return d;
}

static void arena_free(DslParse *p)
{
    while (p->arena) {
        Chunk *next = p->arena->next;
        free(p->arena);
        p->arena = next;
    }
}

/* ---- literals: the scanner matched them, these give their values ---- */

Value *dsl_number(DslParse *p, const char *text, Loc loc)
{
    Value *v = dsl_alloc(p, sizeof *v);
    v->loc = loc;
    errno = 0;
    if (strpbrk(text, ".eE")) {
        v->kind = V_FLOAT;
        v->f = strtod(text, NULL);
        v->overflow = errno == ERANGE && v->f != 0;
    } else {
        v->kind = V_INT;
        v->i = strtoll(text, NULL, 10);
        v->overflow = errno == ERANGE;
    }
    return v;
}

/* "3x32x32": each part a non-negative integer. */
Value *dsl_dims(DslParse *p, const char *text, Loc loc)
{
    Value *v = dsl_alloc(p, sizeof *v);
    v->kind = V_DIMS;
    v->loc = loc;
    int n = 1;
    for (const char *s = text; *s; s++)
        n += *s == 'x';
    v->dims = dsl_alloc(p, (size_t)n * sizeof *v->dims);
    for (const char *s = text; v->ndims < n; s++) {
        char *end;
        errno = 0;
        v->dims[v->ndims++] = strtoll(s, &end, 10);
        v->overflow |= errno == ERANGE;
        s = end;
    }
    return v;
}

/* "text": the bytes between the quotes. */
Value *dsl_string(DslParse *p, const char *text, size_t len, Loc loc)
{
    Value *v = dsl_alloc(p, sizeof *v);
    v->kind = V_STRING;
    v->loc = loc;
    v->s = dsl_strndup(p, text + 1, len - 2);
    if (memchr(text, '\0', len)) {
        p->syntax_errors++;
        diag_error(loc, "a string cannot hold a NUL byte");
    }
    return v;
}

/* ---- reading and parsing ---- */

static char *read_source(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error((Loc){path, 0, 0}, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *text = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            text = xrealloc(text, cap);
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > MAX_SOURCE)
            break;
    }
    bool failed = ferror(f);
    int err = errno;
    fclose(f);
    if (failed || n > MAX_SOURCE) {
        if (failed)
            diag_error((Loc){path, 0, 0}, "cannot read: %s", strerror(err));
        else
            diag_error((Loc){path, 0, 0}, "file is larger than %u MB", MAX_SOURCE >> 20);
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

/* The top-level source: diagnostics of later passes (shape rules) quote
 * its lines, so it lives until the next load. */
static char *source;

/* The files being read, outermost first (their real paths): an import of
 * one of them is a cycle. */
typedef struct {
    char *real;
    const char *path, *text;
    size_t len;
} Loading;
static Loading loading[MAX_IMPORT_DEPTH];
static int depth;

bool dsl_import_room(void)
{
    return depth < MAX_IMPORT_DEPTH;
}

bool dsl_loading(const char *path)
{
    char *real = realpath(path, NULL);
    bool found = false;
    for (int i = 0; i < depth && real && !found; i++)
        found = strcmp(loading[i].real, real) == 0;
    free(real);
    return found;
}

static Graph *parse(const char *path, const char *text, size_t len)
{
    DslParse p = {.path = path, .line = 1, .col = 1};
    yyscan_t scanner;
    if (cnn_lex_init_extra(&p, &scanner) != 0)
        internal_error("cannot create the scanner");
    YY_BUFFER_STATE buf = cnn__scan_bytes(text, (int)len, scanner);
    int status = cnn_parse(scanner, &p);
    cnn__delete_buffer(buf, scanner);
    cnn_lex_destroy(scanner);

    /* After an abandoned parse (no recovery possible, or nesting too deep)
     * the tree is incomplete: checking it would only invent errors. */
    Graph *g = status == 0 ? dsl_lower(&p) : NULL;
    arena_free(&p);
    return g;
}

/* An imported file (depth > 0) is read, lowered and dropped; the importing
 * file's source is quoted again afterwards. */
Graph *dsl_load(const char *path)
{
    if (depth == MAX_IMPORT_DEPTH)
        internal_error("imports nested deeper than %d", MAX_IMPORT_DEPTH);
    size_t len;
    char *text = read_source(path, &len);
    if (!text)
        return NULL;
    if (depth == 0) {
        free(source);
        source = text;
    }
    diag_set_source(path, text, len);
    char *real = realpath(path, NULL);
    loading[depth++] = (Loading){real ? real : xstrdup(path), path, text, len};
    Graph *g = parse(path, text, len);
    free(loading[--depth].real);
    if (depth > 0) {
        free(text);
        diag_set_source(loading[depth - 1].path, loading[depth - 1].text, loading[depth - 1].len);
    }
    return g;
}
