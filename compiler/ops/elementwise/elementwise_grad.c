/* elementwise_grad.c: backward of add and mul (elementwise.c).
 *
 *   add: every operand receives gy = dL/d(pre-activation) (the fused
 *        epilogue undone first); a broadcast operand B sums gy over the
 *        elements that read each of its cells.
 *   mul: dL/dx0 = dL/dy * x1 and dL/dx1 = dL/dy * x0; with B, dL/dx0 =
 *        dL/dy * B and dL/dB sums dL/dy * x0 over the cells that read B. */
#include "../ops.h"

#include <stdlib.h>

/* For element e of one sample of shape s, where it reads B (numpy
 * broadcasting, as elementwise.c aligns it): B's strides along the aligned
 * dimensions, 0 where B's dimension is 1. */
static int64_t broadcast_at(const Shape *b, const Shape *s, int64_t e)
{
    int extra = b->rank - s->rank;
    int64_t at = 0, stride = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        int bi = i + extra;
        int64_t coord = e % s->d[i];
        e /= s->d[i];
        if (bi >= 0 && b->d[bi] != 1) {
            at += coord * stride;
            stride *= b->d[bi];
        }
    }
    return at;
}

static const Tensor *operand_b(const Graph *g, const Node *n)
{
    return n->nparam > 0 && n->param[0] >= 0 ? &g->t[n->param[0]] : NULL;
}

void add_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
              const float *dout, float *const *din, float *const *dparam, int batch)
{
    const Shape *s = node_out_shape(g, n);
    int64_t numel = shape_numel(s), count = batch * numel;
    float *tmp = epilogue_grad(n, out, dout, count);
    const float *dy = tmp ? tmp : dout;
    for (int j = 0; j < n->nin; j++)
        if (din[j])
            for (int64_t i = 0; i < count; i++)
                din[j][i] += dy[i];
    const Tensor *b = operand_b(g, n);
    if (b && dparam[0])
        for (int64_t i = 0; i < count; i++)
            dparam[0][broadcast_at(&b->shape, s, i % numel)] += dy[i];
    free(tmp);
}

void mul_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
              const float *dout, float *const *din, float *const *dparam, int batch)
{
    const Shape *s = node_out_shape(g, n);
    int64_t numel = shape_numel(s), count = batch * numel;
    const Tensor *b = operand_b(g, n);
    if (!b) {
        for (int j = 0; j < 2; j++)
            if (din[j])
                for (int64_t i = 0; i < count; i++)
                    din[j][i] += dout[i] * in[1 - j][i];
        return;
    }
    for (int64_t i = 0; i < count; i++) {
        int64_t at = broadcast_at(&b->shape, s, i % numel);
        if (din[0])
            din[0][i] += dout[i] * b->data[at];
        if (dparam[0])
            dparam[0][at] += dout[i] * in[0][i];
    }
}

/* add: only a fused activation's derivative reads (the output). */
void add_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)gn;
    for (int j = 0; j < n->nin; j++)
        in[j] = false;
    *out = n->act.kind != ACT_NONE;
}

/* mul: each operand's gradient reads the other; B's, the input. */
void mul_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    for (int j = 0; j < n->nin; j++)
        in[j] = false;
    if (operand_b(g, n))
        in[0] = gn->dp[0].t >= 0;
    else
        for (int j = 0; j < 2 && j < n->nin; j++)
            in[j] = gn->dx[1 - j].t >= 0;
    *out = false;
}
