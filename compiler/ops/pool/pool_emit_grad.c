/* pool_emit_grad.c: backward of the pools (pool_grad.c, traingen), the
 * geometry as literals. Max pooling sends dy to the window's first
 * largest input (recomputed from x, as the interpreter does; unrolled over
 * literal offsets when no window reaches outside the input); average
 * pooling spreads dy / divisor over the window clipped to the input. */
#include "../ops.h"

void pool_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    if (window_is_3d(emit_graph(e), n)) {
        pool_emit_volume_grad(e, n);
        return;
    }
    ConvGeom k = conv_geometry(emit_graph(e), n);
    long long h = k.h, w = k.w, oh = k.oh, ow = k.ow;
    /* every window inside the input: its taps are literal offsets, no
     * bounds to test (what remains compiles to conditional moves) */
    bool inside = k.pt == 0 && k.pl == 0 && (oh - 1) * k.sh + (long long)(k.kh - 1) * k.dh < h &&
                  (ow - 1) * k.sw + (long long)(k.kw - 1) * k.dw < w;
    emit_line(e, "size_t p;");
    emit_line(e, "int oy, ox, iy, ix;");
    emit_unused(e, "iy");
    emit_unused(e, "ix");
    emit_line(e, "for (p = 0; p < (size_t)n * %lld; p++) {", (long long)k.c);
    emit_line(e, "const float *x = x0 + p * %lld, *gy = dy + p * %lld;", h * w, oh * ow);
    emit_line(e, "float *dx = dx0 + p * %lld;", h * w);
    emit_unused(e, "x");
    emit_line(e, "for (oy = 0; oy < %lld; oy++)", oh);
    emit_line(e, "for (ox = 0; ox < %lld; ox++) {", ow);
    if (n->op == OP_MAXPOOL && inside) {
        emit_line(e, "const float *xw = x + oy * %lld + ox * %d;", (long long)k.sh * w, k.sw);
        emit_line(e, "int at = 0;");
        emit_line(e, "float m = xw[0];");
        for (int ky = 0; ky < k.kh; ky++)
            for (int kx = ky ? 0 : 1; kx < k.kw; kx++) {
                long long o = (long long)ky * k.dh * w + (long long)kx * k.dw;
                emit_line(e, "if (xw[%lld] > m) {", o);
                emit_line(e, "m = xw[%lld];", o);
                emit_line(e, "at = %lld;", o);
                emit_line(e, "}");
            }
        emit_unused(e, "m"); /* a 1x1 window compares nothing */
        emit_line(e, "dx[oy * %lld + ox * %d + at] += gy[oy * %lld + ox];", (long long)k.sh * w,
                  k.sw, ow);
    } else if (n->op == OP_MAXPOOL) {
        emit_line(e, "int at = -1, ky, kx;");
        emit_line(e, "float m = -INFINITY;");
        emit_line(e, "for (ky = 0; ky < %d; ky++) {", k.kh);
        emit_line(e, "iy = oy * %d - %d + ky * %d;", k.sh, k.pt, k.dh);
        emit_line(e, "if (iy < 0 || iy >= %lld)", h);
        emit_line(e, "    continue;");
        emit_line(e, "for (kx = 0; kx < %d; kx++) {", k.kw);
        emit_line(e, "ix = ox * %d - %d + kx * %d;", k.sw, k.pl, k.dw);
        emit_line(e, "if (ix < 0 || ix >= %lld)", w);
        emit_line(e, "    continue;");
        emit_line(e, "if (at < 0 || x[iy * %lld + ix] > m) {", w);
        emit_line(e, "at = iy * %lld + ix;", w);
        emit_line(e, "m = x[at];");
        emit_line(e, "}");
        emit_line(e, "}");
        emit_line(e, "}");
        emit_line(e, "if (at >= 0)");
        emit_line(e, "    dx[at] += gy[oy * %lld + ox];", ow);
    } else {
        emit_line(e, "int y0 = oy * %d - %d, x0_ = ox * %d - %d;", k.sh, k.pt, k.sw, k.pl);
        emit_line(e, "int y1 = y0 + %d, x1 = x0_ + %d, div;", k.kh, k.kw);
        emit_line(e, "float share;");
        emit_line(e, "if (y1 > %lld)", h + k.pb);
        emit_line(e, "    y1 = %lld;", h + k.pb);
        emit_line(e, "if (x1 > %lld)", w + k.pr);
        emit_line(e, "    x1 = %lld;", w + k.pr);
        if (n->a.count_include_pad)
            emit_line(e, "div = (y1 - y0) * (x1 - x0_);");
        emit_line(e, "y0 = y0 < 0 ? 0 : y0;");
        emit_line(e, "x0_ = x0_ < 0 ? 0 : x0_;");
        emit_line(e, "y1 = y1 > %lld ? %lld : y1;", h, h);
        emit_line(e, "x1 = x1 > %lld ? %lld : x1;", w, w);
        if (!n->a.count_include_pad)
            emit_line(e, "div = (y1 - y0) * (x1 - x0_);");
        emit_line(e, "if (div <= 0)");
        emit_line(e, "    continue;");
        emit_line(e, "share = (float)(gy[oy * %lld + ox] / (double)div);", ow);
        emit_line(e, "for (iy = y0; iy < y1; iy++)");
        emit_line(e, "    for (ix = x0_; ix < x1; ix++)");
        emit_line(e, "        dx[iy * %lld + ix] += share;", w);
    }
    emit_line(e, "}");
    emit_line(e, "}");
}

void global_pool_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    int64_t c, h, w;
    shape_chw(node_in_shape(emit_graph(e), n, 0), &c, &h, &w);
    long long hw = h * w;
    emit_line(e, "size_t p;");
    emit_line(e, "int i;");
    emit_line(e, "for (p = 0; p < (size_t)n * %lld; p++) {", (long long)c);
    if (n->op == OP_GLOBAL_AVGPOOL) {
        emit_line(e, "const float share = (float)(dy[p] / %lld.0);", hw);
        emit_line(e, "for (i = 0; i < %lld; i++)", hw);
        emit_line(e, "    dx0[p * %lld + i] += share;", hw);
    } else {
        emit_line(e, "const float *x = x0 + p * %lld;", hw);
        emit_line(e, "int at = 0;");
        emit_line(e, "for (i = 1; i < %lld; i++)", hw);
        emit_line(e, "    if (x[i] > x[at])");
        emit_line(e, "        at = i;");
        emit_line(e, "dx0[p * %lld + at] += dy[p];", hw);
    }
    emit_line(e, "}");
}
