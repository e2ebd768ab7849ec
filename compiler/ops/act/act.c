/* act.c: elementwise activations, as standalone operators and as the Act
 * epilogue that conv, dense, batchnorm and add apply to their results.
 *
 *   relu        y = max(x, 0)                      dy/dx = y > 0
 *   leaky_relu  y = x > 0 ? x : alpha*x            dy/dx = y > 0 ? 1 : alpha
 *   sigmoid     y = 1 / (1 + e^-x)                 dy/dx = y (1 - y)
 *   tanh        y = tanh x                         dy/dx = 1 - y^2
 *   elu         y = x > 0 ? x : alpha (e^x - 1)    dy/dx = y > 0 ? 1 : y + alpha
 *   clip        y = min(max(x, lo), hi)            dy/dx = lo < y < hi
 *
 * Shape rule: one input; the output has the input's shape.
 *
 * Derivatives follow PyTorch at the kinks: relu and leaky_relu give the
 * negative side's slope at x = 0 (threshold_backward, leaky_relu_backward),
 * elu gives alpha there (elu_backward on the result). clip follows Hardtanh,
 * which ReLU6 is: gradient 1 only strictly inside (lo, hi), 0 at the bounds.
 * (torch.clamp passes it at the bounds too; clip and relu6 share one Act here,
 * and the strict rule is the one computable from y alone.) */
#include "../ops.h"

#include <math.h>
#include <string.h>

/* Split by sign so that e^|x| never overflows: exact 0/1 limits, no NaN. */
static float sigmoid(float x)
{
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

float act_apply(Act act, float x)
{
    switch (act.kind) {
    case ACT_NONE:
        return x;
    case ACT_RELU:
        return x > 0 ? x : 0.0f;
    case ACT_LEAKY_RELU:
        return x > 0 ? x : act.a * x;
    case ACT_SIGMOID:
        return sigmoid(x);
    case ACT_TANH:
        return tanhf(x);
    case ACT_ELU:
        return x > 0 ? x : act.a * expm1f(x);
    case ACT_CLIP:
        return x < act.a ? act.a : x > act.b ? act.b : x;
    }
    internal_error("bad activation %d", (int)act.kind);
}

bool act_grad_from_output(Act act)
{
    if (act.kind == ACT_LEAKY_RELU)
        return act.a >= 0;
    if (act.kind == ACT_ELU)
        return act.a >= 0;
    return true;
}

float act_derivative(Act act, float x, float y)
{
    bool positive = act_grad_from_output(act) ? y > 0 : x > 0;
    switch (act.kind) {
    case ACT_NONE:
        return 1.0f;
    case ACT_RELU:
        return positive ? 1.0f : 0.0f;
    case ACT_LEAKY_RELU:
        return positive ? 1.0f : act.a;
    case ACT_SIGMOID:
        return y * (1.0f - y);
    case ACT_TANH:
        return 1.0f - y * y;
    case ACT_ELU:
        return positive ? 1.0f : y + act.a;
    case ACT_CLIP:
        return y > act.a && y < act.b ? 1.0f : 0.0f;
    }
    internal_error("bad activation %d", (int)act.kind);
}

const char *act_name(ActKind kind)
{
    static const char *const names[] = {
        [ACT_NONE] = "none", [ACT_RELU] = "relu", [ACT_LEAKY_RELU] = "leaky_relu",
        [ACT_SIGMOID] = "sigmoid", [ACT_TANH] = "tanh", [ACT_ELU] = "elu", [ACT_CLIP] = "clip",
    };
    if ((unsigned)kind >= sizeof names / sizeof *names)
        internal_error("bad activation %d", (int)kind);
    return names[kind];
}

Act node_act(const Node *n)
{
    switch (n->op) {
    case OP_RELU:
        return (Act){ACT_RELU, 0, 0};
    case OP_LEAKY_RELU:
        return (Act){ACT_LEAKY_RELU, n->a.alpha, 0};
    case OP_SIGMOID:
        return (Act){ACT_SIGMOID, 0, 0};
    case OP_TANH:
        return (Act){ACT_TANH, 0, 0};
    case OP_ELU:
        return (Act){ACT_ELU, n->a.alpha, 0};
    case OP_CLIP:
        return (Act){ACT_CLIP, n->a.lo, n->a.hi};
    default:
        return (Act){ACT_NONE, 0, 0};
    }
}

static bool infer_act(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    if (n->op == OP_CLIP && !(n->a.lo <= n->a.hi)) {
        diag_error(n->loc, "clip '%s': min %g is greater than max %g", n->name, (double)n->a.lo,
                   (double)n->a.hi);
        return false;
    }
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

#define ACT_OP(NAME, ID) \
    const OpInfo op_##NAME = { \
        .name = #NAME, \
        .traits = OP_TRAITS(ID), \
        .infer = infer_act, \
        .run = run_act, \
        .grad = act_grad, \
        .emit = act_emit, \
        .emit_grad = act_emit_grad, \
    }

ACT_OP(relu, RELU);
ACT_OP(leaky_relu, LEAKY_RELU);
ACT_OP(sigmoid, SIGMOID);
ACT_OP(tanh, TANH);
ACT_OP(elu, ELU);
ACT_OP(clip, CLIP);
