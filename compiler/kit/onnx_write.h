/* onnx_write.h: building an ONNX model in memory and writing it out.
 *
 * Below the operator families: `cnnc export` (emit/onnx_export.c) walks the
 * graph and each family writes its nodes through these functions
 * (OpInfo.onnx_export); `cnnc quantize` writes its QDQ models the same way.
 * The model is protobuf-c's ModelProto: the graph's one input and output
 * have a symbolic batch dimension "N"; initializers are float32, int64 or
 * (int8 models) int8, uint8 and int32, little-endian raw data. Every string and array lives until
 * onnx_out_free. */
#ifndef CNNC_ONNX_WRITE_H
#define CNNC_ONNX_WRITE_H

#include "../cnnc.h"
#include "onnx/onnx.pb-c.h"

typedef struct OnnxOut OnnxOut;

/* A model holding one graph named `name`, of the default domain's opset
 * `opset` at least (onnx_out_need_opset raises it). */
OnnxOut *onnx_out_new(const char *name, int opset);
void onnx_out_free(OnnxOut *o);
void onnx_out_need_opset(OnnxOut *o, int opset);

/* The graph's input or output: float32 [N, <per-sample shape>]. */
void onnx_out_io(OnnxOut *o, bool input, const char *name, const Shape *per_sample);
/* An initializer of the given full shape (rank 0: a scalar). */
void onnx_out_init_f32(OnnxOut *o, const char *name, const Shape *s, const float *data);
void onnx_out_init_i64(OnnxOut *o, const char *name, const Shape *s, const int64_t *data);
/* Integers as ONNX type dtype: ONNX__TENSOR_PROTO__DATA_TYPE__INT8, UINT8
 * or INT32. */
void onnx_out_init_int(OnnxOut *o, const char *name, const Shape *s, const int32_t *data,
                       int dtype);
/* q's scales (float32) and zero points (of ONNX type dtype) as two fresh
 * initializers named after base: scalars, or 1-D, one per channel. */
void onnx_out_quant(OnnxOut *o, const char *base, const Quant *q, int dtype, const char **scale,
                    const char **zero);
/* A value name made from `base`, used by nothing else in the model so far
 * (for intermediate values and extra initializers). */
const char *onnx_out_fresh(OnnxOut *o, const char *base);

/* A node (name `name`) reading ninputs values (NULL or "" for an absent
 * optional input) and writing one; attributes are added to what it returns. */
Onnx__NodeProto *onnx_out_node(OnnxOut *o, const char *op_type, const char *name,
                               const char *const *inputs, int ninputs, const char *output);
void onnx_attr_int(OnnxOut *o, Onnx__NodeProto *n, const char *name, int64_t v);
void onnx_attr_ints(OnnxOut *o, Onnx__NodeProto *n, const char *name, const int64_t *v,
                    int count);
void onnx_attr_float(OnnxOut *o, Onnx__NodeProto *n, const char *name, float v);
void onnx_attr_string(OnnxOut *o, Onnx__NodeProto *n, const char *name, const char *v);

/* Serialises the model to `path`, whole or not at all; false after an
 * error (reported at path). */
bool onnx_out_write(OnnxOut *o, const char *path);

#endif
