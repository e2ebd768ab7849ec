/* pool_emit.c: forward emitters of the pools (see pool.c for the rules).
 * Windows are clipped to the input once per output cell (PyTorch's
 * avg_pool2d formula for the divisor), so the loops over a window's cells
 * carry no test; for maxpool with dilation the clip is done in steps of the
 * dilation. Pools are memory-bound: plain loops, literal bounds. */
#include "ops.h"

/* Declares ky0/ky1 (or kx0/kx1): the taps of axis `a` whose cells lie inside
 * [0, size), for window start `start` (an expression). */
static void emit_clip(Emit *e, const char *a, const char *start, int64_t size, int k, int d)
{
    emit_line(e, "int %s0 = %s < 0 ? (-%s + %d) / %d : 0;", a, start, start, d - 1, d);
    emit_line(e, "int %s1 = (%lld - %s + %d) / %d;", a, (long long)size, start, d - 1, d);
    emit_line(e, "if (%s1 > %d)", a, k);
    emit_line(e, "    %s1 = %d;", a, k);
}

static void emit_maxpool(Emit *e, const ConvGeom *k)
{
    emit_clip(e, "ky", "y0", k->h, k->kh, k->dh);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "int x0 = ox * %d - %d;", k->sw, k->pl);
    emit_clip(e, "kx", "x0", k->w, k->kw, k->dw);
    emit_line(e, "float m = -INFINITY;");
    emit_line(e, "for (int ky = ky0; ky < ky1; ky++)");
    emit_line(e, "    for (int kx = kx0; kx < kx1; kx++) {");
    emit_line(e, "        float v = xc[(y0 + ky * %d) * %lld + x0 + kx * %d];", k->dh,
              (long long)k->w, k->dw);
    emit_line(e, "        m = v > m || v != v ? v : m; /* NaN wins, as in PyTorch */");
    emit_line(e, "    }");
    emit_line(e, "yc[oy * %lld + ox] = m;", (long long)k->ow);
    emit_line(e, "}");
}

static void emit_avgpool(Emit *e, const ConvGeom *k, bool include_pad)
{
    emit_line(e, "int y1 = y0 + %d < %lld ? y0 + %d : %lld;", k->kh, (long long)(k->h + k->pb),
              k->kh, (long long)(k->h + k->pb));
    emit_line(e, "int ya = y0 < 0 ? 0 : y0, yb = y1 < %lld ? y1 : %lld;", (long long)k->h,
              (long long)k->h);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "int x0 = ox * %d - %d;", k->sw, k->pl);
    emit_line(e, "int x1 = x0 + %d < %lld ? x0 + %d : %lld;", k->kw, (long long)(k->w + k->pr),
              k->kw, (long long)(k->w + k->pr));
    emit_line(e, "int xa = x0 < 0 ? 0 : x0, xb = x1 < %lld ? x1 : %lld;", (long long)k->w,
              (long long)k->w);
    emit_line(e, "int count = %s;", include_pad ? "(y1 - y0) * (x1 - x0)" : "(yb - ya) * (xb - xa)");
    emit_line(e, "float sum = 0.0f;");
    emit_line(e, "for (int iy = ya; iy < yb; iy++)");
    emit_line(e, "    for (int ix = xa; ix < xb; ix++)");
    emit_line(e, "        sum += xc[iy * %lld + ix];", (long long)k->w);
    emit_line(e, "yc[oy * %lld + ox] = count > 0 ? sum / (float)count : 0.0f;", (long long)k->ow);
    emit_line(e, "}");
}

void pool_emit(Emit *e, const Node *n)
{
    ConvGeom k = conv_geometry(emit_graph(e), n);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)k.c);
    emit_line(e, "const float *xc = x0 + c * %lld;", (long long)(k.h * k.w));
    emit_line(e, "float *yc = y + c * %lld;", (long long)(k.oh * k.ow));
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)k.oh);
    emit_line(e, "int y0 = oy * %d - %d;", k.sh, k.pt);
    if (n->op == OP_MAXPOOL)
        emit_maxpool(e, &k);
    else
        emit_avgpool(e, &k, n->a.count_include_pad);
    emit_line(e, "}");
    emit_line(e, "}");
}

void global_pool_emit(Emit *e, const Node *n)
{
    int64_t c, h, w;
    shape_chw(node_in_shape(emit_graph(e), n, 0), &c, &h, &w);
    bool max = n->op == OP_GLOBAL_MAXPOOL;
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)c);
    emit_line(e, "const float *xc = x0 + c * %lld;", (long long)(h * w));
    emit_line(e, "float r = %s;", max ? "-INFINITY" : "0.0f");
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)(h * w));
    if (max)
        emit_line(e, "    r = xc[i] > r || xc[i] != xc[i] ? xc[i] : r;");
    else
        emit_line(e, "    r += xc[i];");
    if (max)
        emit_line(e, "y[c] = r;");
    else
        emit_line(e, "y[c] = r / %lld.0f;", (long long)(h * w));
    emit_line(e, "}");
}
