/* onnx_write.c: an ONNX model built in memory and written whole (see
 * onnx_write.h). Every allocation is kept in one list, so the messages can
 * point at each other freely and go in one onnx_out_free. */
#include "onnx_write.h"

#include <stdlib.h>
#include <string.h>

/* The IR version that goes with opsets up to 17 (ONNX 1.12). */
#define IR_VERSION 8

struct OnnxOut {
    void **mem;
    int nmem, memcap;
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__NodeProto **node;
    int nnode, nodecap;
    Onnx__TensorProto **init;
    int ninit, initcap;
    Onnx__ValueInfoProto *io[2]; /* input, output */
    char **names;                /* every value name used, for onnx_out_fresh */
    int nnames, namecap;
};

/* Zeroed memory that lives until onnx_out_free. */
static void *keep(OnnxOut *o, size_t n)
{
    void *p = xcalloc(1, n ? n : 1);
    grow_array(&o->mem, &o->memcap, o->nmem + 1, sizeof *o->mem);
    o->mem[o->nmem++] = p;
    return p;
}

static char *keep_str(OnnxOut *o, const char *s)
{
    char *d = keep(o, strlen(s) + 1);
    memcpy(d, s, strlen(s));
    return d;
}

static bool name_used(const OnnxOut *o, const char *name)
{
    for (int i = 0; i < o->nnames; i++)
        if (strcmp(o->names[i], name) == 0)
            return true;
    return false;
}

static char *use_name(OnnxOut *o, const char *name)
{
    char *s = keep_str(o, name);
    if (!name_used(o, name)) {
        grow_array(&o->names, &o->namecap, o->nnames + 1, sizeof *o->names);
        o->names[o->nnames++] = s;
    }
    return s;
}

OnnxOut *onnx_out_new(const char *name, int opset)
{
    OnnxOut *o = xcalloc(1, sizeof *o);
    onnx__model_proto__init(&o->model);
    onnx__graph_proto__init(&o->graph);
    onnx__operator_set_id_proto__init(&o->opset);
    o->opset.domain = keep_str(o, "");
    o->opset.has_version = true;
    o->opset.version = opset;
    o->opsets[0] = &o->opset;
    o->model.has_ir_version = true;
    o->model.ir_version = IR_VERSION;
    o->model.n_opset_import = 1;
    o->model.opset_import = o->opsets;
    o->model.producer_name = keep_str(o, "cnnc");
    o->model.producer_version = keep_str(o, CNNC_VERSION);
    o->model.graph = &o->graph;
    o->graph.name = keep_str(o, name);
    return o;
}

void onnx_out_free(OnnxOut *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->nmem; i++)
        free(o->mem[i]);
    free(o->mem);
    free(o->node);
    free(o->init);
    free(o->names);
    free(o);
}

void onnx_out_need_opset(OnnxOut *o, int opset)
{
    if (o->opset.version < opset)
        o->opset.version = opset;
}

const char *onnx_out_fresh(OnnxOut *o, const char *base)
{
    char *name = xstrdup(base);
    for (int k = 1; name_used(o, name); k++) {
        free(name);
        name = xasprintf("%s_%d", base, k);
    }
    const char *kept = use_name(o, name);
    free(name);
    return kept;
}

static Onnx__TensorShapeProto__Dimension *dim(OnnxOut *o, int64_t value)
{
    Onnx__TensorShapeProto__Dimension *d = keep(o, sizeof *d);
    onnx__tensor_shape_proto__dimension__init(d);
    if (value < 0) {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        d->dim_param = keep_str(o, "N");
    } else {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = value;
    }
    return d;
}

void onnx_out_io(OnnxOut *o, bool input, const char *name, const Shape *per_sample)
{
    Onnx__TensorShapeProto *shape = keep(o, sizeof *shape);
    onnx__tensor_shape_proto__init(shape);
    shape->n_dim = (size_t)per_sample->rank + 1;
    shape->dim = keep(o, shape->n_dim * sizeof *shape->dim);
    shape->dim[0] = dim(o, -1);
    for (int i = 0; i < per_sample->rank; i++)
        shape->dim[i + 1] = dim(o, per_sample->d[i]);
    Onnx__TypeProto__Tensor *tensor = keep(o, sizeof *tensor);
    onnx__type_proto__tensor__init(tensor);
    tensor->has_elem_type = true;
    tensor->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    Onnx__TypeProto *type = keep(o, sizeof *type);
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    Onnx__ValueInfoProto *v = keep(o, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = use_name(o, name);
    v->type = type;
    o->io[input ? 0 : 1] = v;
}

/* An initializer's message: dims and little-endian raw data. */
static void add_init(OnnxOut *o, const char *name, const Shape *s, int dtype, const void *data,
                     size_t elem)
{
    Onnx__TensorProto *t = keep(o, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = use_name(o, name);
    t->has_data_type = true;
    t->data_type = dtype;
    t->n_dims = (size_t)s->rank;
    t->dims = keep(o, (size_t)s->rank * sizeof *t->dims);
    memcpy(t->dims, s->d, (size_t)s->rank * sizeof *t->dims);
    size_t bytes = (size_t)shape_numel(s) * elem;
    unsigned char *raw = keep(o, bytes);
    const unsigned char *src = data;
    for (size_t i = 0; i < bytes; i += elem) { /* little-endian whatever the host */
        uint64_t v;
        uint32_t u;
        if (elem == 1)
            v = src[i];
        else if (elem == 4)
            memcpy(&u, src + i, 4), v = u;
        else
            memcpy(&v, src + i, 8);
        for (size_t k = 0; k < elem; k++)
            raw[i + k] = (unsigned char)(v >> (8 * k));
    }
    t->has_raw_data = true;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    grow_array(&o->init, &o->initcap, o->ninit + 1, sizeof *o->init);
    o->init[o->ninit++] = t;
}

void onnx_out_init_f32(OnnxOut *o, const char *name, const Shape *s, const float *data)
{
    add_init(o, name, s, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, data, sizeof *data);
}

void onnx_out_init_i64(OnnxOut *o, const char *name, const Shape *s, const int64_t *data)
{
    add_init(o, name, s, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, data, sizeof *data);
}

void onnx_out_init_int(OnnxOut *o, const char *name, const Shape *s, const int32_t *data,
                       int dtype)
{
    if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        add_init(o, name, s, dtype, data, sizeof *data);
        return;
    }
    int64_t n = shape_numel(s);
    unsigned char *bytes = keep(o, (size_t)n);
    for (int64_t i = 0; i < n; i++) /* two's complement, or uint8 as is */
        bytes[i] = (unsigned char)(data[i] & 0xff);
    add_init(o, name, s, dtype, bytes, 1);
}

void onnx_out_quant(OnnxOut *o, const char *base, const Quant *q, int dtype, const char **scale,
                    const char **zero)
{
    Shape s = q->n > 1 ? shape_make(1, (int64_t[]){q->n}) : (Shape){0};
    char *sb = xasprintf("%s_scale", base), *zb = xasprintf("%s_zero_point", base);
    *scale = onnx_out_fresh(o, sb);
    *zero = onnx_out_fresh(o, zb);
    onnx_out_init_f32(o, *scale, &s, q->scale);
    onnx_out_init_int(o, *zero, &s, q->zero_point, dtype);
    free(sb);
    free(zb);
}

Onnx__NodeProto *onnx_out_node(OnnxOut *o, const char *op_type, const char *name,
                               const char *const *inputs, int ninputs, const char *output)
{
    Onnx__NodeProto *n = keep(o, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = keep_str(o, op_type);
    n->name = keep_str(o, name);
    n->n_input = (size_t)ninputs;
    n->input = keep(o, (size_t)ninputs * sizeof *n->input);
    for (int i = 0; i < ninputs; i++)
        n->input[i] = keep_str(o, inputs[i] ? inputs[i] : "");
    n->n_output = 1;
    n->output = keep(o, sizeof *n->output);
    n->output[0] = use_name(o, output);
    grow_array(&o->node, &o->nodecap, o->nnode + 1, sizeof *o->node);
    o->node[o->nnode++] = n;
    return n;
}

static Onnx__AttributeProto *attr(OnnxOut *o, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = keep(o, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = keep_str(o, name);
    a->has_type = true;
    a->type = type;
    Onnx__AttributeProto **list = keep(o, (n->n_attribute + 1) * sizeof *list);
    if (n->n_attribute)
        memcpy(list, n->attribute, n->n_attribute * sizeof *list);
    list[n->n_attribute++] = a;
    n->attribute = list;
    return a;
}

void onnx_attr_int(OnnxOut *o, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = true;
    a->i = v;
}

void onnx_attr_ints(OnnxOut *o, Onnx__NodeProto *n, const char *name, const int64_t *v,
                    int count)
{
    Onnx__AttributeProto *a = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)count;
    a->ints = keep(o, (size_t)count * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *a->ints);
}

void onnx_attr_float(OnnxOut *o, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = true;
    a->f = v;
}

void onnx_attr_string(OnnxOut *o, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr(o, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = true;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)keep_str(o, v);
}

bool onnx_out_write(OnnxOut *o, const char *path)
{
    o->graph.n_node = (size_t)o->nnode;
    o->graph.node = o->node;
    o->graph.n_initializer = (size_t)o->ninit;
    o->graph.initializer = o->init;
    o->graph.n_input = o->graph.n_output = 1;
    o->graph.input = &o->io[0];
    o->graph.output = &o->io[1];
    size_t size = onnx__model_proto__get_packed_size(&o->model);
    uint8_t *buf = xmalloc(size ? size : 1);
    onnx__model_proto__pack(&o->model, buf);
    bool ok = write_file_atomic(path, buf, size);
    free(buf);
    return ok;
}
