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

/* For each of nf filters w (packed by ops/conv/conv_int8_blocked.c, kq
 * words each): a[5f + j] = b[f] + filter f times pixel j's column, the five
 * pixels' columns c int16 pairs interleaved two words at a time, kq groups
 * of four k. Arm's DSP extension does two products an SMLAD, each
 * weight word widened once for the five pixels (five, not four: the
 * widening and the loop's own cost spread wider; six would not fit the
 * registers); the plain C takes the same words apart. No sum can overflow
 * (conv_int8.c's bound), so both give the same integers. Four groups a
 * pass: the loop's own cost a quarter. */
/* One group of four k: weight word F widened by WIDEN, then PIXEL for each
 * pixel's two words at C, C + 1 (C = 10F + 2j). */
#define DOT15_STEP(WIDEN, PIXEL, F, C0, C2, C4, C6, C8) \
    "        wh = w[" F "];\n" WIDEN PIXEL("a0", C0) PIXEL("a1", C2) PIXEL("a2", C4) \
    PIXEL("a3", C6) PIXEL("a4", C8)
#define DOT15_DSP_WIDEN \
    "        wl = __sxtb16(wh);\n" \
    "        wh = cnnc_sxtb16_hi(wh);\n"
#define DOT15_DSP_PIXEL(A, X) \
    "        x0 = c[" X "];\n" \
    "        x1 = c[" X " + 1];\n" \
    "        " A " = __smlad(wl, x0, " A ");\n" \
    "        " A " = __smlad(wh, x1, " A ");\n"
#define DOT15_PLAIN_WIDEN \
    "        w0 = (int32_t)((uint32_t)wh << 24) >> 24;\n" \
    "        w1 = (int32_t)((uint32_t)wh << 8) >> 24;\n" \
    "        w2 = (int32_t)((uint32_t)wh << 16) >> 24;\n" \
    "        w3 = wh >> 24;\n"
#define DOT15_PLAIN_PIXEL(A, X) \
    "        x0 = c[" X "];\n" \
    "        x1 = c[" X " + 1];\n" \
    "        " A " += w0 * cnnc_lo16(x0) + w1 * (x0 >> 16) + w2 * cnnc_lo16(x1) + w3 * (x1 >> 16);\n"
#define DOT15_DSP(...) DOT15_STEP(DOT15_DSP_WIDEN, DOT15_DSP_PIXEL, __VA_ARGS__)
#define DOT15_PLAIN(...) DOT15_STEP(DOT15_PLAIN_WIDEN, DOT15_PLAIN_PIXEL, __VA_ARGS__)
#define DOT15_G0(STEP) STEP("0", "0", "2", "4", "6", "8")
#define DOT15_G1(STEP) STEP("1", "10", "12", "14", "16", "18")
#define DOT15_G2(STEP) STEP("2", "20", "22", "24", "26", "28")
#define DOT15_G3(STEP) STEP("3", "30", "32", "34", "36", "38")
#define DOT15_LOOP(STEP) \
    "    if (kq & 1) {\n" DOT15_G0(STEP) \
    "        w += 1;\n" \
    "        c += 10;\n" \
    "    }\n" \
    "    if (kq & 2) {\n" DOT15_G0(STEP) DOT15_G1(STEP) \
    "        w += 2;\n" \
    "        c += 20;\n" \
    "    }\n" \
    "    if (w != end)\n" \
    "    do {\n" DOT15_G0(STEP) DOT15_G1(STEP) DOT15_G2(STEP) DOT15_G3(STEP) \
    "        w += 4;\n" \
    "        c += 40;\n" \
    "    } while (w != end);\n"
/* The DSP intrinsics the dot products and the depthwise kernel use. */
#define DSP_PRELUDE \
    "#ifndef CNNC_DSP_PRELUDE\n" \
    "#define CNNC_DSP_PRELUDE\n" \
    "#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)\n" \
    "#include <arm_acle.h>\n" \
    "#if defined(__GNUC__)\n" \
    "__attribute__((unused)) /* on Helium, where the MVE paths take its place */\n" \
    "static inline int32_t cnnc_sxtb16_hi(int32_t w)\n" \
    "{\n" \
    "    int32_t r;\n" \
    "    __asm__(\"sxtb16 %0, %1, ror #8\" : \"=r\"(r) : \"r\"(w));\n" \
    "    return r;\n" \
    "}\n" \
    "#else\n" \
    "#define cnnc_sxtb16_hi(w) __sxtb16(__ror((uint32_t)(w), 8))\n" \
    "#endif\n" \
    "#endif\n" \
    "#endif\n"
/* What both dot products need: the DSP intrinsics, or the plain lane
 * (apart: the depthwise kernel's plain path does not take int16 pairs
 * apart, and clang warns of an unused static function). */
#define DOT_PRELUDE \
    DSP_PRELUDE \
    "#ifndef CNNC_LO16_DEFINED\n" \
    "#define CNNC_LO16_DEFINED\n" \
    "#if !(defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32))\n" \
    "static inline int32_t cnnc_lo16(int32_t x)\n" \
    "{\n" \
    "    return (int32_t)((uint32_t)x << 16) >> 16;\n" \
    "}\n" \
    "#endif\n" \
    "#endif\n"
/* Helium (MVE, __ARM_FEATURE_MVE: Cortex-M55): its intrinsics, and
 * CNNC_MVE where the int8 kernels take them. Little-endian only: the dot
 * products take a weight word's bytes apart as vector lanes. */
#define MVE_PRELUDE \
    "#ifndef CNNC_MVE_PRELUDE\n" \
    "#define CNNC_MVE_PRELUDE\n" \
    "#if defined(__ARM_FEATURE_MVE) && !defined(__ARM_BIG_ENDIAN)\n" \
    "#define CNNC_MVE 1\n" \
    "#include <arm_mve.h>\n" \
    "#endif\n" \
    "#endif\n"
/* The MVE dot products: four groups of four k (sixteen k) a pass, over the
 * same packed words as the DSP path. Of the weight bytes w[k], w[k+2],
 * w[k+1], w[k+3] of each word, VMOVLB widens the even ones into the int16
 * pair (w[k], w[k+1]), VMOVLT the odd ones into (w[k+2], w[k+3]); a gather
 * (four addresses `at`, a group's words apart, plus an immediate) takes
 * the column's matching word of each group, and VMLADAVA adds the eight
 * products into an int32 sum, exactly (the same sums as the DSP path).
 * Full passes unpredicated; the last, of n < 4 groups, predicated (VCTP, a
 * lane a group): lanes past kq load nothing and give 0. Z and P make a
 * load predicated: "_z" and ", p", or "" and "". */
#define MVE_DOT_WEIGHTS(Z, P) \
    "        const int8x16_t v = vreinterpretq_s8_s32(vldrwq" Z "_s32(w" P "));\n" \
    "        const int16x8_t wl = vmovlbq_s8(v), wh = vmovltq_s8(v);\n" \
    "        const uint32x4_t at = vaddq_n_u32(groups, (uint32_t)(uintptr_t)c);\n"
/* A += pixel's words (x[k], x[k+1]) at byte LO, (x[k+2], x[k+3]) at HI
 * times the weights. */
#define MVE_DOT_PIXEL(Z, P, A, LO, HI) \
    "        " A " = vmladavaq_s16(" A ", wl, vreinterpretq_s16_s32(vldrwq_gather_base" Z \
    "_s32(at, " LO P ")));\n" \
    "        " A " = vmladavaq_s16(" A ", wh, vreinterpretq_s16_s32(vldrwq_gather_base" Z \
    "_s32(at, " HI P ")));\n"
/* The passes from n = kq groups; c moves PASS_WORDS words a pass. */
#define MVE_DOT_PASSES(PASS_WORDS, PIXELS) \
    "    for (; n >= 4; n -= 4, w += 4, c += " PASS_WORDS ") {\n" \
    MVE_DOT_WEIGHTS("", "") PIXELS("", "") \
    "    }\n" \
    "    if (n > 0) {\n" \
    "        const mve_pred16_t p = vctp32q((uint32_t)n);\n" \
    MVE_DOT_WEIGHTS("_z", ", p") PIXELS("_z", ", p") \
    "    }\n"
/* cnnc_dot5 on MVE: the five pixels' words interleaved two at a time, a
 * group ten words (40 bytes) long. */
#define MVE_DOT5_PIXELS(Z, P) \
    MVE_DOT_PIXEL(Z, P, "a0", "0", "4") MVE_DOT_PIXEL(Z, P, "a1", "8", "12") \
    MVE_DOT_PIXEL(Z, P, "a2", "16", "20") MVE_DOT_PIXEL(Z, P, "a3", "24", "28") \
    MVE_DOT_PIXEL(Z, P, "a4", "32", "36")
#define MVE_DOT5 \
    "static void cnnc_dot5(const int32_t *w, const int32_t *c, int kq, int32_t b, int32_t *a)\n" \
    "{\n" \
    "    static const uint32_t group_bytes[4] = {0, 40, 80, 120};\n" \
    "    const uint32x4_t groups = vld1q_u32(group_bytes);\n" \
    "    int32_t a0 = b, a1 = b, a2 = b, a3 = b, a4 = b;\n" \
    "    int n = kq;\n" \
    MVE_DOT_PASSES("40", MVE_DOT5_PIXELS) \
    "    a[0] = a0;\n" \
    "    a[1] = a1;\n" \
    "    a[2] = a2;\n" \
    "    a[3] = a3;\n" \
    "    a[4] = a4;\n" \
    "}\n"
/* cnnc_dot1 on MVE: one column, a group two words (8 bytes) long. */
#define MVE_DOT1_PIXELS(Z, P) MVE_DOT_PIXEL(Z, P, "acc", "0", "4")
#define MVE_DOT1 \
    "static int32_t cnnc_dot1(const int32_t *w, const int32_t *c, int kq, int32_t acc)\n" \
    "{\n" \
    "    static const uint32_t group_bytes[4] = {0, 8, 16, 24};\n" \
    "    const uint32x4_t groups = vld1q_u32(group_bytes);\n" \
    "    int n = kq;\n" \
    MVE_DOT_PASSES("8", MVE_DOT1_PIXELS) \
    "    return acc;\n" \
    "}\n"
static const char DOT15[] =
    DOT_PRELUDE
    MVE_PRELUDE
    "#if defined(CNNC_MVE)\n"
    MVE_DOT5
    "#else\n"
    "#if defined(__GNUC__)\n"
    "__attribute__((noinline)) /* inlined in cnnc_dot15's loop, its sums spill */\n"
    "#endif\n"
    "static void cnnc_dot5(const int32_t *w, const int32_t *c, int kq, int32_t b, int32_t *a)\n"
    "{\n"
    "    int32_t a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, x0, x1, wh;\n"
    "    const int32_t *end = w + kq;\n"
    "#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)\n"
    "    int32_t wl;\n"
    DOT15_LOOP(DOT15_DSP)
    "#else\n"
    "    int32_t w0, w1, w2, w3;\n"
    DOT15_LOOP(DOT15_PLAIN)
    "#endif\n"
    "    a[0] = a0;\n"
    "    a[1] = a1;\n"
    "    a[2] = a2;\n"
    "    a[3] = a3;\n"
    "    a[4] = a4;\n"
    "}\n"
    "#endif\n"
    "static void cnnc_dot15(const int32_t *w, const int32_t *c, int kq, int nf, const int32_t *b,\n"
    "                       int32_t *a)\n"
    "{\n"
    "    for (; nf > 0; nf--, w += kq, b++, a += 5)\n"
    "        cnnc_dot5(w, c, kq, *b, a);\n"
    "}\n";

/* acc + filter w (kq packed words) times one column c (int16 pairs): a
 * dense layer's unit, the same words and both paths as cnnc_dot15. */
static const char DOT1[] =
    DOT_PRELUDE
    MVE_PRELUDE
    "#if defined(CNNC_MVE)\n"
    MVE_DOT1
    "#else\n"
    "static int32_t cnnc_dot1(const int32_t *w, const int32_t *c, int kq, int32_t acc)\n"
    "{\n"
    "    const int32_t *end = w + kq;\n"
    "    int32_t wh, x0, x1;\n"
    "#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)\n"
    "    int32_t wl;\n"
    "    do {\n"
    "        wh = *w++;\n" DOT15_DSP_WIDEN
    "        x0 = c[0];\n"
    "        x1 = c[1];\n"
    "        c += 2;\n"
    "        acc = __smlad(wl, x0, acc);\n"
    "        acc = __smlad(wh, x1, acc);\n"
    "    } while (w != end);\n"
    "#else\n"
    "    int32_t w0, w1, w2, w3;\n"
    "    do {\n"
    "        wh = *w++;\n" DOT15_PLAIN_WIDEN
    "        x0 = c[0];\n"
    "        x1 = c[1];\n"
    "        c += 2;\n"
    "        acc += w0 * cnnc_lo16(x0) + w1 * (x0 >> 16) + w2 * cnnc_lo16(x1) + w3 * (x1 >> 16);\n"
    "    } while (w != end);\n"
    "#endif\n"
    "    return acc;\n"
    "}\n"
    "#endif\n";

/* (x * m + 2^(s-1)) >> s for s >= 32 from the product's high word h alone:
 * the floor of a floor, (h + 2^(s-33)) >> (s-32), and at s = 32 the carry
 * of 2^31 into h, the low word's top bit. A 32-bit multiply-high and a shift
 * where a core has no 64-bit shifter (Cortex-M). No sum overflows: |h| <
 * 2^30. */
#define RQHI \
    "#ifndef CNNC_RQHI_DEFINED\n" \
    "#define CNNC_RQHI_DEFINED\n" \
    "static inline int32_t cnnc_rqhi(int32_t x, int32_t m, int s)\n" \
    "{\n" \
    "    int64_t p = (int64_t)x * m;\n" \
    "    int32_t h = (int32_t)(p >> 32);\n" \
    "    if (s == 32)\n" \
    "        return h + (int32_t)((uint32_t)p >> 31);\n" \
    "    return (h + ((int32_t)1 << (s - 33))) >> (s - 32);\n" \
    "}\n" \
    "#endif\n"

/* v saturated to [-128, 127]: one SSAT where the core has it (ARMv7-M
 * and up: __ARM_FEATURE_SAT), two compares elsewhere. The depthwise
 * kernel calls it on its DSP path only, so elsewhere it is marked unused
 * (clang warns of an unused static function). */
#define SAT8 \
    "#ifndef CNNC_SAT8_DEFINED\n" \
    "#define CNNC_SAT8_DEFINED\n" \
    "#if defined(__ARM_FEATURE_SAT)\n" \
    "#include <arm_acle.h>\n" \
    "#define cnnc_sat8(v) __ssat((v), 8)\n" \
    "#else\n" \
    "#if defined(__GNUC__)\n" \
    "__attribute__((unused))\n" \
    "#endif\n" \
    "static inline int32_t cnnc_sat8(int32_t v)\n" \
    "{\n" \
    "    return v < -128 ? -128 : v > 127 ? 127 : v;\n" \
    "}\n" \
    "#endif\n" \
    "#endif\n"

/* AVX2's exact int8 dot product: sixteen int8 widened to int16 a load,
 * VPMADDWD multiplying and adding them in pairs into int32 lanes (two
 * products of int8 cannot overflow int32; VPMADDUBSW, which saturates, is
 * not used), the lanes summed at the end. The sums equal the plain loop's,
 * which cannot overflow (conv_int8.c's bound). */
#define AVX2_PRELUDE \
    "#ifndef CNNC_AVX2_PRELUDE\n" \
    "#define CNNC_AVX2_PRELUDE\n" \
    "#if defined(__AVX2__) && !defined(CNNC_X86_VNNI) /* unused there: VNNI_PRELUDE first */\n" \
    "#include <immintrin.h>\n" \
    "static inline __m256i cnnc_i8x16(const int8_t *p)\n" \
    "{\n" \
    "    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));\n" \
    "}\n" \
    "static inline __m128i cnnc_i8x8(const int8_t *p)\n" \
    "{\n" \
    "    return _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)p));\n" \
    "}\n" \
    "static inline int32_t cnnc_hsum8(__m256i v)\n" \
    "{\n" \
    "    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));\n" \
    "    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));\n" \
    "    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));\n" \
    "    return _mm_cvtsi128_si32(s);\n" \
    "}\n" \
    "#endif\n" \
    "#endif\n"

/* AVX-512 VNNI's exact int8 dot product: VPDPBUSD multiplies unsigned
 * by signed bytes, four products into each int32 lane, wrapping (not
 * VPDPBUSDS, which saturates). Activations x become unsigned as x + 128
 * (their top bit flipped), so a lane gathers sum (x + 128) w, and 128 sum w
 * is taken off: the same integers modulo 2^32 as the plain loop, whose sums
 * fit int32 (conv_int8.c's bound), so the same sums. */
#define VNNI_PRELUDE \
    "#ifndef CNNC_VNNI_PRELUDE\n" \
    "#define CNNC_VNNI_PRELUDE\n" \
    "#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)\n" \
    "#define CNNC_X86_VNNI\n" \
    "#include <immintrin.h>\n" \
    "static inline __m256i cnnc_fold512(__m512i s)\n" \
    "{\n" \
    "    return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));\n" \
    "}\n" \
    "/* a[i] += the sum of si's lanes, i = 0..3 */\n" \
    "static inline void cnnc_add_hsum4(__m512i s0, __m512i s1, __m512i s2, __m512i s3, int32_t *a)\n" \
    "{\n" \
    "    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(cnnc_fold512(s0), cnnc_fold512(s1)),\n" \
    "                                        _mm256_hadd_epi32(cnnc_fold512(s2), cnnc_fold512(s3)));\n" \
    "    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));\n" \
    "    __m128i *d = (__m128i *)(void *)a;\n" \
    "    _mm_storeu_si128(d, _mm_add_epi32(_mm_loadu_si128(d), s));\n" \
    "}\n" \
    "#endif\n" \
    "#endif\n"

/* a[0..3] += w0 . c0, w0 . c1, w1 . c0, w1 . c1 over k int8: the host's
 * general conv kernel (ops/conv/conv_int8_emit.c), two filters by two
 * pixels. With VNNI 64 k a step, the sums of both filters' weights (for the
 * 128 sum w) taken by two more VPDPBUSD against ones. */
static const char DOT22[] =
    VNNI_PRELUDE
    AVX2_PRELUDE
    "static void cnnc_dot22(const int8_t *w0, const int8_t *w1, const int8_t *c0,\n"
    "                       const int8_t *c1, int k, int32_t *a)\n"
    "{\n"
    "    int i = 0;\n"
    "#if defined(CNNC_X86_VNNI)\n" /* 64 k a step, the last step's bytes past k masked to 0 */
    "    const __m512i flip = _mm512_set1_epi8(-128), one = _mm512_set1_epi8(1);\n"
    "    __m512i s00 = _mm512_setzero_si512(), s01 = s00, s10 = s00, s11 = s00, n0 = s00, n1 = s00;\n"
    "    for (; i < k; i += 64) {\n"
    "        const __mmask64 m = k - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (k - i)) - 1;\n"
    "        const __m512i x0 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, c0 + i), flip);\n"
    "        const __m512i x1 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, c1 + i), flip);\n"
    "        const __m512i v0 = _mm512_maskz_loadu_epi8(m, w0 + i);\n"
    "        const __m512i v1 = _mm512_maskz_loadu_epi8(m, w1 + i);\n"
    "        s00 = _mm512_dpbusd_epi32(s00, x0, v0);\n"
    "        s01 = _mm512_dpbusd_epi32(s01, x1, v0);\n"
    "        s10 = _mm512_dpbusd_epi32(s10, x0, v1);\n"
    "        s11 = _mm512_dpbusd_epi32(s11, x1, v1);\n"
    "        n0 = _mm512_dpbusd_epi32(n0, one, v0);\n"
    "        n1 = _mm512_dpbusd_epi32(n1, one, v1);\n"
    "    }\n"
    "    n0 = _mm512_slli_epi32(n0, 7);\n"
    "    n1 = _mm512_slli_epi32(n1, 7);\n"
    "    cnnc_add_hsum4(_mm512_sub_epi32(s00, n0), _mm512_sub_epi32(s01, n0),\n"
    "                   _mm512_sub_epi32(s10, n1), _mm512_sub_epi32(s11, n1), a);\n"
    "#elif defined(__AVX2__)\n"
    "    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00;\n"
    "    for (; i + 16 <= k; i += 16) {\n"
    "        const __m256i x0 = cnnc_i8x16(c0 + i), x1 = cnnc_i8x16(c1 + i);\n"
    "        const __m256i v0 = cnnc_i8x16(w0 + i), v1 = cnnc_i8x16(w1 + i);\n"
    "        s00 = _mm256_add_epi32(s00, _mm256_madd_epi16(v0, x0));\n"
    "        s01 = _mm256_add_epi32(s01, _mm256_madd_epi16(v0, x1));\n"
    "        s10 = _mm256_add_epi32(s10, _mm256_madd_epi16(v1, x0));\n"
    "        s11 = _mm256_add_epi32(s11, _mm256_madd_epi16(v1, x1));\n"
    "    }\n"
    "    if (i + 8 <= k) { /* eight more in the low halves */\n"
    "        const __m256i z = _mm256_setzero_si256();\n"
    "        const __m256i x0 = _mm256_inserti128_si256(z, cnnc_i8x8(c0 + i), 0);\n"
    "        const __m256i x1 = _mm256_inserti128_si256(z, cnnc_i8x8(c1 + i), 0);\n"
    "        const __m256i v0 = _mm256_inserti128_si256(z, cnnc_i8x8(w0 + i), 0);\n"
    "        const __m256i v1 = _mm256_inserti128_si256(z, cnnc_i8x8(w1 + i), 0);\n"
    "        s00 = _mm256_add_epi32(s00, _mm256_madd_epi16(v0, x0));\n"
    "        s01 = _mm256_add_epi32(s01, _mm256_madd_epi16(v0, x1));\n"
    "        s10 = _mm256_add_epi32(s10, _mm256_madd_epi16(v1, x0));\n"
    "        s11 = _mm256_add_epi32(s11, _mm256_madd_epi16(v1, x1));\n"
    "        i += 8;\n"
    "    }\n"
    "    a[0] += cnnc_hsum8(s00);\n"
    "    a[1] += cnnc_hsum8(s01);\n"
    "    a[2] += cnnc_hsum8(s10);\n"
    "    a[3] += cnnc_hsum8(s11);\n"
    "#endif\n"
    "    for (; i < k; i++) {\n"
    "        const int32_t x0 = c0[i], x1 = c1[i];\n"
    "        a[0] += x0 * w0[i];\n"
    "        a[1] += x1 * w0[i];\n"
    "        a[2] += x0 * w1[i];\n"
    "        a[3] += x1 * w1[i];\n"
    "    }\n"
    "}\n";

/* a[16 i + j] += filter i (w0, w1: cg int8) times pixel j of the 16 from
 * x (cg planes, np apart): the host's pointwise kernel. On AVX2 two
 * channels a step, their pixels interleaved as int16 pairs (VPUNPCKLWD and
 * VPUNPCKHWD: pixels 0-3 and 8-11, 4-7 and 12-15) against the pair of
 * weights, VPMADDWD exact as above; an odd last channel in plain C. With
 * VNNI four channels a step, the sixteen pixels' four bytes interleaved
 * into one int32 lane each (VPUNPCKLBW/HBW, then LWD/HWD) against the four
 * weights, the weight sums in scalar once a call; the last cg % 4 channels
 * in plain C. */
static const char PW2X16[] =
    VNNI_PRELUDE
    AVX2_PRELUDE
    "static void cnnc_pw2x16(const int8_t *w0, const int8_t *w1, const int8_t *x, int cg, int np,\n"
    "                        int32_t *a)\n"
    "{\n"
    "    int c = 0;\n"
    "#if defined(CNNC_X86_VNNI)\n"
    "    const __m512i flip = _mm512_set1_epi8(-128);\n"
    "    __m512i s0 = _mm512_setzero_si512(), s1 = s0;\n"
    "    int32_t n0 = 0, n1 = 0;\n"
    "    for (; c + 4 <= cg; c += 4) {\n"
    "        const int8_t *xc = x + (size_t)c * (size_t)np;\n"
    "        const __m128i r0 = _mm_loadu_si128((const __m128i *)(const void *)xc);\n"
    "        const __m128i r1 = _mm_loadu_si128((const __m128i *)(const void *)(xc + np));\n"
    "        const __m128i r2 = _mm_loadu_si128((const __m128i *)(const void *)(xc + 2 * np));\n"
    "        const __m128i r3 = _mm_loadu_si128((const __m128i *)(const void *)(xc + 3 * np));\n"
    "        const __m128i l01 = _mm_unpacklo_epi8(r0, r1), h01 = _mm_unpackhi_epi8(r0, r1);\n"
    "        const __m128i l23 = _mm_unpacklo_epi8(r2, r3), h23 = _mm_unpackhi_epi8(r2, r3);\n"
    "        const __m256i p07 = _mm256_inserti128_si256(\n"
    "            _mm256_castsi128_si256(_mm_unpacklo_epi16(l01, l23)), _mm_unpackhi_epi16(l01, l23), 1);\n"
    "        const __m256i p8f = _mm256_inserti128_si256(\n"
    "            _mm256_castsi128_si256(_mm_unpacklo_epi16(h01, h23)), _mm_unpackhi_epi16(h01, h23), 1);\n"
    "        const __m512i xq = _mm512_xor_si512(\n"
    "            _mm512_inserti64x4(_mm512_castsi256_si512(p07), p8f, 1), flip);\n"
    "        int32_t u0, u1;\n"
    "        memcpy(&u0, w0 + c, 4);\n"
    "        memcpy(&u1, w1 + c, 4);\n"
    "        s0 = _mm512_dpbusd_epi32(s0, xq, _mm512_set1_epi32(u0));\n"
    "        s1 = _mm512_dpbusd_epi32(s1, xq, _mm512_set1_epi32(u1));\n"
    "        n0 += w0[c] + w0[c + 1] + w0[c + 2] + w0[c + 3];\n"
    "        n1 += w1[c] + w1[c + 1] + w1[c + 2] + w1[c + 3];\n"
    "    }\n"
    "    {\n"
    "        __m512i *d0 = (__m512i *)(void *)a, *d1 = (__m512i *)(void *)(a + 16);\n"
    "        s0 = _mm512_sub_epi32(s0, _mm512_set1_epi32(128 * n0));\n"
    "        s1 = _mm512_sub_epi32(s1, _mm512_set1_epi32(128 * n1));\n"
    "        _mm512_storeu_si512(d0, _mm512_add_epi32(_mm512_loadu_si512(d0), s0));\n"
    "        _mm512_storeu_si512(d1, _mm512_add_epi32(_mm512_loadu_si512(d1), s1));\n"
    "    }\n"
    "#elif defined(__AVX2__)\n"
    "    __m256i l0 = _mm256_setzero_si256(), h0 = l0, l1 = l0, h1 = l0;\n"
    "    for (; c + 2 <= cg; c += 2) {\n"
    "        const int8_t *xc = x + (size_t)c * (size_t)np;\n"
    "        const __m256i xa = cnnc_i8x16(xc), xb = cnnc_i8x16(xc + np);\n"
    "        const __m256i lo = _mm256_unpacklo_epi16(xa, xb), hi = _mm256_unpackhi_epi16(xa, xb);\n"
    "        const __m256i u0 = _mm256_set1_epi32((int32_t)(((uint32_t)w0[c] & 0xffffu) |\n"
    "                                                       (uint32_t)w0[c + 1] << 16));\n"
    "        const __m256i u1 = _mm256_set1_epi32((int32_t)(((uint32_t)w1[c] & 0xffffu) |\n"
    "                                                       (uint32_t)w1[c + 1] << 16));\n"
    "        l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(lo, u0));\n"
    "        h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(hi, u0));\n"
    "        l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(lo, u1));\n"
    "        h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(hi, u1));\n"
    "    }\n"
    "    {\n"
    "        const __m256i s[4] = {_mm256_permute2x128_si256(l0, h0, 0x20),\n"
    "                              _mm256_permute2x128_si256(l0, h0, 0x31),\n"
    "                              _mm256_permute2x128_si256(l1, h1, 0x20),\n"
    "                              _mm256_permute2x128_si256(l1, h1, 0x31)};\n"
    "        int i;\n"
    "        for (i = 0; i < 4; i++) {\n"
    "            __m256i *d = (__m256i *)(void *)(a + 8 * i);\n"
    "            _mm256_storeu_si256(d, _mm256_add_epi32(_mm256_loadu_si256(d), s[i]));\n"
    "        }\n"
    "    }\n"
    "#endif\n"
    "    for (; c < cg; c++) {\n"
    "        const int8_t *xc = x + (size_t)c * (size_t)np;\n"
    "        const int32_t u0 = w0[c], u1 = w1[c];\n"
    "        int j;\n"
    "        for (j = 0; j < 16; j++) {\n"
    "            a[j] += xc[j] * u0;\n"
    "            a[16 + j] += xc[j] * u1;\n"
    "        }\n"
    "    }\n"
    "}\n";

/* The generated twins of the functions above, each defined once per
 * translation unit (its CNNC_<NAME>_DEFINED guard), so that models
 * compiled into one file share them. */
static const struct {
    const char *name, *guard, *text;
} helpers[] = {
    {"cnnc_rq8", "CNNC_RQ8_DEFINED",
     RQHI
     "#if defined(__GNUC__)\n"
     "__attribute__((noinline))\n"
     "#endif\n"
     "static int8_t cnnc_rq8_wide(int32_t acc, int32_t m, int s, int32_t zp, int32_t lo,\n"
     "                            int32_t hi)\n"
     "{\n"
     "    int64_t v = (((int64_t)acc * m + ((int64_t)1 << (s - 1))) >> s) + zp;\n"
     "    return (int8_t)(v < lo ? lo : v > hi ? hi : v);\n"
     "}\n"
     "static inline int8_t cnnc_rq8(int32_t acc, int32_t m, int s, int32_t zp, int32_t lo,\n"
     "                              int32_t hi)\n"
     "{\n"
     "    int32_t v;\n"
     "    if (s < 32) /* a multiplier of 2^-31 or more: rare, 64 bits */\n"
     "        return cnnc_rq8_wide(acc, m, s, zp, lo, hi);\n"
     "    v = cnnc_rqhi(acc, m, s) + zp;\n"
     "    return (int8_t)(v < lo ? lo : v > hi ? hi : v);\n"
     "}\n"},
    {"cnnc_sat8", "CNNC_SAT8_HELPER", SAT8},
    {"cnnc_rq32", "CNNC_RQ32_DEFINED",
     RQHI
     "static inline int32_t cnnc_rq32(int32_t x, int32_t m, int s)\n"
     "{\n"
     "    if (s >= 32)\n"
     "        return cnnc_rqhi(x, m, s);\n"
     "    return (int32_t)(((int64_t)x * m + ((int64_t)1 << (s - 1))) >> s);\n"
     "}\n"},
    {"cnnc_pk16", "CNNC_PK16_DEFINED",
     "static inline int32_t cnnc_pk16(int32_t lo, int32_t hi)\n"
     "{\n"
     "#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)\n"
     "    int32_t r;\n"
     "    __asm__(\"pkhbt %0, %1, %2, lsl #16\" : \"=r\"(r) : \"r\"(lo), \"r\"(hi));\n"
     "    return r;\n"
     "#else\n"
     "    return (int32_t)(((uint32_t)lo & 0xffffu) | (uint32_t)hi << 16);\n"
     "#endif\n"
     "}\n"},
    {"cnnc_dot15", "CNNC_DOT15_DEFINED", DOT15},
    {"cnnc_dot22", "CNNC_DOT22_DEFINED", DOT22},
    {"cnnc_pw2x16", "CNNC_PW2X16_DEFINED", PW2X16},
    /* the depthwise kernel's DSP path (ops/conv/conv_int8_dw.c) */
    {"cnnc_sxtb16_hi", "CNNC_SXTB16_HI_DEFINED", DSP_PRELUDE},
    {"cnnc_dot1", "CNNC_DOT1_DEFINED", DOT1},
    /* MVE: four of the depthwise kernel's sums requantized by the high-word
     * rule (cnnc_rqhi, s > 32; sh = s - 32, half = 2^(sh-1)): VMULH's high
     * word of acc * m, half added, shifted right by sh (VSHL by -sh floors,
     * as >> does), the zero point, the bounds; the lanes p selects stored
     * as bytes. */
    {"cnnc_rq8x4", "CNNC_RQ8X4_DEFINED",
     MVE_PRELUDE
     "#if defined(CNNC_MVE)\n"
     "static inline void cnnc_rq8x4(int8_t *y, int32x4_t acc, int32_t m, int32_t half, int32_t sh,\n"
     "                              int32_t zp, int32_t lo, int32_t hi, mve_pred16_t p)\n"
     "{\n"
     "    int32x4_t v = vmulhq_s32(acc, vdupq_n_s32(m));\n"
     "    v = vshlq_r_s32(vaddq_n_s32(v, half), -sh);\n"
     "    v = vaddq_n_s32(v, zp);\n"
     "    v = vminq_s32(vmaxq_s32(v, vdupq_n_s32(lo)), vdupq_n_s32(hi));\n"
     "    vstrbq_p_s32(y, v, p);\n"
     "}\n"
     "#endif\n"},
    /* rint without libm: a cast truncates, the remainder (exact below
     * 2^23) rounds half to even; t clipped to +-1024 saturates the same.
     * Where x86 has SSE4.1's ROUNDSS, that instruction rounds half to even
     * (whatever MXCSR says), the cast then exact: the same integer in two
     * instructions, where the portable form's compares cost the host 6x.
     * (CVTSS2SI alone would do on any x86-64 but follows MXCSR; and the
     * baseline x86-64 build keeps the portable form under the tests.) */
    {"cnnc_q8", "CNNC_Q8_DEFINED",
     "#if defined(__SSE4_1__)\n"
     "#include <smmintrin.h>\n"
     "#endif\n"
     "static inline int8_t cnnc_q8(float x, float scale, int32_t zp)\n"
     "{\n"
     "    float t = x / scale;\n"
     "    int32_t v;\n"
     "    if (!(t > -1024.0f))\n"
     "        t = -1024.0f;\n"
     "    if (t > 1024.0f)\n"
     "        t = 1024.0f;\n"
     "#if defined(__SSE4_1__)\n"
     "    v = (int32_t)_mm_cvtss_f32(\n"
     "        _mm_round_ss(_mm_setzero_ps(), _mm_set_ss(t), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));\n"
     "#else\n"
     "    {\n"
     "        float r;\n"
     "        v = (int32_t)t;\n"
     "        r = t - (float)v;\n"
     "        if (r > 0.5f || (r == 0.5f && v % 2 != 0))\n"
     "            v++;\n"
     "        else if (r < -0.5f || (r == -0.5f && v % 2 != 0))\n"
     "            v--;\n"
     "    }\n"
     "#endif\n"
     "    v += zp;\n"
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
