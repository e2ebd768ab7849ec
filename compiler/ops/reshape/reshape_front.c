/* reshape_front.c: how the front ends write the views (reshape.c). Takes a
 * layer statement (DSL) or a Flatten, Reshape, Squeeze, Unsqueeze, Dropout
 * or Identity node (ONNX); gives the view node, or (ONNX Identity, and
 * Dropout at inference) no node at all: the output names the input.
 *
 *   DSL   flatten, reshape(shape=16x5x5), dropout(rate=0.5) */
#include "../ops.h"

#include <limits.h>
#include <string.h>

static void dsl_dropout(DslArgs *c, Node *n, const DslKind *k)
{
    n->a.rate = 0.5f;
    dsl_get_float(c, "rate", false, DSL_UNIT_OPEN, &n->a.rate);
}

static void dsl_reshape(DslArgs *c, Node *n, const DslKind *k)
{
    const Value *v = dsl_get(c, "shape", true);
    if (!v)
        return;
    int size;
    if (v->kind == V_INT) {
        if (dsl_int_value(c, "shape", v, 1, &size))
            n->a.target = shape_make(1, &v->i);
        return;
    }
    if (v->kind != V_DIMS || v->ndims > MAX_RANK) {
        dsl_bad_value(c, "shape", v, "dimensions like 16x5x5");
        return;
    }
    for (int i = 0; i < v->ndims; i++)
        if (v->dims[i] < 1 || v->dims[i] > INT_MAX || v->overflow) {
            dsl_bad_value(c, "shape", v, "positive dimensions");
            return;
        }
    n->a.target = shape_make(v->ndims, v->dims);
}

static int flat_rank(const Arg *args, int in_rank)
{
    return 1;
}

/* The target's rank, from the `shape` argument as written. */
static int target_rank(const Arg *args, int in_rank)
{
    const Value *v = NULL;
    for (const Arg *a = args; a; a = a->next)
        if (!a->key || strcmp(a->key, "shape") == 0)
            v = a->v;
    return v && v->kind == V_DIMS ? v->ndims : 1;
}

const DslKind reshape_dsl[] = {
    {"flatten", "flatten", OP_FLATTEN, 0, "", "", NULL, flat_rank},
    {"reshape", "reshape", OP_RESHAPE, 0, "shape", "shape", dsl_reshape, target_rank},
    {"dropout", "dropout", OP_DROPOUT, 0, "rate", "rate", dsl_dropout, NULL},
    {NULL},
};

/* ---- ONNX ---- */

Node *reshape_onnx_view(OnnxNode *l, OnnxValue *x, const Shape *s, const char *suffix,
                        OnnxValue *out)
{
    Node *n = onnx_add_node(l, s->rank == 1 ? OP_FLATTEN : OP_RESHAPE, suffix, &x, 1,
                       out, s);
    n->a.target = *s;
    return n;
}

static bool onnx_flatten(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    int rank = onnx_rank(l, x);
    int64_t axis = attr_int(l->node, "axis", 1);
    if (axis < 0)
        axis += rank;
    if (onnx_batch_axes(l->o) && axis != 1)
        return onnx_fail_batch(l, "axis %lld is not supported (only 1 keeps the batch apart)",
                               (long long)attr_int(l->node, "axis", 1));
    if (axis < 0 || axis > rank)
        return onnx_fail(l, "axis %lld is out of range", (long long)attr_int(l->node, "axis", 1));
    if (onnx_batch_axes(l->o)) {
        Shape s = {1, {shape_numel(&x->shape)}};
        return reshape_onnx_view(l, x, &s, "", l->out) != NULL;
    }
    Shape s = {2, {1, 1}}; /* the whole tensor: [d0 * ... * d(axis-1), the rest] */
    for (int i = 0; i < rank; i++)
        s.d[i >= axis] *= x->shape.d[i];
    return reshape_onnx_view(l, x, &s, "", l->out) != NULL;
}

/* The per-sample shape a Reshape to full shape `t` gives, or false. */
static bool per_sample_target(OnnxNode *l, const OnnxValue *x, const Const *t, Shape *s)
{
    int64_t numel = shape_numel(&x->shape), known = 1;
    bool allowzero = attr_int(l->node, "allowzero", 0) != 0;
    if (t->shape.rank == 1 && t->n == 1)
        return onnx_fail_batch(l, "target shape has one entry: the batch and the rest as one");
    if (t->shape.rank != 1 || t->n < 2 || t->n > MAX_RANK)
        return onnx_fail(l, "target shape must have 2 to %d entries", MAX_RANK);
    int64_t first = t->i[0];
    bool batch = first == BATCH_DIM || (first == 0 && !allowzero) ||
                 (l->o->g->batch_hint > 0 && first == l->o->g->batch_hint);
    /* A first entry that is no batch marker may move elements across samples. */
    bool (*fail)(OnnxNode *, const char *, ...) =
        first == BATCH_DIM || (first == 0 && !allowzero) ? onnx_fail : onnx_fail_batch;
    int infer = -1;
    s->rank = (int)t->n - 1;
    for (int i = 1; i < t->n; i++) {
        int64_t v = t->i[i];
        if (v == 0 && !allowzero)
            v = i - 1 < x->shape.rank ? x->shape.d[i - 1] : -2;
        if (v == -1 && infer < 0)
            infer = i - 1;
        else if (v < 0 || v == BATCH_DIM)
            return onnx_fail(l, "target shape entry %d (%lld) is not supported", i,
                        (long long)t->i[i]);
        else if (mul_overflows(known, v, &known))
            return onnx_fail(l, "target shape overflows");
        s->d[i - 1] = v;
    }
    if (!batch && !(first == -1 && infer < 0))
        return onnx_fail_batch(l, "target shape's first entry (%lld) is not the batch size",
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

/* The shape a Reshape of the whole tensor x to `t` gives (whole-tensor
 * mode: t's every entry is a sample axis), or false. */
static bool whole_target(OnnxNode *l, const OnnxValue *x, const Const *t, Shape *s)
{
    int64_t numel = shape_numel(&x->shape), known = 1;
    bool allowzero = attr_int(l->node, "allowzero", 0) != 0;
    if (t->shape.rank != 1 || t->n < 1 || t->n > 4)
        return onnx_fail(l, "target shape must have 1 to 4 entries (the sample ranks)");
    int infer = -1;
    s->rank = (int)t->n;
    for (int i = 0; i < t->n; i++) {
        int64_t v = t->i[i];
        if (v == 0 && !allowzero)
            v = i < x->shape.rank ? x->shape.d[i] : -2;
        if (v == -1 && infer < 0)
            infer = i;
        else if (v < 0)
            return onnx_fail(l, "target shape entry %d (%lld) is not supported", i,
                             (long long)t->i[i]);
        else if (mul_overflows(known, v, &known))
            return onnx_fail(l, "target shape overflows");
        s->d[i] = v;
    }
    if (infer >= 0) {
        if (known == 0 || numel % known)
            return onnx_fail(l, "cannot infer the -1 entry");
        s->d[infer] = numel / known;
        known = numel;
    }
    if (known != numel)
        return onnx_fail(l, "cannot reshape %lld elements into %lld", (long long)numel,
                         (long long)known);
    return true;
}

/* Reshape-1's target shape, its attribute `shape`, as a constant in *c
 * (its values in buf). */
static bool shape_attribute(OnnxNode *l, Const *c, int64_t *buf)
{
    const int64_t *v;
    int n = attr_ints(l->node, "shape", &v);
    if (n < 0)
        return onnx_fail_version(l, "the target shape (attribute 'shape') is missing");
    if (n > MAX_RANK)
        return onnx_fail(l, "shape has more than %d entries", MAX_RANK);
    memcpy(buf, v, (size_t)n * sizeof *buf);
    *c = (Const){.dtype = CONST_I64, .shape = {1, {n}}, .n = n, .i = buf};
    return true;
}

static bool onnx_reshape(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    Const attr;
    int64_t buf[MAX_RANK];
    if (l->version < 5 && !shape_attribute(l, &attr, buf))
        return false;
    if (l->version >= 5 && (l->nin < 2 || !l->in[1] || l->in[1]->kind != OV_CONST ||
                            l->in[1]->c.dtype != CONST_I64))
        return onnx_fail(l, "the target shape must be a constant int64 tensor");
    Shape s;
    const Const *target = l->version < 5 ? &attr : &l->in[1]->c;
    if (onnx_batch_axes(l->o) ? !per_sample_target(l, x, target, &s)
                              : !whole_target(l, x, target, &s))
        return false;
    return reshape_onnx_view(l, x, &s, "", l->out) != NULL;
}

/* Squeeze's or Unsqueeze's axes (attribute before opset 13, input from
 * then on) over rank `rank` (Unsqueeze: the output's), normalised and
 * checked, as marks; their count, -1 when absent (Squeeze: every 1), -2
 * after an error. */
static int squeeze_axes(OnnxNode *l, int rank, bool *mark)
{
    int64_t axes[MAX_RANK];
    int na = onnx_int_list(l, 1, "axes", 13, axes);
    for (int k = 0; k < na; k++) {
        int a;
        if (!onnx_norm_axis(l, axes[k], rank, &a))
            return -2;
        if (mark[a]) {
            onnx_fail(l, "axis %lld is given twice", (long long)axes[k]);
            return -2;
        }
        mark[a] = true;
    }
    return na;
}

/* Squeeze/Unsqueeze of an activation: a reshape that keeps the batch. */
static bool onnx_squeeze(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    bool un = l->node->op_type[0] == 'U', mark[MAX_RANK + 1] = {false};
    int rank = onnx_rank(l, x), na = -1, lead = onnx_batch_axes(l->o);
    if (un) {
        int64_t axes[MAX_RANK];
        na = onnx_int_list(l, 1, "axes", 13, axes); /* its count gives the output's rank */
        if (na == -1)
            return onnx_fail(l, "needs axes");
        if (na >= 0 && rank + na > MAX_RANK)
            return onnx_fail(l, "the result has rank %d, more than %d", rank + na, MAX_RANK);
    }
    int out_rank = un ? rank + (na > 0 ? na : 0) : rank;
    if (na == -2 || (na = squeeze_axes(l, out_rank, mark)) == -2)
        return false;
    if (lead && mark[0])
        return onnx_fail_batch(l, "axis 0 is the batch: cnnc keeps it first, as it is");
    Shape s = {0};
    for (int i = lead, j = 0; i < out_rank; i++) {
        if (un) {
            s.d[s.rank++] = mark[i] ? 1 : x->shape.d[j++];
            continue;
        }
        int64_t d = x->shape.d[i - lead];
        if (mark[i] && d != 1)
            return onnx_fail(l, "cannot squeeze axis %d of size %lld", i, (long long)d);
        if (!(na >= 0 ? mark[i] : d == 1))
            s.d[s.rank++] = d;
    }
    if (s.rank == 0 && !lead)
        return onnx_fail(l, "the result is a scalar; cnnc's tensors have rank 1 to 4");
    if (s.rank == 0) /* one value per sample: [N] in ONNX, kept as [N, 1] */
        s.d[s.rank++] = 1;
    return reshape_onnx_view(l, x, &s, "", l->out) != NULL;
}

/* Identity and Dropout (inference): the output is the input. Dropout
 * before opset 7 says is_test=0 (its default) for training, where it would
 * drop at random: read as inference all the same, since a compiled model
 * runs inference, and old exports that meant inference left is_test out. */
static bool onnx_identity(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    onnx_alias(l, x);
    return true;
}

/* Identity, Dropout on a constant: the constant. */
static bool fold_identity(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    return const_reshaped(l, &l->in[0]->c, &l->in[0]->c.shape, out);
}

static bool fold_unsqueeze(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    int64_t axes[MAX_RANK];
    int na = onnx_int_list(l, 1, "axes", 13, axes);
    if (na == -2)
        return false;
    const Const *x = &l->in[0]->c;
    int r = x->shape.rank + (na > 0 ? na : 0);
    if (na <= 0 || r > MAX_RANK)
        return onnx_fail(l, na <= 0 ? "needs axes" : "result rank too large");
    bool inserted[MAX_RANK] = {false};
    for (int k = 0; k < na; k++) {
        int a;
        if (!onnx_norm_axis(l, axes[k], r, &a))
            return false;
        if (inserted[a])
            return onnx_fail(l, "axis %lld repeats", (long long)axes[k]);
        inserted[a] = true;
    }
    Shape s = {r, {0}};
    for (int i = 0, j = 0; i < r; i++)
        s.d[i] = inserted[i] ? 1 : x->shape.d[j++];
    return const_reshaped(l, x, &s, out);
}

static bool fold_squeeze(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    int64_t axes[MAX_RANK];
    int na = onnx_int_list(l, 1, "axes", 13, axes);
    if (na == -2)
        return false;
    const Const *x = &l->in[0]->c;
    bool drop[MAX_RANK] = {false};
    for (int k = 0; k < na; k++) {
        int a;
        if (!onnx_norm_axis(l, axes[k], x->shape.rank, &a))
            return false;
        if (x->shape.d[a] != 1)
            return onnx_fail(l, "cannot squeeze axis %d of size %lld", a,
                       (long long)x->shape.d[a]);
        drop[a] = true;
    }
    Shape s = {0};
    for (int i = 0; i < x->shape.rank; i++)
        if (!(na > 0 ? drop[i] : x->shape.d[i] == 1))
            s.d[s.rank++] = x->shape.d[i];
    return const_reshaped(l, x, &s, out);
}

static bool fold_reshape(OnnxNode *l, Const *out)
{
    Const attr;
    int64_t buf[MAX_RANK];
    if (!onnx_has_inputs(l, l->version < 5 ? 1 : 2) ||
        (l->version < 5 && !shape_attribute(l, &attr, buf)))
        return false;
    const Const *x = &l->in[0]->c, *shp = l->version < 5 ? &attr : &l->in[1]->c;
    if (!onnx_need_i64(l, shp, "shape"))
        return false;
    if (shp->n > MAX_RANK)
        return onnx_fail(l, "shape has more than %d entries", MAX_RANK);
    Shape s = {(int)shp->n, {0}};
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < s.rank; d++) {
        int64_t v = shp->i[d];
        if (v == 0 && !attr_int(l->node, "allowzero", 0))
            v = d < x->shape.rank ? x->shape.d[d] : 0;
        if (v == -1 && infer < 0)
            infer = d;
        else if (v < 0)
            return onnx_fail(l, "bad shape entry %lld", (long long)shp->i[d]);
        else if (mul_overflows(known, v ? v : 1, &known))
            return onnx_fail(l, "shape's element count overflows 64 bits");
        s.d[d] = v;
    }
    if (infer >= 0)
        s.d[infer] = known ? x->n / known : 0;
    return const_reshaped(l, x, &s, out);
}

const OnnxKind reshape_onnx[] = {
    {"Flatten", "axis:i", onnx_flatten, NULL, false, "1 9 11 13"},
    {"Reshape", "allowzero:i consumed_inputs:is<5 shape:is<5", onnx_reshape, fold_reshape, false,
     "1 5 13 14"},
    {"Squeeze", "axes:is", onnx_squeeze, fold_squeeze, false, "1 11 13"},
    {"Unsqueeze", "axes:is", onnx_squeeze, fold_unsqueeze, false, "1 11 13"},
    {"Dropout", "ratio:f seed:i consumed_inputs:is<6 is_test:i<7", onnx_identity, fold_identity,
     false, "1 6 7 10 12 13"},
    {"Identity", "", onnx_identity, fold_identity, false, "1 13 14 16"},
    {NULL},
};

/* ---- export: the views; Reshape's target keeps the batch (0: copy it) ---- */

bool flatten_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out)
{
    onnx_attr_int(o, onnx_out_node(o, "Flatten", n->name, in, 1, out), "axis", 1);
    return true;
}

bool reshape_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out)
{
    const Shape *s = node_out_shape(g, n);
    int64_t target[MAX_RANK + 1] = {0};
    memcpy(target + 1, s->d, (size_t)s->rank * sizeof *target);
    Shape ts = {1, {s->rank + 1}};
    const char *shape = onnx_out_fresh(o, "shape");
    onnx_out_init_i64(o, shape, &ts, target);
    const char *inputs[2] = {in[0], shape};
    onnx_out_node(o, "Reshape", n->name, inputs, 2, out);
    return true;
}

bool dropout_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out)
{
    const char *ratio = onnx_out_fresh(o, "ratio");
    Shape scalar = {0};
    onnx_out_init_f32(o, ratio, &scalar, &n->a.rate);
    const char *inputs[2] = {in[0], ratio};
    onnx_out_node(o, "Dropout", n->name, inputs, 2, out);
    return true;
}

bool identity_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                          const char *out)
{
    onnx_out_node(o, "Identity", n->name, in, 1, out);
    return true;
}
