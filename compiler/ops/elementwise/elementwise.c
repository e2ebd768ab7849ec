/* elementwise.c: sums and products of same-shaped activations.
 *
 *   add  y = act(x_0 + x_1 + ... + x_{n-1} [+ B])
 *   mul  y = x_0 * x_1   or   y = x_0 * B
 *
 * B is an optional constant or parameter in param slot 0 (ONNX Add(x, B),
 * Mul(x, B)), broadcast numpy-style against the per-sample shape: shapes are
 * aligned at their last dimensions, each of B's dimensions equals the
 * activation's or is 1, and B may carry one more leading dimension of 1
 * (the batch). The add's fused epilogue act (n->act) is applied last.
 *
 * Shape rule: add takes >= 2 operands in all (activations plus B), mul
 * exactly 2; the activations have identical shapes and B broadcasts to
 * them without growing them; the output has the activations' shape. */
#include "../ops.h"

#include <stdlib.h>

/* Does B's shape broadcast onto the per-sample shape s? */
static bool broadcasts(const Shape *b, const Shape *s)
{
    int extra = b->rank - s->rank;
    if (extra > 1)
        return false;
    if (extra == 1 && b->d[0] != 1)
        return false;
    for (int i = 0; i < s->rank; i++) {
        int bi = i + extra;
        if (bi < 0)
            continue;
        if (b->d[bi] != 1 && b->d[bi] != s->d[i])
            return false;
    }
    return true;
}

static bool infer_binary(Graph *g, Node *n, int min, int max)
{
    const char *op = op_info(n->op)->name;
    bool has_b = n->nparam > 0 && n->param[0] >= 0;
    int operands = n->nin + has_b;
    char s0[128], s1[128];
    if (n->nin < 1 || operands < min || operands > max) {
        diag_error(n->loc, "%s '%s' has %d operand%s; it takes %s", op, n->name, operands,
                   operands == 1 ? "" : "s", min == max ? "two" : "two or more");
        return false;
    }
    const Shape *s = node_in_shape(g, n, 0);
    for (int i = 1; i < n->nin; i++) {
        const Shape *si = node_in_shape(g, n, i);
        if (!shape_eq(s, si)) {
            diag_error(n->loc, "%s '%s': inputs '%s' (%s) and '%s' (%s) have different shapes",
                       op, n->name, g->t[n->in[0]].name, shape_str(s, s0, sizeof s0),
                       g->t[n->in[i]].name, shape_str(si, s1, sizeof s1));
            return false;
        }
    }
    if (has_b) {
        const Tensor *b = &g->t[n->param[0]];
        if (!broadcasts(&b->shape, s)) {
            diag_error(n->loc, "%s '%s': operand '%s' of shape %s does not broadcast to input "
                       "shape %s", op, n->name, b->name, shape_str(&b->shape, s1, sizeof s1),
                       shape_str(s, s0, sizeof s0));
            return false;
        }
    }
    g->t[n->out].shape = *s;
    return true;
}

static bool infer_add(Graph *g, Node *n)
{
    return infer_binary(g, n, 2, 1 << 30);
}

static bool infer_mul(Graph *g, Node *n)
{
    return infer_binary(g, n, 2, 2);
}

/* For each element of one sample of shape s, the index into B: B's strides
 * along the aligned dimensions, 0 where B's dimension is 1. Caller frees. */
static int64_t *broadcast_index(const Shape *b, const Shape *s)
{
    int64_t numel = shape_numel(s);
    int64_t *idx = xmalloc((size_t)numel * sizeof *idx);
    int extra = b->rank - s->rank;
    int64_t stride[MAX_RANK] = {0};
    int64_t st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        int bi = i + extra;
        if (bi >= 0 && b->d[bi] != 1) {
            stride[i] = st;
            st *= b->d[bi];
        }
    }
    for (int64_t e = 0; e < numel; e++) {
        int64_t rest = e, at = 0;
        for (int i = s->rank - 1; i >= 0; i--) {
            at += rest % s->d[i] * stride[i];
            rest /= s->d[i];
        }
        idx[e] = at;
    }
    return idx;
}

static const float *param_b(const Graph *g, const Node *n)
{
    if (n->nparam < 1 || n->param[0] < 0)
        return NULL;
    const float *b = g->t[n->param[0]].data;
    if (!b)
        internal_error("%s '%s': operand '%s' has no data", op_info(n->op)->name, n->name,
                       g->t[n->param[0]].name);
    return b;
}

static void run_add(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                    bool training)
{
    const Shape *s = node_out_shape(g, n);
    int64_t numel = shape_numel(s), count = batch * numel;
    for (int64_t i = 0; i < count; i++) {
        float sum = in[0][i];
        for (int j = 1; j < n->nin; j++)
            sum += in[j][i];
        out[i] = sum;
    }
    const float *b = param_b(g, n);
    if (b) {
        int64_t *idx = broadcast_index(&g->t[n->param[0]].shape, s);
        for (int64_t i = 0; i < count; i++)
            out[i] += b[idx[i % numel]];
        free(idx);
    }
    for (int64_t i = 0; i < count; i++)
        out[i] = act_apply(n->act, out[i]);
}

static void run_mul(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                    bool training)
{
    const Shape *s = node_out_shape(g, n);
    int64_t numel = shape_numel(s), count = batch * numel;
    const float *b = param_b(g, n);
    if (!b) {
        for (int64_t i = 0; i < count; i++)
            out[i] = in[0][i] * in[1][i];
        return;
    }
    int64_t *idx = broadcast_index(&g->t[n->param[0]].shape, s);
    for (int64_t i = 0; i < count; i++)
        out[i] = in[0][i] * b[idx[i % numel]];
    free(idx);
}

const OpInfo op_add = {
    .name = "add",
    .traits = OP_TRAITS(ADD),
    .infer = infer_add,
    .run = run_add,
    .grad = add_grad,
    .emit = add_emit,
    .emit_grad = add_emit_grad,
    .folds = add_folds,
    .quant = &elementwise_int8,
    .onnx_export = elementwise_onnx_export,
    .grad_reads = add_grad_reads,
    .emit_train = elementwise_emit_train, /* B may be trainable */
};

const OpInfo op_mul = {
    .name = "mul",
    .traits = OP_TRAITS(MUL),
    .infer = infer_mul,
    .run = run_mul,
    .grad = mul_grad,
    .emit = mul_emit,
    .emit_grad = mul_emit_grad,
    .quant = &elementwise_int8,
    .onnx_export = elementwise_onnx_export,
    .grad_reads = mul_grad_reads,
    .emit_train = elementwise_emit_train, /* B may be trainable */
};
