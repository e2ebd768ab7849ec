/* quant_front.c: how pre-quantized ONNX models enter the IR (docs/int8.md).
 * Takes QuantizeLinear and DequantizeLinear nodes, and gives the QLinear
 * operators of other families (QLinearConv, QLinearMatMul) the reading and
 * checking of scales and zero points they share.
 *
 * On an activation QuantizeLinear becomes a quantize node whose output is an
 * int8 tensor (a uint8 one shifted by -128 with its zero point: the same
 * reals), DequantizeLinear a dequantize node. On constants both fold: a
 * quantized constant keeps its integers, a dequantized one is their float
 * value with the integers alongside (Const.q), which a conv's or dense
 * layer's weight and bias carry into the IR (onnx_const_param) for the step
 * "quantize", as ONNX Runtime's quantize_static and PyTorch's exporter
 * write them (int8 weights -> DequantizeLinear -> Conv).
 *
 * Errors, each naming the node: a scale that is not a positive finite
 * float (0, negative, NaN), a zero point outside its type or of another
 * length than the scales, per-axis scales whose count is not the axis'
 * size, an int32 zero point other than 0, per-axis scales on an activation,
 * a dequantize whose scale differs from its input's quantize. */
#include "../ops.h"
#include "../../kit/qmath.h"

#include <math.h>
#include <stdlib.h>

static const char *elem_name(int elem)
{
    return elem == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8  ? "uint8"
           : elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? "int8"
                                                         : "int32";
}

static bool scales_ok(OnnxNode *l, const Const *s)
{
    if (s->shape.rank > 1)
        return onnx_fail(l, "the scale must be a scalar or a 1-D tensor, not rank %d", s->shape.rank);
    for (int64_t k = 0; k < s->n; k++)
        if (!(s->f[k] > 0) || !isfinite(s->f[k]))
            return onnx_fail(l, "scale %g%s is not a positive finite number", (double)s->f[k],
                             s->n > 1 ? " (one of the per-channel scales)" : "");
    return true;
}

/* The zero points (input zi, optional) into q; *elem their type. */
static bool zero_points(OnnxNode *l, int zi, Quant *q, int *elem)
{
    const OnnxValue *z = zi < l->nin ? l->in[zi] : NULL;
    *elem = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8; /* ONNX's default */
    if (!z)
        return true;
    int e = z->kind == OV_CONST ? z->c.elem : 0;
    if (z->kind != OV_CONST || z->c.dtype != CONST_I64 ||
        (e != ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 && e != ONNX__TENSOR_PROTO__DATA_TYPE__INT8 &&
         e != ONNX__TENSOR_PROTO__DATA_TYPE__INT32))
        return onnx_fail(l, "the zero point must be an int8, uint8 or int32 constant");
    if (z->c.n != q->n)
        return onnx_fail(l, "%lld zero points for %d scales", (long long)z->c.n, q->n);
    *elem = e;
    int64_t lo = e == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? 0 : e == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? -128 : 0;
    int64_t hi = e == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? 255 : e == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? 127 : 0;
    for (int k = 0; k < q->n; k++) {
        if (z->c.i[k] < lo || z->c.i[k] > hi)
            return onnx_fail(l, "zero point %lld is out of range for %s (%lld to %lld)",
                             (long long)z->c.i[k], elem_name(e), (long long)lo, (long long)hi);
        q->zero_point[k] = (int32_t)z->c.i[k];
    }
    return true;
}

Quant *onnx_quant_params(OnnxNode *l, int si, int zi, const Shape *x, int dflt_axis, int *elem,
                         int *axis)
{
    const OnnxValue *s = onnx_float_in(l, si, false);
    if (!s || !scales_ok(l, &s->c))
        return NULL;
    *axis = -1;
    if (s->c.n > 1) {
        if (!onnx_norm_axis(l, attr_int(l->node, "axis", dflt_axis), x->rank, axis))
            return NULL;
        if (x->d[*axis] != s->c.n) {
            onnx_fail(l, "%lld scales for the %lld channels along axis %d", (long long)s->c.n,
                      (long long)x->d[*axis], *axis);
            return NULL;
        }
    }
    Quant *q = quant_new(DT_I8, (int)s->c.n);
    for (int k = 0; k < q->n; k++)
        q->scale[k] = s->c.f[k];
    if (!zero_points(l, zi, q, elem)) {
        quant_free(q);
        return NULL;
    }
    q->dtype = *elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? DT_I32 : DT_I8;
    return q;
}

/* The ONNX type of zero point input zi: uint8 when absent. */
static int zero_point_elem(OnnxNode *l, int zi)
{
    const OnnxValue *z = zi < l->nin ? l->in[zi] : NULL;
    return z && z->kind == OV_CONST ? z->c.elem : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
}

Quant *onnx_act_quant(OnnxNode *l, int si, int zi, const OnnxValue *x)
{
    Shape full = {x->shape.rank + 1, {1}};
    for (int i = 0; i < x->shape.rank; i++)
        full.d[i + 1] = x->shape.d[i];
    int elem, axis;
    Quant *q = onnx_quant_params(l, si, zi, &full, 1, &elem, &axis);
    if (q && q->n != 1) {
        onnx_fail(l, "per-channel scales on an activation are not supported");
    } else if (q && elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        onnx_fail(l, "int32 activations are not supported (int8 and uint8 are)");
    } else {
        if (q && elem == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8)
            q->zero_point[0] -= 128; /* the same reals in int8 */
        return q;
    }
    quant_free(q);
    return NULL;
}

bool onnx_quantize_act(OnnxNode *l, OnnxValue *x, Quant *q, const char *suffix, OnnxValue *out)
{
    Node *n = onnx_add_node(l, OP_QUANTIZE, suffix, &x, 1, out, &x->shape);
    if (!n) {
        quant_free(q);
        return false;
    }
    l->o->g->t[n->out].q = q;
    out->elem = ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    return true;
}

bool onnx_dequantize_act(OnnxNode *l, OnnxValue *x, const Quant *q, const char *suffix,
                         OnnxValue *out)
{
    const Quant *have = l->o->g->t[x->tensor].q;
    if (!have)
        return onnx_fail(l, "input '%s' is a float activation, not a quantized one", x->name);
    if (q_scale(have) != q_scale(q) || q_zero(have) != q_zero(q))
        return onnx_fail(l, "input '%s' was quantized with scale %g and zero point %ld, read here "
                         "with %g and %ld: not supported", x->name, (double)q_scale(have),
                         (long)q_zero(have), (double)q_scale(q), (long)q_zero(q));
    return onnx_add_node(l, OP_DEQUANTIZE, suffix, &x, 1, out, &x->shape) != NULL;
}

static bool lower_quantize(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    if (l->o->g->t[x->tensor].q)
        return onnx_fail(l, "input '%s' is quantized already", x->name);
    Quant *q = onnx_act_quant(l, 1, 2, x);
    if (!q || !onnx_quantize_act(l, x, q, "", l->out))
        return false;
    l->out->elem = zero_point_elem(l, 2); /* what a Cast to it keeps */
    return true;
}

static bool lower_dequantize(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    Quant *q = x ? onnx_act_quant(l, 1, 2, x) : NULL;
    bool ok = q && onnx_dequantize_act(l, x, q, "", l->out);
    quant_free(q);
    return ok;
}

/* The scale index of element k of shape s: its coordinate along axis. */
static int channel(const Shape *s, int axis, int64_t k)
{
    if (axis < 0)
        return 0;
    int64_t inner = 1;
    for (int i = axis + 1; i < s->rank; i++)
        inner *= s->d[i];
    return (int)(k / inner % s->d[axis]);
}

static bool fold_quantize(OnnxNode *l, Const *out)
{
    const OnnxValue *x = l->in[0];
    int elem, axis;
    *out = (Const){0};
    if (x->c.dtype != CONST_F32)
        return onnx_fail(l, "input '%s' must be float32", x->name);
    Quant *q = onnx_quant_params(l, 1, 2, &x->c.shape, 1, &elem, &axis);
    if (!q || !const_alloc(l, out, CONST_I64, &x->c.shape)) {
        quant_free(q);
        return false;
    }
    int64_t lo = elem == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? 0 : elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? -128 : INT32_MIN;
    int64_t hi = elem == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? 255 : elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? 127 : INT32_MAX;
    for (int64_t k = 0; k < x->c.n; k++) {
        int c = channel(&x->c.shape, axis, k);
        double v = nearbyint((double)(x->c.f[k] / q->scale[c])) + q->zero_point[c];
        out->i[k] = (int64_t)(v < (double)lo ? (double)lo : v > (double)hi ? (double)hi : v);
    }
    out->elem = elem;
    quant_free(q);
    return true;
}

bool onnx_dequantize_const(OnnxNode *l, const OnnxValue *x, int si, int zi, int dflt_axis,
                           Const *out)
{
    int elem, axis;
    *out = (Const){0};
    if (x->kind != OV_CONST || x->c.dtype != CONST_I64 || !x->c.elem ||
        x->c.elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
        return onnx_fail(l, "input '%s' must be an int8, uint8 or int32 constant", x->name);
    Quant *q = onnx_quant_params(l, si, zi, &x->c.shape, dflt_axis, &elem, &axis);
    if (q && zi < l->nin && l->in[zi] && elem != x->c.elem) {
        onnx_fail(l, "the zero point is %s, the input %s", elem_name(elem), elem_name(x->c.elem));
        quant_free(q);
        return false;
    }
    if (!q || !const_alloc(l, out, CONST_F32, &x->c.shape)) {
        quant_free(q);
        return false;
    }
    q->dtype = x->c.elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? DT_I32 : DT_I8;
    q->values = xmalloc((size_t)(x->c.n ? x->c.n : 1) * sizeof *q->values);
    for (int64_t k = 0; k < x->c.n; k++) {
        int c = channel(&x->c.shape, axis, k);
        q->values[k] = (int32_t)x->c.i[k];
        out->f[k] = q_dequantize(q->values[k], q->scale[c], q->zero_point[c]);
    }
    out->q = q;
    out->qaxis = axis < 0 ? 0 : axis;
    return true;
}

static bool fold_dequantize(OnnxNode *l, Const *out)
{
    return onnx_dequantize_const(l, l->in[0], 1, 2, 1, out);
}

bool onnx_qlinear_bias(OnnxNode *l, int bi, int xsi, const Quant *qw, int64_t m, Const *out)
{
    const OnnxValue *b = l->in[bi], *xs = onnx_float_in(l, xsi, false);
    *out = (Const){0};
    if (!xs)
        return false;
    if (b->kind != OV_CONST || b->c.elem != ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ||
        b->c.n != m)
        return onnx_fail(l, "the bias '%s' must be an int32 constant of %lld values", b->name,
                         (long long)m);
    if (!const_alloc(l, out, CONST_F32, &b->c.shape))
        return false;
    Quant *q = quant_new(DT_I32, (int)m);
    q->values = xmalloc((size_t)m * sizeof *q->values);
    for (int64_t k = 0; k < m; k++) {
        q->scale[k] = xs->c.f[0] * qw->scale[qw->n == 1 ? 0 : k];
        q->values[k] = (int32_t)b->c.i[k];
        out->f[k] = q_dequantize(q->values[k], q->scale[k], 0);
    }
    out->q = q;
    out->init = b->c.init;
    return true;
}

bool onnx_qlinear(OnnxNode *l, int ysi, int yzi, OnnxValue **consts, int nconst,
                  bool (*lower)(OnnxNode *l))
{
    OnnxValue *x = onnx_act_in(l, 0);
    Quant *qx = x ? onnx_act_quant(l, 1, 2, x) : NULL;
    OnnxValue xf = {.name = "x", .kind = OV_NONE}, yf = {.name = "y", .kind = OV_NONE};
    bool ok = qx && onnx_dequantize_act(l, x, qx, "_input", &xf);
    quant_free(qx);
    if (!ok)
        return false;
    OnnxValue *in[3] = {&xf, nconst > 0 ? consts[0] : NULL, nconst > 1 ? consts[1] : NULL};
    OnnxValue *outs[1] = {&yf};
    OnnxNode inner = {l->o, l->node, in, 1 + nconst, &yf, outs, 1, l->version};
    if (!lower(&inner))
        return false;
    Quant *qy = onnx_act_quant(l, ysi, yzi, &yf);
    return qy && onnx_quantize_act(l, &yf, qy, "_quantize", l->out);
}

/* cnnc quantize: QuantizeLinear or DequantizeLinear with the int8 side's
 * scale and zero point (int8 activations). */
bool quant_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out)
{
    const Tensor *t = &g->t[n->op == OP_QUANTIZE ? n->out : n->in[0]];
    const char *inputs[3] = {in[0]};
    onnx_out_quant(o, t->name, t->q, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, &inputs[1], &inputs[2]);
    onnx_out_node(o, n->op == OP_QUANTIZE ? "QuantizeLinear" : "DequantizeLinear", n->name, inputs,
                  3, out);
    return true;
}

const OnnxKind quant_onnx[] = {
    {"QuantizeLinear", "axis:i", lower_quantize, fold_quantize, false, "10 13"},
    {"DequantizeLinear", "axis:i", lower_dequantize, fold_dequantize, false, "10 13"},
    {NULL},
};
