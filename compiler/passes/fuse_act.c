/* fuse_act.c: moves a standalone activation into the epilogue of the layer
 * that produces its input (pass "fuse-act").
 *
 * Matches a(p(...)) where a is an activation (OPT_ACTIVATION: relu,
 * leaky_relu, sigmoid, tanh, elu, clip/relu6), p accepts an epilogue
 * (OPT_HAS_ACT: conv, dense, batchnorm, add) and has none yet, and a alone
 * reads p's output. p's epilogue becomes a's Act (node_act) and a goes.
 * Legal because p computes its value and then applies p->act to each
 * element, exactly what a did to the stored value; nothing else saw the
 * value before the activation. A --train build keeps the fusion: the
 * backward kernels differentiate the epilogue from its output.
 * Refuses: in a --train build, an Act whose derivative its output does not
 * give (leaky_relu/elu with a negative slope, act_grad_from_output);
 * p's output read by another layer or being the graph output (it
 * needs the value before the activation) -- in particular an activation
 * on one branch of a residual join; p with an epilogue already (no chains
 * of two Acts); producers without OPT_HAS_ACT (pools, concat, ...). */
#include "../cnnc.h"
#include "../ops/ops.h"

static int fusable_producer(const Graph *g, int id, bool train)
{
    const Node *a = &g->n[id];
    if (!(op_info(a->op)->traits & OPT_ACTIVATION) || a->nin != 1)
        return -1;
    if (train && !act_grad_from_output(node_act(a)))
        return -1;
    int p = g->t[a->in[0]].producer;
    if (p < 0 || !(op_info(g->n[p].op)->traits & OPT_HAS_ACT) || g->n[p].act.kind != ACT_NONE ||
        fuse_sole_consumer(g, g->n[p].out) != id)
        return -1;
    return p;
}

bool fuse_act(Graph *g, const LoadOptions *opt)
{
    for (int i = 0; i < g->nn; i++) {
        int p = fusable_producer(g, i, opt->train);
        if (p < 0)
            continue;
        g->n[p].act = node_act(&g->n[i]);
        fuse_bypass(g, i);
        i--;
    }
    fuse_prune(g);
    return true;
}
