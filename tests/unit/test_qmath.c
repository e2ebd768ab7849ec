/* test_qmath.c: the integer arithmetic of the int8 kernels (kit/qmath.c)
 * on hand-worked numbers: multipliers as (m, s), rounding half up once,
 * saturation to a clamp's bounds, ONNX's QuantizeLinear (x / scale rounded
 * half to even) and DequantizeLinear; and, against double arithmetic, that
 * x * M is within half a step plus M's own rounding for M over 2^-30 .. 2^20. */
#include "kit/qmath.h"
#include "ops/ops.h"
#include "check_run.h"

#include <check.h>
#include <math.h>

START_TEST(multipliers)
{
    QMul k;
    ck_assert(qmul_make(0.5, &k));
    ck_assert_int_eq(k.m, 1 << 30);
    ck_assert_int_eq(k.s, 31);
    ck_assert(qmul_make(1.0, &k)); /* 2^30 * 2^-30 */
    ck_assert_int_eq(k.m, 1 << 30);
    ck_assert_int_eq(k.s, 30);
    ck_assert(qmul_make(0.75, &k)); /* 0.75 * 2^31 */
    ck_assert_int_eq(k.m, 1610612736);
    ck_assert_int_eq(k.s, 31);
    ck_assert(qmul_make(0x1p-32, &k)); /* the smallest with a shift: 2^30 * 2^-62 */
    ck_assert_int_eq(k.s, 62);
    ck_assert(qmul_make(1e-12, &k)); /* below 2^-32: every |x| < 2^31 gives 0 */
    ck_assert_int_eq(k.m, 0);
    ck_assert(!qmul_make(0x1p30, &k));
    ck_assert(!qmul_make(-0.25, &k));
    ck_assert(!qmul_make(NAN, &k));
    ck_assert(!qmul_make(INFINITY, &k));
}
END_TEST

START_TEST(rounding_half_up)
{
    QMul half, three_quarters, one;
    qmul_make(0.5, &half);
    qmul_make(0.75, &three_quarters);
    qmul_make(1.0, &one);
    ck_assert_int_eq(qmul_apply(3, half), 2);   /* 1.5 */
    ck_assert_int_eq(qmul_apply(-3, half), -1); /* -1.5: half up, not away from zero */
    ck_assert_int_eq(qmul_apply(5, half), 3);   /* 2.5 */
    ck_assert_int_eq(qmul_apply(2, three_quarters), 2); /* 1.5 */
    ck_assert_int_eq(qmul_apply(-5, three_quarters), -4); /* -3.75 */
    ck_assert_int_eq(qmul_apply(7, one), 7);
    ck_assert_int_eq(qmul_apply(-2147483647, one), -2147483647);
}
END_TEST

START_TEST(requant_bounds)
{
    QMul k;
    qmul_make(0.1, &k);
    ck_assert_int_eq(q_requant(1234, k, -5, -128, 127), 118); /* 123.4 - 5 */
    ck_assert_int_eq(q_requant(2000, k, -5, -128, 127), 127); /* saturated */
    ck_assert_int_eq(q_requant(-2000, k, 10, -128, 127), -128);
    ck_assert_int_eq(q_requant(-300, k, 10, -5, 127), -5); /* relu with zero point -5 */
}
END_TEST

START_TEST(requant_matches_double)
{
    /* x * M with M = m 2^-s: off the exact product by the half step of
     * rounding plus |x| times M's relative error 2^-31. */
    for (int e = -30; e <= 20; e++)
        for (double f = 0.5; f < 1; f += 0.0371) {
            double M = ldexp(f, e);
            QMul k;
            ck_assert(qmul_make(M, &k));
            for (int64_t x = -2000000000; x <= 2000000000; x += 99999989) {
                double want = (double)x * M, got = (double)qmul_apply(x, k);
                ck_assert(fabs(got - want) <= 0.5 + fabs(want) * 0x1p-30 + 1e-9);
            }
        }
}
END_TEST

START_TEST(quantize_linear)
{
    ck_assert_int_eq(q_quantize(2.5f, 1, 0), 2); /* half to even */
    ck_assert_int_eq(q_quantize(3.5f, 1, 0), 4);
    ck_assert_int_eq(q_quantize(-2.5f, 1, 0), -2);
    ck_assert_int_eq(q_quantize(0.3f, 0.1f, 5), 8); /* 0.3f / 0.1f = 2.9999998, then + 5 */
    ck_assert_int_eq(q_quantize(1000, 1, 0), 127);
    ck_assert_int_eq(q_quantize(-1000, 1, 0), -128);
    ck_assert_int_eq(q_quantize(1e30f, 1e-30f, 0), 127); /* no overflow on the way */
    ck_assert_int_eq(q_quantize(NAN, 1, 0), -128);
    ck_assert_float_eq(q_dequantize(10, 0.5f, 4), 3.0f);
    ck_assert_float_eq(q_dequantize(-128, 0.25f, -128), 0.0f);
}
END_TEST

START_TEST(clamp_bounds)
{
    Quant *q = quant_new(DT_I8, 1);
    q->scale[0] = 0.1f;
    q->zero_point[0] = -60;
    int32_t lo, hi;
    q_bounds((Act){ACT_NONE, 0, 0}, q, &lo, &hi);
    ck_assert(lo == -128 && hi == 127);
    q_bounds((Act){ACT_RELU, 0, 0}, q, &lo, &hi);
    ck_assert(lo == -60 && hi == 127); /* relu: the zero point */
    q_bounds((Act){ACT_CLIP, 0, 6}, q, &lo, &hi);
    ck_assert(lo == -60 && hi == 0); /* relu6: 6 / 0.1 - 60 */
    q_bounds((Act){ACT_CLIP, -100, 100}, q, &lo, &hi);
    ck_assert(lo == -128 && hi == 127); /* saturated */
    quant_free(q);
}
END_TEST

static Suite *qmath_suite(void)
{
    Suite *s = suite_create("qmath");
    TCase *tc = tcase_create("qmath");
    tcase_add_test(tc, multipliers);
    tcase_add_test(tc, rounding_half_up);
    tcase_add_test(tc, requant_bounds);
    tcase_add_test(tc, requant_matches_double);
    tcase_add_test(tc, quantize_linear);
    tcase_add_test(tc, clamp_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(qmath_suite());
}
