/* pad_grad.c: backward of the padding layer (pad.c). Each output cell
 * copied some input cell (zeros: none), so its gradient goes back there:
 * with reflect and replicate an edge cell is copied several times and
 * receives the sum of their gradients. */
#include "../ops.h"

void pad_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
              const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    int64_t c, h, w, oh, ow;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    shape_chw(node_out_shape(g, n), &c, &oh, &ow);
    int top = node_in_shape(g, n, 0)->rank == 3 ? n->a.pad[0] : 0, left = n->a.pad[1];
    for (int64_t plane = 0; plane < batch * c; plane++) {
        const float *gy = dout + plane * oh * ow; /* (oh, ow) */
        float *dx = din[0] + plane * h * w;       /* (h, w) */
        for (int64_t i = 0; i < oh; i++) {
            int64_t si = pad_source(i - top, h, n->a.pad_mode);
            for (int64_t j = 0; j < ow; j++) {
                int64_t sj = pad_source(j - left, w, n->a.pad_mode);
                if (si >= 0 && sj >= 0)
                    dx[si * w + sj] += gy[i * ow + j];
            }
        }
    }
}
