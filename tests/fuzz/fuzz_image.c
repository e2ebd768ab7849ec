/* fuzz_image.c: libFuzzer on the PGM/PPM reader (runtime/image.c), which
 * `cnnc run` and every generated program's `infer` use on the user's
 * images.
 *
 * Takes any bytes as an image file. Parsing must fail with a message or
 * give a width, height and channel count within the reader's limits and
 * samples no larger than maxval; an image that fits the model it claims
 * (its own size) must convert into samples in [0, 1] without a
 * normalisation, and finite ones with a per-channel mean and std; the
 * same bytes read from a file must parse the same. Any breach aborts,
 * which libFuzzer reports. */
#include "fuzz.h"

#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_image: %s\n", what);
        abort();
    }
}

static void check_image(const CnncImage *im)
{
    size_t n = (size_t)im->width * (size_t)im->height * (size_t)im->channels;
    require(im->width >= 1 && im->height >= 1 && im->width <= CNNC_IMAGE_MAX_SIDE &&
                im->height <= CNNC_IMAGE_MAX_SIDE &&
                (long)im->width * im->height <= CNNC_IMAGE_MAX_PIXELS,
            "size beyond the limits accepted");
    require(im->channels == 1 || im->channels == 3, "channels other than 1 and 3");
    require(im->maxval >= 1 && im->maxval <= 65535, "maxval out of range");
    for (size_t i = 0; i < n; i++)
        require(im->samples[i] <= im->maxval, "a sample above maxval accepted");
}

/* The image into a model of its own shape: [0, 1] plain, finite normalised. */
static void check_input(const CnncImage *im)
{
    static const float mean[3] = {0.5f, 0.4f, 0.3f}, inv_std[3] = {4.0f, 5.0f, 6.0f};
    char err[CNNC_IMAGE_ERR_SIZE];
    CnncImageSpec spec = {im->channels, im->height, im->width, NULL, NULL};
    size_t n = (size_t)im->width * (size_t)im->height * (size_t)im->channels;
    if ((long)n > 1L << 20) /* slow, not wrong */
        return;
    float *x = malloc(n * sizeof *x);
    require(cnnc_image_check(im, &spec, err, sizeof err) == 0, "its own shape refused");
    cnnc_image_to_input(im, &spec, x);
    for (size_t i = 0; i < n; i++)
        require(x[i] >= 0 && x[i] <= 1, "a scaled sample outside [0, 1]");
    spec.mean = mean;
    spec.inv_std = inv_std;
    cnnc_image_to_input(im, &spec, x);
    for (size_t i = 0; i < n; i++)
        require(isfinite(x[i]), "a normalised sample not finite");
    spec.width++;
    require(cnnc_image_check(im, &spec, err, sizeof err) != 0 && err[0], "a wrong size accepted");
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CNNC_IMAGE_ERR_SIZE] = "", err2[CNNC_IMAGE_ERR_SIZE] = "";
    CnncImage im, again;
    int rc = cnnc_image_parse(data, size, &im, err, sizeof err);
    int rc2 = cnnc_image_read(fuzz_write("a.pgm", data, size), &again, err2, sizeof err2);
    require(rc == rc2, "the file and the bytes parse differently");
    if (rc == 0) {
        check_image(&im);
        check_input(&im);
        cnnc_image_free(&im);
        cnnc_image_free(&again);
    } else {
        require(err[0] != '\0', "an image refused without a message");
    }
    fuzz_clear();
    return 0;
}
