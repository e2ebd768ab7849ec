/* conv_int8.h: the integer conv (conv_int8.c), its plan shared by the
 * interpreter kernel and the emitters (conv_int8_emit.c), and by dense,
 * which runs as a 1x1 conv over IN x 1 x 1. Internal to compiler/ops/. */
#ifndef CNNC_CONV_INT8_H
#define CNNC_CONV_INT8_H

#include "../ops.h"

/* One layer's integers, derived once from its tensors' Quants: the same
 * numbers for `cnnc run` and the generated code. */
typedef struct {
    ConvGeom k;
    PadMode mode;
    int64_t cg, fg, taps, kdim; /* Cg, Fg, KH*KW, Cg*KH*KW */
    int32_t zx, zy, lo, hi;     /* zero points, output bounds */
    int8_t *w;                  /* [F][Cg*KH*KW], zero point removed */
    int32_t *b;                 /* [F]: bias - zx * sum(w[f]) */
    int32_t *ms;                /* [F][2]: M[f] as (m, s) (kit/qmath.h) */
} ConvQ;

/* Node n's integers for geometry k; NULL, or why n cannot compute in
 * integers (then q holds nothing). Free with conv_q_free. */
const char *conv_q_make(const Graph *g, const Node *n, const ConvGeom *k, ConvQ *q);
void conv_q_free(ConvQ *q);
/* The interpreter kernel over `batch` samples. */
void conv_q_run(const ConvQ *q, const int8_t *x, int8_t *y, int batch);
/* The layer body: x0 int8 input, y int8 output, s int8 scratch. */
void conv_q_emit(Emit *e, const Node *n, const ConvQ *q);
/* B and MS, the bias and requantization constants every kernel reads. */
void conv_q_emit_bias_requant(Emit *e, const Node *n, const ConvQ *q);
/* conv_int8_dw.c: whether the depthwise kernel takes q (one input and one
 * output channel per group), and its body. */
bool conv_q_dw_fits(const ConvQ *q);
void conv_q_emit_dw(Emit *e, const Node *n, const ConvQ *q);
/* conv_int8_blocked.c: whether the microcontroller profiles' blocked
 * kernel takes q (general and pointwise, two pixels or more), and its body. */
bool conv_q_blocked_fits(Emit *e, const ConvQ *q);
void conv_q_emit_blocked(Emit *e, const Node *n, const ConvQ *q);

#endif
