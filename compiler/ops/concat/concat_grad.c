/* concat_grad.c: backward of concat (concat.c): dL/dy is cut along the
 * axis back into the operands' pieces, each added to its input's gradient
 * (a trainable constant's sums over the batch). */
#include "../ops.h"

void concat_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                 const float *dout, float *const *din, float *const *dparam, int batch)
{
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis, ops = concat_operands(n);
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    const float *gy = dout;
    for (int64_t o = 0; o < outer * batch; o++)
        for (int i = 0; i < ops; i++) {
            int k;
            bool c = concat_operand(n, i, &k);
            int64_t chunk = concat_shape(g, n, i)->d[axis] * inner;
            float *d = c ? (dparam[k] ? dparam[k] + o % outer * chunk : NULL)
                         : (din[k] ? din[k] + o * chunk : NULL);
            if (d)
                for (int64_t j = 0; j < chunk; j++)
                    d[j] += gy[j];
            gy += chunk;
        }
}
