// The WebSocket feed, seen from the browser: auth, subscribe, resume after a reconnect, and a
// connection state the page can show. No rendering here; the board passes callbacks.
//
// States: "connecting" (socket opening or waiting for the snapshot), "live" (synced, messages
// arriving), "stale" (no message for `staleAfterS`, or the connection dropped and we retry),
// "resumed" (reconnected; `recovered` says whether every missed frame was replayed), and
// "denied" (4401/4403: retrying cannot help, a new token is needed).

const WANTED = ["live_scores", "betting_odds", "race_results", "feed_status"];
const CLOSE_REASONS = {
  4401: "The feed refused the token",
  4403: "The token does not grant this data",
  4400: "The feed rejected a message from the board",
  4008: "The board fell behind and was dropped",
  1001: "The feed server is restarting",
};

export class Feed {
  constructor({ url, token, filters, staleAfterS, onFrame, onState, onControl }) {
    Object.assign(this, { url, token, filters, staleAfterS, onFrame, onState, onControl });
    this.cursor = {}; // "<topic>:<partition>" -> highest offset received
    this.channels = [];
    this.everSynced = false;
    this.attempt = 0;
    this.lastMessageAt = 0;
    this.syncing = true; // frames before "synced" are snapshot/replay, not live updates
    this.state = null;
    this.timer = setInterval(() => this.checkStale(), 500);
  }

  setState(state, detail = {}) {
    const same = this.state === state && JSON.stringify(detail) === JSON.stringify(this.detail);
    this.state = state;
    this.detail = detail;
    if (!same) this.onState(state, detail);
  }

  open() {
    // Once it has been live, the page's data stays "stale" until the feed is back (not "connecting").
    if (this.everSynced) this.setState("stale", { why: "connection lost", reconnecting: true, attempt: this.attempt });
    else this.setState("connecting", { attempt: this.attempt });
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.lastMessageAt = Date.now();
      // The token travels in the first message, not the URL, so it stays out of access logs.
      if (this.token) this.send({ action: "auth", token: this.token });
      else this.start(WANTED);
    };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (event) => this.closed(ws, event);
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  start(granted) {
    this.channels = WANTED.filter((c) => granted.includes(c));
    this.syncing = true;
    const base = { subscriptions: this.channels, filters: this.filters };
    if (this.everSynced && Object.keys(this.cursor).length) {
      this.send({ action: "resume", ...base, cursor: this.cursor });
    } else {
      this.send({ action: "subscribe", ...base });
    }
  }

  receive(text) {
    this.lastMessageAt = Date.now();
    const frame = JSON.parse(text);
    if (this.state === "stale" && !this.syncing) this.setState("live"); // a silent feed spoke again
    if (frame.channel) {
      this.advance(frame.cursor);
      this.onFrame(frame, { live: !this.syncing, at: this.lastMessageAt });
      return;
    }
    switch (frame.type) {
      case "authenticated":
        this.onControl(frame);
        this.start(frame.channels || []);
        break;
      case "resumed":
        this.resumedWith = frame.recovered === true;
        this.onControl(frame);
        break;
      case "synced":
        for (const [tp, offset] of Object.entries(frame.cursor || {})) this.note(tp, offset);
        this.syncing = false;
        this.attempt = 0;
        if (this.resumedWith !== undefined) {
          this.resumedAt = Date.now();
          this.setState("resumed", { recovered: this.resumedWith });
          this.resumedWith = undefined;
        } else {
          this.setState("live");
        }
        this.everSynced = true;
        break;
      default:
        this.onControl(frame);
    }
  }

  advance(cursor) {
    // "<topic>:<partition>:<offset>": topic names may hold dots, never colons.
    const cut = cursor.lastIndexOf(":");
    this.note(cursor.slice(0, cut), Number(cursor.slice(cut + 1)));
  }

  note(tp, offset) {
    if (!(tp in this.cursor) || offset > this.cursor[tp]) this.cursor[tp] = offset;
  }

  checkStale() {
    const quietS = (Date.now() - this.lastMessageAt) / 1000;
    if (this.state === "resumed" && Date.now() - this.resumedAt > 8000) {
      this.setState("live", { resumed: this.detail.recovered ? "recovered" : "not recovered" });
    }
    if (this.ws && this.ws.readyState === WebSocket.OPEN && !this.syncing) {
      // A quiet feed is not a dead one: a ping every few seconds keeps the pongs coming.
      if (quietS > this.staleAfterS / 3) this.send({ action: "ping" });
      if (quietS > this.staleAfterS && this.state !== "stale") {
        this.setState("stale", { why: `no message for ${Math.round(quietS)} s` });
      }
    }
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    if (event.code === 4401 || event.code === 4403) {
      this.setState("denied", { code: event.code, why: CLOSE_REASONS[event.code], reason: event.reason });
      return;
    }
    this.attempt += 1;
    // Back off (0.5 s doubling to 8 s) with jitter, so a restarted server is not stampeded.
    const delay = Math.min(8000, 500 * 2 ** Math.min(this.attempt - 1, 4)) * (0.75 + Math.random() / 2);
    const why = CLOSE_REASONS[event.code] || (event.code === 1006 ? "connection lost" : `closed (${event.code})`);
    this.setState("stale", { why, retryInS: Math.round(delay / 100) / 10, attempt: this.attempt });
    this.retry = setTimeout(() => this.open(), delay);
  }

  useToken(token) {
    this.token = token;
    clearTimeout(this.retry);
    if (this.ws) this.ws.close();
    this.attempt = 0;
    this.open();
  }
}
