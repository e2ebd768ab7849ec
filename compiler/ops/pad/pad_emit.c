/* pad_emit.c: the forward emitter of the pad layer (see pad.c): the padded
 * copy conv uses for its own padding (conv_emit.c), written to y. */
#include "../ops.h"

void pad_emit(Emit *e, const Node *n)
{
    int64_t c, h, w;
    shape_chw(node_in_shape(emit_graph(e), n, 0), &c, &h, &w);
    int pad[4] = {n->a.pad[0], n->a.pad[1], n->a.pad[2], n->a.pad[3]};
    if (node_in_shape(emit_graph(e), n, 0)->rank != 3)
        pad[0] = pad[2] = 0; /* 1-D: left and right only */
    emit_pad_copy(e, "y", "x0", c, h, w, pad, n->a.pad_mode);
}
