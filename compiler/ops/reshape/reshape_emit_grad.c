/* reshape_emit_grad.c: Dropout's training code (traingen). Other views
 * (flatten, reshape, identity) share their input's storage and gradient,
 * so they have no code. In a training step (mode 2) element i of sample b
 * is kept when a hash of (key, b * size + i) is at least rate * 2^24 and
 * then scaled by 1 / (1 - rate); the backward recomputes the same mask.
 * key mixes the state's seed, the step and the layer (docs/training.md).
 * In grad and inference modes Dropout is the identity (contract). */
#include "../ops.h"

static void emit_mask_loop(Emit *e, const Node *n, const char *src, const char *dst,
                           const char *op)
{
    long long size = shape_numel(node_out_shape(emit_graph(e), n));
    float rate = n->a.rate;
    emit_line(e, "const uint64_t k = key ^ (0x9E3779B97F4A7C15u * %lluu);",
              (unsigned long long)(n - emit_graph(e)->n) + 1);
    emit_line(e, "size_t i;");
    emit_line(e, "for (i = 0; i < (size_t)n * %lld; i++) {", size);
    emit_line(e, "uint64_t z = k + 0x9E3779B97F4A7C15u * (i + 1);");
    emit_line(e, "z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;");
    emit_line(e, "z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;");
    emit_line(e, "z ^= z >> 31;");
    emit_line(e, "%s[i] %s mode != 2 ? %s[i] : (double)(z >> 40) >= %.17g ? %s[i] * %s : 0.0f;", dst,
              op, src, (double)rate * 16777216.0, src, emit_float(e, 1.0f / (1.0f - rate)));
    emit_line(e, "}");
}

void dropout_emit_train(Emit *e, const Node *n)
{
    emit_mask_loop(e, n, "x0", "y", "=");
}

void dropout_emit_grad(Emit *e, const Node *n)
{
    if (emit_grad_needs_dx(e, 0))
        emit_mask_loop(e, n, "dy", "dx0", "+=");
}
