// The live board: keeps the latest state of every entity from the feed and draws it.
// Reads from the URL: token (then removed from the address bar), sport/league (scores and odds),
// stale=<seconds> (default 6).

import { Feed } from "./feed.js";
import { OddsTable, Scores, ago, renderFeeds, renderRaces } from "./render.js";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const WINDOW_MS = 60_000;
const DAY_MS = 86_400_000;
const MAX_SAMPLES = 20_000;

// -- token: from the URL once, then this tab's session storage ------------------------------

let token = params.get("token") || sessionStorage.getItem("sportsflow.token") || "";
if (params.has("token")) {
  sessionStorage.setItem("sportsflow.token", token);
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.size ? `?${params}` : ""));
}

// -- state ---------------------------------------------------------------------------------

const events = new Map();
const movedAt = new Map(); // event id -> when its last live update arrived
const odds = new Map(); // entity key -> {record, previous: {side: price}, changedAt}
const oddsEvents = new Map(); // event id -> an odds record of it
const races = new Map();
const feeds = new Map();
const lastSeen = new Map(); // provider -> when its last data frame arrived
const samples = { provider: [], engine: [], worker: [], transit: [], fanout: [], delivery: [] }; // [at, ms]
let unstaged = 0;
const dirty = new Map(); // event id -> arrival time of its newest frame: cards to update
let layoutDirty = true;
let selectedAt = 0;
const changed = new Set(["odds", "races", "feeds"]); // panels to redraw

const scores = new Scores($("scores"));
const oddsTable = new OddsTable($("odds"));

function sample(name, at, value) {
  if (!Number.isFinite(value)) return;
  const list = samples[name];
  list.push([at, value]);
  if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
}

// Per-stage latency of a live frame: provider lag = our receive time - the provider's update
// time; engine = frame on screen - our receive time (browser and server clocks are compared).
function measure(frame, at) {
  const stages = frame.stages || {};
  const providerTime = stages.provider ?? (frame.sourceTimestamp ? Date.parse(frame.sourceTimestamp) : NaN);
  if (!stages.received) {
    unstaged += 1; // an older broadcaster, or a record without its stage headers
    return;
  }
  const lag = stages.received - providerTime;
  if (Math.abs(lag) < DAY_MS) sample("provider", at, lag); // older: a historic record replayed, not lag
  sample("engine", at, at - stages.received);
  sample("worker", at, (stages.published ?? NaN) - stages.received);
  sample("transit", at, stages.hub - (stages.published ?? NaN));
  sample("fanout", at, (stages.sent ?? NaN) - stages.hub);
  sample("delivery", at, at - (stages.sent ?? stages.hub));
}

// ?sport=...&league=... narrow scores and odds. Applied here, not as feed filters: those would
// also filter out feed status and race frames, which carry no league.
const only = { sport: params.getAll("sport"), league: params.getAll("league") };
function wanted(frame) {
  const event = events.get(frame.eventId) || frame;
  return (!only.sport.length || only.sport.includes(frame.sport ?? event.sport))
    && (!only.league.length || only.league.includes(frame.league ?? event.league));
}

function onFrame(frame, { live, at }) {
  if (frame.provider && frame.type !== "feed_status") lastSeen.set(frame.provider, at);
  if (live) measure(frame, at);
  if ((frame.channel === "live_scores" || frame.channel === "betting_odds") && !wanted(frame)) return;
  switch (frame.channel) {
    case "live_scores": {
      const before = events.get(frame.id);
      if (!before || before.status !== frame.status || before.league !== frame.league) layoutDirty = true;
      events.set(frame.id, frame);
      if (live) movedAt.set(frame.id, at);
      dirty.set(frame.id, at);
      break;
    }
    case "betting_odds": {
      const key = `${frame.eventId}|${frame.bookmaker}|${frame.market}`;
      const before = odds.get(key);
      const previous = Object.fromEntries((before?.record.outcomes || []).map((o) => [o.side, o.price]));
      odds.set(key, { record: frame, previous, changedAt: at });
      oddsEvents.set(frame.eventId, frame); // teams and league for the odds card's title
      if (live) oddsTable.lastKey = key;
      changed.add("odds");
      break;
    }
    case "race_results":
      races.set(frame.id, frame);
      changed.add("races");
      break;
    case "feed_status":
      feeds.set(`${frame.provider}|${frame.feed}`, frame);
      changed.add("feeds");
      break;
    default:
  }
  scheduleDraw();
}

function onControl(frame) {
  if (frame.type === "resumed" && !frame.recovered) {
    // A fresh snapshot follows: start from it, so nothing the server no longer has lingers.
    for (const map of [events, movedAt, odds, oddsEvents, races, feeds]) map.clear();
    layoutDirty = true;
    for (const panel of ["odds", "races", "feeds"]) changed.add(panel);
  }
  if (frame.type === "authenticated") {
    const missing = ["live_scores", "betting_odds", "race_results", "feed_status"]
      .filter((c) => !frame.channels.includes(c));
    $("scope").textContent = missing.length ? `This token does not grant: ${missing.join(", ")}` : "";
  }
}

// -- drawing (at most once per animation frame) ---------------------------------------------

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(draw);
}

function draw() {
  drawPending = false;
  for (const [id, at] of dirty) if (events.has(id)) scores.update(events.get(id), at);
  dirty.clear();
  const now = Date.now();
  if (layoutDirty || now - selectedAt >= 1000) { // which cards to show: reconsidered once a second
    selectedAt = now;
    const chosen = scores.select(events.values(), movedAt, now);
    if (layoutDirty || chosen.map((e) => e.id).sort().join(" ") !== scores.shown) {
      for (const id of scores.cards.keys()) if (!events.has(id)) scores.forget(id);
      scores.layout(chosen, events.size);
    }
    layoutDirty = false;
  }
  drawPanels();
  $("counts").textContent = `${events.size} events · ${odds.size} prices · ${races.size} races`;
}

// Odds, races and feeds are rebuilt whole, so at most every PANEL_MS: a busy odds feed must not
// keep the page's only thread from reading the socket (scores still update every frame).
const PANEL_MS = 250;
let panelsDrawnAt = 0;
let panelTimer = null;
function drawPanels() {
  if (!changed.size || panelTimer) return;
  const wait = panelsDrawnAt + PANEL_MS - Date.now();
  if (wait > 0) {
    panelTimer = setTimeout(() => { panelTimer = null; drawPanels(); }, wait);
    return;
  }
  const now = Date.now();
  if (changed.has("odds")) oddsTable.render(odds, titleOf, now);
  if (changed.has("races")) renderRaces($("races"), races);
  if (changed.has("feeds")) renderFeeds($("feeds"), feeds, lastSeen, now);
  changed.clear();
  panelsDrawnAt = now;
}

function titleOf(eventId) {
  const source = events.get(eventId) || oddsEvents.get(eventId) || {};
  const teams = source.homeTeam ? `${source.homeTeam} v ${source.awayTeam}` : eventId;
  return source.league ? `${teams} · ${source.league}` : teams;
}

// -- latency and connection readouts --------------------------------------------------------

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

function stats(name, now) {
  const list = samples[name];
  const old = list.findIndex(([at]) => at >= now - WINDOW_MS);
  list.splice(0, old === -1 ? list.length : old); // samples arrive in time order
  const values = list.map(([, v]) => v).sort((a, b) => a - b);
  return { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99) };
}

function ms(value) {
  if (!Number.isFinite(value)) return "—";
  const size = Math.abs(value);
  if (size < 10_000) return `${Math.round(value)} ms`;
  if (size < 120_000) return `${(value / 1000).toFixed(1)} s`;
  if (size < 7_200_000) return `${Math.round(value / 60_000)} min`;
  return `${(value / 3_600_000).toFixed(1)} h`;
}

function drawLatency(now) {
  for (const name of ["provider", "engine"]) {
    const s = stats(name, now);
    $(`${name}-p50`).textContent = ms(s.p50);
    $(`${name}-p99`).textContent = ms(s.p99);
    $(`${name}-n`).textContent = s.n ? `${s.n} updates in the last minute`
      : unstaged ? "the feed's frames carry no stage times" : "waiting for live updates";
  }
  const [worker, transit, fanout, delivery] = ["worker", "transit", "fanout", "delivery"].map((n) => ms(stats(n, now).p50));
  $("breakdown").textContent = `where the engine's time goes (p50): worker ${worker} · Kafka → broadcaster ${transit}`
    + ` · broadcaster ${fanout} · to this page ${delivery}`;
}

const STATE_TEXT = {
  connecting: () => "Connecting…",
  live: () => "Live",
  stale: () => "Stale",
  resumed: (d) => (d.recovered ? "Resumed · nothing missed" : "Resumed · fresh snapshot"),
  denied: () => "Token needed",
};

window.sportsflowBoard = { states: [] }; // a history of connection states, for people and tests

function onState(state, detail) {
  window.sportsflowBoard.states.push({ state, ...detail, at: Date.now() });
  const pill = $("conn");
  pill.className = `conn conn-${state}${state === "resumed" && !detail.recovered ? " unrecovered" : ""}`;
  pill.dataset.state = state;
  document.body.dataset.conn = state; // stale data is dimmed
  if (state === "resumed") pill.dataset.recovered = String(detail.recovered);
  $("conn-text").textContent = STATE_TEXT[state](detail);
  const notes = [];
  if (detail.why) notes.push(detail.why);
  if (detail.retryInS) notes.push(`retrying in ${detail.retryInS} s (attempt ${detail.attempt})`);
  if (detail.reconnecting) notes.push(`reconnecting (attempt ${detail.attempt})`);
  if (detail.resumed) notes.push(`resumed, ${detail.resumed}`);
  if (state === "connecting" && detail.attempt) notes.push(`attempt ${detail.attempt + 1}`);
  $("conn-detail").textContent = notes.join(" · ");
  if (state === "denied" && !feed.token) askForToken("This feed needs an access token.");
  else if (state === "denied") askForToken(`${detail.why}${detail.reason ? ` (${detail.reason})` : ""}. Paste another token.`);
}

function askForToken(message) {
  $("auth").hidden = false;
  $("auth-message").textContent = message;
  $("token-input").focus();
}

$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  sessionStorage.setItem("sportsflow.token", value);
  $("auth").hidden = true;
  feed.useToken(value);
});

const scheme = location.protocol === "https:" ? "wss" : "ws";
const feed = new Feed({
  url: `${scheme}://${location.host}/ws`, token, filters: {},
  staleAfterS: Number(params.get("stale")) || 6, onFrame, onState, onControl,
});

setInterval(() => {
  const now = Date.now();
  drawLatency(now);
  $("last-frame").textContent = feed.lastMessageAt ? `last message ${ago(now - feed.lastMessageAt)}` : "";
  for (const panel of ["odds", "races", "feeds"]) changed.add(panel); // ages: "x s ago"
  scheduleDraw();
}, 1000);

scheduleDraw(); // the empty panels say so
feed.open();
