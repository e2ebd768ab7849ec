/* fuzz_dsl.c: libFuzzer on the DSL front end and what `cnnc MODEL.cnn`
 * does after it. Takes any bytes as a .cnn file; the scanner, the parser,
 * lowering, shape inference, the weights, fusion, code generation and the
 * interpreter (fuzz_model) must report errors or succeed, never crash,
 * leak or hang. An odd-sized input is compiled as a --train build. */
#include "fuzz.h"

#include "cnnc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diag_reset();
    fuzz_model(fuzz_write("model.cnn", data, size), NULL, size % 2 == 1);
    fuzz_clear();
    return 0;
}
