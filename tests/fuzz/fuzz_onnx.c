/* fuzz_onnx.c: libFuzzer on the ONNX loader and what `cnnc MODEL.onnx`
 * does after it. Takes any bytes as an .onnx file; the protobuf-c unpack,
 * the header and node checks, constant folding, lowering, shape inference,
 * fusion, code generation and the interpreter (fuzz_model) must report
 * errors or succeed, never crash, leak or hang. An odd-sized input is
 * compiled as a --train build. */
#include "fuzz.h"

#include "cnnc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diag_reset();
    fuzz_model(fuzz_write("model.onnx", data, size), NULL, size % 2 == 1);
    fuzz_clear();
    return 0;
}
