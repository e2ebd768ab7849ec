/* pad.c: an explicit padding layer (nn.ZeroPad2d, ReflectionPad2d,
 * ReplicationPad2d and their 1-D forms; ONNX Pad on the spatial axes).
 *
 *   y[c, i, j] = x[c, ri(i - top), rj(j - left)]
 *
 * where r maps an index outside [0, size) back inside: zeros reads
 * a.pad_value there (0 unless given: nn.ConstantPad2d's value), reflect mirrors about the edge without repeating it (-1 -> 1),
 * replicate clamps to the edge (-1 -> 0).
 *
 * Shape rule: one input [C,H,W] or [C,L]; a.pad is [top, left, bottom,
 * right], all >= 0, and a 1-D input uses left and right only (top and
 * bottom must be 0); reflect needs each pad smaller than the size it pads.
 * Output [C, top+H+bottom, left+W+right]. */
#include "../ops.h"

/* PyTorch's rule: reflection about the edge needs pad < size. */
static bool check_reflect(const Node *n, const char *axis, int64_t size, int before, int after)
{
    if (n->a.pad_mode == PAD_REFLECT && (before >= size || after >= size)) {
        diag_error(n->loc, "pad '%s': reflect padding (%d, %d) must be smaller than the %s, %lld",
                   n->name, before, after, axis, (long long)size);
        return false;
    }
    return true;
}

static bool infer_pad(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *s = node_in_shape(g, n, 0);
    const int *p = n->a.pad;
    char buf[128];
    if (s->rank != 2 && s->rank != 3) {
        diag_error(n->loc, "pad '%s': input %s is not C x L or C x H x W", n->name,
                   shape_str(s, buf, sizeof buf));
        return false;
    }
    if (p[0] < 0 || p[1] < 0 || p[2] < 0 || p[3] < 0) {
        diag_error(n->loc, "pad '%s': padding (%d, %d, %d, %d) is negative", n->name, p[0], p[1],
                   p[2], p[3]);
        return false;
    }
    if (s->rank == 2 && (p[0] || p[2])) {
        diag_error(n->loc, "pad '%s': a 1-D input %s pads left and right only", n->name,
                   shape_str(s, buf, sizeof buf));
        return false;
    }
    if ((unsigned)n->a.pad_mode > PAD_REPLICATE)
        internal_error("pad '%s': bad mode %d", n->name, (int)n->a.pad_mode);
    int64_t c, h, w;
    shape_chw(s, &c, &h, &w);
    if (!check_reflect(n, "width", w, p[1], p[3]) ||
        (s->rank == 3 && !check_reflect(n, "height", h, p[0], p[2])))
        return false;
    Shape o = *s;
    o.d[s->rank - 1] += p[1] + p[3];
    if (s->rank == 3)
        o.d[1] += p[0] + p[2];
    g->t[n->out].shape = o;
    return true;
}

static void run_pad(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                    bool training)
{
    int64_t c, h, w, oh, ow;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    shape_chw(node_out_shape(g, n), &c, &oh, &ow);
    int top = node_in_shape(g, n, 0)->rank == 3 ? n->a.pad[0] : 0, left = n->a.pad[1];
    for (int64_t plane = 0; plane < batch * c; plane++) {
        const float *x = in[0] + plane * h * w; /* (h, w) */
        float *y = out + plane * oh * ow;       /* (oh, ow) */
        for (int64_t i = 0; i < oh; i++) {
            int64_t si = pad_source(i - top, h, n->a.pad_mode);
            for (int64_t j = 0; j < ow; j++) {
                int64_t sj = pad_source(j - left, w, n->a.pad_mode);
                y[i * ow + j] = si < 0 || sj < 0 ? n->a.pad_value : x[si * w + sj];
            }
        }
    }
}

static void dump_pad(const Graph *g, const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    fprintf(out, " pad=%d,%d,%d,%d mode=%d", a->pad[0], a->pad[1], a->pad[2], a->pad[3],
            (int)a->pad_mode);
    if (a->pad_value != 0)
        fprintf(out, " value=%g", (double)a->pad_value);
}

const OpInfo op_pad = {
    .name = "pad",
    .traits = OP_TRAITS(PAD),
    .infer = infer_pad,
    .run = run_pad,
    .grad = pad_grad,
    .emit = pad_emit,
    .emit_grad = pad_emit_grad,
    .dump = dump_pad,
    .folds = pad_folds,
    .quant = &pad_int8,
    .onnx_export = pad_onnx_export,
    .grad_reads = grad_reads_none,
};
