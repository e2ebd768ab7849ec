/* act_emit.c: the forward emitter of the standalone activations (see act.c):
 * y[i] = act(x[i]) over one sample. The memory plan usually gives y the
 * storage of x (in place), which this loop allows: it reads x[i] before
 * writing y[i]. */
#include "../ops.h"

void act_emit(Emit *e, const Node *n)
{
    int64_t count = shape_numel(node_out_shape(emit_graph(e), n));
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)count);
    emit_line(e, "float t = x0[i];");
    emit_line(e, "y[i] = %s;", emit_act(e, node_act(n), "t"));
    emit_line(e, "}");
}
