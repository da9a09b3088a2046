// DOM rendering for the board. Each entity keeps its element; updates change text in place and
// flash what changed, so the page never redraws under the reader's eyes.

const SPORTS = {
  americanfootball: "American football", basketball: "Basketball", baseball: "Baseball",
  icehockey: "Ice hockey", soccer: "Soccer", tennis: "Tennis", motorsport: "Motorsport",
  cricket: "Cricket", rugby: "Rugby", volleyball: "Volleyball", handball: "Handball", mma: "MMA", other: "Other",
};
const STATUS_ORDER = { live: 0, halftime: 0, suspended: 1, delayed: 1, scheduled: 2, final: 3 };
const MAX_MATCHES = 120;
const ACTIVE_MS = 60_000;
const MAX_ODDS_EVENTS = 8;
const MAX_RACES = 6;

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function setText(node, text) {
  const value = text ?? "";
  if (node.textContent === value) return false;
  node.textContent = value;
  return true;
}

function flash(node) {
  node.classList.remove("flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("flash");
}

export function ago(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function clockTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function statusLabel(event) {
  switch (event.status) {
    case "live": return "LIVE";
    case "halftime": return "HT";
    case "final": return "FT";
    case "scheduled": return clockTime(event.startTime);
    default: return event.status ? event.status.toUpperCase() : "";
  }
}

function periodText(event) {
  return [event.period, event.clock].filter(Boolean).join(" · ");
}

// -- scores --------------------------------------------------------------------------------

export class Scores {
  constructor(root) {
    this.root = root;
    this.cards = new Map(); // event id -> {node, parts}
    this.groups = new Map(); // "sport|league" -> cards container
  }

  card(event) {
    let card = this.cards.get(event.id);
    if (card) return card;
    const node = el("article", "match");
    node.dataset.eventId = event.id;
    const head = node.appendChild(el("div", "match-head"));
    const parts = { status: head.appendChild(el("span", "pill")), period: head.appendChild(el("span", "period")) };
    for (const side of ["home", "away"]) {
      const row = node.appendChild(el("div", `team ${side}`));
      parts[`${side}Team`] = row.appendChild(el("span", "name"));
      parts[`${side}Score`] = row.appendChild(el("span", "score"));
    }
    parts.foot = node.appendChild(el("div", "match-foot"));
    card = { node, parts };
    this.cards.set(event.id, card);
    return card;
  }

  update(event, arrivedAt) {
    const { node, parts } = this.card(event);
    setText(parts.status, statusLabel(event));
    parts.status.className = `pill status-${event.status}`;
    setText(parts.period, periodText(event));
    setText(parts.homeTeam, event.homeTeam);
    setText(parts.awayTeam, event.awayTeam);
    const score = event.score || {};
    let changed = false;
    for (const side of ["home", "away"]) {
      const value = score[side] === null || score[side] === undefined ? "–" : String(score[side]);
      if (setText(parts[`${side}Score`], value) && node.isConnected) {
        flash(parts[`${side}Score`]);
        changed = true;
      }
    }
    if (changed) {
      // When the change reached the screen, and when its frame arrived: readable by people and tests.
      node.dataset.changedAt = String(Date.now());
      node.dataset.arrivedAt = String(arrivedAt);
      node.dataset.hubAt = String(event.stages?.hub ?? "");
    }
    node.dataset.score = `${score.home ?? "-"}-${score.away ?? "-"}`;
    setText(parts.foot, event.provider ? `via ${event.provider}` : "");
  }

  // Which events get a card when there are more than MAX_MATCHES: live ones first, and among
  // them those that moved in the last minute (`movedAt`: live updates only, not the snapshot).
  select(events, movedAt, now) {
    const quiet = (e) => ((movedAt.get(e.id) ?? 0) > now - ACTIVE_MS ? 0 : 1);
    return [...events]
      .sort((a, b) => (STATUS_ORDER[a.status] ?? 2) - (STATUS_ORDER[b.status] ?? 2) || quiet(a) - quiet(b)
        || String(a.startTime).localeCompare(String(b.startTime)) || a.id.localeCompare(b.id))
      .slice(0, MAX_MATCHES);
  }

  // Place the chosen cards in a stable order: by sport and league, live first, then by start time.
  layout(chosen, total) {
    this.shown = chosen.map((e) => e.id).sort().join(" ");
    const shown = [...chosen]
      .sort((a, b) => (STATUS_ORDER[a.status] ?? 2) - (STATUS_ORDER[b.status] ?? 2)
        || String(a.startTime).localeCompare(String(b.startTime)) || a.id.localeCompare(b.id));
    const bySport = new Map();
    for (const event of shown) {
      const key = `${event.sport}|${event.league}`;
      if (!bySport.has(event.sport)) bySport.set(event.sport, new Map());
      const leagues = bySport.get(event.sport);
      if (!leagues.has(key)) leagues.set(key, []);
      leagues.get(key).push(event);
    }
    const fragment = document.createDocumentFragment();
    for (const sport of [...bySport.keys()].sort()) {
      const section = fragment.appendChild(el("section", "sport"));
      section.appendChild(el("h3", null, SPORTS[sport] || sport));
      for (const [key, list] of [...bySport.get(sport)].sort()) {
        const league = section.appendChild(el("div", "league"));
        league.appendChild(el("h4", null, key.split("|")[1]));
        const grid = league.appendChild(el("div", "cards"));
        for (const event of list) grid.appendChild(this.card(event).node);
      }
    }
    this.root.replaceChildren(fragment);
    const hidden = total - shown.length;
    if (hidden > 0) this.root.appendChild(el("p", "muted", `+ ${hidden} quieter events not shown`));
    if (!total) this.root.appendChild(el("p", "empty", "No events yet."));
  }

  forget(id) {
    this.cards.get(id)?.node.remove();
    this.cards.delete(id);
  }
}

// -- odds ----------------------------------------------------------------------------------

const MARKET_ORDER = ["moneyline", "spread", "total"];
const SIDE_LABEL = { home: "Home", away: "Away", draw: "Draw", over: "Over", under: "Under" };

// "Home", or with a line: "H -1.5", "O 219.5" (short, so three markets fit side by side).
function sideText({ side, point }) {
  const label = SIDE_LABEL[side] || side;
  if (point === null || point === undefined) return label;
  return `${label[0]} ${point > 0 && side !== "over" && side !== "under" ? "+" : ""}${point}`;
}

function priceArrow(before, after) {
  if (before === undefined || before === after) return "";
  return after > before ? "up" : "down";
}

// One card per event: a grid of bookmakers (rows) by markets (columns), each cell the outcomes.
export class OddsTable {
  constructor(root) {
    this.root = root;
    this.lastKey = null; // the entity whose price changed last: highlighted
  }

  // `odds`: entity key -> {record, previous prices by side, changedAt}; `titleOf(event id)`.
  render(odds, titleOf, now) {
    const byEvent = new Map();
    for (const [key, entry] of odds) {
      const id = entry.record.eventId;
      if (!byEvent.has(id)) byEvent.set(id, { latest: 0, cells: new Map() });
      const group = byEvent.get(id);
      group.latest = Math.max(group.latest, entry.changedAt);
      group.cells.set(key, entry);
    }
    const ids = [...byEvent.keys()].sort((a, b) => byEvent.get(b).latest - byEvent.get(a).latest)
      .slice(0, MAX_ODDS_EVENTS).sort((a, b) => titleOf(a).localeCompare(titleOf(b)));
    const fragment = document.createDocumentFragment();
    for (const id of ids) fragment.appendChild(this.eventCard(id, titleOf(id), byEvent.get(id).cells, now));
    if (!ids.length) fragment.appendChild(el("p", "empty", "No odds yet."));
    this.root.replaceChildren(fragment);
  }

  eventCard(id, title, cells, now) {
    const card = el("div", "odds-event");
    card.dataset.eventId = id;
    card.appendChild(el("h4", null, title));
    const markets = [...new Set([...cells.values()].map((e) => e.record.market))]
      .sort((a, b) => (MARKET_ORDER.indexOf(a) + 1 || 99) - (MARKET_ORDER.indexOf(b) + 1 || 99));
    const books = [...new Set([...cells.values()].map((e) => e.record.bookmaker))].sort();
    const table = card.appendChild(el("table", "odds"));
    const head = table.appendChild(el("tr"));
    head.appendChild(el("th", null, "Bookmaker"));
    for (const market of markets) head.appendChild(el("th", null, market));
    for (const book of books) {
      const tr = table.appendChild(el("tr"));
      tr.appendChild(el("td", "bookmaker", book));
      for (const market of markets) {
        const key = `${id}|${book}|${market}`;
        tr.appendChild(this.cell(key, cells.get(key), now));
      }
    }
    return card;
  }

  cell(key, entry, now) {
    const td = el("td", "cell");
    if (!entry) return td;
    const { record, previous, changedAt } = entry;
    if (key === this.lastKey) {
      td.classList.add("last-change");
      td.title = `last change, ${ago(now - changedAt)}`;
    }
    if (record.suspended) td.classList.add("suspended");
    for (const outcome of record.outcomes || []) {
      const line = td.appendChild(el("div", `price ${priceArrow(previous[outcome.side], outcome.price)}`));
      line.appendChild(el("span", "side", sideText(outcome)));
      line.appendChild(el("b", null, outcome.price.toFixed(2)));
    }
    if (record.suspended) td.appendChild(el("div", "tag", "suspended"));
    return td;
  }
}

// -- races ---------------------------------------------------------------------------------

export function renderRaces(root, races) {
  const list = [...races.values()].sort((a, b) => String(b.startTime).localeCompare(String(a.startTime)))
    .slice(0, MAX_RACES);
  const fragment = document.createDocumentFragment();
  for (const race of list) {
    const card = fragment.appendChild(el("article", "race"));
    card.dataset.raceId = race.id;
    const head = card.appendChild(el("div", "race-head"));
    head.appendChild(el("span", `pill status-${race.status}`, statusLabel(race)));
    head.appendChild(el("strong", null, race.name));
    card.appendChild(el("div", "muted", [race.series, race.season, race.round && `round ${race.round}`]
      .filter(Boolean).join(" · ")));
    const table = card.appendChild(el("table", "results"));
    for (const entry of (race.results || []).slice(0, 10)) {
      const tr = table.appendChild(el("tr"));
      tr.appendChild(el("td", "pos", entry.position ?? "–"));
      tr.appendChild(el("td", null, entry.competitor));
      tr.appendChild(el("td", "muted", entry.team || ""));
      tr.appendChild(el("td", "num", entry.position === 1 ? entry.time || "" : entry.gap || entry.status || ""));
    }
  }
  if (!list.length) fragment.appendChild(el("p", "empty", "No race results yet."));
  root.replaceChildren(fragment);
}

// -- feed health ---------------------------------------------------------------------------

// Per provider: when its last data arrived, then each feed's up/down state, reason and age.
export function renderFeeds(root, feeds, lastSeen, now) {
  const providers = new Set([...feeds.values()].map((f) => f.provider).concat([...lastSeen.keys()]));
  const fragment = document.createDocumentFragment();
  for (const provider of [...providers].sort()) {
    const rows = [...feeds.values()].filter((f) => f.provider === provider)
      .sort((a, b) => a.feed.localeCompare(b.feed));
    const down = rows.filter((f) => f.status === "down").length;
    const box = fragment.appendChild(el("div", `provider${down ? " has-down" : ""}`));
    const head = box.appendChild(el("div", "provider-head"));
    head.appendChild(el("strong", null, provider));
    head.appendChild(el("span", `pill feed-${down ? "down" : rows.length ? "up" : "unknown"}`,
      down ? `${down} DOWN` : rows.length ? "ALL UP" : "NO REPORT"));
    head.appendChild(el("span", "muted small age",
      `last data ${ago(lastSeen.has(provider) ? now - lastSeen.get(provider) : null)}`));
    const table = box.appendChild(el("table", "feeds"));
    for (const feed of rows) {
      const tr = table.appendChild(el("tr", feed.status === "down" ? "down" : ""));
      tr.dataset.feed = `${provider}|${feed.feed}`;
      tr.dataset.status = feed.status;
      const name = tr.appendChild(el("td", "feed-name", feed.feed));
      if (feed.reason) name.appendChild(el("div", "reason", feed.reason));
      tr.appendChild(el("td", null)).appendChild(el("span", `pill feed-${feed.status}`, feed.status.toUpperCase()));
      tr.appendChild(el("td", "muted small num", feed.timestamp ? `for ${ago(now - Date.parse(feed.timestamp)).replace(" ago", "")}` : ""));
    }
  }
  if (!providers.size) fragment.appendChild(el("p", "empty", "No feed reports yet."));
  root.replaceChildren(fragment);
}
