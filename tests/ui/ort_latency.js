#!/usr/bin/env node
'use strict';
// ONNX Runtime latency of a model for `tamp ui --latency-command`: feeds one TensorProto file
// to the model's first input, runs it RUNS times after a warm-up on one thread and prints the
// median in milliseconds (the last number of the output is what tamp ui reads).
//
//   tamp ui --latency-command "node tests/ui/ort_latency.js {model} {input}"
//   node ort_latency.js MODEL.onnx INPUT.pb [RUNS]        (needs tests/ort/setup.sh)
const fs = require('fs');
const path = require('path');
const { decode } = require('../ort/tensor_proto');

async function main() {
  const [model, input, runsArg] = process.argv.slice(2);
  if (!model || !input) {
    process.stderr.write('usage: node ort_latency.js MODEL.onnx INPUT.pb [RUNS]\n');
    process.exit(2);
  }
  const runs = Number(runsArg || 50);
  const ort = require(path.join(__dirname, '../ort/node_modules/onnxruntime-node'));
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const t = decode(fs.readFileSync(input));
  const feeds = { [session.inputNames[0]]: new ort.Tensor(t.type, t.data, t.dims) };
  await session.run(feeds);
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  process.stdout.write(`median of ${runs} runs (ms): ${ms[Math.floor(ms.length / 2)]}\n`);
}

main().catch((e) => {
  process.stderr.write(`ort_latency: ${e.message}\n`);
  process.exit(1);
});
