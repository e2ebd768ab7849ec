/* norm_fuse.c: the fuse-norm step (passes/fuse_fold.c): torch's GroupNorm
 * export becomes one groupnorm node, and a per-channel scale and shift
 * after a normalisation become its affine parameters. Each rule folds the
 * normalisation node into the one node that reads it, which turns into
 * the normalisation (so that the next rule sees it again, in order):
 *
 *   GroupNorm export: reshape(x -> [G, R]) -> groupnorm(groups = G, no
 *     affine or ones and zeros not trained) -> reshape(-> shape of x), x [C, ...], G
 *     dividing C. Legal because a group of G over [G, R] is the run of R
 *     consecutive values a groupnorm(G) of [C, ...] normalises, and the
 *     reshapes move no data. The second reshape becomes groupnorm(G) of x,
 *     without affine.
 *   Scale and shift: mul(n, B) or add(n, B) (B a constant, n alone read by
 *     it, no epilogue) where B varies only along n's parameter axes (the
 *     channel of a groupnorm, the normalised axes of a layernorm): the mul
 *     or add becomes n with gamma' = gamma B, beta' = beta B (mul) or
 *     beta' = beta + B (add), new constants "<n>+<mul>.weight", ".bias".
 *     Legal because y = xhat gamma + beta is affine per parameter index.
 * Refuses: a --train build when the parameters folded are trainable (the
 * step would train the folded constants instead); anything else. */
#include "../ops.h"

#include <stdlib.h>

enum { GAMMA, BETA };

/* The axes [lo, hi) of node n's output its parameters run along. */
static void param_axes(const Node *n, int *lo, int *hi)
{
    *lo = n->op == OP_GROUPNORM ? 0 : n->a.axis;
    *hi = n->op == OP_GROUPNORM ? 1 : n->a.axis + n->a.naxes;
}

/* Whether n's parameters are absent or ones and zeros that stay so (not
 * trained: constants, or any parameter outside a --train build). */
static bool identity_affine(const Graph *g, const Node *n, const LoadOptions *opt)
{
    if (n->nparam < 2 || n->param[GAMMA] < 0)
        return true;
    const Tensor *gt = &g->t[n->param[GAMMA]], *bt = &g->t[n->param[BETA]];
    if (opt->train && (gt->kind == T_PARAM || bt->kind == T_PARAM))
        return false;
    for (int64_t i = 0; i < shape_numel(&gt->shape); i++)
        if (gt->data[i] != 1.0f || bt->data[i] != 0.0f)
            return false;
    return true;
}

static bool is_reshape(const Graph *g, int id)
{
    return id >= 0 && (op_info(g->n[id].op)->traits & OPT_VIEW) && g->n[id].nin == 1 &&
           !(op_info(g->n[id].op)->traits & OPT_STOCHASTIC);
}

/* Node `into` becomes a copy of normalisation n reading n's output (the
 * bypass then makes it read n's input). */
static void become(Graph *g, int into, const Node *n, int gamma, int beta)
{
    Node *m = &g->n[into];
    m->op = n->op;
    m->a = n->a;
    m->act = (Act){ACT_NONE, 0, 0};
    m->nin = 1;
    m->in[0] = n->out;
    m->nparam = 0;
    for (int s = 0; s < 4; s++)
        m->param[s] = -1;
    m->a.bias = gamma >= 0;
    if (gamma >= 0) {
        m->param[GAMMA] = gamma;
        m->param[BETA] = beta;
        m->nparam = 2;
    }
}

/* reshape -> instance norm of [G, R] -> reshape back. */
static bool fold_group_export(Graph *g, int id, const LoadOptions *opt)
{
    Node *n = &g->n[id];
    int r1 = g->t[n->in[0]].producer, r2 = fuse_sole_consumer(g, n->out);
    if (n->op != OP_GROUPNORM || !is_reshape(g, r1) || !is_reshape(g, r2) ||
        !identity_affine(g, n, opt))
        return false;
    const Shape *x = node_in_shape(g, &g->n[r1], 0), *y = node_out_shape(g, &g->n[r2]);
    int groups = (int)node_in_shape(g, n, 0)->d[0];
    if (n->a.groups != groups || !shape_eq(x, y) || x->d[0] % groups)
        return false;
    n->in[0] = g->n[r1].in[0];
    become(g, r2, n, -1, -1);
    g->n[r2].a.groups = groups;
    return true;
}

/* B (broadcast onto s) as one value per parameter index (axes [lo, hi) of
 * s), or NULL when it varies along another axis. Caller frees. */
static float *per_param(const Tensor *b, const Shape *s, int lo, int hi)
{
    Shape bs = b->shape;
    while (bs.rank > s->rank && bs.d[0] == 1) { /* a leading batch of 1 */
        bs.rank--;
        for (int d = 0; d < bs.rank; d++)
            bs.d[d] = bs.d[d + 1];
    }
    if (bs.rank > s->rank)
        return NULL;
    for (int d = 0; d < bs.rank; d++) {
        int sd = d + s->rank - bs.rank;
        bool along = sd >= lo && sd < hi;
        if (bs.d[d] != 1 && (!along || bs.d[d] != s->d[sd]))
            return NULL;
    }
    Shape ps = shape_make(hi - lo, s->d + lo);
    int64_t count = shape_numel(&ps), idx[MAX_RANK] = {0}, sub[MAX_RANK];
    float *v = xmalloc((size_t)count * sizeof *v);
    for (int64_t p = 0; p < count; p++) {
        const_unravel(&ps, p, sub);
        for (int d = lo; d < hi; d++)
            idx[d] = sub[d - lo];
        v[p] = b->data[shape_broadcast_index(&bs, s, idx)];
    }
    return v;
}

/* mul(n, B) / add(n, B) -> n with gamma and beta folded. */
static bool fold_affine(Graph *g, int id, const LoadOptions *opt)
{
    const Node *n = &g->n[id];
    int c = fuse_sole_consumer(g, n->out);
    if (c < 0)
        return false;
    const Node *m = &g->n[c];
    bool mul = m->op == OP_MUL;
    if ((!mul && m->op != OP_ADD) || m->nin != 1 || m->nparam < 1 || m->param[0] < 0 ||
        act_present(node_epilogue(m)))
        return false;
    const Tensor *b = &g->t[m->param[0]];
    bool trainable = b->kind == T_PARAM || (n->nparam > 0 && n->param[GAMMA] >= 0 &&
                                            g->t[n->param[GAMMA]].kind == T_PARAM);
    int lo, hi;
    param_axes(n, &lo, &hi);
    float *v = opt->train && trainable ? NULL : per_param(b, node_out_shape(g, n), lo, hi);
    if (!v)
        return false;
    Shape ps = n->nparam > 0 && n->param[GAMMA] >= 0 ? g->t[n->param[GAMMA]].shape
                                                     : shape_make(hi - lo, node_out_shape(g, n)->d + lo);
    int64_t count = shape_numel(&ps);
    const float *gamma = node_param_data(g, n, GAMMA), *beta = node_param_data(g, n, BETA);
    float *ng = xmalloc((size_t)count * sizeof *ng), *nb = xmalloc((size_t)count * sizeof *nb);
    for (int64_t p = 0; p < count; p++) {
        double g0 = gamma ? gamma[p] : 1.0, b0 = beta ? beta[p] : 0.0;
        ng[p] = (float)(mul ? g0 * v[p] : g0);
        nb[p] = (float)(mul ? b0 * v[p] : b0 + v[p]);
    }
    char *base = xasprintf("%s+%s", n->name, m->name);
    Loc loc = n->loc;
    int tg = fuse_new_const(g, base, "weight", &ps, ng, loc);
    int tb = fuse_new_const(g, base, "bias", &ps, nb, loc);
    become(g, c, &g->n[id], tg, tb);
    free(base);
    free(ng);
    free(nb);
    free(v);
    return true;
}

static bool norm_fold(Graph *g, int id, const LoadOptions *opt)
{
    return fold_group_export(g, id, opt) || fold_affine(g, id, opt);
}

const FoldRule norm_folds[] = {
    {"fuse-norm", norm_fold},
    {NULL, NULL},
};

/* fuse-transpose: layernorm's axes follow the permutation when they stay a
 * run in order (so that gamma keeps its layout); groupnorm needs the
 * channels to stay first (its groups and statistics ignore the rest). */
bool norm_unpermute(Graph *g, Node *n, const int *perm, bool apply)
{
    if (n->op == OP_GROUPNORM)
        return perm[0] == 0;
    for (int k = 1; k < n->a.naxes; k++)
        if (perm[n->a.axis + k] != perm[n->a.axis] + k)
            return false;
    if (apply)
        n->a.axis = perm[n->a.axis];
    return true;
}
