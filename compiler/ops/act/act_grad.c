/* act_grad.c: backward of the activations (act.c), standalone and as a
 * fused epilogue.
 *
 *   dL/dx = dL/dy * act'(x), act' as act_derivative gives it (PyTorch's
 *   choice at the kinks, listed in act.c).
 *
 * A fused epilogue keeps only its output y; act_derivative then reads y
 * alone, which holds for every Act the fusion pass folds
 * (act_grad_from_output). */
#include "../ops.h"

#include <stdlib.h>

void act_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
              const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    Act act = node_act(n);
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    for (int64_t i = 0; i < count; i++)
        din[0][i] += dout[i] * act_derivative(act, in[0][i], out[i]);
}

float *epilogue_grad(const Node *n, const float *y, const float *dy, int64_t count)
{
    if (n->act.kind == ACT_NONE)
        return NULL;
    if (!act_grad_from_output(n->act))
        internal_error("%s '%s': fused %s cannot be differentiated from its output",
                       op_info(n->op)->name, n->name, act_name(n->act.kind));
    float *d = xmalloc((size_t)count * sizeof *d);
    for (int64_t i = 0; i < count; i++)
        d[i] = dy[i] * act_derivative(n->act, y[i], y[i]);
    return d;
}

/* act' from the output, or from the input where the output's sign does
 * not give the input's (act_grad_from_output). */
void act_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)gn;
    in[0] = !act_grad_from_output(node_act(n));
    *out = true;
}

/* For the operators whose backward reads no forward tensor (average
 * pooling, concat, pad, dropout). */
void grad_reads_none(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)gn;
    for (int j = 0; j < n->nin; j++)
        in[j] = false;
    *out = false;
}
