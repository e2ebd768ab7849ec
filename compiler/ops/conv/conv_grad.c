/* conv_grad.c: backward of the convolution (conv.c), interpreter only.
 * (Written for 2-D below; a 3-D one adds the depth taps kz alike.)
 *
 * With gy = dL/d(pre-activation) (the output gradient times the fused
 * epilogue's derivative) and xpad the padded input as in conv.c:
 *   dL/db[f]          = sum_{n,oy,ox} gy[n,f,oy,ox]
 *   dL/dW[f,c,ky,kx]  = sum_{n,oy,ox} gy[n,f,oy,ox] * xpad[n, g*Cg+c, oy*SH-PT+ky*DH, ox*SW-PL+kx*DW]
 *   dL/dxpad[n, g*Cg+c, iy, ix] = sum of gy[n,f,oy,ox] * W[f,c,ky,kx] over
 *                       the (f, oy, ox, ky, kx) whose product read that cell.
 * The course writes dL/dX as the full convolution of gy, spread with S-1
 * zeros by the stride, with the kernel rotated by 180 degrees and spread by
 * the dilation, and dL/dW as the convolution of X with gy. This file computes
 * the same sums as a scatter: every product of the forward sends its share
 * back to the cell it read, which handles stride, dilation, asymmetric
 * padding and groups without building the spread arrays. A padded cell is
 * some input cell read again (reflect, replicate), so its share accumulates
 * onto that source cell; zero padding reads nothing and receives nothing. */
#include "../ops.h"

#include <stdlib.h>

/* One filter tap (f, c, kz, ky, kx) over one sample: returns its dL/dW
 * share and scatters gy*w into dx (one input channel, NULL if not needed).
 * planes, rows and cols are the tap's sources per output coordinate. */
static double conv_tap(const ConvGeom *k, const int64_t *planes, const int64_t *rows,
                       const int64_t *cols, const float *gy, const float *x, float *dx, float w)
{
    double acc = 0;
    for (int64_t oz = 0; oz < k->od; oz++) {
        if (planes[oz] < 0)
            continue;
        for (int64_t oy = 0; oy < k->oh; oy++) {
            if (rows[oy] < 0)
                continue;
            const float *grow = gy + (oz * k->oh + oy) * k->ow;
            int64_t at = (planes[oz] * k->h + rows[oy]) * k->w;
            for (int64_t ox = 0; ox < k->ow; ox++) {
                int64_t ix = cols[ox];
                if (ix < 0)
                    continue;
                acc += (double)grow[ox] * x[at + ix];
                if (dx)
                    dx[at + ix] += grow[ox] * w;
            }
        }
    }
    return acc;
}

/* dL/db[f] += the sum of gy over its plane. */
static void bias_grad(const float *gy, int64_t plane, float *db)
{
    double sum = 0;
    for (int64_t p = 0; p < plane; p++)
        sum += gy[p];
    *db += (float)sum;
}

void conv_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
               const float *dout, float *const *din, float *const *dparam, int batch)
{
    ConvGeom k = conv_geometry(g, n);
    int64_t plane = k.od * k.oh * k.ow, in_plane = k.d * k.h * k.w;
    int64_t cg = k.c / k.groups, fg = k.f / k.groups, taps = (int64_t)k.kd * k.kh * k.kw;
    float *tmp = epilogue_grad(n, out, dout, batch * k.f * plane);
    const float *dy = tmp ? tmp : dout; /* (N, F, OD, OH, OW) */
    const float *wt = node_param_data(g, n, 0);
    float *dw = dparam[0], *db = dparam[1], *dx = din[0];
    ConvTaps src = conv_taps(&k, n->a.pad_mode);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < k.f; f++) {
            const float *gy = dy + (b * k.f + f) * plane;
            if (db)
                bias_grad(gy, plane, &db[f]);
            int64_t first = b * k.c + (f / fg) * cg; /* the group's first input channel */
            for (int64_t c = 0; c < cg; c++)
                for (int64_t t = 0; t < taps; t++) {
                    int64_t kz = t / (k.kh * k.kw), ky = t / k.kw % k.kh, kx = t % k.kw;
                    int64_t wi = (f * cg + c) * taps + t;
                    double share = conv_tap(&k, src.z + kz * k.od, src.y + ky * k.oh,
                                            src.x + kx * k.ow, gy, in[0] + (first + c) * in_plane,
                                            dx ? dx + (first + c) * in_plane : NULL, wt[wi]);
                    if (dw)
                        dw[wi] += (float)share;
                }
        }
    conv_taps_free(&src);
    free(tmp);
}

/* dL/dW needs the input; a fused activation's derivative, the output. */
void conv_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    in[0] = gn->dp[0].t >= 0;
    *out = n->act.kind != ACT_NONE;
}
