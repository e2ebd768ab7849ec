/* act_fuse.c: the exported forms of activations ONNX has no operator for
 * (up to opset 17), made one activation again (pass "fuse-math",
 * passes/fuse_fold.c). Takes a Graph; gives it with each pattern below one
 * node, so that the activation fuses into its producer's epilogue next
 * (fuse-act) and the intermediate tensors never exist.
 *
 *   silu       mul(x, sigmoid(x))                           (torch: silu)
 *   hardswish  mul(x, hardsigmoid(x; 1/6, 1/2))             (torch < opset 14)
 *   mish       mul(x, tanh(softplus(x; beta 1)))            (torch: mish)
 *   gelu       mul(mul(x, add(erf(mul(x, 1/sqrt 2)), 1)), 1/2)
 *                                                           (torch 1.13: gelu)
 *
 * Each rule starts at the pattern's first node (the activation applied to x,
 * or for gelu the product x / sqrt 2), so that the pass removes it and the
 * nodes between it and the last are removed here: all come after it, so the
 * pass's walk is undisturbed. The last node becomes the activation of x; its
 * output tensor, the one the rest of the graph reads, stays.
 *
 * Legal because each is the activation's definition, operation for
 * operation, up to float rounding: silu is x / (1 + e^-x) where the pattern
 * computes x * (1 / (1 + e^-x)); hardswish x relu6(x + 3) / 6 where it
 * computes x min(max(x / 6 + 1/2, 0), 1); gelu the exporter's own formula
 * (x / sqrt 2 becomes x times the constant, a rounding of its own). Mish
 * needs the softplus without a threshold below 20: tanh of anything above
 * 9 is 1 in float. Refuses: an intermediate tensor read by another node or
 * being the model's output (its value must exist); a constant that is
 * not the pattern's (checked to 1e-6 for 1/sqrt 2, exactly for 1 and 1/2);
 * in a --train build, a trainable constant (the pattern's value would
 * change under training). */
#include "../ops.h"

#include <math.h>

/* The node reading tensor t, alone, if it computes op; else -1. */
static int next(const Graph *g, int t, int op)
{
    int c = fuse_sole_consumer(g, t);
    return c >= 0 && g->n[c].op == op ? c : -1;
}

/* Node m is mul(x, t) or mul(t, x) of two activations. */
static bool times(const Node *m, int x, int t)
{
    return m->nin == 2 && elt_count(m) == 2 &&
           ((m->in[0] == x && m->in[1] == t) || (m->in[0] == t && m->in[1] == x));
}

/* Node n's constant operand is one value within tol of want, constant
 * for good in a --train build. */
static bool scalar_operand(const Graph *g, const Node *n, float want, float tol,
                           const LoadOptions *opt)
{
    if (n->nin != 1 || elt_count(n) != 2 || n->a.const_first || act_present(n->act))
        return false;
    const Tensor *b = &g->t[n->param[0]];
    return shape_numel(&b->shape) == 1 && fabsf(b->data[0] - want) <= tol &&
           (!opt->train || b->kind == T_CONST);
}

/* Node `last` becomes act of x; the nodes listed (after the first, in
 * increasing order) go. */
static void become(Graph *g, int last, int x, Act act, const int *gone, int ngone)
{
    Node *m = &g->n[last];
    m->op = act_info(act.kind)->op;
    m->in[0] = x;
    m->nin = 1;
    m->nparam = 0;
    m->param[0] = -1;
    m->act = act;
    for (int i = ngone - 1; i >= 0; i--)
        fuse_remove(g, gone[i]);
}

/* silu, hardswish, mish: x times f(x), from f's first node. */
static bool act_fold(Graph *g, int id, const LoadOptions *opt)
{
    const Node *a = &g->n[id];
    Act act = node_act(a);
    int x = a->in[0], f = id, gone[1] = {-1}, ngone = 0;
    Act fused = {ACT_NONE, 0, 0};
    if (act.kind == ACT_SIGMOID)
        fused.kind = ACT_SILU;
    else if (act.kind == ACT_HARDSIGMOID && act.a == 1.0f / 6 && act.b == 0.5f)
        fused.kind = ACT_HARDSWISH;
    else if (act.kind == ACT_SOFTPLUS && act.a == 1 && act.b >= 20 &&
             (f = next(g, a->out, OP_TANH)) >= 0) {
        fused.kind = ACT_MISH;
        gone[ngone++] = f;
    }
    if (fused.kind == ACT_NONE)
        return false;
    int m = fuse_sole_consumer(g, g->n[f].out);
    if (m < 0 || g->n[m].op != OP_MUL || !times(&g->n[m], x, g->n[f].out))
        return false;
    become(g, m, x, fused, gone, ngone);
    return true;
}

const FoldRule act_folds[] = {
    {"fuse-math", act_fold},
    {NULL, NULL},
};

/* gelu, from mul(x, 1/sqrt 2). */
static bool mul_fold(Graph *g, int id, const LoadOptions *opt)
{
    const Node *n = &g->n[id];
    if (!scalar_operand(g, n, 0.70710678f, 1e-6f, opt))
        return false;
    int x = n->in[0];
    int erf = next(g, n->out, OP_ERF);
    int add = erf < 0 ? -1 : next(g, g->n[erf].out, OP_ADD);
    if (add < 0 || !scalar_operand(g, &g->n[add], 1.0f, 0, opt))
        return false;
    int m1 = next(g, g->n[add].out, OP_MUL);
    if (m1 < 0 || !times(&g->n[m1], x, g->n[add].out))
        return false;
    int m2 = next(g, g->n[m1].out, OP_MUL);
    if (m2 < 0 || !scalar_operand(g, &g->n[m2], 0.5f, 0, opt))
        return false;
    int gone[] = {erf, add, m1};
    become(g, m2, x, (Act){ACT_GELU, 0, 0}, gone, 3);
    return true;
}

const FoldRule mul_folds[] = {
    {"fuse-math", mul_fold},
    {NULL, NULL},
};
