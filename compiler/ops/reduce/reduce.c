/* reduce.c: reductions over any axes of the per-sample shape.
 *
 *   reduce_mean  y = sum(x) / count      reduce_sum  y = sum(x)
 *   reduce_max   y = max(x) (NaN wins)   reduce_l2   y = sqrt(sum(x^2))
 *
 * each over the cells of x that differ only along the reduced axes
 * (a.reduce_axes, a bit per axis; count of them per output), summed in
 * row-major order.
 *
 * Gradients (reduce_grad.c): sum dy; mean dy / count; l2 dy x / y (0 where
 * y is 0, PyTorch's norm backward); max dy / k to each of the k cells equal
 * to the maximum (PyTorch's amax backward spreads it evenly over ties).
 *
 * Shape rule: the reduced axes must exist (at least one); they become 1
 * (a.keepdims) or go; reducing every axis without keepdims would leave a
 * scalar per sample, which activations cannot be (an error). */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>

ReduceGeom reduce_geometry(const Graph *g, const Node *n)
{
    const Shape *x = node_in_shape(g, n, 0);
    ReduceGeom k = {.count = 1};
    int64_t xst = 1, yst = 1, xs[MAX_RANK], ys[MAX_RANK];
    for (int i = x->rank - 1; i >= 0; i--) {
        bool red = n->a.reduce_axes >> i & 1;
        xs[i] = xst;
        ys[i] = red ? 0 : yst;
        xst *= x->d[i];
        if (red)
            k.count *= x->d[i];
        else
            yst *= x->d[i];
    }
    for (int i = 0; i < x->rank; i++) {
        bool red = n->a.reduce_axes >> i & 1;
        if (x->d[i] == 1)
            continue;
        int r = k.rank - 1;
        if (r >= 0 && k.reduced[r] == red) { /* one run: inner strides */
            k.dim[r] *= x->d[i];
        } else {
            r = k.rank++;
            k.dim[r] = x->d[i];
            k.reduced[r] = red;
        }
        k.xst[r] = xs[i];
        k.yst[r] = ys[i];
    }
    return k;
}

int64_t *reduce_offsets(const ReduceGeom *k, int64_t xn)
{
    int64_t *at = xmalloc((size_t)(xn ? xn : 1) * sizeof *at), idx[MAX_RANK] = {0};
    for (int64_t e = 0; e < xn; e++) {
        int64_t a = 0;
        for (int i = 0; i < k->rank; i++)
            a += idx[i] * k->yst[i];
        at[e] = a;
        for (int i = k->rank - 1; i >= 0 && ++idx[i] == k->dim[i]; i--)
            idx[i] = 0;
    }
    return at;
}

static void dump_reduce(const Graph *g, const Node *n, FILE *out)
{
    fputs(" axes=", out);
    for (int i = 0, first = 1; i < MAX_RANK; i++)
        if (n->a.reduce_axes >> i & 1) {
            fprintf(out, "%s%d", first ? "" : ",", i);
            first = 0;
        }
    fprintf(out, " keepdims=%d", n->a.keepdims);
}

static bool infer_reduce(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *x = node_in_shape(g, n, 0);
    char buf[64];
    unsigned all = (1u << x->rank) - 1;
    if (!n->a.reduce_axes || (n->a.reduce_axes & ~all)) {
        diag_error(n->loc, "%s '%s': reduces no axis or one outside input shape %s",
                   op_info(n->op)->name, n->name, shape_str(x, buf, sizeof buf));
        return false;
    }
    Shape y = {0, {0}};
    for (int i = 0; i < x->rank; i++) {
        bool red = n->a.reduce_axes >> i & 1;
        if (!red || n->a.keepdims)
            y.d[y.rank++] = red ? 1 : x->d[i];
    }
    if (y.rank == 0) {
        diag_error(n->loc, "%s '%s': reducing every axis of %s without keepdims leaves a "
                   "scalar per sample, which is not supported (keep the dimensions)",
                   op_info(n->op)->name, n->name, shape_str(x, buf, sizeof buf));
        return false;
    }
    g->t[n->out].shape = y;
    return true;
}

/* The reduction's value from its accumulator: the sum, or the maximum. */
static float finish(int op, float acc, int64_t count)
{
    return op == OP_REDUCE_MEAN ? acc / (float)count : op == OP_REDUCE_L2 ? sqrtf(acc) : acc;
}

static void run_reduce(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                       bool training)
{
    ReduceGeom k = reduce_geometry(g, n);
    int64_t xn = shape_numel(node_in_shape(g, n, 0)), yn = shape_numel(node_out_shape(g, n));
    bool max = n->op == OP_REDUCE_MAX, l2 = n->op == OP_REDUCE_L2;
    int64_t *at = reduce_offsets(&k, xn);
    for (int b = 0; b < batch; b++) {
        const float *x = in[0] + b * xn;
        float *y = out + b * yn;
        for (int64_t o = 0; o < yn; o++)
            y[o] = max ? -INFINITY : 0.0f;
        for (int64_t e = 0; e < xn; e++) {
            float v = x[e], *r = &y[at[e]];
            *r = !max ? *r + (l2 ? v * v : v) : v > *r || isnan(v) ? v : *r;
        }
        for (int64_t o = 0; o < yn; o++)
            y[o] = finish(n->op, y[o], k.count);
    }
    free(at);
}

#define REDUCE_OP(ID, NAME)                                                                    \
    const OpInfo op_##NAME = {                                                                 \
        .name = #NAME,                                                                         \
        .traits = OP_TRAITS(ID),                                                               \
        .infer = infer_reduce,                                                                 \
        .run = run_reduce,                                                                     \
        .grad = reduce_grad,                                                                   \
        .emit = reduce_emit,                                                                   \
        .emit_grad = reduce_emit_grad,                                                         \
        .dump = dump_reduce,                                                                   \
        .grad_reads = reduce_grad_reads,                                                       \
        .onnx_export = reduce_onnx_export,                                                     \
    }

REDUCE_OP(REDUCE_MEAN, reduce_mean);
REDUCE_OP(REDUCE_MAX, reduce_max);
REDUCE_OP(REDUCE_SUM, reduce_sum);
REDUCE_OP(REDUCE_L2, reduce_l2);
