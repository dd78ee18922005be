// The supervisor wall: queues and agents live, today's interval records
// as charts, and an agent's status changed from the wall.

import { Pair } from './pair.js';
import { h, fill, byId, duration, freshId } from './dom.js';
import { signedIn } from './session.js';
import { bars } from './chart.js';

const POLL_MS = 2000;
const CHART_EVERY = 5;
const SESSION_KEY = 'duet.wall.session';

let pair;
let rounds = 0;

function statusText(status) {
  if (typeof status === 'string') return status;
  const [kind, detail] = Object.entries(status)[0];
  return detail && (detail.reason || detail.name) ? `${kind} (${detail.reason || detail.name})` : kind;
}

function showQueues(queues) {
  fill(byId('queues'), queues.map(({ queue, figures: f }) =>
    h('tr', {},
      h('th', { scope: 'row' }, queue),
      h('td', {}, f.waiting),
      h('td', {}, duration(f.longest_wait_ms)),
      h('td', {}, `${Math.round(f.service_level_pct)} %`),
      h('td', {}, duration(f.asa_ms)),
      h('td', {}, duration(f.aht_ms)),
      h('td', {}, f.abandoned),
      h('td', {}, Object.entries(f.agents_by_status).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'))));
}

function setStatus(name, select, reason) {
  return async () => {
    try {
      await pair.post(`/api/agents/${encodeURIComponent(name)}/status`, { client_id: freshId('wall'), status: select.value, reason: reason.value });
      byId('wall-error').textContent = '';
      poll();
    } catch (e) {
      byId('wall-error').textContent = `${name}: ${e.message}`;
    }
  };
}

function showAgents(agents) {
  fill(byId('agents'), agents.map((a) => {
    const id = freshId('s');
    const select = h('select', { id }, h('option', { value: 'available' }, 'Available'), h('option', { value: 'not_ready' }, 'Not ready'));
    const reason = h('input', { id: `${id}-reason`, size: 10, placeholder: 'reason' });
    const held = Object.values(a.assigned || {}).reduce((n, ids) => n + ids.length, 0);
    return h('tr', {},
      h('th', { scope: 'row' }, a.name),
      h('td', {}, statusText(a.status)),
      h('td', {}, duration(Date.now() - a.status_since_ms)),
      h('td', {}, a.logged_in.join(', ') || 'none'),
      h('td', {}, held),
      h('td', {}, a.desktop),
      h('td', {},
        h('label', { for: id, class: 'hidden-label' }, `Status for ${a.name}`), select,
        h('label', { for: `${id}-reason`, class: 'hidden-label' }, `Reason for ${a.name}`), reason,
        h('button', { type: 'button', onclick: setStatus(a.name, select, reason) }, 'Set')));
  }));
}

async function showCharts() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const answer = await pair.get(`/api/statistics/intervals?since_ms=${midnight.getTime()}`);
  const byQueue = new Map();
  for (const r of [...answer.records, ...answer.current]) {
    if (!byQueue.has(r.queue)) byQueue.set(r.queue, []);
    byQueue.get(r.queue).push(r);
  }
  const series = [{ name: 'entered', cls: 's1' }, { name: 'answered', cls: 's2' }, { name: 'abandoned', cls: 's3' }];
  fill(byId('charts'), [...byQueue.entries()].map(([queue, records]) =>
    h('figure', {},
      bars(`Queue ${queue}: entered, answered and abandoned per interval`, records.map((r) => ({
        label: new Date(r.start_ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
        values: [r.totals.entered, r.totals.answered, r.totals.abandoned],
      })), series),
      h('figcaption', {}, `${queue}: ${records.length} intervals today (a takeover splits an interval in two)`))));
}

async function poll() {
  try {
    const [queues, agents] = await Promise.all([pair.get('/api/queues'), pair.get('/api/agents')]);
    showQueues(queues);
    showAgents(agents);
    if (rounds++ % CHART_EVERY === 0) await showCharts();
    byId('connection').textContent = `reading ${pair.node.name}`;
  } catch (e) {
    byId('wall-error').textContent = e.message;
  }
}

async function main() {
  pair = await Pair.find();
  await signedIn(pair, SESSION_KEY);
  byId('wall').hidden = false;
  poll();
  setInterval(poll, POLL_MS);
}

main();
