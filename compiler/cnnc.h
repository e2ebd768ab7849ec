/* cnnc.h: the compiler's one internal header, a section per module.
 *
 * The pipeline: a front end (grammar/ for the DSL, frontend/onnx.c) builds a
 * Graph; passes/ infer shapes, initialise weights and fuse; plan/ lays
 * tensors out in one arena; emit/ writes C; interp/ runs the Graph directly
 * as the reference. Every operator's facts live in one OpInfo
 * (compiler/ops/), listed in compiler/ops.def. */
#ifndef CNNC_H
#define CNNC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CNNC_VERSION "0.1.0"

/* ---- util/util.c: allocation that cannot fail, growable strings ---- */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Grow *p (holding *cap items of `size`) so that it holds at least `need`. */
void grow_array(void *p, int *cap, int need, size_t size);

typedef struct {
    char *s;
    size_t len, cap;
} StrBuf;

void sb_putc(StrBuf *b, char c);
void sb_puts(StrBuf *b, const char *s);
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(StrBuf *b);

/* A map from names to ints (open addressing). The keys are borrowed: they
 * must outlive the map. */
typedef struct {
    const char **key;
    int *val;
    int n, cap;
} NameMap;

/* The slot holding key (then m->val[slot] is its value), or -1. */
int name_map_slot(const NameMap *m, const char *key);
/* Adds key -> val; if key is already there, leaves it and returns its value
 * through *prev and false. */
bool name_map_add(NameMap *m, const char *key, int val, int *prev);
void name_map_free(NameMap *m);

/* mkdir -p DIR: creates every missing folder on the way; reports errors. */
bool make_dirs(const char *dir);
/* Writes size bytes to path through a temporary beside it and a rename: the
 * file appears whole or not at all; reports errors at path. */
bool write_file_atomic(const char *path, const void *data, size_t size);

/* Multiplication of sizes that reports overflow instead of wrapping. */
bool mul_overflows(int64_t a, int64_t b, int64_t *out);

/* ---- util/diag.c: gcc-style diagnostics (contract, section 4) ----
 * `FILE:LINE:COL: error: msg`, then the source line and a caret when the
 * source text is known. Errors are counted; callers go on to find more. */

typedef struct {
    const char *file; /* as the user typed it; NULL for none */
    int line, col;    /* 1-based; line 0 means "no position" */
} Loc;

void diag_set_source(const char *file, const char *text, size_t len);
void diag_error(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warning(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_note(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops warnings (or no longer); returns the previous setting. The DSL's
 * import shapes the imported network quietly: the importing model's shape
 * inference says the same of its copy. */
bool diag_quiet_warnings(bool quiet);
void diag_verror(Loc loc, const char *fmt, va_list ap);
/* Keeps the reports from now on unwritten, until diag_release writes them
 * (true) or drops them and the errors they counted (false): a front end's
 * first attempt at a reading it may retry (onnx.c's whole-tensor mode). */
void diag_hold(void);
void diag_release(bool write);
int diag_error_count(void);
void diag_reset(void);
/* The valid UTF-8 character at s (n bytes left): its length, and its code
 * point in *code; 0 when s starts none (diagnostics escape such bytes). */
size_t utf8_decode(const char *s, size_t n, uint32_t *code);
/* Stop reporting after this many errors (a cascade helps nobody). */
#define DIAG_MAX_ERRORS 50

#define internal_error(...) internal_error_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void internal_error_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- shapes ---- */

#define MAX_RANK 6

typedef struct {
    int rank;
    int64_t d[MAX_RANK];
} Shape;

int64_t shape_numel(const Shape *s);
bool shape_eq(const Shape *a, const Shape *b);
/* NumPy broadcasting: the shape a and b broadcast to (false if they do
 * not), and the flat index into x (broadcast into s) of s's multi-index idx. */
bool shape_broadcast(const Shape *a, const Shape *b, Shape *out);
int64_t shape_broadcast_index(const Shape *x, const Shape *s, const int64_t *idx);
Shape shape_make(int rank, const int64_t *d);
/* "8x28x28" into buf; returns buf. */
char *shape_str(const Shape *s, char *buf, size_t size);
/* View an activation's per-sample shape as C x H x W: [C,H,W] as is,
 * [C,L] as C x 1 x L, [F] as F x 1 x 1. */
void shape_chw(const Shape *s, int64_t *c, int64_t *h, int64_t *w);
/* The same with a depth: [C,D,H,W] as is, the others with D = 1. (shape_chw
 * folds every middle dimension into H: [C,D,H,W] is C x D*H x W.) */
void shape_cdhw(const Shape *s, int64_t *c, int64_t *d, int64_t *h, int64_t *w);
/* s seen around one axis: *outer is the product of the dimensions before
 * it, *inner of those after it, so that index (o, i, k) of s sits at
 * (o * s->d[axis] + i) * inner + k (softmax, concat, ONNX folds). */
static inline void shape_split(const Shape *s, int axis, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= s->d[i];
    for (int i = axis + 1; i < s->rank; i++)
        *inner *= s->d[i];
}

/* ---- ir/ir.c: the graph ----
 * Activation tensors carry their per-sample shape: the batch dimension is
 * implicit and chosen at run time (1 <= n <= batch max). Parameters,
 * buffers and constants carry their full shape (PyTorch layouts,
 * contract section 5). Nodes are kept in topological order. */

typedef enum {
    T_ACT,    /* an activation: produced by a node or the graph input */
    T_PARAM,  /* trainable parameter */
    T_BUFFER, /* non-trainable state: BatchNorm running statistics */
    T_CONST,  /* a constant operand that is not trained (ONNX) */
    T_GRAD,   /* dLoss/d(another tensor): made by the autodiff pass */
} TensorKind;

typedef enum {
    INIT_DEFAULT, /* PyTorch's default for the layer */
    INIT_HE,      /* kaiming uniform, gain sqrt(2): U(+-sqrt(6/fan_in)) */
    INIT_XAVIER,  /* glorot uniform: U(+-sqrt(6/(fan_in+fan_out))) */
    INIT_ZEROS,
    INIT_ONES,
} InitKind;

/* A tensor's integer form (int8 builds, docs/int8.md): the real value of
 * integer q is scale[c] * (q - zero_point[c]), c the index along axis 0 for
 * per-channel parameters (n > 1), else 0. Activations are int8 (ONNX's
 * uint8 ones are read as int8 with the zero point moved by -128: the same
 * reals), biases int32. A parameter keeps its float data too, the
 * dequantized values, so that float code computes what the integers mean. */
typedef enum { DT_F32, DT_I8, DT_I32 } DType;

typedef struct {
    DType dtype;
    int n;               /* scales and zero points: 1, or one per channel of axis 0 */
    float *scale;
    int32_t *zero_point;
    int32_t *values;     /* a parameter's integers (all its elements); NULL otherwise */
} Quant;

typedef struct {
    char *name;
    TensorKind kind;
    Shape shape;
    float *data;  /* parameters, buffers and constants; NULL until set */
    int producer; /* index of the producing node, -1 if none */
    InitKind init;
    Loc loc;
    Quant *q;     /* NULL: float32; an activation with q holds integers */
    bool frozen;  /* T_PARAM: not trained (no gradient, unchanged by a step) */
    bool bias;    /* a layer's additive term, declared "<layer>.bias" (graph_param):
                     what --train-bias-only trains */
    bool keep;    /* its value must survive fusion, as the graph output's does
                     (the --freeze-until cut: fusion never crosses it) */
    int grad_of;  /* T_GRAD: the tensor whose gradient it holds */
} Tensor;

typedef enum { PAD_ZEROS, PAD_REFLECT, PAD_REPLICATE } PadMode;

/* An elementwise activation (ops/act/acts.def: one row each), as a
 * standalone operator or fused as an operator's epilogue. */
typedef enum {
    ACT_NONE,
#define ACT(ID, ...) ACT_##ID,
#define ACT_ALIAS(word, ID, a, b)
#include "ops/act/acts.def"
#undef ACT
#undef ACT_ALIAS
    ACT_COUNT
} ActKind;

typedef struct {
    ActKind kind;
    float a, b; /* its parameters (acts.def's keys) */
} Act;

static inline bool act_present(Act act)
{
    return act.kind != ACT_NONE;
}

float act_apply(Act act, float x);
/* d act(x) / dx, from the input x and the output y = act(x). */
float act_derivative(Act act, float x, float y);
const char *act_name(ActKind kind);

/* Every operator's attributes; each operator reads the fields it needs.
 * Spatial arrays are [H, W]; a 1-D operator uses index 1 only (H is 1).
 * pad is [top, left, bottom, right] (ONNX's begin..., end... order). A
 * volume operator (C x D x H x W) keeps its depth axis apart, so that the
 * 1-D and 2-D ones never see it: neutral (1, 1, 1, no padding) for them. */
typedef struct {
    int kernel[2], stride[2], dilation[2], pad[4];
    int kernel_d, stride_d, dilation_d, pad_d[2]; /* depth; pad_d is [front, back] */
    int out_pad[2], out_pad_d; /* conv_transpose: output_padding, [H, W] and depth */
    /* resize: ResizeMode, ResizeCoord, ResizeNearest (ops/resize/resize.c),
     * and the scale each spatial axis maps coordinates by (in the shape's
     * order); the output shape is `target` */
    int resize_mode, coord_mode, nearest_mode;
    float scale[3];
    int groups;
    int filters; /* conv: output channels; dense: output features */
    bool bias;
    PadMode pad_mode;
    bool ceil_mode, count_include_pad;
    bool same_pad; /* padding was 'same' (SAME_UPPER), resolved by shape */
    float eps, momentum; /* batchnorm */
    float rate;          /* dropout */
    int k;               /* maxout group size */
    int axis;            /* softmax/concat axis in the per-sample shape */
    bool const_first;    /* sub, div: the constant operand is the left one (B - x) */
    unsigned reduce_axes; /* reduce: bit i set for each per-sample axis i reduced */
    bool keepdims;        /* reduce: the reduced axes stay, of size 1 */
    float prelu_slope;    /* prelu: a new slope parameter's value (PyTorch: 0.25) */
    bool prelu_shared;    /* prelu: one slope for every channel, else one each */
    Shape target;        /* reshape: per-sample target shape */
    InitKind init;       /* how parameters without data are initialised */
    /* Layout and normalisation operators (ops/transpose, slice, matmul, norm). */
    int perm[MAX_RANK];  /* transpose: output axis i is input axis perm[i] */
    /* slice, per axis: ONNX's (and Python's) start, end and step; a negative
     * start or end counts from the end, one out of range is clamped */
    int64_t start[MAX_RANK], end[MAX_RANK], step[MAX_RANK];
    int part, parts;     /* slice of a DSL split: equal part `part` of `parts` along a.axis */
    int naxes;           /* layernorm: normalises axes [axis, axis + naxes) */
    float pad_value;     /* pad: the value of PAD_ZEROS padding (0 unless given) */
    uint64_t const_at;   /* concat: operand i is the next constant parameter (bit i) */
    bool const_left;     /* matmul: its constant operand (param 0) is the left one */
} Attrs;

typedef struct {
    int op; /* OpKind */
    char *name;
    Loc loc;
    int *in, nin;       /* activation inputs (tensor ids) */
    int param[4], nparam; /* weight, bias / gamma, beta, mean, var / const */
    int out;
    Attrs a;
    Act act; /* an OPT_HAS_ACT node's fused epilogue; an activation node's
                parameters (act.a, act.b: node_act) */
    bool frozen; /* the DSL's `freeze`: the parameters its shape rule declares
                    are frozen (graph_param) */
} Node;

typedef enum { LOSS_CROSS_ENTROPY } LossKind;
typedef enum { OPT_SGD, OPT_ADAM } OptimKind;

typedef struct {
    bool present;
    LossKind loss;
    OptimKind optim;
    float lr, momentum, weight_decay;
    float beta1, beta2, eps;
    int batch, epochs;
    uint64_t seed;
    Loc loc;
} TrainCfg;

typedef struct {
    char *name; /* model name */
    const char *file;
    Tensor *t;
    int nt, tcap;
    Node *n;
    int nn, ncap;
    int input, output; /* tensor ids */
    float *mean, *std; /* optional per-channel input normalisation */
    int nnorm;
    uint64_t seed; /* weight initialisation seed */
    int batch_hint; /* an ONNX input's static batch size, 0 if none */
    /* The input is one sample, the model file's whole tensor (an ONNX
     * model read in whole-tensor mode): `cnnc run` and the generated
     * program's infer read and write tensors without a batch axis. */
    bool whole;
    /* plan_layer_bound(g, 1) of the graph as it was before "patch" banded
     * it (0: not banded): the bound is what running the model layer by
     * layer needs, which the bands are measured against. */
    int64_t unbanded_layer_bound;
    TrainCfg train;
    struct Backward *bw; /* the backward pass (passes/autodiff.c), NULL before it */
    NameMap tensor_index; /* tensor name -> its first tensor (ir.c keeps it) */
    /* Other names the model file gives activations (an ONNX value's name,
     * where the IR tensor is named after its node): alias[i] names tensor
     * alias_of[i] (-1 once fusion removed it). */
    char **alias;
    int *alias_of, nalias;
} Graph;

Graph *graph_new(const char *file);
void graph_free(Graph *g);
int graph_add_tensor(Graph *g, const char *name, TensorKind kind, Loc loc);
int graph_find_tensor(const Graph *g, const char *name);
/* An activation by a name of the model file: its tensor's, else an alias;
 * -1 if none. */
int graph_find_activation(const Graph *g, const char *name);
/* Activation t by the model file's name for it: an alias, else its own. */
const char *graph_activation_name(const Graph *g, int t);
void graph_add_alias(Graph *g, const char *name, int t);
/* Rebuilds the name index after the tensor array was compacted. */
void graph_reindex_tensors(Graph *g);
/* Appends a node; `in` is copied. Creates its output activation tensor
 * (named like the node) and returns the node's index. */
int graph_add_node(Graph *g, int op, const char *name, Loc loc, const int *in, int nin);
/* Declares parameter `slot` of node n, named "<node>.<suffix>", with the
 * given shape; if the node already has a tensor in that slot (ONNX), checks
 * its shape instead and reports a mismatch. Returns false on error. */
bool graph_param(Graph *g, Node *n, int slot, const char *suffix, TensorKind kind,
                 const Shape *shape, InitKind init);
/* The consumers of tensor t: node indices written to out (up to max). */
int graph_consumers(const Graph *g, int t, int *out, int max);
/* Per node (nn + 1 entries, caller frees): whether tensor t depends on it,
 * the node writing t included. Needs nodes in topological order. */
bool *graph_ancestors(const Graph *g, int t);
/* Parameter count of a node (all its parameter and buffer elements that
 * are trainable or BatchNorm weights: the course's count, bias included). */
int64_t node_param_count(const Graph *g, const Node *n);
/* A parameter the training step updates: one --freeze-until, `freeze` or
 * --train-bias-only left alone. */
static inline bool tensor_trainable(const Tensor *t)
{
    return t->kind == T_PARAM && !t->frozen;
}
/* A parameter frozen by them: a constant of the code (flash). */
static inline bool tensor_frozen(const Tensor *t)
{
    return t->kind == T_PARAM && t->frozen;
}
/* Whether a --train build keeps tensor t in its state (persistent, in RAM):
 * a trainable parameter, or a buffer. */
static inline bool tensor_in_train_state(const Tensor *t)
{
    return tensor_trainable(t) || t->kind == T_BUFFER;
}
/* Topologically sorts nodes; reports a cycle and returns false. */
bool graph_toposort(Graph *g);
/* Checks the invariants every pass relies on; internal errors abort. */
void graph_verify(const Graph *g);
/* Stable text dump (for --dump-ir and golden tests). */
void graph_dump(const Graph *g, FILE *out);

/* ir/quant.c: integer tensors. quant_new gives n zeroed scales and zero
 * points; quant_copy copies values too (numel of them). */
Quant *quant_new(DType dtype, int n);
Quant *quant_copy(const Quant *q, int64_t numel);
void quant_free(Quant *q);
/* What an activation holds per element: int8, int32 or float32. */
DType tensor_dtype(const Tensor *t);
int dtype_bytes(DType dt);
/* Floats of arena a tensor's `samples` samples take (int8 packs four). */
int64_t tensor_floats(const Tensor *t, int64_t samples);
/* Whether node n reads or writes an integer activation: it then runs its
 * operator's integer form (OpInfo.quant). */
bool node_quantized(const Graph *g, const Node *n);

/* ---- passes/autodiff.c: the backward pass as IR ----
 * For a training build or `cnnc grad` the Graph is extended once with the
 * backward: a loss node (mean softmax cross-entropy over the batch on the
 * logits, fused with a final softmax over the classes) and backward nodes,
 * one per forward node whose output's gradient reaches the loss and
 * depends on a trainable parameter, in the order they run (reverse
 * topological). Gradients are T_GRAD tensors: one per activation storage
 * (a view shares its input's), per-sample shape, and one per trainable,
 * not frozen, parameter, its full shape. Every write says whether it is the
 * tensor's first (which zeroes it, or overwrites) or adds to earlier ones,
 * and whether it is the last (after which a parameter takes its optimizer
 * step; a parameter with one writer is updated by that node as it goes). */

typedef struct {
    int t;      /* the gradient tensor written, -1: none needed */
    bool first; /* the first writer of t: zeroes it before adding */
    bool last;  /* the last writer of t */
} GradWrite;

typedef struct {
    int node;      /* the forward node it differentiates */
    int dy;        /* the gradient it reads: dLoss/d(the node's output) */
    GradWrite *dx; /* per input of the node */
    GradWrite dp[4]; /* per parameter slot */
    int *saved, nsaved; /* the forward tensors it reads (the node's inputs, output) */
} GradNode;

typedef struct Backward {
    int logits;      /* the tensor the loss reads */
    int fused;       /* the final softmax the loss absorbs, -1 if none */
    int64_t classes; /* K, the scores per sample */
    GradWrite dlogits; /* the loss writes dLoss/d(logits) (overwrites it) */
    GradNode *node;  /* in execution order */
    int nnode;
    int nfwd_tensors; /* tensors [0, nfwd_tensors) are the forward's */
    int *grad;       /* per forward tensor: its gradient tensor, -1 if none */
} Backward;

/* ---- ir/backward.c ---- */
/* Whether node n is a view in training: no code, no backward node; its
 * output's gradient is its input's. */
bool backward_is_view(const Graph *g, const Node *n);
/* Tensor t, through the views that made it: the tensor whose values it is. */
int backward_view_root(const Graph *g, int t);
/* Checks the backward's invariants (graph_verify calls it). */
void backward_verify(const Graph *g);
/* The backward part of --dump-ir (graph_dump calls it). */
void backward_dump(const Graph *g, FILE *out);
void backward_free(Backward *bw);

/* Builds g->bw once (a second call does nothing); false after an error
 * (reported): an output that is not one score per class, an operator
 * without a backward rule. */
bool autodiff(Graph *g);
/* The number of classes the loss sees, or -1 after an error (reported). */
int64_t loss_classes(const Graph *g);

/* ---- ops/: operator facts ---- */

typedef enum {
#define OP(ID, name, traits) OP_##ID,
#include "ops.def"
#undef OP
    OP_COUNT
} OpKind;

enum {
    OPT_ELEMENTWISE = 1 << 0, /* out[i] depends on in[i] only (an input with
                                 fewer cells is broadcast) */
    OPT_ACTIVATION = 1 << 1,  /* a standalone activation, fusable as Act */
    OPT_HAS_ACT = 1 << 2,     /* accepts a fused activation epilogue */
    OPT_VIEW = 1 << 3,        /* output is the input, reinterpreted */
    OPT_RESIDUAL = 1 << 4,    /* takes a second input added before its epilogue
                                 (fuse-residual; dumped as "+add") */
    OPT_CHANNEL_AFFINE = 1 << 5, /* param 0 [F, ...] and optional bias param 1 [F]
                                    are linear per output channel f: a per-channel
                                    scale and shift fold into them (fuse-bn, -bias) */
    OPT_STOCHASTIC = 1 << 6,  /* a view at inference only (dropout draws a mask in
                                 training) */
    OPT_TO_INT8 = 1 << 7,     /* converts its float input to int8 (int8 builds) */
    OPT_FROM_INT8 = 1 << 8,   /* converts its int8 input to float */
    OPT_ROW_WINDOW = 1 << 9,  /* output row r reads the window of input rows from
                                 r * stride[0] - pad[0] (a.kernel[0] rows, a.dilation[0]
                                 apart, zero padded): a band of output rows needs only
                                 a band of input rows (passes/patch.c bands it) */
    OPT_BAND_STORE = 1 << 10, /* writes a band of rows into a full tensor
                                 (passes/patch.c): a graph holding one runs its
                                 leading layers as per-band clones */
};

typedef struct Emit Emit;
struct OnnxOut;

typedef struct {
    const char *name;
    unsigned traits;
    /* Shape rule: checks the inputs, sets the output's shape and declares
     * the parameters (graph_param). Reports errors at n->loc; false on error. */
    bool (*infer)(Graph *g, Node *n);
    /* MACs for one sample (cnnc info). */
    int64_t (*macs)(const Graph *g, const Node *n);
    /* Interpreter forward over `batch` samples: in[i] holds batch samples of
     * node input i, contiguous; out receives batch samples. `training`
     * selects batch statistics for BatchNorm (and updates running stats). */
    void (*run)(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                bool training);
    /* Interpreter backward: from dout, *adds* into din[i] (NULL when that
     * input needs no gradient) and into dparam[slot] (NULL if not trainable). */
    void (*grad)(const Graph *g, const Node *n, const float *const *in, const float *out,
                 const float *dout, float *const *din, float *const *dparam, int batch);
    /* Training: which forward tensors the backward of gn reads (given the
     * gradients it writes): in[j] for input j, *out for the output. NULL:
     * all of them. */
    void (*grad_reads)(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out);
    /* Training: true when the loss may absorb this node, the model's last
     * (a softmax over the classes): the loss then reads its input. */
    bool (*fuses_with_loss)(const Graph *g, const Node *n);
    /* Code generation: forward and backward of one node, and the training
     * forward of an operator that reads the state or draws a mask (NULL:
     * the inference function runs sample by sample). */
    void (*emit)(struct Emit *e, const Node *n);
    void (*emit_grad)(struct Emit *e, const Node *n);
    /* The attributes in IR dumps (` kernel=3x3 stride=1x1 ...`); NULL: none. */
    void (*dump)(const Graph *g, const Node *n, FILE *out);
    /* Fusion (passes/fuse_fold.c): the passes this operator's nodes fold
     * in, each with a hook that folds node `id` into a neighbour where that
     * is exact and returns true (the pass then removes the node). */
    const struct FoldRule *folds;
    /* cnnc export: writes the node as ONNX nodes reading the values named
     * in[] and writing `out` (the driver adds the fused epilogue after it);
     * false where there is no ONNX form. */
    bool (*onnx_export)(struct OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out);
    /* Takes pad node p's padding into its own (fuse-pad) where that gives
     * the same values; false (nothing changed) otherwise. */
    bool (*absorb_pad)(const Graph *g, Node *n, const Node *p);
    /* The integer form (ops/<family>/<family>_int8.c); NULL: float only. */
    const struct QuantOps *quant;
    /* fuse-transpose: node n's tensors are in the layout transpose(T,
     * perm) of tensors T; whether n can compute in T's layout instead, and
     * with apply, makes it so (attributes, parameters; the pass sets the
     * shapes). NULL: only elementwise nodes without parameters can. */
    bool (*unpermute)(Graph *g, Node *n, const int *perm, bool apply);
    void (*emit_train)(struct Emit *e, const Node *n);
    /* In place (plan/plan.c): whether node n's output may take input 0's
     * storage when input 0 dies at n. True only when every kernel that can
     * be chosen for n reads each group of input 0 into scratch (one group's
     * worth) before writing that group's output, and group g's output ends
     * at or before group g + 1's input begins, so nothing unread is
     * overwritten. NULL: never (elementwise nodes have a rule of their own). */
    bool (*writes_over_input)(const Graph *g, const Node *n);
    /* Fused blocks (emit/emit.c): whether this operator's node can end a
     * chain its family compiles as one kernel; NULL: never. */
    const struct BlockOps *block;
} OpInfo;

/* A fused block's kernel (OpInfo.block; ops/conv/conv_irb.c: inverted-
 * residual blocks). match says whether node p ends a block (a 1x1 expand
 * conv and a depthwise conv, each read only by the next, then p), their
 * nodes into *expand, *dw; scratch_bytes the kernel's scratch in bytes;
 * emit writes the block's body as node p's (x0 the block's input). */
typedef struct BlockOps {
    bool (*match)(const Graph *g, int p, int *expand, int *dw);
    int64_t (*scratch_bytes)(const Graph *g, int dw);
    void (*emit)(struct Emit *e, int expand, int dw, int project);
} BlockOps;

/* An operator's integer form. check says why node n, its activations
 * rewired to integer tensors, cannot compute in integers with their scales
 * (NULL: it can); run and emit are its interpreter kernel (in[j] and out
 * hold the tensors' dtypes, batch samples) and its layer body (x0.. and y
 * typed likewise, s int8 scratch). */
typedef struct QuantOps {
    unsigned flags;
    const char *(*check)(const Graph *g, const Node *n);
    void (*run)(const Graph *g, const Node *n, const void *const *in, void *out, int batch);
    void (*emit)(struct Emit *e, const Node *n);
} QuantOps;

enum {
    QUANT_SAME_SCALE = 1 << 0, /* the output keeps the input's scale and zero point
                                  (views, max pools, pads): calibration gives it them */
    QUANT_WEIGHTS = 1 << 1,    /* params 0 and 1 (OPT_CHANNEL_AFFINE) are quantized:
                                  int8 weights per output channel, an int32 bias */
};

struct LoadOptions;
typedef struct FoldRule {
    const char *pass; /* NULL ends a list */
    bool (*fold)(Graph *g, int id, const struct LoadOptions *opt);
} FoldRule;

#define OP(ID, name, traits) extern const OpInfo op_##name;
#include "ops.def"
#undef OP

const OpInfo *op_info(int op);
/* The activation a node applies after its own function: an OPT_HAS_ACT
 * node's fused epilogue, else none (an activation node's own Act is its
 * function, node_act). */
Act node_epilogue(const Node *n);

/* ops/registry.c: the front ends' view of the operator families. The DSL
 * layer keywords (kit/dsl_args.h's DslKind): the i-th (NULL past the last),
 * and the one spelt `word` (NULL if none). */
struct DslKind;
const struct DslKind *dsl_kind_at(int i);
const struct DslKind *dsl_kind_find(const char *word);
/* Makes view node n a reshape to `target` (fuse-views merges view chains). */
void node_become_reshape(Node *n, const Shape *target);
/* Adds a node whose output is tensor t's value (a model that is the
 * identity still has a layer); returns its index. */
int graph_add_identity(Graph *g, int t, const char *name, Loc loc);
/* ops/quant/quant.c: a node converting float tensor t to int8 (OPT_TO_INT8)
 * whose output takes q (owned now), or int8 tensor t to float
 * (OPT_FROM_INT8); the output has t's shape. Returns the node's index. */
int graph_add_quantize(Graph *g, int t, Quant *q, const char *name, Loc loc);
int graph_add_dequantize(Graph *g, int t, const char *name, Loc loc);
/* The ONNX op type's row (kit/onnx_kit.h's OnnxKind), NULL if unsupported. */
struct OnnxKind;
const struct OnnxKind *onnx_kind_find(const char *op_type);
/* Input shape of node input i / output shape (per sample). */
const Shape *node_in_shape(const Graph *g, const Node *n, int i);
const Shape *node_out_shape(const Graph *g, const Node *n);
const float *node_param_data(const Graph *g, const Node *n, int slot);

/* ---- passes/ ---- */

/* Runs every node's shape rule in order; false if any error. */
bool shape_infer(Graph *g);
/* Gives every parameter/buffer without data its seeded initial value:
 * bit-identical on every machine (integer generator, no libm). */
void init_weights(Graph *g);

/* ---- passes/fuse_*.c: the optimisation (fusion) passes ----
 * Run by the compile and run pipelines only, after the weights are loaded
 * (`cnnc weights`, `info` and `grad` see the model's original layers and
 * parameters); -O0 skips them. Folded weights are new T_CONST tensors named
 * "<layer>+<folded layer>.weight" / ".bias". A --train build (opt->train)
 * keeps BatchNorm and Dropout. Each pass returns false after an error. */
bool fuse_views(Graph *g, const struct LoadOptions *opt);     /* dropout, identity, view chains */
/* passes/freeze.c (pass "freeze", contract section 8): --freeze-until
 * TENSOR freezes every parameter of every node TENSOR depends on and marks
 * the cut kept; --train-bias-only freezes every weight but the biases.
 * Runs on the model as written, before fusion. False after an error
 * (reported): an unknown cut, the output as the cut, nothing left to
 * train, no bias to train. */
bool freeze(Graph *g, const struct LoadOptions *opt);
/* The frozen part of a graph (any step's): per node, computed from the
 * input alone without a trainable parameter, and some frozen parameter's
 * layer depends on it (or it is one). The caller frees it. */
bool *freeze_part(const Graph *g);
/* passes/split_act.c: an epilogue whose derivative needs its input becomes a
 * node of its own (training builds and cnnc grad). */
bool split_act(Graph *g, const struct LoadOptions *opt);
/* Node id's epilogue becomes the node "<name>_<act>" after it (unsorted:
 * the caller sorts); also the int8 calibration's, for a non-clamp one. */
void split_epilogue(Graph *g, int id);
bool fuse_transpose(Graph *g, const struct LoadOptions *opt); /* transposes that cancel */
bool fuse_norm(Graph *g, const struct LoadOptions *opt);      /* GroupNorm export, affine folds */
bool fuse_batchnorm(Graph *g, const struct LoadOptions *opt); /* BN into conv/dense */
bool fuse_math(Graph *g, const struct LoadOptions *opt);      /* x*sigmoid(x) -> silu, ... */
bool fuse_bias(Graph *g, const struct LoadOptions *opt);      /* add(x, B) into conv/dense bias */
bool fuse_act(Graph *g, const struct LoadOptions *opt);       /* activation into n->act */
bool fuse_pad(Graph *g, const struct LoadOptions *opt);       /* pad into conv/pool padding */
bool fuse_residual(Graph *g, const struct LoadOptions *opt);  /* add(conv, r) into the conv */

/* ir/surgery.c: what the fusion passes and the operators' fold rules share. */
/* Whether tensor t's value must survive fusion: the graph output, or a
 * tensor marked keep (the --freeze-until cut). No fusion hides it inside
 * a fused layer. */
bool fuse_kept(const Graph *g, int t);
/* The one node reading tensor t (once), or -1: none, several, or t is kept
 * (fuse_kept: its value must survive). */
int fuse_sole_consumer(const Graph *g, int t);
/* Node `id` (one input) disappears: its readers (and the graph output)
 * read its input instead, which now holds its value (and keeps it, if its
 * output was kept). */
void fuse_bypass(Graph *g, int id);
/* Node `id`, whose output nothing reads any more, disappears (the nodes
 * after it move down one place). */
void fuse_remove(Graph *g, int id);
/* The pass named `pass`: offers every node to its operator's FoldRule for
 * that pass, and removes the nodes it folds (fuse_fold.c). */
bool fuse_fold(Graph *g, const char *pass, const struct LoadOptions *opt);
/* Removes the views nobody reads any more (a fold took their reader's
 * input from further up), last to first. */
void fuse_dead_views(Graph *g);
/* A new T_CONST tensor "<base>.<suffix>" (made unique) of the given shape
 * holding a copy of `data`; returns its id. */
int fuse_new_const(Graph *g, const char *base, const char *suffix, const Shape *shape,
                   const float *data, Loc loc);
/* Drops tensors no node and neither the input nor output refer to,
 * renumbering the rest (a planner would give a dead tensor bytes). */
void fuse_prune(Graph *g);
/* passes/calibrate.c and passes/quantize.c: int8 builds (docs/int8.md).
 * "calibrate" (--int8 --calib) runs the float graph over the calibration
 * set, gives every activation a scale and zero point by `method`, and
 * inserts a quantize-dequantize pair after each tensor a layer with an
 * integer form reads or writes, quantizing its weights (int8 per output
 * channel) and bias (int32): the QDQ model ONNX Runtime's quantizer writes,
 * and what a pre-quantized ONNX model is once loaded. "quantize" turns each
 * layer between dequantized inputs and a quantized output into its integer
 * form where the operator has one and its scales allow (else it stays float,
 * with a note naming it), and drops the pairs that become identities. */
typedef enum { CALIB_MINMAX, CALIB_PERCENTILE, CALIB_MSE } CalibMethod;

typedef struct QuantOptions {
    const char *calib; /* CALIB.npy: float32 samples shaped like the input */
    CalibMethod method;
    const char *skip;  /* --int8-skip: layer names, comma-separated (NULL: none) */
} QuantOptions;

bool calibrate(Graph *g, const struct LoadOptions *opt);
bool quantize(Graph *g, const struct LoadOptions *opt);
/* passes/patch.c (pass "patch", --patch N): the leading chain of spatial
 * layers, up to a cut, replaced by opt->patch copies computing one band of
 * the cut's rows each (halos recomputed), band_load and band_store
 * (ops/band) around them; `cnnc run` stops before it. */
bool patch(Graph *g, const struct LoadOptions *opt);

/* ir/dot.c: a Graphviz picture of g, shapes on the edges, fused
 * epilogues and folded parameters in the node labels. */
void graph_dot(const Graph *g, FILE *out);
/* report/dot_svg.c: that picture as SVG at `out` (- for stdout), drawn by
 * Graphviz's dot; false after an error (dot missing or failing). */
bool dot_write_svg(const Graph *g, const char *out);

/* A counter-based generator: same (seed, stream) gives the same numbers
 * everywhere. Used for weight init, shuffling and dropout. */
typedef struct {
    uint64_t state;
} Rng;
Rng rng_seeded(uint64_t seed, const char *stream);
uint32_t rng_u32(Rng *r);
/* Uniform in [0, 1), 24 random bits. */
float rng_uniform(Rng *r);

/* ---- interp/: the reference interpreter ---- */

typedef struct {
    float **val; /* per tensor: batch samples (activations) or NULL; an integer
                    tensor's (int8 builds) hold its dtype, cast to float * */
    int batch;
} Activations;

/* Runs the graph on `batch` samples of `input`; returns per-tensor values
 * (the caller frees with interp_free). After an error (reported) val is
 * NULL. */
Activations interp_forward(Graph *g, const float *input, int batch, bool training);
void interp_free(const Graph *g, Activations *a);

/* ---- interp/grad.c: the reference backward pass (contract, `cnnc grad`) ----
 * Runs the Graph extended by autodiff (which it runs first if need be):
 * the forward nodes in training mode, the loss node, the backward nodes.
 * The loss is the mean softmax cross-entropy over the batch, of the model's
 * output as logits or, when the model ends in a softmax over its classes,
 * fused with it (log-sum-exp of the softmax's input). The output must be
 * K classes per sample ([K], or [K,1,...]). */

typedef struct {
    double loss;    /* mean over the batch */
    float **dparam; /* per tensor: dLoss/dParameter for trainable T_PARAM tensors, else NULL */
} Grads;

/* Forward in training mode (BatchNorm with the batch's statistics, Dropout
 * the identity), loss against labels[0..batch) and backward into *out
 * (free with grads_free). The forward's running-statistics update is
 * undone unless keep_stats, so a grad run leaves the Graph as it was;
 * a training step passes true. A label outside [0, K) is an error at
 * `labels_loc` naming the label and its index. False after an error. */
bool interp_grad(Graph *g, const float *input, const int32_t *labels, int batch,
                 bool keep_stats, Loc labels_loc, Grads *out);
/* The loss alone, same forward (running statistics left untouched). */
bool interp_loss(Graph *g, const float *input, const int32_t *labels, int batch,
                 Loc labels_loc, double *loss);
void grads_free(const Graph *g, Grads *gr);
/* Writes DIR/loss.npy (0-d) and DIR/<escaped name>.npy per trainable
 * parameter (contract, sections 2 and 5), creating DIR if needed. */
bool grads_save_dir(const Graph *g, const Grads *gr, const char *dir);

/* ---- interp/optim.c: one optimizer step, PyTorch's semantics ----
 * SGD: d = grad + wd*p; buf = d on the first step, else momentum*buf + d;
 * p -= lr * (momentum ? buf : d). Adam (L2 weight decay, not AdamW):
 * d = grad + wd*p; m, v moving averages; p -= lr/(1-b1^t) * m /
 * (sqrt(v)/sqrt(1-b2^t) + eps). */

typedef struct {
    float **m, **v; /* per tensor, T_PARAM only: momentum buffer / Adam moments */
    int nt;         /* entries of m and v (the tensors at optim_init) */
    int64_t step;   /* steps taken */
} OptimState;

void optim_init(OptimState *s, const Graph *g);
/* Updates every T_PARAM tensor of g from dparam (per tensor, as Grads). */
void optim_step(Graph *g, const TrainCfg *cfg, OptimState *s, float *const *dparam);
void optim_free(const Graph *g, OptimState *s);

/* ---- frontend/ ---- */

/* Parses a .cnn source into a Graph (shapes not yet inferred). Reports
 * errors; returns NULL if any. */
Graph *dsl_load(const char *path);
/* An ONNX model with a batch axis, else (its input static, a node mixing
 * axis 0) as one whole sample; whole: read as one sample from the start
 * (--no-batch). */
Graph *onnx_load(const char *path, bool whole);

/* ---- pipeline.c: the compiler's steps as one table ----
 * parse, sort, shape, weights, init, freeze, split-act, fuse-norm, fuse-transpose,
 * fuse-views, fuse-bn, fuse-math, fuse-bias, fuse-act, fuse-pad, calibrate,
 * quantize, fuse-residual, patch, autodiff, plan, emit; a command runs them up to
 * the one it needs, graph_verify between them. */
struct EmitOptions;
typedef struct LoadOptions {
    const char *weights_dir; /* --weights DIR: parameters from DIR/<name>.npy */
    const char *dump_after;  /* --dump-ir=STEP: what STEP made, to stdout */
    bool optimize;           /* also run the optimisation passes (not -O0) */
    bool train;              /* a --train build: keep BatchNorm and Dropout */
    bool no_winograd;        /* "plan" without emit options (cnnc info) */
    const struct EmitOptions *emit; /* "plan" and "emit": the build */
    const QuantOptions *quant; /* --int8: "calibrate" runs (NULL: it does not) */
    int64_t max_layers;        /* --max-layers: more nodes is an error after parse */
    int64_t max_params;        /* --max-params: more is an error before the weights */
    const char *freeze_until;  /* --freeze-until TENSOR: train only what follows it */
    bool train_bias_only;      /* --train-bias-only: train the biases alone (TinyTL) */
    bool grad_cmd;             /* cnnc grad (messages name it), not a --train build */
    int patch;                 /* --patch N: bands of the leading layers (0: none) */
    bool no_batch;             /* --no-batch: an ONNX model read as one whole sample */
} LoadOptions;
/* The limits' defaults: a chain of 10^6 layers compiles in about 15 s of
 * CPU; 2^30 parameters are 4 GiB of float32. */
#define MAX_LAYERS_DEFAULT 2000000
#define MAX_PARAMS_DEFAULT (INT64_C(1) << 30)

typedef struct Pipeline Pipeline;

Pipeline *pipeline_new(const char *path, const LoadOptions *opt);
/* Runs the steps not yet run, up to and including `last`; false after an
 * error (reported). */
bool pipeline_run(Pipeline *p, const char *last);
Graph *pipeline_graph(Pipeline *p);
/* The build "plan" and "emit" make (default: cnnc info's one-sample build),
 * and the plan once made. */
void pipeline_set_build(Pipeline *p, const struct EmitOptions *opt);
/* The bands "patch" makes (LoadOptions.patch), before it has run. */
void pipeline_set_patch(Pipeline *p, int bands);
Emit *pipeline_emit(Pipeline *p);
void pipeline_free(Pipeline *p);
/* The steps' names in order (NULL past the last), and a name's index (-1). */
const char *pipeline_step_name(int i);
int pipeline_step_index(const char *name);
/* Parses a model by extension, infers shapes and initialises its weights
 * (the steps up to "init"); NULL after an error. */
Graph *model_load(const char *path);

/* report/train_variants.c: `cnnc info --train --target`'s table of what
 * training part of the model costs (full, bias-only, last-k cuts): state,
 * arena, total, each planned as a build of the model at path with the load
 * options `base` and the --train build `build` would be. False after an
 * error (reported). */
bool train_variants_print(const char *path, const LoadOptions *base,
                          const struct EmitOptions *build, FILE *out);
/* report/info.c: the `cnnc info` table and totals (contract, section 2). */
void info_print(Graph *g, FILE *out);
/* report/info_int8.c: `cnnc info --int8`: each layer's type and scales
 * after "quantize", the build's weights_bytes against float32's. */
void info_int8_print(const Graph *g, int64_t weights_bytes, FILE *out);
/* The layer-wise liveness bound (plan_layer_bound) and the planned arena's
 * ratio to it: below 1 when layers write over inputs or run fused. */
void info_layer_bound_print(int64_t arena_bytes, int64_t layer_bound_bytes, FILE *out);

/* Parameters and buffers as a folder of `<name>.npy` (contract, section 5):
 * names escaped with %XX outside [A-Za-z0-9._-]. */
bool weights_load_dir(Graph *g, const char *dir);
bool weights_save_dir(const Graph *g, const char *dir);

/* ---- emit/: code generation ---- */

/* What a build is for (--target T; report/target.c holds the table). The
 * generated code is C99 for any compiler whatever the profile; the profile
 * picks, among the kernels' forms, the ones measured best on that core. */
typedef struct TargetProfile {
    const char *name;         /* "cortex-m4", ..., "host" */
    const char *cc, *size;    /* the cross tools, found on PATH */
    const char *flags[8];     /* the code-generation flags, NULL-terminated */
    bool vector_ext;          /* the desktop kernels (GNU vector types) pay here; else
                                 the scalar register-blocked kernels */
    bool winograd;            /* Winograd's larger arena and weights are affordable */
    int unroll_taps;          /* kernel windows of up to this many taps are unrolled */
    int64_t part_ram, part_flash; /* a typical part: the `fits` line (0: no such line) */
} TargetProfile;

typedef struct EmitOptions {
    const char *out_c;        /* OUT.c; OUT.h beside it */
    const char *prefix;       /* C symbol prefix */
    bool main;                /* also emit main() (contract, section 3) */
    bool train;               /* also emit backward pass and optimizer */
    int batch;                /* P_BATCH_MAX */
    bool split_weights;       /* weights in OUT_weights.c */
    const char *weights_blob; /* weights in this binary file instead */
    bool weights_object;      /* weights in OUT_weights.bin, linked by OUT_weights.S */
    bool count_weights;       /* write no weights, count them (emit_memory) */
    int64_t ram_budget;       /* > 0: OUT.c fails to compile if the arena exceeds it */
    bool no_winograd;         /* 3x3 stride-1 convs direct, never Winograd (less scratch) */
    const TargetProfile *target; /* --target: the kernels' forms (NULL: the host's) */
    bool fuse_blocks;         /* --fuse-blocks: inverted-residual blocks as one kernel */
    const TrainCfg *hparams;  /* --train: cnnc's --optimizer/--lr/... over the train
                                 section (NULL: the section, else the defaults) */
} EmitOptions;

/* The pipeline's "plan" step: every layer's code generated (into memory)
 * and the arena planned around it; NULL after an error (reported). */
Emit *emit_plan(Graph *g, const EmitOptions *opt);
/* The "emit" step: writes OUT.c, OUT.h (and the weights file or blob)
 * atomically; false (after diagnostics) on error. */
bool emit_write(Emit *e);
void emit_free(Emit *e);
/* emit_plan + emit_write. */
bool emit_c(Graph *g, const EmitOptions *opt);

/* What a build needs, in bytes: the arena, the largest sum of buffers live
 * at once (its lower bound), the weights as repacked for the loops. */
typedef struct {
    int64_t arena_bytes, bound_bytes, weights_bytes;
    int64_t layer_bound_bytes; /* plan_layer_bound: what one layer at a time needs
                                  (before "patch" banded the graph) */
} MemoryFigures;

MemoryFigures emit_figures(const Emit *e);
/* A --train build's <P>_TRAIN_STATE_BYTES and _ARENA_BYTES; false for
 * another build. */
bool emit_train_figures(const Emit *e, int64_t *state_bytes, int64_t *arena_bytes);
/* The figures of a build of g with default options (one sample; with or
 * without Winograd convs, with or without fused blocks; for a target, NULL:
 * the host, whose kernels set the arena); false after an error (reported). */
bool emit_memory(Graph *g, bool no_winograd, bool fuse_blocks, const TargetProfile *target,
                 MemoryFigures *out);
/* --dump-ir=plan: each activation's shape and arena offset (and the tensor
 * whose storage it shares), each layer's scratch; --dump-ir=emit: OUT.h. */
void emit_dump_plan(const Emit *e, FILE *out);
void emit_dump_api(Emit *e, FILE *out);
/* cnnc export (emit/onnx_export.c): g as written, as an ONNX model at path
 * (contract section 9); false after an error (reported). */
bool onnx_export(const Graph *g, const char *path);
/* The optimizer settings a --train build starts from: the model's train
 * section, else SGD, lr 0.01 (docs/training.md). emit/emit_train.c. */
TrainCfg train_defaults(const Graph *g);

/* ---- plan/plan.c: the static memory plan (engineer codegen) ----
 * Every activation lives in one arena of floats (an int8 one in a quarter
 * of its elements' count). Views (OPT_VIEW) alias their input; an
 * elementwise node (OPT_ELEMENTWISE) whose input dies at that node writes
 * over it when both hold the same type, and so does a node whose operator
 * says it may write over its input 0 (OpInfo.writes_over_input:
 * depthwise convs). The rest are packed by lifetime: a buffer is
 * live from its producer to its last reader (the graph output to the end),
 * and buffers whose lifetimes overlap never share bytes. The graph input
 * is the caller's memory and not in the arena. Sizes count `samples`
 * samples; offsets are in floats, aligned to PLAN_ALIGN_FLOATS. */
#define PLAN_ALIGN_FLOATS 16 /* 64 bytes: a cache line, any vector width */

/* n floats rounded up to a multiple of PLAN_ALIGN_FLOATS. */
int64_t plan_round_up(int64_t n);

typedef struct {
    int *root;               /* per tensor: the tensor whose storage it uses */
    int64_t *offset;         /* per tensor: arena offset (its root's); -1 outside */
    int64_t *scratch_offset; /* per node: offset of its scratch; -1 if none */
    int64_t arena_floats;    /* the arena's size */
    int64_t bound_floats;    /* the largest sum of simultaneously live buffers */
    /* Fused blocks (ops/conv/conv_irb.c), set by the emitter before
     * plan_pack (NULL: none): per tensor, whether it never exists in the
     * arena, and the last step that reads it (-1: as the graph says). */
    bool *hidden;
    int *read_until;
} Plan;

/* Decides aliasing (roots) only: what emitters need before packing. */
void plan_alias(const Graph *g, Plan *p);
/* Packs the buffers; scratch[i] is the floats node i needs for itself
 * during its run (NULL: none). Call after plan_alias. */
void plan_pack(const Graph *g, const int64_t *scratch, int64_t samples, Plan *p);
/* The training plan (emit/emit_train.c): one arena for the step that
 * autodiff's graph describes. Steps: forward node i is step i, the loss
 * step g->nn, backward node k step g->nn + 1 + k; scratch[s] the floats
 * step s needs for itself. Every buffer lives from the step that first
 * writes it to the last that reads it: an activation until its last
 * backward reader (autodiff's saved tensors, so what backward does not
 * read dies in the forward), an activation's gradient from its first
 * write to its backward reader, a parameter's gradient only when several
 * nodes add to it (one writer steps the parameter row by row instead).
 * Activations and their gradients count `batch` samples; the input is
 * the caller's; views share their input's storage. scratch_offset is per
 * step. */
void plan_train(const Graph *g, const int64_t *scratch, int64_t batch, Plan *p);
void plan_free(Plan *p);
/* The step where the activations live at once take the most floats
 * (`samples` samples each, node scratch not counted): *step is a node index,
 * -1 for the input's step, g->nn for the copy-out; live[t] (g->nt entries)
 * is set for the root buffers live there. Returns their floats. After
 * plan_alias. (Used by --ram-budget to name the peak.) */
int64_t plan_peak(const Graph *g, const Plan *p, int64_t samples, int *step, bool *live);
/* The layer-wise liveness bound, in floats of `samples` samples: the most
 * activation floats live at once when every layer's output takes bytes of
 * its own apart from its inputs (views and elementwise layers share), node
 * scratch not counted, the graph input the caller's. A plan below it
 * writes over inputs or fuses layers (plan.c). */
int64_t plan_layer_bound(const Graph *g, int64_t samples);

/* ---- emit/: helpers for the per-operator emitters (ops/<family>_emit.c) ----
 * An emitter writes the body of one layer function. Inside it, x0, x1, ...
 * are its inputs (const float *, one sample, NCHW), y its output (float *),
 * s its scratch (float *, when it asked for scratch). Shapes are literals. */

/* Appends one line of code (indented by the current depth; a line ending
 * in '{' opens a block, one starting with '}' closes it). */
void emit_line(Emit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line marking a local that some of a kernel's paths leave unread
 * (P_UNUSED, the generated file's one such macro). */
void emit_unused(Emit *e, const char *name);
/* Declares a constant float array the code reads (weights repacked in the
 * order the loops read them) and returns the C expression naming it in the
 * layer body. `what` names it (a suffix of the layer's name), `comment`
 * says where the data comes from (parameter names). The returned string
 * lives as long as e. */
const char *emit_const(Emit *e, const char *what, const char *comment, const float *data,
                       int64_t count);
/* int8 layers (ops/<family>/<family>_int8.c, emit/emit_int8.c): constant
 * arrays of int8 (one byte each in flash) and int32. */
const char *emit_const_i8(Emit *e, const char *what, const char *comment, const int8_t *data,
                          int64_t count);
const char *emit_const_i32(Emit *e, const char *what, const char *comment, const int32_t *data,
                           int64_t count);
/* Asks for `floats` floats of scratch for this layer; returns "s" (an
 * int8_t * in an integer layer: 4 bytes a float). */
const char *emit_scratch(Emit *e, int64_t floats);
/* A float literal that reads back as exactly v (hex, or INFINITY/NAN). */
const char *emit_float(Emit *e, float v);
/* Keeps s (malloc'd) alive as long as e; returns it. */
const char *emit_keep(Emit *e, char *s);
/* Reports that this node cannot be compiled (an error at the node). */
void emit_unsupported(Emit *e, const Node *n, const char *why);

/* ---- emit/emit_kit.c: what the training emitters call (ops.h says what a
 * training body sees) ---- */
/* Whether the backward node being emitted writes dL/d(input j), and a
 * gradient of parameter slot. */
bool emit_grad_needs_dx(Emit *e, int j);
bool emit_grad_has_dp(Emit *e, int slot);
/* Asks for `floats` floats of train-arena scratch for this layer function;
 * returns "ws". */
const char *emit_train_scratch(Emit *e, int64_t floats);
/* The floats a layer's scratch should stay within (its chunks' size):
 * the largest activation of the batch, and at least 4096. */
int64_t emit_train_chunk(Emit *e);
/* Parameter `slot`'s gradient, rows [row, row + rows) of its
 * [rows][row_floats] view (row and rows are C expressions): declares
 * `float *NAME` where they go (P_train_grad's buffer, an accumulator when
 * several nodes add to the parameter, else the `scratch` expression: a
 * block of rows * row_floats floats), zeroed when this node writes the
 * gradient first; the body adds into NAME. _end then steps those rows of
 * the parameter (SGD, momentum, Adam) when this node is its only writer
 * and this is a training step. */
void emit_pgrad_begin(Emit *e, int slot, const char *name, const char *row, const char *rows,
                      int64_t row_floats, const char *scratch);
void emit_pgrad_end(Emit *e, int slot, const char *name, const char *row, const char *rows,
                    int64_t row_floats);
/* Register-blocked matrix products as inline C blocks, with literal
 * leading dimensions; m and k are C expressions (the batch n or a literal).
 * emit_mm_nn: c[i*ldc + j] += sum_k a[i*sai + k*sak] * b[k*ldb + j], j < nc.
 * emit_mm_nt: c[i*ldc + j] += sum_k a[i*lda + k] * b[j*ldb + k], j < nc,
 * k < kc (a literal): dot products over contiguous rows. */
void emit_mm_nn(Emit *e, const char *c, const char *a, const char *b, const char *m, int64_t nc,
                const char *k, int64_t ldc, int64_t sai, int64_t sak, int64_t ldb);
void emit_mm_nt(Emit *e, const char *c, const char *a, const char *b, const char *m, int64_t nc,
                int64_t kc, int64_t ldc, int64_t lda, int64_t ldb);
/* Frozen parameter `slot` of node n (docs/training.md) as the inference
 * code holds it: the const array its inference emitter wrote, in that
 * emitter's layout, or NULL (trainable, or no array holds its values). A
 * training emitter that reads it there instead of pS, in the layout its
 * own family's inference emitter chose, keeps it once in flash
 * (emit/emit_train.c; the Cortex-M profiles' dense and conv layers). */
const char *emit_frozen_packed(Emit *e, const Node *n, int slot);
Graph *emit_graph(Emit *e);
const EmitOptions *emit_options(Emit *e);
/* Whether the target's kernels are the scalar register-blocked ones
 * (ops/<family>/<family>_mcu_emit.c): a profile without SIMD for the GNU
 * vector types (--target cortex-m*). */
bool emit_scalar_kernels(Emit *e);
/* The most taps of a kernel window (KH * KW) to unroll: the target's bound
 * (flash), 25 on the host. */
int emit_unroll_taps(Emit *e);
/* Whether the layer being emitted writes its output over one of its
 * inputs' storage (the plan aliased them): its kernel must not read an
 * input where it has already written. */
bool emit_in_place(Emit *e);

/* ---- report/target.c: microcontroller figures (engineer target) ---- */

/* The profile named `name` (cortex-m0plus, cortex-m3, cortex-m4, cortex-m7,
 * cortex-m33, cortex-m55, host); NULL if there is none. target_find also
 * reports an unknown name as an error at `file`, listing the known ones. */
const TargetProfile *target_profile(const char *name);
const TargetProfile *target_find(const char *name, const char *file);
/* Whether a build for t takes Winograd's kernels for its 3x3 convs: where
 * the profile affords them and, for a part, the arena they need fits its
 * RAM. */
bool target_winograd(Graph *g, const TargetProfile *t);
/* What `cnnc info --target` builds and measures. */
typedef struct {
    const TargetProfile *t;
    int train_batch;    /* > 0: the --train build of that batch */
    bool no_winograd;   /* the code of a --no-winograd build */
    bool fuse_blocks; /* ... of a --fuse-blocks build */
    const char *cflags; /* extra flags for t's compiler, after its own (NULL: none) */
    bool weights_object; /* the weights by OUT_weights.S (--weights-object), not C */
    const TrainCfg *hparams; /* a --train build's optimizer (NULL: the model's): the
                              * state holds its moments only */
} TargetBuild;
/* `cnnc info MODEL --target T`: emits the model's C for profile b->t into a
 * temporary folder, compiles it with the profile's compiler and flags and
 * prints flash (code, weights) and RAM (arena, data, deepest stack) in
 * bytes, measured with `size -A` and gcc's call graph, beside the
 * compiler's prediction; for a --train build also its state block, train
 * arena and train-step stack. False after an error (reported). */
bool target_report(Graph *g, const TargetBuild *b, FILE *out);
/* --ram-budget / --flash-budget BYTES (a number, optionally with K or M for
 * KiB/MiB; NULL: no budget). False after an error: the arena over the RAM
 * budget (naming the largest live set and the layer where it peaks), the
 * weights over the flash budget, or a malformed number. *ram_bytes gets the
 * RAM budget (0: none), for the generated code's own compile-time check.
 * t: the build's target (NULL: the host), whose kernels set the arena.
 * Where the build with Winograd convs (!*no_winograd) is over a budget and
 * the one without them is not, sets *no_winograd (with a note). */
bool target_check_budgets(Graph *g, const TargetProfile *t, const char *ram_budget,
                          const char *flash_budget, bool fuse_blocks, int64_t *ram_bytes,
                          bool *no_winograd);
/* A budget's bytes (a number, optionally with K or M); false if malformed. */
bool target_parse_bytes(const char *s, int64_t *out);

/* ---- runtime/npy.h (the .npy reader/writer) is shared with generated programs ---- */

#endif
