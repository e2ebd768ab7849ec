/* const_front.c: the ONNX operators cnnc evaluates at load time only, on
 * constant inputs (Shape on an activation too: its per-sample shape, the
 * batch as BATCH_DIM), so that the shape arithmetic real exports carry
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Clip bounds from
 * Constant nodes, a class token Expanded to the batch) becomes plain
 * constants before lowering. Takes a node and its constant inputs; gives a
 * Const. */
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
    else if (!onnx_batch_axes(l->o)) /* whole-tensor mode: every dim is known */
        full = x->shape;
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

/* Cast's target type: Cast-1 names it ("FLOAT", TensorProto's name), from
 * 6 on it is the number; 0 when unknown. */
static int64_t cast_to(OnnxNode *l)
{
    if (l->version >= 6)
        return attr_int(l->node, "to", 0);
    char name[32];
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
        &onnx__tensor_proto__data_type__descriptor, attr_string(l->node, "to", "", name, sizeof name));
    return v ? v->value : 0;
}

static bool fold_cast(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const Const *x = &l->in[0]->c;
    int64_t to = cast_to(l);
    int dtype = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT   ? CONST_F32
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? CONST_I64
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? CONST_I64
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__INT8  ? CONST_I64 /* int8 models' */
                : to == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? CONST_I64 /* zero points */
                                                             : -1;
    if (dtype < 0)
        return onnx_fail(l, "cast to data type %lld is not supported", (long long)to);
    if (!const_alloc(l, out, dtype, &x->shape))
        return false;
    out->elem = dtype == CONST_I64 ? (int)to : 0;
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

/* On an activation, only a Cast to its own type (PyTorch's exporter puts
 * one between each QuantizeLinear and DequantizeLinear): nothing to do. */
static bool lower_cast(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    int64_t to = cast_to(l);
    if (to != (x->elem ? x->elem : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT))
        return onnx_fail(l, "a cast that changes an activation's type is not supported");
    onnx_alias(l, x);
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
    out->elem = v.elem;
    for (int64_t k = 0; ok && k < out->n; k++)
        const_copy_elem(out, k, &v, 0);
    if (v.f != &zero)
        const_free(&v);
    return ok;
}

/* Expand (NumPy broadcasting both ways). A target whose first entry is
 * the batch keeps that axis 1: a constant the same for every sample, which
 * the operators taking constants (Concat, the binary ops) apply to each. */
static bool fold_expand(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 2))
        return false;
    const Const *x = &l->in[0]->c, *t = &l->in[1]->c;
    if (t->dtype != CONST_I64 || t->shape.rank != 1 || t->n > MAX_RANK)
        return onnx_fail(l, "the shape must be an int64 vector of at most %d entries", MAX_RANK);
    Shape want = {(int)t->n, {0}}, s;
    for (int d = 0; d < want.rank; d++) {
        bool batch = t->i[d] == BATCH_DIM;
        if ((batch && d > 0) || (!batch && t->i[d] < 0))
            return onnx_fail(l, "shape entry %d (%lld) is not supported", d, (long long)t->i[d]);
        want.d[d] = batch ? 1 : t->i[d];
    }
    if (!shape_broadcast(&x->shape, &want, &s))
        return onnx_fail(l, "cannot expand the input to the shape given");
    if (t->n > 0 && t->i[0] == BATCH_DIM && (s.rank != want.rank || s.d[0] != 1))
        return onnx_fail(l, "the batch axis must be 1 in the input");
    if (!const_alloc(l, out, x->dtype, &s))
        return false;
    int64_t idx[MAX_RANK];
    for (int64_t k = 0; k < out->n; k++) {
        const_unravel(&s, k, idx);
        const_copy_elem(out, k, x, shape_broadcast_index(&x->shape, &s, idx));
    }
    return true;
}

/* Equal of two constants (NumPy broadcasting), as int64 0 and 1. */
static bool fold_equal(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 2))
        return false;
    const Const *a = &l->in[0]->c, *b = &l->in[1]->c;
    Shape s;
    if (a->dtype != b->dtype || !shape_broadcast(&a->shape, &b->shape, &s))
        return onnx_fail(l, "operands of different types, or shapes that do not broadcast");
    if (!const_alloc(l, out, CONST_I64, &s))
        return false;
    int64_t idx[MAX_RANK];
    for (int64_t k = 0; k < out->n; k++) {
        const_unravel(&s, k, idx);
        int64_t ia = shape_broadcast_index(&a->shape, &s, idx);
        int64_t ib = shape_broadcast_index(&b->shape, &s, idx);
        out->i[k] = a->dtype == CONST_F32 ? a->f[ia] == b->f[ib] : a->i[ia] == b->i[ib];
    }
    return true;
}

/* Where(condition, x, y) of constants: x where the condition holds. */
static bool fold_where(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 3))
        return false;
    const Const *c = &l->in[0]->c, *x = &l->in[1]->c, *y = &l->in[2]->c;
    Shape s, t;
    if (c->dtype != CONST_I64 || x->dtype != y->dtype || !shape_broadcast(&x->shape, &y->shape, &t) ||
        !shape_broadcast(&c->shape, &t, &s))
        return onnx_fail(l, "operands of the wrong types, or shapes that do not broadcast");
    if (!const_alloc(l, out, x->dtype, &s))
        return false;
    int64_t idx[MAX_RANK];
    for (int64_t k = 0; k < out->n; k++) {
        const_unravel(&s, k, idx);
        bool take_x = c->i[shape_broadcast_index(&c->shape, &s, idx)] != 0;
        const Const *from = take_x ? x : y;
        const_copy_elem(out, k, from, shape_broadcast_index(&from->shape, &s, idx));
    }
    return true;
}

const OnnxKind const_onnx[] = {
    {"Constant", "value:t value_float:f value_floats:fs value_int:i value_ints:is", NULL,
     fold_constant, false, "1 9 11 12 13"},
    {"Shape", "start:i end:i", NULL, fold_shape, true, "1 13 15"},
    {"Cast", "to:i to:s<6", lower_cast, fold_cast, false, "1 6 9 13"},
    {"ConstantOfShape", "value:t", NULL, fold_constant_of_shape, false, "9"},
    {"Expand", "", NULL, fold_expand, false, "8 13"},
    {"Equal", "", NULL, fold_equal, false, "1 7 11 13"},
    {"Where", "", NULL, fold_where, false, "9 16"},
    {NULL},
};
