/* qmath.h: the integer arithmetic of the int8 kernels, below the operator
 * families (ops/<family>/<family>_int8.c call down into it).
 *
 * Each rule exists twice, side by side in qmath.c: as C the interpreter
 * runs, and as the text of the static functions OUT.c carries (qmath_emit_
 * helpers). Both compute the same integers from the same constants, which
 * the compiler derives once (qmul_make, the tables): that is why `cnnc run
 * --int8` and the generated program agree bit for bit.
 *
 * Conventions (TensorFlow Lite's and CMSIS-NN's, with one rounding):
 * - A real multiplier M in [0, 2^30) is m * 2^-s with m in [2^30, 2^31)
 *   (or m = 0 for M < 2^-32) and s in [1, 62]; x * M is computed as
 *   (x * m + 2^(s-1)) >> s in 64 bits: round half up, one rounding.
 * - int8 results saturate to [lo, hi] within [-128, 127]: a fused clamp
 *   activation (relu, relu6, clip) narrows the bounds.
 * - Float appears only in quantize (x / scale rounded half to even, as
 *   ONNX QuantizeLinear) and dequantize ((q - zp) * scale), the entry and
 *   exit of an int8 model. */
#ifndef CNNC_QMATH_H
#define CNNC_QMATH_H

#include "../cnnc.h"

typedef struct {
    int32_t m; /* [2^30, 2^31), or 0 */
    int s;     /* [1, 62] */
} QMul;

/* M as a QMul; false when M is negative, not finite or at least 2^30 (a
 * ratio of scales the kernels cannot represent). */
bool qmul_make(double M, QMul *out);
/* round(x * M), half up; |x| < 2^32. */
static inline int64_t qmul_apply(int64_t x, QMul k)
{
    return (x * k.m + ((int64_t)1 << (k.s - 1))) >> k.s;
}
/* x * M + zp saturated to [lo, hi]: a requantized int8 output. */
static inline int32_t q_requant(int64_t x, QMul k, int32_t zp, int32_t lo, int32_t hi)
{
    int64_t v = qmul_apply(x, k) + zp;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* ONNX QuantizeLinear into int8: round(x / scale) (half to even) + zp,
 * saturated; NaN gives -128. */
int8_t q_quantize(float x, float scale, int32_t zp);
float q_dequantize(int32_t q, float scale, int32_t zp);

/* The int8 bounds of an output with scale and zero point q->scale[0],
 * q->zero_point[0] after the clamp activation act (act_is_clamp). */
void q_bounds(Act act, const Quant *q, int32_t *lo, int32_t *hi);

/* A per-tensor Quant's scale and zero point. */
static inline float q_scale(const Quant *q)
{
    return q->scale[0];
}
static inline int32_t q_zero(const Quant *q)
{
    return q->zero_point[0];
}

/* ---- generated code: the same functions in OUT.c ----
 * cnnc_rq8(acc, m, s, zp, lo, hi) is q_requant, cnnc_rq32(x, m, s)
 * qmul_apply for |x * M| < 2^31, cnnc_q8(x, scale, zp) q_quantize,
 * cnnc_dq(q, scale, zp) q_dequantize: static inline, those the model uses
 * (used(ctx, name)), each defined once per translation unit, after the
 * compile-time check that >> of a negative value is arithmetic, as on every
 * compiler cnnc targets (C99 leaves it to the implementation). */
void qmath_emit_helpers(StrBuf *b, bool (*used)(const void *ctx, const char *name),
                        const void *ctx);
/* "m, s" of k as C literals, for a call of cnnc_rq8 or cnnc_rq32. Kept by e. */
const char *qmul_args(Emit *e, QMul k);

#endif
