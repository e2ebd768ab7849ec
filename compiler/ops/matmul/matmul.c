/* matmul.c: matrix products per sample, NumPy's matmul (torch.matmul, ONNX
 * MatMul of more than a flat input), with a fused epilogue act.
 *
 *   y[t, m, n] = act(sum_k A[t_A, m, k] B[t_B, k, n] + bias[n])
 *
 * A and B are the node's two inputs, or one input and a constant (param 0;
 * a.const_left says it is A). Each operand is [..., rows, cols]; a 1-D
 * one is a row vector (A: [K] as [1, K]) or a column (B: [K] as [K, 1])
 * whose unit axis the output drops. The leading axes t broadcast as NumPy
 * does (t_A, t_B: t with A's or B's size-1 axes at 0). bias (param 1,
 * optional) runs along the last axis: what a torch Linear on a
 * channels-last tensor exports as MatMul + Add.
 * Gradient (g = dL/dy through the epilogue): dL/dA = g B^T, dL/dB = A^T g,
 * each summed over the t it was broadcast along; dL/dbias = sum of g over
 * everything but the last axis.
 * Shape rule: A's columns are B's rows; the leading axes broadcast; not
 * both operands 1-D. MACs: M K N per product, times the products. */
#include "../ops.h"

enum { CONST, BIAS };

/* Operand i's shape: A (0) or B (1). */
static const Shape *operand(const Graph *g, const Node *n, int i)
{
    if (n->nin == 2)
        return node_in_shape(g, n, i);
    bool is_const = (i == 0) == n->a.const_left;
    return is_const ? &g->t[n->param[CONST]].shape : node_in_shape(g, n, 0);
}

/* The geometry; false (with *why) when the shapes do not fit. */
static bool geometry(const Shape *a, const Shape *b, MatmulGeom *k, const char **why)
{
    *k = (MatmulGeom){0};
    if (a->rank < 1 || b->rank < 1 || (a->rank == 1 && b->rank == 1)) {
        *why = "needs a matrix operand (not two vectors)";
        return false;
    }
    k->m = a->rank >= 2 ? a->d[a->rank - 2] : 1;
    k->k = a->d[a->rank - 1];
    k->n = b->rank >= 2 ? b->d[b->rank - 1] : 1;
    int64_t bk = b->rank >= 2 ? b->d[b->rank - 2] : b->d[0];
    if (bk != k->k) {
        *why = "the columns of the first operand are not the rows of the second";
        return false;
    }
    int na = a->rank > 2 ? a->rank - 2 : 0, nb = b->rank > 2 ? b->rank - 2 : 0;
    k->nbatch = na > nb ? na : nb;
    int64_t sa = 1, sb = 1;
    k->count = 1;
    for (int d = k->nbatch - 1; d >= 0; d--) { /* aligned at the last batch axis */
        int ia = d - (k->nbatch - na), ib = d - (k->nbatch - nb);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            *why = "the leading axes do not broadcast";
            return false;
        }
        k->batch[d] = da > db ? da : db;
        k->astride[d] = da == 1 ? 0 : sa;
        k->bstride[d] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        k->count *= k->batch[d];
    }
    k->a_rows = a->rank >= 2;
    k->b_cols = b->rank >= 2;
    return true;
}

MatmulGeom matmul_geometry(const Graph *g, const Node *n)
{
    MatmulGeom k;
    const char *why;
    if (!geometry(operand(g, n, 0), operand(g, n, 1), &k, &why))
        internal_error("matmul '%s': %s", n->name, why);
    return k;
}

int64_t matmul_offset(const MatmulGeom *k, int64_t t, bool b_side)
{
    int64_t at = 0;
    for (int d = k->nbatch - 1; d >= 0; d--) {
        at += t % k->batch[d] * (b_side ? k->bstride[d] : k->astride[d]);
        t /= k->batch[d];
    }
    return at * (b_side ? k->k * k->n : k->m * k->k);
}

static bool infer_matmul(Graph *g, Node *n)
{
    int want = n->nparam > CONST && n->param[CONST] >= 0 ? 1 : 2;
    if (!check_arity(n, want))
        return false;
    const Shape *a = operand(g, n, 0), *b = operand(g, n, 1);
    MatmulGeom k;
    const char *why;
    char sa[128], sb[128];
    if (!geometry(a, b, &k, &why)) {
        diag_error(n->loc, "matmul '%s': %s and %s: %s", n->name, shape_str(a, sa, sizeof sa),
                   shape_str(b, sb, sizeof sb), why);
        return false;
    }
    Shape o = shape_make(k.nbatch, k.batch);
    if (k.a_rows)
        o.d[o.rank++] = k.m;
    if (k.b_cols)
        o.d[o.rank++] = k.n;
    if (o.rank > MAX_RANK - 1) {
        diag_error(n->loc, "matmul '%s': the result has more than %d axes", n->name, MAX_RANK - 1);
        return false;
    }
    Shape bs = shape_make(1, &k.n);
    if (n->nparam > BIAS && n->param[BIAS] >= 0 &&
        !graph_param(g, n, BIAS, "bias", T_PARAM, &bs, INIT_ZEROS))
        return false;
    g->t[n->out].shape = o;
    return true;
}

static int64_t matmul_macs(const Graph *g, const Node *n)
{
    MatmulGeom k = matmul_geometry(g, n);
    return k.count * k.m * k.k * k.n;
}

static void run_matmul(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                       bool training)
{
    MatmulGeom k = matmul_geometry(g, n);
    const float *c = node_param_data(g, n, CONST), *bias = node_param_data(g, n, BIAS);
    int64_t asize = shape_numel(operand(g, n, 0)), bsize = shape_numel(operand(g, n, 1));
    for (int s = 0; s < batch; s++) {
        const float *a = n->nin == 2 || !n->a.const_left ? in[0] + s * asize : c;
        const float *b = n->nin == 2 ? in[1] + s * bsize : n->a.const_left ? in[0] + s * bsize : c;
        float *y = out + s * k.count * k.m * k.n;
        for (int64_t t = 0; t < k.count; t++) {
            const float *at = a + matmul_offset(&k, t, false), *bt = b + matmul_offset(&k, t, true);
            for (int64_t i = 0; i < k.m; i++)
                for (int64_t j = 0; j < k.n; j++) {
                    double acc = bias ? bias[j] : 0;
                    for (int64_t q = 0; q < k.k; q++)
                        acc += (double)at[i * k.k + q] * bt[q * k.n + j];
                    y[(t * k.m + i) * k.n + j] = act_apply(n->act, (float)acc);
                }
        }
    }
}

static void dump_matmul(const Graph *g, const Node *n, FILE *out)
{
    if (n->nin == 1)
        fputs(n->a.const_left ? " const=left" : " const=right", out);
}

const OpInfo op_matmul = {
    .name = "matmul",
    .traits = OP_TRAITS(MATMUL),
    .infer = infer_matmul,
    .macs = matmul_macs,
    .run = run_matmul,
    .grad = matmul_grad,
    .emit = matmul_emit,
    .emit_grad = matmul_emit_grad,
    .grad_reads = matmul_grad_reads,
    .emit_train = matmul_emit_train, /* a constant operand and the bias may be trainable */
    .dump = dump_matmul,
    .onnx_export = matmul_onnx_export,
    .unpermute = matmul_unpermute,
};
