#!/usr/bin/env node
'use strict';
// `tamp ui` in a real browser: starts the server on a free port, drives headless Chromium
// through chromedriver (W3C WebDriver over HTTP, no npm package) to generate a recipe, start
// two short runs, watch them finish, compare them and download a model, and checks the DOM and
// the files at each step. Takes screenshots (TAMP_UI_SCREENSHOT_DIR, default a temp folder).
// Exit 77 (ctest: skipped) with the reason when Chromium, chromedriver or Fashion-MNIST is missing.
//
//   TAMP_CLI_BINARY=build/release/cli/tamp node tests/ui/browser_test.js
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const SOURCE = process.env.TAMP_SOURCE_DIR || path.join(__dirname, '../..');
const TAMP = process.env.TAMP_CLI_BINARY || path.join(SOURCE, 'build/release/cli/tamp');
const CHROMIUM = '/usr/bin/chromium';
const CHROMEDRIVER = '/usr/bin/chromedriver';
const DATA = '/usr/share/datasets';
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(77);
}

for (const [file, why] of [[CHROMIUM, 'Chromium is not installed (tests/ui/setup.sh installs chromium)'],
                           [CHROMEDRIVER, 'chromedriver is not installed (tests/ui/setup.sh installs chromium-driver)'],
                           [path.join(DATA, 'fashion-mnist'), 'no Fashion-MNIST (Debian package dataset-fashion-mnist)']]) {
  if (!fs.existsSync(file)) skip(why);
}
if (!fs.existsSync(TAMP)) throw new Error(`no tamp binary at ${TAMP} (set TAMP_CLI_BINARY)`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tamp_ui_browser_'));
const shots = process.env.TAMP_UI_SCREENSHOT_DIR || work;
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Starts a program and resolves with [child, match] once its stdout matches `ready`.
function start(program, args, ready, what) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 30000);
    const onData = (d) => {
      out += d;
      const m = out.match(ready);
      if (m) { clearTimeout(timer); resolve([child, m]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code}): ${out}`)); });
  });
}

// ---- WebDriver ----
let driver, session;
async function wd(method, route, body) {
  const r = await fetch(`${driver}/session${session ? `/${session}` : ''}${route}`, {
    method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const j = await r.json();
  if (!r.ok) throw new Error(`WebDriver ${method} ${route}: ${JSON.stringify(j.value)}`);
  return j.value;
}
const js = (script, ...args) => wd('POST', '/execute/sync', { script, args });
const find = async (css) => (await wd('POST', '/element', { using: 'css selector', value: css }))[ELEMENT];
// The runs table is redrawn when a run changes: an element found just before may be gone.
async function click(css) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await wd('POST', `/element/${await find(css)}/click`, {});
    } catch (e) {
      if (attempt === 3 || !/stale element/.test(e.message)) throw e;
    }
  }
}
async function type(css, text) {
  const id = await find(css);
  await wd('POST', `/element/${id}/clear`, {});
  await wd('POST', `/element/${id}/value`, { text: String(text) });
}
async function choose(css, value) {   // a real click on the <option>
  await click(`${css} option[value="${value}"]`);
  const got = await js('return document.querySelector(arguments[0]).value', css);
  if (got !== value) throw new Error(`${css}: chose '${value}', page has '${got}'`);
}
async function waitFor(what, script, seconds, ...args) {
  const end = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < end) {
    last = await js(script, ...args);
    if (last) return last;
    await sleep(250);
  }
  const log = await js("return document.getElementById('run-log').textContent + '\\n' + document.getElementById('new-run-message').textContent");
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)}); page says:\n${log}`);
}
// A renderer busy on a loaded machine can miss chromedriver's 10 s for a screenshot: try again.
async function screenshot(name) {
  let data;
  for (let attempt = 1; !data; attempt++) {
    try {
      data = await wd('GET', '/screenshot');
    } catch (e) {
      if (attempt === 3 || !/timeout/.test(e.message)) throw e;
      await sleep(2000);
    }
  }
  const png = Buffer.from(data, 'base64');
  const file = path.join(shots, name);
  fs.writeFileSync(file, png);
  console.log(`screenshot ${file} (${png.length} bytes)`);
}
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

// Generates a recipe in the page, optionally edits it, starts it and waits for the end.
async function runThroughPage({ goal, name, edit, steps }) {
  await choose('#model', 'cnn.onnx');
  await choose('#dataset', 'fashion-mnist');
  await choose('#goal', goal);
  await type('#epochs', 1);
  await type('#steps', steps);
  await type('#limit', 64 * steps);
  await type('#eval-limit', 200);
  // The text area still holds the previous run's recipe: empty it so that the wait sees the new one.
  await js("document.getElementById('recipe').value = ''");
  await click('#generate');
  const recipe = await waitFor('a recipe', "return document.getElementById('recipe').value", 20);
  check(recipe.includes(`goal '${goal}'`) && recipe.includes(path.join(work, 'models', 'cnn.onnx')),
        `${goal}: the generated recipe names the goal and the model`);
  if (edit) {
    await js("const t = document.getElementById('recipe'); t.value = arguments[0]; t.dispatchEvent(new Event('input'))",
             edit(recipe));
  }
  await type('#run-name', name);
  await click('#start');
  await waitFor(`run ${name} to show`, "return document.getElementById('run-id').textContent === arguments[0]", 20, name);
  return recipe;
}

async function main() {
  fs.mkdirSync(path.join(work, 'models'));
  fs.copyFileSync(path.join(SOURCE, 'tests/data/models/cnn.onnx'), path.join(work, 'models/cnn.onnx'));
  const runs = path.join(work, 'runs');
  const args = ['ui', '--port', '0', '--models', path.join(work, 'models'), '--data', DATA, '--runs', runs];
  const ortLatency = fs.existsSync(path.join(SOURCE, 'tests/ort/node_modules/onnxruntime-node'));
  if (ortLatency) args.push('--latency-command', `node ${path.join(SOURCE, 'tests/ui/ort_latency.js')} {model} {input} 20`);
  const [, served] = await start(TAMP, args, /serving (http:\/\/127\.0\.0\.1:\d+\/)/, 'tamp ui');
  const url = served[1];
  const driverPort = await freePort();
  await start(CHROMEDRIVER, [`--port=${driverPort}`], /started successfully|ChromeDriver was started/, 'chromedriver');
  driver = `http://127.0.0.1:${driverPort}`;
  const profile = fs.mkdtempSync(path.join(work, 'profile_'));
  session = (await wd('POST', '', { capabilities: { alwaysMatch: { browserName: 'chrome', 'goog:chromeOptions': {
    binary: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--window-size=1400,2000'],
  } } } })).sessionId;

  await wd('POST', '/url', { url });
  await waitFor('the catalog', "return document.querySelectorAll('#model option').length > 0", 20);
  check((await js("return [...document.querySelectorAll('#model option')].map(o => o.value)")).join() === 'cnn.onnx',
        'the page lists the one model of --models');

  // A recipe edited to read a file outside the folders is refused in the page.
  await choose('#model', 'cnn.onnx');
  await choose('#dataset', 'fashion-mnist');
  await click('#generate');
  await waitFor('a recipe', "return document.getElementById('recipe').value", 20);
  await js("const t = document.getElementById('recipe'); t.value = t.value.replace(/^model: .*$/m, 'model: /etc/hostname')");
  await click('#start');
  const refused = await waitFor('the refusal', "const m = document.getElementById('new-run-message'); return m.classList.contains('error') && m.textContent", 20);
  check(/outside --models/.test(refused), `an edited recipe naming /etc/hostname is refused: "${refused.split('\n')[0]}"`);
  check(!fs.existsSync(runs) || fs.readdirSync(runs).length === 0, 'the refused run left no folder');

  // Run 1: 2:4 pruning then int8, watched live.
  await runThroughPage({ goal: '2:4+int8', name: 'cnn-2of4-int8', steps: 60 });
  await waitFor('a live loss point', "return document.querySelector('#run-figures [data-figure=loss] .value').textContent !== '–'", 300);
  await screenshot('ui_running.png');
  await waitFor('run 1 to finish', "return document.getElementById('run-status').textContent === 'finished'", 300);
  const figures = await js("return Object.fromEntries([...document.querySelectorAll('#run-figures .figure')].map(f => [f.dataset.figure, f.querySelector('.value').textContent]))");
  console.log(JSON.stringify(figures));
  const summary = JSON.parse(fs.readFileSync(path.join(runs, 'cnn-2of4-int8/summary.json'), 'utf8'));
  check(figures.top1 === `${(100 * summary.export.eval.top1).toFixed(2)} %`, `the page shows the exported top-1 of summary.json (${figures.top1})`);
  const pruned = summary.stages[0].sparsity;   // 2:4 everywhere but conv1 and fc2 (1,568 of 224,800 weights)
  check(pruned > 0.496 && figures.sparsity === `${(100 * pruned).toFixed(1)} %`, `sparsity ${figures.sparsity} after 2:4 pruning`);
  check(figures.bits === '8', 'weight bits 8 after int8');
  check(figures.step === '60 / 60', 'step 60 / 60 of the pruning stage');
  const lossPoints = await js("return document.querySelector('svg[data-plot=\"Training loss\"] polyline').getAttribute('points').trim().split(' ').length");
  check(lossPoints === 20, `the loss plot has a point per logged step, every 3rd of 60 (${lossPoints})`);
  const href = await js("return document.getElementById('download').href");
  const download = Buffer.from(await (await fetch(href)).arrayBuffer());
  check(download.equals(fs.readFileSync(summary.export.path)), `Download model serves ${summary.export.path} (${download.length} bytes)`);

  // Run 2: int8 QAT, its recipe edited in the page (another seed) before it starts.
  await runThroughPage({ goal: 'int8-qat', name: 'cnn-int8', steps: 60, edit: (r) => r.replace(/^seed: 1$/m, 'seed: 7') });
  await waitFor('run 2 to finish', "return document.getElementById('run-status').textContent === 'finished'", 300);
  check(/^seed: 7$/m.test(fs.readFileSync(path.join(runs, 'cnn-int8/recipe.yaml'), 'utf8')), 'the edited recipe is the one that ran');
  check(await js("return document.querySelector('#runs-table tr[data-run-id=\"cnn-int8\"] td:nth-child(6)').textContent") === 'custom',
        'an edited recipe is listed with goal "custom"');

  if (ortLatency) {
    for (const id of ['cnn-int8', 'cnn-2of4-int8']) {
      await click(`#runs-table tr[data-run-id="${id}"] td:nth-child(2)`);
      await waitFor(`run ${id} shown`, "return document.getElementById('run-id').textContent === arguments[0] && !document.getElementById('latency').disabled", 20, id);
      await click('#latency');
      await waitFor(`latency of ${id}`, "const f = document.querySelector('#run-figures [data-figure=latency] .value'); return f && / ms/.test(f.textContent) && f.textContent", 120);
    }
    check(true, 'latency measured in ONNX Runtime for both runs');
  } else {
    console.log('note: no tests/ort/node_modules (tests/ort/setup.sh): latency not measured');
  }

  // Compare the two runs side by side.
  await click('#runs-table tr[data-run-id="cnn-2of4-int8"] input[type=checkbox]');
  await click('#runs-table tr[data-run-id="cnn-int8"] input[type=checkbox]');
  const rows = await waitFor('the per-layer table', "return document.querySelectorAll('#compare-layers tbody tr').length", 30);
  check(rows === 4, `the per-layer table has the CNN's 4 weights (${rows})`);
  const head = await js("return [...document.querySelectorAll('#compare-layers thead th')].map(th => th.textContent)");
  const layer = await js("return [...document.querySelectorAll('#compare-layers tbody tr')[0].children].map(td => td.textContent)");
  const col = (h) => layer[head.indexOf(h)];
  const second = await js("return [...document.querySelectorAll('#compare-layers tbody tr')[1].children].map(td => td.textContent)");
  // Rounding to int8 makes a few weights zero (under 5 %): only 2:4 makes half of them zero.
  check(second[0] === 'conv2.weight' && second[head.indexOf('cnn-2of4-int8 sparsity %')] === '50.0' &&
        Number(second[head.indexOf('cnn-int8 sparsity %')]) < 5, `conv2: half zeros in the pruned run only (${second.join(' | ')})`);
  check(layer[0] === 'conv1.weight' && Number(col('cnn-2of4-int8 sparsity %')) < 5 && col('cnn-2of4-int8 bits') === '8' &&
        Number(col('cnn-int8 sparsity %')) < 5 && col('cnn-int8 bits') === '8',
        `conv1 (left dense by the recipe): 8-bit in both runs (${layer.join(' | ')})`);
  const plots = await js("return [...document.querySelectorAll('#compare svg')].map(s => s.dataset.plot)");
  check(['Top-1 % (exported model)', 'Size of the exported model', 'Training loss', 'Sparsity % per layer'].every((p) => plots.includes(p)),
        `comparison plots: ${plots.join(', ')}`);
  await click('#runs-table tr[data-run-id="cnn-2of4-int8"] td:nth-child(2)');
  await waitFor('run 1 shown again', "return document.getElementById('run-id').textContent === 'cnn-2of4-int8' && document.getElementById('run-status').textContent === 'finished'", 20);
  await sleep(500);
  await screenshot('ui_finished.png');
  console.log('browser test passed');
}

function cleanup() {
  for (const c of children) { if (c.exitCode === null) c.kill('SIGTERM'); }
  if (!process.env.TAMP_UI_KEEP) fs.rmSync(work, { recursive: true, force: true, maxRetries: 3 });
}

main().then(async () => {
  if (session) await wd('DELETE', '').catch(() => {});
  cleanup();
  process.exit(0);
}).catch(async (e) => {
  console.error(`FAIL: ${e.stack || e.message}`);
  if (session) {
    await screenshot('ui_failure.png').catch(() => {});
    await wd('DELETE', '').catch(() => {});
  }
  cleanup();
  process.exit(1);
});
