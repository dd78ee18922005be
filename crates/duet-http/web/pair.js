// A client of the pair: it knows both nodes (from GET /api/pair), sends
// each request to the node that answered last, and moves to the other on
// no answer or a 503 (a backup names the active node in x-duet-active),
// in a bounded loop. Feeds (WebSockets) reconnect the same way and resume
// from the last position the server sent.

const RETRY_FOR_MS = 20000;
// A node that has not answered a request in this long is taken for gone
// (a paused process or a vanished host never closes the connection).
const ANSWER_WAIT_MS = 5000;
const PAUSE_MS = 250;
// How often an open feed's node is asked whether it is there, and how
// long it has to answer.
const WATCH_EVERY_MS = 3000;
const WATCH_WAIT_MS = 3000;
// Missed answers in a row that count as the node gone: a busy node may
// miss one.
const WATCH_MISSES = 3;
// Connections in a row that never opened before a feed gives up its
// position and asks for the state again.
const REFUSALS_BEFORE_STATE = 4;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RequestError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Pair {
  // `base`: where the page (or the widget's script) came from.
  static async find(base = location.origin) {
    const answer = await fetch(new URL('/api/pair', base));
    if (!answer.ok) throw new Error(`cannot read the pair from ${base}: ${answer.status}`);
    const pair = await answer.json();
    return new Pair(pair.nodes, pair.node);
  }

  constructor(nodes, first) {
    this.nodes = nodes;
    this.current = Math.max(0, nodes.findIndex((n) => n.name === first));
    this.auth = {};
  }

  get node() {
    return this.nodes[this.current];
  }

  moveTo(name) {
    const next = this.nodes.findIndex((n) => n.name === name);
    if (next >= 0) this.current = next;
  }

  // Moves away from the node named, to the other one.
  awayFrom(name) {
    const index = this.nodes.findIndex((n) => n.name === name);
    this.moveTo(this.nodes[(index + 1) % this.nodes.length].name);
  }

  // A JSON request, retried on the other node on no answer or a 503.
  // Answers the parsed body; throws a RequestError saying what was wrong.
  async request(method, path, body, extra = {}) {
    const until = Date.now() + RETRY_FOR_MS;
    let last = 'no node answered';
    for (;;) {
      const node = this.node;
      try {
        const headers = { ...this.auth, ...(extra.headers || {}) };
        let payload;
        if (body instanceof Blob) {
          payload = body;
          headers['content-type'] = body.type || 'application/octet-stream';
        } else if (body !== undefined) {
          payload = JSON.stringify(body);
          headers['content-type'] = 'application/json';
        }
        const answer = await fetch(new URL(path, node.url), { method, headers, body: payload, signal: AbortSignal.timeout(ANSWER_WAIT_MS) });
        if (answer.status === 503) {
          last = `${node.name} is not serving`;
          const active = answer.headers.get('x-duet-active');
          if (active && active !== node.name) this.moveTo(active);
          else this.awayFrom(node.name);
        } else {
          const text = await answer.text();
          const json = text ? JSON.parse(text) : {};
          if (!answer.ok) throw new RequestError(answer.status, json.error || `${answer.status}`);
          return json;
        }
      } catch (e) {
        if (e instanceof RequestError) throw e;
        last = `${node.name} did not answer`;
        this.awayFrom(node.name);
      }
      if (Date.now() > until) throw new RequestError(503, last);
      await sleep(PAUSE_MS);
    }
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body) {
    return this.request('POST', path, body === undefined ? {} : body);
  }

  url(path) {
    return new URL(path, this.node.url);
  }
}

// Where a feed stands, as the server last said it: the value sent back in
// `after=` on a reconnection, `<epoch>.<seq>` of the last change (or of
// the state's position). A node that cannot vouch for it (another epoch
// gave that number to another change) sends the state again.
export function positionOf(frame) {
  if (typeof frame.position === 'string') return frame.position;
  if (frame.type === 'change' && frame.seq !== undefined && frame.epoch !== undefined) {
    return `${frame.epoch}.${frame.seq}`;
  }
  if ((frame.type === 'state' || frame.type === 'resume') && Array.isArray(frame.position)) {
    return `${frame.position[0]}.${frame.position[1]}`;
  }
  return null;
}

// A WebSocket feed that survives a node's failure: on a close it tells the
// page (`onStatus('reconnecting', node)`), reconnects to the other node,
// then alternates with a growing pause (at most 2 s), resuming after the
// last position. `pathFor()` gives the path and query without `after`.
// A node that vanished without closing its connections (its host gone,
// a cable cut) is found by asking it every few seconds: three missed
// answers in a row and the feed moves as on a close.
export class Feed {
  constructor(pair, pathFor, onFrame, onStatus = () => {}) {
    this.pair = pair;
    this.pathFor = pathFor;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.position = null;
    this.pause_ms = PAUSE_MS;
    this.closed = false;
    this.misses = 0;
    this.refusals = 0;
    this.watch = setInterval(() => this.check(), WATCH_EVERY_MS);
    this.open();
  }

  open() {
    const url = this.pair.url(this.pathFor());
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.position !== null) url.searchParams.set('after', this.position);
    const socket = new WebSocket(url);
    this.socket = socket;
    this.node = this.pair.node;
    this.opened_at_ms = Date.now();
    this.misses = 0;
    socket.onopen = () => {
      this.pause_ms = PAUSE_MS;
      this.refusals = 0;
      socket.opened = true;
      this.onStatus('connected', this.pair.node.name);
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === 'moved') {
        // A backup that named the active node: go there.
        this.pair.moveTo(frame.active);
        this.lost(socket, 0);
        return;
      }
      const position = positionOf(frame);
      if (position !== null) this.position = position;
      this.onFrame(frame);
    };
    // The node failed or refused: try the other one.
    socket.onclose = () => this.lost(socket, null);
  }

  // Leaves `socket` and opens the next one after `pause_ms` (null: the
  // growing pause, on the other node).
  lost(socket, pause_ms) {
    if (this.closed || socket !== this.socket) return;
    this.socket = null;
    socket.onclose = null;
    socket.onmessage = null;
    socket.close();
    if (!socket.opened) this.refusals += 1;
    // Both nodes refused to resume from the position twice over: start
    // again from the state (what is shown is keyed by id, nothing twice).
    if (this.refusals >= REFUSALS_BEFORE_STATE) this.position = null;
    if (pause_ms === null) this.pair.awayFrom(this.node.name);
    this.onStatus('reconnecting', this.pair.node.name);
    setTimeout(() => this.open(), pause_ms ?? this.pause_ms);
    if (pause_ms === null) this.pause_ms = Math.min(this.pause_ms * 2, 2000);
  }

  async check() {
    const socket = this.socket;
    if (!socket) return;
    if (socket.readyState === WebSocket.CONNECTING) {
      // A paused node accepts the connection and never answers it.
      if (Date.now() - this.opened_at_ms > WATCH_WAIT_MS) this.lost(socket, null);
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) return;
    try {
      const answer = await fetch(new URL('/api/pair', this.node.url), { signal: AbortSignal.timeout(WATCH_WAIT_MS) });
      this.misses = answer.ok ? 0 : this.misses + 1;
    } catch {
      this.misses += 1;
    }
    if (this.misses >= WATCH_MISSES) this.lost(socket, null);
  }

  close() {
    this.closed = true;
    clearInterval(this.watch);
    if (this.socket) this.socket.close();
  }
}
