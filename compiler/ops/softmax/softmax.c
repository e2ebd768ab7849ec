/* softmax.c: softmax over one axis of the per-sample shape.
 *
 *   y[i] = e^(x[i] - m) / sum_j e^(x[j] - m),  m = max_j x[j],
 *
 * i and j running along a.axis with every other index fixed. Subtracting
 * the maximum keeps e^ in (0, 1]; the sum is taken in double. Axis 0 is the
 * channels: for [C,H,W] that is a softmax per pixel, PyTorch's dim=1.
 *
 * Shape rule: one input; a.axis in [-rank, rank) (negative counts from the
 * end and is normalised); the output has the input's shape. */
#include "../ops.h"

#include <math.h>

static bool infer_softmax(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *s = node_in_shape(g, n, 0);
    if (n->a.axis < -s->rank || n->a.axis >= s->rank) {
        char buf[128];
        diag_error(n->loc, "softmax '%s': axis %d is out of range for input shape %s", n->name,
                   n->a.axis, shape_str(s, buf, sizeof buf));
        return false;
    }
    if (n->a.axis < 0)
        n->a.axis += s->rank;
    g->t[n->out].shape = *s;
    return true;
}

/* Softmax of the `len` values x[0], x[stride], ... into y likewise. */
static void softmax_line(const float *x, float *y, int64_t len, int64_t stride)
{
    float max = x[0];
    for (int64_t i = 1; i < len; i++)
        if (x[i * stride] > max)
            max = x[i * stride];
    double sum = 0;
    for (int64_t i = 0; i < len; i++) {
        float e = expf(x[i * stride] - max);
        y[i * stride] = e;
        sum += e;
    }
    for (int64_t i = 0; i < len; i++)
        y[i * stride] = (float)(y[i * stride] / sum);
}

static void run_softmax(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                        bool training)
{
    const Shape *s = node_out_shape(g, n);
    int64_t outer, len = s->d[n->a.axis], inner;
    shape_split(s, n->a.axis, &outer, &inner);
    for (int64_t o = 0; o < outer * batch; o++)
        for (int64_t k = 0; k < inner; k++) {
            int64_t base = o * len * inner + k;
            softmax_line(in[0] + base, out + base, len, inner);
        }
}

static void dump_axis(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " axis=%d", n->a.axis);
}

const OpInfo op_softmax = {
    .name = "softmax",
    .traits = OP_TRAITS(SOFTMAX),
    .infer = infer_softmax,
    .run = run_softmax,
    .grad = softmax_grad,
    .emit = softmax_emit,
    .emit_grad = softmax_emit_grad,
    .dump = dump_axis,
    .quant = &softmax_int8,
    .onnx_export = softmax_onnx_export,
    .grad_reads = softmax_grad_reads,
    .fuses_with_loss = softmax_fuses_with_loss,
};
