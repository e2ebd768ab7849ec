// ort_run.js: ONNX Runtime (onnxruntime-node) as an oracle for tests/int8.
// usage: node ort_run.js MODEL.onnx IN.raw D0,D1,... OUT.raw [all|disabled]
// Reads IN.raw (float32, little-endian, shape D0,D1,...), runs the model's
// first input and output on one thread, writes the output as float32 to
// OUT.raw and its shape to stdout. Graph optimisations: "disabled" (the
// default) runs a QDQ model as ONNX defines it, DequantizeLinear -> the
// float operator -> QuantizeLinear; "all" fuses QDQ groups into ONNX
// Runtime's integer kernels, which on x86 without VNNI saturate u8 x s8
// products in int16 pairs (vpmaddubsw) for full-range int8 weights.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
    const [model, inPath, dims, outPath, level] = process.argv.slice(2);
    const shape = dims.split(',').map((d) => parseInt(d, 10));
    const buf = fs.readFileSync(inPath);
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: level || 'disabled',
    });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
    const out = (await session.run(feeds))[session.outputNames[0]];
    fs.writeFileSync(outPath, Buffer.from(new Float32Array(out.data).buffer));
    console.log(out.dims.join(','));
}

main().catch((e) => {
    console.error(String(e));
    process.exit(1);
});
