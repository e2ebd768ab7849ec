/* interp.c: the reference interpreter. Takes a shaped Graph whose
 * parameters hold data, and `batch` samples of input; gives every
 * activation tensor's value (batch samples, contiguous), computed node by
 * node with each operator's OpInfo.run. It is the oracle the generated
 * code is compared with, so it is plain rather than fast: one buffer per
 * tensor, no reuse, no in-place tricks. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

/* batch * numel elements (floats, or the integers of an int8 build), or
 * NULL (after an error) if that overflows. */
static float *alloc_activation(const Graph *g, const Tensor *t, int batch)
{
    int64_t count, bytes;
    if (mul_overflows(shape_numel(&t->shape), batch, &count) ||
        mul_overflows(count, dtype_bytes(tensor_dtype(t)), &bytes) || (uint64_t)bytes > SIZE_MAX) {
        diag_error((Loc){g->file, 0, 0}, "tensor '%s': %d samples of %lld floats do not fit in memory",
                   t->name, batch, (long long)shape_numel(&t->shape));
        return NULL;
    }
    return xmalloc((size_t)bytes);
}

/* What earlier passes must have done; a miss is a bug in cnnc, reported
 * rather than crashed on. */
static bool check_ready(const Graph *g)
{
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        const OpInfo *op = op_info(n->op);
        bool quantized = node_quantized(g, n);
        if (quantized ? !op->quant || !op->quant->run : !op->run) {
            diag_error(n->loc, "internal error: operator '%s' (layer '%s') cannot be interpreted",
                       op->name, n->name);
            return false;
        }
        if (g->t[n->out].shape.rank == 0) {
            diag_error(n->loc, "internal error: layer '%s' has no shape", n->name);
            return false;
        }
        for (int s = 0; s < n->nparam; s++)
            if (n->param[s] >= 0 && !g->t[n->param[s]].data) {
                diag_error(n->loc, "internal error: parameter '%s' has no value",
                           g->t[n->param[s]].name);
                return false;
            }
    }
    return true;
}

static bool alloc_all(const Graph *g, Activations *a)
{
    if (!(a->val[g->input] = alloc_activation(g, &g->t[g->input], a->batch)))
        return false;
    for (int i = 0; i < g->nn; i++) {
        int t = g->n[i].out;
        if (!(a->val[t] = alloc_activation(g, &g->t[t], a->batch)))
            return false;
    }
    return true;
}

static void run_node(Graph *g, const Node *n, Activations *a, bool training)
{
    const float **in = xmalloc((size_t)n->nin * sizeof *in);
    for (int j = 0; j < n->nin; j++)
        in[j] = a->val[n->in[j]];
    if (node_quantized(g, n)) /* int8 builds: the integer kernel, on the tensors' types */
        op_info(n->op)->quant->run(g, n, (const void *const *)in, a->val[n->out], a->batch);
    else
        op_info(n->op)->run(g, n, in, a->val[n->out], a->batch, training);
    free(in);
}

Activations interp_forward(Graph *g, const float *input, int batch, bool training)
{
    Activations a = {.val = xcalloc((size_t)g->nt, sizeof *a.val), .batch = batch};
    if (batch < 1) {
        diag_error((Loc){g->file, 0, 0}, "batch size %d is below 1", batch);
        interp_free(g, &a);
        return a;
    }
    if (!check_ready(g) || !alloc_all(g, &a)) {
        interp_free(g, &a);
        return a;
    }
    memcpy(a.val[g->input], input,
           (size_t)batch * (size_t)shape_numel(&g->t[g->input].shape) * sizeof(float));
    for (int i = 0; i < g->nn; i++)
        run_node(g, &g->n[i], &a, training);
    return a;
}

void interp_free(const Graph *g, Activations *a)
{
    if (a->val)
        for (int i = 0; i < g->nt; i++)
            free(a->val[i]);
    free(a->val);
    a->val = NULL;
    a->batch = 0;
}
