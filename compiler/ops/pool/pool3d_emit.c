/* pool3d_emit.c: the forward emitter of 3-D max and average pooling
 * (pool.c's rules over planes, rows and columns), apart from the tuned 2-D
 * kernels of pool_emit.c, and their backward for generated training over
 * the same windows (pool_emit_grad.c hands volumes here): max sends dy to
 * the cell the forward kept, average spreads dy / divisor over the cells
 * read.
 *
 * Plain loops: each output cell clips its window to the input (padding is
 * never read) in integer arithmetic the same as avg_window_3d and
 * pool_argmax_3d; max keeps the first maximum, NaN winning as in the
 * interpreter; average divides by the padded window's size or the cells
 * read (count_include_pad). */
#include "../ops.h"

/* One axis of output o's window: its start NAME0 and end NAME1, the part
 * inside the input [NAMElo, NAMEhi), and with `padded` the end inside the
 * padded input, NAME1p. */
static void emit_axis_clip(Emit *e, const char *name, const char *o, int s, int p, int k, int d,
                           int64_t in, int pe, bool padded)
{
    int64_t span = (int64_t)(k - 1) * d + 1;
    emit_line(e, "const int %s0 = %s * %d - %d, %s1 = %s0 + %lld;", name, o, s, p, name, name,
              (long long)span);
    if (padded)
        emit_line(e, "const int %s1p = %s1 < %lld ? %s1 : %lld;", name, name,
                  (long long)(in + pe), name, (long long)(in + pe));
    emit_line(e, "const int %slo = %s0 < 0 ? 0 : %s0, %shi = %s1 < %lld ? %s1 : %lld;", name,
              name, name, name, name, (long long)in, name, (long long)in);
}

/* The window's taps of one axis (dilation d): `for (int i = lo; i < hi;
 * i += d)` with lo moved to the first tap inside the input. */
static void emit_tap_loop(Emit *e, const char *i, const char *name, int d)
{
    if (d == 1) {
        emit_line(e, "for (int %s = %slo; %s < %shi; %s++)", i, name, i, name, i);
        return;
    }
    emit_line(e, "for (int %s = %s0 + (%slo - %s0 + %d) / %d * %d; %s < %shi; %s += %d)", i, name,
              name, name, d - 1, d, d, i, name, i, d);
}

/* The windows of every output cell of `planes` planes (C, or n * C for
 * the backward), leaving the tap loops open on one body. */
static void open_windows(Emit *e, const ConvGeom *k, const char *planes, bool padded)
{
    emit_line(e, "for (size_t c = 0; c < %s; c++) {", planes);
    emit_line(e, "const float *xc = x0 + c * %lld;", (long long)(k->d * k->h * k->w));
    emit_line(e, "for (int oz = 0; oz < %lld; oz++)", (long long)k->od);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k->oh);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const size_t o = c * %lld + (oz * %lld + oy) * %lld + ox;",
              (long long)(k->od * k->oh * k->ow), (long long)k->oh, (long long)k->ow);
    emit_axis_clip(e, "z", "oz", k->sd, k->pf, k->kd, k->dd, k->d, k->pbk, padded);
    emit_axis_clip(e, "r", "oy", k->sh, k->pt, k->kh, k->dh, k->h, k->pb, padded);
    emit_axis_clip(e, "q", "ox", k->sw, k->pl, k->kw, k->dw, k->w, k->pr, padded);
}

static void emit_taps(Emit *e, const ConvGeom *k)
{
    emit_tap_loop(e, "iz", "z", k->dd);
    emit_tap_loop(e, "iy", "r", k->dh);
    emit_tap_loop(e, "ix", "q", k->dw);
}

/* The average's divisor (an int): the padded window's cells or those read. */
static const char *divisor(bool padded)
{
    return padded ? "((z1p - z0) * (r1p - r0) * (q1p - q0))"
                  : "((zhi - zlo) * (rhi - rlo) * (qhi - qlo))";
}

void pool_emit_volume(Emit *e, const Node *n)
{
    ConvGeom k = conv_geometry(emit_graph(e), n);
    bool max = n->op == OP_MAXPOOL, padded = !max && n->a.count_include_pad;
    char planes[32];
    snprintf(planes, sizeof planes, "%lld", (long long)k.c);
    open_windows(e, &k, planes, padded);
    emit_line(e, "float m = %s;", max ? "-INFINITY" : "0.0f");
    emit_taps(e, &k);
    emit_line(e, "{");
    emit_line(e, "const float v = xc[(iz * %lld + iy) * %lld + ix];", (long long)k.h,
              (long long)k.w);
    emit_line(e, max ? "m = v > m || v != v ? v : m;" : "m += v;");
    emit_line(e, "}");
    if (max || padded)
        emit_line(e, "y[o] = %s;", max ? "m" : emit_keep(e, xasprintf("m / (float)%s", divisor(true))));
    else
        emit_line(e, "y[o] = zhi > zlo && rhi > rlo && qhi > qlo ? m / (float)%s : 0.0f;",
                  divisor(false));
    emit_line(e, "}");
    emit_line(e, "}");
}

void pool_emit_volume_grad(Emit *e, const Node *n)
{
    ConvGeom k = conv_geometry(emit_graph(e), n);
    bool max = n->op == OP_MAXPOOL, padded = !max && n->a.count_include_pad;
    char planes[48];
    snprintf(planes, sizeof planes, "(size_t)n * %lld", (long long)k.c);
    open_windows(e, &k, planes, padded);
    emit_line(e, "float *dxc = dx0 + c * %lld;", (long long)(k.d * k.h * k.w));
    emit_unused(e, "xc"); /* an average's backward reads no input */
    if (max) {
        emit_line(e, "float m = -INFINITY;");
        emit_line(e, "int at = -1;");
    } else {
        emit_line(e, "if (!(zhi > zlo && rhi > rlo && qhi > qlo))");
        emit_line(e, "    continue;");
        emit_line(e, "const float share = (float)(dy[o] / (double)%s);", divisor(padded));
    }
    emit_taps(e, &k);
    emit_line(e, "{");
    emit_line(e, "const int i = (iz * %lld + iy) * %lld + ix;", (long long)k.h, (long long)k.w);
    if (max) {
        emit_line(e, "if (at < 0 || xc[i] > m) { /* the first maximum, as pool_grad.c */");
        emit_line(e, "m = xc[i];");
        emit_line(e, "at = i;");
        emit_line(e, "}");
    } else {
        emit_line(e, "dxc[i] += share;");
    }
    emit_line(e, "}");
    if (max) {
        emit_line(e, "if (at >= 0)");
        emit_line(e, "    dxc[at] += dy[o];");
    }
    emit_line(e, "}");
    emit_line(e, "}");
}
