#!/usr/bin/env node
'use strict';
// Runs an ONNX model in ONNX Runtime (CPU) on TensorProto files: tamp's outside reference.
//
//   node run_ort.js MODEL.onnx --input NAME=FILE.pb ... --output-dir DIR
//                   [--optimized-model PATH] [--threads N] [--bench N]
//
// Writes each output as DIR/<output name>.pb (characters other than [A-Za-z0-9._-] in the
// name become '_') and prints one JSON line naming the files. --optimized-model saves the
// graph after ORT's optimisations (level 'all') so a test can see what ORT fused;
// --bench N runs N more times after one warm-up and prints the median latency.
const fs = require('fs');
const path = require('path');
const { decode, encode } = require('./tensor_proto');

function usage(message) {
  if (message) process.stderr.write(`run_ort: ${message}\n`);
  process.stderr.write('usage: node run_ort.js MODEL.onnx --input NAME=FILE.pb ... --output-dir DIR ' +
    '[--optimized-model PATH] [--threads N] [--bench N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { model: null, inputs: [], outputDir: null, optimizedModel: null, threads: 1, bench: 0 };
  const positiveInt = (flag, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) usage(`${flag} needs a positive integer, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--input') {
      const v = value();
      const eq = v.indexOf('=');
      if (eq <= 0) usage(`--input wants NAME=FILE.pb, got '${v}'`);
      args.inputs.push({ name: v.slice(0, eq), file: v.slice(eq + 1) });
    } else if (a === '--output-dir') args.outputDir = value();
    else if (a === '--optimized-model') args.optimizedModel = value();
    else if (a === '--threads') args.threads = positiveInt(a, value());
    else if (a === '--bench') args.bench = positiveInt(a, value());
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (args.model === null) args.model = a;
    else usage(`unexpected argument '${a}'`);
  }
  if (!args.model) usage('no model given');
  if (!args.outputDir && !args.bench && !args.optimizedModel) usage('nothing to do: give --output-dir, --optimized-model or --bench');
  return args;
}

function safeFileName(name) { return name.replace(/[^A-Za-z0-9._-]/g, '_'); }

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write(`run_ort: onnxruntime-node is not installed: run tests/ort/setup.sh (${e.message})\n`);
    process.exit(3);
  }
  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,  // errors only: saving an NCHWc-optimised graph always warns
  };
  if (args.optimizedModel) options.optimizedModelFilePath = path.resolve(args.optimizedModel);
  const session = await ort.InferenceSession.create(args.model, options);

  const feeds = {};
  for (const { name, file } of args.inputs) {
    if (!session.inputNames.includes(name)) {
      throw new Error(`input '${name}' is not an input of ${args.model} (inputs: ${session.inputNames.join(', ')})`);
    }
    const t = decode(fs.readFileSync(file));
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length && (args.outputDir || args.bench)) throw new Error(`no --input for ${missing.join(', ')}`);

  const report = { model: args.model, threads: args.threads };
  if (args.optimizedModel) report.optimized_model = options.optimizedModelFilePath;
  if (args.outputDir || args.bench) {
    let results = await session.run(feeds);
    if (args.bench) {
      const ms = [];
      for (let i = 0; i < args.bench; i++) {
        const t0 = process.hrtime.bigint();
        results = await session.run(feeds);
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      ms.sort((a, b) => a - b);
      report.runs = args.bench;
      report.median_ms = ms[Math.floor(ms.length / 2)];
      report.min_ms = ms[0];
    }
    if (args.outputDir) {
      fs.mkdirSync(args.outputDir, { recursive: true });
      report.outputs = {};
      for (const name of session.outputNames) {
        const t = results[name];
        const file = path.join(args.outputDir, `${safeFileName(name)}.pb`);
        fs.writeFileSync(file, encode({ name, type: t.type, dims: t.dims.map(Number), data: t.data }));
        report.outputs[name] = { file, type: t.type, dims: t.dims.map(Number) };
      }
    }
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((e) => {
  process.stderr.write(`run_ort: ${e.message}\n`);
  process.exit(1);
});
