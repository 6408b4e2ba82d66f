/**
 * The preview page: the live picture, the mode (and a choice of others), the measured frame rate, and a control
 * for each camera control (sliders, switches, menus) that changes the camera as it moves. Errors the camera or the
 * driver returns (ERANGE, EBUSY, …) are shown beside the control. One self-contained page, no build step.
 */

const STYLE = `
  :root { color-scheme: light dark; font: 13px system-ui, sans-serif; }
  html, body { height: 100%; margin: 0; }
  /* The picture takes what the controls leave and is scaled down to fit it, never up past its own size: at 1920x1080
     (and anything near it) the picture and every control are on screen without scrolling the page. */
  body { display: grid; grid-template-columns: minmax(0, 1fr) clamp(380px, 25vw, 500px); height: 100vh; overflow: hidden; }
  main { display: grid; place-items: center; min-width: 0; min-height: 0; overflow: hidden; background: #111; }
  #live { display: block; width: auto; height: auto; max-width: calc(100% - 16px); max-height: calc(100vh - 16px); }
  aside { overflow-y: auto; padding: 10px 14px; box-sizing: border-box; max-height: 100vh; }
  @media (max-width: 820px) {
    body { grid-template-columns: 1fr; grid-template-rows: auto auto; height: auto; overflow: auto; }
    #live { max-height: 70vh; }
    aside { max-height: none; }
  }
  h1 { font-size: 15px; margin: 0 0 6px; }
  h2 { font-size: 13px; margin: 10px 0 4px; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 4px 0; }
  dt { color: GrayText; }
  dd { margin: 0; font-variant-numeric: tabular-nums; }
  .control { display: grid; grid-template-columns: minmax(0, 11em) minmax(0, 1fr) 5.5em; gap: 0 8px; align-items: center; padding: 2px 0; }
  .control label { line-height: 1.15; overflow-wrap: anywhere; cursor: help; }
  .control .input { display: flex; gap: 6px; align-items: center; min-width: 0; }
  .control .input input[type=range] { width: 100%; min-width: 0; }
  .control .input input[type=number] { width: 6.5em; }
  .control .input input[type=text] { width: 100%; min-width: 0; font-family: ui-monospace, monospace; }
  .control output { font-variant-numeric: tabular-nums; text-align: right; overflow-wrap: anywhere; }
  .control .note, .control .error { grid-column: 1 / -1; font-size: 11px; }
  .control .note { color: GrayText; }
  .control .error { color: #d33; }
  .control .note:empty, .control .error:empty { display: none; }
  .control.owned label, .control.owned output { color: GrayText; }
  #status { color: #d33; }
  #status:empty { display: none; }
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const rows = new Map();
const inflight = new Map();
/** User changes so far (each entry keeps the count at its last one, changedAt). */
let changes = 0;
let modesShown = '';

function show(control, value) {
  if (value === null || value === undefined) return '-';
  if (control.type === 'boolean') return value ? 'on' : 'off';
  if (control.type === 'menu') { const e = (control.menu || []).find((m) => m.value === value); return e ? e.name : String(value); }
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => k + ' ' + v).join(', ');
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
  row.changedAt = ++changes;
  const state = inflight.get(control.name);
  if (state) { state.next = value; return; }
  inflight.set(control.name, { next: undefined });
  row.error.textContent = '';
  post('/api/controls/' + encodeURIComponent(control.name), { value })
    .then((json) => { row.error.textContent = ''; update(json.controls || [json.control]); })
    .catch((error) => {
      // The message names the control already: say it once, after the code.
      const message = error.message.startsWith(control.name + ': ') ? error.message.slice(control.name.length + 2) : error.message;
      row.error.textContent = (error.code ? error.code + ': ' : '') + message;
      refresh();
    })
    .finally(() => { const s = inflight.get(control.name); inflight.delete(control.name); if (s && s.next !== undefined) change(control, s.next); });
}

function numberInput(name, min, max, step) {
  const input = document.createElement('input');
  input.type = 'number';
  input.name = name;
  if (typeof min === 'number') input.min = min;
  if (typeof max === 'number') input.max = max;
  input.step = step > 0 ? step : 1;
  return input;
}

function build(control) {
  const row = document.createElement('div');
  row.className = 'control';
  row.dataset.control = control.name;
  const label = document.createElement('label');
  label.textContent = control.label;
  label.title = control.details;
  label.htmlFor = 'control-' + control.name;
  const box = document.createElement('div');
  box.className = 'input';
  const out = document.createElement('output');
  out.title = control.details;
  const note = document.createElement('div');
  note.className = 'note';
  note.id = 'note-' + control.name;
  const error = document.createElement('div');
  error.className = 'error';
  error.id = 'error-' + control.name;
  let input;
  const inputs = [];
  if (!control.set) {
    input = document.createElement('span');
    note.textContent = 'read-only';
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
  } else if (control.type === 'compound' && control.fields) {
    // One number box per field (pan, tilt, …): what is shown is what is sent.
    input = document.createElement('span');
    input.className = 'input';
    for (const f of control.fields) {
      const fieldLabel = document.createElement('span');
      fieldLabel.textContent = f.name;
      const field = numberInput(control.name + '.' + f.name, f.min, f.max, f.step);
      field.id = 'control-' + control.name + '.' + f.name;
      field.title = f.name + (typeof f.min === 'number' ? ' ' + f.min + '…' + f.max : '') + (control.unit ? ' (' + control.unit + ')' : '');
      field.addEventListener('change', () => {
        const value = {};
        for (const [name, box] of inputs) value[name] = Number(box.value);
        change(control, value);
      });
      inputs.push([f.name, field]);
      input.append(fieldLabel, field);
    }
  } else {
    input = document.createElement('input');
    input.type = 'text';
    input.placeholder = control.type === 'raw' ? (control.size > 0 ? control.size + ' bytes in hex' : 'bytes in hex') : '';
    if (control.type === 'raw' && control.size > 0) input.maxLength = control.size * 2;
    input.addEventListener('change', () => change(control, input.value));
  }
  if (!inputs.length) { input.id = 'control-' + control.name; input.name = control.name; }
  box.append(input);
  row.append(label, box, out, note, error);
  $('controls').append(row);
  const entry = { row, input, inputs, out, note, error, control };
  rows.set(control.name, entry);
  return entry;
}

// A refresh answers with the state as the server read it. A control the user changed after the refresh asked, or
// whose change the server has not answered yet, keeps what the user set: shown the older value, a switch would
// flip back under the pointer until the next refresh.
function update(controls, askedAt = Infinity) {
  for (const control of controls) {
    const entry = rows.get(control.name) || build(control);
    entry.control = control;
    // The value beside a slider or a read-only control; menus, switches and boxes show their own.
    const shown = !control.set || entry.input.type === 'range';
    entry.out.textContent = shown ? show(control, control.value) : '';
    // A control an automatic mode owns cannot be set: grey it out and say which mode, and how to take it over.
    const owned = Boolean(control.owner);
    entry.row.classList.toggle('owned', owned);
    if (control.set) entry.note.textContent = owned ? 'Set by ' + control.owner.label + ' (' + control.owner.name + '): ' + control.owner.howToTake + ' to change it.' : '';
    for (const element of entry.inputs.length ? entry.inputs.map(([, box]) => box) : [entry.input]) {
      if ('disabled' in element) element.disabled = owned;
    }
    if (owned) entry.error.textContent = '';
    // Never move what the user is holding.
    if (document.activeElement === entry.input && entry.input.type === 'range' && inflight.has(control.name)) continue;
    if (askedAt !== Infinity && (inflight.has(control.name) || entry.changedAt > askedAt)) continue;
    if (entry.inputs.length) {
      for (const [name, box] of entry.inputs) if (document.activeElement !== box && control.value) box.value = control.value[name];
    } else if (entry.input.type === 'range') entry.input.value = control.value;
    else if (entry.input.type === 'checkbox') entry.input.checked = Boolean(control.value);
    else if (entry.input.tagName === 'SELECT') entry.input.value = String(control.value);
    else if (entry.input.tagName === 'SPAN') entry.input.textContent = '';
    else if (document.activeElement !== entry.input) entry.input.value = control.value === null ? '' : String(control.value);
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
  const askedAt = changes;
  let state;
  try {
    const response = await fetch('/api/state', { cache: 'no-store' });
    state = await response.json();
    if (!response.ok) { $('status').textContent = (state.error && state.error.message) || response.statusText; return; }
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
  showModes(state);
  update(state.controls, askedAt);
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
  <h2>Controls <small>(hover a name for details)</small></h2>
  <div id="controls"></div>
</aside>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
}
