/* const_front.c: the ONNX operators cnnc evaluates at load time only, on
 * constant inputs (Shape on an activation too: its per-sample shape, the
 * batch as BATCH_DIM), so that the shape arithmetic real exports carry
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Clip bounds from
 * Constant nodes, Transpose of a weight) becomes plain constants before
 * lowering. Takes a node and its constant inputs; gives a Const. */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool fold_constant(OnnxNode *l, Const *out)
{
    if (l->node->n_attribute != 1)
        return onnx_fail(l, "needs exactly one value attribute");
    const Onnx__AttributeProto *a = l->node->attribute[0];
    const char *name = a->name ? a->name : "";
    if (strcmp(name, "value") == 0 && a->t) {
        char *what = xasprintf("node '%s' (Constant)", node_label(l->node));
        bool ok = onnx_tensor_const(l->o, a->t, what, out);
        free(what);
        return ok;
    }
    Shape scalar = {0}, vec = {1, {0}};
    if (strcmp(name, "value_float") == 0 && const_alloc(l, out, CONST_F32, &scalar)) {
        out->f[0] = a->f;
        return true;
    }
    if (strcmp(name, "value_int") == 0 && const_alloc(l, out, CONST_I64, &scalar)) {
        out->i[0] = a->i;
        return true;
    }
    if (strcmp(name, "value_floats") == 0) {
        vec.d[0] = (int64_t)a->n_floats;
        if (!const_alloc(l, out, CONST_F32, &vec))
            return false;
        memcpy(out->f, a->floats, a->n_floats * sizeof *a->floats);
        return true;
    }
    if (strcmp(name, "value_ints") == 0) {
        vec.d[0] = (int64_t)a->n_ints;
        if (!const_alloc(l, out, CONST_I64, &vec))
            return false;
        memcpy(out->i, a->ints, a->n_ints * sizeof *a->ints);
        return true;
    }
    onnx_fail(l, "unsupported attribute '%s'", name);
    return false;
}

static bool fold_shape(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const OnnxValue *x = l->in[0];
    Shape full;
    if (x->kind == OV_CONST)
        full = x->c.shape;
    else {
        if (x->shape.rank + 1 > MAX_RANK)
            return onnx_fail(l, "input rank too large");
        full.rank = x->shape.rank + 1;
        full.d[0] = BATCH_DIM;
        for (int i = 0; i < x->shape.rank; i++)
            full.d[i + 1] = x->shape.d[i];
    }
    int r = full.rank;
    int64_t start = attr_int(l->node, "start", 0), end = attr_int(l->node, "end", r);
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < start ? start : end > r ? r : end;
    Shape s = {1, {end - start}};
    if (!const_alloc(l, out, CONST_I64, &s))
        return false;
    for (int64_t k = start; k < end; k++)
        out->i[k - start] = full.d[k];
    return true;
}

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

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static bool fold_slice(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const Const *x = &l->in[0]->c;
    int r = x->shape.rank;
    int64_t starts[MAX_RANK], ends[MAX_RANK], axes[MAX_RANK], steps[MAX_RANK];
    int ns = onnx_int_list(l, 1, "starts", 10, starts);
    int ne = onnx_int_list(l, 2, "ends", 10, ends);
    int na = onnx_int_list(l, 3, "axes", 10, axes);
    int nst = l->o->opset < 10 ? -1 : onnx_int_list(l, 4, "steps", 10, steps);
    if (ns == -2 || ne == -2 || na == -2 || nst == -2)
        return false;
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return onnx_fail(l, "starts, ends, axes and steps differ in length");
    int64_t lo[MAX_RANK], step[MAX_RANK];
    Shape s = x->shape;
    for (int d = 0; d < r; d++)
        lo[d] = 0, step[d] = 1;
    for (int k = 0; k < ns; k++) {
        int a;
        if (!onnx_norm_axis(l, na >= 0 ? axes[k] : k, r, &a))
            return false;
        int64_t dim = x->shape.d[a], st = nst >= 0 ? steps[k] : 1;
        if (st == 0)
            return onnx_fail(l, "step 0");
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

static bool fold_cast(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const Const *x = &l->in[0]->c;
    int64_t to = attr_int(l->node, "to", 0);
    int dtype = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT   ? CONST_F32
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? CONST_I64
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? CONST_I64
                                                             : -1;
    if (dtype < 0)
        return onnx_fail(l, "cast to data type %lld is not supported", (long long)to);
    if (!const_alloc(l, out, dtype, &x->shape))
        return false;
    for (int64_t k = 0; k < x->n; k++) {
        if (x->dtype == CONST_I64 && x->i[k] == BATCH_DIM && dtype == CONST_F32)
            return onnx_fail(l, "input depends on the batch size");
        if (dtype == CONST_F32)
            out->f[k] = x->dtype == CONST_F32 ? x->f[k] : (float)x->i[k];
        else if (x->dtype == CONST_I64)
            out->i[k] = x->i[k];
        else if (!(fabsf(x->f[k]) < 9e18f))
            return onnx_fail(l, "value %g does not fit in an integer", x->f[k]); else
            out->i[k] = (int64_t)x->f[k];
    }
    return true;
}

static bool fold_constant_of_shape(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const Const *shp = &l->in[0]->c;
    if (!onnx_need_i64(l, shp, "shape"))
        return false;
    if (shp->n > MAX_RANK)
        return onnx_fail(l, "shape has rank %lld, more than %d", (long long)shp->n, MAX_RANK);
    Shape s = shape_make((int)shp->n, shp->i);
    Const v = {.dtype = CONST_F32};
    float zero = 0;
    const Onnx__AttributeProto *a = attr_find(l->node, "value");
    if (a && a->t) {
        if (!onnx_tensor_const(l->o, a->t, "ConstantOfShape value", &v))
            return false;
        if (v.n != 1) {
            onnx_fail(l, "value must hold one element");
            const_free(&v);
            return false;
        }
    } else {
        v.f = &zero;
    }
    bool ok = const_alloc_grown(l, out, v.dtype, &s, shp->n);
    for (int64_t k = 0; ok && k < out->n; k++)
        const_copy_elem(out, k, &v, 0);
    if (v.f != &zero)
        const_free(&v);
    return ok;
}

static bool fold_transpose(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const OnnxValue *xv = l->in[0];
    const Const *x = &xv->c;
    int r = x->shape.rank;
    const int64_t *perm;
    int np = attr_ints(l->node, "perm", &perm);
    int p[MAX_RANK];
    bool seen[MAX_RANK] = {false};
    if (np >= 0 && np != r)
        return onnx_fail(l, "perm has %d entries for rank %d", np, r);
    for (int d = 0; d < r; d++) {
        p[d] = np >= 0 ? (int)perm[d] : r - 1 - d;
        if (np >= 0 && (perm[d] < 0 || perm[d] >= r || seen[perm[d]]))
            return onnx_fail(l, "perm is not a permutation");
        seen[p[d]] = true;
    }
    Shape s = {r, {0}};
    for (int d = 0; d < r; d++)
        s.d[d] = x->shape.d[p[d]];
    if (!const_alloc(l, out, x->dtype, &s))
        return false;
    int64_t xs[MAX_RANK], idx[MAX_RANK];
    const_strides(&x->shape, xs);
    for (int64_t k = 0; k < out->n; k++) {
        const_unravel(&s, k, idx);
        int64_t at = 0;
        for (int d = 0; d < r; d++)
            at += idx[d] * xs[p[d]];
        const_copy_elem(out, k, x, at);
    }
    if (r == 2 && x->init && (np < 0 || p[0] == 1))
        out->transpose_of = xv->name;
    return true;
}

const OnnxKind const_onnx[] = {
    {"Constant", "value:t value_float:f value_floats:fs value_int:i value_ints:is", NULL,
     fold_constant, false},
    {"Shape", "start:i end:i", NULL, fold_shape, true},
    {"Gather", "axis:i", NULL, fold_gather, false},
    {"Slice", "starts:is ends:is axes:is", NULL, fold_slice, false},
    {"Cast", "to:i", NULL, fold_cast, false},
    {"ConstantOfShape", "value:t", NULL, fold_constant_of_shape, false},
    {"Transpose", "perm:is", NULL, fold_transpose, false},
    {NULL},
};
