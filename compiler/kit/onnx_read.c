/* onnx_read.c: an .onnx file into a ModelProto, and TensorProtos into
 * constants, without trusting a byte of either.
 *
 * The file's size is capped before it is read; its protobuf nesting is
 * checked by walking the wire format against protobuf-c's descriptors before
 * protobuf-c (which recurses without limit) unpacks it. A tensor's dims are
 * checked for sign and overflow before its data is sized, and the data must
 * hold exactly that many elements. External data is read only from files
 * inside the model's folder. */
#include "onnx_kit.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool read_file(const char *path, const char *shown, int64_t offset, int64_t length,
                      uint8_t **data, size_t *size)
{
    Loc loc = {shown, 0, 0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(loc, "cannot open '%s': %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        diag_error(loc, "'%s' is not a regular file", path);
        fclose(f);
        return false;
    }
    int64_t fsize = st.st_size;
    if (length < 0)
        length = fsize - offset;
    if (fsize > ONNX_MAX_FILE_BYTES || offset < 0 || offset > fsize || length > fsize - offset) {
        diag_error(loc, "'%s': %lld bytes at offset %lld do not fit in the file (%lld bytes, "
                   "limit %lld)", path, (long long)length, (long long)offset, (long long)fsize,
                   (long long)ONNX_MAX_FILE_BYTES);
        fclose(f);
        return false;
    }
    uint8_t *buf = xmalloc((size_t)length);
    bool ok = fseek(f, (long)offset, SEEK_SET) == 0 &&
              fread(buf, 1, (size_t)length, f) == (size_t)length;
    fclose(f);
    if (!ok) {
        diag_error(loc, "cannot read '%s'", path);
        free(buf);
        return false;
    }
    *data = buf;
    *size = (size_t)length;
    return true;
}

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Walks one message's wire format; false if malformed or nested deeper
 * than ONNX_MAX_DEPTH. */
static bool check_message(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                          const uint8_t *end, int depth)
{
    if (depth > ONNX_MAX_DEPTH)
        return false;
    while (p < end) {
        uint64_t key, len;
        if (!get_varint(&p, end, &key))
            return false;
        switch (key & 7) {
        case 0:
            if (!get_varint(&p, end, &len))
                return false;
            break;
        case 1:
            if (end - p < 8)
                return false;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return false;
            p += 4;
            break;
        case 2: {
            if (!get_varint(&p, end, &len) || len > (uint64_t)(end - p))
                return false;
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= INT_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3))
                                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !check_message(f->descriptor, p, p + len, depth + 1))
                return false;
            p += len;
            break;
        }
        default:
            return false; /* groups are not used by ONNX */
        }
    }
    return true;
}

Onnx__ModelProto *onnx_read_model(const char *path)
{
    Loc loc = {path, 0, 0};
    uint8_t *data;
    size_t size;
    if (!read_file(path, path, 0, -1, &data, &size))
        return NULL;
    Onnx__ModelProto *m = NULL;
    if (size == 0)
        diag_error(loc, "empty file, not an ONNX model");
    else if (!check_message(&onnx__model_proto__descriptor, data, data + size, 0))
        diag_error(loc, "not an ONNX model: malformed protobuf (truncated, garbage, or nested "
                   "deeper than %d)", ONNX_MAX_DEPTH);
    else if (!(m = onnx__model_proto__unpack(NULL, size, data)))
        diag_error(loc, "not an ONNX model: protobuf decoding failed");
    free(data);
    return m;
}

int64_t checked_numel(Onnx *o, const Shape *s, const char *what)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 0) {
            diag_error(o->loc, "%s: negative dimension %lld", what, (long long)s->d[i]);
            return -1;
        }
        if (mul_overflows(n, s->d[i], &n) || n > ONNX_MAX_NUMEL) {
            diag_error(o->loc, "%s: too many elements (limit %lld)", what,
                       (long long)ONNX_MAX_NUMEL);
            return -1;
        }
    }
    return n;
}

void const_free(Const *c)
{
    free(c->f);
    free(c->i);
    quant_free(c->q);
    c->f = NULL;
    c->i = NULL;
    c->q = NULL;
}

static const char *dtype_name(int t)
{
    static const char *const names[] = {"undefined", "float32", "uint8", "int8", "uint16",
                                        "int16", "int32", "int64", "string", "bool", "float16",
                                        "float64", "uint32", "uint64", "complex64", "complex128",
                                        "bfloat16"};
    return t >= 0 && t < (int)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

/* Is `rel` a plain relative path that stays inside its folder? */
static bool path_stays_inside(const char *rel)
{
    if (!*rel || rel[0] == '/' || strchr(rel, '\\'))
        return false;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

/* Reads an external tensor's bytes from beside the model. */
static bool read_external(Onnx *o, const Onnx__TensorProto *t, const char *what,
                          int64_t want, uint8_t **data)
{
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t k = 0; k < t->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = t->external_data[k];
        if (!e->key || !e->value)
            continue;
        char *end;
        errno = 0;
        if (strcmp(e->key, "location") == 0)
            location = e->value;
        else if (strcmp(e->key, "offset") == 0 || strcmp(e->key, "length") == 0) {
            long long v = strtoll(e->value, &end, 10);
            if (*end || end == e->value || errno || v < 0) {
                diag_error(o->loc, "%s: bad external data %s '%s'", what, e->key, e->value);
                return false;
            }
            *(strcmp(e->key, "offset") == 0 ? &offset : &length) = v;
        }
    }
    if (!location) {
        diag_error(o->loc, "%s: external data without a location", what);
        return false;
    }
    if (!path_stays_inside(location)) {
        diag_error(o->loc, "%s: external data location '%s' leaves the model's folder; refused",
                   what, location);
        return false;
    }
    if (length >= 0 && length != want) {
        diag_error(o->loc, "%s: external data length %lld, expected %lld bytes", what,
                   (long long)length, (long long)want);
        return false;
    }
    const char *slash = strrchr(o->path, '/');
    char *full = slash ? xasprintf("%.*s/%s", (int)(slash - o->path), o->path, location)
                       : xstrdup(location);
    /* A symbolic link could still lead out: compare the resolved folders. */
    char *real = realpath(full, NULL);
    int real_errno = errno;
    char *dir = slash ? xstrndup(o->path, (size_t)(slash - o->path)) : xstrdup(".");
    char *realdir = realpath(dir, NULL);
    size_t nd = realdir ? strlen(realdir) : 0;
    bool inside = real && realdir && strncmp(real, realdir, nd) == 0 && real[nd] == '/';
    size_t size = 0;
    bool ok = false;
    if (!real)
        diag_error(o->loc, "%s: cannot open external data '%s': %s", what, full, strerror(real_errno));
    else if (!inside)
        diag_error(o->loc, "%s: external data '%s' resolves outside the model's folder; refused",
                   what, location);
    else
        ok = read_file(real, o->path, offset, want, data, &size);
    free(real);
    free(realdir);
    free(dir);
    free(full);
    return ok;
}

/* Bytes per element of the types cnnc reads. */
static size_t elem_size(int type)
{
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return 8;
    default: return 4;
    }
}

static bool decode_raw(Onnx *o, const Onnx__TensorProto *t, const char *what, const uint8_t *raw,
                       size_t len, Const *c)
{
    size_t esize = elem_size(t->data_type);
    if (len != (size_t)c->n * esize) {
        diag_error(o->loc, "%s: raw_data holds %zu bytes, its shape needs %lld", what, len,
                   (long long)c->n * (long long)esize);
        return false;
    }
    if (len == 0) /* nothing to copy, and raw may be NULL */
        return true;
    /* Little-endian on the wire, as on every host we build for. */
    if (c->dtype == CONST_F32)
        memcpy(c->f, raw, len);
    else if (esize == 8)
        memcpy(c->i, raw, len);
    else if (esize == 1)
        for (int64_t k = 0; k < c->n; k++)
            c->i[k] = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? (int8_t)raw[k] : raw[k];
    else
        for (int64_t k = 0; k < c->n; k++) {
            int32_t v;
            memcpy(&v, raw + 4 * k, 4);
            c->i[k] = v;
        }
    return true;
}

static bool decode_typed(Onnx *o, const Onnx__TensorProto *t, const char *what, Const *c)
{
    size_t have = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT   ? t->n_float_data
                  : t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? t->n_int64_data
                                                                         : t->n_int32_data;
    if (have != (size_t)c->n) {
        diag_error(o->loc, "%s: holds %zu values, its shape needs %lld", what, have,
                   (long long)c->n);
        return false;
    }
    int64_t lo = INT32_MIN, hi = INT32_MAX; /* int8 and uint8 ride in int32_data */
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8)
        lo = -128, hi = 127;
    else if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8)
        lo = 0, hi = 255;
    for (int64_t k = 0; k < c->n; k++) {
        if (c->dtype == CONST_F32)
            c->f[k] = t->float_data[k];
        else if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
            c->i[k] = t->int64_data[k];
        else
            c->i[k] = t->int32_data[k];
        if (c->dtype != CONST_F32 && t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 &&
            (c->i[k] < lo || c->i[k] > hi)) {
            diag_error(o->loc, "%s: value %lld is out of range for %s", what, (long long)c->i[k],
                       dtype_name(t->data_type));
            return false;
        }
    }
    return true;
}

bool onnx_tensor_const(Onnx *o, const Onnx__TensorProto *t, const char *what, Const *c)
{
    memset(c, 0, sizeof *c);
    int dt = t->data_type;
    if (dt != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && dt != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 &&
        dt != ONNX__TENSOR_PROTO__DATA_TYPE__INT32 && dt != ONNX__TENSOR_PROTO__DATA_TYPE__INT8 &&
        dt != ONNX__TENSOR_PROTO__DATA_TYPE__UINT8) {
        diag_error(o->loc, "%s: data type %s is not supported (float32; int64/int32 for shapes "
                   "and axes; int8/uint8/int32 for quantized models)", what, dtype_name(dt));
        return false;
    }
    if (t->segment) {
        diag_error(o->loc, "%s: segmented tensors are not supported", what);
        return false;
    }
    if (t->n_dims > MAX_RANK) {
        diag_error(o->loc, "%s: rank %zu exceeds %d", what, t->n_dims, MAX_RANK);
        return false;
    }
    c->dtype = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? CONST_F32 : CONST_I64;
    c->elem = dt;
    c->shape = shape_make((int)t->n_dims, t->dims);
    c->n = checked_numel(o, &c->shape, what);
    if (c->n < 0)
        return false;
    if (c->dtype == CONST_F32)
        c->f = xmalloc((size_t)c->n * sizeof *c->f);
    else
        c->i = xmalloc((size_t)c->n * sizeof *c->i);
    bool ok;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        uint8_t *data = NULL;
        int64_t esize = (int64_t)elem_size(dt);
        ok = read_external(o, t, what, c->n * esize, &data) &&
             decode_raw(o, t, what, data, (size_t)(c->n * esize), c);
        free(data);
    } else if (t->has_raw_data) {
        ok = decode_raw(o, t, what, t->raw_data.data, t->raw_data.len, c);
    } else {
        ok = decode_typed(o, t, what, c);
    }
    if (!ok)
        const_free(c);
    return ok;
}
