/* pool_grad.c: backward of the pools (pool.c), interpreter only.
 *
 *   maxpool: dL/dy of each window goes to the cell that was its maximum; on
 *            ties, to the first in row-major window order (PyTorch's rule,
 *            and the cell the forward's strict '>' scan keeps).
 *   avgpool: dL/dy / divisor goes to every window cell inside the input,
 *            the divisor being the forward's (count_include_pad, ceil mode).
 *   global_avgpool: dL/dy / (H*W) to every cell; global_maxpool: to the
 *            first maximum.
 * Windows overlap when the stride is below the kernel: shares add up. */
#include "../ops.h"

/* Spreads gy over the window of (oy, ox), as the forward divides. */
static void avg_spread(const ConvGeom *k, bool include_pad, float *dx, float gy, int64_t oy,
                       int64_t ox)
{
    AvgWindow a = avg_window(k, include_pad, oy, ox);
    if (a.divisor <= 0)
        return;
    float share = (float)(gy / (double)a.divisor);
    for (int64_t iy = a.y0; iy < a.y1; iy++)
        for (int64_t ix = a.x0; ix < a.x1; ix++)
            dx[iy * k->w + ix] += share;
}

static void pool_grad(const Graph *g, const Node *n, const float *x_all, const float *dout,
                      float *dx_all, int batch)
{
    if (!dx_all)
        return;
    ConvGeom k = conv_geometry(g, n);
    int64_t planes = (int64_t)batch * k.c;
    for (int64_t p = 0; p < planes; p++) {
        const float *x = x_all + p * k.h * k.w;
        const float *gy = dout + p * k.oh * k.ow;
        float *dx = dx_all + p * k.h * k.w;
        for (int64_t oy = 0; oy < k.oh; oy++)
            for (int64_t ox = 0; ox < k.ow; ox++) {
                float gv = gy[oy * k.ow + ox];
                if (n->op == OP_AVGPOOL) {
                    avg_spread(&k, n->a.count_include_pad, dx, gv, oy, ox);
                    continue;
                }
                int64_t at = pool_argmax(&k, x, oy, ox, false);
                if (at >= 0)
                    dx[at] += gv;
            }
    }
}

void maxpool_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                  const float *dout, float *const *din, float *const *dparam, int batch)
{
    pool_grad(g, n, in[0], dout, din[0], batch);
}

void avgpool_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                  const float *dout, float *const *din, float *const *dparam, int batch)
{
    pool_grad(g, n, in[0], dout, din[0], batch);
}

static void global_pool_grad(const Graph *g, const Node *n, const float *x_all,
                             const float *dout, float *dx_all, int batch)
{
    if (!dx_all)
        return;
    int64_t c, h, w;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    int64_t size = h * w;
    for (int64_t p = 0; p < batch * c; p++) {
        const float *x = x_all + p * size;
        float *dx = dx_all + p * size;
        if (n->op == OP_GLOBAL_AVGPOOL) {
            float share = (float)(dout[p] / (double)size);
            for (int64_t i = 0; i < size; i++)
                dx[i] += share;
            continue;
        }
        int64_t at = 0;
        for (int64_t i = 1; i < size; i++)
            if (x[i] > x[at])
                at = i;
        dx[at] += dout[p];
    }
}

void global_avgpool_grad(const Graph *g, const Node *n, const float *const *in,
                         const float *out, const float *dout, float *const *din,
                         float *const *dparam, int batch)
{
    global_pool_grad(g, n, in[0], dout, din[0], batch);
}

void global_maxpool_grad(const Graph *g, const Node *n, const float *const *in,
                         const float *out, const float *dout, float *const *din,
                         float *const *dparam, int batch)
{
    global_pool_grad(g, n, in[0], dout, din[0], batch);
}

/* Max pooling finds each window's maximum again in its input. */
void maxpool_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)n;
    (void)gn;
    in[0] = true;
    *out = false;
}
