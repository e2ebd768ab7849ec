// ort_bench.js: ONNX Runtime (onnxruntime-node) on one thread, batch 1.
// usage: node ort_bench.js MODEL.onnx ITERS
// Prints `median_ms: X` over ITERS runs after 3 warm-up runs; the input is
// uniform in [-1, 1) (the timing does not depend on the values). With
// ORT_PROFILE=PREFIX in the environment, ONNX Runtime's profiler also
// writes every node's time per run to PREFIX_<date>.json.
const ort = require('onnxruntime-node');

async function main() {
    const [path, itersArg] = process.argv.slice(2);
    const iters = parseInt(itersArg || '20', 10);
    const session = await ort.InferenceSession.create(path, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableProfiling: !!process.env.ORT_PROFILE,
        profileFilePrefix: process.env.ORT_PROFILE || 'onnxruntime_profile',
    });
    const name = session.inputNames[0];
    const dims = session.inputMetadata
        ? session.inputMetadata[0].shape.map((d) => (typeof d === 'number' ? d : 1))
        : null;
    const shape = dims || JSON.parse(process.env.ORT_SHAPE);
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = Math.random() * 2 - 1;
    const feeds = { [name]: new ort.Tensor('float32', data, shape) };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    const times = [];
    for (let i = 0; i < iters; i++) {
        const t0 = process.hrtime.bigint();
        await session.run(feeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    if (process.env.ORT_PROFILE) session.endProfiling();
    times.sort((a, b) => a - b);
    const m = times.length >> 1;
    const median = times.length % 2 ? times[m] : (times[m - 1] + times[m]) / 2;
    console.log('median_ms: ' + median.toFixed(4));
}

main().catch((e) => {
    console.error(String(e));
    process.exit(1);
});
