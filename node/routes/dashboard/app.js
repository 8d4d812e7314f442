// The Trustix dashboard: reads the node's JSON API (/api/v1/, node/routes/api.ts) and draws the page.
// Plain browser JavaScript, no framework, no build step, nothing from outside this origin. Every value
// from the API reaches the page through textContent or an attribute, never as markup, so a store path
// or a log name cannot inject anything.

const API = 'api/v1/';
const REFRESH_MS = 10_000;
const DEBOUNCE_MS = 300;
const SVG = 'http://www.w3.org/2000/svg';
// The nix32 alphabet (no e, o, t, u): a store path's hash part is 32 of these.
const HASH_PART = /^[0-9a-df-np-sv-z]{32}$/;

const numbers = new Intl.NumberFormat('en-US');

/** @param {string} id */
function $(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`missing #${id}`);
  return node;
}

/**
 * A new element: `props` sets className, text (textContent) and attributes; children are nodes or text.
 * @param {string} tag
 * @param {{ className?: string, text?: string, attrs?: Record<string, string> }} [props]
 * @param {...(Node | string)} children
 */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * An SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 */
function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** @param {unknown} n */
function fmt(n) {
  return typeof n === 'number' && Number.isFinite(n) ? numbers.format(n) : '—';
}

/**
 * A rate as a percentage with one decimal, never rounding a small difference away (99.96% is not 100%).
 * @param {number | null | undefined} rate
 */
function pct(rate) {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—';
  const p = rate * 100;
  if (rate < 1 && p > 99.9) return '>99.9%';
  if (rate > 0 && p < 0.1) return '<0.1%';
  return `${p.toFixed(1)}%`;
}

/** Colour class of an agreement rate (the legend under the matrix). @param {number} rate */
function scaleOf(rate) {
  if (rate >= 0.995) return 'scale-4';
  if (rate >= 0.98) return 'scale-3';
  if (rate >= 0.95) return 'scale-2';
  if (rate >= 0.9) return 'scale-1';
  return 'scale-0';
}

class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** @param {string} path */
async function api(path) {
  const res = await fetch(API + path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) {
    const text = (await res.text()).trim();
    throw new ApiError(res.status, text || `${res.status} ${res.statusText}`);
  }
  return res.json();
}

/** @param {unknown} err */
function messageOf(err) {
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return 'the node cannot be reached';
  return err instanceof Error ? err.message : String(err);
}

/**
 * A store path with its parts told apart: store dir, hash part (muted), name (bold).
 * @param {string} path
 */
function storePathNode(path) {
  const m = /^(.*\/)([0-9a-z]{32})(-.*)$/.exec(path);
  if (m === null) return h('span', { className: 'path', text: path });
  return h(
    'span',
    { className: 'path' },
    h('span', { className: 'path-dir', text: m[1] ?? '' }),
    h('span', { className: 'path-hash', text: m[2] ?? '' }),
    h('span', { className: 'path-name', text: m[3] ?? '' }),
  );
}

/** @param {string} name */
function chip(name, className = 'chip') {
  return h('span', { className, text: name });
}

/**
 * A mismatching path's logs, grouped by the value they publish (the largest group first), and who
 * disagrees with it.
 * @param {{ logs: string[], groups?: string[][] }} item
 */
function disagreementCell(item) {
  const groups = Array.isArray(item.groups) && item.groups.length > 0 ? item.groups : [item.logs];
  const cells = [];
  groups.forEach((group, k) => {
    if (k > 0) cells.push(h('span', { className: 'versus', text: '≠' }));
    for (const name of group) cells.push(chip(name, k === 0 ? 'chip' : 'chip chip-disagrees'));
  });
  const first = groups[0] ?? [];
  const rest = groups.slice(1).flat();
  const note =
    groups.length < 2
      ? 'one log holds two values'
      : (groups[1]?.length ?? 0) === first.length
        ? 'no majority'
        : `${rest.join(', ')} ${rest.length === 1 ? 'disagrees' : 'disagree'} with ${first.join(', ')}`;
  return h(
    'td',
    { className: 'chips' },
    ...cells,
    h('span', { className: 'disagree-note', text: note, attrs: { 'data-testid': 'disagreement' } }),
  );
}

/** @param {HTMLElement} tbody @param {number} columns @param {string} text */
function emptyRow(tbody, columns, text) {
  tbody.replaceChildren(
    h('tr', {}, h('td', { className: 'empty', text, attrs: { colspan: String(columns) } })),
  );
}

// ---------------------------------------------------------------------------------------------------
// Status, logs, summary, matrix, chart: refreshed together every REFRESH_MS.

/** What was drawn last, by section: a refresh that changes nothing redraws nothing. */
const drawn = new Map();

/** @param {string} key @param {unknown} data @param {(data: any) => void} draw */
function drawIfChanged(key, data, draw) {
  const text = JSON.stringify(data);
  if (drawn.get(key) === text) return;
  drawn.set(key, text);
  draw(data);
}

function drawStatus(status) {
  const peer = typeof status.peerId === 'string' ? status.peerId : undefined;
  const peerNode = $('status-peer');
  peerNode.textContent =
    peer === undefined ? 'offline (no network)' : `${peer.slice(0, 8)}…${peer.slice(-6)}`;
  peerNode.title = peer ?? '';
  $('status-connections').textContent = fmt(status.connections);
  $('status-own').textContent = status.log ? `${fmt(status.log.size)} entries` : 'none';
  $('status-own').title = status.log ? status.log.logId : '';
  $('status-followed').textContent = `${fmt(status.followed)} logs`;
}

const STATES = {
  ok: 'ok',
  searching: 'searching',
  syncing: 'syncing',
  forked: 'forked',
  failed: 'failed',
};

function drawLogs(doc) {
  const tbody = $('logs-body');
  /** @type {any[]} */
  const followed = Array.isArray(doc.followed) ? doc.followed : [];
  const stats = new Map((Array.isArray(doc.stats) ? doc.stats : []).map((s) => [s.logId, s]));
  const rows = [...followed].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (rows.length === 0) {
    emptyRow(tbody, 8, 'No followed logs yet: add one with `trustix follow`.');
  } else {
    tbody.replaceChildren(
      ...rows.map((f) => {
        const s = stats.get(f.logId);
        const state = Object.hasOwn(STATES, f.state) ? f.state : 'unknown';
        const stateCell = h(
          'td',
          {},
          h('span', {
            className: `badge state-${state}`,
            text: state,
            attrs: { 'data-testid': 'log-state' },
          }),
        );
        if (f.error && typeof f.error.message === 'string')
          stateCell.append(h('span', { className: 'error-text', text: f.error.message }));
        const lag = typeof f.lag === 'number' ? f.lag : undefined;
        return h(
          'tr',
          { attrs: { 'data-log': String(f.name) }, className: state === 'ok' ? '' : `row-${state}` },
          h(
            'th',
            { attrs: { scope: 'row' } },
            h('span', { className: 'log-name', text: String(f.name) }),
            h('span', {
              className: 'log-id',
              text: String(f.logId).slice(0, 16),
              attrs: { title: String(f.logId) },
            }),
          ),
          stateCell,
          h('td', { className: 'num', text: fmt(f.size ?? s?.size) }),
          h('td', { className: 'num', text: fmt(f.verifiedSize ?? s?.size) }),
          h('td', { className: lag ? 'num lagging' : 'num', text: fmt(lag) }),
          h('td', { className: 'num', text: fmt(f.weight) }),
          h('td', { className: 'num', text: fmt(s?.indexed) }),
          h('td', { className: 'num', text: fmt(s?.paths) }),
        );
      }),
    );
  }
  const troubled = rows.filter((f) => f.state === 'forked' || f.state === 'failed');
  const warning = $('warning');
  warning.hidden = troubled.length === 0;
  warning.textContent =
    troubled.length === 0
      ? ''
      : `Attention: ${troubled.map((f) => `${f.name} is ${f.state}`).join(', ')}. ` +
        'A forked log does not vote; a failed log is not being synced (see its state for why).';
  setLogChoices(rows.map((f) => String(f.name)));
}

/** @param {string[]} names */
function setLogChoices(names) {
  const select = /** @type {HTMLSelectElement} */ ($('mismatch-log'));
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join('\n') === names.join('\n')) return;
  const chosen = select.value;
  select.replaceChildren(
    h('option', { text: 'All logs', attrs: { value: '' } }),
    ...names.map((n) => h('option', { text: n, attrs: { value: n } })),
  );
  select.value = names.includes(chosen) ? chosen : '';
}

function drawSummary(stats) {
  const p = stats.paths ?? {};
  $('count-analysed').textContent = fmt(p.analysed);
  $('count-reproducible').textContent = fmt(p.reproducible);
  $('count-mismatch').textContent = fmt(p.mismatch);
  $('count-inconclusive').textContent = fmt(p.inconclusive);
  const judged = (p.reproducible ?? 0) + (p.mismatch ?? 0);
  $('rate-reproducible').textContent = judged > 0 ? `(${pct(p.reproducible / judged)})` : '';
}

function drawMatrix(matrix) {
  /** @type {string[]} */
  const logs = matrix.logs ?? [];
  const pairs = new Map();
  for (const p of matrix.pairs ?? []) {
    pairs.set(`${p.a}\n${p.b}`, p);
    pairs.set(`${p.b}\n${p.a}`, p);
  }
  const head = $('matrix-head');
  const body = $('matrix-body');
  if (logs.length === 0) {
    head.replaceChildren();
    emptyRow(body, 1, 'No followed logs yet.');
    return;
  }
  const outliers = outliersOf(logs, pairs);
  const nameCell = (/** @type {string} */ name, /** @type {string} */ scope) =>
    h('th', {
      text: name,
      className: outliers.has(name) ? 'log-outlier' : '',
      attrs: {
        scope,
        'data-log': name,
        ...(outliers.has(name)
          ? { title: `${name} disagrees with every other builder more than they disagree with each other` }
          : {}),
      },
    });
  head.replaceChildren(
    h('tr', {}, h('td', { className: 'corner' }), ...logs.map((name) => nameCell(name, 'col'))),
  );
  body.replaceChildren(
    ...logs.map((row) =>
      h(
        'tr',
        {},
        nameCell(row, 'row'),
        ...logs.map((col) => {
          const attrs = { 'data-row': row, 'data-col': col };
          const p = row === col ? undefined : pairs.get(`${row}\n${col}`);
          if (p === undefined || !p.shared || p.rate === null)
            return h('td', {
              className: 'cell none',
              text: '—',
              attrs: { ...attrs, title: row === col ? row : `${row} and ${col} hold no path in common` },
            });
          return h(
            'td',
            {
              className: `cell ${scaleOf(p.rate)}${outliers.has(row) || outliers.has(col) ? ' cell-outlier' : ''}`,
              attrs: {
                ...attrs,
                title: `${row} and ${col} agree on ${fmt(p.agree)} of the ${fmt(p.shared)} paths both hold`,
              },
            },
            h('span', { className: 'cell-rate', text: pct(p.rate) }),
            h('span', { className: 'cell-shared', text: `${fmt(p.shared)} shared` }),
          );
        }),
      ),
    ),
  );
}

/**
 * The builders that stand out: every agreement rate of such a log is below every rate among the other
 * logs (a liar, or a broken builder, against an honest majority that agrees with itself).
 * @param {string[]} logs @param {Map<string, any>} pairs
 */
function outliersOf(logs, pairs) {
  const out = new Set();
  const rateOf = (/** @type {string} */ a, /** @type {string} */ b) => {
    const p = pairs.get(`${a}\n${b}`);
    return p && p.shared > 0 && typeof p.rate === 'number' ? p.rate : undefined;
  };
  for (const log of logs) {
    const own = [];
    const others = [];
    logs.forEach((a, i) => {
      for (const b of logs.slice(i + 1)) {
        const rate = rateOf(a, b);
        if (rate === undefined) continue;
        (a === log || b === log ? own : others).push(rate);
      }
    });
    if (own.length > 0 && others.length > 0 && Math.max(...own) < Math.min(...others)) out.add(log);
  }
  return out;
}

// The chart's frame, in viewBox units.
const W = 640;
const H = 260;
const M = { left: 52, right: 18, top: 14, bottom: 34 };
// The least distance between two day labels (a date is about 60 units wide).
const LABEL_GAP = 72;
// Lower ends of the rate axis, with their tick steps: the highest one below the lowest rate is used.
const Y_RANGES = [
  [0.99, 0.002],
  [0.98, 0.005],
  [0.95, 0.01],
  [0.9, 0.02],
  [0.8, 0.05],
  [0.5, 0.1],
  [0, 0.2],
];

function drawChart(data) {
  /** @type {{ day: string, reproducible: number, mismatch: number, rate: number | null }[]} */
  const days = data.days ?? [];
  const figure = $('chart');
  const caption = figure.querySelector('figcaption');
  const points = days.filter((d) => typeof d.rate === 'number');
  if (points.length === 0) {
    figure.replaceChildren(
      h('p', {
        className: 'empty chart-empty',
        text:
          days.length === 0
            ? 'No data yet: nothing has been indexed.'
            : 'No path has been analysed yet (each needs two logs).',
        attrs: { 'data-testid': 'chart-empty' },
      }),
    );
    if (caption) figure.append(caption);
    return;
  }
  const lowest = Math.min(...points.map((d) => /** @type {number} */ (d.rate)));
  const [yMin, step] = Y_RANGES.find(([lo]) => lo < lowest || lo === 0) ?? [0, 0.2];
  const innerW = W - M.left - M.right;
  const innerH = H - M.top - M.bottom;
  const times = days.map((d) => Date.parse(`${d.day}T00:00:00Z`));
  const t0 = times[0] ?? 0;
  const t1 = times[times.length - 1] ?? 0;
  const x = (/** @type {number} */ i) =>
    t1 === t0 ? M.left + innerW / 2 : M.left + (((times[i] ?? t0) - t0) / (t1 - t0)) * innerW;
  const y = (/** @type {number} */ rate) => M.top + (1 - (rate - yMin) / (1 - yMin)) * innerH;

  const first = days[0]?.day ?? '';
  const last = days[days.length - 1]?.day ?? '';
  const latest = points[points.length - 1];
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-labelledby': 'chart-svg-title chart-svg-desc',
    'data-testid': 'chart-svg',
    class: 'chart-svg',
  });
  const title = svg('title', { id: 'chart-svg-title' });
  title.textContent = 'Daily reproducibility rate';
  const desc = svg('desc', { id: 'chart-svg-desc' });
  desc.textContent =
    `${days.length} day${days.length === 1 ? '' : 's'}${first === last ? ` (${first})` : ` from ${first} to ${last}`}; ` +
    `latest ${pct(latest?.rate)} on ${latest?.day}.`;
  chart.append(title, desc);

  // Horizontal grid and the rate axis.
  const grid = svg('g', { class: 'gridlines' });
  const decimals = step < 0.01 ? 1 : 0;
  for (let v = yMin, k = 0; v <= 1 + 1e-9 && k < 20; v += step, k++) {
    const yy = y(Math.min(v, 1));
    grid.append(svg('line', { x1: M.left, x2: W - M.right, y1: yy, y2: yy }));
    const label = svg('text', { x: M.left - 8, y: yy, class: 'axis-label y-label', 'text-anchor': 'end' });
    label.textContent = `${(Math.min(v, 1) * 100).toFixed(decimals)}%`;
    grid.append(label);
  }
  chart.append(grid);
  chart.append(
    svg('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: M.top + innerH, y2: M.top + innerH }),
  );

  // Day labels: at most six, spread evenly over time, always the first and the last, never overlapping.
  const slots = Math.min(6, days.length);
  const wanted = [];
  for (let k = 0; k < slots; k++) {
    const target = slots === 1 ? t0 : t0 + (k * (t1 - t0)) / (slots - 1);
    let best = 0;
    times.forEach((tt, i) => {
      if (Math.abs(tt - target) < Math.abs((times[best] ?? 0) - target)) best = i;
    });
    wanted.push(best);
  }
  const labels = [];
  for (const i of [...new Set([...wanted, days.length - 1])].sort((a, b) => a - b)) {
    const prev = labels[labels.length - 1];
    if (prev !== undefined && x(i) - x(prev) < LABEL_GAP) {
      if (i !== days.length - 1) continue;
      if (prev !== 0)
        labels.pop(); // the last label wins over its neighbour, never over the first
      else continue;
    }
    labels.push(i);
  }
  const xAxis = svg('g', { class: 'x-axis' });
  for (const i of labels) {
    const d = days[i];
    if (d === undefined) continue;
    const xx = x(i);
    xAxis.append(svg('line', { class: 'tick', x1: xx, x2: xx, y1: M.top + innerH, y2: M.top + innerH + 5 }));
    const anchor =
      days.length === 1 ? 'middle' : i === 0 ? 'start' : i === days.length - 1 ? 'end' : 'middle';
    const label = svg('text', {
      x: xx,
      y: M.top + innerH + 20,
      class: 'axis-label x-label',
      'text-anchor': anchor,
    });
    label.textContent = d.day;
    xAxis.append(label);
  }
  chart.append(xAxis);

  // The area under the line and the line, broken where a day has no rate.
  let line = '';
  let area = '';
  let run = [];
  const flush = () => {
    if (run.length > 1) {
      line += run.map(([px, py], k) => `${k === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
      const base = (M.top + innerH).toFixed(1);
      const [fx] = run[0];
      const [lx] = run[run.length - 1];
      area += `M${fx.toFixed(1)},${base}${run.map(([px, py]) => `L${px.toFixed(1)},${py.toFixed(1)}`).join('')}L${lx.toFixed(1)},${base}Z`;
    }
    run = [];
  };
  days.forEach((d, i) => {
    if (typeof d.rate === 'number') run.push([x(i), y(d.rate)]);
    else flush();
  });
  flush();
  if (area !== '') chart.append(svg('path', { class: 'area', d: area }));
  if (line !== '') chart.append(svg('path', { class: 'line', d: line, 'data-testid': 'chart-line' }));

  const dots = svg('g', { class: 'points' });
  // Many days: the points stay (hover shows the day) but are drawn only under the pointer.
  const pointClass = days.length > 60 ? 'point dense' : 'point';
  days.forEach((d, i) => {
    if (typeof d.rate !== 'number') return;
    const dot = svg('circle', { class: pointClass, cx: x(i), cy: y(d.rate), r: 4, 'data-day': d.day });
    const tip = svg('title');
    tip.textContent = `${d.day}: ${pct(d.rate)} reproducible (${fmt(d.reproducible)} reproducible, ${fmt(d.mismatch)} mismatching)`;
    dot.append(tip);
    dots.append(dot);
  });
  chart.append(dots);

  figure.replaceChildren(chart);
  if (caption) figure.append(caption);
}

const daysSelect = /** @type {HTMLSelectElement} */ ($('chart-days'));

let refreshTimer = 0;
let refreshing = false;

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  window.clearTimeout(refreshTimer);
  const parts = await Promise.allSettled([
    api('status').then((d) => drawIfChanged('status', d, drawStatus)),
    api('logs').then((d) => drawIfChanged('logs', d, drawLogs)),
    api('stats').then((d) => drawIfChanged('stats', d, drawSummary)),
    api('matrix').then((d) => drawIfChanged('matrix', d, drawMatrix)),
    api(`daily?days=${encodeURIComponent(daysSelect.value)}`).then((d) =>
      drawIfChanged('daily', d, drawChart),
    ),
  ]);
  const failed = parts.find((p) => p.status === 'rejected');
  const dot = $('connection');
  const alert = $('error');
  if (failed !== undefined) {
    dot.dataset.state = 'error';
    $('updated').textContent = `Update failed: ${messageOf(failed.reason)}`;
    alert.textContent = `Could not read the node's API: ${messageOf(failed.reason)}. Retrying every ${REFRESH_MS / 1000} s.`;
    alert.hidden = false;
  } else {
    dot.dataset.state = 'ok';
    $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
    alert.hidden = true;
  }
  refreshing = false;
  if (!document.hidden) refreshTimer = window.setTimeout(refresh, REFRESH_MS);
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) window.clearTimeout(refreshTimer);
  else void refresh();
});
daysSelect.addEventListener('change', () => {
  api(`daily?days=${encodeURIComponent(daysSelect.value)}`)
    .then((d) => drawIfChanged('daily', d, drawChart))
    .catch(() => {}); // the next refresh reports it
});

// ---------------------------------------------------------------------------------------------------
// The mismatch list: one page at a time, filtered on the server.

const mismatch = {
  /** The cursors (`after`) and row counts of the pages before this one. */
  /** @type {{ after: string | undefined, count: number }[]} */
  back: [],
  /** @type {string | undefined} */
  after: undefined,
  /** @type {string | null} */
  next: null,
  count: 0,
  seq: 0,
};

const searchInput = /** @type {HTMLInputElement} */ ($('search-input'));
const logSelect = /** @type {HTMLSelectElement} */ ($('mismatch-log'));
const qInput = /** @type {HTMLInputElement} */ ($('mismatch-q'));
const limitSelect = /** @type {HTMLSelectElement} */ ($('mismatch-limit'));
const firstButton = /** @type {HTMLButtonElement} */ ($('mismatch-first'));
const prevButton = /** @type {HTMLButtonElement} */ ($('mismatch-prev'));
const nextButton = /** @type {HTMLButtonElement} */ ($('mismatch-next'));

async function loadMismatches() {
  const seq = ++mismatch.seq;
  const params = new URLSearchParams();
  if (mismatch.after !== undefined) params.set('after', mismatch.after);
  params.set('limit', limitSelect.value);
  if (logSelect.value !== '') params.set('log', logSelect.value);
  const q = qInput.value.trim();
  if (q !== '') params.set('q', q);
  const tbody = $('mismatches-body');
  tbody.setAttribute('aria-busy', 'true');
  let page;
  try {
    page = await api(`mismatches?${params}`);
  } catch (err) {
    if (seq !== mismatch.seq) return;
    tbody.removeAttribute('aria-busy');
    emptyRow(tbody, 2, `Could not load the mismatching paths: ${messageOf(err)}`);
    nextButton.disabled = true;
    return;
  }
  if (seq !== mismatch.seq) return; // a newer request is under way
  tbody.removeAttribute('aria-busy');
  /** @type {{ hashPart: string, storePath: string, logs: string[] }[]} */
  const items = page.items ?? [];
  mismatch.next = page.next ?? null;
  mismatch.count = items.length;
  if (items.length === 0) {
    const filtered = logSelect.value !== '' || q !== '';
    emptyRow(
      tbody,
      2,
      mismatch.next !== null
        ? 'No match in this stretch of the index: go on with “Next page”.'
        : mismatch.back.length > 0
          ? 'No more mismatching paths.'
          : filtered
            ? 'No mismatching path matches these filters.'
            : 'No mismatching paths: every path held by two or more logs is reproducible.',
    );
  } else {
    tbody.replaceChildren(
      ...items.map((item) => {
        const open = h('button', {
          className: 'linklike',
          attrs: { type: 'button', 'aria-label': `Show the report for ${item.storePath}` },
        });
        open.append(storePathNode(item.storePath));
        const pick = (/** @type {Event} */ e) => {
          e.stopPropagation();
          searchInput.value = item.storePath;
          void showReport(item.hashPart);
        };
        open.addEventListener('click', pick);
        const row = h(
          'tr',
          { className: 'clickable', attrs: { 'data-hash': item.hashPart } },
          h('td', {}, open),
          disagreementCell(item),
        );
        row.addEventListener('click', pick);
        return row;
      }),
    );
  }
  markSelected();
  const start = mismatch.back.reduce((n, p) => n + p.count, 0);
  $('mismatch-page').textContent =
    items.length === 0
      ? `Page ${mismatch.back.length + 1}`
      : `Page ${mismatch.back.length + 1} · rows ${fmt(start + 1)}–${fmt(start + items.length)}`;
  firstButton.disabled = mismatch.back.length === 0;
  prevButton.disabled = mismatch.back.length === 0;
  nextButton.disabled = mismatch.next === null;
}

function restartMismatches() {
  mismatch.back = [];
  mismatch.after = undefined;
  void loadMismatches();
}

let qTimer = 0;
qInput.addEventListener('input', () => {
  window.clearTimeout(qTimer);
  qTimer = window.setTimeout(restartMismatches, DEBOUNCE_MS);
});
logSelect.addEventListener('change', restartMismatches);
limitSelect.addEventListener('change', restartMismatches);
$('mismatch-filters').addEventListener('submit', (e) => {
  e.preventDefault();
  window.clearTimeout(qTimer);
  restartMismatches();
});
nextButton.addEventListener('click', () => {
  if (mismatch.next === null) return;
  mismatch.back.push({ after: mismatch.after, count: mismatch.count });
  mismatch.after = mismatch.next;
  void loadMismatches();
});
prevButton.addEventListener('click', () => {
  const prev = mismatch.back.pop();
  if (prev === undefined) return;
  mismatch.after = prev.after;
  void loadMismatches();
});
firstButton.addEventListener('click', restartMismatches);

// ---------------------------------------------------------------------------------------------------
// A path's report: what each log says, the verdict, the vote's decision.

/**
 * The hash part named by a store path (`/nix/store/<hash>-name`, also a file inside one), a base name
 * (`<hash>-name`) or the hash part itself; undefined when it names none.
 * @param {string} text
 */
function hashPartOf(text) {
  const t = text.trim();
  for (const segment of t.split('/')) {
    const candidate = segment.split('-', 1)[0] ?? '';
    if (HASH_PART.test(candidate) && (segment.length === 32 || segment[32] === '-')) return candidate;
    if (!t.startsWith('/')) break; // a base name: only its first segment counts
  }
  return undefined;
}

/** The fields of a fingerprint `1;<path>;<narHash>;<narSize>;<refs>`. @param {string} fp */
function fingerprintParts(fp) {
  const [, path, narHash, narSize, refs] = fp.split(';');
  return {
    path: path ?? '',
    narHash: narHash ?? '',
    narSize: Number(narSize),
    references: refs ? refs.split(',') : [],
  };
}

/**
 * A NAR hash; against `reference` (the decided one, same length), the characters that differ are marked.
 * @param {string} hash
 * @param {string | undefined} reference
 */
function hashNode(hash, reference) {
  const node = h('code', { className: 'hash', attrs: { 'data-testid': 'nar-hash' } });
  if (reference === undefined || reference === hash || reference.length !== hash.length) {
    node.textContent = hash;
    return node;
  }
  let run = '';
  let differs = false;
  const flush = () => {
    if (run !== '') node.append(differs ? h('mark', { text: run }) : run);
    run = '';
  };
  for (let i = 0; i < hash.length; i++) {
    const d = hash[i] !== reference[i];
    if (d !== differs) flush();
    differs = d;
    run += hash[i];
  }
  flush();
  return node;
}

/**
 * The logs of a path report with identical values together: the decided value's logs first, then the
 * other values by how many logs publish them, then the logs that hold several values.
 * @param {any[]} logs @param {string | undefined} decided
 */
function groupedLogs(logs, decided) {
  const count = new Map();
  for (const l of logs)
    if (l.fingerprints.length === 1) count.set(l.fingerprints[0], (count.get(l.fingerprints[0]) ?? 0) + 1);
  const rank = (/** @type {any} */ l) =>
    l.fingerprints.length !== 1
      ? [2, 0, '']
      : [l.fingerprints[0] === decided ? 0 : 1, -count.get(l.fingerprints[0]), l.fingerprints[0]];
  return [...logs].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return (
      x[0] - y[0] ||
      x[1] - y[1] ||
      (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0) ||
      (a.log < b.log ? -1 : a.log > b.log ? 1 : 0)
    );
  });
}

const VERDICT_TEXT = {
  reproducible: 'Every log that holds this path publishes the same output.',
  mismatch: 'The logs that hold this path publish different outputs.',
  inconclusive: 'Fewer than two followed logs hold this path: nothing to compare yet.',
};

let reportSeq = 0;

/** @param {string} hashPart */
async function showReport(hashPart) {
  const seq = ++reportSeq;
  const out = $('report');
  out.hidden = false;
  out.setAttribute('aria-busy', 'true');
  out.replaceChildren(h('p', { className: 'explain', text: `Looking up ${hashPart}…` }));
  history.replaceState(null, '', `#path=${hashPart}`);
  let report;
  try {
    report = await api(`paths/${hashPart}`);
  } catch (err) {
    if (seq !== reportSeq) return;
    out.removeAttribute('aria-busy');
    out.replaceChildren(
      h('p', { className: 'banner', text: `Could not look up ${hashPart}: ${messageOf(err)}` }),
    );
    return;
  }
  if (seq !== reportSeq) return;
  out.removeAttribute('aria-busy');
  drawReport(out, report);
  markSelected();
  out.scrollIntoView({ block: 'nearest' });
}

/** Marks the mismatch row of the path whose report is shown. */
function markSelected() {
  const shown = /^#path=([0-9a-z]{32})$/.exec(location.hash)?.[1];
  for (const row of $('mismatches-body').querySelectorAll('tr[data-hash]')) {
    if (row.getAttribute('data-hash') === shown) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
}

function drawReport(out, report) {
  const d = report.decision ?? {};
  const decided = typeof d.fingerprint === 'string' ? d.fingerprint : undefined;
  const verdict = String(report.verdict);
  const head = h(
    'div',
    { className: 'report-head' },
    h('span', {
      className: `badge verdict-${Object.hasOwn(VERDICT_TEXT, verdict) ? verdict : 'unknown'}`,
      text: verdict,
      attrs: { 'data-testid': 'report-verdict' },
    }),
    report.storePath
      ? h('h3', { attrs: { 'data-testid': 'report-path' } }, storePathNode(report.storePath))
      : h('h3', {
          text: `No followed log holds ${report.hashPart}`,
          attrs: { 'data-testid': 'report-path' },
        }),
  );
  const parts = [head, h('p', { className: 'explain', text: VERDICT_TEXT[verdict] ?? '' })];

  /** @type {any[]} */
  const logs = groupedLogs(report.logs ?? [], decided);
  const valueLetter = new Map();
  for (const l of logs)
    for (const fp of l.fingerprints)
      if (!valueLetter.has(fp)) valueLetter.set(fp, String.fromCharCode(65 + (valueLetter.size % 26)));
  if (logs.length > 0) {
    const rows = [];
    for (const l of logs) {
      const contradicting = l.fingerprints.length > 1;
      l.fingerprints.forEach((fp, k) => {
        const f = fingerprintParts(fp);
        const stance = contradicting
          ? ['abstains', 'contradicts itself']
          : decided === undefined
            ? ['undecided', '—']
            : fp === decided
              ? ['agrees', 'agrees']
              : ['differs', 'differs'];
        const details = h('details', {}, h('summary', { text: 'fingerprint' }), h('code', { text: fp }));
        rows.push(
          h(
            'tr',
            { className: `row-${stance[0]}`, attrs: { 'data-log': l.log } },
            k === 0
              ? h('th', {
                  text: l.log,
                  attrs: { scope: 'row', rowspan: String(l.fingerprints.length), title: l.logId },
                })
              : '',
            h('td', {
              className: 'value-letter',
              text: valueLetter.get(fp),
              attrs: {
                'data-testid': 'value',
                title: `${logs.filter((o) => o.fingerprints.includes(fp)).length} log(s) publish this value`,
              },
            }),
            h(
              'td',
              {},
              hashNode(f.narHash, decided === undefined ? undefined : fingerprintParts(decided).narHash),
            ),
            h('td', { className: 'num', text: fmt(f.narSize) }),
            h('td', { className: 'num', text: fmt(f.references.length) }),
            h('td', {}, h('span', { className: `stance stance-${stance[0]}`, text: stance[1] }), details),
          ),
        );
      });
    }
    parts.push(
      h(
        'div',
        { className: 'scroll' },
        h(
          'table',
          { className: 'report-logs', attrs: { 'data-testid': 'report-logs' } },
          h('caption', { text: 'What each log says' }),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { text: 'Log', attrs: { scope: 'col' } }),
              h('th', {
                text: 'Value',
                attrs: { scope: 'col', title: 'Logs with the same letter publish the same output' },
              }),
              h('th', { text: 'NAR hash', attrs: { scope: 'col' } }),
              h('th', { text: 'NAR size', className: 'num', attrs: { scope: 'col' } }),
              h('th', { text: 'References', className: 'num', attrs: { scope: 'col' } }),
              h('th', { text: 'Against the decision', attrs: { scope: 'col' } }),
            ),
          ),
          h('tbody', {}, ...rows),
        ),
      ),
    );
  }
  /** @type {string[]} */
  const silent = report.silent ?? [];
  parts.push(
    h(
      'p',
      { className: 'silent', attrs: { 'data-testid': 'report-silent' } },
      h('span', { className: 'label', text: 'No entry for it: ' }),
      ...(silent.length === 0
        ? [h('span', { className: 'muted', text: 'none — every followed log holds it' })]
        : silent.map((s) => chip(s))),
    ),
  );

  const list = (/** @type {string[]} */ names, empty = 'none') =>
    names.length === 0 ? [h('span', { className: 'muted', text: empty })] : names.map((n) => chip(n));
  const rows = [
    [
      'Decision',
      decided !== undefined
        ? h('span', {
            className: 'badge decided',
            text: 'decided',
            attrs: { 'data-testid': 'decision-status' },
          })
        : h('span', {
            className: 'badge undecided',
            text: 'not decided',
            attrs: { 'data-testid': 'decision-status' },
          }),
    ],
    ['Decider', h('span', { text: d.decider ?? '—', attrs: { 'data-testid': 'decision-decider' } })],
  ];
  if (decided !== undefined)
    rows.push([
      'Output used',
      h('code', {
        className: 'hash',
        text: fingerprintParts(decided).narHash,
        attrs: { 'data-testid': 'decision-nar-hash' },
      }),
    ]);
  rows.push(
    [
      'Agreeing',
      h(
        'span',
        { className: 'chips', attrs: { 'data-testid': 'decision-agreeing' } },
        ...list(d.agreeing ?? []),
      ),
    ],
    [
      'Voting otherwise',
      h(
        'span',
        { className: 'chips', attrs: { 'data-testid': 'decision-mismatches' } },
        ...((d.mismatches ?? []).length === 0
          ? list([])
          : d.mismatches.map((m) =>
              h(
                'span',
                { className: 'chip bad', attrs: { title: m.fingerprint } },
                `${m.log}: `,
                h('code', { text: fingerprintParts(m.fingerprint).narHash }),
              ),
            )),
      ),
    ],
    [
      'No entry',
      h('span', { className: 'chips', attrs: { 'data-testid': 'decision-misses' } }, ...list(d.misses ?? [])),
    ],
  );
  if ((d.abstentions ?? []).length > 0)
    rows.push([
      'Abstaining',
      h(
        'span',
        { className: 'chips' },
        ...d.abstentions.map((a) =>
          chip(`${a.log} (${a.reason === 'forked' ? 'forked' : 'contradicts itself'})`, 'chip muted'),
        ),
      ),
    ]);
  if ((d.reasons ?? []).length > 0)
    rows.push([
      'Why not earlier',
      h(
        'ul',
        { className: 'reasons', attrs: { 'data-testid': 'decision-reasons' } },
        ...d.reasons.map((r) => h('li', { text: r })),
      ),
    ]);
  parts.push(
    h(
      'section',
      { className: 'decision', attrs: { 'aria-label': 'The vote', 'data-testid': 'report-decision' } },
      h('h4', { text: 'The vote' }),
      h(
        'dl',
        {},
        ...rows.map(([term, value]) => h('div', {}, h('dt', { text: String(term) }), h('dd', {}, value))),
      ),
    ),
  );
  out.replaceChildren(...parts);
}

$('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const hash = hashPartOf(searchInput.value);
  if (hash === undefined) {
    const out = $('report');
    out.hidden = false;
    out.replaceChildren(
      h('p', {
        className: 'banner',
        text: 'That is not a store path: expected /nix/store/<32-character hash>-<name>, or the hash alone.',
        attrs: { 'data-testid': 'search-error' },
      }),
    );
    searchInput.setAttribute('aria-invalid', 'true');
    return;
  }
  searchInput.removeAttribute('aria-invalid');
  void showReport(hash);
});

// ---------------------------------------------------------------------------------------------------

/** Opens the report the address names (`#path=<hash part>`): on load, and on back, forward or a link. */
function showLinked() {
  const linked = /^#path=([0-9a-z]{32})$/.exec(location.hash)?.[1];
  if (linked === undefined || !HASH_PART.test(linked)) return;
  searchInput.value = linked;
  void showReport(linked);
}

window.addEventListener('hashchange', showLinked);
showLinked();
void refresh();
void loadMismatches();
