/* act_emit_grad.c: backward of a standalone activation (act_grad.c,
 * traingen): dx += dy * act'(x, y) over the batch. */
#include "../ops.h"

void act_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    long long size = shape_numel(node_out_shape(emit_graph(e), n));
    emit_line(e, "size_t i;");
    emit_line(e, "for (i = 0; i < (size_t)n * %lld; i++)", size);
    emit_line(e, "    dx0[i] += dy[i] * %s;", emit_act_deriv(e, node_act(n), "x0[i]", "y[i]"));
}
