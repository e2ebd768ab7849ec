/* dense_emit.c: the forward emitter of dense (see dense.c):
 *   y[o] = act(b[o] + sum_i W[o, i] x[i]).
 * One sample is a matrix-vector product. The weights are repacked as
 * [OUT/OB][IN][OB] (zeros past OUT), so the inner loop adds x[i] times OB
 * consecutive weights into OB accumulators: contiguous, vectorisable
 * without reassociating the sum (no -ffast-math needed), and OB = 64 gives
 * the FMA units enough independent chains. */
#include "ops.h"

#include <stdlib.h>

enum { MAX_OB = 64 };

void dense_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    int64_t in = shape_numel(node_in_shape(g, n, 0)), out = shape_numel(node_out_shape(g, n));
    int64_t ob = out < MAX_OB ? out : MAX_OB, nob = (out + ob - 1) / ob;
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
    emit_line(e, "for (int v = 0; v < %lld; v++)", (long long)ob);
    emit_line(e, "    acc[v] = %s[ob * %lld + v];", B, (long long)ob);
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)in);
    emit_line(e, "const float xi = x0[i];");
    emit_line(e, "for (int v = 0; v < %lld; v++)", (long long)ob);
    emit_line(e, "    acc[v] += xi * wb[i * %lld + v];", (long long)ob);
    emit_line(e, "}");
    emit_line(e, "for (int v = 0; v < nv; v++) {");
    emit_line(e, "float t = acc[v];");
    emit_line(e, "y[ob * %lld + v] = %s;", (long long)ob, emit_act(e, n->act, "t"));
    emit_line(e, "}");
    emit_line(e, "}");
}
