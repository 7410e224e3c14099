// The order-book logic of web/static/ruptura.js without rows: enqueue → poll → events.
// DOM rendering (badges, dialog) is covered by the browser tests; here the document is an
// EventTarget and the API is a fake fetch on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const core = require(new URL('../../web/static/ruptura.js', import.meta.url).pathname);
const settle = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };

function response(status, body, headers = {}) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status, ok: status >= 200 && status < 300, headers: { get: (k) => h[k.toLowerCase()] ?? null }, json: async () => body };
}

// A fake server: batches finish `perPoll` orders on each results poll; `stall` keeps them pending.
// Like the real API, a response holds at most `limit` results and `pending` counts the finished
// results not delivered yet; Retry-After only while orders are unfinished.
function setup({ batchSize = 1000, deadline = 60000, perPoll = 2, stall = () => false, limit = 1000 } = {}) {
  let now = 0, seq = 0;
  const timers = new Map(), calls = [], batches = new Map();
  const doc = new EventTarget();
  doc.hidden = false;
  doc.querySelectorAll = () => [];
  const env = {
    now: () => now, random: () => 0.5, document: doc, AbortController,
    setTimeout(fn, ms) { const id = ++seq; timers.set(id, { at: now + (ms || 0), fn, id }); return id; },
    clearTimeout(id) { timers.delete(id); },
    async fetch(url, init) {
      calls.push({ url, method: init.method, headers: { ...init.headers }, body: init.body && JSON.parse(init.body), at: now });
      if (init.method === 'POST') {
        const id = 'b' + (batches.size + 1), orders = JSON.parse(init.body).orders;
        batches.set(id, { orders, done: 0 });
        return response(202, { id, total: orders.length, state: 'queued', status_url: `/api/v1/batches/${id}`,
          results_url: `/api/v1/batches/${id}/results` }, { 'Retry-After': 2 });
      }
      const id = url.match(/batches\/(\w+)\/results/)[1], b = batches.get(id);
      const since = Number(new URL(url, 'http://x').searchParams.get('since') || 0);
      if (!stall(b)) b.done = Math.min(b.orders.length, b.done + perPoll);
      const upto = Math.min(b.done, since + limit);
      const results = b.orders.slice(since, upto).map((o) => (o === 'X'
        ? { order: o, status: 'not_found' }
        : { order: o, status: 'done', analysis: { status: 'ok', criticality: 'none', availability_pct: 100, lines: [] } }));
      const unfinished = b.orders.length - b.done;
      return response(200, { results, cursor: String(upto), pending: unfinished + (b.done - upto),
        state: unfinished ? 'running' : 'done' },
        unfinished ? { 'Retry-After': 2, ETag: `"${id}-${upto}"` } : { ETag: `"${id}-${upto}"` });
    },
  };
  const cfg = Object.assign(core.readConfig({}, null), { batchSize, deadline, token: 'sekret' });
  const app = core.createApp(cfg, env);
  const events = [];
  doc.addEventListener('ruptura:result', (e) => events.push(['result', e.detail]));
  doc.addEventListener('ruptura:idle', (e) => events.push(['idle', e.detail]));
  async function advance(ms) {
    const end = now + ms;
    await settle();
    for (;;) {
      let next = null;
      for (const t of timers.values()) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (!next) break;
      timers.delete(next.id); now = next.at; next.fn(); await settle();
    }
    now = end;
  }
  return { app: app.api, calls, events, advance, batches };
}

test('analyze() splits by batchSize, sends the token, polls each batch until every order resolved', async () => {
  const { app, calls, events, advance } = setup({ batchSize: 3 });
  const p = app.analyze(['A', 'B', 'C', 'D', 'X', 'A', '']);
  assert.equal(app.result('A').status, 'pending');
  const out = await p;
  assert.deepEqual(out.ids, ['b1', 'b2']);
  assert.equal(out.total, 5);
  const posts = calls.filter((c) => c.method === 'POST');
  assert.deepEqual(posts.map((c) => c.body.orders), [['A', 'B', 'C'], ['D', 'X']]);
  assert.ok(calls.every((c) => c.headers.Authorization === 'Bearer sekret'));
  assert.equal(calls.filter((c) => c.method === 'GET').length, 0, 'first poll waits for Retry-After');

  await advance(60000);
  const gets = calls.filter((c) => c.method === 'GET');
  // b2 (2 orders) finishes on its first poll, b1 (3 orders) on its second
  assert.deepEqual(gets.map((c) => [c.url, c.at]), [
    ['/api/v1/batches/b1/results', 2000], ['/api/v1/batches/b2/results', 2000],
    ['/api/v1/batches/b1/results?since=2', 4000]]);
  assert.equal(gets[2].headers['If-None-Match'], '"b1-2"');
  assert.deepEqual(events.filter((e) => e[0] === 'result').map((e) => e[1].order).sort(), ['A', 'B', 'C', 'D', 'X']);
  assert.equal(events.filter((e) => e[0] === 'idle').length, 1);
  assert.equal(events.at(-1)[0], 'idle');
  assert.equal(app.result('X').status, 'not_found');
  assert.equal(app.result('A').status, 'ok');
  assert.equal(events.find((e) => e[1].order === 'A')[1].analysis.status, 'ok');
  const n = calls.length;
  await advance(600000);
  assert.equal(calls.length, n, 'zero requests when idle');
});

test('a finished batch with more pages of results: the next pages are fetched at once', async () => {
  const { app, calls, events, advance } = setup({ perPoll: 7, limit: 3 });
  await app.analyze(['A', 'B', 'C', 'D', 'E', 'F', 'G']);
  await advance(60000);
  const gets = calls.filter((c) => c.method === 'GET');
  // all seven finish before the first poll (at 2 s, the POST's Retry-After): three pages, no wait
  assert.deepEqual(gets.map((c) => [c.url, c.at]), [
    ['/api/v1/batches/b1/results', 2000], ['/api/v1/batches/b1/results?since=3', 2000],
    ['/api/v1/batches/b1/results?since=6', 2000]]);
  assert.equal(events.filter((e) => e[0] === 'result').length, 7);
  assert.deepEqual(events.at(-1), ['idle', { analysed: 0, total: 0 }]);
  assert.equal(app.result('G').status, 'ok');
});

test('orders already in flight are not enqueued twice', async () => {
  const { app, calls, advance } = setup({ perPoll: 1 });
  await app.analyze(['A', 'B']);
  const again = await app.analyze(['B', 'C']);
  assert.deepEqual(again.orders, ['C']);
  assert.deepEqual(calls.filter((c) => c.method === 'POST').map((c) => c.body.orders), [['A', 'B'], ['C']]);
  await advance(60000);
  assert.equal(app.result('B').status, 'ok');
});

test('no progress for `deadline` → remaining orders time out, polling stops, retry re-enqueues', async () => {
  let stalled = true;
  const { app, calls, events, advance } = setup({ deadline: 10000, stall: () => stalled });
  await app.analyze(['A', 'B']);
  await advance(10000);
  assert.equal(app.result('A').status, 'timeout');
  assert.equal(app.result('B').status, 'timeout');
  assert.equal(events.filter((e) => e[0] === 'idle').length, 1);
  const n = calls.length;
  await advance(60000);
  assert.equal(calls.length, n, 'the timed-out batch is not polled any more');
  stalled = false;
  await app.analyze(['A', 'B']); // what the retry button does
  await advance(10000);
  assert.equal(app.result('A').status, 'ok');
  assert.equal(events.filter((e) => e[0] === 'idle').length, 2);
});
