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

struct SharedConsts {
    bool on; /* the graph has bands */
    Shared *s;
    int n, cap;
    /* Per layer: its function's text after the name, and the layer whose
     * function it calls (itself, or an earlier one of the same text). */
    char **fn;
    int *same;
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
            e->shared->on |= e->g->n[i].op == OP_BAND_STORE;
    }
    return e->shared;
}

const char *emit_shared_find(Emit *e, const char *type, const void *bytes, int64_t nbytes)
{
    struct SharedConsts *sc = shared_of(e);
    if (!sc->on || e->probing)
        return NULL;
    uint32_t h = fnv1a(bytes, nbytes);
    for (int i = 0; i < sc->n; i++) {
        const Shared *s = &sc->s[i];
        if (s->hash == h && s->nbytes == nbytes && strcmp(s->type, type) == 0 &&
            memcmp(s->bytes, bytes, (size_t)nbytes) == 0) {
            if (e->mode == WEIGHTS_BLOB || e->mode == WEIGHTS_OBJECT)
                e->uses_blob[e->node] = true;
            return s->expr;
        }
    }
    return NULL;
}

void emit_shared_add(Emit *e, const char *type, const void *bytes, int64_t nbytes,
                     const char *expr)
{
    struct SharedConsts *sc = shared_of(e);
    if (!sc->on || e->probing)
        return;
    grow_array(&sc->s, &sc->cap, sc->n + 1, sizeof *sc->s);
    Shared *s = &sc->s[sc->n++];
    s->hash = fnv1a(bytes, nbytes);
    s->type = xstrdup(type);
    s->bytes = xmalloc((size_t)(nbytes ? nbytes : 1));
    memcpy(s->bytes, bytes, (size_t)nbytes);
    s->nbytes = nbytes;
    s->expr = expr;
}

int emit_shared_layer(Emit *e, int i, const char *fn)
{
    struct SharedConsts *sc = shared_of(e);
    if (!sc->on)
        return i;
    int nn = e->g->nn;
    if (!sc->same) {
        sc->fn = xcalloc((size_t)nn, sizeof *sc->fn);
        sc->same = xmalloc((size_t)nn * sizeof *sc->same);
        for (int j = 0; j < nn; j++)
            sc->same[j] = j;
    }
    if (fn && !sc->fn[i]) {
        for (int j = 0; j < i && sc->same[i] == i; j++)
            if (sc->fn[j] && sc->same[j] == j && strcmp(sc->fn[j], fn) == 0)
                sc->same[i] = j;
        sc->fn[i] = xstrdup(fn);
    }
    return sc->same[i];
}

void emit_shared_free(Emit *e)
{
    if (!e->shared)
        return;
    for (int i = 0; e->shared->fn && i < e->g->nn; i++)
        free(e->shared->fn[i]);
    free(e->shared->fn);
    free(e->shared->same);
    for (int i = 0; i < e->shared->n; i++) {
        free(e->shared->s[i].type);
        free(e->shared->s[i].bytes);
    }
    free(e->shared->s);
    free(e->shared);
    e->shared = NULL;
}
