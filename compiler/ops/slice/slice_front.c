/* slice_front.c: how the front ends write slices. Takes a layer statement
 * (DSL) or a Slice or Split node (ONNX: of an activation, the batch axis
 * whole; a Slice of constants is evaluated at load time); gives OP_SLICE
 * nodes (one per used output of a Split), no node for a slice that keeps
 * everything, or a constant.
 *
 *   DSL   slice(axis=0, start=0, end=<the end>, step=1): Python's
 *         x[..., start:end:step] on one per-sample axis (negative axis,
 *         start and end count from the end; step positive, as in PyTorch)
 *         a, b, ...: split(axis=0): n parts along one per-sample axis, a
 *         layer per name, the first d % n of them one longer
 *         (torch.tensor_split(x, n, dim=axis + 1)) */
#include "../ops.h"

#include <limits.h>
#include <stdlib.h>

/* Every axis whole. */
static void slice_all(Attrs *a)
{
    for (int k = 0; k < MAX_RANK; k++) {
        a->start[k] = 0;
        a->end[k] = INT64_MAX;
        a->step[k] = 1;
    }
}

/* The axis argument, checked against the input's rank (when known) and
 * counted from the front; false when out of range. */
static bool dsl_axis(DslArgs *c, int *axis)
{
    *axis = 0;
    if (dsl_get_int_list(c, "axis", false, -MAX_RANK, MAX_RANK - 1, axis, 1) > 0 && c->rank &&
        (*axis < -c->rank || *axis >= c->rank)) {
        diag_error(dsl_get(c, "axis", false)->loc, "%s: axis %d is out of range for a rank-%d "
                   "input", c->what, *axis, c->rank);
        return false;
    }
    if (*axis < 0)
        *axis += c->rank;
    return *axis >= 0;
}

static void dsl_slice(DslArgs *c, Node *n, const DslKind *k)
{
    slice_all(&n->a);
    int axis, start = 0, end = INT_MAX, step = 1;
    if (!dsl_axis(c, &axis))
        return;
    dsl_get_int_list(c, "start", false, -INT_MAX, INT_MAX, &start, 1);
    bool has_end = dsl_get_int_list(c, "end", false, -INT_MAX, INT_MAX, &end, 1) > 0;
    dsl_get_int(c, "step", false, 1, &step);
    n->a.start[axis] = start;
    n->a.end[axis] = has_end ? end : INT64_MAX;
    n->a.step[axis] = step;
}

/* a, b, ...: split(axis=0): one part per name (torch.tensor_split). */
static void dsl_split(DslArgs *c, Node *n, const DslKind *k)
{
    slice_all(&n->a);
    n->a.part = dsl_part(c, &n->a.parts);
    if (n->a.parts < 2)
        diag_error(c->loc, "%s: name each part, like `a, b: split(axis=0)`", c->what);
    dsl_axis(c, &n->a.axis);
}

const DslKind slice_dsl[] = {
    {"slice", "slice", OP_SLICE, 0, "axis start end step", "axis start end step", dsl_slice, NULL},
    {"split", "split", OP_SLICE, 0, "axis", "axis", dsl_split, NULL},
    {NULL},
};

/* ---- ONNX ---- */

typedef struct {
    int n; /* axes sliced */
    int axis[MAX_RANK];
    int64_t start[MAX_RANK], end[MAX_RANK], step[MAX_RANK];
} SliceArgs;

/* Slice's starts, ends, axes and steps (attributes before opset 10,
 * inputs from then on) for a rank-r tensor. */
static bool slice_args(OnnxNode *l, int r, SliceArgs *s)
{
    int64_t axes[MAX_RANK];
    int ns = onnx_int_list(l, 1, "starts", 10, s->start);
    int ne = onnx_int_list(l, 2, "ends", 10, s->end);
    int na = onnx_int_list(l, 3, "axes", 10, axes);
    int nst = l->o->opset < 10 ? -1 : onnx_int_list(l, 4, "steps", 10, s->step);
    if (ns == -2 || ne == -2 || na == -2 || nst == -2)
        return false;
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return onnx_fail(l, "starts, ends, axes and steps differ in length");
    bool seen[MAX_RANK] = {false};
    s->n = ns;
    for (int k = 0; k < ns; k++) {
        if (!onnx_norm_axis(l, na >= 0 ? axes[k] : k, r, &s->axis[k]))
            return false;
        if (seen[s->axis[k]])
            return onnx_fail(l, "axis %d is sliced twice", s->axis[k]);
        seen[s->axis[k]] = true;
        if (nst < 0)
            s->step[k] = 1;
        if (s->step[k] == 0)
            return onnx_fail(l, "the step on axis %d is 0", s->axis[k]);
    }
    return true;
}

static bool onnx_slice(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    SliceArgs sa;
    if (!x || !slice_args(l, onnx_rank(l, x), &sa))
        return false;
    Attrs tmp;
    slice_all(&tmp);
    bool whole = true;
    for (int k = 0; k < sa.n; k++) {
        int a = onnx_sample_axis(l, sa.axis[k]);
        if (a < 0) { /* the batch: only all of it */
            if (sa.start[k] != 0 || sa.end[k] < INT64_MAX / 2 || sa.step[k] != 1)
                return onnx_fail_batch(l, "slices the batch axis: cnnc keeps each sample apart");
            continue;
        }
        int64_t first, len, d = x->shape.d[a];
        slice_axis(d, sa.start[k], sa.end[k], sa.step[k], &first, &len);
        whole &= first == 0 && len == d && sa.step[k] == 1;
        tmp.start[a] = sa.start[k];
        tmp.end[a] = sa.end[k];
        tmp.step[a] = sa.step[k];
    }
    if (whole) {
        onnx_alias(l, x);
        return true;
    }
    Node *n = onnx_add_node(l, OP_SLICE, "", &x, 1, l->out, &x->shape);
    for (int k = 0; k < MAX_RANK; k++) {
        n->a.start[k] = tmp.start[k];
        n->a.end[k] = tmp.end[k];
        n->a.step[k] = tmp.step[k];
    }
    return onnx_infer(l, n, l->out);
}

static bool fold_slice(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const Const *x = &l->in[0]->c;
    int r = x->shape.rank;
    SliceArgs sa;
    if (!slice_args(l, r, &sa))
        return false;
    int64_t lo[MAX_RANK] = {0}, step[MAX_RANK];
    Shape s = x->shape;
    for (int d = 0; d < r; d++)
        step[d] = 1;
    for (int k = 0; k < sa.n; k++) {
        int a = sa.axis[k];
        slice_axis(x->shape.d[a], sa.start[k], sa.end[k], sa.step[k], &lo[a], &s.d[a]);
        step[a] = sa.step[k];
    }
    if (!const_alloc(l, out, x->dtype, &s))
        return false;
    int64_t xs[MAX_RANK], idx[MAX_RANK];
    const_strides(&x->shape, xs);
    for (int64_t k = 0; k < out->n; k++) {
        const_unravel(&s, k, idx);
        int64_t at = 0;
        for (int d = 0; d < r; d++)
            at += (lo[d] + idx[d] * step[d]) * xs[d];
        const_copy_elem(out, k, x, at);
    }
    return true;
}

/* Split's part sizes (attribute before opset 13, input from then on; or
 * equal parts) into *sizes (the caller frees); their count, -1 after an
 * error. */
static int split_sizes(OnnxNode *l, int64_t dim, int64_t **sizes)
{
    const int64_t *v = NULL;
    int n = -1;
    if (l->o->opset < 13 && l->nin < 2) {
        n = attr_ints(l->node, "split", &v);
    } else if (l->nin > 1 && l->in[1]) { /* opset 13 on, or Split-1's input */
        if (!onnx_need_const(l, 1) || !onnx_need_i64(l, &l->in[1]->c, "split"))
            return -1;
        v = l->in[1]->c.i;
        n = (int)(l->in[1]->c.n < l->nout + 1 ? l->in[1]->c.n : l->nout + 1);
    }
    int parts = n >= 0 ? n : l->nout;
    if (parts != l->nout) {
        onnx_fail(l, "'split' has %d sizes for %d outputs", n, l->nout);
        return -1;
    }
    if (n < 0 && dim % parts) {
        onnx_fail(l, "cannot split %lld into %d equal parts", (long long)dim, parts);
        return -1;
    }
    *sizes = xmalloc((size_t)parts * sizeof **sizes);
    int64_t sum = 0;
    for (int j = 0; j < parts; j++) {
        (*sizes)[j] = n >= 0 ? v[j] : dim / parts;
        sum += (*sizes)[j] >= 0 && (*sizes)[j] <= dim ? (*sizes)[j] : dim + 1;
    }
    if (sum != dim) {
        onnx_fail(l, "the sizes in 'split' do not add up to %lld", (long long)dim);
        free(*sizes);
        return -1;
    }
    return parts;
}

static bool onnx_split(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    int axis;
    if (!x || !onnx_norm_axis(l, attr_int(l->node, "axis", 0), onnx_rank(l, x), &axis))
        return false;
    if ((axis = onnx_sample_axis(l, axis)) < 0)
        return onnx_fail_batch(l, "splits the batch axis (axis 0): cnnc keeps each sample apart");
    int64_t *sizes, at = 0;
    int parts = split_sizes(l, x->shape.d[axis], &sizes);
    if (parts < 0)
        return false;
    bool ok = true;
    for (int j = 0; j < parts && ok; at += sizes[j++]) {
        if (!l->outs[j] || l->outs[j]->uses == 0)
            continue; /* nothing reads this part */
        if (sizes[j] == 0) {
            ok = onnx_fail(l, "output %d is empty", j);
            break;
        }
        char suffix[16];
        snprintf(suffix, sizeof suffix, j ? "_%d" : "", j);
        Node *n = onnx_add_node(l, OP_SLICE, suffix, &x, 1, l->outs[j], &x->shape);
        slice_all(&n->a);
        n->a.start[axis] = at;
        n->a.end[axis] = at + sizes[j];
        ok = onnx_infer(l, n, l->outs[j]);
    }
    free(sizes);
    return ok;
}

/* Gather of constants, evaluated at load time (Shape -> Gather in shape
 * arithmetic). */
static bool fold_gather(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 2))
        return false;
    const Const *data = &l->in[0]->c, *idx = &l->in[1]->c;
    int axis, r = data->shape.rank;
    if (r == 0)
        return onnx_fail(l, "cannot gather from a scalar");
    if (!onnx_need_i64(l, idx, "indices") ||
        !onnx_norm_axis(l, attr_int(l->node, "axis", 0), r, &axis))
        return false;
    Shape s = {0};
    for (int i = 0; i < axis; i++)
        s.d[s.rank++] = data->shape.d[i];
    if (r - 1 + idx->shape.rank > MAX_RANK)
        return onnx_fail(l, "result rank too large");
    for (int i = 0; i < idx->shape.rank; i++)
        s.d[s.rank++] = idx->shape.d[i];
    for (int i = axis + 1; i < r; i++)
        s.d[s.rank++] = data->shape.d[i];
    if (!const_alloc_grown(l, out, data->dtype, &s, data->n + idx->n))
        return false;
    int64_t inner, outer, dim = data->shape.d[axis];
    shape_split(&data->shape, axis, &outer, &inner);
    int64_t k = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < idx->n; j++) {
            int64_t at = idx->i[j] < 0 ? idx->i[j] + dim : idx->i[j];
            if (at < 0 || at >= dim)
                return onnx_fail(l, "index %lld is out of range for dimension %lld",
                           (long long)idx->i[j], (long long)dim);
            for (int64_t b = 0; b < inner; b++)
                const_copy_elem(out, k++, data, (a * dim + at) * inner + b);
        }
    return true;
}

/* Gather's output shape: x's with sample axis a replaced by the indices'
 * dimensions; false (after an error) where that is no sample shape. */
static bool gather_shape(OnnxNode *l, const Shape *x, int a, const Shape *idx, Shape *out)
{
    *out = (Shape){0};
    if (x->rank - 1 + idx->rank > MAX_RANK)
        return onnx_fail(l, "the result has rank %d; at most %d", x->rank - 1 + idx->rank,
                         MAX_RANK);
    for (int i = 0; i < x->rank; i++)
        if (i != a)
            out->d[out->rank++] = x->d[i];
        else
            for (int k = 0; k < idx->rank; k++)
                out->d[out->rank++] = idx->d[k];
    return out->rank > 0 || onnx_fail(l, "the result is a scalar, which cnnc has no shape for");
}

/* Gather of an activation along a sample axis at constant indices: one
 * one-wide slice per index, concatenated in order (so at most a concat's
 * operands), viewed as the output's shape. x[:, 0] is one slice and a
 * view. */
static bool onnx_gather(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x || !onnx_has_inputs(l, 2))
        return false;
    if (l->in[1]->kind != OV_CONST)
        return onnx_fail(l, "the indices must be constant");
    const Const *idx = &l->in[1]->c;
    int axis;
    if (!onnx_need_i64(l, idx, "indices") ||
        !onnx_norm_axis(l, attr_int(l->node, "axis", 0), onnx_rank(l, x), &axis))
        return false;
    int a = onnx_sample_axis(l, axis);
    if (a < 0)
        return onnx_fail_batch(l, "gathers along the batch axis: cnnc keeps each sample apart");
    if (idx->n < 1 || idx->n > CONCAT_MAX_OPERANDS)
        return onnx_fail(l, "gathers %lld indices of an activation; 1 to %d are supported",
                         (long long)idx->n, CONCAT_MAX_OPERANDS);
    Shape out;
    if (!gather_shape(l, &x->shape, a, &idx->shape, &out))
        return false;
    OnnxValue parts[CONCAT_MAX_OPERANDS], *pp[CONCAT_MAX_OPERANDS];
    int64_t dim = x->shape.d[a];
    for (int64_t j = 0; j < idx->n; j++) {
        int64_t at = idx->i[j] < 0 ? idx->i[j] + dim : idx->i[j];
        if (at < 0 || at >= dim)
            return onnx_fail(l, "index %lld is out of range for dimension %lld",
                             (long long)idx->i[j], (long long)dim);
        char suffix[24];
        snprintf(suffix, sizeof suffix, "_%lld", (long long)j);
        parts[j] = (OnnxValue){.name = l->out->name};
        pp[j] = &parts[j];
        Node *n = onnx_add_node(l, OP_SLICE, suffix, &x, 1, pp[j], &x->shape);
        slice_all(&n->a);
        n->a.start[a] = at;
        n->a.end[a] = at + 1;
        if (!onnx_infer(l, n, pp[j]))
            return false;
    }
    OnnxValue joined = {.name = l->out->name}, *y = pp[0];
    if (idx->n > 1) {
        Node *n = onnx_add_node(l, OP_CONCAT, "_join", pp, (int)idx->n, &joined, &x->shape);
        n->a.axis = a;
        if (!onnx_infer(l, n, &joined))
            return false;
        y = &joined;
    }
    return reshape_onnx_view(l, y, &out, "", l->out) != NULL;
}

const OnnxKind slice_onnx[] = {
    {"Slice", "starts:is ends:is axes:is", onnx_slice, fold_slice, false, "1 10 11 13"},
    {"Split", "axis:i split:is", onnx_split, NULL, ONNX_MULTI_OUTPUT, "1 2 11 13"},
    {"Gather", "axis:i", onnx_gather, fold_gather, false, "1 11 13"},
    {NULL},
};

/* ---- export ---- */

/* Slice-13 with its four inputs: each per-sample axis's first index, the
 * end one step past its last (INT64_MIN where a negative step runs past
 * index 0: -1 would count from the end), and the step. */
bool slice_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out)
{
    const Shape *s = node_in_shape(g, n, 0);
    int64_t v[4][MAX_RANK];
    for (int k = 0; k < s->rank; k++) {
        int64_t first, len;
        slice_axis(s->d[k], n->a.start[k], n->a.end[k], n->a.step[k], &first, &len);
        int64_t end = first + len * n->a.step[k];
        v[0][k] = first;
        v[1][k] = end < 0 ? INT64_MIN : end;
        v[2][k] = k + 1;
        v[3][k] = n->a.step[k];
    }
    static const char *const what[] = {"starts", "ends", "axes", "steps"};
    const char *inputs[5] = {in[0]};
    Shape vs = {1, {s->rank}};
    for (int i = 0; i < 4; i++) {
        inputs[1 + i] = onnx_out_fresh(o, what[i]);
        onnx_out_init_i64(o, inputs[1 + i], &vs, v[i]);
    }
    onnx_out_node(o, "Slice", n->name, inputs, 5, out);
    return true;
}
