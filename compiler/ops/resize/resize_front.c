/* resize_front.c: how the front ends write a resize. Takes a layer
 * statement (DSL) or a Resize or Upsample node (ONNX); gives an OP_RESIZE
 * node with its attributes (resize.c's shape rule checks them).
 *
 *   DSL   upsample(SCALE, mode=nearest|linear, align_corners=false)
 *         SCALE: a number for every spatial axis, or one per axis (2x3, or
 *         (1.5, 2)); PyTorch's nn.Upsample(scale_factor=SCALE): nearest
 *         reads floor(o / s) (asymmetric, floor), linear is bilinear in
 *         2-D (trilinear in 3-D) with half_pixel or align_corners.
 *   ONNX  Resize: opset 10 (scales; asymmetric, nearest by floor when
 *         up-sampling and ceil when down, as ONNX Runtime), opsets 11 to 17
 *         (roi, scales or sizes; coordinate_transformation_mode
 *         half_pixel, pytorch_half_pixel, align_corners, asymmetric or
 *         tf_half_pixel_for_nn; nearest_mode). Upsample: opset 1
 *         (height_scale, width_scale), 7 (a scales attribute) and 9 (a
 *         scales input), asymmetric. Scales and sizes are constants; the
 *         batch and channel axes keep their size. mode cubic and
 *         tf_crop_and_resize are errors naming them. */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

/* ---- DSL ---- */

/* One scale per spatial axis from a V_DIMS (integers) or V_TUPLE value:
 * their count (0 after an error). */
static int scale_list(DslArgs *c, const Value *v, float *s)
{
    int n = 0;
    if (v->kind == V_DIMS) {
        for (; n < v->ndims && n < 3; n++) {
            if (v->overflow || v->dims[n] < 1 || v->dims[n] > 1 << 20) {
                dsl_bad_value(c, "scale", v, "positive integers per axis (at most 2^20)");
                return 0;
            }
            s[n] = (float)v->dims[n];
        }
        return v->ndims;
    }
    for (const Arg *e = v->items; e; e = e->next, n++) {
        if (e->key) {
            diag_error(e->loc, "%s: scale takes plain values, not '%s='", c->what, e->key);
            return 0;
        }
        if (n < 3 && !dsl_float_value(c, "scale", e->v, DSL_POSITIVE, &s[n]))
            return 0;
    }
    return n;
}

/* SCALE: a number for every spatial axis, or one per axis. */
static void dsl_scale(DslArgs *c, const Value *v, float *scale)
{
    float s[3];
    if (v->kind == V_INT || v->kind == V_FLOAT) {
        if (dsl_float_value(c, "scale", v, DSL_POSITIVE, &s[0]))
            scale[0] = scale[1] = scale[2] = s[0];
        return;
    }
    int ns = c->rank ? c->rank - 1 : 0;
    int n = v->kind == V_DIMS || v->kind == V_TUPLE ? scale_list(c, v, s) : -1;
    if (n == 0)
        return;
    if (n < 0 || n > 3 || (ns && n != ns)) {
        char want[80];
        snprintf(want, sizeof want, "a positive number or one per spatial axis (%d)", ns);
        dsl_bad_value(c, "scale", v, want);
        return;
    }
    for (int i = 0; i < n; i++)
        scale[i] = s[i];
}

static void dsl_upsample(DslArgs *c, Node *n, const DslKind *k)
{
    Attrs *a = &n->a;
    const Value *v = dsl_get(c, "scale", true);
    if (v)
        dsl_scale(c, v, a->scale);
    int mode = 0;
    dsl_get_word(c, "mode", "nearest linear", &mode);
    a->resize_mode = mode ? RESIZE_LINEAR : RESIZE_NEAREST;
    bool corners = false;
    dsl_get_bool(c, "align_corners", &corners);
    if (corners && !mode)
        diag_error(dsl_get(c, "align_corners", false)->loc,
                   "%s: align_corners is for mode=linear (nearest has no corners to align)",
                   c->what);
    /* PyTorch's linear modes read (o + 0.5)/s - 0.5 even where an axis
     * shrinks to one cell: half_pixel, not ONNX's pytorch_half_pixel */
    a->coord_mode = !mode ? COORD_ASYMMETRIC : corners ? COORD_ALIGN_CORNERS : COORD_HALF_PIXEL;
    a->nearest_mode = NEAREST_FLOOR;
}

const DslKind resize_dsl[] = {
    {"upsample", "upsample", OP_RESIZE, -1, "scale", "scale mode align_corners", dsl_upsample,
     NULL},
    {NULL},
};

/* ---- ONNX ---- */

static bool word_index(OnnxNode *l, const char *attr, const char *value, const char *const *words,
                       int count, int *out)
{
    for (int i = 0; i < count; i++)
        if (strcmp(value, words[i]) == 0) {
            *out = i;
            return true;
        }
    return onnx_fail(l, "%s '%s' is not supported", attr, value);
}

/* The interpolation and coordinate attributes, by opset. */
static bool read_modes(OnnxNode *l, bool upsample, Attrs *a)
{
    char buf[64];
    const char *mode = attr_string(l->node, "mode", "nearest", buf, sizeof buf);
    if (strcmp(mode, "nearest") == 0)
        a->resize_mode = RESIZE_NEAREST;
    else if (strcmp(mode, "linear") == 0 || (upsample && strcmp(mode, "bilinear") == 0))
        a->resize_mode = RESIZE_LINEAR;
    else
        return onnx_fail(l, "mode '%s' is not supported (nearest and linear are)", mode);
    a->coord_mode = COORD_ASYMMETRIC;
    a->nearest_mode = NEAREST_SIMPLE;
    if (upsample || l->o->opset < 11)
        return true;
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_half_pixel_for_nn"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil"};
    if (!word_index(l, "coordinate_transformation_mode",
                    attr_string(l->node, "coordinate_transformation_mode", "half_pixel", buf,
                                sizeof buf), coords, 5, &a->coord_mode) ||
        !word_index(l, "nearest_mode", attr_string(l->node, "nearest_mode",
                                                   "round_prefer_floor", buf, sizeof buf),
                    nearests, 4, &a->nearest_mode))
        return false;
    if (attr_int(l->node, "exclude_outside", 0))
        return onnx_fail(l, "exclude_outside is for mode 'cubic', which is not supported");
    return true;
}

/* The scales as floats, from an attribute or a constant input; NULL after
 * an error. n must be rank (with the batch). */
static bool read_scales(OnnxNode *l, int rank, float *s)
{
    const Onnx__AttributeProto *at = attr_find(l->node, "scales");
    if (at) {
        if ((int)at->n_floats != rank)
            return onnx_fail(l, "attribute 'scales' has %zu values, expected %d", at->n_floats,
                             rank);
        for (int i = 0; i < rank; i++)
            s[i] = at->floats[i];
        return true;
    }
    if (attr_find(l->node, "height_scale")) { /* Upsample-1: the last two axes */
        for (int i = 0; i < rank; i++)
            s[i] = 1;
        s[rank - 2] = attr_float(l->node, "height_scale", 1);
        s[rank - 1] = attr_float(l->node, "width_scale", 1);
        return true;
    }
    return onnx_fail(l, "has no scales");
}

static bool const_scales(OnnxNode *l, int idx, int rank, float *s)
{
    if (!onnx_need_const(l, idx))
        return false;
    const Const *c = &l->in[idx]->c;
    if (c->dtype != CONST_F32 || c->n != rank)
        return onnx_fail(l, "scales '%s' must be %d float32 values", l->in[idx]->name, rank);
    memcpy(s, c->f, (size_t)rank * sizeof *s);
    return true;
}

/* Resize-11+'s sizes into the node's target and the scales they imply;
 * the batch's entry is any (PyTorch's export takes it from Shape). */
static bool const_sizes(OnnxNode *l, const OnnxValue *x, float *s, Shape *target)
{
    if (!onnx_need_const(l, 3))
        return false;
    const Const *c = &l->in[3]->c;
    if (c->dtype != CONST_I64)
        return onnx_fail(l, "sizes must be int64");
    int rank = x->shape.rank + 1;
    if (c->n != rank)
        return onnx_fail(l, "sizes has %lld values, expected %d", (long long)c->n, rank);
    *target = x->shape;
    s[0] = 1;
    for (int i = 1; i < rank; i++) {
        if (c->i[i] == BATCH_DIM)
            return onnx_fail(l, "sizes[%d] depends on the batch size", i);
        if (c->i[i] < 1 || c->i[i] > INT32_MAX)
            return onnx_fail(l, "sizes[%d] is %lld", i, (long long)c->i[i]);
        target->d[i - 1] = c->i[i];
        s[i] = (float)c->i[i] / (float)x->shape.d[i - 1];
    }
    if (target->d[0] != x->shape.d[0])
        return onnx_fail(l, "sizes resizes the channel axis (%lld to %lld); only the spatial "
                         "axes can be resized", (long long)x->shape.d[0],
                         (long long)target->d[0]);
    return true;
}

/* scales or sizes, by op and opset. */
static bool read_size(OnnxNode *l, const OnnxValue *x, bool upsample, float *s, Shape *target)
{
    int rank = x->shape.rank + 1, opset = l->o->opset;
    target->rank = 0;
    if (upsample && opset < 9)
        return read_scales(l, rank, s);
    if (upsample || opset < 11)
        return onnx_has_inputs(l, 2) && const_scales(l, 1, rank, s);
    bool has_scales = l->nin > 2 && l->in[2] && !(l->in[2]->kind == OV_CONST && l->in[2]->c.n == 0);
    bool has_sizes = l->nin > 3 && l->in[3];
    if (has_scales == has_sizes)
        return onnx_fail(l, "needs exactly one of scales and sizes");
    return has_scales ? const_scales(l, 2, rank, s) : const_sizes(l, x, s, target);
}

static bool onnx_resize(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    bool upsample = strcmp(l->node->op_type, "Upsample") == 0;
    if (x->shape.rank < 2 || x->shape.rank > 4)
        return onnx_fail(l, "input must have 1 to 3 spatial dimensions");
    Attrs a = {0};
    float s[5];
    if (!read_modes(l, upsample, &a) || !read_size(l, x, upsample, s, &a.target))
        return false;
    if (a.coord_mode == COORD_TF_HALF_PIXEL_FOR_NN && a.resize_mode != RESIZE_NEAREST)
        return onnx_fail(l, "coordinate_transformation_mode 'tf_half_pixel_for_nn' is for mode "
                         "'nearest'");
    if (s[0] != 1 || s[1] != 1)
        return onnx_fail(l, "scales the %s axis by %g; only the spatial axes can be resized",
                         s[0] != 1 ? "batch" : "channel", (double)(s[0] != 1 ? s[0] : s[1]));
    Node *n = onnx_add_node(l, OP_RESIZE, "", &x, 1, l->out, &x->shape);
    if (!n)
        return false;
    n->a.resize_mode = a.resize_mode;
    n->a.coord_mode = a.coord_mode;
    n->a.nearest_mode = a.nearest_mode;
    n->a.target = a.target;
    for (int i = 0; i < x->shape.rank - 1; i++)
        n->a.scale[i] = s[2 + i];
    return onnx_infer(l, n, l->out);
}

const OnnxKind resize_onnx[] = {
    {"Resize", "coordinate_transformation_mode:s cubic_coeff_a:f exclude_outside:i "
               "extrapolation_value:f mode:s nearest_mode:s", onnx_resize, NULL, ONNX_N_AXIS, "10 11 13"},
    {"Upsample", "height_scale:f mode:s scales:fs width_scale:f", onnx_resize, NULL, ONNX_N_AXIS, "1 7 9 10"},
    {NULL},
};

/* ---- export: Resize (opset 13) with its scales, or its sizes when given ---- */

/* sizes = Concat(Shape(x)[0:2], the spatial sizes): the batch stays symbolic. */
static const char *export_sizes(OnnxOut *o, const Node *n, const char *x, const Shape *y)
{
    char *base = xasprintf("%s_sizes", n->name);
    const char *shape = onnx_out_fresh(o, base), *lead = onnx_out_fresh(o, base);
    const char *starts = onnx_out_fresh(o, base), *ends = onnx_out_fresh(o, base);
    const char *spatial = onnx_out_fresh(o, base), *sizes = onnx_out_fresh(o, base);
    free(base);
    Shape one = {1, {1}}, ns = {1, {y->rank - 1}};
    onnx_out_init_i64(o, starts, &one, (int64_t[]){0});
    onnx_out_init_i64(o, ends, &one, (int64_t[]){2});
    onnx_out_init_i64(o, spatial, &ns, y->d + 1);
    onnx_out_node(o, "Shape", shape, (const char *[]){x}, 1, shape);
    onnx_out_node(o, "Slice", lead, (const char *[]){shape, starts, ends}, 3, lead);
    Onnx__NodeProto *c = onnx_out_node(o, "Concat", sizes, (const char *[]){lead, spatial}, 2,
                                       sizes);
    onnx_attr_int(o, c, "axis", 0);
    return sizes;
}

bool resize_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out)
{
    const Attrs *a = &n->a;
    int ns = node_in_shape(g, n, 0)->rank - 1;
    bool up = true;
    for (int i = 0; i < ns; i++)
        up &= a->scale[i] >= 1;
    if (a->resize_mode == RESIZE_NEAREST && a->nearest_mode == NEAREST_SIMPLE && !up)
        return false; /* opset 10's ceil when down-sampling: no opset 13 form */
    const char *inputs[4] = {in[0], "", "", ""};
    if (a->target.rank) {
        inputs[3] = export_sizes(o, n, in[0], node_out_shape(g, n));
    } else {
        char *base = xasprintf("%s_scales", n->name);
        inputs[2] = onnx_out_fresh(o, base);
        free(base);
        Shape s = {1, {ns + 2}};
        float scales[5] = {1, 1, a->scale[0], a->scale[1], a->scale[2]};
        onnx_out_init_f32(o, inputs[2], &s, scales);
    }
    Onnx__NodeProto *r = onnx_out_node(o, "Resize", n->name, inputs, a->target.rank ? 4 : 3, out);
    onnx_attr_string(o, r, "mode", a->resize_mode == RESIZE_LINEAR ? "linear" : "nearest");
    onnx_attr_string(o, r, "coordinate_transformation_mode", resize_coord_name(a->coord_mode));
    if (a->resize_mode == RESIZE_NEAREST)
        onnx_attr_string(o, r, "nearest_mode", resize_nearest_name(
                                                   a->nearest_mode == NEAREST_SIMPLE ? NEAREST_FLOOR
                                                                                     : a->nearest_mode));
    return true;
}
