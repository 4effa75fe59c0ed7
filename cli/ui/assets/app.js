'use strict';
// The page of `tamp ui`: pick a model, a dataset and a goal, edit the generated recipe,
// start a run and watch it (polling the JSON endpoints of cli/ui/api.h), compare runs.
const $ = (id) => document.getElementById(id);
const state = {
  catalog: null,
  selected: null,       // id of the run shown in the Run panel
  metrics: [],          // its metrics.jsonl lines so far
  metricsNext: 0,
  runs: [],
  compare: new Set(),
  cache: {},            // id -> {metrics, layers} of finished runs (they no longer change)
};

async function api(method, path, body) {
  const init = { method };
  if (body !== undefined) {
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const j = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(j.error + (j.hint ? `\n(${j.hint})` : ''));
  return j;
}

function message(id, text, error) {
  const m = $(id);
  m.textContent = text;
  m.classList.toggle('error', !!error);
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text === undefined ? value : text;
  return o;
}

function cell(tr, content) {
  const td = document.createElement('td');
  if (content instanceof Node) td.appendChild(content); else td.textContent = content === undefined ? '' : content;
  tr.appendChild(td);
  return td;
}

function kib(bytes) {
  if (!Number.isFinite(bytes)) return '';
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

const pct = (v) => (Number.isFinite(v) ? (100 * v).toFixed(2) : '');
// A NaN in metrics.jsonl arrives as null.
const fixed = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

// ---- New run ----

async function loadCatalog() {
  const c = await api('GET', '/api/catalog');
  state.catalog = c;
  $('folders').textContent = `models ${c.folders.models} · data ${c.folders.data} · runs ${c.folders.runs}`;
  $('model').replaceChildren(...c.models.map((m) => option(m)));
  $('dataset').replaceChildren(...c.datasets.map((d) => option(d.id, d.kind === 'fashion-mnist' ? `${d.id} (Fashion-MNIST)` : d.id)));
  $('eval-dataset').replaceChildren(...c.datasets.filter((d) => d.kind === 'hdf5').map((d) => option(d.id)));
  $('goal').replaceChildren(...c.goals.map((g) => option(g.name, `${g.name} — ${g.description}`)));
  $('latency').hidden = !c.latency;
  if (!c.models.length) message('new-run-message', `No .onnx file in ${c.folders.models}.`, true);
  else if (!c.datasets.length) message('new-run-message', `No dataset in ${c.folders.data}.`, true);
  datasetChanged();
}

function datasetChanged() {
  const d = (state.catalog.datasets || []).find((x) => x.id === $('dataset').value);
  for (const e of document.querySelectorAll('.hdf5-only')) e.hidden = !d || d.kind !== 'hdf5';
}

const numberOrNull = (id) => ($(id).value === '' ? null : Number($(id).value));

async function generate() {
  const model = $('model').value;
  try {
    const r = await api('POST', '/api/recipe', {
      model, dataset: $('dataset').value, eval_dataset: $('eval-dataset').value || undefined,
      goal: $('goal').value, epochs: numberOrNull('epochs'), steps_per_epoch: numberOrNull('steps'),
      limit: numberOrNull('limit'), eval_limit: numberOrNull('eval-limit'),
    });
    $('recipe').value = r.recipe;
    $('recipe').dataset.goal = $('goal').value;
    $('recipe').dataset.generated = r.recipe;
    $('run-name').value = `${model.replace(/^.*\//, '').replace(/\.onnx$/i, '')}-${$('goal').value}`;
    $('start').disabled = false;
    message('new-run-message', 'Recipe generated: edit it or start the run.');
  } catch (e) {
    message('new-run-message', e.message, true);
  }
}

async function start() {
  const text = $('recipe').value;
  const goal = text === $('recipe').dataset.generated ? $('recipe').dataset.goal : 'custom';
  $('start').disabled = true;
  try {
    const r = await api('POST', '/api/runs', { recipe: text, name: $('run-name').value, goal });
    message('new-run-message', `Started run ${r.id}.`);
    await refreshRuns();
    select(r.id);
  } catch (e) {
    message('new-run-message', e.message, true);
  } finally {
    $('start').disabled = false;
  }
}

// ---- One run ----

// x positions over all stages: a stage's steps follow the previous stage's last step.
function withGlobalSteps(lines) {
  const offset = {};
  let next = 0;
  return lines.map((l) => {
    if (!(l.stage in offset)) offset[l.stage] = next;
    if (l.type === 'stage') next = offset[l.stage] + (l.steps || 0);
    return Object.assign({ x: offset[l.stage] + (l.step || l.steps || 0) }, l);
  });
}

function figure(label, value, key) {
  const d = document.createElement('div');
  d.className = 'figure';
  d.dataset.figure = key;
  const a = document.createElement('div'); a.className = 'label'; a.textContent = label;
  const b = document.createElement('div'); b.className = 'value'; b.textContent = value;
  d.append(a, b);
  return d;
}

function renderRun(run) {
  $('run-empty').hidden = true;
  $('run-body').hidden = false;
  $('run-id').textContent = run.id;
  const st = $('run-status');
  st.textContent = run.status;
  st.className = `status ${run.status}`;
  const lines = withGlobalSteps(state.metrics);
  const train = lines.filter((l) => l.type === 'train');
  const stages = lines.filter((l) => l.type === 'stage');
  const last = train[train.length - 1];
  const lastStage = stages[stages.length - 1];
  const s = run.summary;
  const top1 = s ? s.export.eval.top1 : lastStage && lastStage.eval ? lastStage.eval.top1 : undefined;
  const sparsity = last && last.sparsity !== undefined && (!lastStage || last.x > lastStage.x) ? last.sparsity
    : lastStage ? lastStage.sparsity : undefined;
  const bits = lastStage && (!last || lastStage.x >= last.x) ? lastStage.weight_bits : last ? last.weight_bits : undefined;
  const nStages = run.meta && run.meta.stages;
  const figs = [
    figure('stage', lines.length ? `${Math.max(...lines.map((l) => l.stage)) + 1} / ${nStages || '?'}` : '–', 'stage'),
    figure('step', last ? `${last.step} / ${last.total_steps || '?'}` : '–', 'step'),
    figure('loss', last ? fixed(last.loss, 4) : '–', 'loss'),
    figure(s ? 'top-1 (exported)' : 'top-1 (last stage)', Number.isFinite(top1) ? `${pct(top1)} %` : '–', 'top1'),
    figure('sparsity', Number.isFinite(sparsity) ? `${(100 * sparsity).toFixed(1)} %` : '–', 'sparsity'),
    figure('weight bits', Number.isFinite(bits) ? String(bits) : '–', 'bits'),
  ];
  if (s) figs.push(figure('size', `${kib(s.export.original_bytes)} → ${kib(s.export.bytes)}`, 'size'));
  const lat = run.latency;
  if (lat) {
    figs.push(figure('latency', lat.status === 'done' ? `${Plot.fmt(lat.exported_ms)} ms` + (lat.original_ms ? ` (was ${Plot.fmt(lat.original_ms)})` : '')
      : lat.status, 'latency'));
  }
  $('run-figures').replaceChildren(...figs);

  const byStage = {};
  for (const l of train) (byStage[l.stage] = byStage[l.stage] || []).push([l.x, l.loss]);
  const plots = document.createElement('div');
  plots.className = 'plots';
  plots.append(
    Plot.line(Object.entries(byStage).map(([k, p]) => ({ label: `stage ${Number(k) + 1}`, points: p })),
              { title: 'Training loss', xLabel: 'step (all stages)' }),
    Plot.line([{ label: '', points: stages.filter((l) => l.eval).map((l) => [l.stage + 1, 100 * l.eval.top1]) }],
              { title: 'Top-1 % after each stage', xLabel: 'stage' }),
    Plot.line([{ label: '', points: train.filter((l) => l.sparsity !== undefined).map((l) => [l.x, 100 * l.sparsity]) }],
              { title: 'Sparsity % of the weights', xLabel: 'step (all stages)', yMin: 0 }),
  );
  $('run-plots').replaceChildren(plots);

  const table = document.createElement('table');
  table.innerHTML = '<thead><tr><th>stage</th><th>steps</th><th>train loss</th><th>top-1 %</th><th>sparsity %</th><th>bits</th><th>size</th><th>seconds</th></tr></thead>';
  const body = document.createElement('tbody');
  for (const l of stages) {
    const tr = document.createElement('tr');
    [l.name, l.steps, fixed(l.train_loss, 4), l.eval ? pct(l.eval.top1) : '', fixed(100 * l.sparsity, 1),
     l.weight_bits, kib(l.size_bytes), fixed(l.seconds, 1)].forEach((v) => cell(tr, v));
    body.appendChild(tr);
  }
  table.appendChild(body);
  $('run-stages').replaceChildren(table);
  $('run-log').textContent = run.log || '';
  $('run-recipe').textContent = run.recipe || '';
  const running = run.status === 'running';
  $('stop').disabled = !running;
  $('resume').disabled = running || run.status === 'finished' || !run.has_checkpoint;
  $('latency').disabled = !s || (lat && lat.status === 'measuring');
  for (const [a, href, ok] of [['download', `/runs/${encodeURIComponent(run.id)}/model`, !!s],
                               ['report', `/runs/${encodeURIComponent(run.id)}/report`, run.has_report]]) {
    $(a).href = ok ? href : '#';
    $(a).classList.toggle('disabled', !ok);
  }
}

async function pollRun() {
  const id = state.selected;
  if (!id) return;
  try {
    const m = await api('GET', `/api/runs/${encodeURIComponent(id)}/metrics?from=${state.metricsNext}`);
    if (state.selected !== id) return;
    if (m.next < state.metricsNext) state.metrics = [];   // a resumed run rewrote its file
    state.metrics.push(...m.lines);
    state.metricsNext = m.next;
    const run = await api('GET', `/api/runs/${encodeURIComponent(id)}`);
    if (state.selected !== id) return;
    renderRun(run);
    const busy = run.status === 'running' || (run.latency && run.latency.status === 'measuring');
    if (busy) state.pollTimer = setTimeout(pollRun, 1000);
  } catch (e) {
    message('run-message', e.message, true);
  }
}

function select(id) {
  clearTimeout(state.pollTimer);
  state.selected = id;
  state.metrics = [];
  state.metricsNext = 0;
  message('run-message', '');
  for (const tr of document.querySelectorAll('#runs-table tbody tr')) tr.classList.toggle('selected', tr.dataset.runId === id);
  pollRun();
}

async function action(name) {
  const id = state.selected;
  try {
    await api('POST', `/api/runs/${encodeURIComponent(id)}/${name}`, {});
    message('run-message', name === 'latency' ? 'Measuring latency…' : `${name}: sent.`);
  } catch (e) {
    message('run-message', e.message, true);
  }
  clearTimeout(state.pollTimer);
  setTimeout(pollRun, 300);
  setTimeout(refreshRuns, 600);
}

// ---- Runs and comparison ----

function runRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.runId = r.id;
  tr.dataset.status = r.status;
  tr.classList.toggle('selected', r.id === state.selected);
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = state.compare.has(r.id);
  box.disabled = r.status !== 'finished';
  box.addEventListener('click', (e) => e.stopPropagation());
  box.addEventListener('change', () => { box.checked ? state.compare.add(r.id) : state.compare.delete(r.id); renderCompare(); });
  cell(tr, box);
  const s = r.summary, m = r.meta || {}, lat = r.latency;
  cell(tr, r.id);
  const st = document.createElement('span');
  st.className = `status ${r.status}`;
  st.textContent = r.status;
  cell(tr, st);
  cell(tr, m.model);
  cell(tr, m.dataset);
  cell(tr, m.goal);
  cell(tr, s ? pct(s.export.eval.top1) : '');
  cell(tr, s ? `${kib(s.export.bytes)} (${(s.export.bytes / s.export.original_bytes).toFixed(2)}×)` : '');
  cell(tr, lat && lat.status === 'done' ? `${Plot.fmt(lat.exported_ms)} ms` : lat ? lat.status : '');
  const seconds = s ? s.stages.reduce((a, x) => a + x.seconds, 0) : undefined;
  cell(tr, Number.isFinite(seconds) ? `${seconds.toFixed(1)} s` : '');
  tr.addEventListener('click', () => select(r.id));
  return tr;
}

async function refreshRuns() {
  try {
    const runs = await api('GET', '/api/runs');
    const key = JSON.stringify(runs);
    if (key !== state.runsKey) {
      state.runsKey = key;
      state.runs = runs;
      $('runs-table').tBodies[0].replaceChildren(...runs.map(runRow));
      renderCompare();
    }
  } catch (e) {
    message('new-run-message', e.message, true);
  }
}

async function finished(id) {
  if (!state.cache[id]) {
    const [metrics, layers] = await Promise.all([api('GET', `/api/runs/${encodeURIComponent(id)}/metrics?from=0`),
                                                 api('GET', `/api/runs/${encodeURIComponent(id)}/layers`)]);
    state.cache[id] = { metrics: withGlobalSteps(metrics.lines), layers };
  }
  return state.cache[id];
}

async function renderCompare() {
  const runs = state.runs.filter((r) => state.compare.has(r.id) && r.summary);
  $('compare-empty').hidden = runs.length >= 2;
  if (runs.length < 2) {
    $('compare-plots').replaceChildren();
    $('compare-layers').replaceChildren();
    return;
  }
  const data = await Promise.all(runs.map((r) => finished(r.id)));
  const names = runs.map((r) => r.id);
  const plots = document.createElement('div');
  plots.className = 'plots';
  plots.append(
    Plot.bars(runs.map((r) => ({ label: r.id, value: 100 * r.summary.export.eval.top1 })), { title: 'Top-1 % (exported model)', unit: ' %' }),
    Plot.bars(runs.map((r) => ({ label: r.id, value: r.summary.export.bytes / 1024, text: kib(r.summary.export.bytes) })),
              { title: 'Size of the exported model' }),
    Plot.bars(runs.map((r) => ({ label: r.id, value: r.latency && r.latency.status === 'done' ? r.latency.exported_ms : NaN })),
              { title: 'Latency (ms, --latency-command)', unit: ' ms' }),
    Plot.line(data.map((d, i) => ({ label: names[i], points: d.metrics.filter((l) => l.type === 'train').map((l) => [l.x, l.loss]) })),
              { title: 'Training loss', xLabel: 'step (all stages)' }),
  );
  $('compare-plots').replaceChildren(plots);

  // Per layer: the weights of the exported models, matched by the original name (an int8
  // export stores conv1.weight as conv1.weight_int8).
  const layerOf = (name) => name.replace(/_u?int[48]$/, '');
  const layerNames = [...new Set(data.flatMap((d) => d.layers.exported.map((w) => layerOf(w.name))))];
  const find = (d, n) => d.layers.exported.find((w) => layerOf(w.name) === n);
  const table = document.createElement('table');
  table.className = 'layer-table';
  const head = document.createElement('tr');
  ['layer', 'shape', ...names.flatMap((n) => [`${n} sparsity %`, `${n} bits`])].forEach((h) => {
    const th = document.createElement('th'); th.textContent = h; head.appendChild(th);
  });
  const thead = document.createElement('thead');
  thead.appendChild(head);
  const body = document.createElement('tbody');
  for (const n of layerNames) {
    const tr = document.createElement('tr');
    cell(tr, n);
    const any = data.map((d) => find(d, n)).find(Boolean);
    cell(tr, `[${any.shape.join(', ')}]`);
    for (const d of data) {
      const w = find(d, n);
      cell(tr, w ? (100 * w.sparsity).toFixed(1) : '');
      cell(tr, w ? w.bits : '');
    }
    body.appendChild(tr);
  }
  table.append(thead, body);
  const title = document.createElement('h3');
  title.textContent = 'Per layer (weights of the exported models)';
  $('compare-layers').replaceChildren(
    Plot.groupedBars(layerNames.map((n) => ({ label: n, values: data.map((d) => { const w = find(d, n); return w ? 100 * w.sparsity : NaN; }) })),
                     names, { title: 'Sparsity % per layer', unit: ' %' }),
    title, table);
}

// ---- Start ----

window.addEventListener('DOMContentLoaded', async () => {
  $('dataset').addEventListener('change', datasetChanged);
  $('generate').addEventListener('click', generate);
  $('start').addEventListener('click', start);
  for (const a of ['stop', 'resume', 'latency']) $(a).addEventListener('click', () => action(a));
  try {
    await loadCatalog();
  } catch (e) {
    message('new-run-message', e.message, true);
  }
  await refreshRuns();
  setInterval(refreshRuns, 2000);
});
