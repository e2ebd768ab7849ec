/* emit_train_init.c: where P_train_init finds each state tensor's initial
 * values, so that under --train the weights are in flash once. Takes the
 * Emit of a compiled model (its inference layers written); gives, per
 * parameter and buffer, the inference code's const array that already
 * holds its values and the index map that undoes the repacking, or
 * nothing (emit_train.c then keeps a copy in PyTorch's layout).
 *
 * How: each layer's inference emitter runs again, probing (emit_const
 * records its arrays instead of defining them), first on the real
 * parameters, then on tags: parameter slot s's element j replaced by the
 * float base_s + 1 + j, distinct over the layer's parameters. An array
 * that holds every tag of a tensor is a copy of it: tag j's position is
 * where element j went, checked bit for bit against the real run. The
 * positions, p(j), become a loop nest when they are one: p(j) = base +
 * sum over levels k of ((j / R_k) % c_k) * s_k, R_k the product of the
 * lower counts (a blocked transpose, a padded layout, the identity). A
 * layer that computes its constants (BatchNorm's scale and shift,
 * Winograd's transformed weights) gives no copy, and so no source. An
 * array that holds a tensor in an order no loop nest describes (a blocked
 * layout whose last block is narrower) is still its `copy`: a training
 * emitter that knows its own layer's layout may read a frozen parameter
 * there (emit_frozen_packed). */
#include "emit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The largest tag a float holds exactly. */
#define MAX_TAG 16777216

/* Runs layer i's inference emitter with parameter slot s's data replaced
 * by data[s] (when not NULL), recording its arrays into *out. */
static int probe(Emit *e, int i, float *const *data, ProbedConst **out)
{
    Graph *g = e->g;
    Node *n = &g->n[i];
    float *saved[4] = {NULL, NULL, NULL, NULL};
    for (int s = 0; s < n->nparam; s++)
        if (data[s]) {
            saved[s] = g->t[n->param[s]].data;
            g->t[n->param[s]].data = data[s];
        }
    StrBuf body = {0};
    e->probing = true;
    e->node = i;
    e->body = &body;
    e->depth = 0;
    op_info(n->op)->emit(e, n);
    e->probing = false;
    for (int s = 0; s < n->nparam; s++)
        if (data[s])
            g->t[n->param[s]].data = saved[s];
    sb_free(&body);
    int count = e->nprobed;
    *out = e->probed;
    e->probed = NULL;
    e->nprobed = e->probecap = 0;
    return count;
}

static void free_probed(ProbedConst *p, int n)
{
    for (int i = 0; i < n; i++)
        free(p[i].data);
    free(p);
}

/* pos[j]: where the tagged array holds tag base + 1 + j; true when it holds
 * all count of them and the real array has the tensor's values there. */
static bool find_copy(const ProbedConst *tagged, const ProbedConst *real, int64_t base,
                      const float *values, int64_t count, int64_t *pos)
{
    for (int64_t j = 0; j < count; j++)
        pos[j] = -1;
    for (int64_t i = 0; i < tagged->count; i++) {
        float v = tagged->data[i];
        if (v >= (float)(base + 1) && v <= (float)(base + count) && v == floorf(v) &&
            pos[(int64_t)v - base - 1] < 0)
            pos[(int64_t)v - base - 1] = i;
    }
    for (int64_t j = 0; j < count; j++)
        if (pos[j] < 0 || memcmp(&real->data[pos[j]], &values[j], sizeof(float)) != 0)
            return false;
    return true;
}

/* Writes pos (n entries) as a loop nest into src; false if it is none. */
static bool as_nest(const int64_t *pos, int64_t n, InitSource *src)
{
    int64_t *seq = xmalloc((size_t)n * sizeof *seq);
    memcpy(seq, pos, (size_t)n * sizeof *seq);
    src->nlev = 0;
    bool ok = true;
    while (n > 1 && ok) {
        int64_t stride = seq[1] - seq[0], c = 1;
        while (c < n && seq[c] - seq[c - 1] == stride)
            c++;
        for (int64_t i = 0; i < n && ok; i++)
            ok = seq[i] == seq[i - i % c] + (i % c) * stride;
        if (!ok || src->nlev == INIT_LEVELS)
            break;
        src->count[src->nlev] = c;
        src->stride[src->nlev++] = stride;
        int64_t next = (n + c - 1) / c;
        for (int64_t k = 0; k < next; k++)
            seq[k] = seq[k * c];
        n = next;
    }
    ok = ok && n <= 1;
    src->base = seq[0];
    free(seq);
    return ok;
}

/* The tags of node n's parameters: slot s's element j is tag base[s] + 1 + j.
 * False when they would not all be exact floats. */
static bool make_tags(const Graph *g, const Node *n, float **tags, int64_t *base)
{
    int64_t next = 0;
    for (int s = 0; s < 4; s++)
        tags[s] = NULL;
    for (int s = 0; s < n->nparam; s++) {
        base[s] = next;
        if (n->param[s] < 0)
            continue;
        int64_t count = shape_numel(&g->t[n->param[s]].shape);
        if (next + count >= MAX_TAG)
            return false;
        tags[s] = xmalloc((size_t)count * sizeof *tags[s]);
        for (int64_t j = 0; j < count; j++)
            tags[s][j] = (float)(next + 1 + j);
        next += count;
    }
    return true;
}

/* Node i's state tensors: their sources in its arrays, where it has them. */
static void find_in_node(Emit *e, int i, InitSource *src)
{
    const Graph *g = e->g;
    const Node *n = &g->n[i];
    float *tags[4], *none[4] = {NULL, NULL, NULL, NULL};
    int64_t base[4];
    ProbedConst *real, *tagged;
    bool ok = make_tags(g, n, tags, base);
    int nreal = probe(e, i, none, &real), ntagged = ok ? probe(e, i, tags, &tagged) : 0;
    for (int s = 0; ok && s < n->nparam && nreal == ntagged; s++) {
        int t = n->param[s];
        if (t < 0 || src[t].array || (g->t[t].kind != T_PARAM && g->t[t].kind != T_BUFFER))
            continue;
        int64_t count = shape_numel(&g->t[t].shape);
        int64_t *pos = xmalloc((size_t)count * sizeof *pos);
        for (int a = 0; a < nreal && !src[t].array; a++) {
            if (!find_copy(&tagged[a], &real[a], base[s], g->t[t].data, count, pos))
                continue;
            if (!src[t].copy)
                src[t].copy = xstrdup(real[a].expr);
            if (as_nest(pos, count, &src[t]))
                src[t].array = xstrdup(real[a].expr);
        }
        free(pos);
    }
    for (int s = 0; s < 4; s++)
        free(tags[s]);
    free_probed(real, nreal);
    if (ok)
        free_probed(tagged, ntagged);
}

void emit_train_init_sources(Emit *e, InitSource *src)
{
    const Graph *g = e->g;
    for (int t = 0; t < g->nt; t++)
        src[t] = (InitSource){0};
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        bool has_state = false;
        for (int s = 0; s < n->nparam; s++)
            has_state |= n->param[s] >= 0 && (g->t[n->param[s]].kind == T_PARAM ||
                                              g->t[n->param[s]].kind == T_BUFFER);
        if (has_state && op_info(n->op)->emit && !(op_info(n->op)->traits & OPT_VIEW))
            find_in_node(e, i, src);
    }
}
