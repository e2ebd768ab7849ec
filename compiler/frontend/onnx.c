/* onnx.c: an ONNX model (opsets 1 to 17) into the graph IR.
 *
 * Takes a .onnx path, gives a Graph whose activations carry per-sample
 * shapes (the batch dimension stripped) and whose parameters are the
 * model's float32 initializers, under their own names. First every node is
 * checked against the op types and attributes the operator families declare
 * (OnnxKind rows, ops/registry.c), so that all unsupported nodes are
 * reported at once, but for the subgraphs a family's pattern lowers as one
 * (torch's decomposed LayerNorm); then nodes are handed in order to their
 * rows (a pattern's at its last node): those
 * whose inputs are all constant are folded (the row's `fold`), the rest
 * lowered into IR nodes. This file knows no operator: it keeps the table of
 * named values and walks the graph. Errors read `model.onnx: error: node
 * 'Conv_3' (Conv): ...` (ONNX has no line numbers).
 *
 * The input's axis 0 is read as the batch; a model that mixes it (a family
 * refused a node with onnx_fail_batch, or the input is a vector) and whose
 * input is static is read again in whole-tensor mode: one sample of the
 * input's full shape, every ONNX axis a sample axis (onnx_sample_axis),
 * the first reading's diagnostics dropped. --no-batch reads it so at once. */
#include "kit/onnx_kit.h"
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

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

static OnnxValue *value_get(Onnx *o, const char *name)
{
    if (!o->nslot || !name)
        return NULL;
    int s = slot_of(o, name);
    return o->slot[s] < 0 ? NULL : &o->v[o->slot[s]];
}

/* Adds `name` (OV_NONE) and returns it; keeps the table at most half full. */
static OnnxValue *value_add(Onnx *o, const char *name)
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
    OnnxValue *v = &o->v[o->nv];
    memset(v, 0, sizeof *v);
    v->name = xstrdup(name);
    v->tensor = -1;
    o->slot[slot_of(o, name)] = o->nv++;
    return v;
}

/* Defines a node's output `name`; SSA forbids defining it twice. */
static OnnxValue *define(Onnx *o, const Onnx__NodeProto *node, const char *name)
{
    OnnxValue *v = value_get(o, name);
    if (v && v->kind != OV_NONE) {
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
    if (o->opset < 1 || o->opset > 17) {
        diag_error(o->loc, "the model imports %s of the default ONNX domain; opsets 1 to 17 are "
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

/* Is `name:type` in the space-separated list, for this version of the
 * operator (an entry `name:type<V` is for versions before V)? Sets *known
 * if the name is. */
static bool attr_allowed(const char *list, int version, const char *name, const char *type,
                         bool *known)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, " ");
        const char *colon = memchr(p, ':', len);
        const char *until = memchr(p, '<', len);
        bool in_version = !until || version < atoi(until + 1);
        if (in_version && colon && (size_t)(colon - p) == n && strncmp(p, name, n) == 0) {
            *known = true;
            size_t tl = (size_t)((until ? until : p + len) - colon - 1);
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
    const OnnxKind *op = onnx_kind_find(node->op_type);
    if (!op) {
        node_error(o, node, "unsupported operator");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < node->n_attribute; i++) {
        const Onnx__AttributeProto *a = node->attribute[i];
        const char *name = a->name ? a->name : "";
        bool known = false;
        if (!attr_allowed(op->attrs, onnx_version(op, o->opset), name, attr_type_code(a->type),
                          &known)) {
            node_error(o, node, known ? "attribute '%s' has the wrong type"
                                      : "unsupported attribute '%s'", name);
            ok = false;
        }
    }
    for (size_t i = 1; i < node->n_output && !(op->flags & ONNX_MULTI_OUTPUT); i++) {
        OnnxValue *v = value_get(o, node->output[i]);
        if (v && v->uses > 0) {
            node_error(o, node, "its output %zu ('%s') is used; only the first output is "
                       "supported", i, node->output[i]);
            ok = false;
        }
    }
    return ok;
}

/* Every node names its first output: the patterns follow values from node
 * to node before any node is checked. */
static bool check_outputs(Onnx *o, const Onnx__GraphProto *gp)
{
    bool ok = true;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *node = gp->node[i];
        if (node->n_output < 1 || !node->output[0] || !*node->output[0]) {
            diag_error(o->loc, "node '%s' (%s) has no output", node_label(node),
                       node->op_type ? node->op_type : "?");
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
            OnnxValue *v = value_get(o, name);
            (v ? v : value_add(o, name))->uses++;
        }
    for (size_t i = 0; i < gp->n_node; i++) /* defined now: the table must not move later */
        for (size_t j = 0; j < gp->node[i]->n_output; j++)
            if (gp->node[i]->output[j] && !value_get(o, gp->node[i]->output[j]))
                value_add(o, gp->node[i]->output[j]);
    for (size_t i = 0; i < gp->n_output; i++) {
        if (!gp->output[i]->name)
            continue;
        OnnxValue *v = value_get(o, gp->output[i]->name);
        (v ? v : value_add(o, gp->output[i]->name))->uses++;
    }
}

static bool add_initializers(Onnx *o, const Onnx__GraphProto *gp)
{
    bool ok = true;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *t = gp->initializer[i];
        if (!t->name || !*t->name) {
            diag_error(o->loc, "initializer %zu has no name", i);
            ok = false;
            continue;
        }
        OnnxValue *v = value_get(o, t->name);
        if (v && v->kind != OV_NONE) {
            diag_error(o->loc, "initializer '%s' is defined twice", t->name);
            ok = false;
            continue;
        }
        char *what = xasprintf("initializer '%s'", t->name);
        Const c;
        if (onnx_tensor_const(o, t, what, &c)) {
            v = v ? v : value_add(o, t->name);
            v->kind = OV_CONST;
            v->c = c;
            v->c.init = true;
            /* Read once: the proto's bytes go now, so that loading holds
             * the weights twice at most (here, then the graph's), not
             * three times (bench/rss: resnet18 142 -> 96 MB). */
            free(t->raw_data.data);
            t->raw_data.data = NULL;
            t->raw_data.len = 0;
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

/* The model's one input (initializers listed as inputs aside), or NULL. */
static const Onnx__ValueInfoProto *find_input(Onnx *o, const Onnx__GraphProto *gp)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *name = gp->input[i]->name;
        OnnxValue *v = name ? value_get(o, name) : NULL;
        if (v && v->kind == OV_CONST)
            continue; /* old exports list initializers as inputs too */
        if (in) {
            diag_error(o->loc, "the model has more than one input ('%s', '%s'); one is supported",
                       in->name, name ? name : "?");
            return NULL;
        }
        in = gp->input[i];
    }
    if (!in || !in->name || !*in->name) {
        diag_error(o->loc, "the model has no input");
        return NULL;
    }
    return in;
}

static const Onnx__TensorShapeProto *input_shape(const Onnx__ValueInfoProto *in)
{
    const Onnx__TypeProto *tp = in->type;
    return tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type &&
                   tp->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
               ? tp->tensor_type->shape
               : NULL;
}

static bool dim_known(const Onnx__TensorShapeProto__Dimension *d)
{
    return d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
           d->dim_value > 0;
}

/* The input's per-sample shape: its dims after the batch (batch mode), or
 * all of them (whole-tensor mode: the IR's sample ranks are 1 to 4). */
static bool input_sample_shape(Onnx *o, const char *name, const Onnx__TensorShapeProto *sp,
                               Shape *s)
{
    int lead = onnx_batch_axes(o);
    o->static_input = true; /* every dim a number: a model may then be read whole */
    for (size_t i = 0; i < sp->n_dim; i++)
        o->static_input &= dim_known(sp->dim[i]);
    if (o->whole && (sp->n_dim < 1 || sp->n_dim > 4)) {
        diag_error(o->loc, "input '%s' has rank %zu; read as one sample (whole-tensor mode), "
                   "ranks 1 to 4 are supported", name, sp->n_dim);
        return false;
    }
    if (!o->whole && (sp->n_dim < 2 || sp->n_dim > 5)) {
        o->batch_refused = sp->n_dim == 1; /* a vector: one sample, read whole */
        diag_error(o->loc, "input '%s' has rank %zu; expected [N, F], [N, C, L], [N, C, H, W] "
                   "or [N, C, D, H, W]", name, sp->n_dim);
        return false;
    }
    *s = (Shape){(int)sp->n_dim - lead, {0}};
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        if (i == 0 && !o->whole) {
            o->g->batch_hint = dim_known(d) && d->dim_value <= 1 << 20 ? (int)d->dim_value : 0;
            continue;
        }
        if (!dim_known(d)) {
            diag_error(o->loc, o->whole ? "input '%s': dimension %zu must be a positive number "
                                          "(read as one sample, no dimension may be symbolic)"
                                        : "input '%s': dimension %zu must be a positive number "
                                          "(only the batch dimension may be symbolic)",
                       name, i);
            return false;
        }
        s->d[i - lead] = d->dim_value;
    }
    return true;
}

static bool add_input(Onnx *o, const Onnx__GraphProto *gp)
{
    const Onnx__ValueInfoProto *in = find_input(o, gp);
    if (!in)
        return false;
    const Onnx__TensorShapeProto *sp = input_shape(in);
    if (!sp) {
        diag_error(o->loc, "input '%s' must be a float32 tensor with a known shape", in->name);
        return false;
    }
    Shape s;
    if (!input_sample_shape(o, in->name, sp, &s) || checked_numel(o, &s, "the input") < 0)
        return false;
    OnnxValue *v = value_get(o, in->name);
    v = v ? v : value_add(o, in->name);
    v->kind = OV_ACT;
    v->shape = s;
    v->tensor = graph_add_tensor(o->g, in->name, T_ACT, o->loc);
    o->g->t[v->tensor].shape = s;
    o->g->input = v->tensor;
    o->g->whole = o->whole;
    return true;
}

static bool produced_later(const Onnx__GraphProto *gp, const char *name)
{
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t j = 0; j < gp->node[i]->n_output; j++)
            if (gp->node[i]->output[j] && strcmp(gp->node[i]->output[j], name) == 0)
                return true;
    return false;
}

/* In whole-tensor mode, a node whose operator has an N axis (ONNX_N_AXIS)
 * on its first input: with N = 1, lowered as in batch mode between a view
 * dropping that axis and one restoring it (views cost nothing in the
 * planner); another N is an error. */
static bool lower_without_n(OnnxNode *l, const OnnxKind *kind)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    if (x->shape.rank < 2 || x->shape.d[0] != 1)
        return onnx_fail(l, "read as one sample (whole-tensor mode), the input's axis 0 is "
                         "its N, which must be 1, not %lld", (long long)x->shape.d[0]);
    Shape inner = shape_make(x->shape.rank - 1, x->shape.d + 1);
    OnnxValue in = {.name = x->name}, out = {.name = l->out->name};
    OnnxValue *ins[ONNX_MAX_INPUTS], *outs = &out;
    memcpy(ins, l->in, (size_t)l->nin * sizeof *ins);
    ins[0] = &in;
    if (!reshape_onnx_view(l, x, &inner, "_sample", &in))
        return false;
    OnnxNode batch = {l->o, l->node, ins, l->nin, &out, &outs, 1, l->version};
    l->o->whole = false;
    bool ok = kind->lower(&batch);
    l->o->whole = true;
    if (!ok || out.kind != OV_ACT)
        return ok && onnx_fail(l, "its result is not an activation");
    if (out.shape.rank + 1 > 4)
        return onnx_fail(l, "its result has rank %d; the sample ranks are 1 to 4",
                         out.shape.rank + 1);
    Shape whole = {out.shape.rank + 1, {1}};
    memcpy(whole.d + 1, out.shape.d, (size_t)out.shape.rank * sizeof *whole.d);
    OnnxValue *o = &out;
    return reshape_onnx_view(l, o, &whole, "_whole", l->out) != NULL;
}

static bool lower_node(Onnx *o, const Onnx__GraphProto *gp, const Onnx__NodeProto *node)
{
    OnnxValue *in[ONNX_MAX_INPUTS];
    int nin = (int)node->n_input;
    if (nin > ONNX_MAX_INPUTS) {
        node_error(o, node, "has %d inputs, more than %d", nin, ONNX_MAX_INPUTS);
        return false;
    }
    const OnnxKind *kind = onnx_kind_find(node->op_type);
    int nout = kind->flags & ONNX_MULTI_OUTPUT ? (int)node->n_output : 1;
    OnnxValue **outs = xcalloc((size_t)nout, sizeof *outs);
    for (int i = 0; i < nout; i++)
        if (node->output[i] && *node->output[i] && !(outs[i] = define(o, node, node->output[i]))) {
            free(outs);
            return false;
        }
    OnnxValue *out = outs[0];
    bool all_const = true;
    for (int i = 0; i < nin; i++) {
        const char *name = node->input[i];
        in[i] = name && *name ? value_get(o, name) : NULL;
        if (name && *name && (!in[i] || in[i]->kind == OV_NONE)) {
            node_error(o, node, "input '%s' is not defined before it%s", name,
                       produced_later(gp, name) ? " (the graph has a cycle or is not in "
                                                  "topological order)" : "");
            free(outs);
            return false;
        }
        all_const &= !in[i] || in[i]->kind == OV_CONST;
    }
    OnnxNode l = {o, node, in, nin, out, outs, nout, onnx_version(kind, o->opset)};
    bool ok;
    if (kind->fold && (all_const || (kind->flags & ONNX_FOLD_ACTIVATIONS))) {
        Const c = {0}; /* a fold may fail before touching it */
        if ((ok = kind->fold(&l, &c))) {
            out->kind = OV_CONST;
            out->c = c;
        } else {
            const_free(&c); /* what a failed fold allocated */
        }
    } else if (!(kind = onnx_kind_lowering(kind, &l))->lower) {
        node_error(o, node, "supported only on constants; here its input depends on the "
                   "model's input");
        ok = false;
    } else {
        ok = o->whole && (kind->flags & ONNX_N_AXIS) ? lower_without_n(&l, kind)
                                                     : kind->lower(&l);
        for (int i = 0; i < nout; i++)
            if (ok && outs[i] && outs[i]->kind == OV_ACT &&
                checked_numel(o, &outs[i]->shape, node_label(node)) < 0)
                ok = false;
        for (int i = 0; i < nout && !ok; i++)
            if (outs[i])
                outs[i]->kind = OV_NONE;
    }
    free(outs);
    return ok;
}

/* ---- patterns (kit/onnx_kit.h): subgraphs lowered as one ---- */

typedef struct {
    const OnnxPattern *p;
    OnnxMatch m;
} Found;

typedef struct {
    Found *f;
    int n, cap;
    int *at; /* per graph node: the match covering it, or -1 */
} Matches;

/* Matches every pattern from every node not yet covered, in order. */
static void find_patterns(Onnx *o, const Onnx__GraphProto *gp, Matches *ms)
{
    ms->at = xmalloc((gp->n_node ? gp->n_node : 1) * sizeof *ms->at);
    for (size_t i = 0; i < gp->n_node; i++)
        ms->at[i] = -1;
    const OnnxPattern *p;
    for (size_t i = 0; i < gp->n_node; i++)
        for (int k = 0; ms->at[i] < 0 && gp->node[i]->op_type && (p = onnx_pattern_at(k)); k++) {
            Found f = {p, {.nnode = 0}};
            if (strcmp(p->first, gp->node[i]->op_type) != 0 || !p->match(o, (int)i, &f.m))
                continue;
            bool free_nodes = true;
            for (int j = 0; j < f.m.nnode; j++)
                free_nodes &= ms->at[f.m.node[j]] < 0;
            if (!free_nodes)
                continue;
            grow_array(&ms->f, &ms->cap, ms->n + 1, sizeof *ms->f);
            for (int j = 0; j < f.m.nnode; j++)
                ms->at[f.m.node[j]] = ms->n;
            ms->f[ms->n++] = f;
        }
}

/* The match's sink: the pattern lowers the whole subgraph. */
static bool lower_match(Onnx *o, const Onnx__NodeProto *node, const Found *f)
{
    OnnxValue *in[ONNX_MATCH_INPUTS] = {NULL}, *out = define(o, node, node->output[0]);
    if (!out)
        return false;
    for (int k = 0; k < f->m.ninput; k++) {
        const char *name = f->m.input[k];
        if (name && (!(in[k] = value_get(o, name)) || in[k]->kind == OV_NONE)) {
            node_error(o, node, "input '%s' is not defined before it", name);
            return false;
        }
    }
    OnnxNode l = {o, node, in, f->m.ninput, out, &out, 1, 0}; /* a pattern: no one version */
    bool ok = f->p->lower(&l, &f->m) &&
              (out->kind != OV_ACT || checked_numel(o, &out->shape, node_label(node)) >= 0);
    if (!ok)
        out->kind = OV_NONE;
    return ok;
}

static bool set_output(Onnx *o, const Onnx__GraphProto *gp)
{
    if (gp->n_output != 1 || !gp->output[0]->name) {
        diag_error(o->loc, "the model has %zu outputs; exactly one is supported", gp->n_output);
        return false;
    }
    OnnxValue *v = value_get(o, gp->output[0]->name);
    if (!v || v->kind != OV_ACT) {
        diag_error(o->loc, "output '%s' is %s", gp->output[0]->name,
                   v && v->kind == OV_CONST ? "a constant" : "not computed by any node");
        return false;
    }
    if (v->tensor == o->g->input) { /* the model is the identity */
        int id = graph_add_identity(o->g, v->tensor, "identity", o->loc);
        o->g->t[o->g->n[id].out].shape = v->shape;
        o->g->output = o->g->n[id].out;
    } else if (o->g->t[v->tensor].q) { /* a quantized output: the contract's is float */
        char *name = xasprintf("%s_dequantize", gp->output[0]->name);
        int id = graph_add_dequantize(o->g, v->tensor, name, o->loc);
        free(name);
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
    if (!check_outputs(o, gp))
        return false;
    count_uses(o, gp);
    Matches ms = {0};
    find_patterns(o, gp, &ms);
    bool ok = true;
    for (size_t i = 0; i < gp->n_node; i++)
        ok &= ms.at[i] >= 0 || check_node(o, gp->node[i]);
    ok = ok && add_initializers(o, gp) && add_input(o, gp);
    for (size_t i = 0; i < gp->n_node && ok; i++) {
        const Found *f = ms.at[i] >= 0 ? &ms.f[ms.at[i]] : NULL;
        if (!f)
            ok = lower_node(o, gp, gp->node[i]);
        else if (f->m.node[f->m.nnode - 1] == (int)i)
            ok = lower_match(o, gp->node[i], f);
    }
    free(ms.f);
    free(ms.at);
    return ok && set_output(o, gp);
}

/* The ONNX names of activations whose IR tensor is named otherwise (after
 * its node), so that a user can name them (--freeze-until). */
static void record_aliases(Onnx *o)
{
    for (int i = 0; i < o->nv; i++) {
        const OnnxValue *v = &o->v[i];
        if (v->kind == OV_ACT && v->tensor >= 0 && strcmp(v->name, o->g->t[v->tensor].name) != 0)
            graph_add_alias(o->g, v->name, v->tensor);
    }
}

/* One reading of the model, in batch or whole-tensor mode; NULL after an
 * error, *retry set when a whole-tensor reading may take it instead. */
static Graph *read_graph(const char *path, bool whole, bool *retry)
{
    Onnx o = {.path = path, .loc = {path, 0, 0}, .whole = whole};
    int errors = diag_error_count();
    Onnx__ModelProto *m = onnx_read_model(path);
    *retry = false;
    if (!m)
        return NULL;
    o.model = m;
    o.g = graph_new(path);
    bool ok = check_header(&o, m) && load_graph(&o, m);
    if (ok)
        record_aliases(&o);
    *retry = !ok && o.batch_refused && o.static_input && !whole;
    onnx_free(&o);
    onnx__model_proto__free_unpacked(m, NULL);
    if (!ok || diag_error_count() > errors) {
        graph_free(o.g);
        return NULL;
    }
    return o.g;
}

/* Batch mode first; on a refusal that mixes axis 0 (the input static),
 * whole-tensor mode, the first attempt's diagnostics dropped. */
Graph *onnx_load(const char *path, bool whole)
{
    bool retry;
    if (whole)
        return read_graph(path, true, &retry);
    diag_hold();
    Graph *g = read_graph(path, false, &retry);
    diag_release(!retry);
    if (!retry)
        return g;
    g = read_graph(path, true, &retry);
    if (g)
        diag_note((Loc){path, 0, 0}, "the model mixes its axis 0, so it is read as one sample "
                  "of its whole static shape (no batch axis)");
    return g;
}
