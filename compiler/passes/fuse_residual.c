/* fuse_residual.c: moves a residual join into the conv that feeds it (pass
 * "fuse-residual"), so that the sum never makes a round trip through
 * memory between the conv and a separate add layer.
 *
 * Matches add(c, r) where c is the output of a conv p and r any other
 * activation of the same shape: p takes r as its second input and the add's
 * epilogue, and the add goes. A conv with two inputs computes
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
#include "../cnnc.h"

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
    if (n->op != OP_CONV || n->nin != 1 || n->act.kind != ACT_NONE ||
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
    if (add->op != OP_ADD || add->nin != 2 || (add->nparam > 0 && add->param[0] >= 0))
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
    add->in[0] = c; /* the add's readers read the conv's output */
    fuse_bypass(g, id);
}

bool fuse_residual(Graph *g, const LoadOptions *opt)
{
    if (opt->train)
        return true;
    for (int i = 0; i < g->nn; i++) {
        int j = pick_operand(g, i);
        if (j < 0)
            continue;
        absorb(g, i, j);
        i--;
    }
    fuse_prune(g);
    return true;
}
