/* fuse_bias.c: folds a constant added after a conv or dense layer into its
 * bias (pass "fuse-bias"); ONNX exporters often write Conv/MatMul + Add.
 *
 * Matches add(p(x), B): an add of one activation and a constant or
 * parameter B (param slot 0), where p is conv or dense with no epilogue and
 * the add alone reads p's output, and B is constant along everything but
 * the channel axis: aligned with the per-sample shape [F, ...] at the last
 * dimensions, each of B's dimensions after the channel one is 1 (B is
 * [F,1,1], [1,F,1,1], [F] for dense, or a broadcast scalar). Then
 *   b'[f] = b[f] + B[f]   (B[0] for a scalar; b = 0 if p had no bias)
 * and p takes the add's epilogue. Legal because conv/dense add b[f] to
 * every cell of channel f, and addition is associative (up to float
 * rounding, well within the tests' 1e-4 relative tolerance).
 * Refuses: a --train build (the folded bias is a constant: training would
 * no longer update p's bias or a trainable B); B varying along a spatial axis (a bias has one value per
 * channel); p with an epilogue (act(z) + B is not z + B'); p's output read
 * elsewhere or being the graph output; adds of two or more activations
 * (residual joins: the conv would need a second input). */
#include "../cnnc.h"

#include <stdlib.h>

/* B's value for channel f of an output of shape s, through its stride
 * along the channel axis; false if B varies along any other axis. */
static bool channel_stride(const Shape *b, const Shape *s, int64_t *stride)
{
    int extra = b->rank - s->rank;
    for (int i = 0; i < extra; i++)
        if (b->d[i] != 1)
            return false;
    for (int i = 1; i < s->rank; i++) {
        int bi = i + extra;
        if (bi >= 0 && b->d[bi] != 1)
            return false;
    }
    /* B's channel dimension is index `extra`, absent if B has fewer
     * dimensions; shape inference checked it is 1 or F. */
    *stride = extra >= 0 && b->d[extra] != 1;
    return true;
}

static int foldable_producer(const Graph *g, int id, int64_t *stride)
{
    const Node *add = &g->n[id];
    if (add->op != OP_ADD || add->nin != 1 || add->nparam < 1 || add->param[0] < 0)
        return -1;
    int p = g->t[add->in[0]].producer;
    if (p < 0)
        return -1;
    const Node *n = &g->n[p];
    if ((n->op != OP_CONV && n->op != OP_DENSE) || n->act.kind != ACT_NONE ||
        fuse_sole_consumer(g, n->out) != id)
        return -1;
    if (!channel_stride(&g->t[add->param[0]].shape, node_out_shape(g, n), stride))
        return -1;
    return p;
}

static void fold(Graph *g, int p, const Node *add, int64_t stride)
{
    Node *n = &g->n[p];
    int64_t f = node_out_shape(g, n)->d[0];
    const float *b = n->a.bias ? node_param_data(g, n, 1) : NULL;
    const float *c = node_param_data(g, add, 0);
    float *nb = xmalloc((size_t)f * sizeof *nb);
    for (int64_t k = 0; k < f; k++)
        nb[k] = (b ? b[k] : 0.0f) + c[k * stride];
    char *base = xasprintf("%s+%s", n->name, add->name);
    Shape bs = shape_make(1, &f);
    int bid = fuse_new_const(g, base, "bias", &bs, nb, n->loc);
    n->param[1] = bid;
    if (n->nparam < 2)
        n->nparam = 2;
    n->a.bias = true;
    n->act = add->act;
    free(base);
    free(nb);
}

bool fuse_bias(Graph *g, const LoadOptions *opt)
{
    if (opt->train)
        return true;
    for (int i = 0; i < g->nn; i++) {
        int64_t stride;
        int p = foldable_producer(g, i, &stride);
        if (p < 0)
            continue;
        fold(g, p, &g->n[i], stride);
        fuse_bypass(g, i);
        i--;
    }
    fuse_prune(g);
    return true;
}
