/*
 * shopbot web widget: the buyer's chat window on a shop's page.
 *
 * Embed with one tag; the shop's back end mints the buyer's token
 * (`shopbot token BUYER_ID`):
 *
 *   <script src="https://BOT-HOST/webhooks/shop/widget.js"
 *           data-token="JWT" data-open="false"
 *           data-evidence-url="https://ASSIST-HOST/evidence/upload" defer></script>
 *
 * It talks to the `shop` channel on the server the script came from
 * (POST /webhooks/shop/webhook, Bearer JWT), keeps the conversation id and
 * transcript in localStorage (history across reloads), retries with backoff
 * when the server is down (reconnect after a restart) and renders every text
 * with textContent (a buyer typing <script> sees text). No dependencies.
 *
 * Reconnecting: a message the server cannot be reached for stays in the
 * queue (shown as pending, with the "reconnecting" notice); the widget asks
 * the server's health address (GET /webhooks/shop/) after 0.5, 1, 2, then
 * every 3 s (each ±20 % so that many widgets do not knock at once, and at
 * once when the browser comes back online) and, when it answers, sends the
 * queued messages one at a time, in order. A message is sent again only when
 * its request failed at the network level or with a 5xx, never after an
 * answer.
 *
 * Human handoff: when the bot hands the conversation to a person (a message
 * with custom {"handoff": true}), the widget fetches what the agent writes
 * from GET /webhooks/shop/history?sender=...&after=<cursor> (same token) every
 * few seconds, and shows the agent's messages (agent: true). It stops when the
 * history says the conversation was released, when the bot answers a message
 * again without the handoff mark, or after 30 minutes; a reload carries on.
 *
 * With data-evidence-url, a 📎 button uploads evidence photos (JPEG/PNG/WebP)
 * for the order last named in the conversation (POST <url>?order=ID, the
 * image as the body, Bearer JWT); the server's Chinese answer is shown, and
 * the photo as a thumbnail until the page is reloaded.
 *
 * Public API: window.ShopBot.open(), .close(), .clear(), .handedOff(), .metrics
 * (firstBotMessageMs: performance.now() when the first bot message showed).
 */
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script || (window.ShopBot && window.ShopBot.started)) {
    return;
  }

  var TEXT = {
    title: script.getAttribute('data-title') || '在线客服',
    launcher: '客服',
    placeholder: '请输入您的问题',
    hint: '请输入您的问题，Enter 发送，Shift+Enter 换行',
    send: '发送',
    close: '收起',
    typing: '客服正在输入',
    offline: '连接中断，正在重新连接…消息会在恢复后自动发送',
    expired: '登录状态已失效，请刷新页面后再试。',
    failed: '消息发送失败，请稍后再试。',
    you: '我',
    bot: '客服',
    attach: '上传凭证',
    attached: '📎 上传了凭证图片',
    needOrder: '请先在对话中选择或输入订单号，再上传凭证图片。',
    uploadFailed: '凭证上传失败，请检查网络后重试。',
    agent: '人工客服'
  };
  var EVIDENCE_TYPES = 'image/jpeg,image/png,image/webp';
  var ORDER_ID = /(?:^|\D)(AS\d{1,32}|\d{10,32})(?!\d)/g;
  var MAX_HISTORY = 200;
  var MAX_INPUT = 2000;
  var RETRY_MS = [500, 1000, 2000, 3000];
  var RETRY_JITTER = 0.2;
  var POLL_MS = 3000;
  var HANDOFF_MAX_MS = 30 * 60 * 1000;

  var base = new URL(script.src, window.location.href).origin;
  var endpoint = base + '/webhooks/shop/webhook';
  var health = base + '/webhooks/shop/';
  var historyUrl = base + '/webhooks/shop/history';
  var token = script.getAttribute('data-token') || '';
  var evidenceUrl = script.getAttribute('data-evidence-url') || '';
  var thumbnails = {};
  var storeKey = 'shopbot:' + base + ':' + tokenSubject(token);

  var metrics = { firstBotMessageMs: null };
  var state = loadState();
  var queue = [];
  var busy = false;
  var offline = false;
  var composing = false;
  var retries = 0;
  var retryTimer = null;
  var pollTimer = null;

  /* ---------- state ---------- */

  function tokenSubject(jwt) {
    try {
      var part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      var claims = JSON.parse(atob(part));
      return (claims.role || 'buyer') + ':' + String(claims.sub || 'anonymous');
    } catch (e) {
      return 'anonymous';
    }
  }

  function newConversationId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return 'web-' + Array.prototype.map.call(bytes, function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }

  function loadState() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(storeKey) || 'null');
      if (saved && typeof saved.sender === 'string' && Array.isArray(saved.messages)) {
        return saved;
      }
    } catch (e) { /* unreadable history: start afresh */ }
    return { sender: newConversationId(), messages: [], open: false };
  }

  function saveState() {
    state.messages = state.messages.slice(-MAX_HISTORY);
    try {
      window.localStorage.setItem(storeKey, JSON.stringify(state));
    } catch (e) { /* storage full or blocked: the chat still works */ }
  }

  /* ---------- view ---------- */

  var CSS = [
    ':host{all:initial;font-family:-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;}',
    '*{box-sizing:border-box;}',
    '.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;',
    'padding:14px 20px;background:#ff5000;color:#fff;font-size:16px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2);}',
    '.panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;width:380px;height:600px;',
    'max-height:calc(100vh - 40px);display:flex;flex-direction:column;background:#f5f5f5;',
    'border-radius:12px;overflow:hidden;box-shadow:0 8px 30px rgba(0,0,0,.25);font-size:15px;color:#222;}',
    '.panel[hidden],.launcher[hidden],.status[hidden],.typing[hidden]{display:none;}',
    '.head{display:flex;align-items:center;justify-content:space-between;padding:12px 16px;background:#ff5000;color:#fff;}',
    '.head h2{margin:0;font-size:16px;font-weight:600;}',
    '.head button{border:0;background:transparent;color:#fff;font-size:14px;cursor:pointer;padding:4px 8px;}',
    '.status{padding:6px 12px;background:#fff3cd;color:#7a5b00;font-size:13px;text-align:center;}',
    '.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;}',
    '.msg{max-width:85%;padding:9px 12px;border-radius:10px;line-height:1.5;white-space:pre-wrap;',
    'word-break:break-word;overflow-wrap:anywhere;}',
    '.msg.bot{align-self:flex-start;background:#fff;border-top-left-radius:2px;}',
    '.msg.bot.agent{border-left:3px solid #ff5000;}',
    '.msg .who{display:block;color:#ff5000;font-size:12px;margin-bottom:2px;}',
    '.msg.user{align-self:flex-end;background:#ffe0cc;border-top-right-radius:2px;}',
    '.msg.user.pending{opacity:.6;}',
    '.msg.note{align-self:center;background:transparent;color:#888;font-size:12px;}',
    '.buttons{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start;max-width:100%;}',
    '.buttons button{border:1px solid #ff5000;background:#fff;color:#ff5000;border-radius:16px;',
    'padding:6px 12px;font-size:14px;cursor:pointer;text-align:left;max-width:100%;word-break:break-all;}',
    '.buttons button:disabled{border-color:#ccc;color:#999;cursor:default;}',
    '.typing{align-self:flex-start;color:#888;font-size:13px;padding:4px 12px;}',
    '.typing span{display:inline-block;animation:blink 1.2s infinite;}',
    '.typing span:nth-child(2){animation-delay:.2s;}.typing span:nth-child(3){animation-delay:.4s;}',
    '@keyframes blink{0%,80%,100%{opacity:.2;}40%{opacity:1;}}',
    '.compose{display:flex;gap:8px;padding:10px;background:#fff;border-top:1px solid #e5e5e5;}',
    '.compose textarea{flex:1;resize:none;height:44px;max-height:120px;padding:10px;border:1px solid #ddd;',
    'border-radius:8px;font:inherit;font-size:16px;}',
    '.msg img{display:block;max-width:160px;max-height:160px;margin-top:6px;border-radius:6px;}',
    '.compose .attach{background:#fff;color:#ff5000;border:1px solid #ff5000;padding:0 10px;}',
    '.compose button{border:0;border-radius:8px;padding:0 16px;background:#ff5000;color:#fff;font-size:15px;cursor:pointer;}',
    '@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;max-height:none;border-radius:0;}',
    '.launcher{right:12px;bottom:12px;}}'
  ].join('');

  var host = document.createElement('div');
  host.id = 'shopbot-widget';
  var root = host.attachShadow({ mode: 'open' });
  var style = document.createElement('style');
  style.textContent = CSS;
  root.appendChild(style);

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  var launcher = el('button', 'launcher', TEXT.launcher);
  launcher.type = 'button';
  launcher.setAttribute('aria-label', TEXT.title);
  var panel = el('section', 'panel');
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', TEXT.title);
  var head = el('div', 'head');
  head.appendChild(el('h2', '', TEXT.title));
  var closer = el('button', '', TEXT.close);
  closer.type = 'button';
  head.appendChild(closer);
  var status = el('div', 'status', TEXT.offline);
  status.setAttribute('role', 'status');
  var log = el('div', 'log');
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  var typing = el('div', 'typing');
  typing.appendChild(document.createTextNode(TEXT.typing));
  ['.', '.', '.'].forEach(function (dot) { typing.appendChild(el('span', '', dot)); });
  var form = el('form', 'compose');
  var input = el('textarea');
  input.rows = 1;
  input.maxLength = MAX_INPUT;
  input.placeholder = TEXT.placeholder;
  input.setAttribute('aria-label', TEXT.hint);
  input.title = TEXT.hint;
  var sendButton = el('button', '', TEXT.send);
  sendButton.type = 'submit';
  var attachButton = el('button', 'attach', '📎');
  attachButton.type = 'button';
  attachButton.title = TEXT.attach;
  attachButton.setAttribute('aria-label', TEXT.attach);
  var fileInput = el('input');
  fileInput.type = 'file';
  fileInput.accept = EVIDENCE_TYPES;
  fileInput.hidden = true;
  if (evidenceUrl) {
    form.appendChild(attachButton);
    form.appendChild(fileInput);
  }
  form.appendChild(input);
  form.appendChild(sendButton);
  panel.appendChild(head);
  panel.appendChild(status);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(launcher);
  root.appendChild(panel);

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function renderMessage(message, index) {
    var bubble = el('div', 'msg ' + message.from, message.text || '');
    bubble.setAttribute('aria-label', message.from === 'user' ? TEXT.you : TEXT.bot);
    if (message.agent) {
      bubble.className += ' agent';
      bubble.setAttribute('aria-label', TEXT.agent);
      bubble.insertBefore(el('span', 'who', TEXT.agent), bubble.firstChild);
    }
    if (message.pending) { bubble.className += ' pending'; }
    if (message.thumb && thumbnails[message.thumb]) {
      var image = el('img');
      image.src = thumbnails[message.thumb];
      image.alt = TEXT.attach;
      bubble.appendChild(image);
    }
    if (message.text) { log.appendChild(bubble); }
    if (message.buttons && message.buttons.length) {
      var group = el('div', 'buttons');
      message.buttons.forEach(function (button) {
        var choice = el('button', '', String(button.title || button.payload || ''));
        choice.type = 'button';
        choice.disabled = !!message.answered;
        choice.addEventListener('click', function () {
          state.messages[index].answered = true;
          saveState();
          Array.prototype.forEach.call(group.children, function (b) { b.disabled = true; });
          send(String(button.payload || button.title || ''), String(button.title || ''));
        });
        group.appendChild(choice);
      });
      log.appendChild(group);
    }
    if (message.from === 'bot' && metrics.firstBotMessageMs === null) {
      metrics.firstBotMessageMs = window.performance.now();
    }
  }

  function render() {
    while (log.firstChild) { log.removeChild(log.firstChild); }
    state.messages.forEach(renderMessage);
    log.appendChild(typing);
    typing.hidden = !busy || offline;
    scrollDown();
  }

  function append(message) {
    state.messages.push(message);
    saveState();
    render();
  }

  function note(text) {
    append({ from: 'note', text: text });
  }

  /* ---------- talking to the server ---------- */

  function post(text) {
    return window.fetch(endpoint, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token },
      body: JSON.stringify({ sender: state.sender, message: text })
    });
  }

  function isHandoff(m) {
    return !!(m && m.custom && typeof m.custom === 'object' && m.custom.handoff === true);
  }

  // kind: 'agent' (fetched from the history), 'limited' (a rate-limit answer)
  // or undefined (the bot's answer to a message).
  function showBotMessages(messages, kind) {
    var list = Array.isArray(messages) ? messages : [];
    list.forEach(function (m) {
      if (!m || typeof m !== 'object') { return; }
      var buttons = Array.isArray(m.buttons) ? m.buttons.map(function (b) {
        return { title: String(b.title || ''), payload: String(b.payload || '') };
      }) : [];
      if (m.text || buttons.length) {
        var shown = { from: 'bot', text: m.text ? String(m.text) : '', buttons: buttons };
        if (kind === 'agent') { shown.agent = true; }
        state.messages.push(shown);
      }
    });
    if (kind) { return; }
    if (list.some(isHandoff)) {
      startHandoff();
    } else if (list.length && state.handoff) {
      // The bot answers again: an agent released the conversation.
      stopHandoff();
    }
  }

  /* ---------- human handoff: fetch the agent's messages ---------- */

  function startHandoff() {
    if (!state.handoff) {
      state.handoff = { since: Date.now() };
      saveState();
    }
    schedulePoll(0);
  }

  function stopHandoff() {
    state.handoff = null;
    saveState();
    if (pollTimer !== null) {
      window.clearTimeout(pollTimer);
      pollTimer = null;
    }
  }

  function schedulePoll(delay) {
    if (pollTimer !== null) { window.clearTimeout(pollTimer); }
    pollTimer = window.setTimeout(function () {
      pollTimer = null;
      poll();
    }, delay);
  }

  function poll() {
    if (!state.handoff) { return; }
    if (Date.now() - state.handoff.since > HANDOFF_MAX_MS) {
      stopHandoff();
      return;
    }
    var query = '?sender=' + encodeURIComponent(state.sender);
    if (typeof state.historyCursor === 'number') {
      query += '&after=' + encodeURIComponent(String(state.historyCursor));
    }
    window.fetch(historyUrl + query, {
      method: 'GET',
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      headers: { 'Authorization': 'Bearer ' + token }
    }).then(function (reply) {
      if (reply.status === 401 || reply.status === 403) {
        stopHandoff();
        return null;
      }
      if (!reply.ok) { throw new Error('history ' + reply.status); }
      return reply.json();
    }).then(function (body) {
      if (!body || !state.handoff) { return; }
      var agentMessages = (Array.isArray(body.messages) ? body.messages : []).filter(function (m) {
        return m && m.agent === true;
      });
      if (typeof body.cursor === 'number') { state.historyCursor = body.cursor; }
      showBotMessages(agentMessages, 'agent');
      if (body.paused === false) {
        stopHandoff();
      } else {
        saveState();
        schedulePoll(POLL_MS);
      }
      render();
    }).catch(function () {
      if (state.handoff) { schedulePoll(POLL_MS); }
    });
  }

  // The server could not be reached: show the notice, ask its health address
  // again after the next backoff step (busy stays true meanwhile, so the
  // queue waits).
  function waitForServer() {
    var step = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
    var delay = step * (1 - RETRY_JITTER + 2 * RETRY_JITTER * Math.random());
    retries += 1;
    offline = true;
    status.hidden = false;
    typing.hidden = true;
    retryTimer = window.setTimeout(checkServer, delay);
  }

  function checkServer() {
    retryTimer = null;
    window.fetch(health, { mode: 'cors', credentials: 'omit', cache: 'no-store' })
      .then(function (reply) {
        if (!reply.ok) { throw new Error('unhealthy'); }
        busy = false;
        pump();
      })
      .catch(waitForServer);
  }

  // Back online (network switch, laptop woken up): ask now, not after the backoff.
  window.addEventListener('online', function () {
    if (retryTimer !== null) {
      window.clearTimeout(retryTimer);
      checkServer();
    }
  });

  function pump() {
    if (busy || !queue.length) {
      typing.hidden = !busy || offline;
      return;
    }
    busy = true;
    render();
    var item = queue[0];
    post(item.payload).then(function (reply) {
      if (reply.status >= 500) { throw new Error('server ' + reply.status); }
      return reply.json().catch(function () { return []; }).then(function (body) {
        return { status: reply.status, body: body };
      });
    }).then(function (result) {
      status.hidden = true;
      offline = false;
      retries = 0;
      queue.shift();
      if (item.message) { item.message.pending = false; }
      if (result.status === 200 || result.status === 429) {
        showBotMessages(result.body, result.status === 429 ? 'limited' : undefined);
      } else if (result.status === 401) {
        queue = [];
        state.messages.push({ from: 'note', text: TEXT.expired });
      } else if (result.status === 403 && result.body && result.body.error === 'conversation_forbidden') {
        state.sender = newConversationId();
        queue.unshift(item);
      } else {
        state.messages.push({ from: 'note', text: TEXT.failed });
      }
      busy = false;
      saveState();
      render();
      pump();
    }).catch(function () {
      // The server is unreachable or restarting: keep the message, retry.
      waitForServer();
    });
  }

  function send(payload, shown) {
    var message = null;
    if (shown) {
      message = { from: 'user', text: shown, payload: payload, pending: true };
      state.messages.push(message);
      saveState();
    }
    queue.push({ payload: payload, message: message });
    render();
    pump();
  }

  /* ---------- evidence photos ---------- */

  function lastOrderId() {
    for (var i = state.messages.length - 1; i >= 0; i -= 1) {
      var m = state.messages[i];
      var found = null;
      [m.payload, m.text].forEach(function (text) {
        var match;
        ORDER_ID.lastIndex = 0;
        while (text && (match = ORDER_ID.exec(String(text))) !== null) { found = match[1]; }
      });
      if (found) { return found; }
    }
    return null;
  }

  function upload(file) {
    var order = lastOrderId();
    if (!order) { note(TEXT.needOrder); return Promise.resolve(); }
    var thumb = 'p' + Date.now() + Math.random().toString(16).slice(2);
    thumbnails[thumb] = window.URL.createObjectURL(file);
    append({ from: 'user', text: TEXT.attached, thumb: thumb });
    return window.fetch(evidenceUrl + '?order=' + encodeURIComponent(order), {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      headers: { 'Content-Type': file.type || 'application/octet-stream', 'Authorization': 'Bearer ' + token },
      body: file
    }).then(function (reply) {
      return reply.json().then(function (body) {
        append({ from: 'bot', text: String(body && body.message || TEXT.uploadFailed), evidence: body && body.outcome });
      });
    }).catch(function () { note(TEXT.uploadFailed); });
  }

  attachButton.addEventListener('click', function () { fileInput.click(); });
  fileInput.addEventListener('change', function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    if (file) { upload(file); }
  });

  /* ---------- input ---------- */

  function submit() {
    var text = input.value.replace(/^\s+|\s+$/g, '');
    if (!text) { return; }
    input.value = '';
    send(text, text);
  }

  input.addEventListener('compositionstart', function () { composing = true; });
  input.addEventListener('compositionend', function () { composing = false; });
  input.addEventListener('keydown', function (event) {
    if (event.key !== 'Enter' || event.shiftKey) { return; }
    // Enter that confirms a Chinese input method's candidate must not send:
    // isComposing (standard), the composition events, keyCode 229 (Safari).
    if (event.isComposing || composing || event.keyCode === 229) { return; }
    event.preventDefault();
    submit();
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    submit();
  });

  function open() {
    state.open = true;
    saveState();
    panel.hidden = false;
    launcher.hidden = true;
    render();
    if (!state.messages.length && !queue.length) {
      send('/greet', '');
    }
    input.focus();
  }

  function close() {
    state.open = false;
    saveState();
    panel.hidden = true;
    launcher.hidden = false;
  }

  launcher.addEventListener('click', open);
  closer.addEventListener('click', close);

  // Messages left pending by a reload are sent again.
  state.messages.forEach(function (m) {
    if (m.from === 'user' && m.pending) { queue.push({ payload: m.payload || m.text, message: m }); }
  });

  function start() {
    document.body.appendChild(host);
    if (state.open || script.getAttribute('data-open') === 'true') {
      open();
    } else {
      close();
    }
    pump();
    if (state.handoff) { schedulePoll(0); }
  }

  window.ShopBot = {
    started: true,
    metrics: metrics,
    open: open,
    close: close,
    handedOff: function () { return !!state.handoff; },
    clear: function () {
      queue = [];
      stopHandoff();
      state = { sender: newConversationId(), messages: [], open: !panel.hidden };
      saveState();
      render();
    }
  };

  if (document.body) {
    start();
  } else {
    document.addEventListener('DOMContentLoaded', start);
  }
}());
