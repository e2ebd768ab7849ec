/* fuzz_npy.c: libFuzzer on the .npy and label readers (runtime/npy.c),
 * which cnnc and every generated program use on the user's files.
 *
 * Takes any bytes as a .npy file. Reading must fail with a message or give
 * an array whose count is its shape's product; a float32 array written
 * back and read again must come back bit for bit; integer labels either
 * fail with a message or all lie in [0, 10). The first bytes, as a
 * parameter name, must escape (contract section 5) into [A-Za-z0-9._-]
 * and %XX only. Any breach aborts, which libFuzzer reports. */
#include "fuzz.h"

#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_CLASSES 10

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_npy: %s\n", what);
        abort();
    }
}

static void check_shape(const CnncNpy *a)
{
    int64_t count = 1;
    int zero = 0, overflow = 0;
    require(a->rank >= 0 && a->rank <= CNNC_NPY_MAX_RANK, "rank out of range");
    for (int i = 0; i < a->rank; i++) {
        require(a->shape[i] >= 0, "negative dimension");
        zero |= a->shape[i] == 0;
        overflow |= __builtin_mul_overflow(count, a->shape[i], &count);
    }
    require(zero ? a->count == 0 : !overflow && count == a->count,
            "count is not the shape's product");
}

static void round_trip(const CnncNpy *a)
{
    char err[CNNC_NPY_ERR_SIZE];
    const char *path = fuzz_path("copy.npy");
    CnncNpy b;
    require(cnnc_npy_write_f32(path, a->data, a->rank, a->shape, err, sizeof err) == 0,
            "cannot write back what was read");
    require(cnnc_npy_read_f32(path, &b, err, sizeof err) == 0, "cannot read back what was written");
    require(b.rank == a->rank && memcmp(b.shape, a->shape, sizeof a->shape) == 0 &&
                b.count == a->count && memcmp(b.data, a->data, (size_t)a->count * 4) == 0,
            "the written copy differs");
    cnnc_npy_free(&b);
}

static void check_labels(const CnncNpy *a)
{
    char err[CNNC_NPY_ERR_SIZE] = "";
    int32_t *labels = malloc(sizeof *labels * (size_t)(a->count ? a->count : 1));
    if (cnnc_npy_labels(a, labels, LABEL_CLASSES, err, sizeof err) == 0) {
        require(a->rank == 1, "labels of rank other than 1 accepted");
        for (int64_t i = 0; i < a->count; i++)
            require(labels[i] >= 0 && labels[i] < LABEL_CLASSES, "a label out of range accepted");
    } else {
        require(err[0] != '\0', "labels refused without a message");
    }
    free(labels);
}

static void check_escape(const uint8_t *data, size_t size)
{
    char name[65], out[65 * 3 + 1];
    size_t n = size < 64 ? size : 64;
    memcpy(name, data, n);
    name[n] = '\0';
    size_t len = cnnc_npy_escape(name, out, sizeof out);
    require(len == strlen(out), "escape length differs from the text");
    for (size_t i = 0; i < len; i++) {
        char c = out[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        require(plain || (c == '%' && i + 2 < len), "escaped name holds a byte outside the set");
        i += c == '%' ? 2 : 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CNNC_NPY_ERR_SIZE] = "";
    CnncNpy a;
    const char *path = fuzz_write("a.npy", data, size);
    if (cnnc_npy_read(path, &a, err, sizeof err) == 0) {
        check_shape(&a);
        if (a.type == CNNC_NPY_F32)
            round_trip(&a);
        else
            check_labels(&a);
        cnnc_npy_free(&a);
    } else {
        require(err[0] != '\0' && a.data == NULL, "a failed read left no message or data behind");
    }
    check_escape(data, size);
    fuzz_clear();
    return 0;
}
