/* batchnorm_emit.c: the forward emitter of batchnorm in inference mode (see
 * batchnorm.c): y = act(x * scale[c] + shift[c]), with scale = gamma /
 * sqrt(running_var + eps) and shift = beta - running_mean * scale folded at
 * compile time (in double), so a cell costs one multiply-add. */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>

void batchnorm_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int64_t c = s->d[0], plane = shape_numel(s) / c;
    const float *gamma = node_param_data(g, n, 0), *beta = node_param_data(g, n, 1);
    const float *mean = node_param_data(g, n, 2), *var = node_param_data(g, n, 3);
    float *ss = xmalloc((size_t)(2 * c) * sizeof *ss);
    for (int64_t i = 0; i < c; i++) {
        double scale = gamma[i] / sqrt((double)var[i] + n->a.eps);
        ss[i] = (float)scale;
        ss[c + i] = (float)(beta[i] - mean[i] * scale);
    }
    char *what = xasprintf("scale then shift from %s.weight, .bias, .running_mean, .running_var "
                           "(eps %g)", n->name, (double)n->a.eps);
    const char *S = emit_const(e, "scale_shift", what, ss, 2 * c);
    free(what);
    free(ss);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)c);
    emit_line(e, "const float a = %s[c], b = %s[%lld + c];", S, S, (long long)c);
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)plane);
    emit_line(e, "float t = x0[c * %lld + i] * a + b;", (long long)plane);
    emit_line(e, "y[c * %lld + i] = %s;", (long long)plane, emit_act(e, n->act, "t"));
    emit_line(e, "}");
    emit_line(e, "}");
}
