/* registry.c: every operator family's front-end rows, in one list each: the
 * DSL keywords the DSL front end looks up (frontend/dsl_lower.c) and, for
 * messages, suggests among; the ONNX op types the ONNX front end
 * (frontend/onnx.c) dispatches to. A new family adds its tables here; a new
 * activation needs nothing (act_dsl and act_onnx hold every row of
 * acts.def). */
#include "ops.h"

#include <string.h>

static const DslKind *const dsl_tables[] = {
    conv_dsl, pool_dsl, dense_dsl, batchnorm_dsl, reshape_dsl, act_dsl,
    softmax_dsl, maxout_dsl, elementwise_dsl, concat_dsl, pad_dsl, reduce_dsl, prelu_dsl,
    conv_transpose_dsl, resize_dsl, /* issue 13: up-sampling */
    transpose_dsl, slice_dsl, norm_dsl, matmul_dsl,
};

const DslKind *dsl_kind_at(int i)
{
    for (size_t t = 0; t < sizeof dsl_tables / sizeof *dsl_tables; t++)
        for (const DslKind *k = dsl_tables[t]; k->word; k++)
            if (i-- == 0)
                return k;
    return NULL;
}

const DslKind *dsl_kind_find(const char *word)
{
    const DslKind *k;
    for (int i = 0; (k = dsl_kind_at(i)); i++)
        if (strcmp(k->word, word) == 0)
            return k;
    return NULL;
}

static const OnnxKind *const onnx_tables[] = {
    conv_onnx, pool_onnx, batchnorm_onnx, dense_onnx, elementwise_onnx, act_onnx,
    softmax_onnx, reshape_onnx, concat_onnx, pad_onnx, const_onnx, reduce_onnx, prelu_onnx,
    quant_onnx, transpose_onnx, slice_onnx, norm_onnx, matmul_onnx,
    conv_transpose_onnx, resize_onnx, /* issue 13: up-sampling */
};

const OnnxKind *onnx_kind_find(const char *op_type)
{
    for (size_t t = 0; t < sizeof onnx_tables / sizeof *onnx_tables; t++)
        for (const OnnxKind *k = onnx_tables[t]; k->op_type; k++)
            if (*k->op_type && strcmp(k->op_type, op_type) == 0)
                return k;
    return NULL;
}

/* An op type whose nodes two families lower has a main row in one and a
 * share in the other, so that neither family calls the other. */
static const OnnxShare *const onnx_share_tables[] = {
    elementwise_onnx_shares,
};

const OnnxKind *onnx_kind_lowering(const OnnxKind *main, const OnnxNode *l)
{
    for (size_t t = 0; t < sizeof onnx_share_tables / sizeof *onnx_share_tables; t++)
        for (const OnnxShare *s = onnx_share_tables[t]; s->takes; s++)
            if (strcmp(s->row.op_type, main->op_type) == 0 && s->takes(l))
                return &s->row;
    return main;
}

/* The ONNX subgraphs a family lowers as one node (kit/onnx_kit.h). */
static const OnnxPattern *const onnx_pattern_tables[] = {
    norm_patterns,
};

const OnnxPattern *onnx_pattern_at(int i)
{
    for (size_t t = 0; t < sizeof onnx_pattern_tables / sizeof *onnx_pattern_tables; t++)
        for (const OnnxPattern *p = onnx_pattern_tables[t]; p->first; p++)
            if (i-- == 0)
                return p;
    return NULL;
}
