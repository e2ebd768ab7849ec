/* slice.c: a strided window of the per-sample tensor (Python's x[a:b:s] on
 * each axis; ONNX Slice, and Split as one slice per output).
 *
 *   y[i_0, ..., i_{r-1}] = x[f_0 + i_0 s_0, ..., f_{r-1} + i_{r-1} s_{r-1}]
 *
 * where, per axis of size d, a.start/a.end/a.step follow ONNX: a negative
 * start or end counts from the end (+d), then both are clamped to [0, d]
 * (a positive step) or [-1, d - 1] (a negative one); f is the clamped
 * start and the length is ceil((end - f) / step), at least 1.
 * Gradient: dL/dx is zero but at the elements read, where it is dL/dy.
 * A DSL split (a.parts > 0) is part a.part of a.parts along a.axis (as
 * torch.tensor_split), its window set here once the axis' size is known.
 * Shape rule: one input; every step nonzero; no axis may come out empty
 * (cnnc has no empty tensors), so a split's axis holds at least as many
 * elements as it has parts. No MACs. */
#include "../ops.h"

bool slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first,
                int64_t *len)
{
    *first = *len = 0;
    if (step == 0)
        return false;
    /* INT64_MIN and INT64_MAX stand for "from the very end/start": no +d. */
    int64_t b = start < 0 && start > INT64_MIN / 2 ? start + d : start;
    int64_t e = end < 0 && end > INT64_MIN / 2 ? end + d : end;
    int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? d : d - 1;
    b = b < lo ? lo : b > hi ? hi : b;
    e = e < lo ? lo : e > hi ? hi : e;
    *first = b;
    if (step > 0)
        *len = e > b ? (e - b - 1) / step + 1 : 0;
    else
        *len = b > e ? (b - e - 1) / -step + 1 : 0;
    return true;
}

/* A DSL split's part: its window on a.axis, now that the axis' size d is
 * known: d / parts elements, one more for the first d % parts parts. */
static bool split_part(const Shape *s, Node *n)
{
    char buf[128];
    int axis = n->a.axis, parts = n->a.parts, part = n->a.part;
    if (axis < 0 || axis >= s->rank)
        internal_error("split '%s': axis %d of a rank-%d input", n->name, axis, s->rank);
    int64_t d = s->d[axis], size = d / parts, rest = d % parts;
    if (part >= d) {
        diag_error(n->loc, "split '%s': part %d of %d is empty: axis %d of input %s has %lld "
                   "elements", n->name, part + 1, parts, axis, shape_str(s, buf, sizeof buf),
                   (long long)d);
        return false;
    }
    n->a.start[axis] = part * size + (part < rest ? part : rest);
    n->a.end[axis] = n->a.start[axis] + size + (part < rest);
    return true;
}

static bool infer_slice(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *s = node_in_shape(g, n, 0);
    Shape o = *s;
    char buf[128];
    if (n->a.parts > 0 && !split_part(s, n))
        return false;
    for (int k = 0; k < s->rank; k++) {
        int64_t first, len;
        const Attrs *a = &n->a;
        if (!slice_axis(s->d[k], a->start[k], a->end[k], a->step[k], &first, &len)) {
            diag_error(n->loc, "slice '%s': the step on axis %d is 0", n->name, k);
            return false;
        }
        if (len == 0) {
            diag_error(n->loc, "slice '%s': selects nothing on axis %d of input %s (start %lld, "
                       "end %lld, step %lld)", n->name, k, shape_str(s, buf, sizeof buf),
                       (long long)a->start[k], (long long)a->end[k], (long long)a->step[k]);
            return false;
        }
        o.d[k] = len;
    }
    g->t[n->out].shape = o;
    return true;
}

Strided slice_strided(const Graph *g, const Node *n)
{
    const Shape *s = node_in_shape(g, n, 0);
    int64_t xs[MAX_RANK];
    const_strides(s, xs);
    Strided st = {.rank = s->rank};
    for (int k = 0; k < s->rank; k++) {
        int64_t first;
        slice_axis(s->d[k], n->a.start[k], n->a.end[k], n->a.step[k], &first, &st.d[k]);
        st.base += first * xs[k];
        st.xs[k] = n->a.step[k] * xs[k];
    }
    strided_simplify(&st);
    return st;
}

static void run_slice(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                      bool training)
{
    Strided st = slice_strided(g, n);
    int64_t xsize = shape_numel(node_in_shape(g, n, 0)), ysize = shape_numel(node_out_shape(g, n));
    for (int b = 0; b < batch; b++)
        strided_gather(&st, in[0] + b * xsize, out + b * ysize);
}

static void dump_slice(const Graph *g, const Node *n, FILE *out)
{
    const Shape *s = node_in_shape(g, n, 0);
    for (int k = 0; k < s->rank; k++) {
        int64_t first, len;
        slice_axis(s->d[k], n->a.start[k], n->a.end[k], n->a.step[k], &first, &len);
        if (first != 0 || len != s->d[k] || n->a.step[k] != 1)
            fprintf(out, " axis%d(start=%lld len=%lld step=%lld)", k, (long long)first,
                    (long long)len, (long long)n->a.step[k]);
    }
}

const OpInfo op_slice = {
    .name = "slice",
    .traits = OP_TRAITS(SLICE),
    .infer = infer_slice,
    .run = run_slice,
    .grad = slice_grad,
    .emit = slice_emit,
    .emit_grad = slice_emit_grad,
    .grad_reads = grad_reads_none,
    .dump = dump_slice,
    .onnx_export = slice_onnx_export,
};
