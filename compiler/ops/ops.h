/* ops.h: what operator files share (geometry helpers, kernels used by
 * several operators). Internal to compiler/ops/. */
#ifndef CNNC_OPS_H
#define CNNC_OPS_H

#include "../cnnc.h"
#include "../kit/dsl_args.h"
#include "../kit/onnx_kit.h"
#include "../kit/onnx_write.h"

/* ---- act/: the activation table (acts.def; act.c, act_emit.c) ---- */

/* One activation: acts.def's row, its formulas as functions. */
typedef struct {
    ActKind kind;
    int op; /* the operator computing it alone */
    const char *name, *onnx, *keys;
    const char *onnx_attrs; /* "name:type ..." */
    int onnx_since;
    float dsl_default[2], onnx_default[2]; /* NAN: required */
    int onnx_inputs_since;
    float (*apply)(float x, float a, float b);
    float (*dydx)(float x, float y, float a, float b);
    bool (*from_y)(float a, float b); /* dydx reads y alone */
    bool (*nonneg)(float a, float b); /* y >= 0 for every x */
    bool (*valid)(float a, float b);
    const char *invalid; /* why valid fails: a printf format given a and b */
    const char *c_y, *c_dydx, *c_vec; /* generated C ($x $y $s $a $b; $v $V $I) */
    bool clamp; /* y = x clamped to [f(-inf), f(+inf)] */
} ActInfo;

/* A DSL keyword standing for an activation with fixed parameters. */
typedef struct {
    const char *word;
    Act act;
} ActAlias;

const ActInfo *act_info(ActKind kind);
/* By DSL/IR name, NULL if none. */
const ActInfo *act_by_name(const char *name);
const ActAlias *act_alias(const char *word);
/* True when act's parameters are valid; else reports `<lead><why>` at loc
 * (acts.def's invalid: "min (2) is above max (1)"). */
bool act_check(Act act, Loc loc, const char *lead);
/* The parameters' names: how many, and the i-th into buf. */
int act_key_count(const ActInfo *ai);
const char *act_key(const ActInfo *ai, int i, char *buf, size_t size);
/* The Act a standalone activation node computes (its operator's kind, its
 * parameters n->act.a, n->act.b); {ACT_NONE} for any other operator. The
 * fusion pass moves it into the producer's epilogue (n->act). */
Act node_act(const Node *n);
/* True when act_derivative(act, x, y) reads y only, so a backward pass that
 * kept just the output may pass y for x (acts.def's from_y). */
bool act_grad_from_output(Act act);
/* y >= 0 whatever x (acts.def's nonneg). */
bool act_nonnegative(Act act);
/* y is x clamped to [act(-inf), act(+inf)] (acts.def's clamp), or no
 * activation at all: integer kernels apply it as bounds. */
bool act_is_clamp(Act act);
/* Generated C (act_emit.c): the expression applying act to the float
 * expression v; d act / dx from expressions x and y = act(x); and `var =
 * act(var)` on a GNU vector variable of `lanes` floats (cnnc_v8, cnnc_v16),
 * false (nothing written) for the activations the kernels apply lane by
 * lane. */
const char *emit_act(Emit *e, Act act, const char *v);
const char *emit_act_deriv(Emit *e, Act act, const char *x, const char *y);
bool act_emit_vec(Emit *e, Act act, const char *var, int lanes);
/* A layer's `activation=NAME(args)` (act_front.c): its fused Act, or, for
 * softmax, c->softmax (the front end adds a softmax layer). */
void act_dsl_activation(DslArgs *c, Act *act);

/* ---- each family's DSL keywords and ONNX op types (<family>_front.c),
 * for registry.c ---- */
extern const DslKind conv_dsl[], pool_dsl[], dense_dsl[], batchnorm_dsl[], reshape_dsl[],
    softmax_dsl[], maxout_dsl[], elementwise_dsl[], concat_dsl[], pad_dsl[], act_dsl[],
    reduce_dsl[], prelu_dsl[];
extern const OnnxKind conv_onnx[], pool_onnx[], dense_onnx[], batchnorm_onnx[], reshape_onnx[],
    softmax_onnx[], elementwise_onnx[], concat_onnx[], pad_onnx[], act_onnx[], const_onnx[],
    reduce_onnx[], prelu_onnx[], quant_onnx[];
/* The layout and normalisation families (issue 13). */
extern const DslKind transpose_dsl[], slice_dsl[], norm_dsl[], matmul_dsl[];
extern const OnnxKind transpose_onnx[], slice_onnx[], norm_onnx[], matmul_onnx[];
extern const OnnxPattern norm_patterns[];
/* Op types another family's main row also lowers (kit/onnx_kit.h). */
extern const OnnxShare elementwise_onnx_shares[];
/* Up-sampling (issue 13): conv_transpose (conv/), resize (resize/). */
extern const DslKind conv_transpose_dsl[], resize_dsl[];
extern const OnnxKind conv_transpose_onnx[], resize_onnx[];

/* ---- what the families' ONNX lowerings share ---- */

/* Quantized models (quant_front.c): the scales (input si) and zero points
 * (input zi, optional: 0, uint8) of a tensor of full ONNX shape x, checked;
 * per channel along *axis (attribute "axis", else dflt_axis) or per tensor
 * (*axis -1); zero points as given (*elem: their ONNX type). NULL after an
 * error. onnx_act_quant: an activation's (one scale; uint8 moved to int8). */
Quant *onnx_quant_params(OnnxNode *l, int si, int zi, const Shape *x, int dflt_axis, int *elem,
                         int *axis);
Quant *onnx_act_quant(OnnxNode *l, int si, int zi, const OnnxValue *x);
/* The QLinear operators (QLinearConv, QLinearMatMul): x (input 0, scale
 * and zero point inputs 1, 2) dequantized, the float operator `lower` run on
 * it and consts (dequantized weights, bias), its output quantized with
 * inputs ysi, yzi into l's output; "quantize" makes them one integer layer.
 * onnx_qlinear_bias: the int32 bias (input bi) at scale x scale (input xsi)
 * times the weights' qw, m values, dequantized into out. */
bool onnx_qlinear(OnnxNode *l, int ysi, int yzi, OnnxValue **consts, int nconst,
                  bool (*lower)(OnnxNode *l));
bool onnx_qlinear_bias(OnnxNode *l, int bi, int xsi, const Quant *qw, int64_t m, Const *out);
/* Integer constant x dequantized into out, its integers alongside (out->q). */
bool onnx_dequantize_const(OnnxNode *l, const OnnxValue *x, int si, int zi, int dflt_axis,
                           Const *out);
/* A quantize node from float activation x into value out, the int8 tensor
 * taking q (owned now); a dequantize node from int8 activation x, whose
 * Quant must be q. Nodes named after l's plus suffix; false after an error. */
bool onnx_quantize_act(OnnxNode *l, OnnxValue *x, Quant *q, const char *suffix, OnnxValue *out);
bool onnx_dequantize_act(OnnxNode *l, OnnxValue *x, const Quant *q, const char *suffix,
                         OnnxValue *out);

/* A conv or pool window over `ns` spatial dims from ONNX's attributes
 * (conv_front.c): kernel, strides, dilations, pads or auto_pad. */
typedef struct {
    int ns;
    int64_t k[3], s[3], d[3], pb[3], pe[3];
} OnnxWindow;

bool onnx_window(OnnxNode *l, const Shape *x, const int64_t *kernel, OnnxWindow *w);
/* The output shape of window w over x (PyTorch's ceil mode rule). */
bool onnx_window_out(OnnxNode *l, const OnnxWindow *w, const Shape *x, bool ceil_mode,
                     Shape *out);
/* Window geometry into the IR's [H, W] arrays (1-D uses index 1) and the
 * depth fields (3-D). */
void onnx_window_attrs(Node *n, const OnnxWindow *w);
/* A per-sample view of x with shape s, a flatten when s is flat
 * (reshape_front.c); NULL after an error. */
Node *reshape_onnx_view(OnnxNode *l, OnnxValue *x, const Shape *s, const char *suffix,
                        OnnxValue *out);
/* ---- cnnc export: each family's OpInfo.onnx_export (<family>_front.c) ---- */
bool act_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                     const char *out);
bool batchnorm_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out);
bool concat_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out);
bool conv_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                      const char *out);
bool conv_transpose_onnx_export(OnnxOut *o, const Graph *g, const Node *n,
                                const char *const *in, const char *out);
bool resize_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out);
bool dense_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out);
bool dropout_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out);
bool elementwise_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                             const char *out);
bool flatten_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out);
bool global_pool_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                             const char *out);
bool identity_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                          const char *out);
bool maxout_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out);
bool pad_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                     const char *out);
bool pool_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                      const char *out);
bool reshape_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out);
bool softmax_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out);
/* cnnc quantize: quantize and dequantize nodes (quant_front.c). */
bool quant_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out);
bool transpose_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out);
bool slice_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out);
bool matmul_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out);
bool layernorm_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out);
bool groupnorm_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out);
bool prelu_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out);
bool reduce_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out);
/* An activation as an ONNX node named `name` from value in to out
 * (act_front.c); false where it has no ONNX form. */
bool act_onnx_node(OnnxOut *o, Act act, const char *name, const char *in, const char *out);
/* The window attributes of conv and the pools (conv_front.c), with
 * dilations or not. */
void onnx_export_window(OnnxOut *o, Onnx__NodeProto *x, const Graph *g, const Node *n,
                        bool dilations);
/* A Pad node of n's padding and mode over x writing `out` (NULL: a fresh
 * "<node>_pad"); returns its output's name (pad_front.c). */
const char *onnx_export_pad(OnnxOut *o, const Graph *g, const Node *n, const char *x,
                            const char *out);

/* Add(x, c) right after a dense layer without bias, or a matmul by a
 * constant on the right, becomes its bias (the node's output names x):
 * true when it did (dense_front.c). */
bool dense_onnx_take_bias(OnnxNode *l, OnnxValue *x, OnnxValue *c);
/* MatMul of flat activation a by constant b [in, out]: a dense layer. */
bool dense_onnx_matmul(OnnxNode *l, OnnxValue *a, OnnxValue *b);

/* ---- integer forms, <family>/<family>_int8.c (OpInfo.quant; docs/int8.md) ---- */
extern const QuantOps conv_int8, dense_int8, maxpool_int8, avgpool_int8, global_maxpool_int8,
    global_avgpool_int8, view_int8, elementwise_int8, concat_int8, act_int8, softmax_int8,
    pad_int8, maxout_int8, batchnorm_int8;

/* ---- elementwise/: the operands of add, sub, mul and div (elementwise.c) ----
 * Operand k (0 <= k < elt_count) is activation input elt_input(n, k), or
 * the constant B (param 0) where that is -1; elt_shape is its per-sample
 * shape (B's without its batch dimension of 1), which broadcasts to the
 * output's. */
int elt_count(const Node *n);
int elt_input(const Node *n, int k);
Shape elt_shape(const Graph *g, const Node *n, int k);
/* The strides of x broadcast into s (rank s->rank): x's own strides along
 * the aligned dimensions, 0 where x has 1 or no dimension. */
void elt_strides(const Shape *x, const Shape *s, int64_t *st);
/* For each cell of shape s, where x broadcast into s reads (caller
 * frees). */
int64_t *elt_index(const Shape *x, const Shape *s);
/* Operand k's values in the interpreter (in[] as OpInfo.run gets them):
 * its samples are *sample_stride floats apart (0: B, shared). */
const float *elt_data(const Graph *g, const Node *n, const float *const *in, int k,
                      int64_t *sample_stride);
/* The loop nest of broadcast operands in generated code
 * (elementwise_emit.c): output shape s's dimensions, those of 1 dropped
 * and runs merged where every operand is contiguous across them; strides
 * per operand k < count (shape ops[k], 0 along a broadcast axis), then y's
 * (row count). elt_node_nest: an elementwise node's operands. Free with
 * elt_nest_free. elt_nest_open emits the loops (i0, i1, ...; one block
 * when none) and leaves one open for the body, elt_nest_close ends it;
 * elt_nest_at is operand k's (or y's, k = count) offset in a sample. */
typedef struct {
    int count, rank;
    int64_t dim[MAX_RANK];
    int64_t *st;
} EltNest;
EltNest elt_nest(const Shape *s, const Shape *ops, int count);
EltNest elt_node_nest(const Graph *g, const Node *n);
void elt_nest_free(EltNest *nest);
void elt_nest_open(Emit *e, const EltNest *nest);
void elt_nest_close(Emit *e);
const char *elt_nest_at(Emit *e, const EltNest *nest, int k);
/* The expression of the node's operands at their cells, arr[k][offset],
 * combined (elt_expr). */
const char *elt_nest_expr(Emit *e, const Node *n, const EltNest *nest, const char **arr);
/* a op b for OP_ADD, OP_SUB, OP_MUL, OP_DIV; the operator as C. */
float elt_apply(int op, float a, float b);
/* The operands' C expressions combined: "a + b", "powf(a, b)". */
void elt_expr(const Node *n, const char *const *operands, int count, StrBuf *out);

/* ---- reduce/: a reduction's loops (reduce.c) ----
 * x's dimensions, those of 1 dropped and runs of reduced or of kept ones
 * merged: dimension i has size dim[i], x's stride xst[i] and y's yst[i]
 * (0 where reduced); count cells go into each output. */
typedef struct {
    int rank;
    int64_t dim[MAX_RANK], xst[MAX_RANK], yst[MAX_RANK];
    bool reduced[MAX_RANK];
    int64_t count;
} ReduceGeom;
ReduceGeom reduce_geometry(const Graph *g, const Node *n);
/* For each of x's xn cells (one sample), its output cell (caller frees). */
int64_t *reduce_offsets(const ReduceGeom *k, int64_t xn);
/* In generated code (reduce_emit.c): x's offset (y's, with y) for loop
 * indices i0, i1, ... over the merged dimensions, as C. */
const char *reduce_offset(Emit *e, const ReduceGeom *k, bool y);
/* Code that takes the declared float r over x[0..count) (x a C pointer
 * expression): a sum (op OP_REDUCE_SUM or _MEAN, r added to), a sum of
 * squares (_L2) or the maximum (_MAX, NaN winning); with GNU vectors in
 * 4 x 8 partial results where count allows (global pools use it too). */
void reduce_emit_row(Emit *e, int op, const char *r, const char *x, int64_t count);

/* ---- prelu/ (prelu.c): the slope's shape a as it broadcasts over the
 * sample's x ([C] along the channels, else NumPy-style); false when it
 * does not without growing x. */
bool prelu_view(const Shape *a, const Shape *x, Shape *view);
/* Per cell of node n's sample, the offset of the slope it reads (free it). */
int64_t *prelu_slope_index(const Graph *g, const Node *n);

/* ---- traits: OP_TRAITS(CONV) is the ops.def row's traits, so that an
 * OpInfo's .traits and the table cannot disagree. ---- */
enum {
#define OP(ID, name, traits) OP_TRAITS_##ID = (traits),
#include "../ops.def"
#undef OP
};
#define OP_TRAITS(ID) OP_TRAITS_##ID

/* An operator taking exactly `want` inputs checks it first (ONNX files can
 * be malformed). */
static inline bool check_arity(const Node *n, int want)
{
    if (n->nin == want)
        return true;
    diag_error(n->loc, "%s '%s': takes %d input%s, got %d", op_info(n->op)->name, n->name, want,
               want == 1 ? "" : "s", n->nin);
    return false;
}

/* ---- sliding windows: conv.c (conv, conv_transpose, the pools in pool.c) ----
 * A window operator's geometry after shape inference, for the interpreter
 * and the code generator alike. 1-D operators are 2-D ones with H = 1
 * (shape_chw; their infer sets kernel[0] = stride[0] = dilation[0] = 1 and
 * the top/bottom padding to 0), and 2-D ones 3-D ones with D = 1 (the depth
 * attributes neutral). Output (oz, oy, ox) reads input rows
 * oy*sh - pt + ky*dh for ky in [0, kh), columns and planes likewise. The
 * tuned 2-D kernels never see a 3-D operator (window_is_3d). */
typedef struct {
    int64_t c, h, w;   /* input channels, height, width */
    int64_t f, oh, ow; /* output channels, height, width */
    int kh, kw, sh, sw, dh, dw;
    int pt, pl, pb, pr; /* padding: top, left, bottom, right */
    int groups;         /* conv: resolved (never -1); pools: c */
    int64_t d, od;      /* input and output depth (1 below 3-D) */
    int kd, sd, dd, pf, pbk; /* depth: kernel, stride, dilation, padding front and back */
} ConvGeom;

ConvGeom conv_geometry(const Graph *g, const Node *n);
/* Whether a window operator's input is C x D x H x W. */
bool window_is_3d(const Graph *g, const Node *n);
/* No padding on any side. */
bool window_unpadded(const Node *n);
/* fuse-pad (pad_fuse.c): the readers' OpInfo.absorb_pad. */
bool conv_absorb_pad(const Graph *g, Node *w, const Node *p);
bool avgpool_absorb_pad(const Graph *g, Node *w, const Node *p);
bool maxpool_absorb_pad(const Graph *g, Node *w, const Node *p);
/* The fusion rules of pad, add and batchnorm (<family>_fuse.c), and the
 * patterns that are activations, from their first node (act_fuse.c: an
 * activation's, mul's). */
extern const FoldRule pad_folds[], add_folds[], batchnorm_folds[], act_folds[], mul_folds[];
/* A window's kernel, stride and padding in an IR dump (conv and pools),
 * and its dilation (KHxKW, or KDxKHxKW in 3-D). */
void window_dump(const Graph *g, const Node *n, FILE *out);
void window_dump_dilation(const Graph *g, const Node *n, FILE *out);

/* The attributes of one spatial axis: 0 = H and 1 = W (the [H, W] arrays),
 * WINDOW_D the depth; and the axis of spatial dimension i (in the shape's
 * order) of an operator with ns spatial dimensions. */
enum { WINDOW_D = 2 };
typedef struct {
    int *k, *s, *d, *pb, *pe, *op; /* kernel, stride, dilation, pads, output padding */
} WindowAxis;
WindowAxis window_axis_attrs(Attrs *a, int axis);
int window_attr_axis(int ns, int i);

/* The shape rule of one spatial axis shared by conv and the pools:
 * resolves 'same' padding (SAME_UPPER) into its pads, checks the
 * attributes, computes the output size (PyTorch's floor, or ceil mode)
 * into *out, warns about input rows never read and reports errors. */
bool window_axis(Node *n, int axis, bool one_d, int64_t in, int64_t *out);
/* conv_transpose's: O = (I - 1)*S + D*(K - 1) + 1 - P + output padding. */
bool window_transposed_axis(Node *n, int axis, bool one_d, int64_t in, int64_t *out);
/* Every spatial axis of x (C x L, C x H x W or C x D x H x W): the output's
 * spatial dimensions into out (shape order); false after an error. */
bool window_spatial(Node *n, const Shape *x, bool transposed, int64_t *out);
/* x has one to three spatial dimensions; else an error. */
bool window_check_input(const Node *n, const Shape *x);
/* [d0, d1, K...] with n's kernel over ns spatial dimensions. */
Shape window_weight_shape(int64_t d0, int64_t d1, const Node *n, int ns);

/* For 1-D operators (input C x L): H-axis attributes become neutral. */
void window_make_1d(Attrs *a);

/* ---- resize/ (resize.c): the interpolation, one spatial axis at a time ---- */
typedef enum { RESIZE_NEAREST, RESIZE_LINEAR } ResizeMode;
typedef enum {
    COORD_HALF_PIXEL,
    COORD_PYTORCH_HALF_PIXEL,
    COORD_ALIGN_CORNERS,
    COORD_ASYMMETRIC,
    COORD_TF_HALF_PIXEL_FOR_NN,
} ResizeCoord;
typedef enum {
    NEAREST_ROUND_PREFER_FLOOR,
    NEAREST_ROUND_PREFER_CEIL,
    NEAREST_FLOOR,
    NEAREST_CEIL,
    NEAREST_SIMPLE, /* opsets below 11: floor up-sampling, ceil down-sampling */
} ResizeNearest;
const char *resize_coord_name(int coord);
const char *resize_nearest_name(int mode);
/* Output cell o of an axis reads input cells i0 and i1 with weights w0 and
 * w1 (nearest: i0 alone). */
typedef struct {
    int64_t i0, i1;
    float w0, w1;
} ResizeTap;
/* The taps of spatial axis `axis` (shape order) from `in` to `out` cells
 * (caller frees); whether they copy the axis unchanged. */
ResizeTap *resize_taps(const Node *n, int axis, int64_t in, int64_t out);
bool resize_taps_identity(const ResizeTap *t, int64_t in, int64_t out);
/* One axis' pass over a sample, the later axes already resized: a
 * [outer][in][inner] array into [outer][out][inner]. */
typedef struct {
    int64_t outer, in, out, inner;
    ResizeTap *taps; /* the caller frees */
    bool nearest;
} ResizePass;
ResizePass resize_pass(const Graph *g, const Node *n, int axis);
/* The pass's taps as static tables in generated code: int i0[out] and,
 * for linear, i1, and float w0, w1 (resize_emit.c). */
void resize_emit_taps(Emit *e, const ResizePass *p);
/* Cells of the largest array the passes go through: every axis at the
 * larger of its two lengths. */
int64_t resize_max_cells(const Graph *g, const Node *n);

/* conv_transpose (conv_transpose.c): per axis, the input cell output o
 * reads with kernel tap t, map[t * out + o], -1 where none lands there
 * (o + pad - t*dilation not a multiple of the stride, or outside); the
 * three axes' maps of a geometry (free with conv_taps_free). */
int64_t *conv_transpose_sources(int64_t out, int k, int stride, int dilation, int pad,
                                int64_t in);
typedef struct {
    int64_t *z, *y, *x;
} ConvTaps;
ConvTaps conv_transpose_taps(const ConvGeom *k);
/* The same for a convolution: the input index output o reads with tap t,
 * or -1 for a zero of the padding (reflect and replicate read a cell). */
ConvTaps conv_taps(const ConvGeom *k, PadMode mode);
void conv_taps_free(ConvTaps *t);

/* The input cells [y0, y1) x [x0, x1) that avgpool's output (oy, ox)
 * averages, and its divisor, as PyTorch's avg_pool2d: the window clipped
 * to the padded input gives the count with padding (count_include_pad),
 * clipped to the input the cells. pool.c's forward and pool_grad.c's
 * backward share it. */
typedef struct {
    int64_t y0, x0, y1, x1;
    int64_t divisor; /* may be 0 for a window wholly in the padding */
    int64_t z0, z1;  /* the planes: [0, 1) in 2-D */
} AvgWindow;

AvgWindow avg_window(const ConvGeom *k, bool include_pad, int64_t oy, int64_t ox);
/* The 3-D window (oz, oy, ox): its planes [z0, z1) too. */
AvgWindow avg_window_3d(const ConvGeom *k, bool include_pad, int64_t oz, int64_t oy, int64_t ox);

/* Where the maximum of maxpool's window (oy, ox) over plane x sits: the
 * first cell, in row-major window order, above all before it (or a NaN,
 * when nan_wins: the forward's value, as in PyTorch); -1 when the window
 * holds no input cell. The backward (pool_grad.c) passes nan_wins false:
 * a NaN there gets no gradient unless it is the window's first cell. */
int64_t pool_argmax(const ConvGeom *k, const float *x, int64_t oy, int64_t ox, bool nan_wins);
/* The same over volume x (D x H x W), planes before rows. */
int64_t pool_argmax_3d(const ConvGeom *k, const float *x, int64_t oz, int64_t oy, int64_t ox,
                       bool nan_wins);

/* Where padded coordinate i (possibly outside [0, n)) reads from an axis
 * of length n: -1 for a zero (PAD_ZEROS). Reflect assumes pad < n, which
 * the shape rules check (PyTorch's rule). */
static inline int64_t pad_source(int64_t i, int64_t n, PadMode mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case PAD_REFLECT:
        return i < 0 ? -i : 2 * (n - 1) - i;
    case PAD_REPLICATE:
        return i < 0 ? 0 : n - 1;
    default:
        return -1;
    }
}

/* ---- *_grad.c (grad): interpreter backward kernels, OpInfo.grad ----
 * Each adds dLoss/dInput into din[i] (skipped when NULL) and dLoss/dParam
 * into dparam[slot] (skipped when NULL), from the node's inputs, its
 * output and dLoss/dOutput, over `batch` samples. */
#define GRAD_FN(name)                                                                    \
    void name##_grad(const Graph *g, const Node *n, const float *const *in, const float *out, \
                     const float *dout, float *const *din, float *const *dparam, int batch)
GRAD_FN(conv);
GRAD_FN(conv_transpose);
GRAD_FN(resize);
GRAD_FN(maxpool);
GRAD_FN(avgpool);
GRAD_FN(global_avgpool);
GRAD_FN(global_maxpool);
GRAD_FN(dense);
GRAD_FN(batchnorm);
GRAD_FN(view); /* flatten, reshape, dropout (identity when differentiating), identity */
GRAD_FN(act);  /* every standalone activation (node_act) */
GRAD_FN(softmax);
GRAD_FN(maxout);
GRAD_FN(elementwise); /* add, sub, mul, div */
GRAD_FN(reduce);      /* reduce_mean, reduce_max, reduce_sum, reduce_l2 */
GRAD_FN(prelu);
GRAD_FN(concat);
GRAD_FN(pad);
GRAD_FN(transpose);
GRAD_FN(slice);
GRAD_FN(norm); /* layernorm, groupnorm */
GRAD_FN(matmul);
#undef GRAD_FN

/* OpInfo.grad_reads (see cnnc.h): which forward tensors each backward reads. */
#define GRAD_READS_FN(name)                                                                 \
    void name##_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in,  \
                           bool *out)
GRAD_READS_FN(conv);
GRAD_READS_FN(dense);
GRAD_READS_FN(batchnorm);
GRAD_READS_FN(maxpool); /* and global_maxpool */
GRAD_READS_FN(act);
GRAD_READS_FN(softmax);
GRAD_READS_FN(maxout);
GRAD_READS_FN(elementwise); /* add, sub, mul, div */
GRAD_READS_FN(reduce);
GRAD_READS_FN(prelu);
GRAD_READS_FN(norm);
GRAD_READS_FN(matmul);
#undef GRAD_READS_FN
/* Reads nothing: avgpool, global_avgpool, concat, pad, dropout, transpose,
 * slice. */
void grad_reads_none(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out);
/* OpInfo.fuses_with_loss of softmax: over the classes. */
bool softmax_fuses_with_loss(const Graph *g, const Node *n);

/* dLoss/d(pre-activation) of a node with a fused epilogue n->act, from its
 * output y and dLoss/dy (count floats): a new buffer the caller frees, or
 * NULL when n->act is ACT_NONE (then dout itself is the answer). */
float *epilogue_grad(const Node *n, const float *y, const float *dy, int64_t count);

/* ---- forward emitters, ops/<family>_emit.c (engineer codegen) ----
 * Each writes one layer's function body through the emit_* helpers of
 * cnnc.h: inputs x0, x1, ..., output y, one sample, shapes as literals. */
void conv_emit(Emit *e, const Node *n);
/* OpInfo.block of conv: fused inverted-residual blocks (conv_irb.c). */
extern const BlockOps conv_irb;
/* OpInfo.writes_over_input of conv: depthwise layers (conv_emit.c). */
bool conv_writes_over_input(const Graph *g, const Node *n);
void conv_transpose_emit(Emit *e, const Node *n);
void resize_emit(Emit *e, const Node *n);
void pool_emit(Emit *e, const Node *n);        /* maxpool, avgpool */
void pool_emit_volume(Emit *e, const Node *n); /* their 3-D form (pool3d_emit.c) */
void pool_emit_volume_grad(Emit *e, const Node *n); /* and its backward */
void global_pool_emit(Emit *e, const Node *n); /* global_avgpool, global_maxpool */
void dense_emit(Emit *e, const Node *n);
void batchnorm_emit(Emit *e, const Node *n);
void act_emit(Emit *e, const Node *n); /* every standalone activation */
void elementwise_emit(Emit *e, const Node *n); /* add, sub, mul, div */
void reduce_emit(Emit *e, const Node *n);      /* the reductions */
void prelu_emit(Emit *e, const Node *n);
void softmax_emit(Emit *e, const Node *n);
void concat_emit(Emit *e, const Node *n);
void pad_emit(Emit *e, const Node *n);
void maxout_emit(Emit *e, const Node *n);
/* The microcontroller profiles' dense kernel (emit_scalar_kernels):
 * ops/dense/dense_mcu_emit.c. */
void dense_emit_mcu(Emit *e, const Node *n);
/* Its training code over those blocked weights W (emit_frozen_packed):
 * y += x W^T (the bias already in y) and dx0 += dy W. */
void dense_emit_mcu_train_forward(Emit *e, const Node *n, const char *W);
void dense_emit_mcu_train_dx(Emit *e, const Node *n, const char *W);
/* ---- training emitters, the ops' _emit_grad.c files (traingen) ----
 * A backward body (OpInfo.emit_grad) sees, over n samples of the batch:
 * x0, x1, ... the inputs, y the output, dy dL/dy (float *, which it may
 * overwrite: nobody reads it afterwards), dxJ for each input J that needs a
 * gradient (emit_grad_needs_dx; the body *adds* into it: the driver zeroes
 * it first where this node is its first writer), pS the node's parameter S
 * (the state's copy), and each trainable one's gradient through
 * emit_pgrad_begin/end (cnnc.h, emit/emit_kit.c), in blocks of rows each
 * stepped by the optimizer as soon as it is final; `mode` (0 inference, 1
 * grad, 2 step), `key` (dropout's per-step key), `ws` (scratch,
 * emit_train_scratch). A training forward body (OpInfo.emit_train, for the
 * operators that read the state or draw a mask) sees x0.., y, pS, n, mode,
 * key, ws. Shapes are literals; n is the batch. The weights a backward
 * reads are the old ones: dL/dx comes before any row of W is stepped. */
/* dy *= act'(y) over n * per_sample floats: the fused epilogue's share. */
void emit_grad_epilogue(Emit *e, const Node *n, int64_t per_sample);
void conv_emit_train(Emit *e, const Node *n);
void dense_emit_train(Emit *e, const Node *n);
void batchnorm_emit_train(Emit *e, const Node *n);
void dropout_emit_train(Emit *e, const Node *n);
void elementwise_emit_train(Emit *e, const Node *n); /* add, sub, mul, div */
/* Parameter slot 0 as the training code reads it: the state's p0, or a
 * constant (not in the state) as a table `static const float NAME[]` of
 * the body; returns the array's name. */
const char *emit_train_param0(Emit *e, const Node *n, const char *name);
void conv_emit_grad(Emit *e, const Node *n);
void dense_emit_grad(Emit *e, const Node *n);
void batchnorm_emit_grad(Emit *e, const Node *n);
void dropout_emit_grad(Emit *e, const Node *n);
void pool_emit_grad(Emit *e, const Node *n);        /* maxpool, avgpool */
void global_pool_emit_grad(Emit *e, const Node *n); /* global_avgpool, global_maxpool */
void act_emit_grad(Emit *e, const Node *n);
void softmax_emit_grad(Emit *e, const Node *n);
void elementwise_emit_grad(Emit *e, const Node *n); /* add, sub, mul, div */
void reduce_emit_grad(Emit *e, const Node *n);
void prelu_emit_train(Emit *e, const Node *n);
void prelu_emit_grad(Emit *e, const Node *n);
void concat_emit_grad(Emit *e, const Node *n);
void maxout_emit_grad(Emit *e, const Node *n);
void pad_emit_grad(Emit *e, const Node *n);
/* Up-sampling (conv/conv_transpose_emit_grad.c, resize/resize_emit_grad.c). */
void conv_transpose_emit_train(Emit *e, const Node *n);
void conv_transpose_emit_grad(Emit *e, const Node *n);
void resize_emit_grad(Emit *e, const Node *n);

/* ---- strided.c (transpose/): the data movement of transpose and slice ----
 * A strided gather y[i] = x[base + sum_k i_k xs[k]], y contiguous with
 * dimensions d[0..rank). */
typedef struct {
    int rank;
    int64_t base;
    int64_t d[MAX_RANK], xs[MAX_RANK];
} Strided;

/* Drops size-1 axes and merges neighbours that stay neighbours in x. */
void strided_simplify(Strided *s);
/* One sample: y = the gather of x; dx += dy scattered back. */
void strided_gather(const Strided *s, const float *x, float *y);
void strided_scatter_add(const Strided *s, const float *dy, float *dx);
/* The loop nest as C over arrays y and x (scatter: x[...] += y[...]). */
void emit_strided(Emit *e, const Strided *s, const char *y, const char *x, bool scatter);
/* Node n's gather, simplified (transpose.c). */
Strided transpose_strided(const Graph *g, const Node *n);
void transpose_emit(Emit *e, const Node *n);
void transpose_emit_grad(Emit *e, const Node *n);
extern const FoldRule transpose_folds[];
/* Slice along one axis of size d (slice.c): the first index read and the
 * count, from ONNX's start, end and step; false for step 0. */
bool slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first,
                int64_t *len);
Strided slice_strided(const Graph *g, const Node *n);
void slice_emit(Emit *e, const Node *n);
void slice_emit_grad(Emit *e, const Node *n);

/* ---- concat/: its operands, inputs and constants (concat.c) ---- */
/* At most this many operands (a.const_at has a bit for each). */
#define CONCAT_MAX_OPERANDS 64
int concat_operands(const Node *n);
/* Whether operand i is a constant; *index: its param slot, or its input. */
bool concat_operand(const Node *n, int i, int *index);
const Shape *concat_shape(const Graph *g, const Node *n, int i);
void concat_emit_train(Emit *e, const Node *n);

/* ---- matmul/: products per sample ---- */
typedef struct {
    int64_t m, k, n; /* one product: [m, k] x [k, n] */
    int nbatch;      /* leading axes of the output */
    int64_t batch[MAX_RANK];            /* their sizes */
    int64_t astride[MAX_RANK], bstride[MAX_RANK]; /* in matrices; 0 where broadcast */
    int64_t count;   /* products per sample */
    bool a_rows, b_cols; /* the output keeps A's rows axis, B's columns axis */
} MatmulGeom;

MatmulGeom matmul_geometry(const Graph *g, const Node *n);
/* Offset in floats of product t's operand A (or B, b_side) in its operand. */
int64_t matmul_offset(const MatmulGeom *k, int64_t t, bool b_side);
void matmul_emit(Emit *e, const Node *n);
void matmul_emit_train(Emit *e, const Node *n);
void matmul_emit_grad(Emit *e, const Node *n);
/* fuse-transpose's hooks (OpInfo.unpermute): matmul_fuse.c, norm_fuse.c. */
bool matmul_unpermute(Graph *g, Node *n, const int *perm, bool apply);
bool norm_unpermute(Graph *g, Node *n, const int *perm, bool apply);

/* ---- norm/: layernorm and groupnorm ----
 * Their groups: group (o, i) of a sample holds x[(o n + j) inner + i] for
 * j < n; value j of group o uses gamma and beta at norm_param_index. */
typedef struct {
    int64_t outer, n, inner;
    int64_t span;   /* consecutive values sharing a gamma and beta (groupnorm: S) */
    bool per_group; /* groupnorm: the parameter index runs on across the groups */
} NormGeom;

NormGeom norm_geometry(const Graph *g, const Node *n);
static inline int64_t norm_param_index(const NormGeom *k, int64_t o, int64_t j)
{
    return ((k->per_group ? o * k->n : 0) + j) / k->span;
}
/* Mean and 1/sqrt(var + eps) of group (o, i) of one sample, in double. */
void norm_stats(const NormGeom *k, const float *x, int64_t o, int64_t i, double eps,
                double *mean, double *rstd);
void norm_emit(Emit *e, const Node *n);
void norm_emit_train(Emit *e, const Node *n);
void norm_emit_grad(Emit *e, const Node *n);
extern const FoldRule norm_folds[];
/* A LayerNormalization over full-shape axes [axis, rank) of x, gamma and
 * beta from the node's inputs 1 and 2 (norm_front.c; norm_pattern.c). */
Node *norm_onnx_layernorm(OnnxNode *l, OnnxValue *x, int axis, float eps);

/* Copies c planes of h x w from src into dst as (h+pt+pb) x (w+pl+pr)
 * planes, the border filled as `mode` says (pad = top, left, bottom, right). */
void emit_pad_copy(Emit *e, const char *dst, const char *src, int64_t c, int64_t h, int64_t w,
                   const int pad[4], PadMode mode);
/* The same for elements of C type `type` (float, int8_t), the zero border
 * being bytes `fill` (an int8 tensor's zero point). */
void emit_pad_copy_typed(Emit *e, const char *dst, const char *src, int64_t c, int64_t h,
                         int64_t w, const int pad[4], PadMode mode, const char *type, int fill);

#endif
