// The agent desktop: sign in, media and status, offers, and the
// interactions the agent holds. The desktop socket says what changed;
// the agent's view (GET /api/agent) is read again to show it, so what is
// shown is always the server's state, each message once by its id.

import { Pair, Feed, RequestError } from './pair.js';
import { h, fill, byId, duration, freshId } from './dom.js';
import { Work, stateName } from './work.js';
import { signedIn, signOut } from './session.js';

const MEDIA = ['chat', 'email', 'callback', 'call', 'sms', 'social_conversation', 'social_direct_message'];
const SESSION_KEY = 'duet.agent.session';

const desk = {
  pair: null,
  feed: null,
  name: null,
  view: null,
  work: new Map(),
  selected: null,
  settings: { non_acd: [], reasons: [] },
};

function explain(e) {
  return e instanceof RequestError ? e.message : String(e);
}

function say(text) {
  byId('desk-error').textContent = text;
}

// Runs an action, showing what went wrong in words.
async function attempt(what, action) {
  try {
    say('');
    return await action();
  } catch (e) {
    say(`${what}: ${explain(e)}`);
    return undefined;
  }
}

function statusText(status) {
  if (typeof status === 'string') return status === 'NotReady' ? 'Not ready' : status;
  const [kind, detail] = Object.entries(status)[0];
  switch (kind) {
    case 'NotReady':
      return `Not ready (${detail.reason || 'no reason'})`;
    case 'NonAcd':
      return detail.name;
    case 'AfterCallWork':
      return `After call work: ${duration(detail.until_ms - Date.now())} left`;
    case 'LoggedOut':
      return `Logged out (reason ${detail.reason_code ?? detail.reason ?? ''})`;
    default:
      return kind;
  }
}

function start(token, user) {
  desk.name = user;
  byId('desk').hidden = false;
  byId('sign-out').hidden = false;
  byId('who').textContent = `Signed in as ${user}`;
  loadSettings();
  desk.feed = new Feed(
    desk.pair,
    () => `/api/agent/ws?token=${encodeURIComponent(token)}`,
    onFrame,
    onConnection,
  );
  setInterval(tick, 1000);
}

function onConnection(state, node) {
  const notice = byId('connection');
  if (state === 'connected') {
    notice.textContent = `connected to ${node}`;
    notice.classList.remove('warn');
    refresh();
  } else {
    notice.textContent = `reconnecting to ${node}…`;
    notice.classList.add('warn');
  }
}

function onFrame(frame) {
  if (frame.type === 'state' && frame.agent) show(frame.agent);
  else if (frame.type === 'change' || frame.type === 'resume') refresh();
}

// One read of the agent's view at a time; changes meanwhile ask for one
// more.
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
      show(await desk.pair.get('/api/agent'));
    } while (again);
  } catch (e) {
    // A session that ended (a new password, or 12 hours): sign in again.
    if (e instanceof RequestError && e.status === 401) signOut(SESSION_KEY);
    say(`Cannot read the desktop: ${explain(e)}`);
  } finally {
    reading = false;
  }
}

async function loadSettings() {
  try {
    const found = await desk.pair.get('/api/config?path=' + encodeURIComponent('/config/Interactions'));
    const attrs = (found.object && found.object.attributes) || {};
    desk.settings.non_acd = (attrs.non_acd_statuses || '').split(',').map((s) => s.trim()).filter(Boolean);
    desk.settings.reasons = (attrs.reason_codes || '').split(',').map((s) => s.trim()).filter(Boolean);
  } catch {
    // No interaction settings yet: Available and Not ready only.
  }
  fill(
    byId('status'),
    h('option', { value: 'available' }, 'Available'),
    h('option', { value: 'not_ready' }, 'Not ready'),
    desk.settings.non_acd.map((name) => h('option', { value: name }, name)),
  );
  fill(byId('reasons'), desk.settings.reasons.map((r) => h('option', { value: r })));
}

function checkedMedia() {
  return MEDIA.filter((m) => byId(`media-${m}`).checked);
}

// Drawn once before the desk shows, so a click before the first view acts on them.
function drawMediaChoices() {
  fill(
    byId('media'),
    MEDIA.map((m) =>
      h('label', { class: 'check' }, h('input', { type: 'checkbox', id: `media-${m}`, checked: m === 'chat' || m === 'email' }), m.replaceAll('_', ' ')),
    ),
  );
}

function show(view) {
  desk.view = view;
  const agent = view.agent;
  byId('my-status').textContent = agent
    ? `${statusText(agent.status)} · logged in to ${agent.logged_in.join(', ') || 'nothing'}`
    : 'Not logged in to any media yet';
  const mine = view.interactions || [];
  const offers = mine.filter((ix) => stateName(ix.state) === 'Offered' && ix.state.Offered.agent === desk.name);
  showOffers(offers);
  const held = mine.filter((ix) => stateName(ix.state) !== 'Offered');
  for (const ix of held) {
    let work = desk.work.get(ix.id);
    if (!work) {
      work = new Work(desk, ix);
      desk.work.set(ix.id, work);
      if (!desk.selected) desk.selected = ix.id;
    }
    work.update(ix);
  }
  for (const [id, work] of desk.work) {
    if (!held.some((ix) => ix.id === id)) {
      work.root.remove();
      desk.work.delete(id);
      if (desk.selected === id) desk.selected = desk.work.keys().next().value || null;
    }
  }
  showTabs(held);
}

function showOffers(offers) {
  fill(
    byId('offers'),
    offers.length ? null : h('li', {}, 'No offer right now.'),
    offers.map((ix) =>
      h(
        'li',
        { class: 'offer' },
        h('strong', {}, `${ix.media} from ${ix.parties.customer.name || ix.parties.customer.address || 'a customer'}`),
        ` in ${ix.routing.queue} · `,
        h('span', { class: 'countdown', 'data-deadline': ix.state.Offered.deadline_ms }, duration(ix.state.Offered.deadline_ms - Date.now())),
        ' ',
        h('button', { type: 'button', onclick: () => act(ix.id, 'accept') }, 'Accept'),
        h('button', { type: 'button', onclick: () => act(ix.id, 'reject') }, 'Reject'),
      ),
    ),
  );
}

function showTabs(held) {
  fill(
    byId('tabs'),
    held.length ? null : h('li', {}, 'Nothing in hand.'),
    held.map((ix) => {
      const unread = desk.work.get(ix.id).unread;
      return h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            'aria-current': ix.id === desk.selected ? 'true' : false,
            class: ix.id === desk.selected ? 'tab selected' : 'tab',
            onclick: () => select(ix.id),
          },
          `${ix.media}: ${ix.parties.customer.name || ix.parties.customer.address || ix.id}`,
          ` (${stateName(ix.state)})`,
          unread ? h('span', { class: 'badge' }, ` ${unread} new`) : null,
        ),
      );
    }),
  );
  const work = byId('work');
  for (const [id, w] of desk.work) {
    if (!w.root.isConnected) work.append(w.root);
    w.root.hidden = id !== desk.selected;
    if (id === desk.selected) w.seen();
  }
}

function select(id) {
  desk.selected = id;
  showTabs((desk.view.interactions || []).filter((ix) => stateName(ix.state) !== 'Offered'));
}

function act(id, action, body = {}) {
  return attempt(`${action} ${id}`, async () => {
    await desk.pair.post(`/api/interactions/${encodeURIComponent(id)}/${action}`, { client_id: freshId(action), ...body });
    refresh();
  });
}

function tick() {
  for (const el of document.querySelectorAll('[data-deadline]')) {
    el.textContent = duration(Number(el.dataset.deadline) - Date.now());
  }
  const agent = desk.view && desk.view.agent;
  if (agent && typeof agent.status === 'object' && agent.status.AfterCallWork) {
    byId('my-status').textContent = `${statusText(agent.status)} · logged in to ${agent.logged_in.join(', ')}`;
  }
}

async function main() {
  drawMediaChoices();
  desk.pair = await Pair.find();
  byId('sign-out').addEventListener('click', () => {
    if (desk.feed) desk.feed.close();
    signOut(SESSION_KEY);
  });
  byId('log-in').addEventListener('click', () =>
    attempt('Log in', async () => {
      await desk.pair.post('/api/agent/login', { client_id: freshId('login'), media: checkedMedia() });
      refresh();
    }),
  );
  byId('log-out').addEventListener('click', () =>
    attempt('Log out', async () => {
      const reason_code = Number(byId('logout-reason').value) || 0;
      await desk.pair.post('/api/agent/logout', { client_id: freshId('logout'), media: checkedMedia(), reason_code });
      refresh();
    }),
  );
  byId('status-form').addEventListener('submit', (event) => {
    event.preventDefault();
    attempt('Set status', async () => {
      await desk.pair.post('/api/agent/status', { client_id: freshId('status'), status: byId('status').value, reason: byId('reason').value });
      refresh();
    });
  });
  const session = await signedIn(desk.pair, SESSION_KEY);
  start(session.token, session.user);
}

desk.act = act;
desk.attempt = attempt;
main();
