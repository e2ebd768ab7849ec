/* fuse_views.c: removes layers that move no data (pass "fuse-views").
 *
 * Matches view operators (OPT_VIEW: flatten, reshape, dropout, identity):
 *   - a view whose output shape is its input's (identity, dropout, a
 *     flatten of a flat tensor, a reshape to the same shape) is removed:
 *     its readers read its input;
 *   - a view reading the output of another view that nothing else reads
 *     becomes one reshape from the first one's input to its own shape.
 * Legal because a view's value, element for element in C order, is its
 * input's: only the shape label changes, and the last label wins. Dropout
 * is the identity at inference (PyTorch's eval mode, contract section 2).
 * The remaining flatten/reshape are views already: the planner aliases
 * them to their input (plan_alias), so they cost no copy.
 * Refuses: dropout in a --train build (training drops units); a view whose
 * removal would make the graph's output its input (no layer left). */
#include "../cnnc.h"

/* A one-input view, in this build (dropout is none when training). */
static bool is_view(const Node *n, const LoadOptions *opt)
{
    unsigned traits = op_info(n->op)->traits;
    return (traits & OPT_VIEW) && n->nin == 1 && !((traits & OPT_STOCHASTIC) && opt->train);
}

static bool removable(const Graph *g, const Node *n, const LoadOptions *opt)
{
    if (!is_view(n, opt))
        return false;
    if (n->in[0] == g->input && n->out == g->output)
        return false;
    return shape_eq(node_in_shape(g, n, 0), node_out_shape(g, n));
}

/* Node id is a view; its input comes from a view read by it alone:
 * returns that view's index, or -1. */
static int view_source(const Graph *g, int id, const LoadOptions *opt)
{
    const Node *n = &g->n[id];
    if (!is_view(n, opt))
        return -1;
    int p = g->t[n->in[0]].producer;
    if (p < 0 || !is_view(&g->n[p], opt) || fuse_sole_consumer(g, g->n[p].out) != id)
        return -1;
    return p;
}

bool fuse_views(Graph *g, const LoadOptions *opt)
{
    for (int i = 0; i < g->nn;) {
        if (removable(g, &g->n[i], opt)) {
            fuse_bypass(g, i);
            continue;
        }
        int p = view_source(g, i, opt);
        if (p >= 0) {
            Node *n = &g->n[i];
            node_become_reshape(n, node_out_shape(g, n));
            n->in[0] = g->n[p].in[0];
            fuse_bypass(g, p); /* its only reader no longer reads it */
            i = p;             /* i moved down by one; look at it again */
            continue;
        }
        i++;
    }
    fuse_prune(g);
    return true;
}
