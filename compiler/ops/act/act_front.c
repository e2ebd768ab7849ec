/* act_front.c: how the front ends write the activations of acts.def.
 * Takes a layer statement (DSL: `leaky_relu(alpha=0.2)`, `relu6`), an
 * `activation=NAME(args)` argument of conv, dense, batchnorm and add, or an
 * ONNX node (Relu, LeakyRelu, ...); gives the Act: a standalone activation
 * node's (its parameters in n->act), or the layer's fused epilogue. Every
 * row of acts.def is a DSL keyword here, and every alias. */
#include "../ops.h"

#include <stdlib.h>

#include <math.h>
#include <string.h>

/* Reads the activation's parameters (bound to its keys) into act; reports
 * a missing required one. False on error. */
static bool read_params(DslArgs *c, const ActInfo *ai, Act *act)
{
    float v[2] = {ai->dsl_default[0], ai->dsl_default[1]};
    char key[16];
    bool ok = true;
    for (int i = 0; i < act_key_count(ai); i++) {
        const Value *given = dsl_get(c, act_key(ai, i, key, sizeof key), isnan(v[i]));
        ok &= given ? dsl_float_value(c, key, given, DSL_ANY, &v[i]) : !isnan(v[i]);
    }
    act->a = v[0];
    act->b = v[1];
    return ok;
}

/* Reports parameters the row's `valid` refuses (`clip 'c': min (2) is above
 * max (1)`; `lead` names the activation when it is an argument) at loc. */
static bool check_params(Act act, Loc loc, const char *what, const char *lead)
{
    char prefix[192];
    snprintf(prefix, sizeof prefix, "%s: %s", what, lead);
    return act_check(act, loc, prefix);
}

static void dsl_act(DslArgs *c, Node *n, const DslKind *k)
{
    const ActInfo *ai = act_info(node_act(n).kind);
    n->act.kind = ai->kind;
    if (read_params(c, ai, &n->act))
        check_params(n->act, c->loc, c->what, "");
}

static void dsl_act_alias(DslArgs *c, Node *n, const DslKind *k)
{
    n->act = act_alias(k->word)->act;
}

const DslKind act_dsl[] = {
#define ACT(ID, NAME, onnx, since, attrs, KEYS, ...) {#NAME, #NAME, OP_##ID, 0, KEYS, KEYS, dsl_act, NULL},
#define ACT_ALIAS(WORD, ID, a, b) {#WORD, #WORD, OP_##ID, 0, "", "", dsl_act_alias, NULL},
#include "acts.def"
#undef ACT
#undef ACT_ALIAS
    {NULL},
};

/* The words activation= takes, for suggestions: every row and alias, and
 * softmax (which adds a softmax layer instead). */
static const char *activation_words(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const DslKind *k = act_dsl; k->word && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s ", k->word);
    snprintf(buf + (used < size ? used : size - 1), size - (used < size ? used : size - 1),
             "softmax");
    return buf;
}

/* The Act that `word` names (a row or an alias), or NULL. */
static const ActInfo *find_activation(const char *word, Act *act)
{
    const ActAlias *al = act_alias(word);
    if (al) {
        *act = al->act;
        return NULL;
    }
    const ActInfo *ai = act_by_name(word);
    if (ai)
        *act = (Act){ai->kind, 0, 0};
    return ai;
}

/* The named activation's arguments, as its keys (an alias takes none). */
static void bind_activation(DslArgs *c, const Value *v, const ActInfo *ai, Act *act)
{
    DslArgs sub;
    dsl_args_init(&sub, v->loc, "%s: %s", c->what, v->s);
    dsl_bind(&sub, ai ? ai->keys : "", ai ? ai->keys : "", v->items);
    if (!ai)
        return;
    char lead[64];
    snprintf(lead, sizeof lead, "%s ", ai->name);
    bool required = false;
    for (int i = 0; i < act_key_count(ai); i++)
        required |= isnan(ai->dsl_default[i]) != 0;
    if (required && v->kind == V_IDENT) {
        char k0[16], k1[16];
        int nk = act_key_count(ai);
        diag_error(v->loc, "%s: activation %s needs its arguments: %s(%s%s%s)", c->what, ai->name,
                   ai->name, act_key(ai, 0, k0, sizeof k0), nk > 1 ? ", " : "",
                   nk > 1 ? act_key(ai, 1, k1, sizeof k1) : "");
        return;
    }
    if (read_params(&sub, ai, act))
        check_params(*act, v->loc, c->what, lead);
}

void act_dsl_activation(DslArgs *c, Act *act)
{
    const Value *v = dsl_get(c, "activation", false);
    if (!v)
        return;
    if (v->kind != V_IDENT && v->kind != V_CALL) {
        dsl_bad_value(c, "activation", v, "an activation name");
        return;
    }
    Act found = {ACT_NONE, 0, 0};
    const ActInfo *ai = find_activation(v->s, &found);
    bool softmax = strcmp(v->s, "softmax") == 0;
    if (!ai && found.kind == ACT_NONE && !softmax) { /* the name first, then its arguments */
        char words[512], hint[96];
        diag_error(v->loc, "%s: unknown activation '%.60s'%s", c->what, v->s,
                   dsl_did_you_mean(hint, sizeof hint,
                                    dsl_suggest_among(v->s, activation_words(words, sizeof words))));
        return;
    }
    bind_activation(c, v, ai, &found);
    if (softmax)
        c->softmax = true;
    else
        *act = found;
}

/* ---- ONNX: every row of acts.def with an ONNX op type ---- */

static const ActInfo *act_by_onnx(const char *op_type)
{
    for (int k = ACT_NONE + 1; k < ACT_COUNT; k++)
        if (strcmp(act_info((ActKind)k)->onnx, op_type) == 0)
            return act_info((ActKind)k);
    return NULL;
}

/* The parameters as scalar inputs 1 and 2 (Clip from opset 11, optional;
 * Pow's exponent). */
static bool params_from_inputs(OnnxNode *l, float v[2])
{
    for (int i = 1; i < 3; i++) {
        OnnxValue *b = onnx_float_in(l, i, true);
        if (!b && i < l->nin && l->in[i])
            return false;
        if (b && b->c.n != 1)
            return onnx_fail(l, "input %d ('%s') must be a scalar", i, b->name);
        if (b)
            v[i - 1] = b->c.f[0];
    }
    return true;
}

static bool onnx_act(OnnxNode *l)
{
    const ActInfo *ai = act_by_onnx(l->node->op_type);
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    float v[2] = {ai->onnx_default[0], ai->onnx_default[1]};
    if (ai->onnx_inputs_since && l->o->opset >= ai->onnx_inputs_since) {
        if (!params_from_inputs(l, v))
            return false;
        char key[16];
        for (int i = 0; i < act_key_count(ai); i++)
            if (isnan(v[i]))
                return onnx_fail(l, "input %d (%s) is missing", i + 1,
                                 act_key(ai, i, key, sizeof key));
    } else {
        char key[16];
        for (int i = 0; i < act_key_count(ai); i++)
            v[i] = attr_float(l->node, act_key(ai, i, key, sizeof key), v[i]);
    }
    if (ai->op == OP_POW && l->version < 7 && !attr_int(l->node, "broadcast", 0))
        return onnx_fail_version(l, "without broadcast=1 the exponent must have the base's "
                                 "shape; cnnc takes a scalar exponent (broadcast=1)");
    Node *n = onnx_add_node(l, ai->op, "", &x, 1, l->out, &x->shape);
    n->act = (Act){ai->kind, v[0], v[1]};
    return true;
}

/* Each activation's ONNX versions up to opset 17 (onnx.defs), and the
 * attributes of its versions before 9: opset 1's consumed_inputs (memory
 * reuse hints, nothing the result depends on), Pow-1's broadcast and axis
 * (the exponent is one value: any axis aligns it, with broadcast=1). */
#define OLD_RELU "1 6 13 14", " consumed_inputs:is<6"
#define OLD_LEAKY_RELU "1 6 16", " consumed_inputs:is<6"
#define OLD_SIGMOID "1 6 13", " consumed_inputs:is<6"
#define OLD_TANH "1 6 13", " consumed_inputs:is<6"
#define OLD_ELU "1 6", " consumed_inputs:is<6"
#define OLD_CLIP "1 6 11 12 13", " consumed_inputs:is<6"
#define OLD_HARDSWISH "14", ""
#define OLD_HARDSIGMOID "1 6", " consumed_inputs:is<6"
#define OLD_SILU "", ""
#define OLD_GELU "", ""
#define OLD_GELU_TANH "", ""
#define OLD_ERF "9 13", ""
#define OLD_SOFTPLUS "1", ""
#define OLD_MISH "", ""
#define OLD_NEG "1 6 13", " consumed_inputs:is<6"
#define OLD_ABS "1 6 13", " consumed_inputs:is<6"
#define OLD_SQRT "1 6 13", " consumed_inputs:is<6"
#define OLD_EXP "1 6 13", " consumed_inputs:is<6"
#define OLD_LOG "1 6 13", " consumed_inputs:is<6"
#define OLD_RECIPROCAL "1 6 13", " consumed_inputs:is<6"
#define OLD_POW "1 7 12 13 15", " axis:i<7 broadcast:i<7"
#define ACT_ROW(ONNX, ATTRS, SINCE, OLD_ATTRS) {ONNX, ATTRS OLD_ATTRS, onnx_act, NULL, false, SINCE}
#define ACT_ROW_OF(...) ACT_ROW(__VA_ARGS__)

const OnnxKind act_onnx[] = {
#define ACT(ID, NAME, ONNX, SINCE, ATTRS, ...) ACT_ROW_OF(ONNX, ATTRS, OLD_##ID),
#define ACT_ALIAS(word, ID, a, b)
#include "acts.def"
#undef ACT
#undef ACT_ALIAS
    {NULL},
};

/* ---- export: a node of the row's ONNX op type; Clip's bounds as inputs
 * from opset 11 (the export's 13 or later) ---- */

/* Whether `key` is among the row's ONNX attributes ("name:type ..."). */
static bool onnx_attr_listed(const ActInfo *ai, const char *key)
{
    size_t len = strlen(key);
    for (const char *p = ai->onnx_attrs; (p = strstr(p, key)); p += len)
        if ((p == ai->onnx_attrs || p[-1] == ' ') && p[len] == ':')
            return true;
    return false;
}

/* Whether the parameters survive the trip: those that are neither ONNX
 * attributes nor inputs (softplus's beta and threshold) must hold ONNX's
 * values. */
static bool onnx_carries(const ActInfo *ai, Act act)
{
    char key[16];
    const float v[2] = {act.a, act.b};
    for (int i = 0; i < act_key_count(ai); i++)
        if (!ai->onnx_inputs_since && !onnx_attr_listed(ai, act_key(ai, i, key, sizeof key)) &&
            v[i] != ai->onnx_default[i])
            return false;
    return true;
}

bool act_onnx_node(OnnxOut *o, Act act, const char *name, const char *in, const char *out)
{
    const ActInfo *ai = act_info(act.kind);
    if (!*ai->onnx || !onnx_carries(ai, act))
        return false;
    onnx_out_need_opset(o, ai->onnx_since);
    const char *inputs[3] = {in};
    int nin = 1, nk = act_key_count(ai);
    char key[16];
    if (ai->onnx_inputs_since)
        for (int i = 0; i < nk; i++) {
            char *base = xasprintf("%s_%s", name, act_key(ai, i, key, sizeof key));
            inputs[nin++] = onnx_out_fresh(o, base);
            free(base);
            Shape scalar = {0};
            onnx_out_init_f32(o, inputs[nin - 1], &scalar, i ? &act.b : &act.a);
        }
    Onnx__NodeProto *x = onnx_out_node(o, ai->onnx, name, inputs, nin, out);
    for (int i = 0; !ai->onnx_inputs_since && i < nk; i++)
        if (onnx_attr_listed(ai, act_key(ai, i, key, sizeof key)))
            onnx_attr_float(o, x, key, i ? act.b : act.a);
    return true;
}

bool act_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                     const char *out)
{
    return act_onnx_node(o, node_act(n), n->name, in[0], out);
}
