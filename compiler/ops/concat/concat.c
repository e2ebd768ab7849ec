/* concat.c: joins activations, and constants, along one axis of the
 * per-sample shape (0 = channels, PyTorch's torch.cat(dim=1)).
 *
 *   y[..., off_i + j, ...] = x_i[..., j, ...],  off_i = sum_{k<i} x_k.d[axis]
 *
 * The operands are the inputs and, where a.const_at has bit i set, the
 * next constant parameter (ONNX Concat of an activation with an
 * initializer: the same values for every sample; trainable if it is a
 * model parameter, a ViT's class token).
 * Gradient: dL/dy cut along the axis into each operand's piece (summed
 * over the batch for a parameter).
 * Shape rule: one or more operands of equal rank whose dimensions agree
 * except along a.axis (in [-rank, rank), normalised); the output's
 * a.axis dimension is the sum of theirs. */
#include "../ops.h"

int concat_operands(const Node *n)
{
    return n->nin + (n->nparam > 0 ? n->nparam : 0);
}

bool concat_operand(const Node *n, int i, int *index)
{
    uint64_t before = n->a.const_at & ((UINT64_C(1) << i) - 1u);
    int consts = __builtin_popcountll(before);
    bool is_const = n->a.const_at >> i & 1u;
    *index = is_const ? consts : i - consts;
    return is_const;
}

const Shape *concat_shape(const Graph *g, const Node *n, int i)
{
    int k;
    return concat_operand(n, i, &k) ? &g->t[n->param[k]].shape : node_in_shape(g, n, k);
}

static bool infer_concat(Graph *g, Node *n)
{
    int ops = concat_operands(n);
    if (n->nin < 1) {
        diag_error(n->loc, "concat '%s' has no inputs", n->name);
        return false;
    }
    if (ops > CONCAT_MAX_OPERANDS) {
        diag_error(n->loc, "concat '%s' has %d operands; at most %d are supported", n->name, ops,
                   CONCAT_MAX_OPERANDS);
        return false;
    }
    const Shape *s = concat_shape(g, n, 0);
    char s0[128], s1[128];
    if (n->a.axis < -s->rank || n->a.axis >= s->rank) {
        diag_error(n->loc, "concat '%s': axis %d is out of range for input shape %s", n->name,
                   n->a.axis, shape_str(s, s0, sizeof s0));
        return false;
    }
    if (n->a.axis < 0)
        n->a.axis += s->rank;
    int axis = n->a.axis;
    Shape o = *s;
    for (int i = 1; i < ops; i++) {
        const Shape *si = concat_shape(g, n, i);
        bool ok = si->rank == s->rank;
        for (int d = 0; d < s->rank && ok; d++)
            ok = d == axis || si->d[d] == s->d[d];
        if (!ok) {
            diag_error(n->loc, "concat '%s': operands 1 (%s) and %d (%s) differ outside "
                       "axis %d", n->name, shape_str(s, s0, sizeof s0), i + 1,
                       shape_str(si, s1, sizeof s1), axis);
            return false;
        }
        o.d[axis] += si->d[axis];
    }
    g->t[n->out].shape = o;
    return true;
}

static void run_concat(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                       bool training)
{
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis, ops = concat_operands(n);
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    for (int64_t o = 0; o < outer * batch; o++)
        for (int i = 0; i < ops; i++) {
            int k;
            bool c = concat_operand(n, i, &k);
            int64_t chunk = concat_shape(g, n, i)->d[axis] * inner;
            const float *x = c ? node_param_data(g, n, k) + o % outer * chunk : in[k] + o * chunk;
            for (int64_t j = 0; j < chunk; j++)
                *out++ = x[j];
        }
}

static void dump_axis(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " axis=%d", n->a.axis);
}

const OpInfo op_concat = {
    .name = "concat",
    .traits = OP_TRAITS(CONCAT),
    .infer = infer_concat,
    .run = run_concat,
    .grad = concat_grad,
    .emit = concat_emit,
    .emit_grad = concat_emit_grad,
    .dump = dump_axis,
    .quant = &concat_int8,
    .onnx_export = concat_onnx_export,
    .grad_reads = grad_reads_none,
    .emit_train = concat_emit_train, /* a constant operand may be trainable */
};
