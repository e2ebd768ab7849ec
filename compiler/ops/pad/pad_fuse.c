/* pad_fuse.c: folds an explicit pad layer (DSL pad, ONNX Pad) into the
 * padding of the conv or pool that alone reads it (pass "fuse-pad",
 * passes/fuse_fold.c). The pad asks its reader (OpInfo.absorb_pad, below
 * for conv and the pools) whether and how.
 *
 * Matches w(pad(x)) where w is conv, avgpool or maxpool and reads the pad's
 * output alone; w's padding grows by the pad's ([top, left, bottom, right])
 * and w reads x. When it is legal:
 *   conv, zeros pad: w's padding is zeros too (or w has none): zeros are
 *     zeros, an outer ring of them is the same whoever adds it.
 *   conv, reflect/replicate pad: w has no padding of its own; w takes the
 *     pad's mode (conv reads outside x through pad_source, as pad does).
 *   avgpool, zeros pad: not ceil mode; w counts padded cells in its divisor
 *     (count_include_pad) or has no padding (then it is made to count them:
 *     the explicit zeros were real cells of its input); the merged padding
 *     stays within PyTorch's half-kernel rule.
 *   maxpool: maxpool's own padding is -inf, never chosen, while a pad layer
 *     writes real values, so a zero pad is NOT maxpool padding in general:
 *     max(0, -3) = 0 but max(-inf, -3) = -3. It is legal when the written
 *     values cannot change a window's maximum: for zeros, when x >= 0 (its
 *     producer ends in relu, sigmoid or a clip with min >= 0) and every
 *     window keeps a cell of x; for replicate, always (a window reaching
 *     pad cells also holds the edge cell they copy); for reflect, when the
 *     window also holds the mirrored cell (2 * pad <= kernel - 1). All need
 *     dilation 1, no ceil mode, the merged padding within kernel/2, and for
 *     reflect/replicate no padding of the pool's own.
 * Refuses: everything else -- constant padding with a value other than 0,
 * a pad read by two layers or being the graph
 * output, reflect/replicate into a padded conv, any pad into a maxpool of
 * a possibly negative input, ceil-mode pools (the output size rule differs
 * once the cells are padding rather than input), other readers. */
#include "../ops.h"

bool window_unpadded(const Node *n)
{
    return !n->a.pad[0] && !n->a.pad[1] && !n->a.pad[2] && !n->a.pad[3];
}

/* Merged padding within PyTorch's pool rule (pad <= kernel / 2). */
static bool pool_pad_ok(const Node *w, const Node *p)
{
    for (int i = 0; i < 4; i++)
        if (w->a.pad[i] + p->a.pad[i] > w->a.kernel[i % 2] / 2)
            return false;
    return !w->a.ceil_mode;
}

/* Does tensor t hold values >= 0 only (by its producer's activation)? */
static bool nonnegative(const Graph *g, int t)
{
    int p = g->t[t].producer;
    if (p < 0)
        return false;
    const Node *n = &g->n[p];
    return act_nonnegative(op_info(n->op)->traits & OPT_ACTIVATION ? node_act(n) : n->act);
}

static void grow_padding(Node *w, const Node *p)
{
    for (int i = 0; i < 4; i++)
        w->a.pad[i] += p->a.pad[i];
    w->in[0] = p->in[0];
}

bool conv_absorb_pad(const Graph *g, Node *w, const Node *p)
{
    bool ok = p->a.pad_mode == PAD_ZEROS ? window_unpadded(w) || w->a.pad_mode == PAD_ZEROS
                                         : window_unpadded(w);
    if (!ok)
        return false;
    if (window_unpadded(w))
        w->a.pad_mode = p->a.pad_mode;
    grow_padding(w, p);
    return true;
}

bool avgpool_absorb_pad(const Graph *g, Node *w, const Node *p)
{
    if (p->a.pad_mode != PAD_ZEROS || !pool_pad_ok(w, p) ||
        !(w->a.count_include_pad || window_unpadded(w)))
        return false;
    w->a.count_include_pad = true;
    grow_padding(w, p);
    return true;
}

static bool maxpool_ok(const Graph *g, const Node *w, const Node *p)
{
    if (!pool_pad_ok(w, p) || w->a.dilation[0] != 1 || w->a.dilation[1] != 1)
        return false;
    switch (p->a.pad_mode) {
    case PAD_ZEROS:
        return nonnegative(g, p->in[0]);
    case PAD_REPLICATE:
        return window_unpadded(w);
    case PAD_REFLECT:
        for (int i = 0; i < 4; i++)
            if (2 * p->a.pad[i] > w->a.kernel[i % 2] - 1)
                return false;
        return window_unpadded(w);
    }
    return false;
}

bool maxpool_absorb_pad(const Graph *g, Node *w, const Node *p)
{
    if (!maxpool_ok(g, w, p))
        return false;
    grow_padding(w, p);
    return true;
}

static bool pad_fold(Graph *g, int id, const LoadOptions *opt)
{
    const Node *p = &g->n[id];
    if (p->a.pad_value != 0) /* no conv or pool pads with another constant */
        return false;
    int w = p->nin == 1 ? fuse_sole_consumer(g, p->out) : -1;
    if (w < 0 || g->n[w].nin != 1 || !op_info(g->n[w].op)->absorb_pad)
        return false;
    return op_info(g->n[w].op)->absorb_pad(g, &g->n[w], p);
}

const FoldRule pad_folds[] = {
    {"fuse-pad", pad_fold},
    {NULL, NULL},
};
