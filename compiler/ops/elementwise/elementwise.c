/* elementwise.c: arithmetic between activations and a constant, with
 * NumPy broadcasting.
 *
 *   add  y = act(x_0 + x_1 + ... + x_{n-1} [+ B])
 *   sub  y = x_0 - x_1,  x_0 - B  or  B - x_0 (a.const_first)
 *   mul  y = x_0 * x_1   or   x_0 * B
 *   div  y = x_0 / x_1,  x_0 / B  or  B / x_0 (a.const_first)
 *   power  y = x_0 ^ x_1,  x_0 ^ B  or  B ^ x_0 (a.const_first): ONNX's Pow
 *        with an exponent of more than one value (one value is the pow
 *        activation)
 *
 * The operands are the activations in[], in order, and an optional constant
 * or parameter B in param slot 0, last (first for sub and div when
 * a.const_first). The add's fused epilogue act (n->act) is applied last.
 *
 * Shape rule: add takes >= 2 operands in all, the others exactly 2. Every
 * operand broadcasts NumPy-style: shapes aligned at their last dimensions,
 * each dimension equal to the output's or 1. The activations are per
 * sample, so they must have one rank (their batch dimensions align); B
 * carries its full shape, of at most that rank plus one, and then its
 * first dimension (the batch's) is 1: its per-sample view drops it. The
 * output has the broadcast shape ([C,1,1] x [C,H,W] is [C,H,W]: the
 * squeeze-and-excitation product reads one value per channel, nothing is
 * copied).
 *
 * Gradients (elementwise_grad.c): each operand receives dL/dy times the
 * partial derivative (1, -1, the other factor, 1/x_1 or -y/x_1; for power
 * b*a^(b-1) and a^b*ln(a), 0 where PyTorch masks them), summed over the
 * cells that read it (the broadcast axes). */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>

int elt_count(const Node *n)
{
    return n->nin + (n->nparam > 0 && n->param[0] >= 0);
}

int elt_input(const Node *n, int k)
{
    bool has_b = elt_count(n) > n->nin;
    if (!has_b)
        return k;
    if (n->a.const_first)
        return k == 0 ? -1 : k - 1;
    return k == n->nin ? -1 : k;
}

/* B's shape without a leading batch dimension of 1 beyond the activations'
 * rank r; false when it has more dimensions than that allows. */
static bool b_view(const Shape *b, int r, Shape *out)
{
    *out = *b;
    if (b->rank <= r)
        return true;
    if (b->rank > r + 1 || b->d[0] != 1)
        return false;
    out->rank--;
    for (int i = 0; i < out->rank; i++)
        out->d[i] = b->d[i + 1];
    return true;
}

Shape elt_shape(const Graph *g, const Node *n, int k)
{
    int j = elt_input(n, k);
    if (j >= 0)
        return *node_in_shape(g, n, j);
    Shape s;
    if (!b_view(&g->t[n->param[0]].shape, node_in_shape(g, n, 0)->rank, &s))
        internal_error("%s '%s': operand B does not fit", op_info(n->op)->name, n->name);
    return s;
}

void elt_strides(const Shape *x, const Shape *s, int64_t *st)
{
    int64_t stride = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        int xi = i - (s->rank - x->rank);
        st[i] = xi >= 0 && x->d[xi] != 1 ? stride : 0;
        if (xi >= 0)
            stride *= x->d[xi];
    }
}

/* The operands' C expressions (operand k at its cell) combined: "a + b",
 * "powf(a, b)"; into out. */
void elt_expr(const Node *n, const char *const *operands, int count, StrBuf *out)
{
    if (n->op == OP_POWER) {
        sb_printf(out, "powf(%s, %s)", operands[0], operands[1]);
        return;
    }
    const char *op = n->op == OP_ADD   ? " + "
                     : n->op == OP_SUB ? " - "
                     : n->op == OP_MUL ? " * "
                                       : " / ";
    for (int k = 0; k < count; k++)
        sb_printf(out, "%s%s", k ? op : "", operands[k]);
}

static bool check_count(const Node *n, bool nary)
{
    int count = elt_count(n);
    if (n->nin >= 1 && (nary ? count >= 2 : count == 2))
        return true;
    diag_error(n->loc, "%s '%s' has %d operand%s; it takes %s", op_info(n->op)->name, n->name,
               count, count == 1 ? "" : "s", nary ? "two or more" : "two");
    return false;
}

/* The broadcast of operand k's shape x (named `what`) into *s. */
static bool broadcast_into(const Node *n, const char *what, const Shape *x, Shape *s)
{
    Shape out;
    char s0[128], s1[128];
    if (shape_broadcast(s, x, &out)) {
        *s = out;
        return true;
    }
    for (int i = 1; i <= x->rank && i <= s->rank; i++) {
        int64_t a = s->d[s->rank - i], b = x->d[x->rank - i];
        if (a != b && a != 1 && b != 1) {
            diag_error(n->loc, "%s '%s': operand '%s' of shape %s does not broadcast to %s: "
                       "its dimension %d is %lld where the others have %lld",
                       op_info(n->op)->name, n->name, what, shape_str(x, s1, sizeof s1),
                       shape_str(s, s0, sizeof s0), x->rank - i, (long long)b, (long long)a);
            return false;
        }
    }
    internal_error("shapes that broadcast nowhere");
}

static bool infer_elementwise(Graph *g, Node *n)
{
    if (!check_count(n, n->op == OP_ADD))
        return false;
    const char *op = op_info(n->op)->name;
    Shape s = *node_in_shape(g, n, 0);
    char s0[128], s1[128];
    for (int j = 1; j < n->nin; j++) {
        const Shape *x = node_in_shape(g, n, j);
        if (x->rank != s.rank) {
            diag_error(n->loc, "%s '%s': inputs '%s' (%s) and '%s' (%s) have ranks %d and %d; "
                       "broadcasting would align the batch of one with a dimension of the "
                       "other", op, n->name, g->t[n->in[0]].name, shape_str(&s, s0, sizeof s0),
                       g->t[n->in[j]].name, shape_str(x, s1, sizeof s1), s.rank, x->rank);
            return false;
        }
        if (!broadcast_into(n, g->t[n->in[j]].name, x, &s))
            return false;
    }
    if (elt_count(n) > n->nin) {
        const Tensor *b = &g->t[n->param[0]];
        Shape view;
        if (!b_view(&b->shape, s.rank, &view)) {
            diag_error(n->loc, "%s '%s': operand '%s' of shape %s does not broadcast to the "
                       "activations' %s: beyond their dimensions it may have a batch dimension "
                       "of 1 only", op, n->name, b->name, shape_str(&b->shape, s1, sizeof s1),
                       shape_str(&s, s0, sizeof s0));
            return false;
        }
        if (!broadcast_into(n, b->name, &view, &s))
            return false;
    }
    g->t[n->out].shape = s;
    return true;
}

int64_t *elt_index(const Shape *x, const Shape *s)
{
    int64_t numel = shape_numel(s), st[MAX_RANK], idx[MAX_RANK] = {0};
    int64_t *at = xmalloc((size_t)(numel ? numel : 1) * sizeof *at);
    elt_strides(x, s, st);
    for (int64_t e = 0; e < numel; e++) {
        int64_t a = 0;
        for (int i = 0; i < s->rank; i++)
            a += idx[i] * st[i];
        at[e] = a;
        for (int i = s->rank - 1; i >= 0 && ++idx[i] == s->d[i]; i--)
            idx[i] = 0;
    }
    return at;
}

float elt_apply(int op, float a, float b)
{
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_POWER: return powf(a, b);
    default: return a / b;
    }
}

const float *elt_data(const Graph *g, const Node *n, const float *const *in, int k,
                      int64_t *sample_stride)
{
    int j = elt_input(n, k);
    if (j >= 0) {
        *sample_stride = shape_numel(node_in_shape(g, n, j));
        return in[j];
    }
    *sample_stride = 0;
    const float *b = g->t[n->param[0]].data;
    if (!b)
        internal_error("%s '%s': operand '%s' has no data", op_info(n->op)->name, n->name,
                       g->t[n->param[0]].name);
    return b;
}

static void run_elementwise(Graph *g, const Node *n, const float *const *in, float *out,
                            int batch, bool training)
{
    const Shape *s = node_out_shape(g, n);
    int64_t numel = shape_numel(s);
    int count = elt_count(n);
    for (int k = 0; k < count; k++) {
        Shape x = elt_shape(g, n, k);
        int64_t *at = elt_index(&x, s), stride;
        const float *v = elt_data(g, n, in, k, &stride);
        for (int b = 0; b < batch; b++)
            for (int64_t i = 0; i < numel; i++) {
                float xv = v[b * stride + at[i]];
                float *y = &out[b * numel + i];
                *y = k == 0 ? xv : elt_apply(n->op, *y, xv);
            }
        free(at);
    }
    if (act_present(n->act))
        for (int64_t i = 0; i < batch * numel; i++)
            out[i] = act_apply(n->act, out[i]);
}

/* The constant's side for sub and div (` B-x`); nothing otherwise. */
static void dump_elementwise(const Graph *g, const Node *n, FILE *out)
{
    if (n->a.const_first && elt_count(n) > n->nin)
        fprintf(out, " const_first");
}

#define ELEMENTWISE_OP(ID, NAME, FOLDS, QUANT)                                                      \
    const OpInfo op_##NAME = {                                                                 \
        .name = #NAME,                                                                         \
        .traits = OP_TRAITS(ID),                                                               \
        .infer = infer_elementwise,                                                            \
        .run = run_elementwise,                                                                \
        .grad = elementwise_grad,                                                              \
        .emit = elementwise_emit,                                                              \
        .emit_grad = elementwise_emit_grad,                                                    \
        .dump = dump_elementwise,                                                              \
        .folds = FOLDS,                                                                        \
        .quant = QUANT,                                                                        \
        .onnx_export = elementwise_onnx_export,                                                \
        .grad_reads = elementwise_grad_reads,                                                  \
        .emit_train = elementwise_emit_train, /* B may be trainable */                         \
    }

ELEMENTWISE_OP(ADD, add, add_folds, &elementwise_int8);
ELEMENTWISE_OP(SUB, sub, NULL, NULL);
ELEMENTWISE_OP(MUL, mul, mul_folds, &elementwise_int8);
ELEMENTWISE_OP(DIV, div, NULL, NULL);
ELEMENTWISE_OP(POWER, power, NULL, NULL);
