/* onnx.c: an ONNX model (opsets 9 to 17) into the graph IR.
 *
 * Takes a .onnx path, gives a Graph whose activations carry per-sample
 * shapes (the batch dimension stripped) and whose parameters are the
 * model's float32 initializers, under their own names. First every node is
 * checked against the table of supported operators and attributes, so that
 * all unsupported nodes are reported at once; then nodes are lowered in
 * order: those whose inputs are all constant are folded (onnx_fold.c), the
 * rest become IR nodes. Errors read `model.onnx: error: node 'Conv_3'
 * (Conv): ...` (ONNX has no line numbers). */
#include "onnx.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the supported operators: name and attributes (name:type) ---- */

typedef struct {
    const char *op;
    const char *attrs; /* "name:type ..."; types f i s t fs is */
} OnnxOp;

static const OnnxOp supported[] = {
    {"Conv", "auto_pad:s dilations:is group:i kernel_shape:is pads:is strides:is"},
    {"MaxPool", "auto_pad:s ceil_mode:i dilations:is kernel_shape:is pads:is storage_order:i "
                "strides:is"},
    {"AveragePool", "auto_pad:s ceil_mode:i count_include_pad:i kernel_shape:is pads:is "
                    "strides:is"},
    {"GlobalAveragePool", ""},
    {"GlobalMaxPool", ""},
    {"BatchNormalization", "epsilon:f momentum:f spatial:i training_mode:i"},
    {"Gemm", "alpha:f beta:f transA:i transB:i broadcast:i"},
    {"MatMul", ""},
    {"Add", ""},
    {"Sum", ""},
    {"Sub", ""},
    {"Mul", ""},
    {"Div", ""},
    {"Relu", ""},
    {"LeakyRelu", "alpha:f"},
    {"Sigmoid", ""},
    {"Tanh", ""},
    {"Elu", "alpha:f"},
    {"Clip", "min:f max:f"},
    {"Softmax", "axis:i"},
    {"Flatten", "axis:i"},
    {"Reshape", "allowzero:i"},
    {"Concat", "axis:i"},
    {"Pad", "mode:s pads:is value:f"},
    {"Dropout", "ratio:f seed:i"},
    {"Identity", ""},
    {"Squeeze", "axes:is"},
    {"Unsqueeze", "axes:is"},
    /* Constants only (onnx_fold.c). */
    {"Constant", "value:t value_float:f value_floats:fs value_int:i value_ints:is"},
    {"Shape", "start:i end:i"},
    {"Gather", "axis:i"},
    {"Slice", "starts:is ends:is axes:is"},
    {"Cast", "to:i"},
    {"ConstantOfShape", "value:t"},
    {"Transpose", "perm:is"},
    {NULL, NULL},
};

static const OnnxOp *find_op(const char *op)
{
    for (const OnnxOp *p = supported; p->op; p++)
        if (strcmp(p->op, op) == 0)
            return p;
    return NULL;
}

/* ---- helpers shared with onnx_fold.c ---- */

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

static const char *attr_string(const Onnx__NodeProto *node, const char *name, const char *dflt,
                               char *buf, size_t size)
{
    const Onnx__AttributeProto *a = attr_find(node, name);
    if (!a)
        return dflt;
    size_t n = a->s.len < size - 1 ? a->s.len : size - 1;
    memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return buf;
}

void node_error(Onnx *o, const Onnx__NodeProto *node, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(o->loc, "node '%s' (%s): %s", node_label(node), node->op_type, msg);
}

/* ---- the value table: names to constants and activations ---- */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int slot_of(const Onnx *o, const char *name)
{
    uint32_t mask = (uint32_t)o->nslot - 1;
    for (uint32_t i = hash_name(name) & mask;; i = (i + 1) & mask)
        if (o->slot[i] < 0 || strcmp(o->v[o->slot[i]].name, name) == 0)
            return (int)i;
}

static Value *value_get(Onnx *o, const char *name)
{
    if (!o->nslot || !name)
        return NULL;
    int s = slot_of(o, name);
    return o->slot[s] < 0 ? NULL : &o->v[o->slot[s]];
}

/* Adds `name` (V_NONE) and returns it; keeps the table at most half full. */
static Value *value_add(Onnx *o, const char *name)
{
    if (2 * (o->nv + 1) > o->nslot) {
        int n = o->nslot ? 2 * o->nslot : 64;
        free(o->slot);
        o->slot = xmalloc((size_t)n * sizeof *o->slot);
        memset(o->slot, -1, (size_t)n * sizeof *o->slot);
        o->nslot = n;
        for (int i = 0; i < o->nv; i++)
            o->slot[slot_of(o, o->v[i].name)] = i;
    }
    grow_array(&o->v, &o->vcap, o->nv + 1, sizeof *o->v);
    Value *v = &o->v[o->nv];
    memset(v, 0, sizeof *v);
    v->name = xstrdup(name);
    v->tensor = -1;
    o->slot[slot_of(o, name)] = o->nv++;
    return v;
}

/* Defines a node's output `name`; SSA forbids defining it twice. */
static Value *define(Onnx *o, const Onnx__NodeProto *node, const char *name)
{
    Value *v = value_get(o, name);
    if (v && v->kind != V_NONE) {
        node_error(o, node, "output '%s' is already defined", name);
        return NULL;
    }
    return v ? v : value_add(o, name);
}

/* ---- model header, inputs and initializers ---- */

static bool check_header(Onnx *o, const Onnx__ModelProto *m)
{
    if (!m->has_ir_version || m->ir_version < 3 || m->ir_version > 10) {
        diag_error(o->loc, "unsupported ONNX IR version %lld (3 to 10 are supported)",
                   (long long)m->ir_version);
        return false;
    }
    o->opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *op = m->opset_import[i];
        if (!op->domain || !*op->domain || strcmp(op->domain, "ai.onnx") == 0)
            o->opset = (int)(op->version < 0 || op->version > 1000 ? -2 : op->version);
    }
    if (o->opset < 9 || o->opset > 17) {
        diag_error(o->loc, "the model imports %s of the default ONNX domain; opsets 9 to 17 are "
                   "supported", o->opset == -1 ? "no opset" : "an unsupported opset");
        return false;
    }
    if (!m->graph) {
        diag_error(o->loc, "the model has no graph");
        return false;
    }
    return true;
}

static const char *attr_type_code(int type)
{
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "f";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "i";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "s";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "t";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "fs";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "is";
    default: return "?";
    }
}

/* Is `name:type` in the space-separated list? Sets *known if the name is. */
static bool attr_allowed(const char *list, const char *name, const char *type, bool *known)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, " ");
        const char *colon = memchr(p, ':', len);
        if (colon && (size_t)(colon - p) == n && strncmp(p, name, n) == 0) {
            *known = true;
            size_t tl = len - n - 1;
            if (strlen(type) == tl && strncmp(colon + 1, type, tl) == 0)
                return true;
        }
        p += len;
        while (*p == ' ')
            p++;
    }
    return false;
}

/* Reports everything unsupported about one node; false if anything is. */
static bool check_node(Onnx *o, const Onnx__NodeProto *node)
{
    if (!node->op_type) {
        diag_error(o->loc, "node '%s' has no operator type", node_label(node));
        return false;
    }
    if (node->domain && *node->domain && strcmp(node->domain, "ai.onnx") != 0) {
        node_error(o, node, "operator domain '%s' is not supported", node->domain);
        return false;
    }
    const OnnxOp *op = find_op(node->op_type);
    if (!op) {
        node_error(o, node, "unsupported operator");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < node->n_attribute; i++) {
        const Onnx__AttributeProto *a = node->attribute[i];
        const char *name = a->name ? a->name : "";
        bool known = false;
        if (!attr_allowed(op->attrs, name, attr_type_code(a->type), &known)) {
            node_error(o, node, known ? "attribute '%s' has the wrong type"
                                      : "unsupported attribute '%s'", name);
            ok = false;
        }
    }
    if (node->n_output < 1 || !node->output[0] || !*node->output[0]) {
        node_error(o, node, "has no output");
        return false;
    }
    for (size_t i = 1; i < node->n_output; i++) {
        Value *v = value_get(o, node->output[i]);
        if (v && v->uses > 0) {
            node_error(o, node, "its output %zu ('%s') is used; only the first output is "
                       "supported", i, node->output[i]);
            ok = false;
        }
    }
    return ok;
}

/* Counts how often each value is read (graph outputs included). */
static void count_uses(Onnx *o, const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t j = 0; j < gp->node[i]->n_input; j++) {
            const char *name = gp->node[i]->input[j];
            if (!name || !*name)
                continue;
            Value *v = value_get(o, name);
            (v ? v : value_add(o, name))->uses++;
        }
    for (size_t i = 0; i < gp->n_node; i++) /* defined now: the table must not move later */
        for (size_t j = 0; j < gp->node[i]->n_output; j++)
            if (gp->node[i]->output[j] && !value_get(o, gp->node[i]->output[j]))
                value_add(o, gp->node[i]->output[j]);
    for (size_t i = 0; i < gp->n_output; i++) {
        if (!gp->output[i]->name)
            continue;
        Value *v = value_get(o, gp->output[i]->name);
        (v ? v : value_add(o, gp->output[i]->name))->uses++;
    }
}

static bool add_initializers(Onnx *o, const Onnx__GraphProto *gp)
{
    bool ok = true;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        if (!t->name || !*t->name) {
            diag_error(o->loc, "initializer %zu has no name", i);
            ok = false;
            continue;
        }
        Value *v = value_get(o, t->name);
        if (v && v->kind != V_NONE) {
            diag_error(o->loc, "initializer '%s' is defined twice", t->name);
            ok = false;
            continue;
        }
        char *what = xasprintf("initializer '%s'", t->name);
        Const c;
        if (onnx_tensor_const(o, t, what, &c)) {
            v = v ? v : value_add(o, t->name);
            v->kind = V_CONST;
            v->c = c;
            v->c.init = true;
        } else {
            ok = false;
        }
        free(what);
    }
    if (gp->n_sparse_initializer) {
        diag_error(o->loc, "sparse initializers are not supported");
        ok = false;
    }
    return ok;
}

static bool add_input(Onnx *o, const Onnx__GraphProto *gp)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *name = gp->input[i]->name;
        Value *v = name ? value_get(o, name) : NULL;
        if (v && v->kind == V_CONST)
            continue; /* old exports list initializers as inputs too */
        if (in) {
            diag_error(o->loc, "the model has more than one input ('%s', '%s'); one is supported",
                       in->name, name ? name : "?");
            return false;
        }
        in = gp->input[i];
    }
    if (!in || !in->name || !*in->name) {
        diag_error(o->loc, "the model has no input");
        return false;
    }
    const Onnx__TypeProto *tp = in->type;
    const Onnx__TensorShapeProto *sp =
        tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type
            ? tp->tensor_type->shape
            : NULL;
    if (!sp || tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        diag_error(o->loc, "input '%s' must be a float32 tensor with a known shape", in->name);
        return false;
    }
    if (sp->n_dim < 2 || sp->n_dim > 4) {
        diag_error(o->loc, "input '%s' has rank %zu; expected [N, F], [N, C, L] or [N, C, H, W]",
                   in->name, sp->n_dim);
        return false;
    }
    Shape s = {(int)sp->n_dim - 1, {0}};
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        bool known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (i == 0) {
            o->g->batch_hint = known && d->dim_value > 0 && d->dim_value <= 1 << 20
                                   ? (int)d->dim_value : 0;
            continue;
        }
        if (!known || d->dim_value <= 0) {
            diag_error(o->loc, "input '%s': dimension %zu must be a positive number (only the "
                       "batch dimension may be symbolic)", in->name, i);
            return false;
        }
        s.d[i - 1] = d->dim_value;
    }
    if (checked_numel(o, &s, "the input") < 0)
        return false;
    Value *v = value_get(o, in->name);
    v = v ? v : value_add(o, in->name);
    v->kind = V_ACT;
    v->shape = s;
    v->tensor = graph_add_tensor(o->g, in->name, T_ACT, o->loc);
    o->g->t[v->tensor].shape = s;
    o->g->input = v->tensor;
    return true;
}

/* ---- building IR nodes ---- */

/* A tensor name not yet in the graph, based on `base`. */
static char *unique_name(Graph *g, const char *base)
{
    char *name = xstrdup(base);
    for (int k = 1; graph_find_tensor(g, name) >= 0; k++) {
        free(name);
        name = xasprintf("%s_%d", base, k);
    }
    return name;
}

/* The IR tensor holding float data `data` of shape s, named `name` when
 * that name is free or already holds the same data (a shared weight). */
static int make_param(Onnx *o, const char *name, TensorKind kind, const Shape *s,
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
    memcpy(g->t[t].data, data, (size_t)n * sizeof *data);
    return t;
}

/* A constant operand as an IR tensor: parameters for initializers. */
static int const_param(Onnx *o, const Value *v, TensorKind kind)
{
    return make_param(o, v->name, v->c.init ? kind : T_CONST, &v->c.shape, v->c.f);
}

/* Adds an IR node for ONNX node `node` writing value `out` with the
 * per-sample shape s. */
static Node *add_node(Onnx *o, const Onnx__NodeProto *node, int op, const char *suffix,
                      Value **in, int nin, Value *out, const Shape *s)
{
    int ids[64];
    for (int i = 0; i < nin; i++)
        ids[i] = in[i]->tensor;
    char *base = xasprintf("%s%s", node_label(node), suffix);
    char *name = unique_name(o->g, base);
    int id = graph_add_node(o->g, op, name, o->loc, ids, nin);
    free(name);
    free(base);
    Node *n = &o->g->n[id];
    o->g->t[n->out].shape = *s;
    out->kind = V_ACT;
    out->tensor = n->out;
    out->shape = *s;
    return n;
}

static void set_param(Node *n, int slot, int t)
{
    n->param[slot] = t;
    if (n->nparam <= slot)
        n->nparam = slot + 1;
}

/* ---- lowering, one function per operator family ---- */

typedef struct {
    Onnx *o;
    const Onnx__NodeProto *node;
    Value **in;
    int nin;
    Value *out;
} Lower;

static bool fail(Lower *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(Lower *l, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    node_error(l->o, l->node, "%s", msg);
    return false;
}

static Value *act_in(Lower *l, int i)
{
    if (i >= l->nin || !l->in[i] || l->in[i]->kind != V_ACT) {
        fail(l, "input %d must be an activation (computed from the model's input)", i);
        return NULL;
    }
    return l->in[i];
}

static Value *float_in(Lower *l, int i, bool optional)
{
    if (i >= l->nin || !l->in[i]) {
        if (!optional)
            fail(l, "input %d is missing", i);
        return NULL;
    }
    if (l->in[i]->kind != V_CONST || l->in[i]->c.dtype != CONST_F32) {
        fail(l, "input %d ('%s') must be a float32 constant or initializer", i, l->in[i]->name);
        return NULL;
    }
    return l->in[i];
}

static char *shape_text(const Shape *s, char *buf, size_t size)
{
    return shape_str(s, buf, size);
}

/* Reads the spatial attribute `name` (count `ns`) into v, default dflt. */
static bool spatial_ints(Lower *l, const char *name, int64_t dflt, int64_t *v, int count)
{
    const int64_t *a = NULL;
    int n = attr_ints(l->node, name, &a);
    for (int i = 0; i < count; i++)
        v[i] = dflt;
    if (n < 0)
        return true;
    if (n != count)
        return fail(l, "attribute '%s' has %d values, expected %d", name, n, count);
    for (int i = 0; i < count; i++) {
        if (a[i] < (dflt == 0 ? 0 : 1) || a[i] > 1 << 20)
            return fail(l, "attribute '%s' has the unsupported value %lld", name,
                        (long long)a[i]);
        v[i] = a[i];
    }
    return true;
}

/* The geometry of a conv or pool window over `ns` spatial dims. */
typedef struct {
    int ns;
    int64_t k[2], s[2], d[2], pb[2], pe[2];
} Window;

static bool window(Lower *l, const Shape *x, const int64_t *kernel, Window *w)
{
    w->ns = x->rank - 1;
    if (w->ns < 1 || w->ns > 2)
        return fail(l, "input has %d spatial dimensions; 1 or 2 are supported", w->ns);
    int64_t pads[4];
    if (!spatial_ints(l, "strides", 1, w->s, w->ns) ||
        !spatial_ints(l, "dilations", 1, w->d, w->ns) ||
        !spatial_ints(l, "pads", 0, pads, 2 * w->ns))
        return false;
    char buf[32];
    const char *ap = attr_string(l->node, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int i = 0; i < w->ns; i++) {
        w->k[i] = kernel[i];
        int64_t in = x->d[1 + i], span = (w->k[i] - 1) * w->d[i] + 1;
        if (strcmp(ap, "NOTSET") == 0) {
            w->pb[i] = pads[i];
            w->pe[i] = pads[w->ns + i];
        } else if (strcmp(ap, "VALID") == 0) {
            w->pb[i] = w->pe[i] = 0;
        } else if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
            int64_t out = (in + w->s[i] - 1) / w->s[i];
            int64_t total = (out - 1) * w->s[i] + span - in;
            total = total < 0 ? 0 : total;
            int64_t small = total / 2;
            w->pb[i] = ap[5] == 'U' ? small : total - small;
            w->pe[i] = total - w->pb[i];
        } else {
            return fail(l, "auto_pad '%s' is not supported", ap);
        }
    }
    return true;
}

static bool window_out(Lower *l, const Window *w, const Shape *x, bool ceil_mode, Shape *out)
{
    *out = *x;
    for (int i = 0; i < w->ns; i++) {
        int64_t in = x->d[1 + i], span = (w->k[i] - 1) * w->d[i] + 1;
        int64_t room = in + w->pb[i] + w->pe[i] - span;
        if (room < 0)
            return fail(l, "the window (%lld) is larger than the padded input (%lld)",
                        (long long)span, (long long)(in + w->pb[i] + w->pe[i]));
        out->d[1 + i] = (ceil_mode ? (room + w->s[i] - 1) / w->s[i] : room / w->s[i]) + 1;
        /* PyTorch (and the IR): no window may start in the end padding. */
        if (ceil_mode && (out->d[1 + i] - 1) * w->s[i] >= in + w->pb[i])
            out->d[1 + i]--;
    }
    return true;
}

/* Window geometry into the IR's [H, W] arrays (1-D uses index 1). */
static void window_attrs(Node *n, const Window *w)
{
    int off = 2 - w->ns;
    for (int i = 0; i < w->ns; i++) {
        n->a.kernel[off + i] = (int)w->k[i];
        n->a.stride[off + i] = (int)w->s[i];
        n->a.dilation[off + i] = (int)w->d[i];
        n->a.pad[off + i] = (int)w->pb[i];
        n->a.pad[2 + off + i] = (int)w->pe[i];
    }
}

static bool lower_conv(Lower *l)
{
    Value *x = act_in(l, 0), *w = x ? float_in(l, 1, false) : NULL;
    Value *b = w ? float_in(l, 2, true) : NULL;
    if (!w || (!b && l->nin > 2 && l->in[2]))
        return false;
    const Shape *xs = &x->shape, *ws = &w->c.shape;
    int64_t group = attr_int(l->node, "group", 1);
    char s1[64], s2[64];
    if (ws->rank != xs->rank + 1 || group < 1 || xs->d[0] % group ||
        ws->d[1] * group != xs->d[0] || ws->d[0] % group)
        return fail(l, "weight '%s' of shape %s does not fit input %s with group %lld",
                    w->name, shape_text(ws, s1, sizeof s1), shape_text(xs, s2, sizeof s2),
                    (long long)group);
    const int64_t *ks = NULL;
    int nk = attr_ints(l->node, "kernel_shape", &ks);
    for (int i = 0; i < nk; i++)
        if (nk != xs->rank - 1 || ks[i] != ws->d[2 + i])
            return fail(l, "kernel_shape does not match the weight's shape");
    if (b && (b->c.shape.rank != 1 || b->c.shape.d[0] != ws->d[0]))
        return fail(l, "bias '%s' must have shape [%lld]", b->name, (long long)ws->d[0]);
    Window win;
    Shape out;
    if (!window(l, xs, ws->d + 2, &win) || !window_out(l, &win, xs, false, &out))
        return false;
    out.d[0] = ws->d[0];
    Node *n = add_node(l->o, l->node, OP_CONV, "", &x, 1, l->out, &out);
    window_attrs(n, &win);
    n->a.groups = (int)group;
    n->a.filters = (int)ws->d[0];
    n->a.bias = b != NULL;
    set_param(n, 0, const_param(l->o, w, T_PARAM));
    if (b)
        set_param(n, 1, const_param(l->o, b, T_PARAM));
    return true;
}

static bool lower_pool(Lower *l)
{
    bool avg = strcmp(l->node->op_type, "AveragePool") == 0;
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    const int64_t *ks = NULL;
    int nk = attr_ints(l->node, "kernel_shape", &ks);
    if (nk != x->shape.rank - 1)
        return fail(l, "kernel_shape must have %d values", x->shape.rank - 1);
    for (int i = 0; i < nk; i++)
        if (ks[i] < 1 || ks[i] > 1 << 20)
            return fail(l, "bad kernel_shape");
    Window win;
    Shape out;
    bool ceil_mode = attr_int(l->node, "ceil_mode", 0) != 0;
    if (!window(l, &x->shape, ks, &win) || !window_out(l, &win, &x->shape, ceil_mode, &out))
        return false;
    for (int i = 0; i < win.ns; i++) {
        /* End padding no window reaches changes nothing: PyTorch's opset 9
         * export of ceil_mode pads the end by up to a stride more. */
        int64_t in = x->shape.d[1 + i], span = (win.k[i] - 1) * win.d[i] + 1;
        int64_t reached = (out.d[1 + i] - 1) * win.s[i] + span - win.pb[i] - in;
        if (win.pe[i] > reached)
            win.pe[i] = reached < 0 ? 0 : reached;
        if (win.pb[i] >= win.k[i] || win.pe[i] >= win.k[i])
            return fail(l, "padding must be smaller than the kernel");
    }
    Node *n = add_node(l->o, l->node, avg ? OP_AVGPOOL : OP_MAXPOOL, "", &x, 1, l->out, &out);
    window_attrs(n, &win);
    n->a.ceil_mode = ceil_mode;
    n->a.count_include_pad = avg && attr_int(l->node, "count_include_pad", 0) != 0;
    return true;
}

static bool lower_global_pool(Lower *l)
{
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    if (x->shape.rank < 2)
        return fail(l, "input must have spatial dimensions");
    Shape out = x->shape;
    for (int i = 1; i < out.rank; i++)
        out.d[i] = 1;
    bool avg = strcmp(l->node->op_type, "GlobalAveragePool") == 0;
    add_node(l->o, l->node, avg ? OP_GLOBAL_AVGPOOL : OP_GLOBAL_MAXPOOL, "", &x, 1, l->out, &out);
    return true;
}

static bool lower_batchnorm(Lower *l)
{
    Value *x = act_in(l, 0);
    Value *p[4] = {NULL};
    for (int i = 0; i < 4; i++)
        if (!x || !(p[i] = float_in(l, 1 + i, false)))
            return false;
    if (l->node->n_output > 1 || attr_int(l->node, "training_mode", 0))
        return fail(l, "training mode is not supported");
    for (int i = 0; i < 4; i++)
        if (p[i]->c.shape.rank != 1 || p[i]->c.shape.d[0] != x->shape.d[0])
            return fail(l, "'%s' must have shape [%lld]", p[i]->name, (long long)x->shape.d[0]);
    Node *n = add_node(l->o, l->node, OP_BATCHNORM, "", &x, 1, l->out, &x->shape);
    n->a.eps = attr_float(l->node, "epsilon", 1e-5f);
    n->a.momentum = 1 - attr_float(l->node, "momentum", 0.9f); /* ONNX keeps 0.9 of the old */
    for (int i = 0; i < 4; i++)
        set_param(n, i, const_param(l->o, p[i], i < 2 ? T_PARAM : T_BUFFER));
    return true;
}

/* A dense layer y = W x (+ bias) with W [out, in] given. */
static Node *dense_node(Lower *l, Value *x, int weight, int64_t out_features)
{
    Shape out = {1, {out_features}};
    Node *n = add_node(l->o, l->node, OP_DENSE, "", &x, 1, l->out, &out);
    n->a.filters = (int)out_features;
    n->a.bias = false;
    set_param(n, 0, weight);
    return n;
}

/* Broadcasts constant c (scalar, [n] or [1, n]) to n floats times scale;
 * NULL if its shape does not fit. */
static float *vector_of(const Const *c, int64_t n, float scale)
{
    bool fits = c->n == 1 || (c->n == n && (c->shape.rank == 1 ||
                                            (c->shape.rank == 2 && c->shape.d[0] == 1)));
    if (!fits)
        return NULL;
    float *v = xmalloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * c->f[c->n == 1 ? 0 : i];
    return v;
}

static bool lower_gemm(Lower *l)
{
    Value *a = act_in(l, 0), *b = a ? float_in(l, 1, false) : NULL;
    Value *c = b ? float_in(l, 2, true) : NULL;
    if (!b || (!c && l->nin > 2 && l->in[2]))
        return false;
    if (attr_int(l->node, "transA", 0))
        return fail(l, "attribute 'transA' = 1 is not supported (it mixes the batch)");
    bool tb = attr_int(l->node, "transB", 0) != 0;
    float alpha = attr_float(l->node, "alpha", 1), beta = attr_float(l->node, "beta", 1);
    const Shape *bs = &b->c.shape;
    int64_t in = a->shape.d[0];
    if (a->shape.rank != 1)
        return fail(l, "input must be flat (one dimension per sample), got rank %d",
                    a->shape.rank);
    if (bs->rank != 2 || bs->d[tb ? 1 : 0] != in)
        return fail(l, "weight '%s' does not fit %lld input features", b->name, (long long)in);
    int64_t outf = bs->d[tb ? 0 : 1];
    Shape ws = {2, {outf, in}};
    float *w = xmalloc((size_t)(outf * in) * sizeof *w);
    for (int64_t i = 0; i < outf; i++)
        for (int64_t j = 0; j < in; j++)
            w[i * in + j] = alpha * (tb ? b->c.f[i * in + j] : b->c.f[j * outf + i]);
    /* Transpose(weight) + Gemm/MatMul: the original weight, by its name. */
    const char *name = !tb && b->c.transpose_of ? b->c.transpose_of : b->name;
    bool param = b->c.init || b->c.transpose_of;
    int wt = make_param(l->o, name, param ? T_PARAM : T_CONST, &ws, w);
    free(w);
    Node *n = dense_node(l, a, wt, outf);
    if (c) {
        float *bias = vector_of(&c->c, outf, beta);
        if (!bias)
            return fail(l, "bias '%s' must broadcast to [%lld] without the batch", c->name,
                        (long long)outf);
        Shape s = {1, {outf}};
        set_param(n, 1, make_param(l->o, c->name, c->c.init ? T_PARAM : T_CONST, &s, bias));
        n->a.bias = true;
        free(bias);
    }
    return true;
}

/* Does constant shape c broadcast onto per-sample shape s (with an
 * optional leading batch dimension of 1)? */
static bool const_broadcasts(const Shape *c, const Shape *s)
{
    int extra = c->rank - s->rank;
    if (extra > 1 || (extra == 1 && c->d[0] != 1))
        return false;
    for (int i = 0; i < s->rank; i++) {
        int ci = i + extra;
        if (ci >= 0 && c->d[ci] != 1 && c->d[ci] != s->d[i])
            return false;
    }
    return true;
}

/* Add(x, c) right after a dense layer without bias becomes its bias. */
static bool fold_bias(Lower *l, Value *x, Value *c)
{
    Graph *g = l->o->g;
    int p = g->t[x->tensor].producer;
    if (p < 0 || x->uses != 1 || g->n[p].op != OP_DENSE || g->n[p].a.bias)
        return false;
    Node *n = &g->n[p];
    float *bias = vector_of(&c->c, n->a.filters, 1);
    if (!bias)
        return false;
    Shape s = {1, {n->a.filters}};
    set_param(n, 1, make_param(l->o, c->name, c->c.init ? T_PARAM : T_CONST, &s, bias));
    n->a.bias = true;
    free(bias);
    l->out->kind = V_ACT;
    l->out->tensor = x->tensor;
    l->out->shape = x->shape;
    return true;
}

/* A constant operand of an elementwise node, made from c with
 * each value v turned into f(v) (Sub: -v, Div: 1/v). */
static int operand_param(Lower *l, Value *c, char how)
{
    if (how == 0)
        return const_param(l->o, c, T_PARAM);
    float *d = xmalloc((size_t)(c->c.n ? c->c.n : 1) * sizeof *d);
    for (int64_t i = 0; i < c->c.n; i++)
        d[i] = how == '-' ? -c->c.f[i] : 1 / c->c.f[i];
    char *name = xasprintf("%s.%s", c->name, how == '-' ? "neg" : "recip");
    int t = make_param(l->o, name, T_CONST, &c->c.shape, d);
    free(name);
    free(d);
    return t;
}

/* Add, Sum, Sub, Mul, Div: activations of one shape, at most one constant. */
static bool lower_binary(Lower *l)
{
    const char *op = l->node->op_type;
    bool mul = strcmp(op, "Mul") == 0 || strcmp(op, "Div") == 0;
    char how = strcmp(op, "Sub") == 0 ? '-' : strcmp(op, "Div") == 0 ? '/' : 0;
    Value *acts[64], *c = NULL;
    int na = 0;
    if (l->nin > 64)
        return fail(l, "too many inputs");
    for (int i = 0; i < l->nin; i++) {
        Value *v = l->in[i];
        if (!v)
            return fail(l, "input %d is missing", i);
        if (v->kind == V_ACT) {
            if (how && i > 0)
                return fail(l, "only a constant second operand is supported");
            acts[na++] = v;
        } else if (c || v->c.dtype != CONST_F32 || (how && i == 0)) {
            return fail(l, "constant operand '%s' is not supported here (one float32 constant, "
                        "second for Sub/Div)", v->name);
        } else {
            c = v;
        }
    }
    char s1[64], s2[64];
    for (int i = 1; i < na; i++)
        if (!shape_eq(&acts[i]->shape, &acts[0]->shape))
            return fail(l, "inputs of shapes %s and %s: broadcasting between activations is "
                        "not supported", shape_text(&acts[0]->shape, s1, sizeof s1),
                        shape_text(&acts[i]->shape, s2, sizeof s2));
    if (c && !const_broadcasts(&c->c.shape, &acts[0]->shape))
        return fail(l, "constant '%s' of shape %s does not broadcast to %s without growing it",
                    c->name, shape_text(&c->c.shape, s1, sizeof s1),
                    shape_text(&acts[0]->shape, s2, sizeof s2));
    if (na == 1 && !c) { /* Sum of one input */
        *l->out = (Value){.name = l->out->name, .kind = V_ACT, .tensor = acts[0]->tensor,
                          .shape = acts[0]->shape, .uses = l->out->uses};
        return true;
    }
    if (mul && na + (c != NULL) != 2)
        return fail(l, "takes exactly two operands");
    if (!mul && c && how != '-' && na == 1 && fold_bias(l, acts[0], c))
        return true;
    Node *n = add_node(l->o, l->node, mul ? OP_MUL : OP_ADD, "", acts, na, l->out,
                       &acts[0]->shape);
    if (c)
        set_param(n, 0, operand_param(l, c, how));
    return true;
}

static bool lower_matmul(Lower *l)
{
    Value *a = act_in(l, 0), *b = a ? float_in(l, 1, false) : NULL;
    if (!b)
        return false;
    if (a->shape.rank != 1 || b->c.shape.rank != 2 || b->c.shape.d[0] != a->shape.d[0])
        return fail(l, "only a flat input times a constant [in, out] matrix is supported");
    int64_t in = b->c.shape.d[0], outf = b->c.shape.d[1];
    Shape ws = {2, {outf, in}};
    float *w = xmalloc((size_t)(outf * in) * sizeof *w);
    for (int64_t i = 0; i < outf; i++)
        for (int64_t j = 0; j < in; j++)
            w[i * in + j] = b->c.f[j * outf + i];
    const char *name = b->c.transpose_of ? b->c.transpose_of : b->name;
    bool param = b->c.init || b->c.transpose_of;
    int wt = make_param(l->o, name, param ? T_PARAM : T_CONST, &ws, w);
    free(w);
    dense_node(l, a, wt, outf);
    return true;
}

static bool lower_activation(Lower *l)
{
    static const struct {
        const char *onnx;
        int op;
    } acts[] = {{"Relu", OP_RELU}, {"LeakyRelu", OP_LEAKY_RELU}, {"Sigmoid", OP_SIGMOID},
                {"Tanh", OP_TANH}, {"Elu", OP_ELU},              {"Clip", OP_CLIP}};
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    int op = -1;
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        if (strcmp(acts[i].onnx, l->node->op_type) == 0)
            op = acts[i].op;
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (op == OP_CLIP && l->o->opset < 11) {
        lo = attr_float(l->node, "min", lo);
        hi = attr_float(l->node, "max", hi);
    } else if (op == OP_CLIP) {
        for (int i = 1; i < 3; i++) {
            Value *b = float_in(l, i, true);
            if (!b && i < l->nin && l->in[i])
                return false;
            if (b && b->c.n != 1)
                return fail(l, "bound '%s' must be a scalar", b->name);
            if (b)
                *(i == 1 ? &lo : &hi) = b->c.f[0];
        }
    }
    Node *n = add_node(l->o, l->node, op, "", &x, 1, l->out, &x->shape);
    n->a.alpha = attr_float(l->node, "alpha", op == OP_ELU ? 1.0f : 0.01f);
    n->a.lo = lo;
    n->a.hi = hi;
    return true;
}

/* Per-sample reshape of x into s: flatten when s is flat. */
static Node *reshape_node(Lower *l, Value *x, const Shape *s, const char *suffix, Value *out)
{
    Node *n = add_node(l->o, l->node, s->rank == 1 ? OP_FLATTEN : OP_RESHAPE, suffix, &x, 1,
                       out, s);
    n->a.target = *s;
    return n;
}

static bool lower_softmax(Lower *l)
{
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    int rank = x->shape.rank + 1;
    int64_t axis = attr_int(l->node, "axis", l->o->opset < 13 ? 1 : -1);
    if (axis < -rank || axis >= rank)
        return fail(l, "axis %lld is out of range", (long long)axis);
    axis = axis < 0 ? axis + rank : axis;
    if (axis == 0)
        return fail(l, "softmax over the batch axis is not supported");
    if (l->o->opset >= 13 || axis == rank - 1) {
        Node *n = add_node(l->o, l->node, OP_SOFTMAX, "", &x, 1, l->out, &x->shape);
        n->a.axis = (int)axis - 1;
        return true;
    }
    /* Before opset 13: over the trailing dims from axis on, as one. */
    Shape flat = {0};
    int64_t pre = 1, post = 1;
    for (int i = 1; i < axis; i++)
        pre *= x->shape.d[i - 1];
    for (int i = (int)axis; i < rank; i++)
        post *= x->shape.d[i - 1];
    if (pre > 1)
        flat.d[flat.rank++] = pre;
    flat.d[flat.rank++] = post;
    Value v1 = {.name = l->out->name}, v2 = {.name = l->out->name};
    reshape_node(l, x, &flat, "_flat", &v1);
    Value *p1 = &v1;
    Node *n = add_node(l->o, l->node, OP_SOFTMAX, "_softmax", &p1, 1, &v2, &flat);
    n->a.axis = flat.rank - 1;
    Value *p2 = &v2;
    add_node(l->o, l->node, OP_RESHAPE, "", &p2, 1, l->out, &x->shape)->a.target = x->shape;
    return true;
}

static bool lower_flatten(Lower *l)
{
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    int rank = x->shape.rank + 1;
    int64_t axis = attr_int(l->node, "axis", 1);
    if (axis < 0)
        axis += rank;
    if (axis != 1)
        return fail(l, "axis %lld is not supported (only 1 keeps the batch apart)",
                    (long long)attr_int(l->node, "axis", 1));
    Shape s = {1, {shape_numel(&x->shape)}};
    reshape_node(l, x, &s, "", l->out);
    return true;
}

/* The per-sample shape a Reshape to full shape `t` gives, or false. */
static bool per_sample_target(Lower *l, const Value *x, const Const *t, Shape *s)
{
    int64_t numel = shape_numel(&x->shape), known = 1;
    bool allowzero = attr_int(l->node, "allowzero", 0) != 0;
    if (t->shape.rank != 1 || t->n < 2 || t->n > MAX_RANK)
        return fail(l, "target shape must have 2 to %d entries", MAX_RANK);
    int64_t first = t->i[0];
    bool batch = first == BATCH_DIM || (first == 0 && !allowzero) ||
                 (l->o->g->batch_hint > 0 && first == l->o->g->batch_hint);
    int infer = -1;
    s->rank = (int)t->n - 1;
    for (int i = 1; i < t->n; i++) {
        int64_t v = t->i[i];
        if (v == 0 && !allowzero)
            v = i - 1 < x->shape.rank ? x->shape.d[i - 1] : -2;
        if (v == -1 && infer < 0)
            infer = i - 1;
        else if (v < 0 || v == BATCH_DIM)
            return fail(l, "target shape entry %d (%lld) is not supported", i,
                        (long long)t->i[i]);
        else if (mul_overflows(known, v, &known))
            return fail(l, "target shape overflows");
        s->d[i - 1] = v;
    }
    if (!batch && !(first == -1 && infer < 0))
        return fail(l, "target shape's first entry (%lld) is not the batch size",
                    (long long)first);
    if (infer >= 0) {
        if (known == 0 || numel % known)
            return fail(l, "cannot infer the -1 entry");
        s->d[infer] = numel / known;
        known = numel;
    }
    if (known != numel)
        return fail(l, "cannot reshape %lld elements per sample into %lld", (long long)numel,
                    (long long)known);
    return true;
}

static bool lower_reshape(Lower *l)
{
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    if (l->nin < 2 || !l->in[1] || l->in[1]->kind != V_CONST || l->in[1]->c.dtype != CONST_I64)
        return fail(l, "the target shape must be a constant int64 tensor");
    Shape s;
    if (!per_sample_target(l, x, &l->in[1]->c, &s))
        return false;
    reshape_node(l, x, &s, "", l->out);
    return true;
}

/* Squeeze/Unsqueeze of an activation: a reshape that keeps the batch. */
static bool lower_squeeze(Lower *l)
{
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    bool un = l->node->op_type[0] == 'U';
    const int64_t *axes = NULL;
    int na;
    if (l->o->opset < 13) {
        na = attr_ints(l->node, "axes", &axes);
    } else if (l->nin > 1 && l->in[1]) {
        if (l->in[1]->kind != V_CONST || l->in[1]->c.dtype != CONST_I64)
            return fail(l, "axes must be a constant int64 tensor");
        axes = l->in[1]->c.i;
        na = (int)(l->in[1]->c.n > 8 ? 8 : l->in[1]->c.n);
    } else {
        na = -1;
    }
    int rank = x->shape.rank + 1, out_rank = un ? rank + (na > 0 ? na : 0) : rank;
    if ((un && na <= 0) || out_rank > MAX_RANK)
        return fail(l, un ? "needs axes" : "result rank too large");
    bool mark[2 * MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + out_rank : axes[i];
        if (a <= 0 || a >= out_rank)
            return fail(l, "axis %lld is not supported (the batch stays first)",
                        (long long)axes[i]);
        mark[a] = true;
    }
    Shape s = {0};
    for (int i = 1, j = 0; i < out_rank; i++) {
        if (un) {
            s.d[s.rank++] = mark[i] ? 1 : x->shape.d[j++];
            continue;
        }
        int64_t d = x->shape.d[i - 1];
        if (mark[i] && d != 1)
            return fail(l, "cannot squeeze axis %d of size %lld", i, (long long)d);
        if (!(na > 0 ? mark[i] : d == 1))
            s.d[s.rank++] = d;
    }
    if (s.rank == 0)
        s.d[s.rank++] = 1;
    reshape_node(l, x, &s, "", l->out);
    return true;
}

static bool lower_concat(Lower *l)
{
    Value *xs[64];
    if (l->nin < 1 || l->nin > 64)
        return fail(l, "takes 1 to 64 inputs");
    for (int i = 0; i < l->nin; i++)
        if (!(xs[i] = act_in(l, i)))
            return false;
    int rank = xs[0]->shape.rank + 1;
    int64_t axis = attr_int(l->node, "axis", 1);
    axis = axis < 0 ? axis + rank : axis;
    if (axis <= 0 || axis >= rank)
        return fail(l, "axis %lld is not supported", (long long)attr_int(l->node, "axis", 1));
    Shape s = xs[0]->shape;
    for (int i = 1; i < l->nin; i++) {
        const Shape *si = &xs[i]->shape;
        bool ok = si->rank == s.rank;
        for (int d = 0; ok && d < s.rank; d++)
            ok = d == axis - 1 || si->d[d] == s.d[d];
        if (!ok)
            return fail(l, "inputs differ in shape outside the concatenation axis");
        s.d[axis - 1] += si->d[axis - 1];
    }
    if (l->nin == 1) {
        *l->out = (Value){.name = l->out->name, .kind = V_ACT, .tensor = xs[0]->tensor,
                          .shape = xs[0]->shape, .uses = l->out->uses};
        return true;
    }
    Node *n = add_node(l->o, l->node, OP_CONCAT, "", xs, l->nin, l->out, &s);
    n->a.axis = (int)axis - 1;
    return true;
}

static bool lower_pad(Lower *l)
{
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    int rank = x->shape.rank + 1;
    int64_t pads[2 * MAX_RANK];
    float value = 0;
    char buf[32];
    const char *mode = attr_string(l->node, "mode", "constant", buf, sizeof buf);
    if (l->o->opset < 11) {
        const int64_t *p;
        if (attr_ints(l->node, "pads", &p) != 2 * rank)
            return fail(l, "attribute 'pads' must have %d values", 2 * rank);
        memcpy(pads, p, (size_t)(2 * rank) * sizeof *pads);
        value = attr_float(l->node, "value", 0);
    } else {
        if (l->nin < 2 || !l->in[1] || l->in[1]->kind != V_CONST ||
            l->in[1]->c.dtype != CONST_I64 || l->in[1]->c.n != 2 * rank)
            return fail(l, "pads must be a constant int64 tensor of %d values", 2 * rank);
        memcpy(pads, l->in[1]->c.i, (size_t)(2 * rank) * sizeof *pads);
        if (l->nin > 3 && l->in[3])
            return fail(l, "the axes input is not supported");
        if (l->nin > 2 && l->in[2]) {
            Value *cv = float_in(l, 2, false);
            if (!cv)
                return false;
            value = cv->c.n == 1 ? cv->c.f[0] : NAN;
        }
    }
    PadMode pm = strcmp(mode, "constant") == 0 ? PAD_ZEROS
                 : strcmp(mode, "reflect") == 0 ? PAD_REFLECT
                 : strcmp(mode, "edge") == 0    ? PAD_REPLICATE
                                                : (PadMode)-1;
    if ((int)pm < 0)
        return fail(l, "mode '%s' is not supported", mode);
    if (pm == PAD_ZEROS && value != 0)
        return fail(l, "constant padding with a value other than 0 is not supported");
    if (rank < 3 || rank > 4 || pads[0] || pads[1] || pads[rank] || pads[rank + 1])
        return fail(l, "only spatial padding of [N, C, L] or [N, C, H, W] is supported");
    bool any = false;
    for (int i = 0; i < 2 * rank; i++) {
        if (pads[i] < 0 || pads[i] > 1 << 20)
            return fail(l, "pad %lld is not supported", (long long)pads[i]);
        any |= pads[i] != 0;
    }
    if (!any) { /* PyTorch's zero Pad before AveragePool: nothing to do */
        *l->out = (Value){.name = l->out->name, .kind = V_ACT, .tensor = x->tensor,
                          .shape = x->shape, .uses = l->out->uses};
        return true;
    }
    Shape s = x->shape;
    for (int i = 2; i < rank; i++)
        s.d[i - 1] += pads[i] + pads[rank + i];
    Node *n = add_node(l->o, l->node, OP_PAD, "", &x, 1, l->out, &s);
    n->a.pad_mode = pm;
    int off = 4 - rank; /* 1-D uses index 1 */
    for (int i = 2; i < rank; i++) {
        n->a.pad[off + i - 2] = (int)pads[i];
        n->a.pad[2 + off + i - 2] = (int)pads[rank + i];
    }
    return true;
}

/* Identity and Dropout (inference): the output is the input. */
static bool lower_alias(Lower *l)
{
    Value *x = act_in(l, 0);
    if (!x)
        return false;
    *l->out = (Value){.name = l->out->name, .kind = V_ACT, .tensor = x->tensor,
                      .shape = x->shape, .uses = l->out->uses};
    return true;
}

static const struct {
    const char *op;
    bool (*lower)(Lower *l);
} lowerings[] = {
    {"Conv", lower_conv},
    {"MaxPool", lower_pool},
    {"AveragePool", lower_pool},
    {"GlobalAveragePool", lower_global_pool},
    {"GlobalMaxPool", lower_global_pool},
    {"BatchNormalization", lower_batchnorm},
    {"Gemm", lower_gemm},
    {"MatMul", lower_matmul},
    {"Add", lower_binary},
    {"Sum", lower_binary},
    {"Sub", lower_binary},
    {"Mul", lower_binary},
    {"Div", lower_binary},
    {"Relu", lower_activation},
    {"LeakyRelu", lower_activation},
    {"Sigmoid", lower_activation},
    {"Tanh", lower_activation},
    {"Elu", lower_activation},
    {"Clip", lower_activation},
    {"Softmax", lower_softmax},
    {"Flatten", lower_flatten},
    {"Reshape", lower_reshape},
    {"Squeeze", lower_squeeze},
    {"Unsqueeze", lower_squeeze},
    {"Concat", lower_concat},
    {"Pad", lower_pad},
    {"Dropout", lower_alias},
    {"Identity", lower_alias},
};

/* Is the name produced by some node of the graph (for a clearer error)? */
static bool produced_later(const Onnx__GraphProto *gp, const char *name)
{
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t j = 0; j < gp->node[i]->n_output; j++)
            if (gp->node[i]->output[j] && strcmp(gp->node[i]->output[j], name) == 0)
                return true;
    return false;
}

static bool lower_node(Onnx *o, const Onnx__GraphProto *gp, const Onnx__NodeProto *node)
{
    Value *in[64];
    int nin = (int)node->n_input;
    if (nin > 64) {
        node_error(o, node, "has %d inputs, more than 64", nin);
        return false;
    }
    Value *out = define(o, node, node->output[0]);
    if (!out)
        return false;
    bool all_const = true;
    for (int i = 0; i < nin; i++) {
        const char *name = node->input[i];
        in[i] = name && *name ? value_get(o, name) : NULL;
        if (name && *name && (!in[i] || in[i]->kind == V_NONE)) {
            node_error(o, node, "input '%s' is not defined before it%s", name,
                       produced_later(gp, name) ? " (the graph has a cycle or is not in "
                                                  "topological order)" : "");
            return false;
        }
        all_const &= !in[i] || in[i]->kind == V_CONST;
    }
    const char *op = node->op_type;
    if ((all_const && fold_supported(op)) || strcmp(op, "Shape") == 0) {
        Const c;
        if (!fold_node(o, node, in, nin, &c)) {
            const_free(&c); /* what a failed fold allocated */
            return false;
        }
        out->kind = V_CONST;
        out->c = c;
        return true;
    }
    Lower l = {o, node, in, nin, out};
    for (size_t i = 0; i < sizeof lowerings / sizeof *lowerings; i++)
        if (strcmp(lowerings[i].op, op) == 0) {
            bool ok = lowerings[i].lower(&l);
            if (ok && out->kind == V_ACT && checked_numel(o, &out->shape, node_label(node)) < 0)
                ok = false;
            if (!ok)
                out->kind = V_NONE;
            return ok;
        }
    node_error(o, node, "supported only on constants; here its input depends on the model's "
               "input");
    return false;
}

static bool set_output(Onnx *o, const Onnx__GraphProto *gp)
{
    if (gp->n_output != 1 || !gp->output[0]->name) {
        diag_error(o->loc, "the model has %zu outputs; exactly one is supported", gp->n_output);
        return false;
    }
    Value *v = value_get(o, gp->output[0]->name);
    if (!v || v->kind != V_ACT) {
        diag_error(o->loc, "output '%s' is %s", gp->output[0]->name,
                   v && v->kind == V_CONST ? "a constant" : "not computed by any node");
        return false;
    }
    if (v->tensor == o->g->input) { /* the model is the identity */
        int id = graph_add_node(o->g, OP_IDENTITY, "identity", o->loc, &v->tensor, 1);
        o->g->t[o->g->n[id].out].shape = v->shape;
        o->g->output = o->g->n[id].out;
    } else {
        o->g->output = v->tensor;
    }
    return true;
}

static void onnx_free(Onnx *o)
{
    for (int i = 0; i < o->nv; i++) {
        free(o->v[i].name);
        const_free(&o->v[i].c);
    }
    free(o->v);
    free(o->slot);
}

static bool load_graph(Onnx *o, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *gp = m->graph;
    o->g->name = xstrdup(gp->name && *gp->name ? gp->name : "model");
    count_uses(o, gp);
    bool ok = true;
    for (size_t i = 0; i < gp->n_node; i++)
        ok &= check_node(o, gp->node[i]);
    if (!ok || !add_initializers(o, gp) || !add_input(o, gp))
        return false;
    for (size_t i = 0; i < gp->n_node; i++)
        if (!lower_node(o, gp, gp->node[i]))
            return false;
    return set_output(o, gp);
}

Graph *onnx_load(const char *path)
{
    Onnx o = {.path = path, .loc = {path, 0, 0}};
    int errors = diag_error_count();
    Onnx__ModelProto *m = onnx_read_model(path);
    if (!m)
        return NULL;
    o.model = m;
    o.g = graph_new(path);
    bool ok = check_header(&o, m) && load_graph(&o, m);
    onnx_free(&o);
    onnx__model_proto__free_unpacked(m, NULL);
    if (!ok || diag_error_count() > errors) {
        graph_free(o.g);
        return NULL;
    }
    return o.g;
}
