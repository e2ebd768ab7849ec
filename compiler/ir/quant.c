/* quant.c: integer tensors in the IR (cnnc.h, "ir/quant.c"). Takes the
 * Quant records the front ends and the int8 passes attach to tensors; gives
 * their allocation and the questions generic code asks of them: what an
 * activation holds, how much arena it takes, whether a node computes in
 * integers. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

Quant *quant_new(DType dtype, int n)
{
    Quant *q = xcalloc(1, sizeof *q);
    q->dtype = dtype;
    q->n = n;
    q->scale = xcalloc((size_t)n, sizeof *q->scale);
    q->zero_point = xcalloc((size_t)n, sizeof *q->zero_point);
    return q;
}

Quant *quant_copy(const Quant *q, int64_t numel)
{
    if (!q)
        return NULL;
    Quant *c = quant_new(q->dtype, q->n);
    memcpy(c->scale, q->scale, (size_t)q->n * sizeof *q->scale);
    memcpy(c->zero_point, q->zero_point, (size_t)q->n * sizeof *q->zero_point);
    if (q->values) {
        c->values = xmalloc((size_t)(numel ? numel : 1) * sizeof *c->values);
        memcpy(c->values, q->values, (size_t)numel * sizeof *c->values);
    }
    return c;
}

void quant_free(Quant *q)
{
    if (!q)
        return;
    free(q->scale);
    free(q->zero_point);
    free(q->values);
    free(q);
}

DType tensor_dtype(const Tensor *t)
{
    return t->q ? t->q->dtype : DT_F32;
}

int dtype_bytes(DType dt)
{
    return dt == DT_I8 ? 1 : 4;
}

int64_t tensor_floats(const Tensor *t, int64_t samples)
{
    int64_t bytes = shape_numel(&t->shape) * samples * dtype_bytes(tensor_dtype(t));
    return (bytes + 3) / 4;
}

bool node_quantized(const Graph *g, const Node *n)
{
    if (g->t[n->out].q)
        return true;
    for (int j = 0; j < n->nin; j++)
        if (g->t[n->in[j]].q)
            return true;
    return false;
}
