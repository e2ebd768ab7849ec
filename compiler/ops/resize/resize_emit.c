/* resize_emit.c: the forward emitter of resize (resize.c), and the passes
 * its training backward reuses.
 *
 * One pass per spatial axis that changes, the last axis first, as the
 * interpreter runs them: the taps (source cells and weights, computed here
 * by resize_taps, so that the generated code reads exactly the cells the
 * interpreter reads) are static tables; a pass over the last axis gathers
 * along the row, a pass over an earlier one blends whole rows (or planes)
 * of the already resized later axes, contiguous loops the compilers
 * vectorise. Intermediate results go to scratch. */
#include "../ops.h"

#include <stdlib.h>

static void emit_int_table(Emit *e, const char *name, const ResizeTap *t, int64_t n, bool second)
{
    StrBuf b = {0};
    for (int64_t i = 0; i < n; i++)
        sb_printf(&b, "%s%lld", i ? ", " : "", (long long)(second ? t[i].i1 : t[i].i0));
    emit_line(e, "static const int %s[%lld] = {%s};", name, (long long)n, b.s);
    sb_free(&b);
}

static void emit_weight_table(Emit *e, const char *name, const ResizeTap *t, int64_t n,
                              bool second)
{
    StrBuf b = {0};
    for (int64_t i = 0; i < n; i++)
        sb_printf(&b, "%s%s", i ? ", " : "", emit_float(e, second ? t[i].w1 : t[i].w0));
    emit_line(e, "static const float %s[%lld] = {%s};", name, (long long)n, b.s);
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

/* One pass from src to dst (C expressions of float pointers). */
static void emit_pass(Emit *e, const ResizePass *p, const char *src, const char *dst)
{
    emit_line(e, "{");
    resize_emit_taps(e, p);
    emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)p->outer);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", (long long)p->out);
    emit_line(e, "const float *a = %s + (o * %lld + i0[j]) * %lld;", src, (long long)p->in,
              (long long)p->inner);
    if (!p->nearest)
        emit_line(e, "const float *b = %s + (o * %lld + i1[j]) * %lld;", src, (long long)p->in,
                  (long long)p->inner);
    emit_line(e, "float *d = %s + (o * %lld + j) * %lld;", dst, (long long)p->out,
              (long long)p->inner);
    emit_line(e, "for (int k = 0; k < %lld; k++)", (long long)p->inner);
    emit_line(e, p->nearest ? "    d[k] = a[k];" : "    d[k] = w0[j] * a[k] + w1[j] * b[k];");
    emit_line(e, "}");
    emit_line(e, "}");
}

void resize_emit(Emit *e, const Node *n)
{
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
