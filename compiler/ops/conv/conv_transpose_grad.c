/* conv_transpose_grad.c: backward of the transposed convolution
 * (conv_transpose.c), interpreter only.
 *
 * With gy = dL/d(pre-activation) (the output gradient times the fused
 * epilogue's derivative), over the (input cell, tap) pairs the forward
 * multiplied, ox = ix*SW - PL + kx*DW inside the output (rows and planes
 * alike):
 *   dL/db[f]                = sum_{n, o} gy[n, f, o]
 *   dL/dW[c, fl, ky, kx]    = sum_{n, iy, ix} x[n, c, iy, ix] * gy[n, f, oy, ox]
 *   dL/dx[n, c, iy, ix]     = sum_{fl, ky, kx} W[c, fl, ky, kx] * gy[n, f, oy, ox]
 * with f = g*Fg + fl for c's group g: a convolution of gy by W, the forward
 * of the conv this one transposes. Each product of the forward sends its
 * share back along the same tap tables. */
#include "../ops.h"

#include <stdlib.h>

/* One (c, fl, tap) over one sample: scatters into dx[c] (NULL: not
 * needed) and returns the tap's dL/dW share. */
static double convt_tap(const ConvGeom *k, const ConvTaps *t, int kz, int ky, int kx,
                        const float *gy, const float *x, float *dx, float w)
{
    double acc = 0;
    for (int64_t oz = 0; oz < k->od; oz++) {
        int64_t iz = t->z[kz * k->od + oz];
        for (int64_t oy = 0; iz >= 0 && oy < k->oh; oy++) {
            int64_t iy = t->y[ky * k->oh + oy];
            if (iy < 0)
                continue;
            const float *grow = gy + (oz * k->oh + oy) * k->ow;
            int64_t at = (iz * k->h + iy) * k->w;
            for (int64_t ox = 0; ox < k->ow; ox++) {
                int64_t ix = t->x[kx * k->ow + ox];
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

void conv_transpose_grad(const Graph *g, const Node *n, const float *const *in,
                         const float *out, const float *dout, float *const *din,
                         float *const *dparam, int batch)
{
    ConvGeom k = conv_geometry(g, n);
    ConvTaps t = conv_transpose_taps(&k);
    int64_t plane = k.od * k.oh * k.ow, in_plane = k.d * k.h * k.w;
    int64_t cg = k.c / k.groups, fg = k.f / k.groups, taps = (int64_t)k.kd * k.kh * k.kw;
    float *tmp = epilogue_grad(n, out, dout, batch * k.f * plane);
    const float *dy = tmp ? tmp : dout;
    const float *wt = node_param_data(g, n, 0);
    float *dw = dparam[0], *db = dparam[1], *dx = din[0];
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < k.f; f++) {
            const float *gy = dy + (b * k.f + f) * plane;
            if (db) {
                double sum = 0;
                for (int64_t p = 0; p < plane; p++)
                    sum += gy[p];
                db[f] += (float)sum;
            }
            for (int64_t c = f / fg * cg; c < (f / fg + 1) * cg; c++)
                for (int64_t tap = 0; tap < taps; tap++) {
                    int64_t wi = (c * fg + f % fg) * taps + tap;
                    double share = convt_tap(&k, &t, (int)(tap / (k.kh * k.kw)),
                                             (int)(tap / k.kw % k.kh), (int)(tap % k.kw), gy,
                                             in[0] + (b * k.c + c) * in_plane,
                                             dx ? dx + (b * k.c + c) * in_plane : NULL, wt[wi]);
                    if (dw)
                        dw[wi] += (float)share;
                }
        }
    conv_taps_free(&t);
    free(tmp);
}
