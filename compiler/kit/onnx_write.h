/* onnx_write.h: an ONNX model built in memory and written with protobuf-c's
 * pack (onnx_write.c), below the operator families: each family writes its
 * own nodes (OpInfo.onnx_write, in <family>_front.c beside the ONNX types
 * it reads), emit/emit_onnx.c walks the graph. `cnnc quantize` writes QDQ
 * models with it; `cnnc export` (issue 18) is meant to reuse it.
 *
 *   OnnxWriter *w = onnx_writer_new("model");
 *   onnx_writer_io(w, "x", &shape, false);           float32 [N, shape...]
 *   onnx_writer_float(w, "fc.weight", &ws, data);    an initializer
 *   Onnx__NodeProto *n = onnx_writer_node(w, "Gemm", (const char *[]){"x", "fc.weight"}, 2, "y");
 *   onnx_attr_int(w, n, "transB", 1);
 *   onnx_writer_io(w, "y", &ys, true);
 *   onnx_writer_save(w, "out.onnx", 13);             whole or not at all
 *
 * Every string and array is copied and owned by the writer. */
#ifndef CNNC_ONNX_WRITE_H
#define CNNC_ONNX_WRITE_H

#include "../cnnc.h"
#include "onnx/onnx.pb-c.h"

typedef struct OnnxWriter OnnxWriter;

OnnxWriter *onnx_writer_new(const char *graph_name);
void onnx_writer_free(OnnxWriter *w);
/* base, or base_2, base_3, ...: a value name not used yet; kept by w. */
const char *onnx_writer_fresh(OnnxWriter *w, const char *base);
/* Marks name as used (a value the caller names itself). */
void onnx_writer_claim(OnnxWriter *w, const char *name);

/* Initializers: float32; integers (elem: ONNX int8, uint8, int32 or int64,
 * stored little-endian as raw data), shape s (rank 0: a scalar). */
void onnx_writer_float(OnnxWriter *w, const char *name, const Shape *s, const float *data);
void onnx_writer_ints(OnnxWriter *w, const char *name, const Shape *s, const int64_t *v,
                      int elem);
/* A node of the default domain reading in[0..nin) ("" for an absent
 * optional input), writing out; named after its output. */
Onnx__NodeProto *onnx_writer_node(OnnxWriter *w, const char *op, const char *const *in, int nin,
                                  const char *out);
void onnx_attr_int(OnnxWriter *w, Onnx__NodeProto *n, const char *name, int64_t v);
void onnx_attr_ints(OnnxWriter *w, Onnx__NodeProto *n, const char *name, const int64_t *v,
                    int count);
void onnx_attr_float(OnnxWriter *w, Onnx__NodeProto *n, const char *name, float v);
void onnx_attr_string(OnnxWriter *w, Onnx__NodeProto *n, const char *name, const char *v);
/* The graph's input or output: float32 [N, per_sample...], N symbolic. */
void onnx_writer_io(OnnxWriter *w, const char *name, const Shape *per_sample, bool output);
/* Packs the model (IR version 8, the default domain at `opset`) and writes
 * it to path atomically; false after an error (reported at path). */
bool onnx_writer_save(OnnxWriter *w, const char *path, int opset);

/* ---- a Graph's values, for the families' OpInfo.onnx_write ---- */

#define ONNX_EXPORT_OPSET 13

typedef struct OnnxExport {
    OnnxWriter *w;
    const Graph *g;
    char **param; /* per tensor: a written parameter's value name, else NULL */
} OnnxExport;

/* Activation t's value: its IR name. */
const char *onnx_export_act(OnnxExport *x, int t);
/* Parameter t's value, its initializer written the first time: float32
 * under its own name, or integers (int8 weights, int32 bias) under
 * "<name>_quantized" and a DequantizeLinear (per channel along axis 0)
 * whose output has its name. */
const char *onnx_export_param(OnnxExport *x, int t);
/* q's scales and zero points (of ONNX type elem) as initializers named
 * after base: scalars, or 1-D per channel. */
void onnx_export_quant(OnnxExport *x, const char *base, const Quant *q, int elem,
                       const char **scale, const char **zero);
/* Where node n's own result goes: its output's name, or, when n has a
 * fused epilogue, a fresh value the epilogue reads (act_onnx_epilogue). */
const char *onnx_export_pre(OnnxExport *x, const Node *n);
/* A scalar or 1-D int64 initializer of count values; its name. */
const char *onnx_export_i64(OnnxExport *x, const char *base, const int64_t *v, int count);

#endif
