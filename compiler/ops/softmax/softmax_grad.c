/* softmax_grad.c: backward of a standalone softmax (softmax.c). A softmax
 * that ends the model is not differentiated here: interp/grad.c fuses it
 * with the cross-entropy (dL/dx = (p - onehot) / N).
 *
 * Along the axis, with y the output:
 *   dL/dx[i] = y[i] * (dL/dy[i] - sum_j dL/dy[j] * y[j]). */
#include "../ops.h"

void softmax_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                  const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    const Shape *s = node_out_shape(g, n);
    int64_t outer, len = s->d[n->a.axis], inner;
    shape_split(s, n->a.axis, &outer, &inner);
    for (int64_t o = 0; o < outer * batch; o++)
        for (int64_t k = 0; k < inner; k++) {
            int64_t base = o * len * inner + k;
            const float *y = out + base, *gy = dout + base;
            float *dx = din[0] + base;
            double dot = 0;
            for (int64_t i = 0; i < len; i++)
                dot += (double)gy[i * inner] * y[i * inner];
            for (int64_t i = 0; i < len; i++)
                dx[i * inner] += (float)(y[i * inner] * (gy[i * inner] - dot));
        }
}

void softmax_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)n;
    (void)gn;
    in[0] = false;
    *out = true;
}

/* A softmax over the classes (axis 0 of a [K] or [K,1,...] output) is the
 * one the loss absorbs. */
bool softmax_fuses_with_loss(const Graph *g, const Node *n)
{
    (void)g;
    return n->a.axis == 0;
}
