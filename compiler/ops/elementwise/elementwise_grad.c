/* elementwise_grad.c: backward of add, sub, mul and div (elementwise.c).
 *
 * With g = dL/dy (for add, dL/d(pre-activation): the fused epilogue undone
 * first), operand k receives g * dy/dx_k:
 *   add 1;  sub 1 for the left operand, -1 for the right;
 *   mul the other operand;  div 1/b for the left operand a, -a/b^2 for b
 *   (PyTorch's div backward),
 * added into each cell it was read from: summed over the broadcast axes
 * (and, for B, over the batch). */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>

/* d(a^b)/da = b a^(b-1) and d(a^b)/db = a^b ln a, 0 where PyTorch's
 * pow backward masks them: an exponent of 0 for the base, a base of 0
 * under an exponent >= 0 for the exponent (0 * ln 0 would be NaN). */
static float power_partial(int k, float a, float b)
{
    if (k == 0)
        return b == 0.0f ? 0.0f : b * powf(a, b - 1.0f);
    return a == 0.0f && b >= 0.0f ? 0.0f : powf(a, b) * logf(a);
}

/* dy/dx_k at one cell, from the operands' values v[] there. */
static float partial(int op, int k, const float *v)
{
    switch (op) {
    case OP_ADD: return 1.0f;
    case OP_SUB: return k == 0 ? 1.0f : -1.0f;
    case OP_MUL: return v[1 - k];
    case OP_POWER: return power_partial(k, v[0], v[1]);
    default: return k == 0 ? 1.0f / v[1] : -v[0] / (v[1] * v[1]);
    }
}

/* Where each operand's gradient goes: din[j], dparam[0] for B, or NULL. */
static float *grad_dest(const Node *n, int k, float *const *din, float *const *dparam)
{
    int j = elt_input(n, k);
    return j >= 0 ? din[j] : dparam[0];
}

void elementwise_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                      const float *dout, float *const *din, float *const *dparam, int batch)
{
    const Shape *s = node_out_shape(g, n);
    int64_t numel = shape_numel(s), count = elt_count(n);
    float *tmp = epilogue_grad(n, out, dout, batch * numel);
    const float *dy = tmp ? tmp : dout;
    int64_t **at = xmalloc((size_t)count * sizeof *at);
    int64_t *stride = xmalloc((size_t)count * sizeof *stride);
    const float **data = xmalloc((size_t)count * sizeof *data);
    float *v = xmalloc((size_t)count * sizeof *v);
    for (int k = 0; k < count; k++) {
        data[k] = elt_data(g, n, in, k, &stride[k]);
        Shape x = elt_shape(g, n, k);
        at[k] = elt_index(&x, s);
    }
    for (int b = 0; b < batch; b++)
        for (int64_t e = 0; e < numel; e++) {
            for (int k = 0; k < count; k++)
                v[k] = data[k][b * stride[k] + at[k][e]];
            for (int k = 0; k < count; k++) {
                float *d = grad_dest(n, k, din, dparam);
                if (d)
                    d[b * stride[k] + at[k][e]] += dy[b * numel + e] * partial(n->op, k, v);
            }
        }
    for (int k = 0; k < count; k++)
        free(at[k]);
    free(v);
    free(data);
    free(stride);
    free(at);
    free(tmp);
}

/* What each operand's partial reads (partial above): mul the other
 * operand, div's x_0 the divisor and its x_1 both, power both; add and sub nothing
 * but a fused activation's output. */
void elementwise_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in,
                            bool *out)
{
    (void)g;
    int count = elt_count(n);
    bool reads[2] = {false, false};
    for (int k = 0; k < count && k < 2; k++) {
        int j = elt_input(n, k);
        if (!(j >= 0 ? gn->dx[j].t >= 0 : gn->dp[0].t >= 0))
            continue;
        if (n->op == OP_MUL)
            reads[1 - k] = true;
        else if (n->op == OP_POWER)
            reads[0] = reads[1] = true;
        else if (n->op == OP_DIV)
            reads[1] = true, reads[0] |= k == 1;
    }
    for (int j = 0; j < n->nin; j++)
        in[j] = false;
    for (int k = 0; k < count && k < 2; k++)
        if (reads[k] && elt_input(n, k) >= 0)
            in[elt_input(n, k)] = true;
    *out = n->act.kind != ACT_NONE;
}
