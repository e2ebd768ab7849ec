/* act_emit_grad.c: the activations' training code (act_grad.c, traingen):
 * a standalone activation's backward (dx += dy * act'(x, y)) and a fused
 * epilogue's (dy *= act'(y), in conv, dense, batchnorm and add), each
 * derivative the expression emit_act_deriv (act_emit.c) gives. */
#include "../ops.h"

void emit_grad_epilogue(Emit *e, const Node *n, int64_t per_sample)
{
    if (n->act.kind == ACT_NONE)
        return;
    emit_line(e, "{");
    emit_line(e, "int i;");
    emit_line(e, "for (i = 0; i < n * %lld; i++)", (long long)per_sample);
    emit_line(e, "    dy[i] *= %s;", emit_act_deriv(e, n->act, "y[i]", "y[i]"));
    emit_line(e, "}");
}

void act_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    long long size = shape_numel(node_out_shape(emit_graph(e), n));
    emit_line(e, "size_t i;");
    emit_line(e, "for (i = 0; i < (size_t)n * %lld; i++)", size);
    emit_line(e, "    dx0[i] += dy[i] * %s;", emit_act_deriv(e, node_act(n), "x0[i]", "y[i]"));
}
