// Small helpers to build the dashboard's tables and format its numbers.

export const $ = (id) => document.getElementById(id);

// row builds a table row; a string cell is text, a Node is put in as it is.
export function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell ?? '';
    if (cell?.numeric) td.className = 'num';
    tr.append(td);
  }
  return tr;
}

export function num(value, format = formatNumber) {
  const s = span('', format(value));
  s.numeric = true;
  return s;
}

export function badge(text, kind) {
  return span('pill ' + kind, text);
}

export function empty(text) {
  return span('hint', text);
}

export function span(cls, text) {
  const s = document.createElement('span');
  if (cls) s.className = cls;
  s.textContent = text;
  return s;
}

export function button(text, onClick, cls = 'ghost small') {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  b.addEventListener('click', (ev) => { ev.stopPropagation(); onClick(); });
  return b;
}

export function show(el, text, kind) {
  el.textContent = text;
  el.className = kind;
}

export function formatNumber(v) {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export function formatBytes(v) {
  if (typeof v !== 'number' || v <= 0) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[i];
}

export function formatDuration(s) {
  if (typeof s !== 'number') return '–';
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${Math.floor(s % 60)}s` : `${Math.floor(s)}s`;
}

export function formatTime(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

// drawSpark draws values as a line over a filled area, scaled to the largest
// and stretched over the width (a single value is a flat line).
export function drawSpark(svg, values) {
  const w = 160, h = 36, pad = 2;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...values);
  const shown = values.length === 1 ? [values[0], values[0]] : values;
  const step = w / (shown.length - 1);
  const points = shown.map((v, i) => `${(i * step).toFixed(1)},${(h - pad - (v / max) * (h - 2 * pad)).toFixed(1)}`);
  const ns = 'http://www.w3.org/2000/svg';
  const area = document.createElementNS(ns, 'polygon');
  area.setAttribute('class', 'area');
  area.setAttribute('points', `0,${h} ${points.join(' ')} ${w},${h}`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('class', 'line');
  line.setAttribute('points', points.join(' '));
  svg.replaceChildren(area, line);
}
