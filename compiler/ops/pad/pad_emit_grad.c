/* pad_emit_grad.c: backward of the padding layer (pad_grad.c, traingen).
 * Each output cell copied one input cell (zeros mode: none for the
 * border), so its gradient goes back there; with reflect and replicate an
 * edge cell was copied several times and receives the sum. Where each
 * output row and column reads from is a compile-time table (pad_source),
 * -1 for a zero. */
#include "../ops.h"

/* static const int NAME[out]: the source index of each padded position. */
static void emit_source_table(Emit *e, const char *name, int64_t out, int64_t before, int64_t len,
                              PadMode mode)
{
    StrBuf b = {0};
    for (int64_t i = 0; i < out; i++)
        sb_printf(&b, "%s%lld", i ? ", " : "", (long long)pad_source(i - before, len, mode));
    emit_line(e, "static const int %s[%lld] = {%s};", name, (long long)out, b.s);
    sb_free(&b);
}

void pad_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    const Graph *g = emit_graph(e);
    int64_t c, h, w, oh, ow;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    shape_chw(node_out_shape(g, n), &c, &oh, &ow);
    int top = node_in_shape(g, n, 0)->rank == 3 ? n->a.pad[0] : 0, left = n->a.pad[1];
    emit_source_table(e, "row", oh, top, h, n->a.pad_mode);
    emit_source_table(e, "col", ow, left, w, n->a.pad_mode);
    emit_line(e, "size_t p;");
    emit_line(e, "int i, j;");
    emit_line(e, "for (p = 0; p < (size_t)n * %lld; p++) {", (long long)c);
    emit_line(e, "const float *gy = dy + p * %lld;", (long long)(oh * ow));
    emit_line(e, "float *dx = dx0 + p * %lld;", (long long)(h * w));
    emit_line(e, "for (i = 0; i < %lld; i++)", (long long)oh);
    emit_line(e, "    for (j = 0; j < %lld; j++)", (long long)ow);
    emit_line(e, "        if (row[i] >= 0 && col[j] >= 0)");
    emit_line(e, "            dx[row[i] * %lld + col[j]] += gy[i * %lld + j];", (long long)w,
              (long long)ow);
    emit_line(e, "}");
}
