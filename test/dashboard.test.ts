/**
 * The web dashboard (node/routes/dashboard.ts, node/routes/dashboard/): the routes serve exactly the allow-listed
 * assets with their types and a strict CSP; and in a real browser (Debian's Chromium through
 * playwright-core) over real logs, real statistics and the real JSON API, the page shows the followed
 * logs, the summary, the agreement matrix, the daily chart, the paged and filtered mismatch list and a
 * path's report with the vote's decision, without a console error or a failed request. A full-page
 * screenshot is saved to $TRUSTIX_ARTIFACTS_DIR (default <tmpdir>/trustix-artifacts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chromium, type Page } from 'playwright-core';
import { HttpServer } from '../node/http/server.ts';
import { ApiRoutes } from '../node/routes/api.ts';
import { DASHBOARD_CSP, DASHBOARD_DIR, DashboardRoutes } from '../node/routes/dashboard.ts';
import { ReproStats } from '../node/stats/repro-stats.ts';
import { parseDeciderSpec } from '../node/vote/decider.ts';
import { formatEntry, parseEntry } from '../protocol/entry.ts';
import { formatSha256 } from '../protocol/nix-hash.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';
import { openVoteFixture, type VoteFixture } from './helpers/vote-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps trying to reach outside hosts.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// The page's DOM, as far as the functions run in it use it (the project compiles without the DOM lib).
declare const document: {
  querySelector(
    selector: string,
  ): { textContent: string | null; getAttribute(name: string): string | null } | null;
  querySelectorAll(selector: string): { length: number };
};
const ARTIFACTS = process.env['TRUSTIX_ARTIFACTS_DIR'] ?? join(tmpdir(), 'trustix-artifacts');

async function serveDashboard(t: ExecutionContext): Promise<string> {
  const http = new HttpServer({});
  http.register(await DashboardRoutes.open());
  await http.start();
  t.teardown(() => http.stop());
  return `http://127.0.0.1:${http.address().port}`;
}

/** A raw request (fetch would normalise the path). */
function rawGet(base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    httpRequest({ host: url.hostname, port: url.port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

test('the routes serve the allow-listed assets with their types and a strict CSP', async (t) => {
  const base = await serveDashboard(t);
  const page = await fetch(`${base}/`);
  t.is(page.status, 200);
  t.is(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.is(page.headers.get('cache-control'), 'no-cache');
  t.is(page.headers.get('x-content-type-options'), 'nosniff');
  const csp = page.headers.get('content-security-policy') ?? '';
  t.is(csp, DASHBOARD_CSP);
  for (const directive of [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
  ])
    t.true(csp.split('; ').includes(directive), directive);
  t.false(csp.includes('unsafe'), 'no unsafe-inline or unsafe-eval');
  const html = await page.text();
  t.is(html, await readFile(new URL('index.html', DASHBOARD_DIR), 'utf8'));

  for (const [path, type] of [
    ['/dashboard/app.js', 'text/javascript; charset=utf-8'],
    ['/dashboard/style.css', 'text/css; charset=utf-8'],
    ['/dashboard/favicon.svg', 'image/svg+xml'],
    ['/?x=1', 'text/html; charset=utf-8'],
  ] as const) {
    const res = await fetch(base + path);
    t.is(res.status, 200, path);
    t.is(res.headers.get('content-type'), type, path);
    t.is(res.headers.get('content-security-policy'), DASHBOARD_CSP, path);
    await res.arrayBuffer();
  }

  const head = await fetch(`${base}/`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.headers.get('content-length'), String(Buffer.byteLength(html)));
  t.is(head.headers.get('content-type'), 'text/html; charset=utf-8');
  t.is(await head.text(), '');

  for (const method of ['POST', 'PUT', 'DELETE']) {
    const res = await fetch(`${base}/dashboard/app.js`, { method });
    t.is(res.status, 405, method);
    t.is(res.headers.get('allow'), 'GET, HEAD');
    await res.text();
  }
  for (const path of [
    '/dashboard/x',
    '/dashboard/',
    '/dashboard',
    '/dashboard/index.html',
    '/index.html',
    '/dashboard/app.js/x',
    '/dashboard/APP.JS',
    '/api/v1/stats',
  ]) {
    const res = await fetch(base + path);
    t.is(res.status, 404, path);
    await res.text();
  }
  t.is(await rawGet(base, '/dashboard/../package.json'), 400, 'dot segments never reach a route');
  t.is(await rawGet(base, '/dashboard/%2e%2e/dashboard.ts'), 400);
});

test('the assets load nothing from outside and never write data as markup', async (t) => {
  const read = (file: string) => readFile(new URL(file, DASHBOARD_DIR), 'utf8');
  const [html, js, css] = await Promise.all([read('index.html'), read('app.js'), read('style.css')]);
  for (const [name, text] of [
    ['index.html', html],
    ['app.js', js],
    ['style.css', css],
  ] as const) {
    // The SVG namespace is a name, not a request.
    const urls = (text.match(/\b(?:https?:|wss?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s'"`)]*/gi) ?? []).filter(
      (u) => u !== 'http://www.w3.org/2000/svg',
    );
    t.deepEqual(urls, [], `${name} names no external URL`);
  }
  t.false(/@import|url\(/.test(css), 'the CSS loads nothing');
  t.false(/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no inline script');
  t.false(/\sstyle=|\son[a-z]+=/i.test(html), 'no inline style or handler attributes');
  t.false(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/.test(js));
});

// --- The page in a real browser -------------------------------------------------------------------

const DAY = 86_400_000;
const FIRST_DAY = Date.parse('2026-11-17T12:00:00Z');

/** `fingerprint` with another NAR hash: what a builder whose output differs publishes. */
function differ(fingerprint: string): string {
  const e = parseEntry(fingerprint);
  const narHash = Uint8Array.from(e.narHash);
  narHash[0] = (narHash[0] ?? 0) ^ 0xff;
  return formatEntry({ ...e, narHash });
}

function withNarSize(fingerprint: string, by: number): string {
  const e = parseEntry(fingerprint);
  return formatEntry({ ...e, narSize: e.narSize + by });
}

const honest = [...syntheticEntries(500, 11)];
// saturn differs on 20 paths; mars built only 300 of them; venus rebuilt path 7 twice differently.
const saturn = honest.map((e, i) => (i % 25 === 0 ? differ(e) : e));
const mars = honest.slice(0, 300);
const venus = [...honest, withNarSize(honest[7]!, 2)];
const BUILDERS = [
  { name: 'mercury', entries: honest },
  { name: 'venus', entries: venus },
  { name: 'saturn', entries: saturn },
  { name: 'mars', entries: mars },
];
/** The builders publish in four batches, one a day: the chart gets four days. */
const BATCHES = [0, 125, 250, 375, Number.POSITIVE_INFINITY];
const mismatching = honest.filter((_, i) => i % 25 === 0 || i === 7).map((e) => parseEntry(e).storePath);

/** The builders' logs, indexed a batch a day (the chart gets four days). */
async function dashboardNode(t: ExecutionContext) {
  const f = await openVoteFixture({
    logs: BUILDERS.map((b) => ({ name: b.name, entries: b.entries.slice(0, BATCHES[1]) })),
    vote: [parseDeciderSpec('threshold 1/2')],
  });
  t.teardown(() => f.close());
  const clock = { now: FIRST_DAY };
  const stats = await indexedStats(t, f, clock);
  for (let day = 1; day < BATCHES.length - 1; day++) {
    clock.now += DAY;
    for (const b of BUILDERS) {
      const batch = b.entries.slice(BATCHES[day], BATCHES[day + 1]);
      if (batch.length > 0) await f.logs.get(b.name)!.append(batch);
    }
    for (const l of f.followed.list()) stats.update(l.logId);
    await stats.idle();
  }
  return { url: await serveNode(t, f, stats), stats };
}

async function indexedStats(t: ExecutionContext, f: VoteFixture, clock: { now: number }) {
  const stats = new ReproStats(
    { db: f.db, followed: f.followed, store: (id) => f.store(id) },
    { now: () => clock.now },
  );
  await stats.start();
  await stats.idle();
  t.teardown(() => stats.stop());
  return stats;
}

/**
 * The API (over real statistics and decisions, with the control documents a synced node answers:
 * every followed log 'ok', unless `states` says otherwise, at its full size) and the dashboard on one HTTP server; returns the page URL.
 */
async function serveNode(
  t: ExecutionContext,
  f: VoteFixture,
  stats: ReproStats,
  /** Another state for some logs, by name. */
  states: Record<string, { state: string; error?: { code: string; message: string } }> = {},
): Promise<string> {
  const followed = () =>
    f.followed.list().map((l) => {
      const size = f.store(l.logId)?.size ?? 0;
      return {
        logId: l.logId,
        name: l.name,
        vkey: l.vkey,
        weight: l.weight,
        state: 'ok',
        ...states[l.name],
        size,
        verifiedSize: size,
        targetSize: size,
        lag: 0,
        sources: ['12D3KooWQx9k2R8hZ4bYpTrustixPeerAAAAAAAAAAAAAAAA'],
        syncedAt: FIRST_DAY + 3 * DAY,
      };
    });
  const http = new HttpServer({});
  http.register(
    new ApiRoutes({
      views: stats.views,
      decide: (h) => f.decisions.decide(h),
      control: async (op) => {
        switch (op) {
          case 'status':
            return {
              peerId: '12D3KooWLm5nX7uYq2aRrT9cDashboardTestNodeZZZZZZZZZZ',
              addresses: ['/ip4/127.0.0.1/tcp/4001'],
              connections: 3,
              followed: f.followed.list().length,
            };
          case 'logs':
            return { own: null, followed: followed(), seen: [] };
          case 'peers':
            return { peers: [] };
          case 'evidence':
            return { evidence: [] };
        }
      },
    }),
  );
  http.register(await DashboardRoutes.open());
  await http.start();
  t.teardown(() => http.stop());
  return `http://127.0.0.1:${http.address().port}/`;
}

async function openBrowser(t: ExecutionContext) {
  const userDataDir = await tempDir('trustix-chromium-');
  // Playwright refuses a --user-data-dir argument: a persistent context on a fresh directory is that.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
    timeout: 20_000,
  });
  t.teardown(async () => {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(8_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return { page, problems };
}

const texts = (page: Page, selector: string) =>
  page.$$eval(selector, (nodes) => nodes.map((n) => (n.textContent ?? '').trim()));

/**
 * Waits until the mismatch table shows `n` rows (and, given, the pager says `label`); returns their paths.
 */
async function mismatchRows(page: Page, n: number, label?: string): Promise<string[]> {
  await page.waitForFunction(
    ([count, text]) =>
      document.querySelector('#mismatches-body')?.getAttribute('aria-busy') === null &&
      document.querySelectorAll('#mismatches-body tr[data-hash]').length === count &&
      (text === undefined || document.querySelector('#mismatch-page')?.textContent === text),
    [n, label] as const,
  );
  return texts(page, '#mismatches-body tr[data-hash] td:first-child');
}

/** A test that needs Chromium: skipped, saying so, on a machine without it. */
function browserTest(title: string, fn: (t: ExecutionContext) => Promise<void>) {
  if (existsSync(CHROMIUM)) test(title, fn);
  else test.skip(`${title} (skipped: no ${CHROMIUM}; apt-get install chromium)`, fn);
}

browserTest(
  'the page shows logs, matrix, chart, mismatches and a path’s decision in a real browser',
  async (t) => {
    const started = performance.now();
    const { url, stats } = await dashboardNode(t);
    const { page, problems } = await openBrowser(t);
    await page.goto(url);

    // Followed logs, with their health and what is indexed.
    await page.waitForSelector('#logs-body tr[data-log]');
    t.deepEqual(await texts(page, '#logs-body tr[data-log] .log-name'), [
      'mars',
      'mercury',
      'saturn',
      'venus',
    ]);
    t.deepEqual(await texts(page, '#logs-body [data-testid="log-state"]'), ['ok', 'ok', 'ok', 'ok']);
    t.deepEqual(await texts(page, '#logs-body tr[data-log="venus"] td'), [
      'ok',
      '501',
      '501',
      '0',
      '1',
      '501',
      '500',
    ]);
    t.is(await page.textContent('#status-followed'), '4 logs');
    t.is(await page.textContent('#status-connections'), '3');

    // The summary.
    await page.waitForFunction(() => document.querySelector('#count-analysed')?.textContent === '500');
    t.is(await page.textContent('#count-reproducible'), '479');
    t.is(await page.textContent('#count-mismatch'), '21');
    t.is(await page.textContent('#count-inconclusive'), '0');
    t.is(await page.textContent('#rate-reproducible'), '(95.8%)');

    // The agreement matrix: the real numbers, both ways round, and '—' on the diagonal.
    await page.waitForSelector('#matrix td[data-row="mercury"][data-col="saturn"]');
    const cell = (row: string, col: string) =>
      page.textContent(`#matrix td[data-row="${row}"][data-col="${col}"]`).then((s) => s?.trim());
    t.is(await cell('mercury', 'saturn'), '96.0%500 shared');
    t.is(await cell('saturn', 'mercury'), '96.0%500 shared');
    t.is(await cell('mars', 'saturn'), '96.0%300 shared');
    t.is(await cell('mercury', 'venus'), '99.8%500 shared');
    t.is(await cell('mars', 'mercury'), '100.0%300 shared');
    t.is(await cell('venus', 'venus'), '—');
    t.deepEqual(await texts(page, '#matrix thead th'), ['mars', 'mercury', 'saturn', 'venus']);
    t.regex(
      (await page.getAttribute('#matrix td[data-row="mercury"][data-col="saturn"]', 'class')) ?? '',
      /scale-2/,
    );
    // saturn, which disagrees with everyone more than they do with each other, stands out: name and cells.
    t.deepEqual(await texts(page, '#matrix th.log-outlier'), ['saturn', 'saturn']);
    t.regex(
      (await page.getAttribute('#matrix thead th[data-log="saturn"]', 'title')) ?? '',
      /disagrees with every other/,
    );
    t.is(await page.locator('#matrix td.cell-outlier').count(), 6, 'saturn’s row and column');
    t.regex(
      (await page.getAttribute('#matrix td[data-row="mercury"][data-col="venus"]', 'class')) ?? '',
      /^cell scale-4$/,
    );

    // The daily chart: one point per day, the line, the days on the axis.
    const days = stats.views.daily();
    t.is(days.length, 4);
    await page.waitForSelector('#chart svg circle.point');
    t.is(await page.locator('#chart svg circle.point').count(), 4);
    t.is(await page.locator('#chart svg path.line').count(), 1);
    const xLabels = await texts(page, '#chart svg .x-label');
    t.deepEqual(xLabels, ['2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20']);
    t.true((await texts(page, '#chart svg .y-label')).includes('100%'));
    t.deepEqual(
      await page.$$eval('#chart svg circle.point', (c) => c.map((n) => n.getAttribute('data-day'))),
      days.map((d) => d.day),
    );

    // The mismatch list: every mismatching path, paged by the server's cursor.
    const all = await mismatchRows(page, 21);
    t.deepEqual([...all].sort(), [...mismatching].sort());
    t.true(await page.isDisabled('#mismatch-next'));
    await page.selectOption('#mismatch-limit', '10');
    const page1 = await mismatchRows(page, 10, 'Page 1 · rows 1–10');
    t.true(await page.isDisabled('#mismatch-prev'));
    await page.click('#mismatch-next');
    const page2 = await mismatchRows(page, 10, 'Page 2 · rows 11–20');
    await page.click('#mismatch-next');
    const page3 = await mismatchRows(page, 1, 'Page 3 · rows 21–21');
    t.true(await page.isDisabled('#mismatch-next'));
    t.deepEqual([...page1, ...page2, ...page3], all, 'the pages, in order, are the whole list');
    await page.click('#mismatch-prev');
    t.deepEqual(await mismatchRows(page, 10, 'Page 2 · rows 11–20'), page2);
    await page.click('#mismatch-first');
    t.deepEqual(await mismatchRows(page, 10, 'Page 1 · rows 1–10'), page1);
    // Filtered on the server: by log, and by text (debounced).
    await page.selectOption('#mismatch-limit', '25');
    await page.selectOption('#mismatch-log', 'mars');
    t.is((await mismatchRows(page, 13)).length, 13, 'mars built 300 paths: 12 saturn differs on, and path 7');
    const p375 = parseEntry(honest[375]!).storePath;
    await page.fill('#mismatch-q', p375.slice(11, 30).toUpperCase());
    t.deepEqual(await mismatchRows(page, 0), [], 'path 375 is beyond what mars built');
    await page.selectOption('#mismatch-log', '');
    t.deepEqual(await mismatchRows(page, 1), [p375]);
    // Grouped by value: who agrees, and who disagrees with them.
    t.deepEqual(await texts(page, '#mismatches-body tr[data-hash] .chip'), ['mercury', 'venus', 'saturn']);
    t.deepEqual(await texts(page, '#mismatches-body tr[data-hash] .chip-disagrees'), ['saturn']);
    t.is(
      await page.textContent('#mismatches-body tr[data-hash] [data-testid="disagreement"]'),
      'saturn disagrees with mercury, venus',
    );
    await page.fill('#mismatch-q', '');
    await mismatchRows(page, 21);

    // Clicking a row shows that path's report.
    const seventh = parseEntry(honest[7]!).storePath;
    await page.click(`#mismatches-body tr[data-hash="${seventh.slice(11, 43)}"]`);
    await page.waitForFunction(
      (p) => document.querySelector('[data-testid="report-path"]')?.textContent === p,
      seventh,
    );
    t.is(await page.textContent('[data-testid="report-verdict"]'), 'mismatch');
    t.is(await page.textContent('[data-testid="decision-status"]'), 'decided');
    t.regex(
      (await page.textContent('[data-testid="report-decision"]')) ?? '',
      /venus \(contradicts itself\)/,
    );
    t.is(await page.locator('[data-testid="report-logs"] tr[data-log="venus"]').count(), 2);

    // Search by full store path: saturn's other NAR hash, and the vote's decision.
    const zero = parseEntry(honest[0]!);
    const saturnHash = formatSha256(parseEntry(saturn[0]!).narHash);
    const honestHash = formatSha256(zero.narHash);
    t.not(saturnHash, honestHash);
    await page.fill('#search-input', zero.storePath);
    await page.press('#search-input', 'Enter');
    await page.waitForFunction(
      (p) => document.querySelector('[data-testid="report-path"]')?.textContent === p,
      zero.storePath,
    );
    t.is(await page.textContent('[data-testid="report-verdict"]'), 'mismatch');
    const hashOf = (log: string) =>
      page.textContent(`[data-testid="report-logs"] tr[data-log="${log}"] [data-testid="nar-hash"]`);
    t.is(await hashOf('saturn'), saturnHash);
    t.is(await hashOf('mercury'), honestHash);
    t.regex((await page.textContent('[data-testid="report-logs"] tr[data-log="saturn"]')) ?? '', /differs/);
    // Identical hashes together: the decided value's logs first (value A), then saturn's (value B).
    t.deepEqual(
      await page.$$eval('[data-testid="report-logs"] tbody tr', (rows) =>
        rows.map(
          (r) => `${r.getAttribute('data-log')} ${r.querySelector('[data-testid="value"]')?.textContent}`,
        ),
      ),
      ['mars A', 'mercury A', 'venus A', 'saturn B'],
    );
    t.is(await page.textContent('[data-testid="decision-status"]'), 'decided');
    t.is(await page.textContent('[data-testid="decision-decider"]'), 'threshold 1/2');
    t.deepEqual(await texts(page, '[data-testid="decision-agreeing"] .chip'), ['mars', 'mercury', 'venus']);
    t.is(await page.textContent('[data-testid="decision-nar-hash"]'), honestHash);
    t.is(await page.textContent('[data-testid="decision-mismatches"]'), `saturn: ${saturnHash}`);
    t.is(await page.textContent('[data-testid="decision-misses"]'), 'none');
    t.regex((await page.textContent('[data-testid="report-silent"]')) ?? '', /every followed log holds it/);
    t.is(new URL(page.url()).hash, `#path=${zero.storePath.slice(11, 43)}`);

    // By hash part, and by a file inside the path: a path only some logs hold.
    const late = parseEntry(honest[401]!).storePath;
    await page.fill('#search-input', `${late}/bin/tool`);
    await page.click('#search-button');
    await page.waitForFunction(
      (p) => document.querySelector('[data-testid="report-path"]')?.textContent === p,
      late,
    );
    t.is(await page.textContent('[data-testid="report-verdict"]'), 'reproducible');
    t.deepEqual(await texts(page, '[data-testid="report-silent"] .chip'), ['mars']);
    t.deepEqual(await texts(page, '[data-testid="decision-misses"] .chip'), ['mars']);
    await page.fill('#search-input', 'not a store path');
    await page.press('#search-input', 'Enter');
    await page.waitForSelector('[data-testid="search-error"]');
    await page.fill('#search-input', p375.slice(11, 43));
    await page.press('#search-input', 'Enter');
    await page.waitForFunction(
      (p) => document.querySelector('[data-testid="report-path"]')?.textContent === p,
      p375,
    );
    t.is(await page.getAttribute('#search-input', 'aria-invalid'), null);

    // A link to a report opens it, on the page (hashchange) and on a fresh load.
    const reportOf = (p: string) =>
      page.waitForFunction(
        (path) => document.querySelector('[data-testid="report-path"]')?.textContent === path,
        p,
      );
    await page.goto(`${url}#path=${zero.storePath.slice(11, 43)}`);
    await reportOf(zero.storePath);
    await page.reload();
    await reportOf(zero.storePath);
    t.is(await page.textContent('[data-testid="decision-status"]'), 'decided');
    await page.waitForSelector('#chart svg circle.point');
    await mismatchRows(page, 21);
    t.is(
      await page.getAttribute(
        `#mismatches-body tr[data-hash="${zero.storePath.slice(11, 43)}"]`,
        'aria-current',
      ),
      'true',
      'the row of the path shown is marked',
    );

    // The screenshots (light and dark).
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = join(ARTIFACTS, 'dashboard-dark.png');
    await page.screenshot({ path: dark, fullPage: true });
    t.log(`screenshots: ${shot}, ${dark}`);

    t.deepEqual(problems, [], 'no console error, failed request or HTTP error');
    t.log(`browser test: ${Math.round(performance.now() - started)} ms`);
  },
);

browserTest('an empty node, a forked log, a name with markup, then a single day', async (t) => {
  // Log names may hold '<', '>' and '=': the page must show them as text, never as markup.
  const odd = '<img/src=x/class=injected>';
  const f = await openVoteFixture({
    logs: [
      { name: 'mercury', entries: [] },
      { name: odd, entries: [] },
    ],
    vote: [parseDeciderSpec('threshold 1/2')],
  });
  t.teardown(() => f.close());
  const clock = { now: FIRST_DAY };
  const stats = await indexedStats(t, f, clock);
  const url = await serveNode(t, f, stats, {
    [odd]: { state: 'forked', error: { code: 'ERR_FORKED', message: 'two checkpoints of size 7 differ' } },
  });
  const { page, problems } = await openBrowser(t);
  await page.goto(url);
  await page.waitForSelector('[data-testid="chart-empty"]');
  t.regex(
    (await page.textContent('[data-testid="chart-empty"]')) ?? '',
    /^No (data yet|path has been analysed)/,
  );
  await page.waitForFunction(() => document.querySelector('#count-analysed')?.textContent === '0');
  t.is(await page.textContent('#rate-reproducible'), '');
  // The mismatches come by a request of their own: wait for it to have answered.
  await page.waitForFunction(
    () => !(document.querySelector('#mismatches-body')?.textContent ?? 'Loading').includes('Loading'),
  );
  t.regex((await page.textContent('#mismatches-body')) ?? '', /No mismatching paths/);
  t.true(await page.isDisabled('#mismatch-next'));
  const pairCell = (a: string, b: string) =>
    `#matrix td[data-row=${JSON.stringify(a)}][data-col=${JSON.stringify(b)}]`;
  await page.waitForSelector(pairCell('mercury', odd));
  t.is(await page.textContent(pairCell('mercury', odd)), '—', 'nothing shared');
  // size, verified, lag, weight, indexed, paths
  t.deepEqual(await texts(page, '#logs-body tr[data-log] td.num'), [...'000100', ...'000100']);
  t.deepEqual(await texts(page, '#logs-body .log-name'), [odd, 'mercury']);
  t.deepEqual(await texts(page, '#logs-body [data-testid="log-state"]'), ['forked', 'ok']);
  t.regex((await page.textContent('#logs-body')) ?? '', /two checkpoints of size 7 differ/);
  await page.waitForSelector('[data-testid="warning"]:not([hidden])');
  t.is(
    await page.textContent('[data-testid="warning"]'),
    `Attention: ${odd} is forked. A forked log does not vote; a failed log is not being synced (see its state for why).`,
  );
  t.deepEqual(await texts(page, '#mismatch-log option'), ['All logs', odd, 'mercury']);
  t.is(await page.locator('img.injected, main img').count(), 0, 'no element made of a log name');
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-empty.png'), fullPage: true });

  const entries = [...syntheticEntries(20, 5)];
  for (const name of ['mercury', odd]) await f.logs.get(name)!.append(entries);
  for (const l of f.followed.list()) stats.update(l.logId);
  await stats.idle();
  await page.reload();
  await page.waitForSelector('#chart svg circle.point');
  t.is(await page.locator('#chart svg circle.point').count(), 1);
  t.is(await page.locator('#chart svg path.line').count(), 0, 'no line through one point');
  t.deepEqual(await texts(page, '#chart svg .x-label'), ['2026-11-17']);
  await page.waitForFunction(() => document.querySelector('#count-analysed')?.textContent === '20');
  t.is(await page.textContent('#rate-reproducible'), '(100.0%)');
  t.is(await page.textContent(pairCell(odd, 'mercury')), '100.0%20 shared');
  t.is(await page.locator('img.injected, main img').count(), 0);
  t.deepEqual(problems, [], 'no console error, failed request or HTTP error');
});
