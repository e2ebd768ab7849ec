/* emit_shared.c: constant arrays and layer functions shared between layers. A patched build
 * (passes/patch.c) holds each leading layer once per band, and every clone
 * asks for the same arrays (repacked weights, biases, requantization
 * multipliers, tables): the first clone's array is defined, the later
 * ones name it, so that flash holds the layer's parameters once. The
 * middle bands' clones of a layer have the same shapes and padding, so
 * the same function: it is defined once and called by each. Only
 * builds with bands look (any other build is byte-identical to before):
 * the key is the array's element type and bytes. */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t hash;
    char *type;
    unsigned char *bytes;
    int64_t nbytes;
    const char *expr; /* kept by the Emit (emit_keep) */
} Shared;

/* Where a layer's own function is in the C file being written (the text
 * after its name), and that text's hash. */
typedef struct {
    size_t at, len;
    uint32_t hash;
} FnText;

struct SharedConsts {
    bool on; /* the graph has bands */
    Shared *s;
    int n, cap;
    /* s by hash, open addressing: index + 1 into s, 0 empty; a power of
     * two of slots, at most half of them full. */
    int *slot;
    int nslot;
    /* Per layer: the layer whose function it calls (itself, or an earlier
     * one of the same text), and where its own function's text is. */
    int *same;
    FnText *fn;
};

static uint32_t fnv1a(const void *p, int64_t n)
{
    const unsigned char *b = p;
    uint32_t h = 2166136261u;
    for (int64_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static struct SharedConsts *shared_of(Emit *e)
{
    if (!e->shared) {
        e->shared = xcalloc(1, sizeof *e->shared);
        for (int i = 0; i < e->g->nn; i++)
            e->shared->on |= (op_info(e->g->n[i].op)->traits & OPT_BAND_STORE) != 0;
    }
    return e->shared;
}

/* The slot of the array of these contents, else the empty slot where it
 * goes. */
static int *find_slot(const struct SharedConsts *sc, uint32_t hash, const char *type,
                      const void *bytes, int64_t nbytes)
{
    unsigned mask = (unsigned)sc->nslot - 1;
    for (unsigned k = hash & mask;; k = (k + 1) & mask) {
        int *slot = &sc->slot[k];
        const Shared *s = *slot ? &sc->s[*slot - 1] : NULL;
        if (!s || (s->hash == hash && s->nbytes == nbytes && strcmp(s->type, type) == 0 &&
                   memcmp(s->bytes, bytes, (size_t)nbytes) == 0))
            return slot;
    }
}

/* Room for one more array: the table doubled (and refilled) when half full. */
static void reserve_slot(struct SharedConsts *sc)
{
    if (2 * (sc->n + 1) <= sc->nslot)
        return;
    free(sc->slot);
    sc->nslot = sc->nslot ? 2 * sc->nslot : 64;
    sc->slot = xcalloc((size_t)sc->nslot, sizeof *sc->slot);
    for (int i = 0; i < sc->n; i++) {
        const Shared *s = &sc->s[i];
        *find_slot(sc, s->hash, s->type, s->bytes, s->nbytes) = i + 1;
    }
}

const char *emit_shared_find(Emit *e, const char *type, const void *bytes, int64_t nbytes,
                             uint32_t *hash)
{
    struct SharedConsts *sc = shared_of(e);
    if (!sc->on || e->probing)
        return NULL;
    *hash = fnv1a(bytes, nbytes);
    int *slot = sc->nslot ? find_slot(sc, *hash, type, bytes, nbytes) : NULL;
    if (!slot || !*slot)
        return NULL;
    if (e->mode == WEIGHTS_BLOB || e->mode == WEIGHTS_OBJECT)
        e->uses_blob[e->node] = true;
    return sc->s[*slot - 1].expr;
}

void emit_shared_add(Emit *e, uint32_t hash, const char *type, const void *bytes,
                     int64_t nbytes, const char *expr)
{
    struct SharedConsts *sc = shared_of(e);
    if (!sc->on || e->probing)
        return;
    reserve_slot(sc);
    grow_array(&sc->s, &sc->cap, sc->n + 1, sizeof *sc->s);
    Shared *s = &sc->s[sc->n++];
    s->hash = hash;
    s->type = xstrdup(type);
    s->bytes = xmalloc((size_t)(nbytes ? nbytes : 1));
    memcpy(s->bytes, bytes, (size_t)nbytes);
    s->nbytes = nbytes;
    s->expr = expr;
    *find_slot(sc, hash, type, bytes, nbytes) = sc->n;
}

bool emit_shared_function(Emit *e, int i, const StrBuf *b, size_t from)
{
    struct SharedConsts *sc = shared_of(e);
    if (!sc->on)
        return true;
    int nn = e->g->nn;
    if (!sc->same) {
        sc->fn = xcalloc((size_t)nn, sizeof *sc->fn);
        sc->same = xmalloc((size_t)nn * sizeof *sc->same);
        for (int j = 0; j < nn; j++)
            sc->same[j] = j;
    }
    FnText t = {from, b->len - from, fnv1a(b->s + from, (int64_t)(b->len - from))};
    for (int j = 0; j < i; j++) {
        const FnText *u = &sc->fn[j];
        if (sc->same[j] == j && u->len == t.len && u->hash == t.hash &&
            memcmp(b->s + u->at, b->s + t.at, t.len) == 0) {
            sc->same[i] = j;
            return false;
        }
    }
    sc->fn[i] = t;
    return true;
}

int emit_shared_layer(const Emit *e, int i)
{
    return e->shared && e->shared->same ? e->shared->same[i] : i;
}

void emit_shared_free(Emit *e)
{
    if (!e->shared)
        return;
    free(e->shared->fn);
    free(e->shared->same);
    for (int i = 0; i < e->shared->n; i++) {
        free(e->shared->s[i].type);
        free(e->shared->s[i].bytes);
    }
    free(e->shared->s);
    free(e->shared->slot);
    free(e->shared);
    e->shared = NULL;
}
