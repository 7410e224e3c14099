/*! Ruptura order-book poller - dependency-free, no build step (ES2019).
 * Labels use \u escapes so the file works whatever charset the host page declares.
 * Include once per page: <script src="/static/ruptura.js" data-api-base="/api/v1"></script>
 * See web/static/README.md for options, DOM hooks, events and the window.Ruptura API. */
(function (global) {
  'use strict';
  var hasModule = typeof module === 'object' && module && module.exports;

  // Double inclusion: the second copy returns at once.
  if (global.Ruptura) {
    if (hasModule) module.exports = global.Ruptura._core || {};
    return;
  }

  var VERSION = '1.0.0';
  var READY = 'data-ruptura-ready';
  var FOR = 'data-ruptura-for';
  var SVG = 'http://www.w3.org/2000/svg';
  var ROWS_PER_FRAME = 300;
  var FINAL = { ok: 1, partial: 1, short: 1, not_found: 1, failed: 1 };
  var IDLE = { status: 'idle' };

  var DEFAULTS = {
    apiBase: '/api/v1', selector: '[data-ruptura-order]', attribute: 'data-ruptura-order',
    locale: null, auto: true, interval: 2000, maxBackoff: 30000, deadline: 60000,
    token: null, batchSize: 1000
  };

  var LABELS = {
    en: {
      ok: 'Available', partial: 'Partial', short: 'Short', not_found: 'Not found', failed: 'Failed',
      pending: 'Analysing\u2026', queued: 'Analysing\u2026', idle: 'Not analysed', timeout: 'Timed out',
      error: 'Error', retry: 'Retry', timedOut: 'timed out \u2014 retry', analyze: 'Analyze',
      analyzeAll: 'Analyze all', progress: '{x} / {n} analysed', close: 'Close', order: 'Order',
      product: 'Product', qty: 'Qty', status: 'Status', shortfall: 'Shortfall',
      availableOn: 'Available on', projection: 'Projection (8 days)', availability: 'Availability',
      ready: 'ready', noReady: 'no ready date', unknownProduct: 'unknown product',
      line_available: 'Available', line_late: 'Late', line_unavailable: 'Unavailable'
    },
    'pt-BR': {
      ok: 'Dispon\u00edvel', partial: 'Parcial', short: 'Em falta', not_found: 'N\u00e3o encontrado', failed: 'Falhou',
      pending: 'Analisando\u2026', queued: 'Analisando\u2026', idle: 'N\u00e3o analisado', timeout: 'Tempo esgotado',
      error: 'Erro', retry: 'Tentar de novo', timedOut: 'tempo esgotado \u2014 tentar de novo', analyze: 'Analisar',
      analyzeAll: 'Analisar todos', progress: '{x} / {n} analisados', close: 'Fechar', order: 'Pedido',
      product: 'Produto', qty: 'Qtd', status: 'Situa\u00e7\u00e3o', shortfall: 'Falta',
      availableOn: 'Dispon\u00edvel em', projection: 'Proje\u00e7\u00e3o (8 dias)', availability: 'Disponibilidade',
      ready: 'pronto em', noReady: 'sem data prevista', unknownProduct: 'produto desconhecido',
      line_available: 'Dispon\u00edvel', line_late: 'Atrasado', line_unavailable: 'Indispon\u00edvel'
    }
  };

  function noop() {}
  function num(v, d) { v = Number(v); return isFinite(v) && v >= 0 ? v : d; }

  // The environment the core runs in; tests inject fakes with the same shape.
  function defaultEnv(g) {
    g = g || global;
    return {
      fetch: function (u, o) { return g.fetch(u, o); },
      setTimeout: function (f, ms) { return g.setTimeout(f, ms); },
      clearTimeout: function (t) { return g.clearTimeout(t); },
      document: g.document || null,
      random: Math.random,
      now: Date.now,
      AbortController: g.AbortController || null
    };
  }

  // Retry-After: delta-seconds or an HTTP date -> milliseconds (0 if absent/invalid).
  function parseRetryAfter(res, now) {
    var v = res && res.headers && res.headers.get && res.headers.get('Retry-After');
    if (v == null || v === '') return 0;
    if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(parseFloat(v) * 1000);
    var t = Date.parse(v);
    return isNaN(t) ? 0 : Math.max(0, t - (now || Date.now()));
  }

  /* ---------------------------------------------------------------- poller core
   * options: url() -> string, headers?() -> object, onData(json, response), isDone(json) -> bool,
   * interval (2000), maxBackoff (30000), minBackoff (2000), deadline? (ms without progress),
   * hasProgress?(json) -> bool (default: every 200 counts), again?(json) -> bool (poll at once),
   * onTimeout?(), onError?(err, response), timeout (request watchdog, 30000), env?.
   * A fresh setTimeout after each poll; never more than one request in flight. */
  function createPoller(opts, env) {
    env = env || opts.env || defaultEnv();
    var interval = num(opts.interval, 2000), maxBackoff = num(opts.maxBackoff, 30000);
    var minBackoff = num(opts.minBackoff, 2000), deadline = num(opts.deadline, 0);
    var reqTimeout = num(opts.timeout, 30000);
    var doc = env.document;
    var active = false, inFlight = false, timer = null, etag = null, failures = 0;
    var notBefore = 0, lastProgress = 0, hiddenAt = null, gen = 0, ctrl = null, soon = false;

    function hidden() { return !!(doc && doc.hidden); }
    function clear() { if (timer !== null) { env.clearTimeout(timer); timer = null; } }
    function expired() { return deadline > 0 && env.now() - lastProgress >= deadline; }

    function schedule(ms) {
      clear();
      if (!active || hidden()) return; // a hidden tab resumes on visibilitychange
      var now = env.now();
      ms = Math.max(ms, notBefore - now, 0); // Retry-After: never sooner
      if (deadline > 0) ms = Math.min(ms, Math.max(0, lastProgress + deadline - now));
      timer = env.setTimeout(function () { timer = null; tick(); }, ms);
    }

    function tick() {
      if (!active || inFlight || hidden()) return;
      if (expired()) return timeout();
      if (env.now() < notBefore) return schedule(0);
      request();
    }

    function timeout() { stop(); (opts.onTimeout || noop)(); }

    function after(ms) { // what to do once a response has been handled
      if (!active) return;
      if (expired()) return timeout();
      if (soon) { soon = false; ms = 0; }
      schedule(ms);
    }

    function request() {
      var g = gen, c = env.AbortController ? new env.AbortController() : null;
      var headers = Object.assign({ Accept: 'application/json' }, opts.headers ? opts.headers() : {});
      if (etag) headers['If-None-Match'] = etag;
      var init = { method: 'GET', headers: headers, cache: 'no-store', credentials: 'same-origin' };
      if (c) init.signal = c.signal;
      inFlight = true; ctrl = c;
      new Promise(function (resolve, reject) {
        var wd = env.setTimeout(function () {
          reject(new Error('request timed out')); if (c) c.abort();
        }, reqTimeout);
        var f;
        try { f = Promise.resolve(env.fetch(opts.url(), init)); } catch (e) { f = Promise.reject(e); }
        f.then(function (res) {
            if (!res.ok || res.status === 204) return { res: res, json: null };
            return res.json().then(function (j) { return { res: res, json: j }; });
          })
          .then(function (v) { env.clearTimeout(wd); resolve(v); },
                function (e) { env.clearTimeout(wd); reject(e); });
      }).then(function (v) {
        inFlight = false; ctrl = null;
        if (g !== gen) return resume();
        try { handle(v.res, v.json); } catch (e) { fail(e, v.res, false); }
      }, function (err) {
        inFlight = false; ctrl = null;
        if (g !== gen) return resume();
        fail(err, null, false);
      });
    }

    function resume() { if (active && timer === null && !inFlight) schedule(0); }

    function handle(res, json) {
      var s = res.status, ra = parseRetryAfter(res, env.now());
      notBefore = ra ? env.now() + ra : 0;
      if (s === 304) { failures = 0; return after(interval); } // nothing new
      if (s >= 200 && s < 300) {
        failures = 0;
        var tag = res.headers && res.headers.get && res.headers.get('ETag');
        if (tag) etag = tag;
        var next = interval;
        if (json != null) {
          if (!opts.hasProgress || opts.hasProgress(json)) lastProgress = env.now();
          if (opts.onData) opts.onData(json, res);
          if (opts.isDone && opts.isDone(json)) return stop();
          if (opts.again && opts.again(json)) next = 0;
        }
        return after(next);
      }
      var err = new Error('HTTP ' + s);
      err.status = s;
      if (s === 408 || s === 429 || s >= 500) return fail(err, res, false);
      fail(err, res, true); // other 4xx: polling again will not help
    }

    function fail(err, res, fatal) {
      err = err || new Error('network error');
      if (fatal) { err.fatal = true; stop(); }
      else {
        failures++;
        var d = Math.min(maxBackoff, minBackoff * Math.pow(2, failures - 1));
        d = Math.min(maxBackoff, Math.round(d * (0.8 + 0.4 * env.random()))); // +/-20 % jitter
      }
      if (opts.onError) { try { opts.onError(err, res); } catch (e) { /* ignore */ } }
      if (!fatal) after(d);
    }

    function onVisibility() {
      if (!active) return;
      if (hidden()) { hiddenAt = env.now(); clear(); return; }
      if (hiddenAt !== null) lastProgress += env.now() - hiddenAt; // hidden time is not "no progress"
      hiddenAt = null;
      clear();
      if (inFlight) soon = true;
      else if (env.now() >= notBefore) tick(); // poll at once
      else schedule(0);
    }

    function start(delay) {
      if (active) return api;
      active = true; soon = false;
      lastProgress = env.now();
      hiddenAt = hidden() ? env.now() : null;
      if (doc && doc.addEventListener) doc.addEventListener('visibilitychange', onVisibility);
      if (inFlight) soon = true; else schedule(delay == null ? 0 : delay);
      return api;
    }

    function stop() {
      if (!active) return api;
      active = false; gen++; clear();
      if (doc && doc.removeEventListener) doc.removeEventListener('visibilitychange', onVisibility);
      if (ctrl) { try { ctrl.abort(); } catch (e) { /* ignore */ } }
      return api;
    }

    function pollNow() {
      if (!active) return start(0);
      if (inFlight) soon = true; else schedule(0);
      return api;
    }

    var api = { start: start, stop: stop, pollNow: pollNow };
    Object.defineProperty(api, 'active', { get: function () { return active; } });
    return api;
  }

  /* ---------------------------------------------------------------- config */
  function normaliseLocale(l) { return /^pt\b/i.test(String(l || '')) ? 'pt-BR' : 'en'; }

  function readConfig(doc, script) {
    var cfg = Object.assign({}, DEFAULTS);
    var meta = doc && doc.querySelector ? doc.querySelector('meta[name="ruptura-config"]') : null;
    if (meta) {
      try { Object.assign(cfg, JSON.parse(meta.getAttribute('content') || '{}')); }
      catch (e) { if (global.console) global.console.warn('ruptura: bad ruptura-config JSON', e); }
    }
    var attrs = { 'api-base': 'apiBase', selector: 'selector', locale: 'locale', auto: 'auto',
      interval: 'interval', token: 'token', deadline: 'deadline' };
    if (script && script.getAttribute) {
      Object.keys(attrs).forEach(function (a) {
        var v = script.getAttribute('data-' + a);
        if (v != null) cfg[attrs[a]] = v;
      });
    }
    cfg.auto = !(cfg.auto === false || /^(false|0|no|off)$/i.test(String(cfg.auto)));
    cfg.interval = num(cfg.interval, DEFAULTS.interval) || DEFAULTS.interval;
    cfg.maxBackoff = num(cfg.maxBackoff, DEFAULTS.maxBackoff);
    cfg.deadline = num(cfg.deadline, DEFAULTS.deadline);
    cfg.batchSize = Math.min(10000, Math.max(1, Math.floor(num(cfg.batchSize, 1000)) || 1000));
    cfg.apiBase = String(cfg.apiBase).replace(/\/+$/, '');
    cfg.token = cfg.token ? String(cfg.token) : null;
    var html = doc && doc.documentElement;
    cfg.locale = normaliseLocale(cfg.locale || (html && html.getAttribute && html.getAttribute('lang')));
    return cfg;
  }

  /* ---------------------------------------------------------------- order book */
  function createApp(cfg, env) {
    var doc = env.document;
    var labels = Object.assign({}, LABELS[cfg.locale] || LABELS.en);
    var rowsByOrder = new Map();   // order -> [row]
    var rowOf = new WeakMap();     // element -> row
    var states = new Map();        // order -> {status, analysis?, error?, group?}
    var inflight = new Set();      // orders queued in an active batch (or being POSTed)
    var active = new Set();        // batches being polled
    var dirty = new Set(), unbuilt = [], frame = 0, posting = 0, idleSent = true;
    var toolbar = null, dialog = null, inited = false, scanQueued = false;

    function el(tag, cls, text) {
      var e = doc.createElement(tag);
      if (cls) e.className = cls;
      if (text != null) e.textContent = text;
      return e;
    }
    function svg(tag, attrs) {
      var e = doc.createElementNS(SVG, tag);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
      return e;
    }
    var numberFormat = null;
    function fmt(n) {
      if (n == null || n === '') return '\u2014';
      var v = Number(n);
      if (!isFinite(v)) return String(n);
      if (!numberFormat) { // one formatter: toLocaleString builds a new one on every call
        try { numberFormat = new Intl.NumberFormat(cfg.locale, { maximumFractionDigits: 3 }); }
        catch (e) { numberFormat = { format: function (x) { return String(x); } }; }
      }
      return numberFormat.format(v);
    }
    // Dates come as ISO days; pt-BR readers get dd/mm/aaaa, en keeps ISO (unambiguous).
    function day(iso) {
      var s = iso == null ? '' : String(iso), m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
      return m && /^pt/i.test(cfg.locale) ? m[3] + '/' + m[2] + '/' + m[1] : s;
    }
    function authHeaders() { return cfg.token ? { Authorization: 'Bearer ' + cfg.token } : {}; }
    function emit(name, detail) {
      if (typeof global.CustomEvent !== 'function' || !doc.dispatchEvent) return;
      doc.dispatchEvent(new global.CustomEvent(name, { detail: detail }));
    }
    function safeClass(s) { return /^[a-z_]+$/.test(s) ? s : 'unknown'; }
    function later(fn, ms) { return env.setTimeout(fn, ms); }

    // ---- rows
    function build(row) { // the row's cell: badge + Analyze + (hidden) retry
      var rowEl = row.el, old = rowEl.querySelectorAll('.ruptura-cell'); // stale cells of a cloned row
      for (var i = 0; i < old.length; i++) old[i].parentNode.removeChild(old[i]);
      var host = rowEl.querySelector('[data-ruptura-status]');
      var cell = row.cell = el(host ? 'span' : (rowEl.tagName === 'TR' ? 'td' : 'span'), 'ruptura-cell');
      row.shown = null;
      row.badge = el('button', 'ruptura-badge ruptura-idle', labels.idle);
      row.analyze = el('button', 'ruptura-analyze', labels.analyze);
      row.retry = el('button', 'ruptura-retry', labels.retry);
      [row.badge, row.analyze, row.retry].forEach(function (b) {
        b.type = 'button'; b.setAttribute(FOR, row.order); cell.appendChild(b);
      });
      row.retry.hidden = true;
      row.retry.setAttribute('title', labels.timedOut);
      (host || rowEl).appendChild(cell);
    }
    function addRow(row) {
      var list = rowsByOrder.get(row.order);
      if (!list) rowsByOrder.set(row.order, list = []);
      list.push(row);
    }
    function removeRow(row) {
      var list = rowsByOrder.get(row.order) || [], i = list.indexOf(row);
      if (i >= 0) list.splice(i, 1);
      if (!list.length) rowsByOrder.delete(row.order);
      row.gone = true;
    }

    // Rows are marked at once (never processed twice) and get their cell in the next frames.
    function scan() {
      if (!doc || !doc.querySelectorAll) return 0;
      var found = doc.querySelectorAll(cfg.selector), fresh = 0, toAnalyze = new Set();
      for (var i = 0; i < found.length; i++) {
        var e = found[i], order = String(e.getAttribute(cfg.attribute) || '').trim();
        if (!order) continue;
        var row = rowOf.get(e);
        if (row) { // known element: re-keyed by the host, or moved back into the page
          if (row.order === order && !row.gone) continue;
          if (!row.gone) removeRow(row);
          row.gone = false; row.order = order; addRow(row);
          if (!row.cell) unbuilt.push(row);
          else [row.badge, row.analyze, row.retry].forEach(function (b) { b.setAttribute(FOR, order); });
          markDirty(order);
        } else {
          row = { el: e, order: order, cell: null };
          e.setAttribute(READY, '');
          rowOf.set(e, row);
          addRow(row);
          unbuilt.push(row);
          if (!fresh++) ensureToolbar(e);
        }
        if (cfg.auto && !states.has(order)) toAnalyze.add(order);
      }
      if (unbuilt.length && !frame) frame = nextFrame(flush);
      if (toAnalyze.size) analyze(Array.from(toAnalyze)).catch(noop);
      return fresh;
    }

    function queueScan() {
      if (scanQueued) return;
      scanQueued = true;
      later(function () { scanQueued = false; scan(); }, 0);
    }
    function ours(n) { return n.closest && n.closest('.ruptura-cell, .ruptura-toolbar, .ruptura-dialog'); }
    function onMutations(records) {
      for (var i = 0; i < records.length; i++) {
        var r = records[i];
        if (r.type === 'attributes') return queueScan();
        for (var j = 0; j < r.addedNodes.length; j++) {
          var n = r.addedNodes[j];
          if (n.nodeType === 1 && !ours(n)) return queueScan();
        }
      }
    }

    // ---- batched painting (<= ROWS_PER_FRAME rows per animation frame)
    function markDirty(order) { dirty.add(order); if (!frame) frame = nextFrame(flush); }
    function nextFrame(fn) {
      return typeof global.requestAnimationFrame === 'function' ? global.requestAnimationFrame(fn) : later(fn, 16);
    }
    function flush() {
      frame = 0;
      var n = 0, batch = unbuilt.splice(0, ROWS_PER_FRAME);
      batch.forEach(function (row) {
        if (row.el.isConnected === false) removeRow(row); else { build(row); paint(row); n++; }
      });
      for (var order of dirty) {
        if (n >= ROWS_PER_FRAME) break;
        dirty.delete(order);
        var list = (rowsByOrder.get(order) || []).slice();
        for (var i = 0; i < list.length; i++) {
          if (list[i].el.isConnected === false) removeRow(list[i]);
          else if (list[i].cell && paint(list[i])) n++;
        }
      }
      updateProgress();
      if (dirty.size || unbuilt.length) frame = nextFrame(flush);
    }

    // Returns false when the row already shows this state (states are replaced, never mutated):
    // no DOM write, so no relayout of a big table for nothing.
    function paint(row) {
      var st = states.get(row.order) || IDLE, a = st.analysis, b = row.badge;
      if (row.shown === st) return false;
      row.shown = st;
      var status = safeClass(st.status);
      b.className = 'ruptura-badge ruptura-' + status;
      b.textContent = labels[status] || status;
      if (a && a.criticality) b.setAttribute('data-criticality', String(a.criticality));
      else b.removeAttribute('data-criticality');
      var title = '';
      if (a) {
        title = labels.availability + ' ' + fmt(a.availability_pct) + '% \u00b7 ' +
          (a.ready_date ? labels.ready + ' ' + day(a.ready_date) : labels.noReady);
      } else if (st.error) title = String(st.error.message || st.error.code || '');
      else if (status === 'timeout' || status === 'error') title = labels.timedOut;
      if (title) b.setAttribute('title', title); else b.removeAttribute('title');
      row.el.setAttribute('data-ruptura-result', status);
      row.retry.hidden = !(status === 'timeout' || status === 'error');
      row.analyze.disabled = status === 'pending';
      return true;
    }

    function setState(order, st) { states.set(order, st); markDirty(order); }

    // ---- toolbar + progress
    function ensureToolbar(firstRow) {
      if (toolbar && toolbar.isConnected !== false) return;
      toolbar = el('div', 'ruptura-toolbar');
      shownProgress = '';
      var btn = el('button', 'ruptura-analyze-all', labels.analyzeAll);
      btn.type = 'button';
      btn.addEventListener('click', function () { analyzeAll().catch(noop); });
      var bar = el('div', 'ruptura-progress');
      bar.setAttribute('role', 'progressbar');
      bar.setAttribute('aria-valuemin', '0');
      bar.appendChild(el('div', 'ruptura-progress-fill'));
      toolbar.appendChild(btn);
      toolbar.appendChild(bar);
      toolbar.appendChild(el('span', 'ruptura-progress-text'));
      var host = doc.querySelector('[data-ruptura-toolbar]');
      if (host) { host.insertBefore(toolbar, host.firstChild); return; }
      var anchor = (firstRow.closest && firstRow.closest('table')) || firstRow.parentNode;
      if (anchor && anchor.parentNode) anchor.parentNode.insertBefore(toolbar, anchor);
      else if (doc.body) doc.body.insertBefore(toolbar, doc.body.firstChild);
    }
    function counts() {
      var x = 0;
      rowsByOrder.forEach(function (_, o) { var s = states.get(o); if (s && FINAL[s.status]) x++; });
      return { x: x, n: rowsByOrder.size };
    }
    var shownProgress = '';
    function updateProgress() {
      if (!toolbar) return;
      var c = counts(), busy = !!(active.size || posting);
      var key = c.x + '/' + c.n + (busy ? '+' : '');
      if (key === shownProgress) return; // unchanged: no DOM write
      shownProgress = key;
      var bar = toolbar.querySelector('.ruptura-progress');
      bar.setAttribute('aria-valuemax', String(c.n));
      bar.setAttribute('aria-valuenow', String(c.x));
      bar.setAttribute('aria-busy', String(busy));
      bar.firstChild.style.width = (c.n ? Math.round(c.x / c.n * 100) : 0) + '%';
      // .ruptura-busy: a hook to style the toolbar while anything is being analysed
      if (toolbar.classList) toolbar.classList.toggle('ruptura-busy', busy);
      toolbar.querySelector('.ruptura-progress-text').textContent =
        labels.progress.replace('{x}', c.x).replace('{n}', c.n);
    }

    // ---- enqueue + poll
    function analyzeAll() { return analyze(Array.from(rowsByOrder.keys())); }

    function analyze(list) {
      var orders = [], seen = new Set();
      (list || []).forEach(function (o) {
        o = String(o == null ? '' : o).trim();
        if (o && !seen.has(o) && !inflight.has(o)) { seen.add(o); orders.push(o); }
      });
      var out = { id: null, ids: [], total: orders.length, orders: orders, batches: [] };
      if (!orders.length) return Promise.resolve(out);
      idleSent = false;
      orders.forEach(function (o) { inflight.add(o); setState(o, { status: 'pending' }); });
      var chunks = [];
      for (var i = 0; i < orders.length; i += cfg.batchSize) chunks.push(orders.slice(i, i + cfg.batchSize));
      posting++;
      // POST the chunks one after another; each starts polling as soon as it is accepted.
      return chunks.reduce(function (p, chunk) {
        return p.then(function () {
          return postBatch(chunk, 0).then(function (b) { out.batches.push(b); out.ids.push(b.id); },
            function (err) { giveUp(chunk, 'error'); throw err; });
        });
      }, Promise.resolve()).then(function () {
        posting--; out.id = out.ids[0]; checkIdle(); return out;
      }, function (err) {
        posting--; chunks.forEach(function (c) { giveUp(c.filter(isPendingWithoutBatch), 'error'); });
        checkIdle(); throw err;
      });
    }
    function isPendingWithoutBatch(o) {
      for (var b of active) if (b.outstanding.has(o)) return false;
      return inflight.has(o);
    }

    // POST one chunk; network errors, 408, 429 and 5xx are retried (3 times, backoff + Retry-After).
    function postBatch(orders, attempt) {
      var headers = Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, authHeaders());
      function retry(err, wait) {
        if (attempt >= 3) throw err;
        var d = Math.min(cfg.maxBackoff, 2000 * Math.pow(2, attempt)) * (0.8 + 0.4 * env.random());
        return new Promise(function (r) { later(r, Math.max(d, wait)); })
          .then(function () { return postBatch(orders, attempt + 1); });
      }
      return Promise.resolve().then(function () {
        return env.fetch(cfg.apiBase + '/batches', { method: 'POST', headers: headers, cache: 'no-store',
          credentials: 'same-origin', body: JSON.stringify({ orders: orders }) });
      }).then(function (res) {
        if (res.ok) return res.json().then(function (j) { return startBatch(j, orders, res); });
        var err = new Error('HTTP ' + res.status);
        err.status = res.status;
        if (res.status === 408 || res.status === 429 || res.status >= 500) return retry(err, parseRetryAfter(res, env.now()));
        throw err;
      }, function (err) { return retry(err, 0); });
    }

    function startBatch(info, orders, res) {
      var b = { id: info.id, total: info.total, state: info.state, orders: orders, cursor: null,
        outstanding: new Set(orders), finished: false,
        url: info.results_url || cfg.apiBase + '/batches/' + encodeURIComponent(info.id) + '/results' };
      b.poller = createPoller({
        env: env, interval: cfg.interval, maxBackoff: cfg.maxBackoff, deadline: cfg.deadline,
        url: function () {
          return b.cursor == null ? b.url
            : b.url + (b.url.indexOf('?') < 0 ? '?' : '&') + 'since=' + encodeURIComponent(b.cursor);
        },
        headers: authHeaders,
        hasProgress: function (j) { return !!(j.results && j.results.length); },
        onData: function (j) { onResults(b, j); },
        isDone: function () { return b.finished; },
        // the batch has finished but more pages of results remain (`pending` counts them): fetch
        // them at once. While it runs, the next poll waits for the interval / Retry-After anyway.
        again: function (j) { return j.state === 'done' && j.pending > 0 && !!(j.results && j.results.length); },
        onTimeout: function () { finishBatch(b, 'timeout'); },
        onError: function (err) { if (err && err.fatal) finishBatch(b, 'error'); }
      });
      active.add(b);
      b.poller.start(parseRetryAfter(res, env.now()) || cfg.interval);
      return b;
    }

    function onResults(b, j) {
      if (j.cursor != null) b.cursor = j.cursor;
      if (j.state) b.state = j.state;
      var results = Array.isArray(j.results) ? j.results : [];
      results.forEach(function (r) {
        var o = String(r.order);
        if (b.outstanding.delete(o)) inflight.delete(o);
        var status = r.status === 'done' ? (r.analysis && r.analysis.status) || 'failed' : r.status;
        setState(o, { status: status, analysis: r.analysis || null, error: r.error || null });
        var detail = { order: o, status: r.status };
        if (r.analysis) detail.analysis = r.analysis;
        if (r.error) detail.error = r.error;
        emit('ruptura:result', detail);
      });
      if (!b.outstanding.size || (j.pending === 0 && !results.length)) finishBatch(b, 'error');
    }

    function finishBatch(b, leftover) {
      if (b.finished) return;
      b.finished = true;
      b.poller.stop();
      active.delete(b);
      giveUp(Array.from(b.outstanding), leftover);
      checkIdle();
    }
    function giveUp(orders, status) { // rows that will not get a result: offer a retry
      orders.forEach(function (o) { inflight.delete(o); setState(o, { status: status, group: orders }); });
    }
    function retry(order) {
      var st = states.get(order), group = (st && st.group) || [order];
      analyze(group.filter(function (o) {
        var s = states.get(o); return s && (s.status === 'timeout' || s.status === 'error');
      })).catch(noop);
    }
    function checkIdle() {
      if (idleSent || active.size || posting) return;
      idleSent = true;
      var c = counts();
      if (!frame) frame = nextFrame(flush); // the toolbar stops showing "busy"
      emit('ruptura:idle', { analysed: c.x, total: c.n });
    }

    // ---- details dialog (one shared native <dialog>)
    function buildDialog() {
      var d = el('dialog', 'ruptura-dialog');
      d.appendChild(el('h2', 'ruptura-dialog-title'));
      d.appendChild(el('p', 'ruptura-dialog-summary'));
      d.appendChild(el('div', 'ruptura-dialog-body'));
      var close = el('button', 'ruptura-close', labels.close);
      close.type = 'button';
      close.addEventListener('click', function () { closeDialog(); });
      d.appendChild(close);
      d.addEventListener('click', function (e) { if (e.target === d) closeDialog(); }); // backdrop
      doc.body.appendChild(d);
      return d;
    }
    function closeDialog() {
      if (!dialog) return;
      if (typeof dialog.close === 'function') dialog.close(); else dialog.removeAttribute('open');
    }
    function openDialog(order) {
      var st = states.get(order);
      if (!st || !FINAL[st.status]) return;
      dialog = dialog || buildDialog();
      var a = st.analysis || {};
      dialog.querySelector('.ruptura-dialog-title').textContent =
        labels.order + ' ' + order + ' \u2014 ' + (labels[st.status] || st.status);
      dialog.querySelector('.ruptura-dialog-summary').textContent = st.analysis
        ? labels.availability + ' ' + fmt(a.availability_pct) + '% \u00b7 ' +
          (a.ready_date ? labels.ready + ' ' + day(a.ready_date) : labels.noReady)
        : String((st.error && (st.error.message || st.error.code)) || '');
      var body = dialog.querySelector('.ruptura-dialog-body');
      while (body.firstChild) body.removeChild(body.firstChild);
      if (Array.isArray(a.lines) && a.lines.length) body.appendChild(linesTable(a.lines));
      dialog.setAttribute('data-order', order);
      if (typeof dialog.showModal === 'function') { if (!dialog.open) dialog.showModal(); }
      else dialog.setAttribute('open', '');
    }
    function linesTable(lines) {
      var t = el('table', 'ruptura-lines'), head = el('tr'), tb = el('tbody');
      [labels.product, labels.qty, labels.status, labels.shortfall, labels.availableOn, labels.projection]
        .forEach(function (h) { head.appendChild(el('th', null, h)); });
      t.appendChild(el('thead')).appendChild(head);
      lines.forEach(function (l) {
        var tr = el('tr', 'ruptura-line'), prod = el('td');
        prod.appendChild(el('strong', 'ruptura-code', l.product));
        if (l.name) prod.appendChild(doc.createTextNode(' ' + l.name));
        if (l.unknown_product) prod.appendChild(el('em', 'ruptura-unknown', ' (' + labels.unknownProduct + ')'));
        tr.appendChild(prod);
        tr.appendChild(el('td', 'ruptura-num', fmt(l.qty)));
        var ls = safeClass(l.status), sc = el('td');
        sc.appendChild(el('span', 'ruptura-line-status ruptura-line-' + ls, labels['line_' + ls] || l.status));
        tr.appendChild(sc);
        tr.appendChild(el('td', 'ruptura-num', fmt(l.shortfall)));
        tr.appendChild(el('td', null, l.available_on ? day(l.available_on) : '\u2014'));
        var cc = el('td', 'ruptura-chart-cell');
        if (Array.isArray(l.projection) && l.projection.length) cc.appendChild(chart(l.projection));
        tr.appendChild(cc);
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      return t;
    }
    // Bars of projected stock, a zero line, negative bars in red.
    function chart(points) {
      var pts = points.slice(0, 8), W = 128, H = 40, P = 3, bw = W / pts.length;
      var vals = pts.map(function (p) { return Number(p && p.stock) || 0; });
      var max = Math.max.apply(null, vals.concat(0)), min = Math.min.apply(null, vals.concat(0));
      var span = max - min || 1;
      function y(v) { return P + (max - v) / span * (H - 2 * P); }
      var s = svg('svg', { 'class': 'ruptura-chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
      s.setAttribute('aria-label', labels.projection);
      vals.forEach(function (v, i) {
        var neg = v < 0, top = Math.min(y(v), y(0));
        var r = svg('rect', { 'class': neg ? 'ruptura-bar ruptura-bar-neg' : 'ruptura-bar',
          x: (i * bw + 1).toFixed(1), y: top.toFixed(1), width: Math.max(1, bw - 2).toFixed(1),
          height: Math.max(1, Math.abs(y(v) - y(0))).toFixed(1), fill: neg ? '#c62828' : '#2e7d32' });
        var tt = svg('title', {});
        tt.textContent = day(pts[i] && pts[i].date) + ': ' + fmt(v);
        r.appendChild(tt);
        s.appendChild(r);
      });
      s.appendChild(svg('line', { 'class': 'ruptura-zero', x1: 0, x2: W, y1: y(0).toFixed(1), y2: y(0).toFixed(1),
        stroke: '#555', 'stroke-width': 1 }));
      return s;
    }

    // ---- wiring
    function onClick(e) {
      var t = e.target && e.target.closest ? e.target.closest('[' + FOR + ']') : null;
      if (!t) return;
      var order = t.getAttribute(FOR), cl = t.classList;
      if (cl.contains('ruptura-analyze')) analyze([order]).catch(noop);
      else if (cl.contains('ruptura-retry')) retry(order);
      else if (cl.contains('ruptura-badge')) openDialog(order);
    }
    function init() {
      if (inited || !doc) return;
      inited = true;
      doc.addEventListener('click', onClick);
      scan();
      if (typeof global.MutationObserver === 'function') {
        new global.MutationObserver(onMutations).observe(doc.documentElement || doc.body, {
          childList: true, subtree: true, attributes: true, attributeFilter: [cfg.attribute] });
      }
    }

    return {
      init: init,
      api: {
        version: VERSION, config: cfg, labels: labels,
        analyze: analyze, analyzeAll: analyzeAll, scan: scan,
        createPoller: function (o) { return createPoller(o, o && o.env ? o.env : env); },
        result: function (order) { return states.get(String(order)) || null; },
        open: openDialog
      }
    };
  }

  var core = { version: VERSION, createPoller: createPoller, defaultEnv: defaultEnv, parseRetryAfter: parseRetryAfter,
    readConfig: readConfig, normaliseLocale: normaliseLocale, createApp: createApp, DEFAULTS: DEFAULTS, LABELS: LABELS };

  var doc = global.document;
  if (doc && doc.createElement) {
    var script = doc.currentScript ||
      (doc.querySelector ? doc.querySelector('script[src*="ruptura"]') : null);
    var app = createApp(readConfig(doc, script), defaultEnv(global));
    app.api._core = core;
    global.Ruptura = app.api;
    if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', app.init);
    else app.init();
  }

  if (hasModule) module.exports = core;
})(typeof window !== 'undefined' ? window : typeof globalThis !== 'undefined' ? globalThis : this);
