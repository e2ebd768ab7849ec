/* resize_grad.c: backward of resize (resize.c), interpreter only.
 *
 * Each axis' pass is linear, y = P x (nearest: one 1 per row of P; linear:
 * w0 at i0 and w1 at i1), so dL/dx = P1^T ... Pn^T dL/dy: the passes'
 * transposes in the reverse order, first axis first. A transposed pass
 * adds each output cell's gradient, times its weights, into the input
 * cells it read: where several outputs read one cell (up-sampling) their
 * shares add up. */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

/* dx (zeroed here) = P^T dy for one pass. */
static void pass_transposed(const ResizePass *p, const float *dy, float *dx)
{
    memset(dx, 0, (size_t)(p->outer * p->in * p->inner) * sizeof *dx);
    for (int64_t o = 0; o < p->outer; o++)
        for (int64_t j = 0; j < p->out; j++) {
            const ResizeTap *t = &p->taps[j];
            const float *g = dy + (o * p->out + j) * p->inner;
            float *a = dx + (o * p->in + t->i0) * p->inner;
            float *b = dx + (o * p->in + t->i1) * p->inner;
            for (int64_t k = 0; k < p->inner; k++) {
                if (p->nearest) {
                    a[k] += g[k];
                    continue;
                }
                a[k] += t->w0 * g[k];
                b[k] += t->w1 * g[k];
            }
        }
}

void resize_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                 const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    const Shape *xs = node_in_shape(g, n, 0);
    int64_t nx = shape_numel(xs), ny = shape_numel(node_out_shape(g, n));
    size_t most = (size_t)resize_max_cells(g, n) * sizeof(float);
    float *buf[2] = {xmalloc(most), xmalloc(most)};
    for (int b = 0; b < batch; b++) {
        const float *cur = dout + b * ny;
        int which = 0;
        for (int axis = 0; axis < xs->rank - 1; axis++) {
            ResizePass p = resize_pass(g, n, axis);
            if (!resize_taps_identity(p.taps, p.in, p.out)) {
                pass_transposed(&p, cur, buf[which]);
                cur = buf[which];
                which ^= 1;
            }
            free(p.taps);
        }
        for (int64_t i = 0; i < nx; i++)
            din[0][b * nx + i] += cur[i];
    }
    free(buf[0]);
    free(buf[1]);
}
