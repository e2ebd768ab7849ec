// ort_run.js: ONNX Runtime (npm onnxruntime-node) as a test oracle.
// usage: node ort_run.js MODEL.onnx IN.bin OUT.bin DIM...
// IN.bin holds float32 little-endian values of shape DIM... for the model's
// one input; OUT.bin receives its first output's float32 values, and the
// last line on stdout is `shape: D0 D1 ...` (the output's shape).
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
    const [model, inPath, outPath, ...dimArgs] = process.argv.slice(2);
    const dims = dimArgs.map((d) => parseInt(d, 10));
    const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'disabled',
    });
    const raw = fs.readFileSync(inPath);
    const data = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
    const result = await session.run(feeds);
    const out = result[session.outputNames[0]];
    fs.writeFileSync(outPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
    console.log('shape: ' + out.dims.join(' '));
}

main().catch((e) => {
    console.error(String(e));
    process.exit(1);
});
