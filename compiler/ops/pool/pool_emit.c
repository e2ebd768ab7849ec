/* pool_emit.c: forward emitters of the pools (see pool.c for the rules).
 * Max pooling runs in two passes per output row over contiguous floats,
 * vectorised (emit_maxpool below). Average pooling: a window that lies
 * wholly inside the input (most of them) is read with literal offsets and
 * no test: per row, the columns [lo, hi) whose windows fit are known at
 * compile time. The other windows are clipped to the input once per output
 * cell (PyTorch's avg_pool2d formula for the divisor), so the loops over
 * their cells carry no test. */
#include "../ops.h"

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
    if (lo < k->ow) /* else no window lies inside: the row has no fast path */
        emit_line(e, "int inside = y0 >= 0 && y0 + %d <= %lld;", k->kh, (long long)k->h);
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

/* The statement a whole window runs: the average of its taps at xw. */
static char *window_expr(const ConvGeom *k)
{
    StrBuf b = {0};
    if (k->kh * k->kw > MAX_UNROLL_TAPS) {
        sb_puts(&b, "float r = 0.0f;\n");
        sb_printf(&b, "for (int ky = 0; ky < %d; ky++)\n", k->kh);
        sb_printf(&b, "    for (int kx = 0; kx < %d; kx++)\n", k->kw);
        sb_printf(&b, "        r += xw[ky * %lld + kx * %d];\n", (long long)(k->dh * k->w), k->dw);
    } else {
        sb_puts(&b, "float r = 0.0f;\n");
        for (int ky = 0; ky < k->kh; ky++)
            for (int kx = 0; kx < k->kw; kx++)
                sb_printf(&b, "r += xw[%lld];\n", (long long)(ky * k->dh * k->w + kx * k->dw));
    }
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

/* Max pooling as two passes per output row: the rows pass takes, column by
 * column, the maximum over the window's rows (clipped to the input) into
 * `row`, a copy of the input row with -INFINITY in the padding; the columns
 * pass takes the maximum over each window's columns of `row`. Both read
 * contiguous floats: the rows pass in vectors along the input row, the
 * columns pass in vectors of output cells (stride 1: plain loads; stride 2:
 * two loads deinterleaved by a shuffle). A block past the end is moved back
 * to end at the row's end (it overlaps the block before, writing the same
 * values), so there is no scalar tail. NaN wins, as in PyTorch (the
 * interpreter's order differs only in which of +0 and -0 a tie keeps). */
static void emit_vec_max(Emit *e, int lanes, const char *m, const char *v)
{
    emit_line(e, "{");
    emit_line(e, "const cnnc_v%di t = (%s > %s) | (%s != %s);", lanes, v, m, v, v);
    emit_line(e, "%s = (cnnc_v%d)(((cnnc_v%di)%s & t) | ((cnnc_v%di)%s & ~t));", m, lanes, lanes,
              v, lanes, m);
    emit_line(e, "}");
}

static void emit_rows_vec(Emit *e, const ConvGeom *k, int lanes)
{
    emit_line(e, "for (int x = 0;; x += %d) {", lanes);
    emit_line(e, "if (x > %lld)", (long long)(k->w - lanes));
    emit_line(e, "    x = %lld;", (long long)(k->w - lanes));
    emit_line(e, "cnnc_v%d m = (cnnc_v%d){0} - INFINITY;", lanes, lanes);
    emit_line(e, "for (int ky = ky0; ky < ky1; ky++) {");
    emit_line(e, "const cnnc_v%d v = *(const cnnc_v%du *)(xc + (y0 + ky * %d) * %lld + x);", lanes,
              lanes, k->dh, (long long)k->w);
    emit_vec_max(e, lanes, "m", "v");
    emit_line(e, "}");
    emit_line(e, "*(cnnc_v%du *)(row + %d + x) = m;", lanes, k->pl);
    emit_line(e, "if (x == %lld)", (long long)(k->w - lanes));
    emit_line(e, "    break;");
    emit_line(e, "}");
}

/* Opens the vector alternatives of a pass over `lanes` floats (16: the
 * 16- and 8-float paths, 8: the 8-float one, 0: none) before its plain
 * loop; true when the caller must close them with #endif after it. */
static bool open_vec_paths(Emit *e, const ConvGeom *k, int lanes,
                           void (*vec)(Emit *e, const ConvGeom *k, int lanes))
{
    if (lanes == 16) {
        emit_line(e, "#if defined(CNNC_V16_DEFINED)");
        vec(e, k, 16);
        emit_line(e, "#elif defined(CNNC_V8_DEFINED)");
    } else if (lanes == 8) {
        emit_line(e, "#if defined(CNNC_V8_DEFINED)");
    }
    if (!lanes)
        return false;
    vec(e, k, 8);
    emit_line(e, "#else");
    return true;
}

static void emit_rows_pass(Emit *e, const ConvGeom *k)
{
    int lanes = k->w >= 16 ? 16 : k->w >= 8 ? 8 : 0;
    bool vec = open_vec_paths(e, k, lanes, emit_rows_vec);
    emit_line(e, "for (int x = 0; x < %lld; x++)", (long long)k->w);
    emit_line(e, "    row[%d + x] = -INFINITY;", k->pl);
    emit_line(e, "for (int ky = ky0; ky < ky1; ky++) {");
    emit_line(e, "const float *xr = xc + (y0 + ky * %d) * %lld;", k->dh, (long long)k->w);
    emit_line(e, "for (int x = 0; x < %lld; x++) {", (long long)k->w);
    emit_line(e, "float v = xr[x], m = row[%d + x];", k->pl);
    emit_line(e, "row[%d + x] = v > m || v != v ? v : m;", k->pl);
    emit_line(e, "}");
    emit_line(e, "}");
    if (vec)
        emit_line(e, "#endif");
}

/* Lanes' taps at row + ox * stride + off: a load (stride 1) or the even
 * lanes of two (stride 2). */
static void emit_cols_load(Emit *e, const ConvGeom *k, int lanes, int off)
{
    if (k->sw == 1) {
        emit_line(e, "v = *(const cnnc_v%du *)(rw + %d);", lanes, off);
        return;
    }
    StrBuf idx = {0};
    for (int i = 0; i < lanes; i++)
        sb_printf(&idx, "%s%d", i ? ", " : "", 2 * i);
    emit_line(e, "a = *(const cnnc_v%du *)(rw + %d);", lanes, off);
    emit_line(e, "b = *(const cnnc_v%du *)(rw + %d);", lanes, off + lanes);
    emit_line(e, "#if defined(__clang__)");
    emit_line(e, "v = __builtin_shufflevector(a, b, %s);", idx.s);
    emit_line(e, "#else");
    emit_line(e, "v = __builtin_shuffle(a, b, (cnnc_v%di){%s});", lanes, idx.s);
    emit_line(e, "#endif");
    free(idx.s);
}

static void emit_cols_vec(Emit *e, const ConvGeom *k, int lanes)
{
    emit_line(e, "for (int ox = 0;; ox += %d) {", lanes);
    emit_line(e, "if (ox > %lld)", (long long)(k->ow - lanes));
    emit_line(e, "    ox = %lld;", (long long)(k->ow - lanes));
    emit_line(e, "const float *rw = row + ox * %d;", k->sw);
    emit_line(e, "cnnc_v%d m, v%s;", lanes, k->sw == 2 ? ", a, b" : "");
    emit_cols_load(e, k, lanes, 0);
    emit_line(e, "m = v;");
    for (int kx = 1; kx < k->kw; kx++) {
        emit_cols_load(e, k, lanes, kx * k->dw);
        emit_vec_max(e, lanes, "m", "v");
    }
    emit_line(e, "*(cnnc_v%du *)(yc + oy * %lld + ox) = m;", lanes, (long long)k->ow);
    emit_line(e, "if (ox == %lld)", (long long)(k->ow - lanes));
    emit_line(e, "    break;");
    emit_line(e, "}");
}

static void emit_cols_pass(Emit *e, const ConvGeom *k)
{
    bool strided = k->sw == 1 || k->sw == 2; /* the strides with a vector load */
    int lanes = !strided ? 0 : k->ow >= 16 ? 16 : k->ow >= 8 ? 8 : 0;
    bool vec = open_vec_paths(e, k, lanes, emit_cols_vec);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const float *rw = row + ox * %d;", k->sw);
    emit_line(e, "float m = rw[0]%s;", k->kw > 1 ? ", v" : "");
    if (k->kw <= MAX_UNROLL_TAPS) {
        for (int kx = 1; kx < k->kw; kx++) {
            emit_line(e, "v = rw[%d];", kx * k->dw);
            emit_line(e, "m = v > m || v != v ? v : m;");
        }
    } else {
        emit_line(e, "for (int kx = 1; kx < %d; kx++) {", k->kw);
        emit_line(e, "v = rw[kx * %d];", k->dw);
        emit_line(e, "m = v > m || v != v ? v : m;");
        emit_line(e, "}");
    }
    emit_line(e, "yc[oy * %lld + ox] = m;", (long long)k->ow);
    emit_line(e, "}");
    if (vec)
        emit_line(e, "#endif");
}

/* The floats `row` needs: the padded input row, and every column a window
 * reads (the stride-2 loads read one past the last window's last tap). */
static int64_t maxpool_row_len(const ConvGeom *k)
{
    int64_t reach = (k->ow - 1) * k->sw + (int64_t)(k->kw - 1) * k->dw + 2;
    return reach > k->pl + k->w ? reach : k->pl + k->w;
}

static void emit_maxpool(Emit *e, const ConvGeom *k)
{
    int64_t len = maxpool_row_len(k);
    emit_line(e, "float row[%lld];", (long long)len);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)len);
    emit_line(e, "    row[i] = -INFINITY;");
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)k->c);
    emit_line(e, "const float *xc = x0 + c * %lld;", (long long)(k->h * k->w));
    emit_line(e, "float *yc = y + c * %lld;", (long long)(k->oh * k->ow));
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)k->oh);
    emit_line(e, "int y0 = oy * %d - %d;", k->sh, k->pt);
    emit_clip(e, "ky", "y0", k->h, k->kh, k->dh);
    emit_rows_pass(e, k);
    emit_cols_pass(e, k);
    emit_line(e, "}");
    emit_line(e, "}");
}

static void emit_avgpool(Emit *e, const ConvGeom *k, bool include_pad, char *fast)
{
    emit_line(e, "int y1 = y0 + %d < %lld ? y0 + %d : %lld;", k->kh, (long long)(k->h + k->pb),
              k->kh, (long long)(k->h + k->pb));
    emit_line(e, "int ya = y0 < 0 ? 0 : y0, yb = y1 < %lld ? y1 : %lld;", (long long)k->h,
              (long long)k->h);
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
    if (window_is_3d(emit_graph(e), n)) {
        pool_emit_volume(e, n);
        return;
    }
    ConvGeom k = conv_geometry(emit_graph(e), n);
    if (n->op == OP_MAXPOOL) {
        emit_line(e, "{");
        emit_maxpool(e, &k);
        emit_line(e, "}");
        return;
    }
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)k.c);
    emit_line(e, "const float *xc = x0 + c * %lld;", (long long)(k.h * k.w));
    emit_line(e, "float *yc = y + c * %lld;", (long long)(k.oh * k.ow));
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)k.oh);
    emit_line(e, "int y0 = oy * %d - %d;", k.sh, k.pt);
    char *fast = window_expr(&k);
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
    reduce_emit_row(e, max ? OP_REDUCE_MAX : OP_REDUCE_SUM, "r", "xc", h * w);
    if (max)
        emit_line(e, "y[c] = r;");
    else
        emit_line(e, "y[c] = r / %lld.0f;", (long long)(h * w));
    emit_line(e, "}");
}
