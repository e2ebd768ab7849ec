/* onnx_kit.c: the ONNX lowering helpers of onnx_kit.h: attributes, input
 * checks, IR nodes and parameters for the node being lowered, and the
 * constant arithmetic the families' folds share. */
#include "onnx_kit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- attributes and errors ---- */

const char *node_label(const Onnx__NodeProto *node)
{
    if (node->name && *node->name)
        return node->name;
    if (node->n_output > 0 && node->output[0] && *node->output[0])
        return node->output[0];
    return "?";
}

const Onnx__AttributeProto *attr_find(const Onnx__NodeProto *node, const char *name)
{
    for (size_t i = 0; i < node->n_attribute; i++)
        if (node->attribute[i]->name && strcmp(node->attribute[i]->name, name) == 0)
            return node->attribute[i];
    return NULL;
}

int64_t attr_int(const Onnx__NodeProto *node, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = attr_find(node, name);
    return a ? a->i : dflt;
}

float attr_float(const Onnx__NodeProto *node, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = attr_find(node, name);
    return a ? a->f : dflt;
}

int attr_ints(const Onnx__NodeProto *node, const char *name, const int64_t **vals)
{
    const Onnx__AttributeProto *a = attr_find(node, name);
    if (!a)
        return -1;
    *vals = a->ints;
    return a->n_ints > 64 ? 64 : (int)a->n_ints;
}

const char *attr_string(const Onnx__NodeProto *node, const char *name, const char *dflt,
                        char *buf, size_t size)
{
    const Onnx__AttributeProto *a = attr_find(node, name);
    if (!a)
        return dflt;
    size_t n = a->s.len < size - 1 ? a->s.len : size - 1;
    if (n) /* an empty string's data may be NULL */
        memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return buf;
}

/* msg (an array): fmt with the function's arguments after it. */
#define FORMAT_ARGS(msg, fmt)                                                                    \
    do {                                                                                       \
        va_list ap_;                                                                           \
        va_start(ap_, fmt);                                                                    \
        vsnprintf(msg, sizeof msg, fmt, ap_);                                                  \
        va_end(ap_);                                                                           \
    } while (0)

void node_error(Onnx *o, const Onnx__NodeProto *node, const char *fmt, ...)
{
    char msg[512];
    FORMAT_ARGS(msg, fmt);
    diag_error(o->loc, "node '%s' (%s): %s", node_label(node), node->op_type, msg);
}

bool onnx_fail(OnnxNode *l, const char *fmt, ...)
{
    char msg[512];
    FORMAT_ARGS(msg, fmt);
    node_error(l->o, l->node, "%s", msg);
    return false;
}

int onnx_version(const OnnxKind *kind, int opset)
{
    int version = 0;
    for (const char *p = kind->since; p && *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (v <= opset || !version)
            version = (int)v;
        if (v > opset)
            break;
        p = end;
    }
    return version;
}

bool onnx_fail_version(OnnxNode *l, const char *fmt, ...)
{
    char msg[512];
    FORMAT_ARGS(msg, fmt);
    diag_error(l->o->loc, "node '%s' (%s-%d): %s", node_label(l->node), l->node->op_type,
               l->version, msg);
    return false;
}

bool onnx_fail_batch(OnnxNode *l, const char *fmt, ...)
{
    char msg[512];
    FORMAT_ARGS(msg, fmt);
    l->o->batch_refused = true;
    node_error(l->o, l->node, "%s", msg);
    return false;
}

/* ---- the frame of axes ---- */

int onnx_batch_axes(const Onnx *o)
{
    return o->whole ? 0 : 1;
}

int onnx_rank(const OnnxNode *l, const OnnxValue *x)
{
    return x->shape.rank + onnx_batch_axes(l->o);
}

int onnx_sample_axis(const OnnxNode *l, int a)
{
    return a - onnx_batch_axes(l->o);
}

/* ---- inputs ---- */

OnnxValue *onnx_act_in(OnnxNode *l, int i)
{
    if (i >= l->nin || !l->in[i] || l->in[i]->kind != OV_ACT) {
        onnx_fail(l, "input %d must be an activation (computed from the model's input)", i);
        return NULL;
    }
    return l->in[i];
}

OnnxValue *onnx_float_in(OnnxNode *l, int i, bool optional)
{
    if (i >= l->nin || !l->in[i]) {
        if (!optional)
            onnx_fail(l, "input %d is missing", i);
        return NULL;
    }
    if (l->in[i]->kind != OV_CONST || l->in[i]->c.dtype != CONST_F32) {
        onnx_fail(l, "input %d ('%s') must be a float32 constant or initializer", i,
                  l->in[i]->name);
        return NULL;
    }
    return l->in[i];
}

bool onnx_spatial_ints(OnnxNode *l, const char *name, int64_t dflt, int64_t *v, int count)
{
    const int64_t *a = NULL;
    int n = attr_ints(l->node, name, &a);
    for (int i = 0; i < count; i++)
        v[i] = dflt;
    if (n < 0)
        return true;
    if (n != count)
        return onnx_fail(l, "attribute '%s' has %d values, expected %d", name, n, count);
    for (int i = 0; i < count; i++) {
        if (a[i] < (dflt == 0 ? 0 : 1) || a[i] > 1 << 20)
            return onnx_fail(l, "attribute '%s' has the unsupported value %lld", name,
                             (long long)a[i]);
        v[i] = a[i];
    }
    return true;
}

/* ---- IR nodes and parameters ---- */

static char *unique_name(Graph *g, const char *base)
{
    char *name = xstrdup(base);
    for (int k = 1; graph_find_tensor(g, name) >= 0; k++) {
        free(name);
        name = xasprintf("%s_%d", base, k);
    }
    return name;
}

int onnx_make_param(Onnx *o, const char *name, TensorKind kind, const Shape *s,
                    const float *data)
{
    Graph *g = o->g;
    int64_t n = shape_numel(s);
    int t = graph_find_tensor(g, name);
    if (t >= 0 && g->t[t].kind == kind && shape_eq(&g->t[t].shape, s) &&
        memcmp(g->t[t].data, data, (size_t)n * sizeof *data) == 0)
        return t;
    char *unique = unique_name(g, name);
    t = graph_add_tensor(g, unique, kind, o->loc);
    free(unique);
    g->t[t].shape = *s;
    g->t[t].data = xmalloc((size_t)(n ? n : 1) * sizeof(float));
    if (n)
        memcpy(g->t[t].data, data, (size_t)n * sizeof *data);
    return t;
}

int onnx_const_param(Onnx *o, const OnnxValue *v, TensorKind kind)
{
    int t = onnx_make_param(o, v->name, v->c.init ? kind : T_CONST, &v->c.shape, v->c.f);
    onnx_attach_quant(o, t, &v->c, 0, NULL);
    return t;
}

void onnx_attach_quant(Onnx *o, int t, const Const *c, int axis0, const int64_t *perm)
{
    Tensor *x = &o->g->t[t];
    if (!c->q || x->q || (c->q->n > 1 && c->qaxis != axis0))
        return;
    x->q = quant_copy(c->q, c->n);
    for (int64_t k = 0; perm && k < c->n; k++)
        x->q->values[k] = c->q->values[perm[k]];
}

void onnx_set_param(Node *n, int slot, int t)
{
    n->param[slot] = t;
    if (n->nparam <= slot)
        n->nparam = slot + 1;
}

bool onnx_infer(OnnxNode *l, Node *n, OnnxValue *out)
{
    int errors = diag_error_count();
    Graph *g = l->o->g;
    if (!op_info(n->op)->infer(g, n) || diag_error_count() > errors)
        return false;
    out->kind = OV_ACT;
    out->tensor = n->out;
    out->shape = g->t[n->out].shape;
    return true;
}

/* A node reading a quantized activation (QOperator models: MaxPool between
 * two QLinearConv): one that moves values without computing new ones
 * (QUANT_SAME_SCALE) passes the scale on; any other would read integers as
 * reals. Dequantizes read them by design. */
static bool quantized_inputs(OnnxNode *l, Node *n, OnnxValue **in, OnnxValue *out)
{
    Graph *g = l->o->g;
    int j = 0;
    while (j < n->nin && !g->t[n->in[j]].q)
        j++;
    if (j == n->nin || (op_info(n->op)->traits & OPT_FROM_INT8))
        return true;
    const QuantOps *qo = op_info(n->op)->quant;
    if (!qo || !(qo->flags & QUANT_SAME_SCALE) || n->nin != 1)
        return onnx_fail(l, "reads the quantized activation '%s', which only DequantizeLinear, "
                         "QLinearConv, QLinearMatMul and operators that keep its scale "
                         "(MaxPool, Reshape, Flatten, Pad) can", in[j]->name);
    g->t[n->out].q = quant_copy(g->t[n->in[j]].q, 0);
    out->elem = in[j]->elem;
    return true;
}

Node *onnx_add_node(OnnxNode *l, int op, const char *suffix, OnnxValue **in, int nin,
                    OnnxValue *out, const Shape *s)
{
    Onnx *o = l->o;
    int ids[ONNX_MAX_INPUTS];
    for (int i = 0; i < nin; i++)
        ids[i] = in[i]->tensor;
    char *base = xasprintf("%s%s", node_label(l->node), suffix);
    char *name = unique_name(o->g, base);
    int id = graph_add_node(o->g, op, name, o->loc, ids, nin);
    free(name);
    free(base);
    Node *n = &o->g->n[id];
    if (!s)
        return onnx_infer(l, n, out) && quantized_inputs(l, n, in, out) ? n : NULL;
    o->g->t[n->out].shape = *s;
    out->kind = OV_ACT;
    out->tensor = n->out;
    out->shape = *s;
    return quantized_inputs(l, n, in, out) ? n : NULL;
}

void onnx_alias(OnnxNode *l, const OnnxValue *x)
{
    OnnxValue *out = l->out;
    *out = (OnnxValue){.name = out->name, .kind = OV_ACT, .tensor = x->tensor, .shape = x->shape,
                       .uses = out->uses, .elem = x->elem};
}

/* ---- constants ---- */

bool const_alloc(OnnxNode *l, Const *out, int dtype, const Shape *shape)
{
    memset(out, 0, sizeof *out);
    if (shape->rank > MAX_RANK)
        return onnx_fail(l, "result has rank %d, more than %d", shape->rank, MAX_RANK);
    char *what = xasprintf("node '%s' (%s)", node_label(l->node), l->node->op_type);
    out->n = checked_numel(l->o, shape, what);
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

bool const_alloc_grown(OnnxNode *l, Const *out, int dtype, const Shape *shape, int64_t inputs)
{
    int64_t n = 1;
    bool counts = true; /* else (negative, overflowing, > ONNX_MAX_NUMEL): const_alloc says */
    for (int i = 0; i < shape->rank && counts; i++)
        counts = shape->d[i] >= 0 && !mul_overflows(n, shape->d[i], &n);
    if (counts && n > CONST_GROWTH_MAX && n > inputs && n <= ONNX_MAX_NUMEL) {
        memset(out, 0, sizeof *out);
        return onnx_fail(l, "the constant result would have %lld elements, from %lld: more than "
                         "cnnc makes at load time (%lld)", (long long)n, (long long)inputs,
                         (long long)CONST_GROWTH_MAX);
    }
    return const_alloc(l, out, dtype, shape);
}

void const_copy_elem(Const *dst, int64_t di, const Const *src, int64_t si)
{
    if (dst->dtype == CONST_F32)
        dst->f[di] = src->f[si];
    else
        dst->i[di] = src->i[si];
}

void const_strides(const Shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= s->d[i];
    }
}

void const_unravel(const Shape *s, int64_t k, int64_t *idx)
{
    for (int i = s->rank - 1; i >= 0; i--) {
        idx[i] = s->d[i] ? k % s->d[i] : 0;
        k = s->d[i] ? k / s->d[i] : 0;
    }
}

bool onnx_norm_axis(OnnxNode *l, int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return onnx_fail(l, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

bool onnx_need_const(OnnxNode *l, int i)
{
    OnnxValue *v = i < l->nin ? l->in[i] : NULL;
    if (!v || v->kind != OV_CONST)
        return onnx_fail(l, "input %d must be a constant%s", i,
                         v ? " (it depends on the model's input)" : "");
    return true;
}

bool onnx_need_i64(OnnxNode *l, const Const *c, const char *what)
{
    if (c->dtype != CONST_I64)
        return onnx_fail(l, "%s must be int64", what);
    for (int64_t k = 0; k < c->n; k++)
        if (c->i[k] == BATCH_DIM)
            return onnx_fail(l, "%s depends on the batch size", what);
    return true;
}

int onnx_int_list(OnnxNode *l, int idx, const char *attr, int since, int64_t *vals)
{
    const int64_t *a;
    if (l->o->opset < since) {
        int n = attr_ints(l->node, attr, &a);
        if (n > MAX_RANK) {
            onnx_fail(l, "attribute '%s' has %d values, more than %d", attr, n, MAX_RANK);
            return -2;
        }
        for (int k = 0; k < n; k++)
            vals[k] = a[k];
        return n;
    }
    if (idx >= l->nin || !l->in[idx])
        return -1;
    if (!onnx_need_const(l, idx) || !onnx_need_i64(l, &l->in[idx]->c, attr))
        return -2;
    if (l->in[idx]->c.n > MAX_RANK) {
        onnx_fail(l, "'%s' has %lld values, more than %d", attr, (long long)l->in[idx]->c.n,
                  MAX_RANK);
        return -2;
    }
    if (l->in[idx]->c.n)
        memcpy(vals, l->in[idx]->c.i, (size_t)l->in[idx]->c.n * sizeof *vals);
    return (int)l->in[idx]->c.n;
}

bool const_reshaped(OnnxNode *l, const Const *x, const Shape *s, Const *out)
{
    if (!const_alloc(l, out, x->dtype, s))
        return false;
    if (out->n != x->n)
        return onnx_fail(l, "cannot reshape %lld elements into %lld", (long long)x->n,
                         (long long)out->n);
    for (int64_t k = 0; k < x->n; k++)
        const_copy_elem(out, k, x, k);
    return true;
}

bool onnx_has_inputs(OnnxNode *l, int k)
{
    for (int i = 0; i < k; i++)
        if (i >= l->nin || !l->in[i])
            return onnx_fail(l, "missing input");
    return true;
}

/* ---- graph navigation for patterns ---- */

static const Onnx__GraphProto *graph_of(const Onnx *o)
{
    return o->model->graph;
}

static bool same(const char *a, const char *b)
{
    return a && b && *a && strcmp(a, b) == 0;
}

int onnx_producer(const Onnx *o, const char *value)
{
    const Onnx__GraphProto *gp = graph_of(o);
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t j = 0; j < gp->node[i]->n_output; j++)
            if (same(gp->node[i]->output[j], value))
                return (int)i;
    return -1;
}

int onnx_readers(const Onnx *o, const char *value, int *out, int max)
{
    const Onnx__GraphProto *gp = graph_of(o);
    int k = 0;
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t j = 0; j < gp->node[i]->n_input; j++)
            if (same(gp->node[i]->input[j], value)) {
                if (k < max)
                    out[k] = (int)i;
                k++;
            }
    for (size_t i = 0; i < gp->n_output; i++)
        k += same(gp->output[i]->name, value); /* read by the caller */
    return k;
}

bool onnx_is(const Onnx *o, int node, const char *type)
{
    const Onnx__NodeProto *n = node >= 0 ? graph_of(o)->node[node] : NULL;
    return n && n->op_type && strcmp(n->op_type, type) == 0;
}

/* A float32 tensor of one element: its value. */
static bool scalar_of(const Onnx__TensorProto *t, float *v)
{
    int64_t count = 1;
    for (size_t d = 0; d < t->n_dims; d++)
        if (t->dims[d] < 0 || mul_overflows(count, t->dims[d], &count))
            return false; /* the file's own dims: checked, not trusted */
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || count != 1)
        return false;
    if (t->n_float_data == 1) {
        *v = t->float_data[0];
        return true;
    }
    if (t->has_raw_data && t->raw_data.len == 4) {
        memcpy(v, t->raw_data.data, 4); /* little-endian, as ONNX stores it */
        return true;
    }
    return false;
}

bool onnx_const_scalar(const Onnx *o, const char *value, float *v)
{
    const Onnx__GraphProto *gp = graph_of(o);
    for (size_t i = 0; i < gp->n_initializer; i++)
        if (same(gp->initializer[i]->name, value))
            return scalar_of(gp->initializer[i], v);
    int p = onnx_producer(o, value);
    if (!onnx_is(o, p, "Constant"))
        return false;
    const Onnx__NodeProto *n = gp->node[p];
    const Onnx__AttributeProto *a = attr_find(n, "value");
    if (a && a->t)
        return scalar_of(a->t, v);
    a = attr_find(n, "value_float");
    if (a)
        *v = a->f;
    return a != NULL;
}

bool onnx_is_const(const Onnx *o, const char *value)
{
    const Onnx__GraphProto *gp = graph_of(o);
    for (size_t i = 0; i < gp->n_initializer; i++)
        if (same(gp->initializer[i]->name, value))
            return true;
    int p = onnx_producer(o, value);
    if (onnx_is(o, p, "Identity") && gp->node[p]->n_input == 1) /* torch's shared weights */
        return onnx_is_const(o, gp->node[p]->input[0]);
    return onnx_is(o, p, "Constant");
}
