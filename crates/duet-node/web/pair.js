// A client of the pair: it knows both nodes (from GET /api/pair), sends
// each request to the node that answered last, and moves to the other on
// no answer or a 503 (a backup names the active node in x-duet-active),
// in a bounded loop. Feeds (WebSockets) reconnect the same way and resume
// from the last position the server sent.

const RETRY_FOR_MS = 20000;
const PAUSE_MS = 250;

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
    this.listeners = [];
  }

  get node() {
    return this.nodes[this.current];
  }

  // Called with the node's name whenever the client moves.
  onMove(listener) {
    this.listeners.push(listener);
  }

  moveTo(name) {
    const index = this.nodes.findIndex((n) => n.name === name);
    const next = index >= 0 ? index : (this.current + 1) % this.nodes.length;
    if (next !== this.current) {
      this.current = next;
      for (const listener of this.listeners) listener(this.node.name);
    }
  }

  other() {
    this.moveTo(this.nodes[(this.current + 1) % this.nodes.length].name);
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
        const answer = await fetch(new URL(path, node.url), { method, headers, body: payload });
        if (answer.status === 503) {
          last = `${node.name} is not serving`;
          this.moveTo(answer.headers.get('x-duet-active') || '');
        } else {
          const text = await answer.text();
          const json = text ? JSON.parse(text) : {};
          if (!answer.ok) throw new RequestError(answer.status, json.error || `${answer.status}`);
          return json;
        }
      } catch (e) {
        if (e instanceof RequestError) throw e;
        last = `${node.name} did not answer`;
        this.other();
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
// `after=` on a reconnection. It is kept as the server gives it (a
// `position` string when the server sends one, else the change's
// sequence number), never taken apart.
export function positionOf(frame) {
  if (typeof frame.position === 'string') return frame.position;
  if (frame.type === 'change' && frame.seq !== undefined) return String(frame.seq);
  if (frame.type === 'state' && Array.isArray(frame.position)) return String(frame.position[1]);
  return null;
}

// A WebSocket feed that survives a node's failure: on a close it tells the
// page (`onStatus('reconnecting', node)`), reconnects to the other node,
// then alternates with a growing pause (at most 2 s), resuming after the
// last position. `pathFor()` gives the path and query without `after`.
export class Feed {
  constructor(pair, pathFor, onFrame, onStatus = () => {}) {
    this.pair = pair;
    this.pathFor = pathFor;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.position = null;
    this.pause_ms = PAUSE_MS;
    this.closed = false;
    this.open();
  }

  open() {
    const url = this.pair.url(this.pathFor());
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.position !== null) url.searchParams.set('after', this.position);
    const socket = new WebSocket(url);
    this.socket = socket;
    let moved = false;
    socket.onopen = () => {
      this.pause_ms = PAUSE_MS;
      this.onStatus('connected', this.pair.node.name);
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === 'moved') {
        moved = true;
        this.pair.moveTo(frame.active);
        return;
      }
      const position = positionOf(frame);
      if (position !== null) this.position = position;
      this.onFrame(frame);
    };
    socket.onclose = () => {
      if (this.closed || socket !== this.socket) return;
      // A backup that named the active node: go there; else the node
      // failed or refused, so try the other one.
      if (!moved) this.pair.other();
      this.onStatus('reconnecting', this.pair.node.name);
      setTimeout(() => this.open(), moved ? 0 : this.pause_ms);
      this.pause_ms = Math.min(this.pause_ms * 2, 2000);
    };
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }
}
