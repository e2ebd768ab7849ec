/* maxout.c: maxout over groups of consecutive channels (Goodfellow et al.,
 * 2013: unit c is the max of the k pieces c*k .. c*k+k-1).
 *
 *   y[c, p] = max_{j < k} x[c*k + j, p]   for every spatial position p
 *
 * For a flat [F] input the "channels" are the features.
 *
 * Shape rule: one input [C,...]; k >= 1 and C % k == 0; output [C/k, ...]. */
#include "../ops.h"

static bool infer_maxout(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *s = node_in_shape(g, n, 0);
    if (n->a.k < 1) {
        diag_error(n->loc, "maxout '%s': group size k = %d must be at least 1", n->name, n->a.k);
        return false;
    }
    if (s->rank < 1 || s->d[0] % n->a.k != 0) {
        char buf[128];
        diag_error(n->loc, "maxout '%s': %lld channels (input %s) are not a multiple of k = %d",
                   n->name, (long long)(s->rank ? s->d[0] : 0), shape_str(s, buf, sizeof buf),
                   n->a.k);
        return false;
    }
    Shape o = *s;
    o.d[0] /= n->a.k;
    g->t[n->out].shape = o;
    return true;
}

static void run_maxout(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                       bool training)
{
    const Shape *s = node_out_shape(g, n);
    int64_t units = batch * s->d[0], k = n->a.k, plane = shape_numel(s) / s->d[0];
    for (int64_t u = 0; u < units; u++) {
        const float *x = in[0] + u * k * plane; /* (k, plane) */
        float *y = out + u * plane;             /* (plane) */
        for (int64_t p = 0; p < plane; p++) {
            float max = x[p];
            for (int64_t j = 1; j < k; j++)
                if (x[j * plane + p] > max)
                    max = x[j * plane + p];
            y[p] = max;
        }
    }
}

static void dump_maxout(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " k=%d", n->a.k);
}

const OpInfo op_maxout = {
    .name = "maxout",
    .traits = OP_TRAITS(MAXOUT),
    .infer = infer_maxout,
    .run = run_maxout,
    .grad = maxout_grad,
    .emit = maxout_emit,
    .emit_grad = maxout_emit_grad,
    .dump = dump_maxout,
    .quant = &maxout_int8,
    .onnx_export = maxout_onnx_export,
    .grad_reads = maxout_grad_reads,
};
