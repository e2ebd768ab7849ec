/* reshape.c: operators that pass their input's values through unchanged,
 * only relabelling its shape (the planner may alias them; the interpreter
 * copies).
 *
 *   flatten   [C,H,W] or [C,L] -> [C*H*W]; a flat [F] stays [F]
 *   reshape   -> a.target (per sample); one dimension may be -1, inferred
 *             from the element count, as in torch.reshape and ONNX Reshape
 *             (whose 0 = "copy" the front end resolves before this)
 *   dropout   y = x: the interpreter (and `cnnc grad`) treat dropout as
 *             the identity (contract, section 2); a.rate in [0, 1)
 *   identity  y = x
 *
 * Shape rule: one input; the element count is preserved. */
#include "../ops.h"

#include <string.h>

static bool infer_flatten(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    int64_t numel = shape_numel(node_in_shape(g, n, 0));
    g->t[n->out].shape = shape_make(1, &numel);
    return true;
}

static bool infer_reshape(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *s = node_in_shape(g, n, 0);
    Shape t = n->a.target;
    char have[128], want[128];
    int free_dim = -1;
    int64_t known = 1;
    if (t.rank < 1 || t.rank > MAX_RANK - 1) {
        diag_error(n->loc, "reshape '%s': target has %d dimensions; 1 to %d are supported",
                   n->name, t.rank, MAX_RANK - 1);
        return false;
    }
    for (int i = 0; i < t.rank; i++) {
        if (t.d[i] == -1 && free_dim < 0) {
            free_dim = i;
            continue;
        }
        if (t.d[i] < 1 || mul_overflows(known, t.d[i], &known)) {
            diag_error(n->loc, "reshape '%s': bad target shape (dimension %d is %lld; each must "
                       "be positive, with at most one -1)", n->name, i + 1, (long long)t.d[i]);
            return false;
        }
    }
    int64_t numel = shape_numel(s);
    if (free_dim >= 0 && numel % known == 0)
        t.d[free_dim] = numel / known;
    if (shape_numel(&t) != numel || (free_dim >= 0 && t.d[free_dim] == -1)) {
        diag_error(n->loc, "reshape '%s': input %s (%lld elements) cannot be reshaped to %s",
                   n->name, shape_str(s, have, sizeof have), (long long)numel,
                   shape_str(&n->a.target, want, sizeof want));
        return false;
    }
    g->t[n->out].shape = t;
    return true;
}

static bool infer_dropout(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    if (!(n->a.rate >= 0 && n->a.rate < 1)) {
        diag_error(n->loc, "dropout '%s': rate %g is not in [0, 1)", n->name, (double)n->a.rate);
        return false;
    }
    g->t[n->out].shape = *node_in_shape(g, n, 0);
    return true;
}

static bool infer_identity(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    g->t[n->out].shape = *node_in_shape(g, n, 0);
    return true;
}

static void run_copy(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                     bool training)
{
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    memcpy(out, in[0], (size_t)count * sizeof *out);
}

const OpInfo op_flatten = {
    .name = "flatten",
    .traits = OP_TRAITS(FLATTEN),
    .infer = infer_flatten,
    .run = run_copy,
    .grad = view_grad,
    .quant = &view_int8,
    .onnx_export = flatten_onnx_export,
};

const OpInfo op_reshape = {
    .name = "reshape",
    .traits = OP_TRAITS(RESHAPE),
    .infer = infer_reshape,
    .run = run_copy,
    .grad = view_grad,
    .quant = &view_int8,
    .onnx_export = reshape_onnx_export,
};

static void dump_dropout(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " rate=%g", n->a.rate);
}

const OpInfo op_dropout = {
    .name = "dropout",
    .traits = OP_TRAITS(DROPOUT),
    .infer = infer_dropout,
    .run = run_copy,
    .grad = view_grad,
    .emit_grad = dropout_emit_grad,
    .dump = dump_dropout,
    .quant = &view_int8,
    .onnx_export = dropout_onnx_export,
    .grad_reads = grad_reads_none,
    .emit_train = dropout_emit_train,
};

const OpInfo op_identity = {
    .name = "identity",
    .traits = OP_TRAITS(IDENTITY),
    .infer = infer_identity,
    .run = run_copy,
    .grad = view_grad,
    .quant = &view_int8,
    .onnx_export = identity_onnx_export,
};

int graph_add_identity(Graph *g, int t, const char *name, Loc loc)
{
    return graph_add_node(g, OP_IDENTITY, name, loc, &t, 1);
}

void node_become_reshape(Node *n, const Shape *target)
{
    n->op = OP_RESHAPE;
    n->a.target = *target;
}
