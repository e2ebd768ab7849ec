/* conv_emit_grad.c: the convolution's training code (traingen): the
 * training forward reading the state's weights (PyTorch's layout) and the
 * backward, the sums of conv_grad.c with every shape a literal. Padding of
 * any mode is a table of source rows and columns per kernel tap (-1 for a
 * zero), computed here at compile time, so the loops have no bounds
 * arithmetic and reflect/replicate padding costs nothing more. */
#include "ops.h"

#include <stdlib.h>

/* static const int NAME[k * out]: the input index each output reads with
 * each tap (as conv_grad.c's tap_sources). */
static void emit_taps(Emit *e, const char *name, int64_t out, int k, int stride, int dilation,
                      int pad, int64_t in, PadMode mode)
{
    StrBuf b = {0};
    for (int t = 0; t < k; t++)
        for (int64_t o = 0; o < out; o++)
            sb_printf(&b, "%s%lld", t + o ? ", " : "",
                      (long long)pad_source(o * stride - pad + (int64_t)t * dilation, in, mode));
    emit_line(e, "static const int %s[%lld] = {%s};", name, (long long)(out * k), b.s);
    sb_free(&b);
}

static ConvGeom setup(Emit *e, const Node *n)
{
    ConvGeom k = conv_geometry(emit_graph(e), n);
    emit_taps(e, "ry", k.oh, k.kh, k.sh, k.dh, k.pt, k.h, n->a.pad_mode);
    emit_taps(e, "rx", k.ow, k.kw, k.sw, k.dw, k.pl, k.w, n->a.pad_mode);
    emit_line(e, "int b, f, c, ky, kx, oy, ox;");
    return k;
}

void conv_emit_train(Emit *e, const Node *n)
{
    ConvGeom k = setup(e, n);
    long long cg = k.c / k.groups, fg = k.f / k.groups, plane = k.oh * k.ow;
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    emit_line(e, "for (b = 0; b < n; b++) {");
    emit_line(e, "for (f = 0; f < %lld; f++) {", (long long)k.f);
    emit_line(e, "float *yf = y + ((size_t)b * %lld + f) * %lld;", (long long)k.f, plane);
    emit_line(e, "const float *xg = x0 + ((size_t)b * %lld + f / %lld * %lld) * %lld;",
              (long long)k.c, fg, cg, (long long)(k.h * k.w));
    emit_line(e, "for (oy = 0; oy < %lld; oy++)", plane);
    emit_line(e, "    yf[oy] = %s;", bias ? "p1[f]" : "0.0f");
    emit_line(e, "for (c = 0; c < %lld; c++)", cg);
    emit_line(e, "for (ky = 0; ky < %d; ky++)", k.kh);
    emit_line(e, "for (kx = 0; kx < %d; kx++) {", k.kw);
    emit_line(e, "const float w = p0[((f * %lld + c) * %d + ky) * %d + kx];", cg, k.kh, k.kw);
    emit_line(e, "const float *xc = xg + c * %lld;", (long long)(k.h * k.w));
    emit_line(e, "for (oy = 0; oy < %lld; oy++) {", (long long)k.oh);
    emit_line(e, "const int iy = ry[ky * %lld + oy];", (long long)k.oh);
    emit_line(e, "if (iy < 0)");
    emit_line(e, "    continue;");
    emit_line(e, "for (ox = 0; ox < %lld; ox++) {", (long long)k.ow);
    emit_line(e, "const int ix = rx[kx * %lld + ox];", (long long)k.ow);
    emit_line(e, "if (ix >= 0)");
    emit_line(e, "    yf[oy * %lld + ox] += w * xc[iy * %lld + ix];", (long long)k.ow, (long long)k.w);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "}");
    if (n->act.kind != ACT_NONE) {
        emit_line(e, "for (oy = 0; oy < %lld; oy++)", plane);
        emit_line(e, "    yf[oy] = %s;", emit_act(e, n->act, "yf[oy]"));
    }
    emit_line(e, "}");
    emit_line(e, "}");
}

void conv_emit_grad(Emit *e, const Node *n)
{
    ConvGeom k = setup(e, n);
    long long cg = k.c / k.groups, fg = k.f / k.groups, plane = k.oh * k.ow;
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    emit_grad_epilogue(e, n, k.f * plane);
    emit_line(e, "for (b = 0; b < n; b++) {");
    emit_line(e, "for (f = 0; f < %lld; f++) {", (long long)k.f);
    emit_line(e, "const float *gy = dy + ((size_t)b * %lld + f) * %lld;", (long long)k.f, plane);
    emit_line(e, "const size_t g0 = ((size_t)b * %lld + f / %lld * %lld) * %lld;", (long long)k.c,
              fg, cg, (long long)(k.h * k.w));
    if (db) {
        emit_line(e, "double sum = 0;");
        emit_line(e, "for (oy = 0; oy < %lld; oy++)", plane);
        emit_line(e, "    sum += gy[oy];");
        emit_line(e, "dp1[f] += (float)sum;");
    }
    emit_line(e, "for (c = 0; c < %lld; c++)", cg);
    emit_line(e, "for (ky = 0; ky < %d; ky++)", k.kh);
    emit_line(e, "for (kx = 0; kx < %d; kx++) {", k.kw);
    emit_line(e, "const int wi = ((f * %lld + c) * %d + ky) * %d + kx;", cg, k.kh, k.kw);
    emit_line(e, "const float w = p0[wi];");
    emit_line(e, "const float *xc = x0 + g0 + (size_t)c * %lld;", (long long)(k.h * k.w));
    if (dx)
        emit_line(e, "float *dxc = dx0 + g0 + (size_t)c * %lld;", (long long)(k.h * k.w));
    emit_line(e, "double acc = 0;");
    emit_line(e, "(void)w;");
    emit_line(e, "for (oy = 0; oy < %lld; oy++) {", (long long)k.oh);
    emit_line(e, "const int iy = ry[ky * %lld + oy];", (long long)k.oh);
    emit_line(e, "if (iy < 0)");
    emit_line(e, "    continue;");
    emit_line(e, "for (ox = 0; ox < %lld; ox++) {", (long long)k.ow);
    emit_line(e, "const int ix = rx[kx * %lld + ox];", (long long)k.ow);
    emit_line(e, "const float g = gy[oy * %lld + ox];", (long long)k.ow);
    emit_line(e, "if (ix < 0)");
    emit_line(e, "    continue;");
    emit_line(e, "acc += (double)g * xc[iy * %lld + ix];", (long long)k.w);
    if (dx)
        emit_line(e, "dxc[iy * %lld + ix] += g * w;", (long long)k.w);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, dw ? "dp0[wi] += (float)acc;" : "(void)acc;");
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "}");
}
