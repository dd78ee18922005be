// The switchover control panel: both nodes side by side, whichever node
// the page came from (each node's own status, read from it directly),
// the merged event log, and the switch with the seed's confirmation.

import { Pair } from './pair.js';
import { h, fill, byId, clock } from './dom.js';

const POLL_MS = 1000;
const LOG_MAX = 300;

const panel = { pair: null, statuses: new Map(), shadows: new Map(), after: new Map(), events: new Map() };

async function read(node, path) {
  const answer = await fetch(new URL(path, node.url), { cache: 'no-store' });
  if (!answer.ok) throw new Error(`${answer.status}`);
  return answer.json();
}

function yesNo(value) {
  return value ? 'yes' : 'no';
}

function row(label, value, cls) {
  return [h('dt', {}, label), h('dd', { class: cls }, value === undefined || value === null || value === '' ? '—' : String(value))];
}

function nodeCard(node) {
  const s = panel.statuses.get(node.name);
  const here = node.name === panel.pair.nodes[0].name ? ' (this page came from it)' : '';
  if (!s) {
    return h('section', { class: 'card node down', 'aria-label': `node ${node.name}` },
      h('h2', {}, `${node.name}${here}`), h('p', { class: 'role' }, 'not answering'), h('p', {}, node.url));
  }
  const r = s.right_to_serve;
  const shadow = panel.shadows.get(node.name);
  const positions = [...panel.shadows.values()].map((v) => v.position[1]);
  const lag = shadow && positions.length === 2 ? Math.max(...positions) - shadow.position[1] : null;
  const mode = s.manual_switch_only ? 'manual switch only' : s.automatic ? 'automatic' : 'no automatic switch';
  const role = s.serving ? 'ACTIVE, serving' : s.role === 'Active' ? 'ACTIVE, not serving (lease not confirmed)' : s.role;
  return h('section', { class: `card node ${s.serving ? 'active' : ''}`, 'aria-label': `node ${node.name}` },
    h('h2', {}, `${node.name}${here}`),
    h('p', { class: 'role' }, role),
    h('dl', {},
      row('Switchover state', s.state),
      row('Mode', mode),
      row('Release', s.release),
      row('Epoch', s.epoch),
      row('Links (main/aux)', s.role === 'Backup' ? `${s.main_link_up ? 'up' : 'down'}/${s.aux_link_up ? 'up' : 'down'}` : 'not a backup'),
      row('File replication', s.file_replication_running ? 'running' : 'stopped', s.file_replication_running ? '' : 'bad'),
      row('Replication', s.replication),
      row('Interaction stream', shadow ? `at ${shadow.position.join('.')}` + (lag !== null ? `, ${lag} behind` : '') : null),
      row('Lease', r.lease_held ? `held, ${r.lease_remaining_ms} ms left (${r.confirmed_by || ''})` : 'not held'),
      row('Lease detail', r.lease_detail),
      row('Promise to the peer', r.promise_remaining_ms ? `${r.promise_remaining_ms} ms` : 'none'),
      row('Takeover waiting', r.takeover_waiting),
      row('Writes held', r.writes_held),
      row('Witness', r.witness ? `${r.witness.state}: ${r.witness.detail}` : 'none configured'),
      row('Switchovers', s.switchovers),
      row('Last switch', s.last_switch_reason),
      row('Conflicts waiting', r.conflicts, r.conflicts ? 'bad' : ''),
      row('Sees the peer', s.peer.reachable ? `${s.peer.name}: ${s.peer.role || '?'} in epoch ${s.peer.epoch ?? '?'}, release ${s.peer.release || '?'}` : `${s.peer.name}: not reachable`),
    ));
}

function showNodes() {
  fill(byId('nodes'), panel.pair.nodes.map(nodeCard));
  const backup = [...panel.statuses.values()].find((s) => s.role === 'Backup');
  const warning = byId('warning');
  warning.hidden = !(backup && !backup.file_replication_running);
  warning.textContent = 'The backup server has detected that file replication from the primary has stopped.';
}

// Each node's own entries, merged by time; a copy of the peer's entries
// that a node holds shows once.
function addEvents(list) {
  for (const e of list) panel.events.set(`${e.node}|${e.at_unix_ms}|${e.message}`, e);
  const sorted = [...panel.events.values()].sort((a, b) => b.at_unix_ms - a.at_unix_ms);
  for (const old of sorted.slice(LOG_MAX)) panel.events.delete(`${old.node}|${old.at_unix_ms}|${old.message}`);
  fill(byId('log'), sorted.slice(0, LOG_MAX).map((e) =>
    h('tr', { class: e.level === 'Info' ? '' : 'bad' }, h('td', {}, clock(e.at_unix_ms)), h('td', {}, e.node), h('td', {}, e.topic), h('td', {}, e.message))));
}

async function poll() {
  await Promise.all(panel.pair.nodes.map(async (node) => {
    try {
      panel.statuses.set(node.name, await read(node, '/api/status'));
      panel.shadows.set(node.name, await read(node, '/api/shadow'));
      const after = panel.after.get(node.name) || 0;
      const events = await read(node, `/api/events?after=${after}&limit=500`);
      if (events.length) {
        panel.after.set(node.name, events[events.length - 1].seq);
        addEvents(events);
      }
    } catch {
      panel.statuses.delete(node.name);
      panel.shadows.delete(node.name);
      // A restarted node numbers its log again from its file.
      panel.after.delete(node.name);
    }
  }));
  showNodes();
  setTimeout(poll, POLL_MS);
}

async function askSwitch(event) {
  event.preventDefault();
  const result = byId('switch-result');
  const entry = [...panel.statuses.entries()].find(([, s]) => s.role === 'Backup');
  const dialog = byId('confirm');
  byId('confirm-warning').hidden = !(entry && !entry[1].file_replication_running);
  dialog.returnValue = '';
  dialog.showModal();
  dialog.addEventListener('close', async () => {
    if (dialog.returnValue !== 'yes') {
      result.textContent = 'No switch.';
      return;
    }
    // With no backup answering, ask whichever node answers (the seed:
    // with no primary, the switch needs no Remote Control right).
    const target = entry ? panel.pair.nodes.find((n) => n.name === entry[0]) : panel.pair.nodes.find((n) => panel.statuses.has(n.name));
    if (!target) {
      result.textContent = 'No node answers.';
      return;
    }
    const credentials = btoa(`${byId('admin-user').value}:${byId('admin-password').value}`);
    try {
      const answer = await fetch(new URL('/api/switch', target.url), {
        method: 'POST',
        headers: { authorization: `Basic ${credentials}`, 'content-type': 'application/json' },
        body: JSON.stringify({ force: !byId('confirm-warning').hidden, immediate: byId('immediate').checked }),
      });
      const text = await answer.text();
      result.textContent = answer.ok ? `${target.name} is switching.` : `Refused: ${(JSON.parse(text || '{}').error) || answer.status}`;
    } catch {
      result.textContent = `${target.name} did not answer.`;
    }
  }, { once: true });
}

async function main() {
  panel.pair = await Pair.find();
  byId('switch-form').addEventListener('submit', askSwitch);
  // Usable only now: a form sent before would leave the page.
  byId('switch').disabled = false;
  poll();
}

main();
