/* conv_transpose_emit.c: the forward emitter of the transposed
 * convolution (conv_transpose.c), every shape a literal.
 *
 * As a GEMM and a col2im, ONNX Runtime's way: the columns
 *   cols[f][t][p] = sum_{c<Cg} W[g*Cg + c, f - g*Fg, t] * x[g*Cg + c, p]
 * (f a filter of group g, t a kernel tap, p an input cell) are a 1x1
 * convolution of the input with F*T filters, which the pointwise GEMM
 * kernel (conv_pw_emit.c, conv_emit_gemm) computes at its speed; then each
 * output starts at its bias and every (tap, input cell) adds its column
 * where it lands, oy = iy*SH - PT + ky*DH (rows and planes alike), over
 * the input cells of each tap that land inside the output (bounds computed
 * here, so the loops hold no test). The columns take F*T*I floats of
 * scratch. Planes under the GEMM's 16 cells, and the microcontroller
 * profiles (no scratch of that size), scatter each weight directly:
 * y[f] += W[c, fl, t] * x[c] along rows of input cells. The epilogue is
 * applied last. */
#include "conv_emit.h"

#include <stdlib.h>

enum { GEMM_MIN_CELLS = 16 }; /* conv_pw_emit.c's MIN_PIXELS: a vector run */

/* The GEMM walks its input and output channels `cells` floats apart. A
 * multiple of 4 KB (a 32x32 plane) puts every channel of a run in one L1
 * set and makes loads wait on unrelated stores (4K aliasing): on a 128 ->
 * 64, 32x32 layer 10 ms instead of 4. Such planes are copied with a skewed
 * stride first (the extra cells zeroed, their columns never read). */
static int64_t gemm_stride(int64_t cells)
{
    int64_t off = cells % 1024;
    return off < 32 || off > 1024 - 32 ? (cells + 15) / 16 * 16 + 48 : cells;
}

/* For each tap of one axis, the input cells [lo, hi) whose output
 * i*s - p + t*d falls in [0, out): two tables `static const int NAMElo[k],
 * NAMEhi[k]`. */
static void emit_tap_bounds(Emit *e, const char *name, int k, int s, int d, int p, int64_t in,
                            int64_t out)
{
    StrBuf lo = {0}, hi = {0};
    for (int t = 0; t < k; t++) {
        int64_t off = (int64_t)t * d - p; /* o = i*s + off */
        int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
        int64_t b = out - off <= 0 ? 0 : (out - off + s - 1) / s;
        a = a > in ? in : a;
        b = b > in ? in : b < a ? a : b;
        sb_printf(&lo, "%s%lld", t ? ", " : "", (long long)a);
        sb_printf(&hi, "%s%lld", t ? ", " : "", (long long)b);
    }
    emit_line(e, "static const int %slo[%d] = {%s}, %shi[%d] = {%s};", name, k, lo.s, name, k,
              hi.s);
    sb_free(&lo);
    sb_free(&hi);
}

void conv_transpose_open_tap_rows(Emit *e, const ConvGeom *k)
{
    emit_tap_bounds(e, "z", k->kd, k->sd, k->dd, k->pf, k->d, k->od);
    emit_tap_bounds(e, "r", k->kh, k->sh, k->dh, k->pt, k->h, k->oh);
    emit_tap_bounds(e, "q", k->kw, k->sw, k->dw, k->pl, k->w, k->ow);
    emit_line(e, "for (int kz = 0; kz < %d; kz++)", k->kd);
    emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (int kx = 0; kx < %d; kx++)", k->kw);
    emit_line(e, "for (int iz = zlo[kz]; iz < zhi[kz]; iz++)");
    emit_line(e, "for (int iy = rlo[ky]; iy < rhi[ky]; iy++) {");
    emit_line(e, "const int yo = ((iz * %d - %d + kz * %d) * %lld + iy * %d - %d + ky * %d) * "
                 "%lld + kx * %d - %d;", k->sd, k->pf, k->dd, (long long)k->oh, k->sh, k->pt,
              k->dh, (long long)k->ow, k->dw, k->pl);
    emit_line(e, "const int xo = (iz * %lld + iy) * %lld;", (long long)k->h, (long long)k->w);
    emit_line(e, "for (int ix = qlo[kx]; ix < qhi[kx]; ix++)");
}

void conv_transpose_close_tap_rows(Emit *e)
{
    emit_line(e, "}");
}

/* Every output channel's cells start at its bias. */
static void emit_bias_fill(Emit *e, const ConvGeom *k, const char *B)
{
    int64_t plane = k->od * k->oh * k->ow;
    emit_line(e, "for (int f = 0; f < %lld; f++)", (long long)k->f);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)plane);
    emit_line(e, "    y[f * %lld + i] = %s[f];", (long long)plane, B);
}

static void emit_epilogue(Emit *e, const Node *n, const ConvGeom *k)
{
    if (!act_present(n->act))
        return;
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)(k->f * k->od * k->oh * k->ow));
    emit_line(e, "const float t = y[i];");
    emit_line(e, "y[i] = %s;", emit_act(e, n->act, "t"));
    emit_line(e, "}");
}

/* The GEMM's weights: [G][F/G * T][C/G], then in its blocks. Caller frees. */
static float *columns_weight(const ConvPlan *q, const ConvGeom *k, const float *w,
                             int64_t *count)
{
    int64_t cg = q->cg, fg = k->f / k->groups, taps = (int64_t)k->kd * k->kh * k->kw;
    float *pw = xmalloc((size_t)(q->k.f * cg) * sizeof *pw);
    for (int64_t gi = 0; gi < k->groups; gi++)
        for (int64_t r = 0; r < fg * taps; r++)
            for (int64_t c = 0; c < cg; c++)
                pw[(gi * fg * taps + r) * cg + c] = w[((gi * cg + c) * fg + r / taps) * taps +
                                                     r % taps];
    float *packed = conv_repack_pointwise(q, pw, count);
    free(pw);
    return packed;
}

static void emit_gemm_col2im(Emit *e, const Node *n, const ConvGeom *k, const char *B)
{
    int64_t taps = (int64_t)k->kd * k->kh * k->kw, cells = k->d * k->h * k->w;
    int64_t fg = k->f / k->groups, stride = gemm_stride(cells);
    ConvPlan q = {.k = {.c = k->c, .f = k->f * taps, .groups = k->groups}};
    q.cg = k->c / k->groups;
    q.fg = fg * taps;
    q.np = stride;
    q.x = "x0";
    q.y = emit_scratch(e, k->f * taps * stride + (stride != cells ? k->c * stride : 0));
    if (stride != cells) {
        q.x = emit_keep(e, xasprintf("(s + %lld)", (long long)(k->f * taps * stride)));
        emit_line(e, "/* the input, its channels %lld floats apart (gemm_stride) */",
                  (long long)stride);
        emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)k->c);
        emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)stride);
        emit_line(e, "    %s[c * %lld + i] = i < %lld ? x0[c * %lld + i] : 0.0f;", q.x,
                  (long long)stride, (long long)cells, (long long)cells);
    }
    int64_t nw;
    float *w = columns_weight(&q, k, node_param_data(emit_graph(e), n, 0), &nw);
    char *what = xasprintf("%s.weight [%lld,%lld,%d,%d,%d] as the columns' 1x1 GEMM [G=%d]"
                           "[F/G*T/12][C/G=%lld][12]", n->name, (long long)k->c, (long long)fg,
                           k->kd, k->kh, k->kw, k->groups, (long long)q.cg);
    const char *W = emit_const(e, "weight", what, w, nw);
    free(what);
    free(w);
    emit_line(e, "/* the columns: every input cell times every filter's taps (a 1x1 GEMM) */");
    conv_emit_gemm(e, &q, (Act){ACT_NONE, 0, 0}, W, NULL);
    emit_line(e, "/* col2im: each column added where its tap lands */");
    emit_bias_fill(e, k, B);
    emit_line(e, "for (int f = 0; f < %lld; f++) {", (long long)k->f);
    emit_line(e, "float *yf = y + f * %lld;", (long long)(k->od * k->oh * k->ow));
    emit_line(e, "const float *cf = s + f * %lld;", (long long)(taps * stride));
    conv_transpose_open_tap_rows(e, k);
    emit_line(e, "    yf[yo + ix * %d] += cf[((kz * %d + ky) * %d + kx) * %lld + xo + ix];", k->sw,
              k->kh, k->kw, (long long)stride);
    conv_transpose_close_tap_rows(e);
    emit_line(e, "}");
}

static void emit_direct(Emit *e, const Node *n, const ConvGeom *k, const char *B)
{
    int64_t taps = (int64_t)k->kd * k->kh * k->kw, cells = k->d * k->h * k->w;
    int64_t cg = k->c / k->groups, fg = k->f / k->groups;
    char *what = xasprintf("%s.weight [%lld,%lld,%d,%d,%d]", n->name, (long long)k->c,
                           (long long)fg, k->kd, k->kh, k->kw);
    const char *W = emit_const(e, "weight", what, node_param_data(emit_graph(e), n, 0),
                               k->c * fg * taps);
    free(what);
    emit_line(e, "/* each weight scatters its input channel into its output channel */");
    emit_bias_fill(e, k, B);
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)k->c);
    emit_line(e, "for (int fl = 0; fl < %lld; fl++) {", (long long)fg);
    emit_line(e, "float *yf = y + (c / %lld * %lld + fl) * %lld;", (long long)cg, (long long)fg,
              (long long)(k->od * k->oh * k->ow));
    emit_line(e, "const float *xc = x0 + c * %lld;", (long long)cells);
    emit_line(e, "const float *wk = %s + (c * %lld + fl) * %lld;", W, (long long)fg,
              (long long)taps);
    conv_transpose_open_tap_rows(e, k);
    emit_line(e, "    yf[yo + ix * %d] += wk[(kz * %d + ky) * %d + kx] * xc[xo + ix];", k->sw,
              k->kh, k->kw);
    conv_transpose_close_tap_rows(e);
    emit_line(e, "}");
}

void conv_transpose_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    ConvGeom k = conv_geometry(g, n);
    float *zeros = n->a.bias ? NULL : xcalloc((size_t)k.f, sizeof *zeros);
    char *what = n->a.bias ? xasprintf("%s.bias", n->name) : xasprintf("%s: no bias (zeros)",
                                                                      n->name);
    const char *B = emit_const(e, "bias", what, n->a.bias ? node_param_data(g, n, 1) : zeros,
                               k.f);
    free(what);
    free(zeros);
    if (!emit_scalar_kernels(e) && k.d * k.h * k.w >= GEMM_MIN_CELLS)
        emit_gemm_col2im(e, n, &k, B);
    else
        emit_direct(e, n, &k, B);
    emit_epilogue(e, n, &k);
}
