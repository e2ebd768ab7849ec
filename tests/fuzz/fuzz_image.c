/* fuzz_image.c: libFuzzer harness for runtime/image.c's PGM/PPM reader.
 *
 * Takes arbitrary bytes as a whole image file; gives no crash, leak,
 * overflow or undefined behaviour under ASan/UBSan, whatever the bytes.
 * An image the reader accepts is also checked against a model of its own
 * size and converted, normalised, into a sample, and every sample must
 * come out finite. Seeds: tests/fuzz/seeds/image/ (8- and 16-bit P5 and
 * P6, a comment in the header, a truncated raster).
 *
 *     clang -g -O1 -fsanitize=fuzzer,address,undefined -Iruntime \
 *         tests/fuzz/fuzz_image.c runtime/image.c -lm -o fuzz_image
 *     ./fuzz_image -max_len=4096 tests/fuzz/seeds/image */
#include "image.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const float mean[3] = {0.5f, 0.25f, 0.125f}, inv_std[3] = {4.0f, 2.0f, 1.0f};
    char err[CNNC_IMAGE_ERR_SIZE];
    CnncImage im;
    if (cnnc_image_parse(data, size, &im, err, sizeof err) != 0)
        return 0;
    CnncImageSpec spec = {im.channels, im.height, im.width, mean, inv_std};
    size_t count = (size_t)im.channels * (size_t)im.height * (size_t)im.width;
    float *x = malloc(count * sizeof *x);
    if (x && cnnc_image_check(&im, &spec, err, sizeof err) == 0) {
        cnnc_image_to_input(&im, &spec, x);
        for (size_t i = 0; i < count; i++)
            if (!isfinite(x[i]) || x[i] < -2.0f || x[i] > 8.0f)
                abort(); /* samples lie in [0, 1] before the normalisation */
    }
    free(x);
    cnnc_image_free(&im);
    return 0;
}
