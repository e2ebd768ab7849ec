/* concat.c: joins activations along one axis of the per-sample shape
 * (0 = channels, PyTorch's torch.cat(dim=1)).
 *
 *   y[..., off_i + j, ...] = x_i[..., j, ...],  off_i = sum_{k<i} x_k.d[axis]
 *
 * Shape rule: one or more inputs of equal rank whose dimensions agree
 * except along a.axis (in [-rank, rank), normalised); the output's
 * a.axis dimension is the sum of theirs. */
#include "../ops.h"

static bool infer_concat(Graph *g, Node *n)
{
    if (n->nin < 1) {
        diag_error(n->loc, "concat '%s' has no inputs", n->name);
        return false;
    }
    const Shape *s = node_in_shape(g, n, 0);
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
    for (int i = 1; i < n->nin; i++) {
        const Shape *si = node_in_shape(g, n, i);
        bool ok = si->rank == s->rank;
        for (int d = 0; d < s->rank && ok; d++)
            ok = d == axis || si->d[d] == s->d[d];
        if (!ok) {
            diag_error(n->loc, "concat '%s': inputs '%s' (%s) and '%s' (%s) differ outside "
                       "axis %d", n->name, g->t[n->in[0]].name, shape_str(s, s0, sizeof s0),
                       g->t[n->in[i]].name, shape_str(si, s1, sizeof s1), axis);
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
    int axis = n->a.axis;
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    for (int64_t o = 0; o < outer * batch; o++)
        for (int i = 0; i < n->nin; i++) {
            int64_t chunk = node_in_shape(g, n, i)->d[axis] * inner;
            const float *x = in[i] + o * chunk;
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
    .onnx_export = concat_onnx_export,
    .grad_reads = grad_reads_none,
};
