/* norm_pattern.c: torch's LayerNorm before opset 17, recognised in the
 * ONNX graph and lowered as one layernorm node (a pattern, kit/onnx_kit.h).
 * torch.onnx (1.13, symbolic_opset9's native_layer_norm) writes
 *
 *   m = ReduceMean(x, axes)          d = Sub(x, m)
 *   v = ReduceMean(Pow(d, 2), axes)  y = Div(d, Sqrt(Add(v, eps)))
 *   [y = Mul(y, gamma)]              [y = Add(y, beta)]
 *
 * with axes the normalised trailing axes (negative), keepdims 1, and 2 and
 * eps constants. Exactly layernorm's formula (mean and biased variance
 * over the axes), so the nodes become one; d may be squared as Mul(d, d).
 * Every intermediate value must be read inside the subgraph only (the
 * mean used elsewhere, say, leaves the nodes to their own rows). */
#include "../ops.h"

#include <string.h>

/* The node index of the only reader of `value`, if it is of `type`; -1.
 * A graph output counts as a reader but leaves r as it was. */
static int sole(const Onnx *o, const char *value, const char *type)
{
    int r = -1;
    return onnx_readers(o, value, &r, 1) == 1 && onnx_is(o, r, type) ? r : -1;
}

static const Onnx__NodeProto *node_at(const Onnx *o, int i)
{
    return o->model->graph->node[i];
}

/* A ReduceMean over the same axes, keeping them: their list into m. */
static bool mean_over(const Onnx *o, int i, OnnxMatch *m)
{
    const Onnx__NodeProto *n = node_at(o, i);
    const int64_t *axes;
    int na = attr_ints(n, "axes", &axes);
    if (n->n_input != 1 || attr_int(n, "keepdims", 1) != 1 || na < 1 || na > MAX_RANK)
        return false;
    if (m->ni == 0) {
        m->ni = na;
        memcpy(m->i, axes, (size_t)na * sizeof *axes);
    }
    return m->ni == na && memcmp(m->i, axes, (size_t)na * sizeof *axes) == 0;
}

/* Input k of node i is `value`; *other gets the other input's name. */
static bool has_input(const Onnx *o, int i, const char *value, const char **other)
{
    const Onnx__NodeProto *n = node_at(o, i);
    if (n->n_input != 2)
        return false;
    for (int k = 0; k < 2; k++)
        if (n->input[k] && strcmp(n->input[k], value) == 0) {
            *other = n->input[1 - k];
            return true;
        }
    return false;
}

static const char *out_of(const Onnx *o, int i)
{
    return node_at(o, i)->output[0];
}

static void take(OnnxMatch *m, int node)
{
    m->node[m->nnode++] = node;
}

/* The square of d: Pow(d, 2) or Mul(d, d), read by one ReduceMean. */
static int square_of(const Onnx *o, int i, const char *d)
{
    const Onnx__NodeProto *n = node_at(o, i);
    float two;
    if (n->n_input != 2 || strcmp(n->input[0], d) != 0)
        return -1;
    if (onnx_is(o, i, "Pow"))
        return onnx_const_scalar(o, n->input[1], &two) && two == 2.0f ? i : -1;
    return onnx_is(o, i, "Mul") && strcmp(n->input[1], d) == 0 ? i : -1;
}

/* The reader of node i's output, of `type`, with a constant as its other
 * input (into *c); -1 if none. */
static int with_const(const Onnx *o, int i, const char *type, const char **c)
{
    int r = sole(o, out_of(o, i), type);
    return r >= 0 && has_input(o, r, out_of(o, i), c) && onnx_is_const(o, *c) ? r : -1;
}

/* The optional Mul(gamma) and Add(beta) after y (node `last`). */
static void affine_tail(const Onnx *o, OnnxMatch *m, int last)
{
    int mul = with_const(o, last, "Mul", &m->input[1]);
    if (mul < 0) {
        m->input[1] = NULL;
        return;
    }
    take(m, mul);
    int add = with_const(o, mul, "Add", &m->input[2]);
    if (add < 0) {
        m->input[2] = NULL;
        return;
    }
    take(m, add);
}

static bool match_layernorm(const Onnx *o, int first, OnnxMatch *m)
{
    const char *x, *eps_name, *other;
    int readers[2], sub, sq = -1, div = -1, r2, add, sqrt_node;
    if (!mean_over(o, first, m))
        return false;
    x = node_at(o, first)->input[0];
    if ((sub = sole(o, out_of(o, first), "Sub")) < 0 ||
        !has_input(o, sub, out_of(o, first), &other) || strcmp(other, x) != 0 ||
        strcmp(node_at(o, sub)->input[0], x) != 0)
        return false;
    const char *d = out_of(o, sub);
    if (onnx_readers(o, d, readers, 2) != 2)
        return false;
    for (int k = 0; k < 2; k++) {
        if (onnx_is(o, readers[k], "Div") && strcmp(node_at(o, readers[k])->input[0], d) == 0)
            div = readers[k];
        else
            sq = square_of(o, readers[k], d);
    }
    if (div < 0 || sq < 0 || (r2 = sole(o, out_of(o, sq), "ReduceMean")) < 0 ||
        !mean_over(o, r2, m) || (add = sole(o, out_of(o, r2), "Add")) < 0 ||
        !has_input(o, add, out_of(o, r2), &eps_name) || !onnx_const_scalar(o, eps_name, &m->f[0]) ||
        (sqrt_node = sole(o, out_of(o, add), "Sqrt")) < 0 ||
        sole(o, out_of(o, sqrt_node), "Div") != div ||
        strcmp(node_at(o, div)->input[1], out_of(o, sqrt_node)) != 0)
        return false;
    int order[] = {first, sub, sq, r2, add, sqrt_node, div};
    for (size_t k = 0; k < sizeof order / sizeof *order; k++)
        take(m, order[k]);
    m->input[0] = x;
    m->ninput = 3;
    affine_tail(o, m, m->node[m->nnode - 1]);
    return true;
}

static bool lower_layernorm(OnnxNode *l, const OnnxMatch *m)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    int rank = onnx_rank(l, x), first = rank;
    bool axis_in[MAX_RANK + 1] = {false};
    for (int k = 0; k < m->ni; k++) {
        int a;
        if (!onnx_norm_axis(l, m->i[k], rank, &a))
            return false;
        axis_in[a] = true;
        first = a < first ? a : first;
    }
    for (int a = first; a < rank; a++)
        if (!axis_in[a])
            return onnx_fail(l, "a LayerNorm over axes that are not the trailing ones");
    return norm_onnx_layernorm(l, x, first, m->f[0]) != NULL;
}

const OnnxPattern norm_patterns[] = {
    {"ReduceMean", match_layernorm, lower_layernorm},
    {NULL, NULL, NULL},
};
