/* resize_emit_grad.c: the backward of resize in generated training code
 * (resize_grad.c's formulas), every shape a literal.
 *
 * dL/dx = P1^T ... Pn^T dL/dy: the transposes of the forward's passes in
 * the reverse order, first axis first, over the same tap tables
 * (resize_emit_taps). A transposed pass adds each output cell's gradient,
 * times its weights, into the cells it read; between passes the gradient
 * lives in the train arena's scratch (two buffers taken in turn), and the
 * last pass adds straight into dL/dx. resize reads nothing of the forward
 * and has no parameter. */
#include "../ops.h"

#include <stdlib.h>

/* dst (zeroed first unless `accumulate`) += P^T src for one sample. */
static void emit_pass_transposed(Emit *e, const ResizePass *p, const char *src, const char *dst,
                                 bool accumulate)
{
    emit_line(e, "{");
    resize_emit_taps(e, p);
    if (!accumulate) {
        emit_line(e, "for (k = 0; k < %lld; k++)", (long long)(p->outer * p->in * p->inner));
        emit_line(e, "    %s[k] = 0.0f;", dst);
    }
    emit_line(e, "for (o = 0; o < %lld; o++)", (long long)p->outer);
    emit_line(e, "for (j = 0; j < %lld; j++) {", (long long)p->out);
    emit_line(e, "const float *gj = %s + (o * %lld + j) * %lld;", src, (long long)p->out,
              (long long)p->inner);
    emit_line(e, "float *a = %s + (o * %lld + i0[j]) * %lld;", dst, (long long)p->in,
              (long long)p->inner);
    if (p->nearest) {
        emit_line(e, "for (k = 0; k < %lld; k++)", (long long)p->inner);
        emit_line(e, "    a[k] += gj[k];");
    } else {
        emit_line(e, "float *c = %s + (o * %lld + i1[j]) * %lld;", dst, (long long)p->in,
                  (long long)p->inner);
        emit_line(e, "for (k = 0; k < %lld; k++) {", (long long)p->inner);
        emit_line(e, "a[k] += w0[j] * gj[k];");
        emit_line(e, "c[k] += w1[j] * gj[k];");
        emit_line(e, "}");
    }
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The passes that change their axis, in the backward's order. */
static int changing_passes(const Graph *g, const Node *n, ResizePass *pass)
{
    int np = 0;
    for (int axis = 0; axis < node_in_shape(g, n, 0)->rank - 1; axis++) {
        ResizePass p = resize_pass(g, n, axis);
        if (resize_taps_identity(p.taps, p.in, p.out))
            free(p.taps);
        else
            pass[np++] = p;
    }
    return np;
}

void resize_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    Graph *g = emit_graph(e);
    long long nx = shape_numel(node_in_shape(g, n, 0)), ny = shape_numel(node_out_shape(g, n));
    ResizePass pass[3];
    int np = changing_passes(g, n, pass);
    if (np == 0) { /* every axis copied: the gradient passes through */
        emit_line(e, "size_t k;");
        emit_line(e, "for (k = 0; k < (size_t)n * %lld; k++)", nx);
        emit_line(e, "    dx0[k] += dy[k];");
        return;
    }
    emit_line(e, "int b, o, j, k;");
    int64_t half = plan_round_up(resize_max_cells(g, n));
    if (np > 1)
        emit_train_scratch(e, np > 2 ? 2 * half : half);
    emit_line(e, "for (b = 0; b < n; b++) {");
    char src[64], dst[64];
    snprintf(src, sizeof src, "(dy + (size_t)b * %lld)", ny);
    for (int i = 0; i < np; i++) {
        if (i == np - 1)
            snprintf(dst, sizeof dst, "(dx0 + (size_t)b * %lld)", nx);
        else
            snprintf(dst, sizeof dst, "(ws + %lld)", (long long)(i % 2 * half));
        emit_pass_transposed(e, &pass[i], src, dst, i == np - 1);
        snprintf(src, sizeof src, "%s", dst);
        free(pass[i].taps);
    }
    emit_line(e, "}");
}
