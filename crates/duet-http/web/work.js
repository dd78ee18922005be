// One interaction in the agent's hands: its transcript, email or
// callback, and what the agent can do with it. Built once and updated in
// place, so what the agent is typing survives every update.

import { h, fill, clock, freshId, duration } from './dom.js';

export function stateName(state) {
  return typeof state === 'string' ? state : Object.keys(state)[0];
}

const TICKS = { Accepted: '✓', Delivered: '✓✓', Read: '✓✓' };

function senderName(sender) {
  if (typeof sender === 'string') return sender === 'Customer' ? 'customer' : 'duet';
  return sender.Agent;
}

// Downloads a file the API keeps, with the session's header (no token in
// a URL), as an attachment the browser saves rather than renders.
async function download(desk, path, name) {
  const answer = await fetch(desk.pair.url(path), { headers: desk.pair.auth });
  if (!answer.ok) throw new Error(`download refused: ${answer.status}`);
  const link = h('a', { href: URL.createObjectURL(await answer.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

// The wrap-up codes of the queue, as the agent's own view gives them
// (GET /api/agent: the codes of the queues of what the agent holds).
const wrapUpCodes = new Map();
async function codesOf(desk, queue) {
  if (!wrapUpCodes.has(queue)) {
    const me = await desk.pair.get('/api/agent');
    const codes = (me.wrap_up_codes && me.wrap_up_codes[queue]) || [];
    if (codes.length === 0) return [];
    wrapUpCodes.set(queue, codes);
  }
  return wrapUpCodes.get(queue);
}

export class Work {
  constructor(desk, ix) {
    this.desk = desk;
    this.id = ix.id;
    this.media = ix.media;
    this.lines = new Map();
    this.read = new Set();
    this.unread = 0;
    const path = (action) => `/api/interactions/${encodeURIComponent(ix.id)}/${action}`;
    this.path = path;
    const button = (label, action, body) => h('button', { type: 'button', onclick: () => desk.act(ix.id, action, body && body()) }, label);
    const field = (label, attrs) => {
      const id = freshId('f');
      return [h('label', { for: id }, label), h('input', { id, ...attrs })];
    };
    const [transferLabel, transferTo] = field('Transfer to queue or agent', { placeholder: 'queue or agent' });
    const [conferenceLabel, conferenceWith] = field('Conference with agent', { placeholder: 'agent' });
    this.state = h('p', { class: 'state', 'aria-live': 'polite' });
    this.actions = h(
      'div',
      { class: 'actions' },
      button('Hold', 'hold'),
      button('Resume', 'resume'),
      button('End', 'disconnect'),
      h('span', { class: 'group' }, transferLabel, transferTo,
        button('Transfer to queue', 'transfer', () => ({ queue: transferTo.value })),
        button('Transfer to agent', 'transfer', () => ({ agent: transferTo.value }))),
      h('span', { class: 'group' }, conferenceLabel, conferenceWith, button('Conference', 'conference', () => ({ agent: conferenceWith.value }))),
    );
    this.content = h('div', { class: 'content' });
    this.composer = this.buildComposer(ix);
    this.wrapUp = this.buildWrapUp(ix);
    this.root = h('article', { class: 'work', 'aria-label': `${ix.media} ${ix.id}` },
      h('h3', {}, `${ix.media} · ${ix.parties.customer.name || ix.parties.customer.address || 'customer'} · ${ix.routing.queue}`),
      this.state, this.actions, this.content, this.composer, this.wrapUp);
  }

  download(file, name) {
    return download(this.desk, `${this.path('files')}/${encodeURIComponent(file)}`, name);
  }

  buildComposer(ix) {
    const desk = this.desk;
    if (ix.media === 'email') {
      const id = freshId('reply');
      const text = h('textarea', { id, rows: 5, placeholder: 'Your reply' });
      const files = h('input', { type: 'file', multiple: true, id: `${id}-files` });
      const send = async (event) => {
        event.preventDefault();
        const reply_id = freshId('r');
        const paragraphs = text.value.split(/\n{2,}/).map((p) => h('p', {}, p).outerHTML).join('');
        await desk.attempt('Reply', async () => {
          // Each file is stored first (held on both nodes), then named.
          const attachments = [];
          for (const file of files.files) {
            const content = await desk.pair.request('POST', this.path('content'), file);
            attachments.push({ id: freshId('att'), name: file.name, content_type: file.type || 'application/octet-stream', content });
          }
          await desk.pair.post(this.path('draft'), { client_id: `draft-${reply_id}`, reply_id, html: paragraphs, text: text.value, attachments });
          await desk.pair.post(this.path('send'), { client_id: `send-${reply_id}`, reply_id });
          text.value = '';
          files.value = '';
        });
      };
      return h('form', { class: 'composer', onsubmit: send },
        h('label', { for: id }, 'Reply'), text,
        h('label', { for: `${id}-files` }, 'Attachments'), files,
        h('button', { type: 'submit' }, 'Send reply'));
    }
    if (ix.media === 'callback') {
      const id = freshId('outcome');
      const outcome = h('select', { id }, ['Reached', 'NoAnswer', 'Busy', 'InvalidNumber'].map((o) => h('option', { value: o }, o)));
      return h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); desk.act(this.id, 'callback-attempt', { outcome: outcome.value }); } },
        h('label', { for: id }, 'Outcome of the call'), outcome, h('button', { type: 'submit' }, 'Record the attempt'));
    }
    if (ix.media === 'call') return h('div');
    const id = freshId('msg');
    const input = h('input', { id, autocomplete: 'off', placeholder: 'Type a message' });
    const file = h('input', { type: 'file', id: `${id}-file` });
    const send = (event) => {
      event.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      const message_id = freshId('a');
      input.value = '';
      desk.attempt('Send', () => desk.pair.post(this.path('message'), { client_id: `${this.id}/${message_id}`, message_id, body }));
    };
    const share = () => {
      const chosen = file.files[0];
      if (!chosen) return;
      const message_id = freshId('f');
      desk.attempt('Share a file', async () => {
        await desk.pair.request('POST', `${this.path('files')}?name=${encodeURIComponent(chosen.name)}&message_id=${message_id}`, chosen);
        file.value = '';
      });
    };
    return h('form', { class: 'composer', onsubmit: send },
      h('label', { for: id }, 'Message'), input, h('button', { type: 'submit' }, 'Send'),
      h('label', { for: `${id}-file` }, 'File'), file, h('button', { type: 'button', onclick: share }, 'Share file'));
  }

  buildWrapUp(ix) {
    const id = freshId('code');
    // The queue's codes are offered; one can be typed when they cannot be
    // read (the node checks it either way).
    const codes = h('datalist', { id: `${id}-codes` });
    const code = h('input', { id, list: `${id}-codes`, autocomplete: 'off', required: true });
    const notes = h('textarea', { id: `${id}-notes`, rows: 2 });
    const timer = h('span', { class: 'acw' });
    this.acw = timer;
    const form = h('form', { class: 'wrap-up', hidden: true, onsubmit: (e) => {
      e.preventDefault();
      this.desk.act(this.id, 'wrap-up', { code: code.value, notes: notes.value });
    } },
    h('h4', {}, 'Wrap-up '), timer,
    h('label', { for: id }, 'Wrap-up code'), code, codes,
    h('label', { for: `${id}-notes` }, 'Notes'), notes,
    h('button', { type: 'submit' }, 'Wrap up'));
    this.offerCodes = () => codesOf(this.desk, ix.routing.queue)
      .then((found) => {
        fill(codes, found.map((c) => h('option', { value: c })));
        if (!code.value && found.length) code.value = found[0];
      })
      .catch(() => {});
    this.codesShown = () => codes.children.length > 0;
    this.offerCodes();
    return form;
  }

  update(ix) {
    const state = stateName(ix.state);
    this.state.textContent = `${state} since ${clock(ix.created_at_ms)}` + (ix.parties.conference.length ? ` · conference with ${ix.parties.conference.join(', ')}` : '');
    this.wrapUp.hidden = state !== 'WrapUp';
    this.composer.hidden = state === 'WrapUp' || state === 'Closed';
    if (state === 'WrapUp') {
      // Read when the interaction was not yet the agent's: ask again.
      if (!this.codesShown()) this.offerCodes();
      const status = this.desk.view.agent && this.desk.view.agent.status;
      const until = status && status.AfterCallWork && status.AfterCallWork.until_ms;
      if (until) this.acw.setAttribute('data-deadline', until);
      this.acw.textContent = until ? duration(until - Date.now()) : '';
    }
    const content = ix.content;
    if (content.Transcript) this.showTranscript(content.Transcript, ix.files || []);
    else if (content.Email) this.showEmail(content.Email);
    else if (content.Callback) this.showCallback(content.Callback);
  }

  showTranscript(messages) {
    let list = this.content.querySelector('ol');
    if (!list) {
      list = h('ol', { class: 'transcript', 'aria-live': 'polite', 'aria-label': 'Transcript' });
      this.content.append(list);
    }
    for (const m of messages) {
      let line = this.lines.get(m.id);
      if (!line) {
        const who = senderName(m.sender);
        const body = m.kind.File
          ? ['file: ', h('button', { type: 'button', class: 'link', onclick: () => this.desk.attempt('Download', () => this.download(m.id, m.kind.File.name)) }, m.kind.File.name)]
          : m.body;
        line = h('li', { class: `line ${m.kind === 'Status' ? 'status' : who === 'customer' ? 'them' : 'me'}`, 'data-id': m.id },
          m.kind === 'Status' ? null : h('span', { class: 'who' }, `${who}: `), body, ' ', h('span', { class: 'tick' }));
        this.lines.set(m.id, line);
        list.append(line);
        if (m.sender === 'Customer' && this.root.hidden !== false) this.unread += 1;
      }
      const tick = line.querySelector('.tick');
      if (typeof m.sender === 'object' && m.kind !== 'Status') {
        tick.textContent = TICKS[m.delivery] || '';
        tick.className = `tick ${m.delivery.toLowerCase()}`;
        tick.setAttribute('aria-label', m.delivery.toLowerCase());
      }
      if (m.sender === 'Customer' && m.delivery !== 'Read') this.toRead = true;
    }
    this.messages = messages;
  }

  // The agent has the chat in front of it: its customer's messages are read.
  seen() {
    this.unread = 0;
    for (const m of this.messages || []) {
      if (m.sender === 'Customer' && m.delivery !== 'Read' && !this.read.has(m.id)) {
        this.read.add(m.id);
        this.desk.pair.post(this.path('delivery'), { client_id: `${this.id}/read/${m.id}`, message_id: m.id, delivery: 'Read' }).catch(() => this.read.delete(m.id));
      }
    }
  }

  // The email itself is drawn once (a new frame would load again and
  // flicker); its replies are drawn again as they move on.
  showEmail(email) {
    if (!this.replies) {
      this.replies = h('ul', { class: 'plain', 'aria-label': 'Replies' });
      const download = (a) => () => this.desk.attempt('Download', () => this.download(a.id, a.name));
      fill(
        this.content,
        h('p', {}, h('strong', {}, email.subject || '(no subject)'), ` from ${email.from}`),
        // The sanitised HTML in a sandbox that runs no script and has no
        // access to this page.
        h('iframe', { class: 'email', sandbox: '', srcdoc: email.html || h('pre', {}, email.text).outerHTML, title: `Email: ${email.subject}` }),
        email.attachments.length ? h('ul', { class: 'plain', 'aria-label': 'Attachments' },
          email.attachments.map((a) => h('li', {}, 'Attachment: ', h('button', { type: 'button', class: 'link', onclick: download(a) }, a.name)))) : null,
        this.replies,
      );
    }
    const attached = (r) => (r.attachments.length ? ` (attached: ${r.attachments.map((a) => a.name).join(', ')})` : '');
    fill(this.replies, email.replies.map((r) => h('li', {}, `Reply ${r.state}${r.relayed ? ', relayed' : ''}: ${r.text.slice(0, 120)}${attached(r)}`)));
  }

  showCallback(callback) {
    fill(
      this.content,
      h('p', {}, `Call ${callback.number} between ${clock(callback.window.from_ms)} and ${clock(callback.window.to_ms)}`),
      h('ul', { class: 'plain' }, callback.attempts.map((a) => h('li', {}, `${clock(a.at_ms)}: ${typeof a.outcome === 'string' ? a.outcome : a.outcome.Other} (${a.agent})`))),
    );
  }
}
