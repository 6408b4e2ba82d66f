/**
 * The preview page: the live picture, the mode (and a choice of others), the measured frame rate, and a control
 * for each camera control (sliders, switches, menus) that changes the camera as it moves. Errors the camera or the
 * driver returns (ERANGE, EBUSY, …) are shown beside the control. One self-contained page, no build step.
 */

const STYLE = `
  :root { color-scheme: light dark; font: 14px system-ui, sans-serif; }
  body { margin: 0; display: flex; flex-wrap: wrap; gap: 16px; padding: 16px; }
  main { flex: 0 0 auto; }
  #live { display: block; background: #000; image-rendering: pixelated; }
  aside { flex: 1 1 320px; min-width: 320px; max-width: 560px; }
  h1 { font-size: 16px; margin: 0 0 8px; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 8px 0; }
  dt { color: GrayText; }
  dd { margin: 0; font-variant-numeric: tabular-nums; }
  .control { display: grid; grid-template-columns: 190px 1fr 90px; gap: 2px 8px; align-items: center; margin: 4px 0; }
  .control label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .control output { font-variant-numeric: tabular-nums; text-align: right; }
  .control .error { grid-column: 1 / -1; color: #d33; font-size: 12px; }
  .control .error:empty { display: none; }
  #status { color: #d33; }
  #status:empty { display: none; }
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const rows = new Map();
const inflight = new Map();
let modesShown = '';

function show(control, value) {
  if (value === null || value === undefined) return '-';
  if (control.type === 'boolean') return value ? 'on' : 'off';
  if (control.type === 'menu') { const e = (control.menu || []).find((m) => m.value === value); return e ? e.name : String(value); }
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => k + '=' + v).join(' ');
  return String(value);
}

async function post(url, body) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error((json.error && json.error.message) || response.statusText), { code: json.error && json.error.code });
  return json;
}

// Latest value wins: while one change is on its way, a newer one waits and replaces older waiting ones.
function change(control, value) {
  const row = rows.get(control.name);
  const state = inflight.get(control.name);
  if (state) { state.next = value; return; }
  inflight.set(control.name, { next: undefined });
  row.error.textContent = '';
  post('/api/controls/' + encodeURIComponent(control.name), { value })
    .then((json) => { row.error.textContent = ''; update(json.controls || [json.control]); })
    .catch((error) => { row.error.textContent = (error.code ? error.code + ': ' : '') + error.message.replace(/^[A-Z]+: /, ''); refresh(); })
    .finally(() => { const s = inflight.get(control.name); inflight.delete(control.name); if (s && s.next !== undefined) change(control, s.next); });
}

function build(control) {
  const row = document.createElement('div');
  row.className = 'control';
  row.dataset.control = control.name;
  const label = document.createElement('label');
  label.textContent = control.name;
  label.htmlFor = 'control-' + control.name;
  const out = document.createElement('output');
  const error = document.createElement('div');
  error.className = 'error';
  error.id = 'error-' + control.name;
  let input;
  if (!control.set) {
    input = document.createElement('span');
  } else if (control.type === 'integer' && typeof control.min === 'number' && typeof control.max === 'number') {
    input = document.createElement('input');
    input.type = 'range';
    input.min = control.min; input.max = control.max; input.step = control.step > 0 ? control.step : 1;
    input.addEventListener('input', () => { out.textContent = input.value; change(control, Number(input.value)); });
  } else if (control.type === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.addEventListener('change', () => change(control, input.checked));
  } else if (control.type === 'menu') {
    input = document.createElement('select');
    for (const m of control.menu || []) input.add(new Option(m.name, String(m.value)));
    input.addEventListener('change', () => change(control, Number(input.value)));
  } else {
    input = document.createElement('input');
    input.type = 'text';
    input.placeholder = control.type === 'raw' ? 'hex bytes' : 'pan=0,tilt=0';
    input.addEventListener('change', () => change(control, input.value));
  }
  input.id = 'control-' + control.name;
  input.name = control.name;
  row.append(label, input, out, error);
  $('controls').append(row);
  const entry = { row, input, out, error, control };
  rows.set(control.name, entry);
  return entry;
}

function update(controls) {
  for (const control of controls) {
    const entry = rows.get(control.name) || build(control);
    entry.control = control;
    entry.out.textContent = show(control, control.value);
    // Never move what the user is holding.
    if (document.activeElement === entry.input && entry.input.type === 'range' && inflight.has(control.name)) continue;
    if (entry.input.type === 'range') entry.input.value = control.value;
    else if (entry.input.type === 'checkbox') entry.input.checked = Boolean(control.value);
    else if (entry.input.tagName === 'SELECT') entry.input.value = String(control.value);
    else if (entry.input.tagName === 'SPAN') entry.input.textContent = show(control, control.value);
    else if (document.activeElement !== entry.input) entry.input.value = show(control, control.value);
  }
}

function showModes(state) {
  const key = JSON.stringify(state.modes);
  const select = $('mode-select');
  if (key !== modesShown) {
    modesShown = key;
    select.innerHTML = '';
    for (const f of state.modes) for (const s of f.sizes) for (const fps of s.fps) {
      select.add(new Option(f.fourcc + ' ' + s.width + 'x' + s.height + ' @ ' + fps + ' fps', JSON.stringify({ fourcc: f.fourcc, width: s.width, height: s.height, fps })));
    }
  }
  const m = state.mode;
  if (m && document.activeElement !== select) {
    for (const option of select.options) {
      const o = JSON.parse(option.value);
      if (o.fourcc === m.fourcc && o.width === m.width && o.height === m.height && Math.abs(o.fps - m.fps) < 0.01) select.value = option.value;
    }
  }
}

async function refresh() {
  let state;
  try {
    state = await (await fetch('/api/state', { cache: 'no-store' })).json();
  } catch {
    $('status').textContent = 'The preview server has stopped.';
    return;
  }
  const m = state.mode;
  $('camera').textContent = state.camera.label;
  $('mode').textContent = m ? m.fourcc + ' ' + m.width + '×' + m.height + ' @ ' + m.fps + ' fps (' + m.transfer + ')' : '-';
  $('fps').textContent = state.fps ? state.fps.toFixed(1) + ' from the camera, ' + state.shownFps.toFixed(1) + ' shown' : '-';
  $('sequence').textContent = state.sequence === null ? '-' : String(state.sequence);
  $('counts').textContent = state.frames + ' received, ' + state.errors + ' errored, ' + state.lost + ' lost';
  $('status').textContent = state.disconnected ? 'The camera went away (unplugged?).' : state.lastError || '';
  if (m) { const live = $('live'); if (live.width !== m.width) { live.width = m.width; live.height = m.height; } }
  showModes(state);
  update(state.controls);
}

$('mode-select').addEventListener('change', (event) => {
  post('/api/mode', JSON.parse(event.target.value)).then(refresh, (error) => { $('status').textContent = error.message; });
});
refresh();
setInterval(refresh, 500);
`;

export function previewPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>uvc-capture preview</title>
<style>${STYLE}</style>
</head>
<body>
<main>
  <img id="live" src="/stream.mjpg" alt="live picture from the camera">
</main>
<aside>
  <h1>uvc-capture preview</h1>
  <div id="status" role="alert"></div>
  <dl>
    <dt>Camera</dt><dd id="camera">-</dd>
    <dt>Mode</dt><dd id="mode">-</dd>
    <dt>Frame rate</dt><dd id="fps">-</dd>
    <dt>Frame</dt><dd id="sequence">-</dd>
    <dt>Frames</dt><dd id="counts">-</dd>
    <dt>Change mode</dt><dd><select id="mode-select"></select></dd>
  </dl>
  <h1>Controls</h1>
  <div id="controls"></div>
</aside>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
}
