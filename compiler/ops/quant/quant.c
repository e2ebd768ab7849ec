/* quant.c: quantize and dequantize, the conversions between float32 and
 * int8 activations (ONNX QuantizeLinear and DequantizeLinear).
 *
 *   quantize    q = saturate(round(x / scale) + zp)   round half to even
 *   dequantize  x = (q - zp) * scale
 *
 * with the scale and zero point of the integer side (quantize's output,
 * dequantize's input), one per tensor (kit/qmath.c). Shape rule: one input;
 * the output has its shape. They always touch an integer tensor, so they
 * have no float form: the interpreter and the code generator run their
 * QuantOps. In a model compiled whole to integers they are the first and
 * last layers, and the only float arithmetic (docs/int8.md). */
#include "../ops.h"
#include "../../kit/qmath.h"

static bool infer_conversion(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    bool to_int = n->op == OP_QUANTIZE;
    const Tensor *t = to_int ? &g->t[n->out] : &g->t[n->in[0]];
    if (!t->q || t->q->dtype != DT_I8 || t->q->n != 1)
        internal_error("%s '%s': its int8 side has no per-tensor scale", op_info(n->op)->name,
                       n->name);
    g->t[n->out].shape = *node_in_shape(g, n, 0);
    return true;
}

static void run_quantize(const Graph *g, const Node *n, const void *const *in, void *out,
                         int batch)
{
    const Quant *q = g->t[n->out].q;
    const float *x = in[0];
    int8_t *y = out;
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    for (int64_t i = 0; i < count; i++)
        y[i] = q_quantize(x[i], q_scale(q), q_zero(q));
}

static void run_dequantize(const Graph *g, const Node *n, const void *const *in, void *out,
                           int batch)
{
    const Quant *q = g->t[n->in[0]].q;
    const int8_t *x = in[0];
    float *y = out;
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    for (int64_t i = 0; i < count; i++)
        y[i] = q_dequantize(x[i], q_scale(q), q_zero(q));
}

static void emit_conversion(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    bool to_int = n->op == OP_QUANTIZE;
    const Quant *q = to_int ? g->t[n->out].q : g->t[n->in[0]].q;
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)shape_numel(node_out_shape(g, n)));
    emit_line(e, "    y[i] = cnnc_%s(x0[i], %s, %ld);", to_int ? "q8" : "dq",
              emit_float(e, q_scale(q)), (long)q_zero(q));
}

static const QuantOps quantize_int8 = {.run = run_quantize, .emit = emit_conversion};
static const QuantOps dequantize_int8 = {.run = run_dequantize, .emit = emit_conversion};

const OpInfo op_quantize = {
    .name = "quantize",
    .traits = OP_TRAITS(QUANTIZE),
    .infer = infer_conversion,
    .quant = &quantize_int8,
    .onnx_export = quant_onnx_export,
};

const OpInfo op_dequantize = {
    .name = "dequantize",
    .traits = OP_TRAITS(DEQUANTIZE),
    .infer = infer_conversion,
    .quant = &dequantize_int8,
    .onnx_export = quant_onnx_export,
};
