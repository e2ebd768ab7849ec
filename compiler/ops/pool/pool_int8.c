/* pool_int8.c: the pools' integer forms (docs/int8.md), windows as in
 * pool.c.
 *
 *   maxpool, global_maxpool   y = max of the window's cells: int8 order is
 *                             the reals' order, so input and output share
 *                             one scale and zero point (else the layer stays
 *                             float); windows start at -128.
 *   avgpool                   y = clamp(zy + round(sum (x - zx) * M[d])),
 *                             M[d] = sx / (sy * d), d the window's divisor
 *                             (its cells, padded ones with
 *                             count_include_pad), one multiplier per
 *                             divisor 1 .. KH*KW; an empty window gives zy.
 *   global_avgpool            the same with d = H * W.
 *
 * Generated code: the max pools copy their input into scratch bordered with
 * -128 (covering ceil mode's last windows), then take the window's max
 * with every tap unrolled; the average pools clip each window to the input
 * as the interpreter does and look the divisor's multiplier up. */
#include "../ops.h"
#include "../../kit/qmath.h"

#include <stdlib.h>

static bool same_quant(const Quant *a, const Quant *b)
{
    return q_scale(a) == q_scale(b) && q_zero(a) == q_zero(b);
}

static const char *max_check(const Graph *g, const Node *n)
{
    if (g->t[n->in[0]].shape.rank > 3)
        return "its input is a volume (C x D x H x W): the int8 kernels are 2-d";
    return same_quant(g->t[n->in[0]].q, g->t[n->out].q)
               ? NULL
               : "its input and output scales differ (a max keeps the scale)";
}

/* Per divisor d in [0, dmax]: M[d] as (m, s) pairs; NULL if one cannot be
 * represented. Caller frees. */
static int32_t *divisor_muls(const Graph *g, const Node *n, int64_t dmax)
{
    double sx = q_scale(g->t[n->in[0]].q), sy = q_scale(g->t[n->out].q);
    int32_t *ms = xcalloc((size_t)(dmax + 1) * 2, sizeof *ms);
    ms[1] = 1; /* d = 0: never used, a valid shift */
    for (int64_t d = 1; d <= dmax; d++) {
        QMul m;
        if (!qmul_make(sx / (sy * (double)d), &m)) {
            free(ms);
            return NULL;
        }
        ms[2 * d] = m.m;
        ms[2 * d + 1] = m.s;
    }
    return ms;
}

static int64_t max_divisor(const Graph *g, const Node *n)
{
    if (n->op == OP_GLOBAL_AVGPOOL) {
        int64_t c, h, w;
        shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
        return h * w;
    }
    return (int64_t)n->a.kernel[0] * n->a.kernel[1];
}

static const char *avg_check(const Graph *g, const Node *n)
{
    if (g->t[n->in[0]].shape.rank > 3)
        return "its input is a volume (C x D x H x W): the int8 kernels are 2-d";
    int32_t *ms = divisor_muls(g, n, max_divisor(g, n));
    free(ms);
    return ms ? NULL : "the ratio of its scales cannot be represented";
}

/* ---- interpreter ---- */

static void maxpool_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                             int batch)
{
    ConvGeom k = conv_geometry(g, n);
    const int8_t *x = in[0];
    int8_t *y = out;
    for (int64_t p = 0; p < batch * k.c; p++)
        for (int64_t oy = 0; oy < k.oh; oy++)
            for (int64_t ox = 0; ox < k.ow; ox++) {
                int32_t m = -128;
                for (int ky = 0; ky < k.kh; ky++)
                    for (int kx = 0; kx < k.kw; kx++) {
                        int64_t iy = oy * k.sh - k.pt + (int64_t)ky * k.dh;
                        int64_t ix = ox * k.sw - k.pl + (int64_t)kx * k.dw;
                        if (iy >= 0 && iy < k.h && ix >= 0 && ix < k.w &&
                            x[(p * k.h + iy) * k.w + ix] > m)
                            m = x[(p * k.h + iy) * k.w + ix];
                    }
                y[(p * k.oh + oy) * k.ow + ox] = (int8_t)m;
            }
}

static void avgpool_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                             int batch)
{
    ConvGeom k = conv_geometry(g, n);
    int32_t *ms = divisor_muls(g, n, max_divisor(g, n));
    int32_t zx = q_zero(g->t[n->in[0]].q), zy = q_zero(g->t[n->out].q);
    const int8_t *x = in[0];
    int8_t *y = out;
    for (int64_t p = 0; p < batch * k.c; p++)
        for (int64_t oy = 0; oy < k.oh; oy++)
            for (int64_t ox = 0; ox < k.ow; ox++) {
                AvgWindow a = avg_window(&k, n->a.count_include_pad, oy, ox);
                int32_t sum = 0;
                for (int64_t iy = a.y0; iy < a.y1; iy++)
                    for (int64_t ix = a.x0; ix < a.x1; ix++)
                        sum += x[(p * k.h + iy) * k.w + ix] - zx;
                QMul m = {ms[2 * a.divisor], (int)ms[2 * a.divisor + 1]};
                y[(p * k.oh + oy) * k.ow + ox] =
                    (int8_t)(a.divisor > 0 ? q_requant(sum, m, zy, -128, 127) : zy);
            }
    free(ms);
}

static void global_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                            int batch)
{
    int64_t c, h, w;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    int32_t *ms = n->op == OP_GLOBAL_AVGPOOL ? divisor_muls(g, n, h * w) : NULL;
    int32_t zx = q_zero(g->t[n->in[0]].q), zy = q_zero(g->t[n->out].q);
    const int8_t *x = in[0];
    int8_t *y = out;
    for (int64_t p = 0; p < batch * c; p++) {
        int32_t sum = 0, m = -128;
        for (int64_t i = 0; i < h * w; i++) {
            sum += x[p * h * w + i] - zx;
            m = x[p * h * w + i] > m ? x[p * h * w + i] : m;
        }
        QMul k = ms ? (QMul){ms[2 * h * w], (int)ms[2 * h * w + 1]} : (QMul){0, 1};
        y[p] = (int8_t)(ms ? q_requant(sum, k, zy, -128, 127) : m);
    }
    free(ms);
}

/* ---- generated code ---- */

/* The max pools: the input bordered with -128 far enough for every
 * window (ceil mode's last ones too), then each window's max. */
static void maxpool_int8_emit(Emit *e, const Node *n)
{
    ConvGeom k = conv_geometry(emit_graph(e), n);
    int pb = (int)((k.oh - 1) * k.sh + (int64_t)(k.kh - 1) * k.dh + 1 - k.pt - k.h);
    int pr = (int)((k.ow - 1) * k.sw + (int64_t)(k.kw - 1) * k.dw + 1 - k.pl - k.w);
    int pad[4] = {k.pt, k.pl, pb > 0 ? pb : 0, pr > 0 ? pr : 0};
    int64_t hp = k.h + pad[0] + pad[2], wp = k.w + pad[1] + pad[3];
    const char *X = "x0";
    if (pad[0] || pad[1] || pad[2] || pad[3]) {
        emit_pad_copy_typed(e, "s", "x0", k.c, k.h, k.w, pad, PAD_ZEROS, "int8_t", -128);
        emit_scratch(e, (k.c * hp * wp + 3) / 4);
        X = "s";
    }
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)k.c);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k.oh);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k.ow);
    emit_line(e, "const int8_t *xp = %s + c * %lld + oy * %lld + ox * %d;", X,
              (long long)(hp * wp), (long long)(k.sh * wp), k.sw);
    emit_line(e, "int32_t m = -128;");
    for (int ky = 0; ky < k.kh; ky++)
        for (int kx = 0; kx < k.kw; kx++)
            emit_line(e, "m = xp[%lld] > m ? xp[%lld] : m;",
                      (long long)(ky * k.dh * wp + kx * k.dw), (long long)(ky * k.dh * wp + kx * k.dw));
    emit_line(e, "y[(c * %lld + oy) * %lld + ox] = (int8_t)m;", (long long)k.oh, (long long)k.ow);
    emit_line(e, "}");
}

/* avgpool: each window clipped as avg_window does, its divisor's M. */
static void avgpool_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    ConvGeom k = conv_geometry(g, n);
    int64_t dmax = max_divisor(g, n);
    int32_t *ms = divisor_muls(g, n, dmax);
    char *comment = xasprintf("%s: (m, s) of M[d] = sx / (sy * d), d = 0 .. %lld", n->name,
                              (long long)dmax);
    emit_line(e, "const int32_t *MS = %s;", emit_const_i32(e, "requant", comment, ms, 2 * dmax + 2));
    free(comment);
    free(ms);
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)k.c);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k.oh);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k.ow);
    emit_line(e, "int r0 = oy * %d - %d, c0 = ox * %d - %d, r1 = r0 + %d, c1 = c0 + %d, d;", k.sh,
              k.pt, k.sw, k.pl, k.kh, k.kw);
    emit_line(e, "int32_t sum = 0;");
    emit_line(e, "if (r1 > %lld) r1 = %lld;", (long long)(k.h + k.pb), (long long)(k.h + k.pb));
    emit_line(e, "if (c1 > %lld) c1 = %lld;", (long long)(k.w + k.pr), (long long)(k.w + k.pr));
    emit_line(e, "d = (r1 - r0) * (c1 - c0);");
    emit_line(e, "if (r0 < 0) r0 = 0;");
    emit_line(e, "if (c0 < 0) c0 = 0;");
    emit_line(e, "if (r1 > %lld) r1 = %lld;", (long long)k.h, (long long)k.h);
    emit_line(e, "if (c1 > %lld) c1 = %lld;", (long long)k.w, (long long)k.w);
    if (!n->a.count_include_pad)
        emit_line(e, "d = (r1 - r0) * (c1 - c0);");
    emit_line(e, "for (int iy = r0; iy < r1; iy++)");
    emit_line(e, "for (int ix = c0; ix < c1; ix++)");
    emit_line(e, "    sum += x0[(c * %lld + iy) * %lld + ix] - %ld;", (long long)k.h, (long long)k.w,
              (long)q_zero(g->t[n->in[0]].q));
    emit_line(e, "y[(c * %lld + oy) * %lld + ox] = d > 0 ? cnnc_rq8(sum, MS[2 * d], MS[2 * d + 1], "
              "%ld, -128, 127) : %ld;", (long long)k.oh, (long long)k.ow,
              (long)q_zero(g->t[n->out].q), (long)q_zero(g->t[n->out].q));
    emit_line(e, "}");
}

static void global_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    int64_t c, h, w;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    bool avg = n->op == OP_GLOBAL_AVGPOOL;
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)c);
    emit_line(e, "const int8_t *xc = x0 + c * %lld;", (long long)(h * w));
    emit_line(e, "int32_t a = %s;", avg ? "0" : "-128");
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)(h * w));
    if (avg) {
        int32_t *ms = divisor_muls(g, n, h * w);
        emit_line(e, "    a += xc[i] - %ld;", (long)q_zero(g->t[n->in[0]].q));
        emit_line(e, "y[c] = cnnc_rq8(a, %ld, %ld, %ld, -128, 127);", (long)ms[2 * h * w],
                  (long)ms[2 * h * w + 1], (long)q_zero(g->t[n->out].q));
        free(ms);
    } else {
        emit_line(e, "    a = xc[i] > a ? xc[i] : a;");
        emit_line(e, "y[c] = (int8_t)a;");
    }
    emit_line(e, "}");
}

const QuantOps maxpool_int8 = {QUANT_SAME_SCALE, max_check, maxpool_int8_run, maxpool_int8_emit};
const QuantOps avgpool_int8 = {0, avg_check, avgpool_int8_run, avgpool_int8_emit};
const QuantOps global_maxpool_int8 = {QUANT_SAME_SCALE, max_check, global_int8_run,
                                      global_int8_emit};
const QuantOps global_avgpool_int8 = {0, avg_check, global_int8_run, global_int8_emit};
