'use strict';
// SVG plots of the page, drawn from numbers alone (no library): line plots of series over
// steps and horizontal bar charts. Each returns an <svg> element.
const Plot = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

  function el(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmt(v) {
    if (!Number.isFinite(v)) return '';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
    return Number(v.toPrecision(3)).toString();
  }

  // series: [{label, points: [[x, y], ...]}]; options: {title, xLabel, width, height, yMin}
  function line(series, options) {
    const o = Object.assign({ width: 420, height: 220, title: '', xLabel: '' }, options);
    const L = 52, R = 12, T = 26, B = 34;
    const svg = el('svg', { width: o.width, height: o.height, viewBox: `0 0 ${o.width} ${o.height}`, role: 'img',
                            'aria-label': o.title, 'data-plot': o.title });
    svg.appendChild(el('text', { x: L, y: 15, class: 'title' }, o.title));
    const pts = series.flatMap((s) => s.points.filter((p) => Number.isFinite(p[1])));
    if (!pts.length) {
      svg.appendChild(el('text', { x: L, y: T + 20 }, 'no data yet'));
      return svg;
    }
    let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
    if (o.yMin !== undefined) y0 = Math.min(y0, o.yMin);
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 += Math.abs(y1) * 0.05 || 1; y0 -= Math.abs(y0) * 0.05 || 0; }
    const px = (x) => L + ((x - x0) / (x1 - x0)) * (o.width - L - R);
    const py = (y) => o.height - B - ((y - y0) / (y1 - y0)) * (o.height - T - B);
    svg.appendChild(el('rect', { x: L, y: T, width: o.width - L - R, height: o.height - T - B, fill: 'none', stroke: '#bbb' }));
    let lastX;
    for (let i = 0; i <= 4; i++) {
      const y = y0 + ((y1 - y0) * i) / 4, x = Math.round(x0 + ((x1 - x0) * i) / 4);
      svg.appendChild(el('line', { x1: L, x2: o.width - R, y1: py(y), y2: py(y), stroke: '#eee' }));
      svg.appendChild(el('text', { x: L - 4, y: py(y) + 4, 'text-anchor': 'end' }, fmt(y)));
      if (x !== lastX) svg.appendChild(el('text', { x: px(x), y: o.height - B + 14, 'text-anchor': 'middle' }, fmt(x)));
      lastX = x;   // steps and stages are whole numbers: a short axis repeats none
    }
    svg.appendChild(el('text', { x: (o.width + L) / 2, y: o.height - 4, 'text-anchor': 'middle' }, o.xLabel));
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const good = s.points.filter((p) => Number.isFinite(p[1]));
      svg.appendChild(el('polyline', { fill: 'none', stroke: color, 'stroke-width': 1.6,
                                       points: good.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ') }));
      if (good.length < 30) {
        for (const p of good) svg.appendChild(el('circle', { cx: px(p[0]), cy: py(p[1]), r: 2.5, fill: color }));
      }
      if (series.length > 1 || s.label) {
        svg.appendChild(el('text', { x: o.width - R - 6, y: T + 14 + 14 * i, fill: color, 'text-anchor': 'end' }, s.label));
      }
    });
    return svg;
  }

  // bars: [{label, value, text?}]; options: {title, unit, width}
  function bars(items, options) {
    const o = Object.assign({ width: 460, title: '', unit: '' }, options);
    const row = 20, labelW = 170, T = 26;
    const h = T + items.length * row + 6;
    const svg = el('svg', { width: o.width, height: h, viewBox: `0 0 ${o.width} ${h}`, role: 'img',
                            'aria-label': o.title, 'data-plot': o.title });
    svg.appendChild(el('text', { x: 4, y: 15, class: 'title' }, o.title));
    const top = Math.max(...items.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 0) || 1;
    const barW = o.width - labelW - 80;
    items.forEach((b, i) => {
      const y = T + i * row;
      svg.appendChild(el('text', { x: labelW - 6, y: y + 13, 'text-anchor': 'end' }, b.label));
      const ok = Number.isFinite(b.value);
      const w = ok ? Math.max(1, (b.value / top) * barW) : 0;
      svg.appendChild(el('rect', { x: labelW, y: y + 2, width: w, height: row - 6, fill: COLORS[i % COLORS.length] }));
      svg.appendChild(el('text', { x: labelW + w + 4, y: y + 13 }, ok ? (b.text || fmt(b.value) + o.unit) : 'n/a'));
    });
    return svg;
  }

  // Several bars per row, one per series: rows [{label, values: [v per series]}], `names` the
  // series for the legend; options as bars().
  function groupedBars(rows, names, options) {
    const o = Object.assign({ width: 560, title: '', unit: '' }, options);
    const bar = 9, gap = 8, labelW = 190, T = 26 + 14 * names.length;
    const rowH = names.length * bar + gap;
    const h = T + rows.length * rowH + 4;
    const svg = el('svg', { width: o.width, height: h, viewBox: `0 0 ${o.width} ${h}`, role: 'img',
                            'aria-label': o.title, 'data-plot': o.title });
    svg.appendChild(el('text', { x: 4, y: 15, class: 'title' }, o.title));
    names.forEach((n, i) => svg.appendChild(el('text', { x: labelW, y: 30 + 14 * i, fill: COLORS[i % 8] }, n)));
    const all = rows.flatMap((r) => r.values.filter(Number.isFinite));
    const top = Math.max(...all, 0) || 1;
    const barW = o.width - labelW - 60;
    rows.forEach((r, k) => {
      const y = T + k * rowH;
      svg.appendChild(el('text', { x: labelW - 6, y: y + (names.length * bar) / 2 + 4, 'text-anchor': 'end' }, r.label));
      r.values.forEach((v, i) => {
        const ok = Number.isFinite(v);
        const w = ok ? Math.max(1, (v / top) * barW) : 0;
        svg.appendChild(el('rect', { x: labelW, y: y + i * bar, width: w, height: bar - 1, fill: COLORS[i % 8] }));
        svg.appendChild(el('text', { x: labelW + w + 3, y: y + i * bar + 8, 'font-size': 9 }, ok ? fmt(v) + o.unit : 'n/a'));
      });
    });
    return svg;
  }

  return { line, bars, groupedBars, fmt, COLORS };
})();
