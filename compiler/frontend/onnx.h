/* onnx.h: what the ONNX front end's files share (frontend/onnx*.c).
 *
 * onnx_read.c turns a file into a checked ModelProto and decodes tensors,
 * onnx_fold.c evaluates nodes whose inputs are all constant, onnx.c lowers
 * the rest into the Graph. Values are named as in the file; each is either a
 * constant (an initializer, a Constant node, a folded result) or an
 * activation with a per-sample shape. */
#ifndef CNNC_ONNX_H
#define CNNC_ONNX_H

#include "../cnnc.h"
#include "onnx/onnx.pb-c.h"

/* Limits that keep a hostile file from asking for absurd memory. */
#define ONNX_MAX_FILE_BYTES ((int64_t)1 << 31)
#define ONNX_MAX_NUMEL ((int64_t)1 << 30)    /* elements of any one tensor */
#define ONNX_MAX_DEPTH 32                    /* message nesting */

/* A shape element standing for the run-time batch size (Shape of an
 * activation); it survives Gather/Concat/Unsqueeze/Slice and means
 * "the batch" to Reshape. Arithmetic on it is refused. */
#define BATCH_DIM INT64_MIN

enum { CONST_F32, CONST_I64 };

typedef struct {
    int dtype;
    Shape shape; /* the full ONNX shape (rank 0 for a scalar) */
    int64_t n;   /* elements */
    float *f;    /* CONST_F32 */
    int64_t *i;  /* CONST_I64 */
    bool init;   /* an initializer (a model parameter) */
    /* The initializer this constant is the 2-D transpose of (PyTorch's
     * Linear without bias: Transpose(weight) + MatMul), or NULL. */
    const char *transpose_of;
} Const;

typedef enum { V_NONE, V_CONST, V_ACT } ValueKind;

typedef struct {
    char *name;
    ValueKind kind;
    Const c;     /* V_CONST */
    int tensor;  /* V_ACT: the IR tensor */
    Shape shape; /* V_ACT: its per-sample shape */
    int uses;    /* how many node inputs name it */
} Value;

typedef struct {
    const char *path;
    Loc loc;
    Graph *g;
    const Onnx__ModelProto *model;
    int opset;
    Value *v;
    int nv, vcap;
    int *slot; /* hash table of value indices, -1 empty */
    int nslot;
} Onnx;

/* onnx_read.c */
Onnx__ModelProto *onnx_read_model(const char *path);
/* Decodes t (float32, or int64/int32 kept as int64) into c; `what` names it
 * in errors. c->init is left false. */
bool onnx_tensor_const(Onnx *o, const Onnx__TensorProto *t, const char *what, Const *c);
void const_free(Const *c);
/* Elements of a shape, or -1 (after an error naming `what`) when a
 * dimension is negative or the count exceeds ONNX_MAX_NUMEL. */
int64_t checked_numel(Onnx *o, const Shape *s, const char *what);

/* onnx.c: attribute and value helpers */
const char *node_label(const Onnx__NodeProto *node);
const Onnx__AttributeProto *attr_find(const Onnx__NodeProto *node, const char *name);
int64_t attr_int(const Onnx__NodeProto *node, const char *name, int64_t dflt);
float attr_float(const Onnx__NodeProto *node, const char *name, float dflt);
/* The INTS attribute `name`: its count, or -1 if absent. */
int attr_ints(const Onnx__NodeProto *node, const char *name, const int64_t **vals);
void node_error(Onnx *o, const Onnx__NodeProto *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* onnx_fold.c */
/* Can op_type be evaluated at load time when its inputs are constant? */
bool fold_supported(const char *op_type);
/* Evaluates node from its inputs (NULL for an absent optional input) into
 * *out; an activation input is allowed only where its shape suffices
 * (Shape). Reports errors; false on error. */
bool fold_node(Onnx *o, const Onnx__NodeProto *node, Value **in, int nin, Const *out);

#endif
