/* npy.c: the .npy reader and writer declared in npy.h.
 *
 * A .npy file is the magic "\x93NUMPY", a version byte pair, the header
 * length (2 bytes in format 1.0, 4 in 2.0 and 3.0, little-endian), a Python
 * dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape':
 * (2, 3), } padded with spaces and a newline, then the raw data.
 *
 * The reader trusts nothing: the header is parsed with bounds checks, the
 * shape's product is checked for overflow and compared with the bytes the
 * file actually holds before anything is allocated, so a hostile file costs
 * an error message, never a crash or a huge allocation. Static helpers are
 * prefixed npy_ because generated programs paste several runtime files into
 * one translation unit. */
#include "npy.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Appends s to out (size bytes), always NUL-terminated; *len counts the
 * full length, like snprintf's return value. */
static void npy_put(char *out, size_t size, size_t *len, const char *s)
{
    for (; *s; s++, (*len)++)
        if (*len + 1 < size)
            out[*len] = *s;
    if (size)
        out[*len < size ? *len : size - 1] = '\0';
}

CNNC_RT_API size_t cnnc_npy_shape_str(const int64_t *shape, int rank, char *out, size_t size)
{
    char num[32];
    size_t len = 0;
    npy_put(out, size, &len, "(");
    for (int i = 0; i < rank; i++) {
        snprintf(num, sizeof num, i ? ", %lld" : "%lld", (long long)shape[i]);
        npy_put(out, size, &len, num);
    }
    npy_put(out, size, &len, rank == 1 ? ",)" : ")");
    return len;
}

CNNC_RT_API size_t cnnc_npy_escape(const char *name, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0;
    if (size)
        out[0] = '\0';
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned c = *p;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        char piece[4] = {(char)c, '\0', '\0', '\0'};
        if (!plain) {
            piece[0] = '%';
            piece[1] = hex[c >> 4];
            piece[2] = hex[c & 15];
        }
        npy_put(out, size, &len, piece);
    }
    return len;
}

CNNC_RT_API size_t cnnc_npy_param_path(const char *dir, const char *name, char *out, size_t size)
{
    size_t len = 0, dlen = strlen(dir);
    if (size)
        out[0] = '\0';
    npy_put(out, size, &len, dir);
    if (dlen > 0 && dir[dlen - 1] != '/')
        npy_put(out, size, &len, "/");
    len += cnnc_npy_escape(name, len < size ? out + len : NULL, len < size ? size - len : 0);
    npy_put(out, size, &len, ".npy");
    return len;
}

static const char *npy_type_descr(CnncNpyType t)
{
    return t == CNNC_NPY_F32 ? "float32 ('<f4')" : t == CNNC_NPY_I32 ? "int32 ('<i4')" : "int64 ('<i8')";
}

static size_t npy_type_size(CnncNpyType t)
{
    return t == CNNC_NPY_I64 ? 8 : 4;
}

static int npy_host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Reverses the bytes of each of `count` values of `width` bytes. */
static void npy_swap(unsigned char *p, size_t count, size_t width)
{
    for (size_t i = 0; i < count; i++, p += width)
        for (size_t j = 0; j < width / 2; j++) {
            unsigned char t = p[j];
            p[j] = p[width - 1 - j];
            p[width - 1 - j] = t;
        }
}

/* ---- the header dict ---- */

typedef struct {
    const char *p, *end;
    char descr[32];
    int fortran;
    int rank;
    int64_t shape[CNNC_NPY_MAX_RANK];
} NpyHeader;

static void npy_skip_space(NpyHeader *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

/* Consumes c (after blanks) if it is next. */
static int npy_accept(NpyHeader *h, char c)
{
    npy_skip_space(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, into out. */
static int npy_string(NpyHeader *h, char *out, size_t size, char *err, size_t errsize)
{
    npy_skip_space(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) {
        snprintf(err, errsize, "malformed .npy header: expected a quoted string");
        return -1;
    }
    char quote = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != quote) {
        if (*h->p == '\\' || n + 1 >= size) {
            snprintf(err, errsize, "malformed .npy header: unexpected string");
            return -1;
        }
        out[n++] = *h->p++;
    }
    if (h->p >= h->end) {
        snprintf(err, errsize, "malformed .npy header: unterminated string");
        return -1;
    }
    h->p++;
    out[n] = '\0';
    return 0;
}

static int npy_word(NpyHeader *h, const char *w)
{
    size_t n = strlen(w);
    npy_skip_space(h);
    if ((size_t)(h->end - h->p) >= n && memcmp(h->p, w, n) == 0) {
        h->p += n;
        return 1;
    }
    return 0;
}

/* A non-negative integer dimension. */
static int npy_dim(NpyHeader *h, int64_t *out, char *err, size_t errsize)
{
    npy_skip_space(h);
    if (h->p < h->end && *h->p == '-') {
        snprintf(err, errsize, "negative dimension in the .npy shape");
        return -1;
    }
    if (h->p >= h->end || *h->p < '0' || *h->p > '9') {
        snprintf(err, errsize, "malformed .npy header: expected a dimension in 'shape'");
        return -1;
    }
    int64_t v = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
        int digit = *h->p++ - '0';
        if (v > (INT64_MAX - digit) / 10) {
            snprintf(err, errsize, "dimension too large in the .npy shape");
            return -1;
        }
        v = v * 10 + digit;
    }
    if (h->p < h->end && *h->p == 'L') /* written by Python 2's NumPy */
        h->p++;
    *out = v;
    return 0;
}

/* (d0, d1, ...), with Python's optional trailing comma. */
static int npy_shape(NpyHeader *h, char *err, size_t errsize)
{
    if (!npy_accept(h, '(')) {
        snprintf(err, errsize, "malformed .npy header: 'shape' is not a tuple");
        return -1;
    }
    h->rank = 0;
    while (!npy_accept(h, ')')) {
        if (h->rank == CNNC_NPY_MAX_RANK) {
            snprintf(err, errsize, "the .npy array has more than %d dimensions",
                     CNNC_NPY_MAX_RANK);
            return -1;
        }
        if (npy_dim(h, &h->shape[h->rank++], err, errsize) < 0)
            return -1;
        if (!npy_accept(h, ',')) {
            if (npy_accept(h, ')'))
                break;
            snprintf(err, errsize, "malformed .npy header: expected ',' or ')' in 'shape'");
            return -1;
        }
    }
    return 0;
}

/* The dict: exactly the keys descr, fortran_order and shape, any order. */
static int npy_header(NpyHeader *h, char *err, size_t errsize)
{
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (!npy_accept(h, '{')) {
        snprintf(err, errsize, "malformed .npy header: expected '{'");
        return -1;
    }
    while (!npy_accept(h, '}')) {
        char key[32];
        if (npy_string(h, key, sizeof key, err, errsize) < 0)
            return -1;
        if (!npy_accept(h, ':')) {
            snprintf(err, errsize, "malformed .npy header: expected ':' after '%s'", key);
            return -1;
        }
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = 1;
            npy_skip_space(h);
            if (h->p < h->end && *h->p == '[') {
                snprintf(err, errsize, "structured dtypes are not supported (cnnc reads '<f4' "
                                       "data and '<i4'/'<i8' labels)");
                return -1;
            }
            if (npy_string(h, h->descr, sizeof h->descr, err, errsize) < 0)
                return -1;
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
            seen_fortran = 1;
            if (npy_word(h, "True"))
                h->fortran = 1;
            else if (npy_word(h, "False"))
                h->fortran = 0;
            else {
                snprintf(err, errsize, "malformed .npy header: 'fortran_order' is not True or False");
                return -1;
            }
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = 1;
            if (npy_shape(h, err, errsize) < 0)
                return -1;
        } else {
            snprintf(err, errsize, "malformed .npy header: unexpected or repeated key '%s'", key);
            return -1;
        }
        if (!npy_accept(h, ',')) {
            if (npy_accept(h, '}'))
                break;
            snprintf(err, errsize, "malformed .npy header: expected ',' or '}'");
            return -1;
        }
    }
    npy_skip_space(h);
    if (h->p != h->end) {
        snprintf(err, errsize, "malformed .npy header: text after the closing '}'");
        return -1;
    }
    if (!seen_descr || !seen_fortran || !seen_shape) {
        snprintf(err, errsize, "malformed .npy header: missing key '%s'",
                 !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
        return -1;
    }
    return 0;
}

static int npy_dtype(const char *descr, CnncNpyType *type, char *err, size_t errsize)
{
    if (strcmp(descr, "<f4") == 0)
        *type = CNNC_NPY_F32;
    else if (strcmp(descr, "<i4") == 0)
        *type = CNNC_NPY_I32;
    else if (strcmp(descr, "<i8") == 0)
        *type = CNNC_NPY_I64;
    else if (descr[0] == '>') {
        snprintf(err, errsize, "big-endian dtype '%s' is not supported; "
                               "convert with a.astype('<%s')", descr, descr + 1);
        return -1;
    } else {
        snprintf(err, errsize, "unsupported dtype '%s' (cnnc reads '<f4' data and "
                               "'<i4'/'<i8' labels; convert with a.astype(np.float32))", descr);
        return -1;
    }
    return 0;
}

/* ---- reading ---- */

/* Reads the prelude and header of f (size bytes long); on success
 * *data_bytes holds the bytes that remain after the header. */
static int npy_read_header(FILE *f, long size, NpyHeader *h, CnncNpy *a, int64_t *data_bytes,
                           char *err, size_t errsize)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (got < 6 || memcmp(pre, npy_magic, 6) != 0) {
        snprintf(err, errsize, "not a .npy file (bad magic)");
        return -1;
    }
    if (got < 8) {
        snprintf(err, errsize, "truncated .npy header");
        return -1;
    }
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
        snprintf(err, errsize, "unsupported .npy format version %d.%d (cnnc reads 1.0, 2.0, 3.0)",
                 pre[6], pre[7]);
        return -1;
    }
    size_t lenbytes = pre[6] == 1 ? 2 : 4;
    if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
        snprintf(err, errsize, "truncated .npy header");
        return -1;
    }
    uint32_t hlen = pre[8] | (uint32_t)pre[9] << 8;
    if (lenbytes == 4)
        hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    int64_t rest = (int64_t)size - 8 - (int64_t)lenbytes;
    if ((int64_t)hlen > rest) {
        snprintf(err, errsize, "header length %lu goes beyond the end of the file (%ld bytes)",
                 (unsigned long)hlen, size);
        return -1;
    }
    char *text = malloc(hlen ? hlen : 1);
    if (!text) {
        snprintf(err, errsize, "out of memory reading the header");
        return -1;
    }
    int rc = -1;
    if (fread(text, 1, hlen, f) != hlen)
        snprintf(err, errsize, "truncated .npy header");
    else {
        h->p = text;
        h->end = text + hlen;
        rc = npy_header(h, err, errsize);
    }
    free(text);
    h->p = h->end = NULL;
    if (rc < 0 || npy_dtype(h->descr, &a->type, err, errsize) < 0)
        return -1;
    /* Column-major order is the same layout when at most one dim exceeds 1. */
    int big_dims = 0;
    for (int i = 0; i < h->rank; i++)
        big_dims += h->shape[i] > 1;
    if (h->fortran && big_dims > 1) {
        snprintf(err, errsize, "fortran_order True is not supported; "
                               "save np.ascontiguousarray(a) instead");
        return -1;
    }
    *data_bytes = rest - hlen;
    return 0;
}

/* Sets a->count from the shape; checks the file holds exactly its bytes. */
static int npy_check_size(CnncNpy *a, int64_t data_bytes, char *err, size_t errsize)
{
    char shape[160];
    int64_t count = 1, width = (int64_t)npy_type_size(a->type);
    int zero = 0;
    for (int i = 0; i < a->rank; i++)
        zero |= a->shape[i] == 0;
    for (int i = 0; i < a->rank && !zero; i++) {
        if (count > INT64_MAX / width / a->shape[i]) {
            cnnc_npy_shape_str(a->shape, a->rank, shape, sizeof shape);
            snprintf(err, errsize, "shape %s has too many elements", shape);
            return -1;
        }
        count *= a->shape[i];
    }
    a->count = zero ? 0 : count;
    int64_t need = a->count * width;
    if (need != data_bytes || (uint64_t)need > SIZE_MAX) {
        cnnc_npy_shape_str(a->shape, a->rank, shape, sizeof shape);
        snprintf(err, errsize, "%s data of shape %s needs %lld bytes, the file holds %lld",
                 npy_type_descr(a->type), shape, (long long)need, (long long)data_bytes);
        return -1;
    }
    return 0;
}

static int npy_read_file(FILE *f, CnncNpy *a, char *err, size_t errsize)
{
    NpyHeader h;
    int64_t data_bytes;
    memset(&h, 0, sizeof h);
    if (fseek(f, 0, SEEK_END) != 0) {
        snprintf(err, errsize, "cannot determine the file's size (not a regular file?)");
        return -1;
    }
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errsize, "cannot determine the file's size (not a regular file?)");
        return -1;
    }
    if (npy_read_header(f, size, &h, a, &data_bytes, err, errsize) < 0)
        return -1;
    a->rank = h.rank;
    memcpy(a->shape, h.shape, sizeof h.shape);
    if (npy_check_size(a, data_bytes, err, errsize) < 0)
        return -1;
    size_t width = npy_type_size(a->type), bytes = (size_t)a->count * width;
    a->data = malloc(bytes ? bytes : 1);
    if (!a->data) {
        snprintf(err, errsize, "out of memory (%lld bytes)", (long long)bytes);
        return -1;
    }
    if (fread(a->data, 1, bytes, f) != bytes) {
        snprintf(err, errsize, "read error");
        return -1;
    }
    if (!npy_host_is_little_endian())
        npy_swap(a->data, (size_t)a->count, width);
    return 0;
}

CNNC_RT_API void cnnc_npy_free(CnncNpy *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

CNNC_RT_API int cnnc_npy_read(const char *path, CnncNpy *a, char *err, size_t errsize)
{
    memset(a, 0, sizeof *a);
    if (errsize)
        err[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsize, "cannot open the file for reading");
        return -1;
    }
    int rc = npy_read_file(f, a, err, errsize);
    fclose(f);
    if (rc < 0)
        cnnc_npy_free(a);
    return rc;
}

CNNC_RT_API int cnnc_npy_read_f32(const char *path, CnncNpy *a, char *err, size_t errsize)
{
    if (cnnc_npy_read(path, a, err, errsize) < 0)
        return -1;
    if (a->type != CNNC_NPY_F32) {
        snprintf(err, errsize, "expected float32 data ('<f4'), found %s; "
                               "convert with a.astype(np.float32)", npy_type_descr(a->type));
        cnnc_npy_free(a);
        return -1;
    }
    return 0;
}

CNNC_RT_API int cnnc_npy_labels(const CnncNpy *a, int32_t *out, int64_t nclass, char *err,
                                size_t errsize)
{
    if (a->type == CNNC_NPY_F32) {
        snprintf(err, errsize, "labels must be integers ('<i4' or '<i8'), found %s",
                 npy_type_descr(a->type));
        return -1;
    }
    if (a->rank != 1) {
        char shape[160];
        cnnc_npy_shape_str(a->shape, a->rank, shape, sizeof shape);
        snprintf(err, errsize, "labels must be one-dimensional, found shape %s", shape);
        return -1;
    }
    for (int64_t i = 0; i < a->count; i++) {
        int64_t v = a->type == CNNC_NPY_I32 ? ((const int32_t *)a->data)[i]
                                            : ((const int64_t *)a->data)[i];
        if (v < 0 || v >= nclass || v > INT32_MAX) {
            snprintf(err, errsize, "label %lld at index %lld is outside [0, %lld)", (long long)v,
                     (long long)i, (long long)nclass);
            return -1;
        }
        out[i] = (int32_t)v;
    }
    return 0;
}

/* ---- writing ---- */

/* The format 1.0 prelude and header, padded so that the data starts at a
 * multiple of 64 bytes as NumPy does. Returns the total length. */
static size_t npy_header_bytes(int rank, const int64_t *shape, char *out, size_t size)
{
    char tuple[CNNC_NPY_MAX_RANK * 24 + 8];
    cnnc_npy_shape_str(shape, rank, tuple, sizeof tuple);
    int n = snprintf(out + 10, size - 10,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", tuple);
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    memset(out + 10 + n, ' ', total - 10 - (size_t)n - 1);
    out[total - 1] = '\n';
    memcpy(out, npy_magic, 6);
    out[6] = 1;
    out[7] = 0;
    out[8] = (char)((total - 10) & 0xff);
    out[9] = (char)((total - 10) >> 8);
    return total;
}

/* Writes count floats little-endian. */
static int npy_write_floats(FILE *f, const float *data, size_t count)
{
    if (npy_host_is_little_endian())
        return fwrite(data, 4, count, f) == count ? 0 : -1;
    unsigned char chunk[4096];
    while (count > 0) {
        size_t n = count < sizeof chunk / 4 ? count : sizeof chunk / 4;
        memcpy(chunk, data, n * 4);
        npy_swap(chunk, n, 4);
        if (fwrite(chunk, 4, n, f) != n)
            return -1;
        data += n;
        count -= n;
    }
    return 0;
}

CNNC_RT_API int cnnc_npy_write_f32(const char *path, const float *data, int rank,
                                   const int64_t *shape, char *err, size_t errsize)
{
    char header[CNNC_NPY_MAX_RANK * 24 + 128];
    int64_t count = 1;
    if (rank < 0 || rank > CNNC_NPY_MAX_RANK) {
        snprintf(err, errsize, "cannot write a .npy array of rank %d", rank);
        return -1;
    }
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && count > INT64_MAX / 4 / shape[i])) {
            snprintf(err, errsize, "cannot write a .npy array with dimension %lld",
                     (long long)shape[i]);
            return -1;
        }
        count *= shape[i];
    }
    size_t hlen = npy_header_bytes(rank, shape, header, sizeof header);
    char *tmp = malloc(strlen(path) + 5);
    if (!tmp) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    strcpy(tmp, path);
    strcat(tmp, ".tmp");
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errsize, "cannot create the file (is the folder missing or read-only?)");
        free(tmp);
        return -1;
    }
    int bad = fwrite(header, 1, hlen, f) != hlen;
    bad |= !bad && npy_write_floats(f, data, (size_t)count) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errsize, bad ? "write error (disk full?)" : "cannot rename the written file "
                                                                   "into place");
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
