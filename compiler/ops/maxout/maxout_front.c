/* maxout_front.c: how the DSL writes maxout: maxout(K), the maximum over
 * each group of K consecutive channels. */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void dsl_maxout(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_get_int(c, "k", true, 1, &n->a.k);
}

const DslKind maxout_dsl[] = {
    {"maxout", "maxout", OP_MAXOUT, 0, "k", "k", dsl_maxout, NULL},
    {NULL},
};

/* ---- export: maxout has no ONNX operator; as Reshape to [N, C/k, k, P]
 * (P the other dims' product), a MaxPool of k x 1 windows, and Reshape
 * back, which every runtime (cnnc's importer too) has ---- */

static const char *export_reshape(OnnxOut *o, const char *name, const char *x,
                                  const int64_t *target, int rank, const char *out)
{
    Shape ts = {1, {rank}};
    const char *shape = onnx_out_fresh(o, "shape");
    onnx_out_init_i64(o, shape, &ts, target);
    const char *inputs[2] = {x, shape};
    onnx_out_node(o, "Reshape", name, inputs, 2, out);
    return out;
}

bool maxout_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out)
{
    const Shape *s = node_in_shape(g, n, 0), *os = node_out_shape(g, n);
    int64_t k = n->a.k, groups[4] = {0, s->d[0] / k, k, shape_numel(s) / s->d[0]};
    char *base = xasprintf("%s_groups", n->name);
    const char *grouped = onnx_out_fresh(o, base);
    free(base);
    export_reshape(o, grouped, in[0], groups, 4, grouped);
    base = xasprintf("%s_max", n->name);
    const char *maxed = onnx_out_fresh(o, base);
    free(base);
    Onnx__NodeProto *p = onnx_out_node(o, "MaxPool", maxed, &grouped, 1, maxed);
    int64_t kernel[2] = {k, 1};
    onnx_attr_ints(o, p, "kernel_shape", kernel, 2);
    int64_t back[MAX_RANK + 1] = {0};
    memcpy(back + 1, os->d, (size_t)os->rank * sizeof *back);
    export_reshape(o, n->name, maxed, back, os->rank + 1, out);
    return true;
}
