/* pool_emit.c: forward emitters of the pools (see pool.c for the rules).
 * A window that lies wholly inside the input (most of them) is read with
 * literal offsets and no test: per row, the columns [lo, hi) whose
 * windows fit are known at compile time. The other windows are clipped to
 * the input once per output cell (PyTorch's avg_pool2d formula for the
 * divisor), so the loops over their cells carry no test; for maxpool with
 * dilation the clip is done in steps of the dilation. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_UNROLL_TAPS = 25 };

/* The output columns whose windows lie inside the input's columns:
 * [*lo, *hi), empty (both ow) when there are none. */
static void inner_columns(const ConvGeom *k, int64_t *lo, int64_t *hi)
{
    int64_t span = (int64_t)(k->kw - 1) * k->dw;
    *lo = (k->pl + k->sw - 1) / k->sw;
    *hi = k->w - 1 - span + k->pl < 0 ? 0 : (k->w - 1 - span + k->pl) / k->sw + 1;
    if (*hi > k->ow)
        *hi = k->ow;
    if (*hi <= *lo)
        *lo = *hi = k->ow;
}

/* Writes text line by line (emit_line indents by the braces); consumes it. */
static void emit_lines(Emit *e, char *text)
{
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        emit_line(e, "%s", line);
    }
}

/* Opens the loop over a row's output columns; the columns [lo, hi) of a
 * row whose windows fit vertically (`inside`) run `fast` (one statement
 * reading the window at xw) in a loop of their own. */
static void emit_columns(Emit *e, const ConvGeom *k, char *fast)
{
    int64_t lo, hi;
    inner_columns(k, &lo, &hi);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    if (lo < k->ow) {
        emit_line(e, "if (inside && ox == %lld) {", (long long)lo);
        emit_line(e, "for (; ox < %lld; ox++) {", (long long)hi);
        emit_line(e, "const float *xw = xc + y0 * %lld + ox * %d - %d;", (long long)k->w, k->sw,
                  k->pl);
        emit_line(e, "{");
        emit_lines(e, fast);
        emit_line(e, "}");
        emit_line(e, "}");
        emit_line(e, "if (ox == %lld)", (long long)k->ow);
        emit_line(e, "    break;");
        emit_line(e, "}");
    }
}

/* The statement a whole window runs: op over every tap at xw. */
static char *window_expr(const ConvGeom *k, bool max)
{
    StrBuf b = {0};
    if (k->kh * k->kw > MAX_UNROLL_TAPS) {
        sb_printf(&b, "float r = %s;\n", max ? "-INFINITY" : "0.0f");
        sb_printf(&b, "for (int ky = 0; ky < %d; ky++)\n", k->kh);
        sb_printf(&b, "    for (int kx = 0; kx < %d; kx++) {\n", k->kw);
        sb_printf(&b, "        float v = xw[ky * %lld + kx * %d];\n",
                  (long long)(k->dh * k->w), k->dw);
        sb_printf(&b, max ? "        r = v > r || v != v ? v : r;\n    }\n"
                          : "        r += v;\n    }\n");
    } else {
        sb_printf(&b, "float r = %s, v;\n", max ? "-INFINITY" : "0.0f");
        for (int ky = 0; ky < k->kh; ky++)
            for (int kx = 0; kx < k->kw; kx++) {
                sb_printf(&b, "v = xw[%lld];\n", (long long)(ky * k->dh * k->w + kx * k->dw));
                sb_puts(&b, max ? "r = v > r || v != v ? v : r;\n" : "r += v;\n");
            }
    }
    if (max)
        sb_printf(&b, "yc[oy * %lld + ox] = r;", (long long)k->ow);
    else
        sb_printf(&b, "yc[oy * %lld + ox] = r / %d.0f;", (long long)k->ow, k->kh * k->kw);
    return b.s;
}

/* Declares ky0/ky1 (or kx0/kx1): the taps of axis `a` whose cells lie inside
 * [0, size), for window start `start` (an expression). */
static void emit_clip(Emit *e, const char *a, const char *start, int64_t size, int k, int d)
{
    emit_line(e, "int %s0 = %s < 0 ? (-%s + %d) / %d : 0;", a, start, start, d - 1, d);
    emit_line(e, "int %s1 = (%lld - %s + %d) / %d;", a, (long long)size, start, d - 1, d);
    emit_line(e, "if (%s1 > %d)", a, k);
    emit_line(e, "    %s1 = %d;", a, k);
}

static void emit_maxpool(Emit *e, const ConvGeom *k, char *fast)
{
    emit_clip(e, "ky", "y0", k->h, k->kh, k->dh);
    emit_line(e, "int inside = ky0 == 0 && ky1 == %d;", k->kh);
    emit_columns(e, k, fast);
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

static void emit_avgpool(Emit *e, const ConvGeom *k, bool include_pad, char *fast)
{
    emit_line(e, "int y1 = y0 + %d < %lld ? y0 + %d : %lld;", k->kh, (long long)(k->h + k->pb),
              k->kh, (long long)(k->h + k->pb));
    emit_line(e, "int ya = y0 < 0 ? 0 : y0, yb = y1 < %lld ? y1 : %lld;", (long long)k->h,
              (long long)k->h);
    emit_line(e, "int inside = y0 >= 0 && y0 + %d <= %lld;", k->kh, (long long)k->h);
    emit_columns(e, k, fast);
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
    char *fast = window_expr(&k, n->op == OP_MAXPOOL);
    if (n->op == OP_MAXPOOL)
        emit_maxpool(e, &k, fast);
    else
        emit_avgpool(e, &k, n->a.count_include_pad, fast);
    free(fast);
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
