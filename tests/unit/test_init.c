/* test_init.c: the seeded generator and init_weights (passes/init.c).
 * Oracles: the published FNV-1a and splitmix64 test vectors, golden values
 * worked out from the generator's definition (below) with Python integers,
 * and the moments of the uniform distribution. */
#include "cnnc.h"
#include "check_run.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

static const Loc here = {"test.cnn", 1, 1};

/* A graph with one dense-like layer `name`: weight [out, in] (slot 0) and
 * bias [out] (slot 1), both with scheme `init`. Returns the node index. */
static int layer(Graph *g, const char *name, int rank, const int64_t *wshape, InitKind init)
{
    if (g->input < 0)
        g->input = graph_add_tensor(g, "x", T_ACT, here);
    int id = graph_add_node(g, OP_DENSE, name, here, &g->input, 1);
    g->output = g->n[id].out;
    Shape w = shape_make(rank, wshape), b = shape_make(1, wshape);
    ck_assert(graph_param(g, &g->n[id], 0, "weight", T_PARAM, &w, init));
    ck_assert(graph_param(g, &g->n[id], 1, "bias", T_PARAM, &b, init));
    return id;
}

static const Tensor *param(const Graph *g, int node, int slot)
{
    return &g->t[g->n[node].param[slot]];
}

static double max_abs(const Tensor *t)
{
    double m = 0;
    for (int64_t i = 0; i < shape_numel(&t->shape); i++)
        m = fmax(m, fabs(t->data[i]));
    return m;
}

/* The generator, as defined in init.c:
 *   state = FNV-1a-64(stream) ^ mix(seed)
 *   next: state += 0x9E3779B97F4A7C15; u32 = mix(state) >> 32
 *   mix(z): z = (z ^ z>>30) * 0xBF58476D1CE4E5B9;
 *           z = (z ^ z>>27) * 0x94D049BB133111EB; z ^ z>>31
 * (splitmix64). With seed = mix^-1(FNV-1a("w")) = 0x024b016acfab9f45 the
 * state starts at 0, and splitmix64 from 0 is published: e220a8397b1dcdaf,
 * 6e789e6aa1b965f4, 06c45d188009454f. */
START_TEST(generator_matches_splitmix64)
{
    Rng r = rng_seeded(0x024b016acfab9f45ull, "w");
    ck_assert_uint_eq(r.state, 0);
    ck_assert_uint_eq(rng_u32(&r), 0xe220a839u);
    ck_assert_uint_eq(rng_u32(&r), 0x6e789e6au);
    ck_assert_uint_eq(rng_u32(&r), 0x06c45d18u);
    /* FNV-1a-64 test vectors ("", "a", "foobar"), through mix(0) = 0 */
    ck_assert_uint_eq(rng_seeded(0, "").state, 0xcbf29ce484222325ull);
    ck_assert_uint_eq(rng_seeded(0, "a").state, 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(rng_seeded(0, "foobar").state, 0x85944171f73967e8ull);
}
END_TEST

/* uniform = (u32 >> 8) * 2^-24: 24 bits, in [0, 1). */
START_TEST(uniform_from_u32)
{
    Rng a = rng_seeded(5, "s"), b = a;
    for (int i = 0; i < 1000; i++) {
        uint32_t u = rng_u32(&a);
        float f = rng_uniform(&b);
        ck_assert(f >= 0.0f && f < 1.0f);
        ck_assert_float_eq(f, (float)(u >> 8) / 16777216.0f);
    }
}
END_TEST

/* Seed 7, "fc.weight" [3, 5], default: b = 1/sqrt(5), value = (float)(b *
 * (2u - 1)). u32s c0141578, 0a1b53f2, a3fac9cf, 7b424c8b, worked out in
 * Python from the definition above. */
START_TEST(golden_values)
{
    Graph *g = graph_new("test.cnn");
    g->seed = 7;
    int fc = layer(g, "fc", 2, (int64_t[]){3, 5}, INIT_DEFAULT);
    init_weights(g);
    const float *w = param(g, fc, 0)->data;
    ck_assert_float_eq(w[0], 0x1.ca820ep-3f);  /* 0.22388087 */
    ck_assert_float_eq(w[1], -0x1.a5c9acp-2f); /* -0.41190213 */
    ck_assert_float_eq(w[2], 0x1.017304p-3f);  /* 0.12570766 */
    ck_assert_float_eq(w[3], -0x1.0f646cp-6f); /* -0.01656447 */
    graph_free(g);
}
END_TEST

static float *values_of(uint64_t seed, bool reversed, const char *name)
{
    Graph *g = graph_new("test.cnn");
    g->seed = seed;
    int64_t a[] = {8, 4}, b[] = {6, 3, 3, 3};
    if (reversed) {
        layer(g, "conv", 4, b, INIT_DEFAULT);
        layer(g, "fc", 2, a, INIT_DEFAULT);
    } else {
        layer(g, "fc", 2, a, INIT_DEFAULT);
        layer(g, "conv", 4, b, INIT_DEFAULT);
    }
    init_weights(g);
    Tensor *t = &g->t[graph_find_tensor(g, name)];
    float *v = t->data;
    t->data = NULL;
    graph_free(g);
    return v;
}

START_TEST(deterministic_per_name)
{
    float *x = values_of(3, false, "fc.weight"), *y = values_of(3, true, "fc.weight");
    ck_assert_mem_eq(x, y, 32 * sizeof(float)); /* declaration order does not matter */
    float *z = values_of(4, false, "fc.weight");
    int same = 0;
    for (int i = 0; i < 32; i++)
        same += x[i] == z[i];
    ck_assert_int_lt(same, 2); /* another seed, other values */
    float *c = values_of(3, false, "conv.weight"), *d = values_of(3, true, "conv.weight");
    ck_assert_mem_eq(c, d, 162 * sizeof(float));
    free(x), free(y), free(z), free(c), free(d);

    Rng p = rng_seeded(3, "fc.weight"), q = rng_seeded(3, "fc.bias");
    int equal = 0;
    for (int i = 0; i < 64; i++)
        equal += rng_u32(&p) == rng_u32(&q);
    ck_assert_int_lt(equal, 2); /* another name, another stream */
}
END_TEST

/* 512 x 1024 weights: within the bound, and mean 0, variance b^2/3 as the
 * uniform on (-b, b) has (tolerances many standard errors wide). */
START_TEST(default_moments)
{
    Graph *g = graph_new("test.cnn");
    int fc = layer(g, "big", 2, (int64_t[]){512, 1024}, INIT_DEFAULT);
    init_weights(g);
    const Tensor *t = param(g, fc, 0);
    double b = 1 / sqrt(1024.0), sum = 0, sq = 0;
    int64_t n = shape_numel(&t->shape), outside = 0;
    for (int64_t i = 0; i < n; i++) {
        outside += fabs(t->data[i]) > b; /* one ck_assert: each costs a pipe write */
        sum += t->data[i];
        sq += (double)t->data[i] * t->data[i];
    }
    ck_assert_int_eq(outside, 0);
    double mean = sum / n, var = sq / n - mean * mean;
    ck_assert_msg(fabs(mean) < 5 * b / sqrt(3.0 * n), "mean %g", mean);
    ck_assert_msg(fabs(var / (b * b / 3) - 1) < 0.01, "variance %g, want %g", var, b * b / 3);
    ck_assert(max_abs(t) > 0.999 * b);
    /* the bias uses the weight's fan_in: 1/sqrt(1024) */
    const Tensor *bias = param(g, fc, 1);
    ck_assert(max_abs(bias) <= b && max_abs(bias) > 0.98 * b);
    graph_free(g);
}
END_TEST

/* Conv weight [16, 2, 3, 3] (groups 4 would make C_in 8): fan_in 18,
 * fan_out 16*9 = 144, as PyTorch's _calculate_fan_in_and_fan_out. */
START_TEST(he_and_xavier_bounds)
{
    Graph *g = graph_new("test.cnn");
    int64_t w[] = {16, 2, 3, 3};
    int he = layer(g, "he", 4, w, INIT_HE);
    int xa = layer(g, "xa", 4, w, INIT_XAVIER);
    int df = layer(g, "df", 4, w, INIT_DEFAULT);
    init_weights(g);
    double bhe = sqrt(6.0 / 18), bxa = sqrt(6.0 / (18 + 144)), bdf = 1 / sqrt(18.0);
    ck_assert(max_abs(param(g, he, 0)) <= bhe && max_abs(param(g, he, 0)) > 0.97 * bhe);
    ck_assert(max_abs(param(g, xa, 0)) <= bxa && max_abs(param(g, xa, 0)) > 0.97 * bxa);
    ck_assert(max_abs(param(g, df, 0)) <= bdf && max_abs(param(g, df, 0)) > 0.97 * bdf);
    ck_assert(max_abs(param(g, he, 1)) == 0);
    ck_assert(max_abs(param(g, xa, 1)) == 0);
    ck_assert(max_abs(param(g, df, 1)) > 0);
    graph_free(g);
}
END_TEST

START_TEST(constant_schemes_and_existing_data)
{
    Graph *g = graph_new("test.cnn");
    int64_t w[] = {4, 4};
    int z = layer(g, "z", 2, w, INIT_ZEROS);
    int o = layer(g, "o", 2, w, INIT_ONES);
    int kept = layer(g, "kept", 2, w, INIT_DEFAULT);
    float *mine = xcalloc(16, sizeof(float));
    mine[3] = 42;
    g->t[g->n[kept].param[0]].data = mine;
    int c = graph_add_tensor(g, "c", T_CONST, here);
    g->t[c].shape = shape_make(1, w);
    int buf = graph_add_tensor(g, "buf", T_BUFFER, here); /* owned by no node */
    g->t[buf].shape = shape_make(1, w);
    g->t[buf].init = INIT_ONES;
    init_weights(g);
    for (int i = 0; i < 16; i++) {
        ck_assert_float_eq(param(g, z, 0)->data[i], 0);
        ck_assert_float_eq(param(g, o, 0)->data[i], 1);
    }
    ck_assert_float_eq(param(g, o, 1)->data[3], 1);
    ck_assert_ptr_eq(param(g, kept, 0)->data, mine);
    ck_assert_float_eq(mine[3], 42);
    ck_assert(max_abs(param(g, kept, 1)) > 0);
    ck_assert_ptr_null(g->t[c].data); /* constants come with their data */
    ck_assert_float_eq(g->t[buf].data[2], 1);
    graph_free(g);
}
END_TEST

/* A weight with fewer than 2 dimensions has no fan (PyTorch refuses to
 * kaiming-initialise it): zeros. */
START_TEST(no_fan_gives_zeros)
{
    Graph *g = graph_new("test.cnn");
    int v = layer(g, "v", 1, (int64_t[]){5}, INIT_DEFAULT);
    init_weights(g);
    ck_assert(max_abs(param(g, v, 0)) == 0);
    ck_assert(max_abs(param(g, v, 1)) == 0);
    graph_free(g);
}
END_TEST

static Suite *init_suite(void)
{
    Suite *s = suite_create("init");
    TCase *rng = tcase_create("rng");
    tcase_add_test(rng, generator_matches_splitmix64);
    tcase_add_test(rng, uniform_from_u32);
    suite_add_tcase(s, rng);
    TCase *w = tcase_create("init_weights");
    tcase_add_test(w, golden_values);
    tcase_add_test(w, deterministic_per_name);
    tcase_add_test(w, default_moments);
    tcase_add_test(w, he_and_xavier_bounds);
    tcase_add_test(w, constant_schemes_and_existing_data);
    tcase_add_test(w, no_fan_gives_zeros);
    suite_add_tcase(s, w);
    return s;
}

int main(void)
{
    return run_suite(init_suite());
}
