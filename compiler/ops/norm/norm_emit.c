/* norm_emit.c: the forward emitter of layernorm and groupnorm (norm.c), in
 * float: per group the mean, then the variance about it (the corrected
 * two-pass algorithm, as stable as the interpreter's double for the group
 * sizes networks use),
 * then y = (x - mean) a + beta with a = gamma / sigma (not x a + (beta -
 * mean a): when sigma is tiny, a group of one value, a is large and the
 * two products cancel to rounding noise).
 *
 * Groups of consecutive values (nn.LayerNorm over the trailing axes, every
 * groupnorm) are three loops over a contiguous run. A layernorm over the
 * channels of C x H x W (I = H W values per channel, ConvNeXt's
 * LayerNorm2d) keeps I running sums in scratch and walks the channels
 * plane by plane, so every inner loop is over a contiguous plane and
 * vectorises. */
#include "../ops.h"

#include <stdlib.h>

/* gamma and beta as one array (gamma first); NULL without affine. */
static const char *affine_const(Emit *e, const Node *n, int64_t count)
{
    Graph *g = emit_graph(e);
    const float *gamma = node_param_data(g, n, 0), *beta = node_param_data(g, n, 1);
    if (!gamma)
        return NULL;
    float *gb = xmalloc((size_t)(2 * count) * sizeof *gb);
    for (int64_t i = 0; i < count; i++) {
        gb[i] = gamma[i];
        gb[count + i] = beta[i];
    }
    char *what = xasprintf("%s.weight then %s.bias", n->name, n->name);
    const char *GB = emit_const(e, "affine", what, gb, 2 * count);
    free(what);
    free(gb);
    return GB;
}

/* m and r (1/sigma) of the `len` floats at xg, by the corrected two-pass
 * algorithm: the second pass also sums the deviations (s), whose mean is
 * the first pass's rounding error. Correcting m and v by it makes a
 * constant group's deviations exactly zero, where the plain mean leaves
 * a residue that 1/sqrt(eps) turns into an output of 1e-5 instead of 0. */
static void emit_run_stats(Emit *e, int64_t len, float eps)
{
    long long L = len;
    emit_line(e, "float m = 0.0f, v = 0.0f, ds = 0.0f;");
    emit_line(e, "for (int j = 0; j < %lld; j++)", L);
    emit_line(e, "    m += xg[j];");
    emit_line(e, "m /= %lld.0f;", L);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", L);
    emit_line(e, "const float d = xg[j] - m;");
    emit_line(e, "ds += d;");
    emit_line(e, "v += d * d;");
    emit_line(e, "}");
    emit_line(e, "m += ds / %lld.0f;", L);
    emit_line(e, "v = fmaxf(v - ds * ds / %lld.0f, 0.0f);", L);
    emit_line(e, "const float r = 1.0f / sqrtf(v / %lld.0f + %s);", L, emit_float(e, eps));
}

/* Groups of consecutive values (inner 1). */
static void emit_runs(Emit *e, const Node *n, const NormGeom *k)
{
    const char *GB = affine_const(e, n, n->op == OP_GROUPNORM ? k->outer * k->n / k->span : k->n);
    emit_line(e, "for (int o = 0; o < %lld; o++) {", (long long)k->outer);
    emit_line(e, "const float *xg = x0 + o * %lld;", (long long)k->n);
    emit_line(e, "float *yg = y + o * %lld;", (long long)k->n);
    emit_run_stats(e, k->n, n->a.eps);
    if (!GB) {
        emit_line(e, "for (int j = 0; j < %lld; j++)", (long long)k->n);
        emit_line(e, "    yg[j] = (xg[j] - m) * r;");
    } else if (k->per_group) { /* groupnorm: gamma, beta per channel of `span` values */
        long long per = k->n / k->span, span = k->span, channels = k->outer * per;
        emit_line(e, "for (int c = 0; c < %lld; c++) {", per);
        emit_line(e, "const float a = %s[o * %lld + c] * r;", GB, per);
        emit_line(e, "const float b = %s[%lld + o * %lld + c];", GB, channels, per);
        emit_line(e, "for (int j = c * %lld; j < (c + 1) * %lld; j++)", span, span);
        emit_line(e, "    yg[j] = (xg[j] - m) * a + b;");
        emit_line(e, "}");
    } else {
        emit_line(e, "for (int j = 0; j < %lld; j++)", (long long)k->n);
        emit_line(e, "    yg[j] = (xg[j] - m) * r * %s[j] + %s[%lld + j];", GB, GB,
                  (long long)k->n);
    }
    emit_line(e, "}");
}

/* A layernorm with I > 1: m[i] and r[i] in scratch, plane by plane. */
static void emit_planes(Emit *e, const Node *n, const NormGeom *k)
{
    long long N = k->n, I = k->inner;
    const char *GB = affine_const(e, n, k->n);
    const char *S = emit_scratch(e, 3 * k->inner);
    emit_line(e, "float *m = %s, *r = %s + %lld, *ds = %s + %lld;", S, S, I, S, 2 * I);
    emit_line(e, "for (int o = 0; o < %lld; o++) {", (long long)k->outer);
    emit_line(e, "const float *xo = x0 + o * %lld;", N * I);
    emit_line(e, "float *yo = y + o * %lld;", N * I);
    emit_line(e, "for (int i = 0; i < %lld; i++)", I);
    emit_line(e, "    m[i] = r[i] = ds[i] = 0.0f;");
    emit_line(e, "for (int j = 0; j < %lld; j++)", N);
    emit_line(e, "    for (int i = 0; i < %lld; i++)", I);
    emit_line(e, "        m[i] += xo[j * %lld + i];", I);
    emit_line(e, "for (int i = 0; i < %lld; i++)", I);
    emit_line(e, "    m[i] /= %lld.0f;", N);
    emit_line(e, "for (int j = 0; j < %lld; j++)", N);
    emit_line(e, "    for (int i = 0; i < %lld; i++) {", I);
    emit_line(e, "        const float d = xo[j * %lld + i] - m[i];", I);
    emit_line(e, "        ds[i] += d;");
    emit_line(e, "        r[i] += d * d;");
    emit_line(e, "    }");
    emit_line(e, "for (int i = 0; i < %lld; i++) {", I); /* emit_run_stats' correction */
    emit_line(e, "m[i] += ds[i] / %lld.0f;", N);
    emit_line(e, "r[i] = 1.0f / sqrtf(fmaxf(r[i] - ds[i] * ds[i] / %lld.0f, 0.0f) / %lld.0f + %s);",
              N, N, emit_float(e, n->a.eps));
    emit_line(e, "}");
    emit_line(e, "for (int j = 0; j < %lld; j++) {", N);
    if (GB)
        emit_line(e, "const float g = %s[j], b = %s[%lld + j];", GB, GB, N);
    else
        emit_line(e, "const float g = 1.0f, b = 0.0f;");
    emit_line(e, "for (int i = 0; i < %lld; i++)", I);
    emit_line(e, "    yo[j * %lld + i] = (xo[j * %lld + i] - m[i]) * r[i] * g + b;", I, I);
    emit_line(e, "}");
    emit_line(e, "}");
}

void norm_emit(Emit *e, const Node *n)
{
    NormGeom k = norm_geometry(emit_graph(e), n);
    if (k.inner == 1)
        emit_runs(e, n, &k);
    else
        emit_planes(e, n, &k);
}
