// The chat widget for a customer's web site: one script tag,
//   <script src="http://NODE:8080/widget.js" data-queue="Sales"></script>
// It finds both nodes of the pair from the node it came from, starts a
// chat in the queue, and keeps it through a switchover: requests move to
// the other node on no answer, the chat's socket resumes where it was,
// and each line shows once (by its message id). A classic script with no
// imports, so any page can include it.
(function () {
  'use strict';
  const script = document.currentScript;
  const base = new URL(script.src).origin;
  // A demo page may let its address choose the queue (`?queue=`).
  const fromUrl = script.hasAttribute('data-queue-from-url') && new URLSearchParams(location.search).get('queue');
  const queue = fromUrl || script.dataset.queue || 'Sales';
  const title = script.dataset.title || 'Chat with us';
  const STORE = `duet.chat.${queue}`;
  const RETRY_FOR_MS = 20000;
  // A node silent this long is taken for gone (a paused process never
  // closes the connection).
  const ANSWER_WAIT_MS = 5000;
  const TICKS = { Accepted: '✓', Delivered: '✓✓', Read: '✓✓' };

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function freshId(prefix) {
    const b = new Uint8Array(8);
    crypto.getRandomValues(b);
    return prefix + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  const chat = { nodes: [{ name: '', url: base }], current: 0, id: null, token: null, position: null, lines: new Map(), read: new Set() };

  // A request to the node that answered last, then the other one.
  async function request(method, path, body, contentType) {
    const until = Date.now() + RETRY_FOR_MS;
    for (;;) {
      const node = chat.nodes[chat.current];
      try {
        const headers = {};
        if (chat.token) headers['x-duet-token'] = chat.token;
        if (body !== undefined) headers['content-type'] = contentType || 'application/json';
        const payload = body === undefined || contentType ? body : JSON.stringify(body);
        const answer = await fetch(new URL(path, node.url), { method, headers, body: payload, signal: AbortSignal.timeout(ANSWER_WAIT_MS) });
        if (answer.status !== 503) {
          const text = await answer.text();
          const json = text ? JSON.parse(text) : {};
          if (!answer.ok) throw Object.assign(new Error(json.error || String(answer.status)), { final: true });
          return json;
        }
        const active = chat.nodes.findIndex((n) => n.name === answer.headers.get('x-duet-active'));
        chat.current = active >= 0 ? active : (chat.nodes.indexOf(node) + 1) % chat.nodes.length;
      } catch (e) {
        if (e.final) throw e;
        chat.current = (chat.nodes.indexOf(node) + 1) % chat.nodes.length;
      }
      if (Date.now() > until) throw new Error('the chat service does not answer; try again in a moment');
      await sleep(250);
    }
  }

  const link = h('link', { rel: 'stylesheet', href: `${base}/web/widget.css` });
  document.head.append(link);
  const log = h('ol', { class: 'duet-chat-log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const notice = h('p', { class: 'duet-chat-notice', role: 'status' });
  const nameInput = h('input', { id: 'duet-chat-name', autocomplete: 'name', required: true });
  const start = h('form', { class: 'duet-chat-start' },
    h('label', { for: 'duet-chat-name' }, 'Your name'), nameInput, h('button', { type: 'submit' }, 'Start chat'));
  const input = h('input', { id: 'duet-chat-input', autocomplete: 'off', placeholder: 'Type a message' });
  const file = h('input', { id: 'duet-chat-file', type: 'file' });
  const talk = h('form', { class: 'duet-chat-talk', hidden: true },
    h('label', { for: 'duet-chat-input', class: 'duet-chat-hidden' }, 'Message'), input, h('button', { type: 'submit' }, 'Send'),
    h('label', { for: 'duet-chat-file' }, 'Share a file'), file,
    h('button', { type: 'button', onclick: leave }, 'End chat'));
  const panel = h('section', { class: 'duet-chat', 'aria-label': title }, h('h2', {}, title), notice, log, start, talk);
  const open = h('button', { type: 'button', class: 'duet-chat-open', 'aria-expanded': 'false' }, title);
  open.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    open.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) (chat.id ? input : nameInput).focus();
  });
  panel.hidden = !script.hasAttribute('data-open');
  open.setAttribute('aria-expanded', String(!panel.hidden));

  function line(m) {
    let el = chat.lines.get(m.id);
    if (!el) {
      const mine = m.sender === 'Customer';
      const system = m.kind === 'Status' || m.sender === 'System';
      const body = m.kind && m.kind.File
        ? ['file: ', h('button', { type: 'button', class: 'duet-chat-file', onclick: () => download(m) }, m.kind.File.name)]
        : m.body;
      el = h('li', { class: system ? 'status' : mine ? 'mine' : 'theirs', 'data-id': m.id },
        system ? null : h('span', { class: 'who' }, mine ? 'You: ' : 'Agent: '), body, ' ', h('span', { class: 'tick' }));
      chat.lines.set(m.id, el);
      log.append(el);
      log.scrollTop = log.scrollHeight;
    }
    if (m.sender === 'Customer' && m.delivery) {
      const tick = el.querySelector('.tick');
      tick.textContent = TICKS[m.delivery] || '…';
      tick.setAttribute('aria-label', m.delivery.toLowerCase());
      tick.className = `tick ${m.delivery.toLowerCase()}`;
    }
    if (m.sender !== 'Customer' && m.sender !== 'System' && m.kind !== 'Status' && m.delivery !== 'Read' && !chat.read.has(m.id)) {
      chat.read.add(m.id);
      request('POST', `/api/chats/${chat.id}/delivery`, { client_id: `read-${m.id}`, message_id: m.id, delivery: 'Read' }).catch(() => chat.read.delete(m.id));
    }
  }

  async function download(m) {
    const answer = await fetch(new URL(`/api/chats/${chat.id}/files/${encodeURIComponent(m.id)}`, chat.nodes[chat.current].url), { headers: { 'x-duet-token': chat.token } });
    if (!answer.ok) return;
    const a = h('a', { href: URL.createObjectURL(await answer.blob()), download: m.kind.File.name });
    document.body.append(a);
    a.click();
    a.remove();
  }

  function show(view) {
    for (const m of view.transcript || []) line(m);
    if (view.closed) {
      chat.ended = true;
      talk.hidden = true;
      notice.textContent = 'The conversation has ended.';
      sessionStorage.removeItem(STORE);
    }
  }

  let reading = false;
  let again = false;
  async function refresh() {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        show(await request('GET', `/api/chats/${chat.id}`));
      } while (again);
    } catch (e) {
      notice.textContent = e.message;
    } finally {
      reading = false;
    }
  }

  // The chat's socket: it says what changed; on a close it resumes on the
  // other node from the last position the server sent (kept as given). A
  // node that vanished without closing the connection is found by asking
  // it every few seconds: three missed answers in a row count as a close.
  let pause_ms = 250;
  let socket = null;
  let misses = 0;
  let refusals = 0;
  function follow() {
    const node = chat.nodes[chat.current];
    const url = new URL(`/api/chats/${chat.id}/ws`, node.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', chat.token);
    if (chat.position !== null) url.searchParams.set('after', chat.position);
    const current = new WebSocket(url);
    socket = current;
    socket.node = node;
    socket.opened_at_ms = Date.now();
    misses = 0;
    current.onopen = () => {
      current.opened = true;
      refusals = 0;
      pause_ms = 250;
      notice.textContent = '';
      refresh();
    };
    current.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      // `<epoch>.<seq>`: a node that cannot vouch for it sends the state.
      if (typeof frame.position === 'string') chat.position = frame.position;
      else if (frame.type === 'change') chat.position = `${frame.epoch}.${frame.seq}`;
      else if ((frame.type === 'state' || frame.type === 'resume') && Array.isArray(frame.position)) {
        chat.position = `${frame.position[0]}.${frame.position[1]}`;
      }
      if (frame.type === 'state' && frame.chat) show(frame.chat);
      else if (frame.type === 'change') refresh();
    };
    current.onclose = () => lost(current);
  }

  function lost(gone) {
    if (gone !== socket) return;
    socket = null;
    gone.onclose = null;
    gone.onmessage = null;
    gone.close();
    if (chat.ended) return;
    if (!gone.opened) refusals += 1;
    // Both nodes refused to resume from the position twice over: start
    // again from the transcript (lines are keyed by id, none twice).
    if (refusals >= 4) chat.position = null;
    // The node after the one that failed (requests may have moved on).
    chat.current = (chat.nodes.indexOf(gone.node) + 1) % chat.nodes.length;
    notice.textContent = 'Reconnecting…';
    setTimeout(follow, pause_ms);
    pause_ms = Math.min(pause_ms * 2, 2000);
  }

  setInterval(async () => {
    const watched = socket;
    if (!watched) return;
    if (watched.readyState === WebSocket.CONNECTING) {
      // A paused node accepts the connection and never answers it.
      if (Date.now() - watched.opened_at_ms > 3000) lost(watched);
      return;
    }
    if (watched.readyState !== WebSocket.OPEN) return;
    try {
      const answer = await fetch(new URL('/api/pair', watched.node.url), { signal: AbortSignal.timeout(3000) });
      misses = answer.ok ? 0 : misses + 1;
    } catch {
      misses += 1;
    }
    if (misses >= 3) lost(watched);
  }, 3000);

  function begin() {
    start.hidden = true;
    talk.hidden = false;
    follow();
  }

  start.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      // The secret keeps the client id this customer's own (docs/access.md).
      const started = await request('POST', '/api/chats', { client_id: freshId('chat-'), client_secret: freshId('secret-') + freshId(''), queue, name: nameInput.value });
      chat.id = started.id;
      chat.token = started.token;
      sessionStorage.setItem(STORE, JSON.stringify({ id: chat.id, token: chat.token }));
      begin();
      input.focus();
    } catch (e) {
      notice.textContent = `The chat could not start: ${e.message}`;
    }
  });

  talk.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    input.value = '';
    const message_id = freshId('c-');
    line({ id: message_id, sender: 'Customer', body, kind: 'Text', delivery: null });
    try {
      await request('POST', `/api/chats/${chat.id}/messages`, { client_id: `${chat.id}/${message_id}`, message_id, body });
      refresh();
    } catch (e) {
      notice.textContent = `Not sent: ${e.message}`;
    }
  });

  file.addEventListener('change', async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    const message_id = freshId('f-');
    try {
      await request('POST', `/api/chats/${chat.id}/files?name=${encodeURIComponent(chosen.name)}&message_id=${message_id}`, chosen, chosen.type || 'application/octet-stream');
      file.value = '';
      refresh();
    } catch (e) {
      notice.textContent = `The file was not shared: ${e.message}`;
    }
  });

  async function leave() {
    try {
      await request('POST', `/api/chats/${chat.id}/leave`, { client_id: `leave-${chat.id}` });
      refresh();
    } catch (e) {
      notice.textContent = e.message;
    }
  }

  async function main() {
    document.body.append(open, panel);
    try {
      const pair = await (await fetch(new URL('/api/pair', base))).json();
      chat.nodes = pair.nodes;
      chat.current = Math.max(0, pair.nodes.findIndex((n) => n.name === pair.node));
    } catch {
      // The node it came from answers for both until it fails.
    }
    const kept = sessionStorage.getItem(STORE);
    if (kept) {
      Object.assign(chat, JSON.parse(kept));
      begin();
    }
  }
  main();
})();
