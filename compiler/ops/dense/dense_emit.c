/* dense_emit.c: the forward emitter of dense (see dense.c):
 *   y[o] = act(b[o] + sum_i W[o, i] x[i]).
 * One sample is a matrix-vector product. The weights are repacked as
 * [OUT/OB][IN][OB] (zeros past OUT), so the inner loop adds x[i] times OB
 * consecutive weights into OB accumulators: contiguous, vectorisable
 * without reassociating the sum (no -ffast-math needed), and OB = 64 gives
 * the FMA units enough independent chains. OB is a multiple of 16 (a
 * small layer's outputs rounded up), so the same weights serve explicit
 * vector paths: 16 floats where CNNC_V16_DEFINED (AVX-512), 8 floats under
 * GNU C, each with two sums per output (even and odd inputs) so that
 * 2 * OB / lanes FMA chains are in flight, not OB / lanes; the plain loop
 * stays for other compilers and -DCNNC_NO_VECTOR_EXT. */
#include "../ops.h"

#include <stdlib.h>

enum { MAX_OB = 64 };

/* acc[0 .. ob) = bias + W x, in `lanes`-float vectors s<j> (even inputs)
 * and t<j> (odd ones). */
static void emit_vec_sums(Emit *e, const char *B, int64_t in, int64_t ob, int lanes)
{
    int nv = (int)(ob / lanes);
    for (int j = 0; j < nv; j++)
        emit_line(e, "cnnc_v%d s%d = *(const cnnc_v%du *)(%s + ob * %lld + %d), t%d = {0};",
                  lanes, j, lanes, B, (long long)ob, j * lanes, j);
    emit_line(e, "int i = 0;");
    emit_line(e, "for (; i + 2 <= %lld; i += 2) {", (long long)in);
    emit_line(e, "const float xa = x0[i], xb = x0[i + 1];");
    emit_line(e, "const float *wa = wb + i * %lld;", (long long)ob);
    for (int j = 0; j < nv; j++) {
        emit_line(e, "s%d += *(const cnnc_v%du *)(wa + %d) * xa;", j, lanes, j * lanes);
        emit_line(e, "t%d += *(const cnnc_v%du *)(wa + %lld) * xb;", j, lanes,
                  (long long)(ob + j * lanes));
    }
    emit_line(e, "}");
    if (in % 2)
        for (int j = 0; j < nv; j++)
            emit_line(e, "s%d += *(const cnnc_v%du *)(wb + i * %lld + %d) * x0[i];", j, lanes,
                      (long long)ob, j * lanes);
    for (int j = 0; j < nv; j++)
        emit_line(e, "*(cnnc_v%du *)(acc + %d) = s%d + t%d;", lanes, j * lanes, j, j);
}

void dense_emit(Emit *e, const Node *n)
{
    if (emit_scalar_kernels(e)) {
        dense_emit_mcu(e, n);
        return;
    }
    Graph *g = emit_graph(e);
    int64_t in = shape_numel(node_in_shape(g, n, 0)), out = shape_numel(node_out_shape(g, n));
    int64_t ob = out < MAX_OB ? (out + 15) / 16 * 16 : MAX_OB, nob = (out + ob - 1) / ob;
    const float *w = node_param_data(g, n, 0);
    const float *b = n->a.bias ? node_param_data(g, n, 1) : NULL;
    float *wr = xcalloc((size_t)(nob * in * ob), sizeof *wr);
    float *br = xcalloc((size_t)(nob * ob), sizeof *br);
    for (int64_t o = 0; o < out; o++) {
        for (int64_t i = 0; i < in; i++)
            wr[(o / ob * in + i) * ob + o % ob] = w[o * in + i];
        br[o] = b ? b[o] : 0.0f;
    }
    char *wc = xasprintf("%s.weight [%lld,%lld] as [OUT/OB=%lld][IN=%lld][OB=%lld]", n->name,
                         (long long)out, (long long)in, (long long)nob, (long long)in,
                         (long long)ob);
    char *bc = xasprintf(b ? "%s.bias" : "%s: no bias (zeros)", n->name);
    const char *W = emit_const(e, "weight", wc, wr, nob * in * ob);
    const char *B = emit_const(e, "bias", bc, br, nob * ob);
    free(wc);
    free(bc);
    free(wr);
    free(br);
    emit_line(e, "for (int ob = 0; ob < %lld; ob++) {", (long long)nob);
    emit_line(e, "const float *wb = %s + ob * %lld;", W, (long long)(in * ob));
    emit_line(e, "float acc[%lld];", (long long)ob);
    emit_line(e, "int nv = %lld - ob * %lld < %lld ? %lld - ob * %lld : %lld;", (long long)out,
              (long long)ob, (long long)ob, (long long)out, (long long)ob, (long long)ob);
    emit_line(e, "{");
    emit_line(e, "#if defined(CNNC_V16_DEFINED)");
    emit_vec_sums(e, B, in, ob, 16);
    emit_line(e, "#elif defined(CNNC_V8_DEFINED)");
    emit_vec_sums(e, B, in, ob, 8);
    emit_line(e, "#else");
    emit_line(e, "for (int v = 0; v < %lld; v++)", (long long)ob);
    emit_line(e, "    acc[v] = %s[ob * %lld + v];", B, (long long)ob);
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)in);
    emit_line(e, "const float xi = x0[i];");
    emit_line(e, "for (int v = 0; v < %lld; v++)", (long long)ob);
    emit_line(e, "    acc[v] += xi * wb[i * %lld + v];", (long long)ob);
    emit_line(e, "}");
    emit_line(e, "#endif");
    emit_line(e, "}");
    emit_line(e, "for (int v = 0; v < nv; v++) {");
    emit_line(e, "float t = acc[v];");
    emit_line(e, "y[ob * %lld + v] = %s;", (long long)ob, emit_act(e, n->act, "t"));
    emit_line(e, "}");
    emit_line(e, "}");
}
