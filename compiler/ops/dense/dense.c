/* dense.c: the fully connected layer (PyTorch's Linear).
 *
 * Forward: y[u] = act(b[u] + sum_i W[u,i] * x[i]).
 * Shape rule: input flat [IN] (anything else is an error suggesting
 * `flatten`), output [UNITS]; weight [UNITS, IN], bias [UNITS].
 * MACs: IN * UNITS (bias adds not counted). */
#include "../ops.h"

static bool dense_infer(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *x = node_in_shape(g, n, 0);
    char buf[64];
    if (x->rank != 1) {
        diag_error(n->loc, "dense '%s': needs a flat input, got %s; add `flatten` before it",
                   n->name, shape_str(x, buf, sizeof buf));
        return false;
    }
    if (n->a.filters < 1) {
        diag_error(n->loc, "dense '%s': needs at least 1 unit, got %d", n->name, n->a.filters);
        return false;
    }
    Shape ws = shape_make(2, (int64_t[]){n->a.filters, x->d[0]});
    Shape bs = shape_make(1, (int64_t[]){n->a.filters});
    if (!graph_param(g, n, 0, "weight", T_PARAM, &ws, n->a.init))
        return false;
    if (n->a.bias && !graph_param(g, n, 1, "bias", T_PARAM, &bs, n->a.init))
        return false;
    g->t[n->out].shape = bs;
    return true;
}

static int64_t dense_macs(const Graph *g, const Node *n)
{
    return node_in_shape(g, n, 0)->d[0] * node_out_shape(g, n)->d[0];
}

static void dense_run(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                      bool training)
{
    int64_t nin = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    const float *wt = node_param_data(g, n, 0);
    const float *bias = n->a.bias ? node_param_data(g, n, 1) : NULL;
    for (int64_t b = 0; b < batch; b++) {
        const float *x = in[0] + b * nin; /* (IN) */
        float *y = out + b * units;       /* (UNITS) */
        for (int64_t u = 0; u < units; u++) {
            const float *wu = wt + u * nin;
            double acc = bias ? bias[u] : 0;
            for (int64_t i = 0; i < nin; i++)
                acc += (double)wu[i] * x[i];
            y[u] = act_apply(n->act, (float)acc);
        }
    }
}

static void dump_dense(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " units=%d", n->a.filters);
}

const OpInfo op_dense = {
    .name = "dense",
    .traits = OP_TRAITS(DENSE),
    .infer = dense_infer,
    .macs = dense_macs,
    .run = dense_run,
    .grad = dense_grad,
    .emit = dense_emit,
    .emit_grad = dense_emit_grad,
    .dump = dump_dense,
    .quant = &dense_int8,
    .onnx_export = dense_onnx_export,
    .grad_reads = dense_grad_reads,
    .emit_train = dense_emit_train,
};
