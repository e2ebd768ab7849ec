/* onnx_write.c: an ONNX ModelProto assembled from protobuf-c's generated
 * structs and packed (see onnx_write.h). Takes nodes, initializers and the
 * graph's input and output one by one; gives the serialized model. All
 * memory hangs off the writer: a list of blocks freed together. */
#include "onnx_write.h"

#include <stdlib.h>
#include <string.h>

struct OnnxWriter {
    Onnx__GraphProto graph;
    void **blocks; /* everything allocated for the model */
    int nblocks, bcap;
    char **names; /* the value names used */
    int nnames, ncap;
    int node_cap, init_cap, in_cap, out_cap;
};

/* n zeroed bytes the writer owns. */
static void *own(OnnxWriter *w, size_t n)
{
    void *p = xcalloc(1, n ? n : 1);
    grow_array(&w->blocks, &w->bcap, w->nblocks + 1, sizeof *w->blocks);
    w->blocks[w->nblocks++] = p;
    return p;
}

static char *own_str(OnnxWriter *w, const char *s)
{
    char *c = own(w, strlen(s) + 1);
    memcpy(c, s, strlen(s) + 1);
    return c;
}

/* Appends item to a protobuf-c array (arr, n) whose capacity is cap. */
#define APPEND(arr, n, cap, item)                                                            \
    do {                                                                                     \
        if ((int)(n) + 1 > (cap)) {                                                          \
            (cap) = (cap) ? 2 * (cap) : 16;                                                  \
            (arr) = xrealloc((arr), (size_t)(cap) * sizeof *(arr));                          \
        }                                                                                    \
        (arr)[(n)++] = (item);                                                               \
    } while (0)

OnnxWriter *onnx_writer_new(const char *graph_name)
{
    OnnxWriter *w = xcalloc(1, sizeof *w);
    onnx__graph_proto__init(&w->graph);
    w->graph.name = own_str(w, graph_name);
    return w;
}

void onnx_writer_free(OnnxWriter *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nblocks; i++)
        free(w->blocks[i]);
    for (int i = 0; i < w->nnames; i++)
        free(w->names[i]);
    free(w->blocks);
    free(w->names);
    free(w->graph.node);
    free(w->graph.initializer);
    free(w->graph.input);
    free(w->graph.output);
    free(w);
}

static bool used(const OnnxWriter *w, const char *name)
{
    for (int i = 0; i < w->nnames; i++)
        if (strcmp(w->names[i], name) == 0)
            return true;
    return false;
}

void onnx_writer_claim(OnnxWriter *w, const char *name)
{
    if (used(w, name))
        return;
    grow_array(&w->names, &w->ncap, w->nnames + 1, sizeof *w->names);
    w->names[w->nnames++] = xstrdup(name);
}

const char *onnx_writer_fresh(OnnxWriter *w, const char *base)
{
    char *name = xstrdup(base);
    for (int k = 2; used(w, name); k++) {
        free(name);
        name = xasprintf("%s_%d", base, k);
    }
    onnx_writer_claim(w, name);
    const char *kept = own_str(w, name);
    free(name);
    return kept;
}

static Onnx__TensorProto *tensor(OnnxWriter *w, const char *name, const Shape *s, int type)
{
    Onnx__TensorProto *t = own(w, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = own_str(w, name);
    t->n_dims = (size_t)s->rank;
    t->dims = own(w, sizeof *t->dims * (size_t)(s->rank ? s->rank : 1));
    memcpy(t->dims, s->d, sizeof *t->dims * (size_t)s->rank);
    t->has_data_type = true;
    t->data_type = type;
    onnx_writer_claim(w, name);
    APPEND(w->graph.initializer, w->graph.n_initializer, w->init_cap, t);
    return t;
}

void onnx_writer_float(OnnxWriter *w, const char *name, const Shape *s, const float *data)
{
    Onnx__TensorProto *t = tensor(w, name, s, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    size_t n = (size_t)shape_numel(s);
    t->has_raw_data = true;
    t->raw_data.len = n * 4;
    t->raw_data.data = own(w, n * 4);
    for (size_t i = 0; i < n; i++) { /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &data[i], 4);
        for (int k = 0; k < 4; k++)
            t->raw_data.data[i * 4 + k] = (uint8_t)(u >> (8 * k));
    }
}

void onnx_writer_ints(OnnxWriter *w, const char *name, const Shape *s, const int64_t *v,
                      int elem)
{
    Onnx__TensorProto *t = tensor(w, name, s, elem);
    size_t n = (size_t)shape_numel(s);
    int size = elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT64   ? 8
               : elem == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? 4
                                                              : 1;
    t->has_raw_data = true;
    t->raw_data.len = n * (size_t)size;
    t->raw_data.data = own(w, t->raw_data.len);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < size; k++)
            t->raw_data.data[i * (size_t)size + (size_t)k] = (uint8_t)((uint64_t)v[i] >> (8 * k));
}

Onnx__NodeProto *onnx_writer_node(OnnxWriter *w, const char *op, const char *const *in, int nin,
                                  const char *out)
{
    Onnx__NodeProto *n = own(w, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = own_str(w, op);
    n->name = own_str(w, out);
    n->n_input = (size_t)nin;
    n->input = own(w, sizeof *n->input * (size_t)(nin ? nin : 1));
    for (int i = 0; i < nin; i++)
        n->input[i] = own_str(w, in[i]);
    n->n_output = 1;
    n->output = own(w, sizeof *n->output);
    n->output[0] = own_str(w, out);
    onnx_writer_claim(w, out);
    APPEND(w->graph.node, w->graph.n_node, w->node_cap, n);
    return n;
}

static Onnx__AttributeProto *attr(OnnxWriter *w, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = own(w, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = own_str(w, name);
    a->has_type = true;
    a->type = type;
    Onnx__AttributeProto **list = own(w, sizeof *list * (n->n_attribute + 1));
    memcpy(list, n->attribute, sizeof *list * n->n_attribute);
    list[n->n_attribute++] = a;
    n->attribute = list;
    return a;
}

void onnx_attr_int(OnnxWriter *w, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(w, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = true;
    a->i = v;
}

void onnx_attr_ints(OnnxWriter *w, Onnx__NodeProto *n, const char *name, const int64_t *v,
                    int count)
{
    Onnx__AttributeProto *a = attr(w, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)count;
    a->ints = own(w, sizeof *a->ints * (size_t)(count ? count : 1));
    memcpy(a->ints, v, sizeof *a->ints * (size_t)count);
}

void onnx_attr_float(OnnxWriter *w, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(w, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = true;
    a->f = v;
}

void onnx_attr_string(OnnxWriter *w, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr(w, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = true;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)own_str(w, v);
}

void onnx_writer_io(OnnxWriter *w, const char *name, const Shape *per_sample, bool output)
{
    Onnx__TensorShapeProto *shape = own(w, sizeof *shape);
    onnx__tensor_shape_proto__init(shape);
    shape->n_dim = (size_t)per_sample->rank + 1;
    shape->dim = own(w, sizeof *shape->dim * shape->n_dim);
    for (size_t i = 0; i < shape->n_dim; i++) {
        Onnx__TensorShapeProto__Dimension *d = own(w, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = own_str(w, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = per_sample->d[i - 1];
        }
        shape->dim[i] = d;
    }
    Onnx__TypeProto__Tensor *tt = own(w, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = true;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    Onnx__TypeProto *type = own(w, sizeof *type);
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    Onnx__ValueInfoProto *v = own(w, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = own_str(w, name);
    v->type = type;
    onnx_writer_claim(w, name);
    if (output)
        APPEND(w->graph.output, w->graph.n_output, w->out_cap, v);
    else
        APPEND(w->graph.input, w->graph.n_input, w->in_cap, v);
}

bool onnx_writer_save(OnnxWriter *w, const char *path, int opset)
{
    Onnx__OperatorSetIdProto set = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *sets[] = {&set};
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    set.domain = "";
    set.has_version = true;
    set.version = opset;
    m.has_ir_version = true;
    m.ir_version = 8;
    m.n_opset_import = 1;
    m.opset_import = sets;
    m.producer_name = "cnnc";
    m.producer_version = CNNC_VERSION;
    m.graph = &w->graph;
    size_t size = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = xmalloc(size ? size : 1);
    onnx__model_proto__pack(&m, buf);
    OutFile f = {xstrdup(path), NULL, buf, size};
    bool ok = write_files(&f, 1);
    free(f.path);
    free(buf);
    return ok;
}

/* ---- a Graph's values ---- */

const char *onnx_export_act(OnnxExport *x, int t)
{
    onnx_writer_claim(x->w, x->g->t[t].name);
    return x->g->t[t].name;
}

void onnx_export_quant(OnnxExport *x, const char *base, const Quant *q, int elem,
                       const char **scale, const char **zero)
{
    Shape s = q->n > 1 ? shape_make(1, (int64_t[]){q->n}) : (Shape){0};
    char *sb = xasprintf("%s_scale", base), *zb = xasprintf("%s_zero_point", base);
    int64_t *z = xmalloc((size_t)q->n * sizeof *z);
    for (int i = 0; i < q->n; i++)
        z[i] = q->zero_point[i];
    *scale = onnx_writer_fresh(x->w, sb);
    *zero = onnx_writer_fresh(x->w, zb);
    onnx_writer_float(x->w, *scale, &s, q->scale);
    onnx_writer_ints(x->w, *zero, &s, z, elem);
    free(z);
    free(sb);
    free(zb);
}

const char *onnx_export_param(OnnxExport *x, int t)
{
    const Tensor *p = &x->g->t[t];
    if (x->param[t])
        return x->param[t];
    x->param[t] = xstrdup(p->name);
    if (!p->q || !p->q->values) {
        onnx_writer_float(x->w, p->name, &p->shape, p->data);
        return x->param[t];
    }
    int elem = p->q->dtype == DT_I32 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT32
                                     : ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    int64_t n = shape_numel(&p->shape);
    int64_t *v = xmalloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = p->q->values[i];
    char *base = xasprintf("%s_quantized", p->name);
    const char *ints = onnx_writer_fresh(x->w, base), *scale, *zero;
    onnx_writer_ints(x->w, ints, &p->shape, v, elem);
    onnx_export_quant(x, p->name, p->q, elem, &scale, &zero);
    Onnx__NodeProto *dq = onnx_writer_node(x->w, "DequantizeLinear",
                                           (const char *[]){ints, scale, zero}, 3, p->name);
    if (p->q->n > 1)
        onnx_attr_int(x->w, dq, "axis", 0);
    free(base);
    free(v);
    return x->param[t];
}

const char *onnx_export_pre(OnnxExport *x, const Node *n)
{
    const char *out = onnx_export_act(x, n->out);
    if (!act_present(node_epilogue(n)))
        return out;
    char *base = xasprintf("%s_pre", out);
    const char *pre = onnx_writer_fresh(x->w, base);
    free(base);
    return pre;
}

const char *onnx_export_i64(OnnxExport *x, const char *base, const int64_t *v, int count)
{
    const char *name = onnx_writer_fresh(x->w, base);
    Shape s = shape_make(1, (int64_t[]){count});
    onnx_writer_ints(x->w, name, &s, v, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    return name;
}
