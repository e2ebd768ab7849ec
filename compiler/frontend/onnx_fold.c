/* onnx_fold.c: evaluates ONNX nodes whose inputs are constants, at load
 * time, so that the shape arithmetic real exports carry (Shape -> Gather ->
 * Unsqueeze -> Concat -> Reshape, Clip bounds from Constant nodes,
 * Transpose of a weight) becomes plain constants before lowering.
 *
 * Takes a node and its input values, gives a Const. Shape of an activation
 * yields BATCH_DIM for the batch, which the data-movement operators carry
 * along and arithmetic refuses. */
#include "onnx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const fold_ops[] = {
    "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast",
    "ConstantOfShape", "Transpose", "Add", "Sub", "Mul", "Div", "Identity", "Reshape",
    "Dropout", NULL,
};

bool fold_supported(const char *op_type)
{
    for (int i = 0; fold_ops[i]; i++)
        if (strcmp(op_type, fold_ops[i]) == 0)
            return true;
    return false;
}

/* Allocates out's data for `shape`, of dtype. */
static bool const_alloc(Onnx *o, const Onnx__NodeProto *node, Const *out, int dtype,
                        const Shape *shape)
{
    memset(out, 0, sizeof *out);
    if (shape->rank > MAX_RANK) {
        node_error(o, node, "result has rank %d, more than %d", shape->rank, MAX_RANK);
        return false;
    }
    char *what = xasprintf("node '%s' (%s)", node_label(node), node->op_type);
    out->n = checked_numel(o, shape, what);
    free(what);
    if (out->n < 0)
        return false;
    out->dtype = dtype;
    out->shape = *shape;
    if (dtype == CONST_F32)
        out->f = xcalloc((size_t)out->n, sizeof *out->f);
    else
        out->i = xcalloc((size_t)out->n, sizeof *out->i);
    return true;
}

static void copy_elem(Const *dst, int64_t di, const Const *src, int64_t si)
{
    if (dst->dtype == CONST_F32)
        dst->f[di] = src->f[si];
    else
        dst->i[di] = src->i[si];
}

/* Row-major strides of s. */
static void strides(const Shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= s->d[i];
    }
}

/* Unravels flat index k of shape s into idx. */
static void unravel(const Shape *s, int64_t k, int64_t *idx)
{
    for (int i = s->rank - 1; i >= 0; i--) {
        idx[i] = s->d[i] ? k % s->d[i] : 0;
        k = s->d[i] ? k / s->d[i] : 0;
    }
}

static bool norm_axis(Onnx *o, const Onnx__NodeProto *node, int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank) {
        node_error(o, node, "axis %lld is out of range for rank %d", (long long)axis, rank);
        return false;
    }
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

static bool need_const(Onnx *o, const Onnx__NodeProto *node, Value *v, int i)
{
    if (!v || v->kind != V_CONST) {
        node_error(o, node, "input %d must be a constant%s", i,
                   v ? " (it depends on the model's input)" : "");
        return false;
    }
    return true;
}

static bool need_i64(Onnx *o, const Onnx__NodeProto *node, const Const *c, const char *what)
{
    if (c->dtype != CONST_I64) {
        node_error(o, node, "%s must be int64", what);
        return false;
    }
    for (int64_t k = 0; k < c->n; k++)
        if (c->i[k] == BATCH_DIM) {
            node_error(o, node, "%s depends on the batch size", what);
            return false;
        }
    return true;
}

/* An int list from the attribute `name` (before `opset`) or from input
 * `idx` (from `opset` on). Returns the count, -1 when absent, -2 on error. */
static int int_list(Onnx *o, const Onnx__NodeProto *node, Value **in, int nin, int idx,
                    const char *name, int opset, int64_t *vals)
{
    const int64_t *a;
    if (o->opset < opset) {
        int n = attr_ints(node, name, &a);
        if (n > MAX_RANK) {
            node_error(o, node, "attribute '%s' has %d values, more than %d", name, n, MAX_RANK);
            return -2;
        }
        for (int k = 0; k < n; k++)
            vals[k] = a[k];
        return n;
    }
    if (idx >= nin || !in[idx])
        return -1;
    if (!need_const(o, node, in[idx], idx) || !need_i64(o, node, &in[idx]->c, name))
        return -2;
    if (in[idx]->c.n > MAX_RANK) {
        node_error(o, node, "'%s' has %lld values, more than %d", name, (long long)in[idx]->c.n,
                   MAX_RANK);
        return -2;
    }
    memcpy(vals, in[idx]->c.i, (size_t)in[idx]->c.n * sizeof *vals);
    return (int)in[idx]->c.n;
}

static bool fold_constant(Onnx *o, const Onnx__NodeProto *node, Const *out)
{
    if (node->n_attribute != 1) {
        node_error(o, node, "needs exactly one value attribute");
        return false;
    }
    const Onnx__AttributeProto *a = node->attribute[0];
    const char *name = a->name ? a->name : "";
    if (strcmp(name, "value") == 0 && a->t) {
        char *what = xasprintf("node '%s' (Constant)", node_label(node));
        bool ok = onnx_tensor_const(o, a->t, what, out);
        free(what);
        return ok;
    }
    Shape scalar = {0}, vec = {1, {0}};
    if (strcmp(name, "value_float") == 0 && const_alloc(o, node, out, CONST_F32, &scalar)) {
        out->f[0] = a->f;
        return true;
    }
    if (strcmp(name, "value_int") == 0 && const_alloc(o, node, out, CONST_I64, &scalar)) {
        out->i[0] = a->i;
        return true;
    }
    if (strcmp(name, "value_floats") == 0) {
        vec.d[0] = (int64_t)a->n_floats;
        if (!const_alloc(o, node, out, CONST_F32, &vec))
            return false;
        memcpy(out->f, a->floats, a->n_floats * sizeof *a->floats);
        return true;
    }
    if (strcmp(name, "value_ints") == 0) {
        vec.d[0] = (int64_t)a->n_ints;
        if (!const_alloc(o, node, out, CONST_I64, &vec))
            return false;
        memcpy(out->i, a->ints, a->n_ints * sizeof *a->ints);
        return true;
    }
    node_error(o, node, "unsupported attribute '%s'", name);
    return false;
}

static bool fold_shape(Onnx *o, const Onnx__NodeProto *node, Value *x, Const *out)
{
    Shape full;
    if (x->kind == V_CONST)
        full = x->c.shape;
    else {
        if (x->shape.rank + 1 > MAX_RANK) {
            node_error(o, node, "input rank too large");
            return false;
        }
        full.rank = x->shape.rank + 1;
        full.d[0] = BATCH_DIM;
        for (int i = 0; i < x->shape.rank; i++)
            full.d[i + 1] = x->shape.d[i];
    }
    int r = full.rank;
    int64_t start = attr_int(node, "start", 0), end = attr_int(node, "end", r);
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < start ? start : end > r ? r : end;
    Shape s = {1, {end - start}};
    if (!const_alloc(o, node, out, CONST_I64, &s))
        return false;
    for (int64_t k = start; k < end; k++)
        out->i[k - start] = full.d[k];
    return true;
}

static bool fold_gather(Onnx *o, const Onnx__NodeProto *node, const Const *data,
                        const Const *idx, Const *out)
{
    int axis, r = data->shape.rank;
    if (r == 0) {
        node_error(o, node, "cannot gather from a scalar");
        return false;
    }
    if (!need_i64(o, node, idx, "indices") ||
        !norm_axis(o, node, attr_int(node, "axis", 0), r, &axis))
        return false;
    Shape s = {0};
    for (int i = 0; i < axis; i++)
        s.d[s.rank++] = data->shape.d[i];
    if (r - 1 + idx->shape.rank > MAX_RANK) {
        node_error(o, node, "result rank too large");
        return false;
    }
    for (int i = 0; i < idx->shape.rank; i++)
        s.d[s.rank++] = idx->shape.d[i];
    for (int i = axis + 1; i < r; i++)
        s.d[s.rank++] = data->shape.d[i];
    if (!const_alloc(o, node, out, data->dtype, &s))
        return false;
    int64_t inner, outer, dim = data->shape.d[axis];
    shape_split(&data->shape, axis, &outer, &inner);
    int64_t k = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < idx->n; j++) {
            int64_t at = idx->i[j] < 0 ? idx->i[j] + dim : idx->i[j];
            if (at < 0 || at >= dim) {
                node_error(o, node, "index %lld is out of range for dimension %lld",
                           (long long)idx->i[j], (long long)dim);
                return false;
            }
            for (int64_t b = 0; b < inner; b++)
                copy_elem(out, k++, data, (a * dim + at) * inner + b);
        }
    return true;
}

/* Unsqueeze, Squeeze, Reshape, Identity, Flatten: same data, new shape. */
static bool reshaped(Onnx *o, const Onnx__NodeProto *node, const Const *x, const Shape *s,
                     Const *out)
{
    if (!const_alloc(o, node, out, x->dtype, s))
        return false;
    if (out->n != x->n) {
        node_error(o, node, "cannot reshape %lld elements into %lld", (long long)x->n,
                   (long long)out->n);
        return false;
    }
    for (int64_t k = 0; k < x->n; k++)
        copy_elem(out, k, x, k);
    return true;
}

static bool fold_unsqueeze(Onnx *o, const Onnx__NodeProto *node, Value **in, int nin,
                           Const *out)
{
    int64_t axes[MAX_RANK];
    int na = int_list(o, node, in, nin, 1, "axes", 13, axes);
    if (na == -2)
        return false;
    const Const *x = &in[0]->c;
    int r = x->shape.rank + (na > 0 ? na : 0);
    if (na <= 0 || r > MAX_RANK) {
        node_error(o, node, na <= 0 ? "needs axes" : "result rank too large");
        return false;
    }
    bool inserted[MAX_RANK] = {false};
    for (int k = 0; k < na; k++) {
        int a;
        if (!norm_axis(o, node, axes[k], r, &a))
            return false;
        if (inserted[a]) {
            node_error(o, node, "axis %lld repeats", (long long)axes[k]);
            return false;
        }
        inserted[a] = true;
    }
    Shape s = {r, {0}};
    for (int i = 0, j = 0; i < r; i++)
        s.d[i] = inserted[i] ? 1 : x->shape.d[j++];
    return reshaped(o, node, x, &s, out);
}

static bool fold_squeeze(Onnx *o, const Onnx__NodeProto *node, Value **in, int nin, Const *out)
{
    int64_t axes[MAX_RANK];
    int na = int_list(o, node, in, nin, 1, "axes", 13, axes);
    if (na == -2)
        return false;
    const Const *x = &in[0]->c;
    bool drop[MAX_RANK] = {false};
    for (int k = 0; k < na; k++) {
        int a;
        if (!norm_axis(o, node, axes[k], x->shape.rank, &a))
            return false;
        if (x->shape.d[a] != 1) {
            node_error(o, node, "cannot squeeze axis %d of size %lld", a,
                       (long long)x->shape.d[a]);
            return false;
        }
        drop[a] = true;
    }
    Shape s = {0};
    for (int i = 0; i < x->shape.rank; i++)
        if (!(na > 0 ? drop[i] : x->shape.d[i] == 1))
            s.d[s.rank++] = x->shape.d[i];
    return reshaped(o, node, x, &s, out);
}

static bool fold_concat(Onnx *o, const Onnx__NodeProto *node, Value **in, int nin, Const *out)
{
    const Const *c0 = &in[0]->c;
    int axis, r = c0->shape.rank;
    if (!norm_axis(o, node, attr_int(node, "axis", 0), r, &axis))
        return false;
    Shape s = c0->shape;
    s.d[axis] = 0;
    for (int i = 0; i < nin; i++) {
        const Const *c = &in[i]->c;
        bool same = c->dtype == c0->dtype && c->shape.rank == r;
        for (int d = 0; same && d < r; d++)
            same = d == axis || c->shape.d[d] == s.d[d];
        if (!same) {
            node_error(o, node, "inputs have different types or shapes");
            return false;
        }
        s.d[axis] += c->shape.d[axis];
    }
    if (!const_alloc(o, node, out, c0->dtype, &s))
        return false;
    int64_t outer, inner;
    shape_split(&s, axis, &outer, &inner);
    int64_t k = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int i = 0; i < nin; i++) {
            const Const *c = &in[i]->c;
            int64_t len = c->shape.d[axis] * inner;
            for (int64_t b = 0; b < len; b++)
                copy_elem(out, k++, c, a * len + b);
        }
    return true;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static bool fold_slice(Onnx *o, const Onnx__NodeProto *node, Value **in, int nin, Const *out)
{
    const Const *x = &in[0]->c;
    int r = x->shape.rank;
    int64_t starts[MAX_RANK], ends[MAX_RANK], axes[MAX_RANK], steps[MAX_RANK];
    int ns = int_list(o, node, in, nin, 1, "starts", 10, starts);
    int ne = int_list(o, node, in, nin, 2, "ends", 10, ends);
    int na = int_list(o, node, in, nin, 3, "axes", 10, axes);
    int nst = o->opset < 10 ? -1 : int_list(o, node, in, nin, 4, "steps", 10, steps);
    if (ns == -2 || ne == -2 || na == -2 || nst == -2)
        return false;
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns)) {
        node_error(o, node, "starts, ends, axes and steps differ in length");
        return false;
    }
    int64_t lo[MAX_RANK], step[MAX_RANK];
    Shape s = x->shape;
    for (int d = 0; d < r; d++)
        lo[d] = 0, step[d] = 1;
    for (int k = 0; k < ns; k++) {
        int a;
        if (!norm_axis(o, node, na >= 0 ? axes[k] : k, r, &a))
            return false;
        int64_t dim = x->shape.d[a], st = nst >= 0 ? steps[k] : 1;
        if (st == 0) {
            node_error(o, node, "step 0");
            return false;
        }
        int64_t b = starts[k] < 0 && starts[k] > INT64_MIN / 2 ? starts[k] + dim : starts[k];
        int64_t e = ends[k] < 0 && ends[k] > INT64_MIN / 2 ? ends[k] + dim : ends[k];
        int64_t len;
        if (st > 0) {
            b = clamp64(b, 0, dim);
            e = clamp64(e, 0, dim);
            len = e > b ? (e - b + st - 1) / st : 0;
        } else {
            b = clamp64(b, -1, dim - 1);
            e = clamp64(e, -1, dim - 1);
            len = b > e ? (b - e - st - 1) / -st : 0;
        }
        lo[a] = b, step[a] = st, s.d[a] = len;
    }
    if (!const_alloc(o, node, out, x->dtype, &s))
        return false;
    int64_t xs[MAX_RANK], idx[MAX_RANK];
    strides(&x->shape, xs);
    for (int64_t k = 0; k < out->n; k++) {
        unravel(&s, k, idx);
        int64_t at = 0;
        for (int d = 0; d < r; d++)
            at += (lo[d] + idx[d] * step[d]) * xs[d];
        copy_elem(out, k, x, at);
    }
    return true;
}

static bool fold_cast(Onnx *o, const Onnx__NodeProto *node, const Const *x, Const *out)
{
    int64_t to = attr_int(node, "to", 0);
    int dtype = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT   ? CONST_F32
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? CONST_I64
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? CONST_I64
                                                             : -1;
    if (dtype < 0) {
        node_error(o, node, "cast to data type %lld is not supported", (long long)to);
        return false;
    }
    if (!const_alloc(o, node, out, dtype, &x->shape))
        return false;
    for (int64_t k = 0; k < x->n; k++) {
        if (x->dtype == CONST_I64 && x->i[k] == BATCH_DIM && dtype == CONST_F32) {
            node_error(o, node, "input depends on the batch size");
            return false;
        }
        if (dtype == CONST_F32)
            out->f[k] = x->dtype == CONST_F32 ? x->f[k] : (float)x->i[k];
        else if (x->dtype == CONST_I64)
            out->i[k] = x->i[k];
        else if (!(fabsf(x->f[k]) < 9e18f)) {
            node_error(o, node, "value %g does not fit in an integer", x->f[k]);
            return false;
        } else
            out->i[k] = (int64_t)x->f[k];
    }
    return true;
}

static bool fold_constant_of_shape(Onnx *o, const Onnx__NodeProto *node, const Const *shp,
                                   Const *out)
{
    if (!need_i64(o, node, shp, "shape"))
        return false;
    if (shp->n > MAX_RANK) {
        node_error(o, node, "shape has rank %lld, more than %d", (long long)shp->n, MAX_RANK);
        return false;
    }
    Shape s = shape_make((int)shp->n, shp->i);
    Const v = {.dtype = CONST_F32};
    float zero = 0;
    const Onnx__AttributeProto *a = attr_find(node, "value");
    if (a && a->t) {
        if (!onnx_tensor_const(o, a->t, "ConstantOfShape value", &v))
            return false;
        if (v.n != 1) {
            node_error(o, node, "value must hold one element");
            const_free(&v);
            return false;
        }
    } else {
        v.f = &zero;
    }
    bool ok = const_alloc(o, node, out, v.dtype, &s);
    for (int64_t k = 0; ok && k < out->n; k++)
        copy_elem(out, k, &v, 0);
    if (v.f != &zero)
        const_free(&v);
    return ok;
}

static bool fold_transpose(Onnx *o, const Onnx__NodeProto *node, Value *xv, Const *out)
{
    const Const *x = &xv->c;
    int r = x->shape.rank;
    const int64_t *perm;
    int np = attr_ints(node, "perm", &perm);
    int p[MAX_RANK];
    bool seen[MAX_RANK] = {false};
    if (np >= 0 && np != r) {
        node_error(o, node, "perm has %d entries for rank %d", np, r);
        return false;
    }
    for (int d = 0; d < r; d++) {
        p[d] = np >= 0 ? (int)perm[d] : r - 1 - d;
        if (np >= 0 && (perm[d] < 0 || perm[d] >= r || seen[perm[d]])) {
            node_error(o, node, "perm is not a permutation");
            return false;
        }
        seen[p[d]] = true;
    }
    Shape s = {r, {0}};
    for (int d = 0; d < r; d++)
        s.d[d] = x->shape.d[p[d]];
    if (!const_alloc(o, node, out, x->dtype, &s))
        return false;
    int64_t xs[MAX_RANK], idx[MAX_RANK];
    strides(&x->shape, xs);
    for (int64_t k = 0; k < out->n; k++) {
        unravel(&s, k, idx);
        int64_t at = 0;
        for (int d = 0; d < r; d++)
            at += idx[d] * xs[p[d]];
        copy_elem(out, k, x, at);
    }
    if (r == 2 && x->init && (np < 0 || p[0] == 1))
        out->transpose_of = xv->name;
    return true;
}

/* Numpy broadcasting of a and b into s. */
static bool broadcast_shape(Onnx *o, const Onnx__NodeProto *node, const Shape *a,
                            const Shape *b, Shape *s)
{
    s->rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < s->rank; i++) {
        int ia = i - (s->rank - a->rank), ib = i - (s->rank - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            node_error(o, node, "shapes do not broadcast");
            return false;
        }
        s->d[i] = da == 1 ? db : da;
    }
    return true;
}

/* The flat index into x (of shape xs, broadcast into s) for output index idx. */
static int64_t bcast_at(const Shape *x, const Shape *s, const int64_t *idx)
{
    int64_t at = 0, stride = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        int oi = i + s->rank - x->rank;
        if (x->d[i] != 1)
            at += idx[oi] * stride;
        stride *= x->d[i];
    }
    return at;
}

static bool fold_arith(Onnx *o, const Onnx__NodeProto *node, const Const *a, const Const *b,
                       Const *out)
{
    char op = node->op_type[0]; /* Add, Sub, Mul, Div */
    Shape s;
    if (a->dtype != b->dtype) {
        node_error(o, node, "operands have different data types");
        return false;
    }
    if ((a->dtype == CONST_I64 && (!need_i64(o, node, a, "operand") ||
                                   !need_i64(o, node, b, "operand"))) ||
        !broadcast_shape(o, node, &a->shape, &b->shape, &s) ||
        !const_alloc(o, node, out, a->dtype, &s))
        return false;
    int64_t idx[MAX_RANK];
    for (int64_t k = 0; k < out->n; k++) {
        unravel(&s, k, idx);
        int64_t ia = bcast_at(&a->shape, &s, idx), ib = bcast_at(&b->shape, &s, idx);
        if (a->dtype == CONST_F32) {
            float x = a->f[ia], y = b->f[ib];
            out->f[k] = op == 'A' ? x + y : op == 'S' ? x - y : op == 'M' ? x * y : x / y;
            continue;
        }
        int64_t x = a->i[ia], y = b->i[ib], r;
        bool bad = op == 'D' ? y == 0 || (x == INT64_MIN && y == -1)
                   : op == 'A' ? __builtin_add_overflow(x, y, &r)
                   : op == 'S' ? __builtin_sub_overflow(x, y, &r)
                               : __builtin_mul_overflow(x, y, &r);
        if (bad) {
            node_error(o, node, "integer overflow or division by zero");
            return false;
        }
        out->i[k] = op == 'D' ? x / y : r;
    }
    return true;
}

static bool fold_reshape(Onnx *o, const Onnx__NodeProto *node, const Const *x, const Const *shp,
                         Const *out)
{
    if (!need_i64(o, node, shp, "shape"))
        return false;
    if (shp->n > MAX_RANK) {
        node_error(o, node, "shape has more than %d entries", MAX_RANK);
        return false;
    }
    Shape s = {(int)shp->n, {0}};
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < s.rank; d++) {
        int64_t v = shp->i[d];
        if (v == 0 && !attr_int(node, "allowzero", 0))
            v = d < x->shape.rank ? x->shape.d[d] : 0;
        if (v == -1 && infer < 0)
            infer = d;
        else if (v < 0) {
            node_error(o, node, "bad shape entry %lld", (long long)shp->i[d]);
            return false;
        } else
            known *= v ? v : 1;
        s.d[d] = v;
    }
    if (infer >= 0)
        s.d[infer] = known ? x->n / known : 0;
    return reshaped(o, node, x, &s, out);
}

bool fold_node(Onnx *o, const Onnx__NodeProto *node, Value **in, int nin, Const *out)
{
    const char *op = node->op_type;
    memset(out, 0, sizeof *out);
    if (strcmp(op, "Constant") == 0)
        return fold_constant(o, node, out);
    if (nin < 1 || !in[0]) {
        node_error(o, node, "missing input");
        return false;
    }
    if (strcmp(op, "Shape") == 0)
        return fold_shape(o, node, in[0], out);
    for (int i = 0; i < nin; i++)
        if (in[i] && !need_const(o, node, in[i], i))
            return false;
    if (strcmp(op, "Identity") == 0 || strcmp(op, "Dropout") == 0)
        return reshaped(o, node, &in[0]->c, &in[0]->c.shape, out);
    if (strcmp(op, "Unsqueeze") == 0)
        return fold_unsqueeze(o, node, in, nin, out);
    if (strcmp(op, "Squeeze") == 0)
        return fold_squeeze(o, node, in, nin, out);
    if (strcmp(op, "Concat") == 0)
        return fold_concat(o, node, in, nin, out);
    if (strcmp(op, "Slice") == 0)
        return fold_slice(o, node, in, nin, out);
    if (strcmp(op, "Cast") == 0)
        return fold_cast(o, node, &in[0]->c, out);
    if (strcmp(op, "ConstantOfShape") == 0)
        return fold_constant_of_shape(o, node, &in[0]->c, out);
    if (strcmp(op, "Transpose") == 0)
        return fold_transpose(o, node, in[0], out);
    if (nin < 2 || !in[1]) {
        node_error(o, node, "missing input");
        return false;
    }
    if (strcmp(op, "Gather") == 0)
        return fold_gather(o, node, &in[0]->c, &in[1]->c, out);
    if (strcmp(op, "Reshape") == 0)
        return fold_reshape(o, node, &in[0]->c, &in[1]->c, out);
    return fold_arith(o, node, &in[0]->c, &in[1]->c, out);
}
