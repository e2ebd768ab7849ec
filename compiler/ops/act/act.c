/* act.c: the elementwise activations (acts.def), as standalone operators
 * and as the Act epilogue that conv, dense, batchnorm and add apply to
 * their results. Takes the rows of acts.def; gives the activation table
 * (ActInfo, one entry per row, for the front ends, the passes and the
 * emitters), the interpreter's y = f(x) and dy/dx, and one OpInfo per
 * activation (op_relu, op_sigmoid, ...).
 *
 * Shape rule: one input; the output has the input's shape. An activation
 * node's parameters are n->act.a and n->act.b (its kind is its operator's).
 *
 * Derivatives follow PyTorch at the kinks: relu and leaky_relu give the
 * negative side's slope at x = 0 (threshold_backward, leaky_relu_backward),
 * elu gives alpha there (elu_backward on the result). clip follows Hardtanh,
 * which ReLU6 is: gradient 1 only strictly inside (lo, hi), 0 at the bounds
 * (torch.clamp passes it at the bounds too; the strict rule is the one
 * computable from y alone). */
#include "../ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Split by sign so that e^|x| never overflows: exact 0/1 limits, no NaN. */
static float act_sigmoid(float x)
{
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static float act_clip01(float t)
{
    return t < 0 ? 0.0f : t > 1 ? 1.0f : t;
}

/* log(1 + e^z) / beta as max(z, 0) + log1p(e^-|z|): no overflow. */
static float act_softplus(float x, float beta, float threshold)
{
    float z = x * beta;
    if (z > threshold)
        return x;
    return (z > 0 ? z + log1pf(expf(-z)) : log1pf(expf(z))) / beta;
}

/* PyTorch's gelu_backward, approximate='tanh'. */
static float act_gelu_tanh_dydx(float x)
{
    const float beta = 0.79788456080286536f, kappa = 0.044715f;
    float t = tanhf(beta * (x + kappa * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * beta * (1.0f + 3.0f * kappa * x * x);
}

/* PyTorch's mish_backward. */
static float act_mish_dydx(float x)
{
    float t = tanhf(log1pf(expf(x)));
    return t + x * act_sigmoid(x) * (1.0f - t * t);
}

/* Each row's formulas as functions; a row uses the names it needs. */
#define ACT(ID, name, onnx, onnx_since, onnx_attrs, keys, dsl_a, dsl_b, onnx_a, onnx_b, since, valid, \
            invalid, Y, DYDX, FROM_Y, NONNEG, c_y, c_dydx, c_vec, clamp)                        \
    static float apply_##ID(float x, float a, float b)                                         \
    {                                                                                          \
        (void)a, (void)b;                                                                      \
        return Y;                                                                              \
    }                                                                                          \
    static bool from_y_##ID(float a, float b)                                                  \
    {                                                                                          \
        (void)a, (void)b;                                                                      \
        return FROM_Y;                                                                         \
    }                                                                                          \
    static float dydx_##ID(float x, float y, float a, float b)                                 \
    {                                                                                          \
        float s = from_y_##ID(a, b) ? y : x;                                                   \
        (void)x, (void)y, (void)s, (void)a, (void)b;                                           \
        return DYDX;                                                                           \
    }                                                                                          \
    static bool nonneg_##ID(float a, float b)                                                  \
    {                                                                                          \
        (void)a, (void)b;                                                                      \
        return NONNEG;                                                                         \
    }                                                                                          \
    static bool valid_##ID(float a, float b)                                                   \
    {                                                                                          \
        (void)a, (void)b;                                                                      \
        return valid;                                                                          \
    }
#define ACT_ALIAS(word, ID, a, b)
#include "acts.def"
#undef ACT
#undef ACT_ALIAS

static const ActInfo table[ACT_COUNT] = {
    [ACT_NONE] = {.name = "none", .onnx = "", .keys = ""},
#define ACT(ID, NAME, ONNX, ONNX_SINCE, ONNX_ATTRS, KEYS, DSL_A, DSL_B, ONNX_A, ONNX_B, SINCE, VALID_, \
            INVALID, Y_, DYDX_, FROM_Y_, NONNEG_, C_Y, C_DYDX, C_VEC, CLAMP)                    \
    [ACT_##ID] = {.kind = ACT_##ID, .op = OP_##ID, .name = #NAME, .onnx = ONNX,                 \
                  .onnx_since = ONNX_SINCE, .onnx_attrs = ONNX_ATTRS, .keys = KEYS,             \
                  .dsl_default = {DSL_A, DSL_B}, .onnx_default = {ONNX_A, ONNX_B},              \
                  .onnx_inputs_since = SINCE, .apply = apply_##ID, .dydx = dydx_##ID,           \
                  .from_y = from_y_##ID, .nonneg = nonneg_##ID, .valid = valid_##ID,            \
                  .invalid = INVALID, .c_y = C_Y, .c_dydx = C_DYDX, .c_vec = C_VEC,             \
                  .clamp = CLAMP},
#define ACT_ALIAS(word, ID, a, b)
#include "acts.def"
#undef ACT
#undef ACT_ALIAS
};

static const ActAlias aliases[] = {
#define ACT(ID, ...)
#define ACT_ALIAS(WORD, ID, A, B) {#WORD, {ACT_##ID, A, B}},
#include "acts.def"
#undef ACT
#undef ACT_ALIAS
    {NULL, {ACT_NONE, 0, 0}},
};

const ActInfo *act_info(ActKind kind)
{
    if ((unsigned)kind >= ACT_COUNT)
        internal_error("bad activation %d", (int)kind);
    return &table[kind];
}

const ActInfo *act_by_name(const char *name)
{
    for (int k = ACT_NONE + 1; k < ACT_COUNT; k++)
        if (strcmp(table[k].name, name) == 0)
            return &table[k];
    return NULL;
}

const ActAlias *act_alias(const char *word)
{
    for (const ActAlias *p = aliases; p->word; p++)
        if (strcmp(p->word, word) == 0)
            return p;
    return NULL;
}

int act_key_count(const ActInfo *ai)
{
    int n = 0;
    for (const char *p = ai->keys; *p; n++) {
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    return n;
}

const char *act_key(const ActInfo *ai, int i, char *buf, size_t size)
{
    const char *p = ai->keys;
    for (int k = 0; k < i; k++) {
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    snprintf(buf, size, "%.*s", (int)strcspn(p, " "), p);
    return buf;
}

float act_apply(Act act, float x)
{
    if (act.kind == ACT_NONE)
        return x;
    return act_info(act.kind)->apply(x, act.a, act.b);
}

bool act_grad_from_output(Act act)
{
    return act.kind == ACT_NONE || act_info(act.kind)->from_y(act.a, act.b);
}

float act_derivative(Act act, float x, float y)
{
    if (act.kind == ACT_NONE)
        return 1.0f;
    return act_info(act.kind)->dydx(x, y, act.a, act.b);
}

bool act_is_clamp(Act act)
{
    return act.kind == ACT_NONE || act_info(act.kind)->clamp;
}

bool act_nonnegative(Act act)
{
    return act.kind != ACT_NONE && act_info(act.kind)->nonneg(act.a, act.b);
}

const char *act_name(ActKind kind)
{
    return act_info(kind)->name;
}

/* The activation operator op computes, or ACT_NONE. */
static ActKind kind_of_op(int op)
{
    for (int k = ACT_NONE + 1; k < ACT_COUNT; k++)
        if (table[k].op == op)
            return (ActKind)k;
    return ACT_NONE;
}

Act node_act(const Node *n)
{
    ActKind kind = kind_of_op(n->op);
    return kind == ACT_NONE ? (Act){ACT_NONE, 0, 0} : (Act){kind, n->act.a, n->act.b};
}

bool act_check(Act act, Loc loc, const char *lead)
{
    const ActInfo *ai = act_info(act.kind);
    if (ai->valid(act.a, act.b))
        return true;
    char why[128];
    snprintf(why, sizeof why, ai->invalid, (double)act.a, (double)act.b);
    diag_error(loc, "%s%s", lead, why);
    return false;
}

static bool infer_act(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    Act act = node_act(n);
    char lead[160];
    snprintf(lead, sizeof lead, "%s '%s': ", act_name(act.kind), n->name);
    if (!act_check(act, n->loc, lead))
        return false;
    g->t[n->out].shape = *node_in_shape(g, n, 0);
    return true;
}

static void run_act(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                    bool training)
{
    Act act = node_act(n);
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    for (int64_t i = 0; i < count; i++)
        out[i] = act_apply(act, in[0][i]);
}

/* The parameters by their keys: ` alpha=0.2`, ` min=0 max=6`. */
static void dump_act(const Graph *g, const Node *n, FILE *out)
{
    Act act = node_act(n);
    const ActInfo *ai = act_info(act.kind);
    char key[16];
    for (int i = 0; i < act_key_count(ai); i++)
        fprintf(out, " %s=%g", act_key(ai, i, key, sizeof key), (double)(i ? act.b : act.a));
}

#define ACT(ID, NAME, ...)                                                                      \
    const OpInfo op_##NAME = {                                                                  \
        .name = #NAME,                                                                          \
        .traits = OP_TRAITS(ID),                                                                \
        .infer = infer_act,                                                                     \
        .run = run_act,                                                                         \
        .grad = act_grad,                                                                       \
        .emit = act_emit,                                                                       \
        .emit_grad = act_emit_grad,                                                             \
        .dump = dump_act,                                                                       \
        .folds = act_folds,                                                                     \
        .quant = &act_int8,                                                                     \
        .onnx_export = act_onnx_export,                                                         \
        .grad_reads = act_grad_reads,                                                           \
    };
#define ACT_ALIAS(word, ID, a, b)
#include "acts.def"
#undef ACT
#undef ACT_ALIAS
