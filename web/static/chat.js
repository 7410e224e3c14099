/*! Ruptura purchase chat — dependency-free (ES2019), uses the poller core of ruptura.js.
 * The session id lives in localStorage, so a reload resumes the conversation. Messages are
 * polled (GET …/messages?after=<last id>) only while the server says an analysis is pending.
 * Server text is rendered with textContent only. */
(function () {
  'use strict';

  var root = document.querySelector('[data-chat]');
  if (!root) return;

  var API = (root.getAttribute('data-api-base') || '/api/v1').replace(/\/+$/, '');
  var SESSION_KEY = 'ruptura.chat.session';
  var LOCALE_KEY = 'ruptura.chat.locale';
  var INTERVAL = 2000;

  var LABELS = {
    en: {
      title: 'Purchase assistant', subtitle: 'Ask whether to buy more of a product.',
      newChat: 'New conversation', orders: 'Order book', analysing: 'Analysing…',
      emptyTitle: 'What should we check?',
      emptyText: 'Name a product by its code, an alias or its name — for example “Should I buy more rice?”.',
      inputLabel: 'Message', placeholder: 'Ask about a product: code, alias or name…', send: 'Send',
      hint: 'Enter sends · Shift+Enter for a new line · switching the language starts a new conversation',
      you: 'You', assistant: 'Ruptura', language: 'Language',
      sendFailed: 'The message could not be sent', retrying: 'Connection problem — retrying…',
      lost: 'That conversation no longer exists; a new one starts with your next message.',
      stalled: 'No answer from the server for a while.', checkAgain: 'Check again', missing:
      'The page script failed to load; reload the page.',
      decision_buy: 'Buy', decision_no_action: 'No action', decision_manual_review: 'Manual review',
      failed: 'Failed', pickOne: 'Pick one:'
    },
    'pt-BR': {
      title: 'Assistente de compras', subtitle: 'Pergunte se deve comprar mais de um produto.',
      newChat: 'Nova conversa', orders: 'Carteira de pedidos', analysing: 'Analisando…',
      emptyTitle: 'O que vamos verificar?',
      emptyText: 'Indique um produto pelo código, um código alternativo ou o nome — por exemplo “Devo comprar mais arroz?”.',
      inputLabel: 'Mensagem', placeholder: 'Pergunte sobre um produto: código, código alternativo ou nome…',
      send: 'Enviar',
      hint: 'Enter envia · Shift+Enter para nova linha · trocar o idioma inicia uma nova conversa',
      you: 'Você', assistant: 'Ruptura', language: 'Idioma',
      sendFailed: 'Não foi possível enviar a mensagem', retrying: 'Problema de conexão — tentando de novo…',
      lost: 'Essa conversa não existe mais; uma nova começa com a sua próxima mensagem.',
      stalled: 'O servidor não responde há algum tempo.', checkAgain: 'Verificar de novo', missing:
      'O script da página não carregou; recarregue a página.',
      decision_buy: 'Comprar', decision_no_action: 'Nenhuma ação', decision_manual_review: 'Revisão manual',
      failed: 'Falhou', pickOne: 'Escolha um:'
    }
  };

  var $ = function (sel) { return root.querySelector(sel); };
  var log = $('.chat-log'), list = $('.chat-messages'), pendingEl = $('.chat-pending');
  var form = $('.chat-form'), input = $('.chat-input'), sendBtn = $('.chat-send');
  var notice = $('.chat-notice'), noticeText = $('.chat-notice-text'), noticeAction = $('.chat-notice-action');

  var state = {
    session: null,   // {id, locale}
    locale: 'en',    // the page's language, and the locale of the next session
    lastId: 0,       // the largest message id shown
    shown: new Set(),
    poller: null,
    sending: false
  };

  // ---------------------------------------------------------------- storage
  function load(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function save(key, value) {
    try {
      if (value == null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, value);
    } catch (e) { /* private mode: the conversation just won't survive a reload */ }
  }
  function storedSession() {
    try {
      var s = JSON.parse(load(SESSION_KEY) || 'null');
      return s && typeof s.id === 'string' && s.id ? { id: s.id, locale: normalise(s.locale) } : null;
    } catch (e) { return null; }
  }
  function normalise(l) { return /^pt\b/i.test(String(l || '')) ? 'pt-BR' : 'en'; }

  // ---------------------------------------------------------------- labels
  function L(key) { return (LABELS[state.locale] || LABELS.en)[key] || LABELS.en[key] || key; }

  function applyLabels() {
    document.documentElement.setAttribute('lang', state.locale);
    var nodes = root.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = L(nodes[i].getAttribute('data-i18n'));
    input.setAttribute('placeholder', L('placeholder'));
    $('.chat-locale').setAttribute('aria-label', L('language'));
    var buttons = root.querySelectorAll('[data-locale]');
    for (var j = 0; j < buttons.length; j++) {
      buttons[j].setAttribute('aria-pressed', String(buttons[j].getAttribute('data-locale') === state.locale));
    }
    document.title = 'Ruptura — ' + L('title');
  }

  // ---------------------------------------------------------------- HTTP
  function headers(extra) {
    var h = { Accept: 'application/json' };
    var token = window.Ruptura && window.Ruptura.config && window.Ruptura.config.token;
    if (token) h.Authorization = 'Bearer ' + token;
    return Object.assign(h, extra || {});
  }
  function postJSON(path, body) {
    return fetch(API + path, {
      method: 'POST', headers: headers({ 'Content-Type': 'application/json' }),
      credentials: 'same-origin', cache: 'no-store', body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (json) {
        if (res.ok) return json;
        var err = new Error((json && json.error && json.error.message) || 'HTTP ' + res.status);
        err.status = res.status;
        throw err;
      });
    });
  }
  function messagesPath() {
    return API + '/chat/sessions/' + encodeURIComponent(state.session.id) + '/messages?after=' + state.lastId;
  }

  // ---------------------------------------------------------------- rendering
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function safe(s) { return /^[a-z_]+$/.test(String(s)) ? String(s) : 'other'; }
  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? '' : d.toLocaleTimeString(state.locale, { hour: '2-digit', minute: '2-digit' });
  }
  function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 80; }
  function toBottom() { log.scrollTop = log.scrollHeight; }

  function renderMessage(m) {
    var meta = m.metadata && typeof m.metadata === 'object' ? m.metadata : {};
    var sender = m.sender === 'user' ? 'user' : 'ai';
    var type = safe(meta.type || (sender === 'user' ? 'question' : 'answer'));
    var item = el('li', 'chat-msg chat-msg-' + sender + ' chat-type-' + type);
    item.setAttribute('data-message-id', String(m.id));
    item.setAttribute('data-sender', sender);
    item.setAttribute('data-type', type);

    var bubble = el('div', 'chat-bubble');
    var who = el('span', 'chat-who', sender === 'user' ? L('you') : L('assistant'));
    bubble.appendChild(who);
    if (type === 'analysis_result' && meta.analysis && meta.analysis.decision) {
      var decision = safe(meta.analysis.decision);
      bubble.appendChild(el('span', 'chat-decision chat-decision-' + decision,
        L('decision_' + decision) === 'decision_' + decision ? meta.analysis.decision : L('decision_' + decision)));
    } else if (type === 'analysis_failed') {
      bubble.appendChild(el('span', 'chat-decision chat-decision-failed', L('failed')));
    }
    bubble.appendChild(el('div', 'chat-text', m.content));
    if (type === 'clarification' && Array.isArray(meta.candidates) && meta.candidates.length) {
      var choices = el('div', 'chat-choices');
      choices.setAttribute('aria-label', L('pickOne'));
      meta.candidates.forEach(function (c) {
        if (!c || c.code == null) return;
        var b = el('button', 'chat-choice');
        b.type = 'button';
        b.setAttribute('data-code', String(c.code));
        b.appendChild(el('strong', 'chat-choice-code', c.code));
        if (c.name) b.appendChild(el('span', 'chat-choice-name', c.name));
        choices.appendChild(b);
      });
      bubble.appendChild(choices);
    }
    item.appendChild(bubble);
    var time = el('time', 'chat-time', clock(m.created_at));
    if (m.created_at) time.setAttribute('datetime', String(m.created_at));
    item.appendChild(time);
    return item;
  }

  function addMessages(messages) {
    if (!Array.isArray(messages) || !messages.length) return;
    var stick = nearBottom() || state.sending;
    messages.forEach(function (m) {
      var id = Number(m && m.id);
      if (!isFinite(id) || state.shown.has(id)) return;
      state.shown.add(id);
      var node = renderMessage(m), after = null, items = list.children;
      for (var i = items.length - 1; i >= 0; i--) { // messages arrive in id order: look from the end
        if (Number(items[i].getAttribute('data-message-id')) < id) { after = items[i]; break; }
      }
      if (after) list.insertBefore(node, after.nextSibling); else list.insertBefore(node, list.firstChild);
      if (id > state.lastId) state.lastId = id;
    });
    root.classList.toggle('chat-has-messages', list.children.length > 0);
    if (stick) toBottom();
  }

  function clearLog() {
    while (list.firstChild) list.removeChild(list.firstChild);
    state.shown.clear();
    state.lastId = 0;
    root.classList.remove('chat-has-messages');
    setPending(false);
  }

  function setPending(on) {
    var stick = nearBottom();
    pendingEl.hidden = !on;
    root.classList.toggle('chat-is-pending', !!on);
    if (on && stick) toBottom();
  }

  function showNotice(text, action, onAction) {
    noticeText.textContent = text;
    noticeAction.hidden = !action;
    noticeAction.textContent = action || '';
    noticeAction.onclick = onAction || null;
    notice.hidden = false;
  }
  function hideNotice() { notice.hidden = true; }

  function setBusy(busy) {
    state.sending = busy;
    sendBtn.disabled = busy;
    root.classList.toggle('chat-is-sending', busy);
  }

  // ---------------------------------------------------------------- polling
  function makePoller() {
    return window.Ruptura.createPoller({
      url: messagesPath,
      headers: function () { return headers(); },
      interval: INTERVAL,
      maxBackoff: 30000,
      deadline: 120000,
      onData: function (json) {
        hideNotice();
        addMessages(json.messages);
        setPending(!!json.pending);
      },
      // Poll while the server says an analysis is queued or running: it is no longer once
      // the analysis_result (or analysis_failed) message is committed, in the same transaction.
      isDone: function (json) { return !json.pending; },
      onTimeout: function () {
        setPending(false);
        showNotice(L('stalled'), L('checkAgain'), function () { hideNotice(); poll(0); });
      },
      onError: function (err) {
        if (!(err && err.fatal)) { showNotice(L('retrying')); return; }
        setPending(false);
        if (err.status === 404) { forgetSession(); showNotice(L('lost')); }
        else showNotice(L('sendFailed') + ' (' + err.message + ')', L('checkAgain'), function () { hideNotice(); poll(0); });
      }
    });
  }

  function poll(delay) {
    if (!state.session || !window.Ruptura) return;
    if (!state.poller) state.poller = makePoller();
    if (state.poller.active) state.poller.pollNow();
    else state.poller.start(delay || 0);
  }

  function stopPolling() { if (state.poller) state.poller.stop(); }

  // ---------------------------------------------------------------- sessions
  function forgetSession() {
    stopPolling();
    state.poller = null;
    state.session = null;
    save(SESSION_KEY, null);
  }

  function ensureSession() {
    if (state.session) return Promise.resolve(state.session);
    return postJSON('/chat/sessions', { locale: state.locale }).then(function (s) {
      state.session = { id: s.id, locale: normalise(s.locale) };
      save(SESSION_KEY, JSON.stringify(state.session));
      return state.session;
    });
  }

  function newConversation() {
    forgetSession();
    clearLog();
    hideNotice();
    input.focus();
  }

  function setLocale(locale) {
    locale = normalise(locale);
    save(LOCALE_KEY, locale);
    if (locale === state.locale) return;
    state.locale = locale;
    applyLabels();
    if (state.session && state.session.locale !== locale) newConversation();
  }

  // ---------------------------------------------------------------- sending
  function send(text, retried) {
    text = String(text || '').trim();
    if (!text || state.sending) return;
    setBusy(true);
    hideNotice();
    // A poll already in flight may have read the database before this message: drop it.
    var wasPolling = !!(state.poller && state.poller.active);
    stopPolling();
    ensureSession().then(function (session) {
      return postJSON('/chat/sessions/' + encodeURIComponent(session.id) + '/messages', { content: text });
    }).then(function (json) {
      if (input.value.trim() === text) input.value = '';
      resize();
      addMessages(json.messages);
      var ai = (json.messages || [])[json.messages.length - 1] || {};
      var started = !!(ai.metadata && ai.metadata.type === 'analysis_started');
      setBusy(false);
      if (started || wasPolling) { setPending(true); poll(started ? INTERVAL / 2 : 0); }
    }, function (err) {
      setBusy(false);
      if (err && err.status === 404 && !retried) { // the session is gone: start a new one
        forgetSession(); clearLog(); send(text, true); return;
      }
      showNotice(L('sendFailed') + ': ' + err.message);
      if (wasPolling) poll(0);
    });
  }

  function resize() {
    input.classList.toggle('chat-input-tall', input.value.indexOf('\n') >= 0 || input.value.length > 90);
  }

  // ---------------------------------------------------------------- wiring
  form.addEventListener('submit', function (e) { e.preventDefault(); send(input.value); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(input.value); }
  });
  input.addEventListener('input', resize);
  list.addEventListener('click', function (e) {
    var b = e.target && e.target.closest ? e.target.closest('.chat-choice') : null;
    if (b) send(b.getAttribute('data-code'));
  });
  root.querySelector('.chat-new').addEventListener('click', newConversation);
  var localeButtons = root.querySelectorAll('[data-locale]');
  for (var i = 0; i < localeButtons.length; i++) {
    localeButtons[i].addEventListener('click', function (e) {
      setLocale(e.currentTarget.getAttribute('data-locale'));
    });
  }

  // ---------------------------------------------------------------- start
  state.session = storedSession();
  state.locale = state.session ? state.session.locale
    : normalise(load(LOCALE_KEY) || (navigator.languages && navigator.languages[0]) || navigator.language);
  applyLabels();
  if (!window.Ruptura || typeof window.Ruptura.createPoller !== 'function') {
    showNotice(L('missing'));
    sendBtn.disabled = true;
    return;
  }
  if (state.session) poll(0); // the history, then polling on while an analysis is pending
  input.focus();

  window.RupturaChat = {
    send: send, newConversation: newConversation, setLocale: setLocale,
    get session() { return state.session; }, get lastId() { return state.lastId; },
    get polling() { return !!(state.poller && state.poller.active); }
  };
})();
