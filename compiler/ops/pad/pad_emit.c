/* pad_emit.c: the forward emitter of the pad layer (see pad.c): the padded
 * copy conv uses for its own padding (conv_emit.c), written to y; constant
 * padding with another value than 0 fills y first. */
#include "../ops.h"

void pad_emit(Emit *e, const Node *n)
{
    int64_t c, h, w;
    shape_chw(node_in_shape(emit_graph(e), n, 0), &c, &h, &w);
    int pad[4] = {n->a.pad[0], n->a.pad[1], n->a.pad[2], n->a.pad[3]};
    if (node_in_shape(emit_graph(e), n, 0)->rank != 3)
        pad[0] = pad[2] = 0; /* 1-D: left and right only */
    if (n->a.pad_mode != PAD_ZEROS || n->a.pad_value == 0) {
        emit_pad_copy(e, "y", "x0", c, h, w, pad, n->a.pad_mode);
        return;
    }
    /* Another constant: the whole output, then the rows of x over it. */
    int64_t oh = h + pad[0] + pad[2], ow = w + pad[1] + pad[3];
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)(c * oh * ow));
    emit_line(e, "    y[i] = %s;", emit_float(e, n->a.pad_value));
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)c);
    emit_line(e, "    for (int r = 0; r < %lld; r++)", (long long)h);
    emit_line(e, "        memcpy(y + (c * %lld + r + %d) * %lld + %d, x0 + (c * %lld + r) * %lld, "
              "%lld * sizeof(float));", (long long)oh, pad[0], (long long)ow, pad[1], (long long)h,
              (long long)w, (long long)w);
}
