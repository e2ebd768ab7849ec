/* concat_grad.c: backward of concat (concat.c): dL/dy is cut along the
 * axis back into the inputs' pieces, each added to its input's gradient. */
#include "../ops.h"

void concat_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                 const float *dout, float *const *din, float *const *dparam, int batch)
{
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis;
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    const float *gy = dout;
    for (int64_t o = 0; o < outer * batch; o++)
        for (int i = 0; i < n->nin; i++) {
            int64_t chunk = node_in_shape(g, n, i)->d[axis] * inner;
            if (din[i])
                for (int64_t j = 0; j < chunk; j++)
                    din[i][o * chunk + j] += gy[j];
            gy += chunk;
        }
}
