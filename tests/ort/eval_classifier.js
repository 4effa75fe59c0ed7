#!/usr/bin/env node
'use strict';
// Accuracy and latency of an image classifier in ONNX Runtime (CPU) on the Fashion-MNIST test
// set, fed as a deployer feeds it: raw pixels scaled to [0, 1], shape (N, 1, 28, 28).
//
//   node eval_classifier.js MODEL.onnx [--data-dir DIR] [--limit N] [--bench N] [--threads N]
//
// Prints one JSON line: {"model", "examples", "top1", "latency_ms", "threads"}; latency_ms is
// the median of --bench runs (default 200) of one image after a warm-up, null with --bench 0.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function usage(message) {
  if (message) process.stderr.write(`eval_classifier: ${message}\n`);
  process.stderr.write('usage: node eval_classifier.js MODEL.onnx [--data-dir DIR] [--limit N] [--bench N] [--threads N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { model: null, dataDir: '/usr/share/datasets/fashion-mnist', limit: 0, bench: 200, threads: 1 };
  const count = (flag, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${flag} needs an integer >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--data-dir') args.dataDir = value();
    else if (a === '--limit') args.limit = count(a, value(), 1);
    else if (a === '--bench') args.bench = count(a, value(), 0);
    else if (a === '--threads') args.threads = count(a, value(), 1);
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (args.model === null) args.model = a;
    else usage(`unexpected argument '${a}'`);
  }
  if (!args.model) usage('no model given');
  return args;
}

// An IDX file (gzip-compressed or not) as { dims, data: Uint8Array }.
function readIdx(base) {
  const file = fs.existsSync(`${base}.gz`) ? `${base}.gz` : base;
  let bytes = fs.readFileSync(file);
  if (file.endsWith('.gz')) bytes = zlib.gunzipSync(bytes);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) throw new Error(`${file}: not an IDX file of uint8`);
  const rank = bytes[3];
  const dims = [];
  for (let d = 0; d < rank; d++) dims.push(bytes.readUInt32BE(4 + 4 * d));
  return { dims, data: bytes.subarray(4 + 4 * rank) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write(`eval_classifier: onnxruntime-node is not installed: run tests/ort/setup.sh (${e.message})\n`);
    process.exit(3);
  }
  const images = readIdx(path.join(args.dataDir, 't10k-images-idx3-ubyte'));
  const labels = readIdx(path.join(args.dataDir, 't10k-labels-idx1-ubyte'));
  const n = args.limit ? Math.min(args.limit, images.dims[0]) : images.dims[0];
  const pixels = images.dims[1] * images.dims[2];

  const session = await ort.InferenceSession.create(args.model, {
    executionProviders: ['cpu'], intraOpNumThreads: args.threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', logSeverityLevel: 3,
  });
  const input = session.inputNames[0], output = session.outputNames[0];
  const batchOf = (begin, end) => {
    const x = new Float32Array((end - begin) * pixels);
    for (let i = 0; i < x.length; i++) x[i] = images.data[begin * pixels + i] / 255;
    return new ort.Tensor('float32', x, [end - begin, 1, images.dims[1], images.dims[2]]);
  };

  let hits = 0;
  const batch = 500;
  for (let begin = 0; begin < n; begin += batch) {
    const end = Math.min(n, begin + batch);
    const logits = (await session.run({ [input]: batchOf(begin, end) }))[output];
    const classes = Number(logits.dims[1]);
    for (let i = 0; i < end - begin; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits.data[i * classes + c] > logits.data[i * classes + best]) best = c;
      hits += best === labels.data[begin + i] ? 1 : 0;
    }
  }

  let latency = null;
  if (args.bench > 0) {
    const one = { [input]: batchOf(0, 1) };
    await session.run(one);
    const ms = [];
    for (let i = 0; i < args.bench; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(one);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    ms.sort((a, b) => a - b);
    latency = ms[Math.floor(ms.length / 2)];
  }
  process.stdout.write(`${JSON.stringify({ model: args.model, examples: n, top1: hits / n, latency_ms: latency,
    threads: args.threads })}\n`);
}

main().catch((e) => {
  process.stderr.write(`eval_classifier: ${e.message}\n`);
  process.exit(1);
});
