/* prelu.c: the parametric ReLU, a learned slope for the negative side.
 *
 *   y = x > 0 ? x : a x
 *
 * a is the slope parameter (param 0, trainable), one per channel (shape
 * [C], PyTorch's nn.PReLU(C): it runs along axis 0 of the per-sample
 * shape), one for all (shape [1]), or any shape that broadcasts to the
 * sample NumPy-style without growing it (ONNX's PRelu; a leading batch
 * dimension of 1 allowed).
 *
 * Gradients (prelu_grad.c): dL/dx = dy (x > 0 ? 1 : a), dL/da = sum of
 * dy x over the cells with x <= 0 that read a (PyTorch's: the slope's side
 * at 0).
 *
 * Shape rule: one input; the output has its shape. Without a parameter
 * (the DSL) it declares `<layer>.weight`, [1] (a.prelu_shared) or [C],
 * every slope a.prelu_slope. */
#include "../ops.h"

#include <stdlib.h>

bool prelu_view(const Shape *a, const Shape *x, Shape *view)
{
    *view = *a;
    if (a->rank == 1 && x->rank > 1) { /* one per channel: [C, 1, ...] */
        view->rank = x->rank;
        for (int i = 1; i < x->rank; i++)
            view->d[i] = 1;
    } else if (a->rank == x->rank + 1 && a->d[0] == 1) { /* a batch dimension of 1 */
        view->rank--;
        for (int i = 0; i < view->rank; i++)
            view->d[i] = a->d[i + 1];
    }
    if (view->rank > x->rank)
        return false;
    for (int i = 1; i <= view->rank; i++) {
        int64_t v = view->d[view->rank - i];
        if (v != 1 && v != x->d[x->rank - i])
            return false;
    }
    return true;
}

/* A new slope parameter, every value a.prelu_slope. */
static bool declare_slope(Graph *g, Node *n, const Shape *x)
{
    Shape s = {1, {n->a.prelu_shared ? 1 : x->d[0]}};
    if (!graph_param(g, n, 0, "weight", T_PARAM, &s, INIT_DEFAULT))
        return false;
    Tensor *t = &g->t[n->param[0]];
    t->data = xmalloc((size_t)s.d[0] * sizeof *t->data);
    for (int64_t i = 0; i < s.d[0]; i++)
        t->data[i] = n->a.prelu_slope;
    return true;
}

static bool infer_prelu(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    Shape xs = *node_in_shape(g, n, 0), *x = &xs; /* a copy: declare_slope grows g->t */
    if ((n->nparam < 1 || n->param[0] < 0) && !declare_slope(g, n, x))
        return false;
    const Tensor *a = &g->t[n->param[0]];
    Shape view;
    char s0[128], s1[128];
    if (!prelu_view(&a->shape, x, &view)) {
        diag_error(n->loc, "prelu '%s': slope '%s' of shape %s does not broadcast to input "
                   "shape %s (one per channel, one for all, or NumPy-style without growing it)",
                   n->name, a->name, shape_str(&a->shape, s0, sizeof s0),
                   shape_str(x, s1, sizeof s1));
        return false;
    }
    g->t[n->out].shape = *x;
    return true;
}

int64_t *prelu_slope_index(const Graph *g, const Node *n)
{
    const Shape *x = node_in_shape(g, n, 0);
    Shape view;
    prelu_view(&g->t[n->param[0]].shape, x, &view);
    return elt_index(&view, x);
}

static void run_prelu(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                      bool training)
{
    const Tensor *a = &g->t[n->param[0]];
    int64_t numel = shape_numel(node_in_shape(g, n, 0)), *at = prelu_slope_index(g, n);
    for (int b = 0; b < batch; b++)
        for (int64_t i = 0; i < numel; i++) {
            float v = in[0][b * numel + i];
            out[b * numel + i] = v > 0 ? v : a->data[at[i]] * v;
        }
    free(at);
}

const OpInfo op_prelu = {
    .name = "prelu",
    .traits = OP_TRAITS(PRELU),
    .infer = infer_prelu,
    .run = run_prelu,
    .grad = prelu_grad,
    .emit = prelu_emit,
    .emit_grad = prelu_emit_grad,
    .grad_reads = prelu_grad_reads,
    .emit_train = prelu_emit_train, /* the slope is trainable */
    .onnx_export = prelu_onnx_export,
};
