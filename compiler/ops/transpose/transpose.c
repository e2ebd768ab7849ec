/* transpose.c: a permutation of the per-sample axes (torch.permute; ONNX
 * Transpose, whose batch axis stays first).
 *
 *   y[i_0, ..., i_{r-1}] = x[j],  j_{perm[k]} = i_k
 *
 * Gradient: dL/dx is dL/dy permuted back, dL/dx[j] = dL/dy[i] for the same
 * pairs (i, j): each x element is read once.
 * Shape rule: one input of rank r; a.perm[0..r) is a permutation of
 * 0..r-1; output dimension k is input dimension perm[k]. No MACs.
 * The data movement is strided.c's, on the permutation simplified (a
 * channel shuffle, [g, C/g, H, W] -> [C/g, g, H, W], copies whole planes). */
#include "../ops.h"

static bool infer_transpose(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *s = node_in_shape(g, n, 0);
    bool seen[MAX_RANK] = {false};
    Shape o = {s->rank, {0}};
    for (int k = 0; k < s->rank; k++) {
        int p = n->a.perm[k];
        if (p < 0 || p >= s->rank || seen[p]) {
            char buf[128];
            diag_error(n->loc, "transpose '%s': perm is not a permutation of the %d axes of "
                       "input %s (entry %d is %d)", n->name, s->rank,
                       shape_str(s, buf, sizeof buf), k, p);
            return false;
        }
        seen[p] = true;
        o.d[k] = s->d[p];
    }
    g->t[n->out].shape = o;
    return true;
}

Strided transpose_strided(const Graph *g, const Node *n)
{
    const Shape *s = node_in_shape(g, n, 0);
    int64_t xs[MAX_RANK];
    const_strides(s, xs);
    Strided st = {.rank = s->rank};
    for (int k = 0; k < s->rank; k++) {
        st.d[k] = s->d[n->a.perm[k]];
        st.xs[k] = xs[n->a.perm[k]];
    }
    strided_simplify(&st);
    return st;
}

static void run_transpose(Graph *g, const Node *n, const float *const *in, float *out,
                          int batch, bool training)
{
    Strided st = transpose_strided(g, n);
    int64_t size = shape_numel(node_out_shape(g, n));
    for (int b = 0; b < batch; b++)
        strided_gather(&st, in[0] + b * size, out + b * size);
}

static void dump_transpose(const Graph *g, const Node *n, FILE *out)
{
    fputs(" perm=", out);
    for (int k = 0; k < node_in_shape(g, n, 0)->rank; k++)
        fprintf(out, k ? ",%d" : "%d", n->a.perm[k]);
}

const OpInfo op_transpose = {
    .name = "transpose",
    .traits = OP_TRAITS(TRANSPOSE),
    .infer = infer_transpose,
    .run = run_transpose,
    .grad = transpose_grad,
    .emit = transpose_emit,
    .emit_grad = transpose_emit_grad,
    .grad_reads = grad_reads_none,
    .dump = dump_transpose,
    .onnx_export = transpose_onnx_export,
    .folds = transpose_folds,
};
