/* conv_emit.h: what the forward conv emitter's files share. conv_emit.c
 * plans a layer and emits the general register-blocked kernel (and the
 * padded input copy); conv_pw_emit.c the 1x1 stride-1 GEMM; conv_dw_emit.c
 * the one-filter-per-group (depthwise) loops. Internal to compiler/ops/. */
#ifndef CNNC_CONV_EMIT_H
#define CNNC_CONV_EMIT_H

#include "../ops.h"

typedef struct {
    ConvGeom k;
    int64_t cg, fg;   /* input channels and filters per group */
    int vb, xb, nfb;  /* output-channel block, pixel block, blocks per group */
    int64_t hp, wp;   /* the (padded) input's height and width */
    int64_t np;       /* output pixels per channel, oh * ow */
    bool vec;         /* VB is a multiple of 8: the vector-extension path exists */
    const char *x;    /* the (padded) input */
    const char *y;    /* the output */
    bool res;         /* a fused residual add: y = act(conv + x1), rb beside yb */
    int64_t xgs, ygs; /* conv_emit_gemm: floats from one group's input and output
                         to the next (0: Cg * np and Fg * np, back to back) */
    int64_t xcs, ycs; /* conv_emit_gemm: floats from one channel's input and output
                         to the next (0: np); a fused block's rows of planes */
    const char *r;    /* the fused residual's base, where not x1 */
    bool restore;     /* conv_emit_gemm: the last, overlapping run of pixels may store
                         again what the run before stored (the output aliases no input) */
} ConvPlan;

/* A 2-D layer's plan as conv_emit makes it (x0 into y, the whole plane). */
ConvPlan conv_plan(const Graph *g, const Node *n);

/* The bias in blocks of p->vb ([G][nfb][vb], zeros where b is NULL or past
 * the group's filters). Caller frees. */
float *conv_repack_bias(const ConvPlan *p, const float *b, int64_t *count);

/* Emits a conv's weights (nw floats, wcomment saying their layout; freed
 * here) and bias (nb floats, NULL: zeros; bias_note follows "NAME.bias" in
 * its comment, a layer without one gets zeros) as constants, their names
 * in *W, *B. */
void conv_emit_consts(Emit *e, const Node *n, char *wcomment, const float *w, int64_t nw,
                      const char *bias_note, const float *b, int64_t nb, const char **W,
                      const char **B);

/* conv_pw_emit.c: 1x1, stride 1, unpadded layers. */
bool conv_is_pointwise(const ConvPlan *p);
void conv_emit_pointwise(Emit *e, const ConvPlan *p, const Node *n);
/* The 1x1 weights w ([F][Cg], groups in order) as the GEMM reads them:
 * [G][ceil(Fg/12)][Cg][12]. Caller frees. */
float *conv_repack_pointwise(const ConvPlan *p, const float *w, int64_t *count);
/* The pointwise GEMM alone: p->x ([G][Cg][np]) times the repacked weights
 * W, plus the bias B (in blocks of 12; NULL: none), act applied, to y
 * ([G][Fg][np]). */
void conv_emit_gemm(Emit *e, const ConvPlan *p, Act act, const char *W, const char *B);
/* 8-float 1x1 on planes of up to 64 pixels: the channel-blocked kernel's
 * weights W and bias B (blocks of 16) on a pixel-major copy of the input,
 * for the #elif CNNC_V8_DEFINED branch of a layer routed to that kernel. */
bool conv_pw_transposed_fits(const ConvPlan *p);
void conv_emit_pw_transposed(Emit *e, const ConvPlan *p, const Node *n, const char *W,
                             const char *B);

/* conv_irb_f32.c: a float fused inverted-residual block (conv_irb.c
 * matches it): whether the kernel takes it, its scratch, its body. */
bool conv_irb_f32_fits(const Graph *g, int expand, int dw, int project);
int64_t conv_irb_f32_scratch_floats(const Graph *g, int dw);
void conv_irb_f32_emit(Emit *e, int expand, int dw, int project);

/* conv_dw_emit.c: one filter per group (Fg = 1), the whole layer (its own
 * weights, phase-plane copy of the input, loops). */
void conv_emit_depthwise(Emit *e, const ConvPlan *p, const Node *n);

/* conv_wino_emit.c: 3x3, stride 1, ungrouped layers by Winograd's
 * F(2x2, 3x3), where `enabled` (not --no-winograd) and the layer is wide
 * enough to gain. */
bool conv_use_winograd(const ConvPlan *p, const Node *n, bool enabled);
void conv_emit_winograd(Emit *e, const ConvPlan *p, const Node *n);

/* conv3d_emit.c: a 3-D layer, the whole of it; and the padded copy of a
 * volume (c channels of d x h x w as the geometry says) into dst. */
void conv_emit_volume(Emit *e, const Node *n);
/* Where the padded coordinate i of an axis of n cells reads from: a table
 * `static const int NAME[n + pb + pe]`, -1 for a zero (conv3d_emit.c). */
void conv_emit_source_table(Emit *e, const char *name, int64_t n, int pb, int pe, PadMode mode);
/* conv3d_emit_grad.c: a volume's training forward and backward. */
void conv_emit_volume_train(Emit *e, const Node *n);
void conv_emit_volume_grad(Emit *e, const Node *n);
void emit_pad_copy_3d(Emit *e, const char *dst, const char *src, const ConvGeom *k,
                      PadMode mode);

/* conv_mcu_emit.c: the microcontroller profiles' kernel (emit_scalar_kernels)
 * for every layer Winograd's does not take. */
void conv_emit_mcu(Emit *e, const ConvPlan *p, const Node *n);
/* Its weights' filters per block: [G][Fg/fb blocks][Cg][KH][KW][fb], the
 * last block Fg % fb wide. */
int conv_mcu_filters_per_block(const ConvPlan *p);
/* That block when conv_emit gives layer n (2-D) the kernel above, else 0:
 * the training code then may read frozen weights in its layout. */
int conv_mcu_block(Emit *e, const Node *n);

/* The output pointer yb = y + off and, with a fused residual, the
 * residual's rb = x1 + off (same layout as y). */
void conv_emit_out_ptrs(Emit *e, const ConvPlan *p, const char *off);
/* "a" or, with a fused residual, "a + rb[i]": the pre-activation value of
 * an output whose sum is `a` and whose offset from yb is `i`. Kept by e. */
const char *conv_pre_act(Emit *e, const ConvPlan *p, const char *a, const char *i);

/* conv_transpose_emit.c: the loops over a transposed convolution's taps
 * and the input cells each reaches (bounds as tables, no test inside),
 * declaring `yo` (where input cell (iz, iy, 0) of the tap lands in an
 * output channel, the column ix adding ix * SW) and `xo` (the input row's
 * offset in a channel), the ix loop left open for one body line; `close`
 * ends them. The forward and the training emitters share them. */
void conv_transpose_open_tap_rows(Emit *e, const ConvGeom *k);
void conv_transpose_close_tap_rows(Emit *e);

#endif
