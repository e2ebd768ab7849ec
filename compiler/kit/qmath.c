/* qmath.c: the integer arithmetic of the int8 kernels (see qmath.h): each
 * rule as the interpreter's C and, beside it, as the text of the function
 * generated code carries. */
#include "qmath.h"

#include <math.h>

bool qmul_make(double M, QMul *out)
{
    if (!(M >= 0) || !isfinite(M) || M >= 0x1p30)
        return false;
    if (M < 0x1p-32) { /* x * M < 1/2 for every |x| < 2^31: zero */
        *out = (QMul){0, 1};
        return true;
    }
    int e;
    double f = frexp(M, &e); /* M = f * 2^e, f in [0.5, 1) */
    int64_t m = llround(f * 0x1p31);
    if (m == (int64_t)1 << 31) { /* f rounded up to 1 */
        m >>= 1;
        e++;
    }
    *out = (QMul){(int32_t)m, 31 - e};
    return out->s >= 1 && out->s <= 62;
}

int8_t q_quantize(float x, float scale, int32_t zp)
{
    float t = x / scale;
    if (!(t > -1e9f)) /* and NaN */
        t = -1e9f;
    if (t > 1e9f)
        t = 1e9f;
    int64_t v = (int64_t)rintf(t) + zp;
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

float q_dequantize(int32_t q, float scale, int32_t zp)
{
    return (float)(q - zp) * scale;
}

void q_bounds(Act act, const Quant *q, int32_t *lo, int32_t *hi)
{
    *lo = -128;
    *hi = 127;
    if (!act_present(act))
        return;
    *lo = q_quantize(act_apply(act, -INFINITY), q->scale[0], q->zero_point[0]);
    *hi = q_quantize(act_apply(act, INFINITY), q->scale[0], q->zero_point[0]);
}

/* The generated twins of the functions above, each defined once per
 * translation unit (its CNNC_<NAME>_DEFINED guard), so that models
 * compiled into one file share them. */
static const struct {
    const char *name, *guard, *text;
} helpers[] = {
    {"cnnc_rq8", "CNNC_RQ8_DEFINED",
     "static inline int8_t cnnc_rq8(int32_t acc, int32_t m, int s, int32_t zp, int32_t lo,\n"
     "                              int32_t hi)\n"
     "{\n"
     "    int64_t v = (((int64_t)acc * m + ((int64_t)1 << (s - 1))) >> s) + zp;\n"
     "    return (int8_t)(v < lo ? lo : v > hi ? hi : v);\n"
     "}\n"},
    {"cnnc_rq32", "CNNC_RQ32_DEFINED",
     "static inline int32_t cnnc_rq32(int32_t x, int32_t m, int s)\n"
     "{\n"
     "    return (int32_t)(((int64_t)x * m + ((int64_t)1 << (s - 1))) >> s);\n"
     "}\n"},
    {"cnnc_q8", "CNNC_Q8_DEFINED",
     "static inline int8_t cnnc_q8(float x, float scale, int32_t zp)\n"
     "{\n"
     "    float t = x / scale;\n"
     "    int64_t v;\n"
     "    if (!(t > -1e9f))\n"
     "        t = -1e9f;\n"
     "    if (t > 1e9f)\n"
     "        t = 1e9f;\n"
     "    v = (int64_t)rintf(t) + zp;\n"
     "    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);\n"
     "}\n"},
    {"cnnc_dq", "CNNC_DQ_DEFINED",
     "static inline float cnnc_dq(int32_t q, float scale, int32_t zp)\n"
     "{\n"
     "    return (float)(q - zp) * scale;\n"
     "}\n"},
};

void qmath_emit_helpers(StrBuf *b, bool (*used)(const void *ctx, const char *name),
                        const void *ctx)
{
    sb_puts(b, "/* int8 arithmetic (docs/int8.md): x * M as (x * m + 2^(s-1)) >> s in 64\n"
               " * bits, rounded half up once, then the zero point and saturation;\n"
               " * quantize rounds x / scale half to even (ONNX QuantizeLinear). >> of a\n"
               " * negative value must be arithmetic: */\n"
               "#ifndef CNNC_SHIFT_CHECKED\n#define CNNC_SHIFT_CHECKED\n"
               "typedef char cnnc_arithmetic_shift[(-2 >> 1) == -1 && ((int64_t)-2 >> 1) == -1 ? 1 "
               ": -1];\n#endif\n");
    for (size_t i = 0; i < sizeof helpers / sizeof *helpers; i++)
        if (used(ctx, helpers[i].name))
            sb_printf(b, "#ifndef %s\n#define %s\n%s#endif\n", helpers[i].guard, helpers[i].guard,
                      helpers[i].text);
    sb_putc(b, '\n');
}

const char *qmul_args(Emit *e, QMul k)
{
    return emit_keep(e, xasprintf("%ld, %d", (long)k.m, k.s));
}
