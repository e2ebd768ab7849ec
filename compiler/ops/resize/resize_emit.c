/* resize_emit.c: the forward emitter of resize (resize.c), and the tap
 * tables its training backward (resize_emit_grad.c) reuses.
 *
 * The taps (source cells and weights) are computed here by resize_taps, so
 * that the generated code reads exactly the cells the interpreter reads,
 * and become static tables.
 * - linear: one pass per spatial axis that changes, the last axis first,
 *   as the interpreter runs them: a pass over the last axis gathers along
 *   the row, a pass over an earlier one blends whole rows (or planes) of
 *   the already resized later axes, contiguous loops the compilers
 *   vectorise; intermediate results go to scratch.
 * - nearest: one gather straight into the output: an output row reading
 *   the same input row as the one before is a copy of it, and where each
 *   input column is repeated k times in order (PyTorch's integer scales)
 *   the row is written k cells per input cell, no table. */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void emit_int_table(Emit *e, const char *name, const ResizeTap *t, int64_t n, bool second)
{
    StrBuf b = {0};
    for (int64_t i = 0; i < n; i++)
        sb_printf(&b, "%s%lld", i ? ", " : "", (long long)(second ? t[i].i1 : t[i].i0));
    emit_line(e, "static const int %s[%lld] = {%s};", name, (long long)n, b.s ? b.s : "");
    sb_free(&b);
}

static void emit_weight_table(Emit *e, const char *name, const ResizeTap *t, int64_t n,
                              bool second)
{
    StrBuf b = {0};
    for (int64_t i = 0; i < n; i++)
        sb_printf(&b, "%s%s", i ? ", " : "", emit_float(e, second ? t[i].w1 : t[i].w0));
    emit_line(e, "static const float %s[%lld] = {%s};", name, (long long)n, b.s ? b.s : "");
    sb_free(&b);
}

void resize_emit_taps(Emit *e, const ResizePass *p)
{
    emit_int_table(e, "i0", p->taps, p->out, false);
    if (p->nearest)
        return;
    emit_int_table(e, "i1", p->taps, p->out, true);
    emit_weight_table(e, "w0", p->taps, p->out, false);
    emit_weight_table(e, "w1", p->taps, p->out, true);
}

/* One linear pass from src to dst (C expressions of float pointers). */
static void emit_pass(Emit *e, const ResizePass *p, const char *src, const char *dst)
{
    emit_line(e, "{");
    resize_emit_taps(e, p);
    emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)p->outer);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", (long long)p->out);
    emit_line(e, "const float *a = %s + (o * %lld + i0[j]) * %lld;", src, (long long)p->in,
              (long long)p->inner);
    emit_line(e, "const float *b = %s + (o * %lld + i1[j]) * %lld;", src, (long long)p->in,
              (long long)p->inner);
    emit_line(e, "float *d = %s + (o * %lld + j) * %lld;", dst, (long long)p->out,
              (long long)p->inner);
    emit_line(e, "for (int k = 0; k < %lld; k++)", (long long)p->inner);
    emit_line(e, "    d[k] = w0[j] * a[k] + w1[j] * b[k];");
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The column table's integer repeat factor k (column o reads o / k), or 0. */
static int64_t repeat_factor(const ResizeTap *t, int64_t in, int64_t out)
{
    if (out % in)
        return 0;
    int64_t k = out / in;
    for (int64_t o = 0; o < out; o++)
        if (t[o].i0 != o / k)
            return 0;
    return k;
}

/* The taps of spatial axis `axis`, or one tap reading cell 0 for an axis
 * the shape lacks (axis < 0: a 2-D input's depth, a 1-D one's height). */
static ResizeTap *axis_taps(const Node *n, int axis, int64_t in, int64_t out)
{
    if (axis >= 0)
        return resize_taps(n, axis, in, out);
    ResizeTap *t = xmalloc(sizeof *t);
    *t = (ResizeTap){0, 0, 1.0f, 0.0f};
    return t;
}

/* Nearest: each output row gathered from its source row, or copied from
 * the row before when both read the same source. */
static void emit_nearest(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    const Shape *xs = node_in_shape(g, n, 0);
    int64_t c, d, h, w, od, oh, ow;
    shape_cdhw(xs, &c, &d, &h, &w);
    shape_cdhw(node_out_shape(g, n), &c, &od, &oh, &ow);
    int ns = xs->rank - 1;
    ResizeTap *tz = axis_taps(n, ns - 3, d, od), *ty = axis_taps(n, ns - 2, h, oh);
    ResizeTap *tx = axis_taps(n, ns - 1, w, ow);
    int64_t k = repeat_factor(tx, w, ow);
    emit_int_table(e, "zs", tz, od, false);
    emit_int_table(e, "rs", ty, oh, false);
    if (!k)
        emit_int_table(e, "qs", tx, ow, false);
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)c);
    emit_line(e, "for (int oz = 0; oz < %lld; oz++)", (long long)od);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)oh);
    emit_line(e, "float *d = y + ((c * %lld + oz) * %lld + oy) * %lld;", (long long)od,
              (long long)oh, (long long)ow);
    emit_line(e, "const float *sr = x0 + ((c * %lld + zs[oz]) * %lld + rs[oy]) * %lld;",
              (long long)d, (long long)h, (long long)w);
    emit_line(e, "if (oy > 0 && rs[oy] == rs[oy - 1]) {");
    emit_line(e, "memcpy(d, d - %lld, %lld * sizeof(float));", (long long)ow, (long long)ow);
    emit_line(e, "continue;");
    emit_line(e, "}");
    if (k) {
        emit_line(e, "for (int ix = 0; ix < %lld; ix++)", (long long)w);
        emit_line(e, "for (int j = 0; j < %lld; j++)", (long long)k);
        emit_line(e, "    d[ix * %lld + j] = sr[ix];", (long long)k);
    } else {
        emit_line(e, "for (int ox = 0; ox < %lld; ox++)", (long long)ow);
        emit_line(e, "    d[ox] = sr[qs[ox]];");
    }
    emit_line(e, "}");
    free(tz);
    free(ty);
    free(tx);
}

void resize_emit(Emit *e, const Node *n)
{
    if (n->a.resize_mode == RESIZE_NEAREST) {
        emit_nearest(e, n);
        return;
    }
    Graph *g = emit_graph(e);
    int ns = node_in_shape(g, n, 0)->rank - 1;
    ResizePass pass[3];
    int np = 0;
    int64_t scratch = 0;
    for (int axis = ns - 1; axis >= 0; axis--) {
        ResizePass p = resize_pass(g, n, axis);
        if (resize_taps_identity(p.taps, p.in, p.out)) {
            free(p.taps);
            continue;
        }
        if (np > 0) /* the previous pass's result goes to scratch */
            scratch += plan_round_up(pass[np - 1].outer * pass[np - 1].out * pass[np - 1].inner);
        pass[np++] = p;
    }
    if (np == 0) {
        emit_line(e, "for (int i = 0; i < %lld; i++)",
                  (long long)shape_numel(node_out_shape(g, n)));
        emit_line(e, "    y[i] = x0[i];");
        return;
    }
    const char *s = scratch ? emit_scratch(e, scratch) : NULL;
    int64_t at = 0;
    char src[64] = "x0", dst[64];
    for (int i = 0; i < np; i++) {
        if (i == np - 1)
            snprintf(dst, sizeof dst, "y");
        else
            snprintf(dst, sizeof dst, "(%s + %lld)", s, (long long)at);
        emit_pass(e, &pass[i], src, dst);
        at += plan_round_up(pass[i].outer * pass[i].out * pass[i].inner);
        snprintf(src, sizeof src, "%s", dst);
        free(pass[i].taps);
    }
}
