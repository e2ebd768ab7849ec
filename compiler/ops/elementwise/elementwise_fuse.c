/* elementwise_fuse.c: the add's two folds (passes/fuse_fold.c).
 *
 * fuse-bias folds a constant added after a conv or dense layer into its
 * bias; ONNX exporters often write Conv/MatMul + Add.
 *
 * Matches add(p(x), B): an add of one activation and a constant or
 * parameter B (param slot 0), where p is OPT_CHANNEL_AFFINE (conv, dense)
 * with no epilogue and the add alone reads p's output, and B is constant
 * along everything but
 * the channel axis: aligned with the per-sample shape [F, ...] at the last
 * dimensions, each of B's dimensions after the channel one is 1 (B is
 * [F,1,1], [1,F,1,1], [F] for dense, or a broadcast scalar). Then
 *   b'[f] = b[f] + B[f]   (B[0] for a scalar; b = 0 if p had no bias)
 * and p takes the add's epilogue. Legal because conv/dense add b[f] to
 * every cell of channel f, and addition is associative (up to float
 * rounding, well within the tests' 1e-4 relative tolerance).
 * Refuses: a --train build (the folded bias is a constant: training would
 * no longer update p's bias or a trainable B); B growing the tensor
 * (broadcasting it to more cells than p computes); B varying along a spatial
 * axis (a bias has one value per channel); p with an epilogue (act(z) + B is not z + B'); p's output read
 * elsewhere or being the graph output; adds of two or more activations
 * (residual joins: the conv would need a second input).
 *
 * fuse-residual moves a residual join into the conv that feeds it, so
 * that the sum never makes a round trip through memory between the conv and
 * a separate add layer.
 *
 * Matches add(c, r) where c is the output of a conv p (OPT_RESIDUAL: it
 * takes a second input) and r any other activation of the same shape: p
 * takes r as its second input and the add's epilogue, and the add goes. A conv with two inputs computes
 *   y = act(conv(x0) + b + x1)                      (ops/conv.c)
 * and its kernels add x1 at the store, before the activation
 * (ops/conv/conv_emit.c). Legal because that is the add's value element for
 * element: the conv's sum is rounded to float and then r added, as the add
 * did; nothing else read c. Runs last, after fuse-act (so the add carries
 * the join's relu, which moves with it) and after fuse-bias and fuse-pad
 * (they fold into one-input convs only).
 * Refuses: a --train build (the backward kernels know one-input convs);
 * adds of three or more activations, or with a constant operand B (a
 * broadcast: the kernels read x1 at y's offsets); c read by another layer or
 * being the graph output (its value must exist on its own); p with an
 * epilogue already (conv -> relu -> add: an activation before the join is
 * not act(conv + r)) or with a residual already; r = c; r computed after p
 * (p would read it before it exists). When both operands come from
 * fusable convs, the later one absorbs the add: the other's output is
 * already there when it runs. */
#include "../ops.h"

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
    if (add->nin != 1 || add->nparam < 1 || add->param[0] < 0 ||
        !shape_eq(node_out_shape(g, add), node_in_shape(g, add, 0)))
        return -1;
    int p = g->t[add->in[0]].producer;
    if (p < 0)
        return -1;
    const Node *n = &g->n[p];
    if (!(op_info(n->op)->traits & OPT_CHANNEL_AFFINE) || act_present(n->act) ||
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

static bool add_fold_bias(Graph *g, int id, const LoadOptions *opt)
{
    int64_t stride;
    int p = opt->train ? -1 : foldable_producer(g, id, &stride);
    if (p < 0)
        return false;
    fold(g, p, &g->n[id], stride);
    return true;
}

/* Can the conv producing operand j of add `id` absorb it? Returns the
 * conv's index, or -1. */
static int absorber(const Graph *g, int id, int j)
{
    const Node *add = &g->n[id];
    int c = add->in[j], r = add->in[1 - j];
    int p = g->t[c].producer;
    if (p < 0 || c == r)
        return -1;
    const Node *n = &g->n[p];
    if (!(op_info(n->op)->traits & OPT_RESIDUAL) || n->nin != 1 || act_present(n->act) ||
        fuse_sole_consumer(g, c) != id)
        return -1;
    if (!shape_eq(&g->t[r].shape, &g->t[c].shape) || g->t[r].producer >= p)
        return -1;
    return p;
}

/* The operand (0 or 1) whose conv absorbs add `id`, or -1. */
static int pick_operand(const Graph *g, int id)
{
    const Node *add = &g->n[id];
    if (add->nin != 2 || (add->nparam > 0 && add->param[0] >= 0))
        return -1;
    int p0 = absorber(g, id, 0), p1 = absorber(g, id, 1);
    if (p0 < 0 && p1 < 0)
        return -1;
    return p1 > p0 ? 1 : 0;
}

static void absorb(Graph *g, int id, int j)
{
    Node *add = &g->n[id];
    int c = add->in[j], r = add->in[1 - j];
    Node *n = &g->n[g->t[c].producer];
    n->in = xrealloc(n->in, 2 * sizeof *n->in);
    n->in[1] = r;
    n->nin = 2;
    n->act = add->act;
    add->in[0] = c; /* the pass bypasses the add: its readers read the conv's output */
}

static bool add_fold_residual(Graph *g, int id, const LoadOptions *opt)
{
    int j = opt->train ? -1 : pick_operand(g, id);
    if (j < 0)
        return false;
    absorb(g, id, j);
    return true;
}

const FoldRule add_folds[] = {
    {"fuse-bias", add_fold_bias},
    {"fuse-residual", add_fold_residual},
    {NULL, NULL},
};
