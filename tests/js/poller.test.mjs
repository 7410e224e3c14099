// Tests of the polling core of web/static/ruptura.js (node --test tests/js/).
// A fake clock and a fake fetch are injected through `env`; no real timers or network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const require = createRequire(import.meta.url);
const SCRIPT = new URL('../../web/static/ruptura.js', import.meta.url);
const core = require(SCRIPT.pathname);

const settle = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };

function fakeDocument() {
  const listeners = {};
  return {
    hidden: false,
    addEventListener(t, f) { (listeners[t] ||= new Set()).add(f); },
    removeEventListener(t, f) { listeners[t]?.delete(f); },
    fire(t) { for (const f of [...(listeners[t] || [])]) f({ type: t }); },
    count(t) { return listeners[t]?.size || 0; },
  };
}

// A fake clock + fetch. `reply` is a list of responders, one per request (the last one repeats).
function makeEnv(reply, { random = 0.5, document = fakeDocument() } = {}) {
  let now = 0, seq = 0;
  const timers = new Map();
  const calls = [];
  let inFlight = 0, maxInFlight = 0;
  const env = {
    now: () => now,
    random: () => random,
    document,
    setTimeout(fn, ms) { const id = ++seq; timers.set(id, { at: now + Math.max(0, ms || 0), fn, id }); return id; },
    clearTimeout(id) { timers.delete(id); },
    AbortController,
    async fetch(url, init) {
      const i = calls.length;
      calls.push({ url, init, at: now, headers: { ...init.headers } });
      inFlight++; maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const r = reply[Math.min(i, reply.length - 1)];
        return typeof r === 'function' ? await r(i) : response(r);
      } finally { inFlight--; }
    },
  };
  const clock = {
    get now() { return now; },
    // Run every timer due up to now+ms, in time order, letting promises settle in between.
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        let next = null;
        for (const t of timers.values()) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
        if (!next) break;
        timers.delete(next.id);
        now = next.at;
        next.fn();
        await settle();
      }
      now = end;
    },
    get maxInFlight() { return maxInFlight; },
  };
  return { env, clock, calls };
}

function response({ status = 200, body = null, headers = {} } = {}) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return {
    status, ok: status >= 200 && status < 300,
    headers: { get: (k) => (k.toLowerCase() in h ? h[k.toLowerCase()] : null) },
    json: async () => body,
  };
}
const ok = (body, headers = {}) => ({ status: 200, body, headers });
const gaps = (calls) => calls.slice(1).map((c, i) => c.at - calls[i].at);

function resultsPoller(env, extra = {}) {
  let cursor = null;
  const seen = [];
  const p = core.createPoller({
    env, interval: 2000,
    url: () => '/api/v1/batches/b1/results' + (cursor ? '?since=' + cursor : ''),
    onData(j) { cursor = j.cursor; seen.push(...j.results.map((r) => r.order)); },
    isDone: (j) => j.pending === 0,
    ...extra,
  });
  return { p, seen };
}

test('polls at the interval with since=<cursor> and If-None-Match; 304 is no news; stops when done', async () => {
  const { env, clock, calls } = makeEnv([
    ok({ results: [{ order: 'O1', status: 'done' }], cursor: 'c1', pending: 2, state: 'running' }, { ETag: '"e1"' }),
    { status: 304, headers: { ETag: '"e1"' } },
    ok({ results: [{ order: 'O2', status: 'done' }, { order: 'O3', status: 'failed' }], cursor: 'c2', pending: 0, state: 'done' }, { ETag: '"e2"' }),
  ]);
  const { p, seen } = resultsPoller(env);
  p.start();
  await clock.advance(0);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, '/api/v1/batches/b1/results');
  assert.equal(calls[0].headers['If-None-Match'], undefined);
  assert.equal(calls[0].init.cache, 'no-store');
  await clock.advance(1999);
  assert.equal(calls.length, 1, 'no request before the interval');
  await clock.advance(1);
  assert.equal(calls.length, 2);
  assert.equal(calls[1].url, '/api/v1/batches/b1/results?since=c1');
  assert.equal(calls[1].headers['If-None-Match'], '"e1"');
  await clock.advance(2000);
  assert.equal(calls.length, 3);
  assert.equal(calls[2].url, '/api/v1/batches/b1/results?since=c1', '304 did not move the cursor');
  assert.deepEqual(seen, ['O1', 'O2', 'O3']);
  assert.equal(p.active, false);
  await clock.advance(120000);
  assert.equal(calls.length, 3, 'zero requests once done');
  assert.equal(env.document.count('visibilitychange'), 0, 'listener removed');
});

test('Retry-After is honoured on 200-with-pending, 429 and 503', async () => {
  const { env, clock, calls } = makeEnv([
    ok({ results: [], cursor: 'c', pending: 5 }, { 'Retry-After': '5' }),
    { status: 429, headers: { 'Retry-After': '7' } },
    { status: 503, headers: { 'Retry-After': '3' } },
    ok({ results: [], cursor: 'c', pending: 5 }),
  ]);
  const { p } = resultsPoller(env);
  p.start();
  await clock.advance(4999);
  assert.equal(calls.length, 1, 'no request before Retry-After: 5');
  await clock.advance(1);
  assert.equal(calls.length, 2);
  await clock.advance(6999);
  assert.equal(calls.length, 2, 'no request before Retry-After: 7 (backoff alone is 2 s)');
  await clock.advance(1);
  assert.equal(calls.length, 3);
  await clock.advance(20000);
  // 503 + Retry-After 3 but backoff (2nd failure) is 4 s: the larger wins
  assert.deepEqual(gaps(calls).slice(0, 3), [5000, 7000, 4000]);
  p.stop();
});

test('pollNow does not jump a Retry-After', async () => {
  const { env, clock, calls } = makeEnv([ok({ results: [], pending: 1 }, { 'Retry-After': '10' })]);
  const { p } = resultsPoller(env);
  p.start();
  await clock.advance(0);
  p.pollNow();
  await clock.advance(9999);
  assert.equal(calls.length, 1);
  await clock.advance(1);
  assert.equal(calls.length, 2);
  p.stop();
});

test('backoff with jitter on 500 / network errors grows 2→4→…≤30 s and resets after a success', async () => {
  const boom = () => { throw new TypeError('Failed to fetch'); };
  const errors = [];
  const { env, clock, calls } = makeEnv([
    { status: 500 }, { status: 500 }, boom, { status: 502 }, { status: 500 }, { status: 500 }, boom,
    ok({ results: [{ order: 'O1' }], cursor: 'c', pending: 1 }),
    { status: 304 }, { status: 500 }, ok({ results: [], pending: 1 }),
  ]);
  const { p } = resultsPoller(env, { onError: (e) => errors.push(e) });
  p.start();
  await clock.advance(200000);
  assert.deepEqual(gaps(calls).slice(0, 10), [2000, 4000, 8000, 16000, 30000, 30000, 30000, 2000, 2000, 2000]);
  assert.equal(errors.length, 8);
  assert.equal(errors[0].status, 500);
  assert.ok(errors[2] instanceof TypeError);
  p.stop();

  // jitter stays within ±20 % and never above the cap
  for (const [random, first, capped] of [[0, 1600, 24000], [0.999, 2400, 30000]]) {
    const t = makeEnv([{ status: 500 }], { random });
    const q = resultsPoller(t.env).p;
    q.start();
    await t.clock.advance(300000);
    const g = gaps(t.calls);
    assert.ok(Math.abs(g[0] - first) <= 1, `first delay ${g[0]}`);
    assert.ok(g.every((d) => d <= 30000));
    assert.ok(Math.abs(g.at(-1) - capped) <= 1, `capped delay ${g.at(-1)}`);
    q.stop();
  }
});

test('paused while hidden: no requests; one request at once on becoming visible', async () => {
  const { env, clock, calls } = makeEnv([ok({ results: [], cursor: 'c', pending: 3 })]);
  const { p } = resultsPoller(env);
  p.start();
  await clock.advance(0);
  assert.equal(calls.length, 1);
  env.document.hidden = true;
  env.document.fire('visibilitychange');
  await clock.advance(60000);
  assert.equal(calls.length, 1, 'no requests while hidden');
  env.document.hidden = false;
  env.document.fire('visibilitychange');
  assert.equal(calls.length, 2, 'polled synchronously on visible');
  await clock.advance(0);
  assert.equal(calls.length, 2, 'exactly one');
  await clock.advance(2000);
  assert.equal(calls.length, 3, 'then back to the interval');
  assert.equal(calls[1].at, 60000);

  // started while hidden: waits for the tab to show
  const t = makeEnv([ok({ results: [], pending: 1 })]);
  t.env.document.hidden = true;
  const q = resultsPoller(t.env).p.start();
  await t.clock.advance(10000);
  assert.equal(t.calls.length, 0);
  t.env.document.hidden = false;
  t.env.document.fire('visibilitychange');
  assert.equal(t.calls.length, 1);
  p.stop(); q.stop();
});

test('deadline without progress → onTimeout, and polling stops', async () => {
  let timeouts = 0;
  const { env, clock, calls } = makeEnv([
    ok({ results: [{ order: 'O1' }], cursor: 'c1', pending: 2 }, { ETag: '"a"' }),
    { status: 304 },
  ]);
  const { p } = resultsPoller(env, {
    deadline: 10000,
    hasProgress: (j) => j.results.length > 0,
    onTimeout: () => timeouts++,
  });
  p.start();
  await clock.advance(0); // progress at t=0
  await clock.advance(9999);
  assert.equal(timeouts, 0);
  await clock.advance(1);
  assert.equal(timeouts, 1);
  assert.equal(p.active, false);
  const n = calls.length;
  assert.ok(calls.every((c) => c.at < 10000));
  await clock.advance(60000);
  assert.equal(calls.length, n, 'no requests after the deadline');
  assert.equal(timeouts, 1);
});

test('deadline fires even while backing off with a long Retry-After', async () => {
  let timeouts = 0;
  const { env, clock, calls } = makeEnv([{ status: 503, headers: { 'Retry-After': '120' } }]);
  const { p } = resultsPoller(env, { deadline: 60000, onTimeout: () => timeouts++ });
  p.start();
  await clock.advance(60000);
  assert.equal(timeouts, 1);
  assert.equal(calls.length, 1);
  assert.equal(p.active, false);
});

test('a single request in flight, whatever pollNow / visibility do', async () => {
  let release;
  const { env, clock, calls } = makeEnv([
    () => new Promise((r) => { release = () => r(response(ok({ results: [], cursor: 'c', pending: 1 }))); }),
    ok({ results: [], cursor: 'c', pending: 1 }),
  ]);
  const { p } = resultsPoller(env);
  p.start();
  await clock.advance(0);
  p.pollNow(); p.pollNow();
  env.document.hidden = true; env.document.fire('visibilitychange');
  env.document.hidden = false; env.document.fire('visibilitychange');
  await clock.advance(10000);
  assert.equal(calls.length, 1);
  release();
  await clock.advance(0);
  assert.equal(calls.length, 2, 'the queued pollNow runs once the request finished');
  assert.equal(clock.maxInFlight, 1);
  p.stop();
});

test('a hung request is abandoned by the watchdog and counts as an error', async () => {
  const errors = [];
  const { env, clock, calls } = makeEnv([
    (i) => new Promise(() => {}),
    ok({ results: [], pending: 0 }),
  ]);
  const { p } = resultsPoller(env, { timeout: 5000, onError: (e) => errors.push(e) });
  p.start();
  await clock.advance(5000);
  assert.equal(errors.length, 1);
  await clock.advance(2000);
  assert.equal(calls.length, 2);
  assert.equal(p.active, false);
});

test('a 4xx other than 408/429 stops polling with a fatal error; stop() cancels the next poll', async () => {
  const errors = [];
  const { env, clock, calls } = makeEnv([{ status: 404 }]);
  const { p } = resultsPoller(env, { onError: (e) => errors.push(e) });
  p.start();
  await clock.advance(60000);
  assert.equal(calls.length, 1);
  assert.equal(errors[0].fatal, true);
  assert.equal(p.active, false);

  const t = makeEnv([ok({ results: [], pending: 1 })]);
  const q = resultsPoller(t.env).p.start();
  await t.clock.advance(0);
  q.stop();
  await t.clock.advance(60000);
  assert.equal(t.calls.length, 1);
});

test('headers() are sent on every request (bearer token)', async () => {
  const { env, clock, calls } = makeEnv([ok({ results: [], pending: 1 }, { ETag: 'W/"x"' })]);
  const { p } = resultsPoller(env, { headers: () => ({ Authorization: 'Bearer t0k' }) });
  p.start();
  await clock.advance(4000);
  assert.equal(calls.length, 3);
  assert.ok(calls.every((c) => c.headers.Authorization === 'Bearer t0k'));
  assert.equal(calls[2].headers['If-None-Match'], 'W/"x"');
  p.stop();
});

test('parseRetryAfter reads seconds and HTTP dates', () => {
  const r = (v) => response({ headers: v == null ? {} : { 'Retry-After': v } });
  assert.equal(core.parseRetryAfter(r('2'), 0), 2000);
  assert.equal(core.parseRetryAfter(r(null), 0), 0);
  assert.equal(core.parseRetryAfter(r('garbage'), 0), 0);
  const now = Date.parse('2026-03-02T10:00:00Z');
  assert.equal(core.parseRetryAfter(r('Mon, 02 Mar 2026 10:00:30 GMT'), now), 30000);
});

// ---- script-level behaviour in a vm context with a minimal fake window/document
function fakePage({ meta = null, scriptAttrs = {}, lang = 'pt-BR' } = {}) {
  const doc = {
    readyState: 'loading', hidden: false,
    documentElement: { getAttribute: (k) => (k === 'lang' ? lang : null) },
    currentScript: { getAttribute: (k) => (k in scriptAttrs ? scriptAttrs[k] : null) },
    createElement: () => ({}),
    querySelector: (sel) => (sel.includes('ruptura-config') && meta ? { getAttribute: () => meta } : null),
    querySelectorAll: () => [],
    listeners: [],
    addEventListener(type, fn) { this.listeners.push(type); },
    removeEventListener() {},
  };
  const win = { document: doc, setTimeout, clearTimeout, fetch: async () => { throw new Error('no network'); } };
  win.window = win;
  return vm.createContext(win);
}

test('including the script twice does not initialise twice', () => {
  const src = readFileSync(SCRIPT, 'utf8');
  const ctx = fakePage();
  vm.runInContext(src, ctx);
  const first = ctx.window.Ruptura;
  assert.ok(first && typeof first.analyze === 'function');
  assert.equal(ctx.document.listeners.filter((t) => t === 'DOMContentLoaded').length, 1);
  vm.runInContext(src, ctx);
  assert.equal(ctx.window.Ruptura, first, 'same object');
  assert.equal(ctx.document.listeners.filter((t) => t === 'DOMContentLoaded').length, 1, 'no second init');
  for (const k of ['version', 'config', 'analyze', 'analyzeAll', 'scan', 'createPoller', 'labels']) assert.ok(k in first, k);
});

test('config: defaults ← <meta name="ruptura-config"> ← data-* on the script tag', () => {
  const src = readFileSync(SCRIPT, 'utf8');
  const ctx = fakePage({
    meta: JSON.stringify({ apiBase: '/x/api/', interval: 5000, batchSize: 500, token: 'm' }),
    scriptAttrs: { 'data-auto': 'false', 'data-interval': '3000', 'data-token': 'abc', 'data-deadline': '9000' },
  });
  vm.runInContext(src, ctx);
  const c = ctx.window.Ruptura.config;
  assert.equal(c.apiBase, '/x/api');
  assert.equal(c.interval, 3000);
  assert.equal(c.batchSize, 500);
  assert.equal(c.auto, false);
  assert.equal(c.token, 'abc');
  assert.equal(c.deadline, 9000);
  assert.equal(c.selector, '[data-ruptura-order]');
  assert.equal(c.locale, 'pt-BR');
  assert.equal(ctx.window.Ruptura.labels.ok, 'Disponível');
  assert.equal(core.normaliseLocale('pt'), 'pt-BR');
  assert.equal(core.normaliseLocale('en-GB'), 'en');
  assert.equal(core.normaliseLocale(null), 'en');
});

test('require() in node exports the core without touching globals', () => {
  assert.equal(typeof core.createPoller, 'function');
  assert.equal(globalThis.Ruptura, undefined);
  assert.equal(core.DEFAULTS.interval, 2000);
  assert.equal(core.DEFAULTS.batchSize, 1000);
});
