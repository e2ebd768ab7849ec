/* onnx_kit.h: what ONNX lowering shares, below the operator families.
 *
 * frontend/onnx.c walks a model: it reads and checks the file (onnx_read.c),
 * keeps the table of named values, and hands each node to the row of the
 * family that declared its op type (an OnnxKind). The row lowers the node
 * into IR nodes through the functions here, or, when its inputs are all
 * constant, evaluates it into a constant (its `fold`). Values are named as
 * in the file; each is either a constant (an initializer, a Constant node,
 * a folded result) or an activation with a per-sample shape. Errors read
 * `model.onnx: error: node 'Conv_3' (Conv): ...` (ONNX has no lines). */
#ifndef CNNC_ONNX_KIT_H
#define CNNC_ONNX_KIT_H

#include "../cnnc.h"
#include "onnx/onnx.pb-c.h"

/* Limits that keep a hostile file from asking for absurd memory. */
#define ONNX_MAX_FILE_BYTES ((int64_t)1 << 31)
#define ONNX_MAX_NUMEL ((int64_t)1 << 30) /* elements of any one tensor */
#define ONNX_MAX_DEPTH 32                 /* message nesting */
#define ONNX_MAX_INPUTS 64                /* inputs of one node */

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
    /* int8 models: an integer constant's ONNX element type (int8, uint8,
     * int32, int64); a float one dequantized from integers (or quantized
     * by a QuantizeLinear fold) keeps them in q, its scales along ONNX axis
     * qaxis (ops/quant/quant_front.c). */
    int elem;
    Quant *q;
    int qaxis;
} Const;

typedef enum { OV_NONE, OV_CONST, OV_ACT } OnnxValueKind;

typedef struct {
    char *name;
    OnnxValueKind kind;
    Const c;     /* OV_CONST */
    int tensor;  /* OV_ACT: the IR tensor */
    Shape shape; /* OV_ACT: its per-sample shape */
    int elem;    /* OV_ACT: a quantized one's ONNX type (uint8, int8); 0: float */
    int uses;    /* how many node inputs name it */
} OnnxValue;

typedef struct {
    const char *path;
    Loc loc;
    Graph *g;
    const Onnx__ModelProto *model;
    int opset;
    OnnxValue *v;
    int nv, vcap;
    int *slot; /* hash table of value indices, -1 empty */
    int nslot;
    /* Whole-tensor mode: the input is one sample of its full static shape,
     * no axis is the batch (onnx_sample_axis). batch_refused: a batch-mode
     * reading failed because a node mixes axis 0 (onnx_fail_batch), which
     * a whole-tensor reading may not; static_input: the input's every
     * dimension is a number (the condition of that retry). */
    bool whole, batch_refused, static_input;
} Onnx;

/* One node being lowered: its inputs' values (NULL for an absent optional
 * input) and the value its first output defines. */
typedef struct {
    Onnx *o;
    const Onnx__NodeProto *node;
    OnnxValue **in;
    int nin;
    OnnxValue *out;
    OnnxValue **outs; /* every output, out first (a multi_output kind's), NULL if absent */
    int nout;
    int version; /* the operator's version the model's opset selects (onnx_version) */
} OnnxNode;

/* An ONNX op type an operator family handles (a row of its table). */
typedef struct OnnxKind {
    const char *op_type;
    /* "name:type ...", types f i s t fs is: every attribute allowed; a
     * "name:type<V" only in versions before V (opset 1's consumed_inputs). */
    const char *attrs;
    /* Lowers the node into IR nodes (or names an existing value as its
     * output); reports errors, false after one. NULL: constants only. */
    bool (*lower)(OnnxNode *l);
    /* Evaluates the node on constant inputs into *out (NULL: it is never
     * evaluated at load time). */
    bool (*fold)(OnnxNode *l, Const *out);
    unsigned flags; /* ONNX_FOLD_ACTIVATIONS, ONNX_MULTI_OUTPUT, ONNX_N_AXIS (0 or false: none) */
    /* The opsets that changed the operator up to 17 (its since_versions in
     * onnx.defs), ascending: "1 6 7 13 14". */
    const char *since;
} OnnxKind;

/* A second family's share of an op type whose main row (onnx_kind_find:
 * attributes, versions, folding) is another family's: the nodes `takes`
 * says are its own, `row` lowers (its lower and flags; ops/registry.c).
 * Pow is the pow activation for one exponent, a power node otherwise. */
typedef struct {
    bool (*takes)(const OnnxNode *l);
    OnnxKind row;
} OnnxShare;

enum {
    ONNX_FOLD_ACTIVATIONS = 1, /* folds whatever its input is (Shape): true */
    ONNX_MULTI_OUTPUT = 2,     /* lowers every output it has (Split), not the first only */
    /* Its ONNX definition has an N axis first (Conv, pools, BatchNorm, ...):
     * in whole-tensor mode N must be 1, and the node is lowered as in batch
     * mode between two views that drop and restore that axis (onnx.c). */
    ONNX_N_AXIS = 4,
};

/* ---- patterns: ONNX subgraphs a family lowers as one node ----
 * Torch writes some layers as several ONNX nodes (LayerNorm before opset
 * 17: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add). A
 * pattern matches such a subgraph from its first node, before the nodes
 * are checked, so that its op types need no rows of their own; every node
 * it covers is then skipped but the last, where (its inputs all defined by
 * then) the pattern lowers the whole. Each value it covers but the last's
 * output must be read within the subgraph only. */
#define ONNX_MATCH_NODES 16
#define ONNX_MATCH_INPUTS 4

typedef struct {
    int node[ONNX_MATCH_NODES]; /* graph indices, the last the sink */
    int nnode;
    const char *input[ONNX_MATCH_INPUTS]; /* what the lowering reads, in its order; NULL: absent */
    int ninput;
    float f[2];            /* numbers the match read (LayerNorm: epsilon) */
    int64_t i[MAX_RANK];   /* and integers (LayerNorm: the axes) */
    int ni;
} OnnxMatch;

typedef struct OnnxPattern {
    const char *first; /* the op type a match starts from; NULL ends a table */
    bool (*match)(const Onnx *o, int first, OnnxMatch *m);
    /* l is the sink node with the match's inputs (l->in[k] for input[k],
     * NULL where absent); false after an error. */
    bool (*lower)(OnnxNode *l, const OnnxMatch *m);
} OnnxPattern;

/* The registry's patterns (ops/registry.c): the i-th, NULL past the last. */
const OnnxPattern *onnx_pattern_at(int i);
/* The row that lowers l, whose op type's main row (onnx_kind_find) is
 * main: the first share that takes it, else main. */
const OnnxKind *onnx_kind_lowering(const OnnxKind *main, const OnnxNode *l);
/* For matchers: the node defining `value` (-1: none, or an initializer);
 * the nodes reading it (written up to max; returns how many in all); a
 * node's op type is `type`; a float32 constant of one element's value
 * (an initializer or a Constant node's), false if it is not one. */
int onnx_producer(const Onnx *o, const char *value);
int onnx_readers(const Onnx *o, const char *value, int *out, int max);
bool onnx_is(const Onnx *o, int node, const char *type);
bool onnx_const_scalar(const Onnx *o, const char *value, float *v);
/* Whether `value` is an initializer or a Constant node's output (through
 * Identity nodes). */
bool onnx_is_const(const Onnx *o, const char *value);

/* ---- onnx_read.c: the file ---- */

Onnx__ModelProto *onnx_read_model(const char *path);
/* Decodes t (float32, or int64/int32/int8/uint8 kept as int64, c->elem
 * saying which) into c; `what` names it in errors. c->init is left false. */
bool onnx_tensor_const(Onnx *o, const Onnx__TensorProto *t, const char *what, Const *c);
void const_free(Const *c);
/* Elements of a shape, or -1 (after an error naming `what`) when a
 * dimension is negative or the count exceeds ONNX_MAX_NUMEL. */
int64_t checked_numel(Onnx *o, const Shape *s, const char *what);

/* ---- onnx_kit.c: attributes and errors ---- */

const char *node_label(const Onnx__NodeProto *node);
const Onnx__AttributeProto *attr_find(const Onnx__NodeProto *node, const char *name);
int64_t attr_int(const Onnx__NodeProto *node, const char *name, int64_t dflt);
float attr_float(const Onnx__NodeProto *node, const char *name, float dflt);
/* The INTS attribute `name`: its count, or -1 if absent. */
int attr_ints(const Onnx__NodeProto *node, const char *name, const int64_t **vals);
/* The STRING attribute `name` into buf (cut to size), or dflt. */
const char *attr_string(const Onnx__NodeProto *node, const char *name, const char *dflt,
                        char *buf, size_t size);
void node_error(Onnx *o, const Onnx__NodeProto *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The version of `kind` a model of `opset` uses: the largest of its since
 * versions not above the opset. An operator newer than the opset
 * (HardSwish in an opset 9 model) is read as its first version: cnnc took
 * such nodes before versions were known, and still does. */
int onnx_version(const OnnxKind *kind, int opset);
/* onnx_fail naming the operator's version, `(Pad-2)`: for what one version
 * means and cnnc does not compute. */
bool onnx_fail_version(OnnxNode *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* node_error for the node being lowered; returns false. */
bool onnx_fail(OnnxNode *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- onnx_kit.c: the frame of axes ----
 * In batch mode an activation's ONNX axis 0 is the batch, kept out of its
 * per-sample shape: ONNX axis a is sample axis a - 1. In whole-tensor mode
 * (Onnx.whole) the sample is the whole tensor: ONNX axis a is sample axis
 * a. Shape-valued constants (Reshape's target, Shape's result) follow the
 * same frame: their entry 0 is the batch only in batch mode. */

/* How many leading ONNX axes are not in the per-sample shape: 1 or 0. */
int onnx_batch_axes(const Onnx *o);
/* The ONNX rank of activation x. */
int onnx_rank(const OnnxNode *l, const OnnxValue *x);
/* The sample axis of ONNX axis a (in [0, rank)); -1 for the batch axis. */
int onnx_sample_axis(const OnnxNode *l, int a);
/* onnx_fail for what mixes the samples of a batch (axis 0 reduced, moved,
 * sliced, ...): a whole-tensor reading may take the model (onnx.c retries). */
bool onnx_fail_batch(OnnxNode *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- onnx_kit.c: inputs, nodes and parameters ---- */

/* Input i as an activation, or NULL after an error. */
OnnxValue *onnx_act_in(OnnxNode *l, int i);
/* Input i as a float32 constant; NULL (after an error unless optional and
 * absent) otherwise. */
OnnxValue *onnx_float_in(OnnxNode *l, int i, bool optional);
/* Reads the spatial INTS attribute `name` (count values) into v, each at
 * least 1 (0 where dflt is 0), dflt where absent. */
bool onnx_spatial_ints(OnnxNode *l, const char *name, int64_t dflt, int64_t *v, int count);
/* Adds an IR node for the node being lowered (named after it plus
 * `suffix`) reading the activations in[0..nin), writing value `out`. With s,
 * the output's per-sample shape is s; with NULL, the operator's shape rule
 * gives it (its errors are the node's). NULL after an error. */
Node *onnx_add_node(OnnxNode *l, int op, const char *suffix, OnnxValue **in, int nin,
                    OnnxValue *out, const Shape *s);
/* Runs n's shape rule now, so that out describes its output; false after
 * an error. For a node whose attributes or parameters were set after
 * onnx_add_node(..., s). */
bool onnx_infer(OnnxNode *l, Node *n, OnnxValue *out);
/* Parameter slot `slot` of n is tensor t. */
void onnx_set_param(Node *n, int slot, int t);
/* The IR tensor holding float data `data` of shape s, named `name` when
 * that name is free or already holds the same data (a shared weight). */
int onnx_make_param(Onnx *o, const char *name, TensorKind kind, const Shape *s,
                    const float *data);
/* A constant operand as an IR tensor: `kind` for initializers, else T_CONST;
 * with its integers (v->c.q) when they are per tensor or along axis 0. */
int onnx_const_param(Onnx *o, const OnnxValue *v, TensorKind kind);
/* Tensor t (IR layout) takes c's integers: c's values transposed as the
 * front end transposed its floats (perm[ir index] = ONNX index; NULL: the
 * same order), when c's scales run along ONNX axis `axis0` (what becomes
 * axis 0) or are one per tensor; else t stays float. */
void onnx_attach_quant(Onnx *o, int t, const Const *c, int axis0, const int64_t *perm);
/* The node's output is value x itself (Identity, inference Dropout, a
 * Concat of one input, ...): no IR node. */
void onnx_alias(OnnxNode *l, const OnnxValue *x);

/* ---- onnx_kit.c: constants, for the families' folds ---- */

/* Allocates out's data for `shape`, of dtype. */
bool const_alloc(OnnxNode *l, Const *out, int dtype, const Shape *shape);
/* The same for a fold whose result can outgrow its `inputs` elements
 * (ConstantOfShape, broadcasting, Gather): beyond CONST_GROWTH_MAX elements
 * and its inputs, it is an error. Exporters fold shapes, bounds and small
 * masks, nothing near this; a tiny file asking for gigabytes does. */
#define CONST_GROWTH_MAX ((int64_t)1 << 24)
bool const_alloc_grown(OnnxNode *l, Const *out, int dtype, const Shape *shape, int64_t inputs);
void const_copy_elem(Const *dst, int64_t di, const Const *src, int64_t si);
/* Row-major strides of s, and index k of s as a multi-index. */
void const_strides(const Shape *s, int64_t *st);
void const_unravel(const Shape *s, int64_t k, int64_t *idx);
/* axis (possibly negative) of a rank-`rank` tensor into [0, rank). */
bool onnx_norm_axis(OnnxNode *l, int64_t axis, int rank, int *out);
/* The first k inputs are given (else "missing input"). */
bool onnx_has_inputs(OnnxNode *l, int k);
/* Input i must be a constant; an int64 one. */
bool onnx_need_const(OnnxNode *l, int i);
bool onnx_need_i64(OnnxNode *l, const Const *c, const char *what);
/* An int64 list (of at most MAX_RANK values) from attribute `attr` before
 * opset `since`, from constant input `idx` from then on, into vals:
 * returns the count, -1 when absent, -2 after an error. */
int onnx_int_list(OnnxNode *l, int idx, const char *attr, int since, int64_t *vals);
/* x's data under shape s (same count). */
bool const_reshaped(OnnxNode *l, const Const *x, const Shape *s, Const *out);

#endif
