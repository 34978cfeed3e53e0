/* graphmem graph view: a scope's entities and relations, drawn with Cytoscape.js.
 *
 * Served by `graphmem serve` at /ui, it reads the REST routes (GET /graph, GET /memories/{id},
 * POST /search) with the API key given in the page (kept in sessionStorage: this tab only).
 * Written by `graphmem graph --html`, its data is inlined in #graphmem-data and it makes no
 * request at all. Everything the memory says is shown as text (never parsed as HTML).
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const KEY = "graphmem.apiKey";
  const SCOPE_KEYS = ["user_id", "agent_id", "run_id"];
  const LIMIT = 5000; // relations drawn at most
  const FACTS_SHOWN = 40; // facts of one entity fetched and shown at most
  const MENTION = "MENTIONED_WITH";
  const STEP = /\s(-\[([^\]]*)\]->|<-\[([^\]]*)\]-)\s/g; // " -[REL]-> " or " <-[REL]- "
  const PALETTE = ["#2da44e", "#0969da", "#8250df", "#bf3989", "#cf222e", "#bc4c00",
    "#4d8a8a", "#9a6700", "#1b7c83", "#57606a"];

  // ---- time: what held when (the same rule as graphmem's `held_at`) ---------------------
  const ms = (iso) => (iso ? Date.parse(iso) : NaN);
  const began = (r) => ms(r.valid_from || r.created_at);
  /** Whether a relation had been superseded by `at` (ms; null: now). */
  const superseded = (r, at) => Boolean(r.invalid_at) && (at === null || ms(r.invalid_at) <= at);
  function day(iso) {
    const d = new Date(ms(iso));
    const text = d.toISOString();
    return text.endsWith("T00:00:00.000Z") ? text.slice(0, 10) : text.slice(0, 16).replace("T", " ");
  }

  class Failure extends Error {
    constructor(status, body) {
      super((body && (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)))
        || "HTTP " + status);
      this.status = status;
      this.body = body || {};
    }
  }

  // ---- where the data comes from ------------------------------------------------------
  /** The REST routes of the server that served this page. */
  function serverSource() {
    function scope() {
      const out = {};
      for (const k of SCOPE_KEYS) {
        const v = $(k).value.trim();
        if (v) out[k] = v;
      }
      return out;
    }
    async function call(path, params, body) {
      const url = new URL(path, document.baseURI);
      const headers = { Accept: "application/json" };
      const key = sessionStorage.getItem(KEY);
      if (key) headers.Authorization = "Bearer " + key;
      const init = { headers, cache: "no-store" };
      if (body) {
        init.method = "POST";
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(Object.assign(scope(), body));
      } else {
        for (const [k, v] of Object.entries(Object.assign(scope(), params || {}))) {
          if (v !== null && v !== undefined) url.searchParams.set(k, v);
        }
      }
      let res;
      try {
        res = await fetch(url, init);
      } catch (e) {
        throw new Failure(0, { detail: "the server cannot be reached" });
      }
      let out = null;
      try {
        out = await res.json();
      } catch (e) {
        out = null;
      }
      if (!res.ok) throw new Failure(res.status, out);
      return out;
    }
    return {
      ranked: true,
      graph: (asOf) => call("graph", { as_of: asOf, include_invalid: "true", limit: LIMIT }),
      fact: (id) => call("memories/" + encodeURIComponent(id)),
      search: (query, asOf) => call("search", null, { query, limit: 10, as_of: asOf || undefined }),
    };
  }

  /** The data inlined by `graphmem graph --html`: filtered here as the server would. */
  function fileSource(data) {
    const all = data.graph;
    return {
      ranked: false,
      graph: async (asOf) => {
        const at = asOf ? ms(asOf) : null;
        const relations = all.relations.filter((r) => at === null || began(r) <= at);
        const ends = new Set(relations.flatMap((r) => [r.source_id, r.target_id]));
        return { entities: all.entities.filter((e) => ends.has(e.id)), relations, as_of: asOf };
      },
      fact: async (id) => {
        if (!data.facts[id]) throw new Failure(404, { detail: "not in this file" });
        return data.facts[id];
      },
      search: async (query) => textSearch(data, query),
    };
  }

  const STOP = new Set(["the", "and", "for", "who", "what", "where", "which", "when", "with",
    "does", "did", "was", "are", "you", "your", "has", "have", "from", "that", "this", "how"]);

  /** A file has no search engine: the facts and entities that contain the query's words. */
  function textSearch(data, query) {
    const words = query.toLowerCase().split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length > 2 && !STOP.has(w));
    const share = (text) => words.filter((w) => text.toLowerCase().includes(w)).length
      / Math.max(words.length, 1);
    const results = Object.values(data.facts)
      .map((f) => Object.assign({}, f, { score: share(f.memory), paths: [] }))
      .filter((f) => f.score > 0)
      .sort((a, b) => b.score - a.score)
      .slice(0, 10);
    const entities = data.graph.entities
      .filter((e) => [e.name].concat(e.aliases || []).some((n) => share(n) > 0))
      .map((e) => e.id);
    return { results, sources: [], entities };
  }

  // ---- the drawing --------------------------------------------------------------------
  function colour(type) {
    let h = 0;
    for (const c of String(type || "")) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  const STYLE = [
    { selector: "node", style: {
      label: "data(name)", "background-color": "data(color)", width: 22, height: 22,
      "font-size": 11, color: "#1f2328", "text-valign": "bottom", "text-margin-y": 4,
      "text-outline-color": "#fff", "text-outline-width": 2,
      "border-width": 2, "border-color": "#fff" } },
    { selector: "edge", style: {
      label: "data(relationship)", width: 2, "curve-style": "bezier",
      "line-color": "#6e7781", "target-arrow-color": "#6e7781", "target-arrow-shape": "triangle",
      "arrow-scale": 0.9, "font-size": 9, color: "#57606a", "text-rotation": "autorotate",
      "text-background-color": "#fff", "text-background-opacity": 0.85,
      "text-background-padding": 2 } },
    { selector: "edge.mention", style: {
      width: 1, label: "", "line-color": "#c8ccd1", "target-arrow-shape": "none" } },
    { selector: "edge.superseded", style: {
      "line-style": "dashed", "line-dash-pattern": [6, 4], opacity: 0.65,
      "line-color": "#a0a7b0", "target-arrow-color": "#a0a7b0" } },
    { selector: "node:selected", style: { "border-color": "#1f2328", "border-width": 3 } },
    { selector: ".faded", style: { opacity: 0.15 } },
    { selector: "edge.hit", style: {
      "line-color": "#0969da", "target-arrow-color": "#0969da", width: 3, opacity: 1 } },
    { selector: "node.hit", style: { "border-color": "#0969da", "border-width": 3 } },
    { selector: "edge.path", style: {
      "line-color": "#e16f24", "target-arrow-color": "#e16f24", width: 5, opacity: 1,
      "z-index": 10, color: "#953800" } },
    { selector: "node.path", style: { "border-color": "#e16f24", "border-width": 4 } },
  ];

  const embedded = $("graphmem-data");
  const FILE = embedded ? JSON.parse(embedded.textContent) : null;
  const source = FILE ? fileSource(FILE) : serverSource();
  const cy = window.cytoscape({ container: $("cy"), style: STYLE, minZoom: 0.1, maxZoom: 4 });
  const state = { asOf: null, times: [], generation: 0, renders: 0, facts: new Map(), shown: 0 };

  function draw(g, at) {
    const before = new Map(cy.nodes().map((n) => [n.id(), Object.assign({}, n.position())]));
    const ids = new Set(g.entities.map((e) => e.id));
    cy.batch(() => {
      cy.elements().remove();
      cy.add(g.entities.map((e) => ({
        group: "nodes",
        data: { id: e.id, name: e.name, type: e.type, aliases: e.aliases || [], color: colour(e.type) },
        position: before.get(e.id),
      })));
      cy.add(g.relations.filter((r) => ids.has(r.source_id) && ids.has(r.target_id)).map((r) => ({
        group: "edges",
        data: {
          id: r.id, source: r.source_id, target: r.target_id, relationship: r.relationship,
          fact_id: r.fact_id, valid_from: r.valid_from, invalid_at: r.invalid_at,
          created_at: r.created_at,
        },
        classes: (superseded(r, at) ? "superseded" : "current")
          + (r.relationship === MENTION ? " mention" : ""),
      })));
    });
    const fresh = cy.nodes().filter((n) => !before.has(n.id()));
    if (!fresh.length) return;
    fresh.forEach((n, i) => { // next to a node drawn before, if any: the layout starts there
      const known = n.neighborhood("node").filter((m) => before.has(m.id()));
      const near = known.length ? known[0].position() : { x: 0, y: 0 };
      n.position({ x: near.x + 40 * Math.cos(i), y: near.y + 40 * Math.sin(i) });
    });
    cy.layout({
      name: "cose", animate: false, randomize: before.size === 0, fit: true, padding: 30,
      nodeDimensionsIncludeLabels: true, idealEdgeLength: () => 90,
    }).run();
  }

  function stats(g) {
    const gone = cy.edges(".superseded").length;
    const at = state.asOf ? "as of " + day(state.asOf) : "now";
    const limit = FILE ? FILE.limit : LIMIT;
    const cut = g.relations.length >= limit ? ` (the first ${limit})` : "";
    $("stats").textContent = `${cy.nodes().length} entities · ${cy.edges().length} relations${cut}`
      + ` (${gone} superseded) · ${at}`;
  }

  // ---- highlighting search paths ------------------------------------------------------
  /** "a -[R]-> b <-[S]- c" as names ["a", "b", "c"] and steps [{rel: "R", forward: true}, …]. */
  function parsePath(text) {
    const names = [];
    const steps = [];
    let last = 0;
    STEP.lastIndex = 0;
    for (let m = STEP.exec(text); m; m = STEP.exec(text)) {
      names.push(text.slice(last, m.index));
      steps.push(m[2] !== undefined ? { rel: m[2], forward: true } : { rel: m[3], forward: false });
      last = m.index + m[0].length;
    }
    names.push(text.slice(last));
    return { names, steps };
  }

  /** The drawn nodes and edges a rendered path names (a relation that holds before one
   * that was superseded, when both match). */
  function pathElements(text) {
    const { names, steps } = parsePath(text);
    const named = (name) => cy.nodes().filter((n) => n.data("name") === name);
    if (!steps.length) return named(names[0]);
    let found = cy.collection();
    steps.forEach((s, i) => {
      const [from, to] = s.forward ? [names[i], names[i + 1]] : [names[i + 1], names[i]];
      let edges = cy.edges().filter((e) => e.data("relationship") === s.rel
        && e.source().data("name") === from && e.target().data("name") === to);
      if (edges.filter(".current").length) edges = edges.filter(".current");
      found = found.union(edges).union(edges.connectedNodes());
    });
    return found;
  }

  function highlight(paths, factIds, entityIds) {
    cy.elements().removeClass("path hit faded");
    let lit = cy.collection();
    for (const p of paths) lit = lit.union(pathElements(p));
    lit.addClass("path");
    const hits = cy.edges().filter((e) => factIds.has(e.data("fact_id")));
    hits.union(hits.connectedNodes()).addClass("hit");
    for (const id of entityIds) cy.getElementById(id).addClass("hit");
    const shown = cy.elements(".path, .hit");
    if (shown.length) cy.elements().not(shown).addClass("faded");
  }

  // ---- the panel ----------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  const say = (text) => { $("message").textContent = text || ""; };

  function relationLine(e) {
    const gone = e.hasClass("superseded");
    const when = [e.data("valid_from") ? "from " + day(e.data("valid_from")) : null,
      e.data("invalid_at") ? "until " + day(e.data("invalid_at")) : null].filter(Boolean).join(" ");
    return el("li", { className: "relation" + (gone ? " superseded" : "") },
      `${e.source().data("name")} -[${e.data("relationship")}]-> ${e.target().data("name")}`,
      when ? el("span", { className: "muted", textContent: "  " + when }) : null);
  }

  function factBox(f) {
    if (f.error) {
      return el("div", { className: "fact" }, el("p", { className: "muted",
        textContent: `memory ${f.id}: ${f.error}` }));
    }
    const when = [f.valid_from ? "from " + day(f.valid_from) : null,
      f.invalid_at ? "superseded " + day(f.invalid_at) : null].filter(Boolean).join(" · ");
    const sources = (f.sources || []).map((s) => el("li", {},
      el("span", { className: "muted",
        textContent: [s.role, s.title, s.created_at ? day(s.created_at) : null]
          .filter(Boolean).join(" · ") + ": " }),
      s.content.length > 600 ? s.content.slice(0, 600) + "…" : s.content));
    return el("div", { className: "fact" + (f.invalid_at ? " superseded" : "") },
      el("p", { className: "memory", textContent: f.memory }),
      when ? el("p", { className: "muted", textContent: when }) : null,
      sources.length ? el("ul", { className: "sources" }, ...sources) : null);
  }

  async function fact(id) {
    if (!state.facts.has(id)) {
      state.facts.set(id, source.fact(id).catch((e) => ({ id, error: e.message })));
    }
    return state.facts.get(id);
  }

  async function showEntity(node) {
    const mine = ++state.shown;
    const box = $("entity");
    const edges = node.connectedEdges().sort((a, b) => Number(a.hasClass("superseded"))
      - Number(b.hasClass("superseded")));
    const ids = [...new Set(edges.map((e) => e.data("fact_id")))];
    const aliases = node.data("aliases").length ? " · also " + node.data("aliases").join(", ") : "";
    const facts = el("div", { id: "entity-facts" }, el("p", { className: "muted", textContent: "loading…" }));
    box.replaceChildren(
      el("h2", { textContent: node.data("name") }),
      el("p", { className: "muted", textContent: node.data("type") + aliases }),
      el("h3", { textContent: `Relations (${edges.length})` }),
      el("ul", {}, ...edges.map(relationLine)),
      el("h3", { textContent: `Facts (${ids.length})` }),
      facts);
    box.hidden = false;
    box.dataset.entity = node.id();
    box.dataset.state = "loading";
    const found = await Promise.all(ids.slice(0, FACTS_SHOWN).map(fact));
    if (mine !== state.shown) return;
    const more = ids.length > FACTS_SHOWN ? `and ${ids.length - FACTS_SHOWN} more` : null;
    facts.replaceChildren(...found.map(factBox));
    if (more) facts.append(el("p", { className: "muted", textContent: more }));
    box.dataset.state = "ready";
  }

  async function showRelation(edge) {
    const mine = ++state.shown;
    const box = $("entity");
    const holder = el("div", { id: "entity-facts" });
    box.replaceChildren(el("h2", { textContent: edge.data("relationship") }),
      el("ul", {}, relationLine(edge)), el("h3", { textContent: "Fact" }), holder);
    box.hidden = false;
    box.dataset.entity = "";
    box.dataset.state = "loading";
    const f = await fact(edge.data("fact_id"));
    if (mine !== state.shown) return;
    holder.replaceChildren(factBox(f));
    box.dataset.state = "ready";
  }

  function showResults(query, out) {
    const box = $("results");
    const results = out.results || [];
    const passages = (out.sources || []).filter((s) => s.paths && s.paths.length);
    const note = source.ranked ? null : el("p", { className: "muted", textContent:
      "A text match in this file: the ranked search and the paths that explain it need a "
      + "running `graphmem serve`." });
    const items = results.map((r) => {
      const item = el("li", { className: "result" },
        el("p", { className: "memory", textContent: r.memory }),
        el("p", { className: "muted", textContent: "score " + Number(r.score).toFixed(3)
          + (r.invalid_at ? " · superseded " + day(r.invalid_at) : "") }),
        r.paths.length ? el("ul", { className: "paths" },
          ...r.paths.map((p) => el("li", { textContent: p }))) : null);
      item.dataset.id = r.id;
      item.addEventListener("click", () => {
        for (const other of box.querySelectorAll(".result")) other.classList.remove("chosen");
        item.classList.add("chosen");
        highlight(r.paths, new Set([r.id]), []);
      });
      return item;
    });
    const parts = [el("h3", { textContent: `Results for “${query}” (${results.length})` }),
      note, el("ul", {}, ...items),
      passages.length ? el("h3", { textContent: "Passages" }) : null,
      passages.length ? el("ul", { className: "paths" },
        ...passages.flatMap((s) => s.paths.map((p) => el("li", { textContent: p })))) : null];
    box.replaceChildren(...parts.filter(Boolean));
    box.hidden = false;
  }

  // ---- loading --------------------------------------------------------------------------
  function fail(e) {
    document.body.dataset.state = "error";
    if (e.status === 401) {
      say("This server needs an API key: enter it above (it is kept for this tab only).");
      $("apikey").focus();
    } else if (e.status === 400 && !FILE) {
      say("Name a scope above (user_id, agent_id or run_id): " + e.message);
    } else {
      say((e.body.error ? e.body.error + ": " : "") + e.message);
    }
  }

  function setTimes(g) {
    const seen = new Map();
    for (const r of g.relations) {
      for (const iso of [r.valid_from || r.created_at, r.invalid_at]) {
        if (iso && !seen.has(ms(iso))) seen.set(ms(iso), iso);
      }
    }
    state.times = [...seen.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    $("asof-slider").max = String(state.times.length);
    syncSlider();
  }

  function syncSlider() {
    const slider = $("asof-slider");
    if (state.asOf === null) {
      slider.value = String(state.times.length);
    } else {
      const at = ms(state.asOf);
      slider.value = String(Math.max(0, state.times.filter((t) => ms(t) <= at).length - 1));
    }
    $("asof-label").textContent = state.asOf ? day(state.asOf) : "now";
    $("asof").value = state.asOf ? new Date(ms(state.asOf)).toISOString().slice(0, 10) : "";
  }

  async function reload() {
    const mine = ++state.generation;
    document.body.dataset.state = "loading";
    state.facts = new Map();
    try {
      const g = await source.graph(state.asOf);
      if (mine !== state.generation) return;
      if (state.asOf === null) setTimes(g);
      draw(g, state.asOf ? ms(state.asOf) : null);
      stats(g);
      say(g.entities.length ? "" : "Nothing to draw: this scope has no relations"
        + (state.asOf ? " as of that time." : " yet."));
      $("results").hidden = true;
      $("entity").hidden = true;
      document.body.dataset.renders = String(++state.renders);
      document.body.dataset.state = "ready";
    } catch (e) {
      if (mine === state.generation) fail(e);
    }
  }

  function setAsOf(asOf) {
    state.asOf = asOf || null;
    syncSlider();
    return reload();
  }

  async function search(query) {
    if (!query.trim()) return;
    document.body.dataset.state = "searching";
    try {
      const out = await source.search(query, state.asOf);
      const results = out.results || [];
      const paths = results.flatMap((r) => r.paths)
        .concat((out.sources || []).flatMap((s) => s.paths || []));
      // the relations of the results a path connects to the query (in a file: of every match)
      const linked = source.ranked ? results.filter((r) => r.paths.length) : results;
      highlight(paths, new Set(linked.map((r) => r.id)), out.entities || []);
      showResults(query, out);
      say("");
      document.body.dataset.state = "ready";
    } catch (e) {
      fail(e);
    }
  }

  // ---- wiring ---------------------------------------------------------------------------
  cy.on("tap", "node", (ev) => { showEntity(ev.target); });
  cy.on("tap", "edge", (ev) => { showRelation(ev.target); });
  $("asof-slider").addEventListener("input", (ev) => {
    const i = Number(ev.target.value);
    $("asof-label").textContent = i >= state.times.length ? "now" : day(state.times[i]);
  });
  $("asof-slider").addEventListener("change", (ev) => {
    const i = Number(ev.target.value);
    setAsOf(i >= state.times.length ? null : state.times[i]);
  });
  $("asof").addEventListener("change", (ev) => { setAsOf(ev.target.value || null); });
  $("asof-now").addEventListener("click", () => { setAsOf(null); });
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search($("query").value);
  });
  $("clear").addEventListener("click", () => {
    $("query").value = "";
    highlight([], new Set(), []);
    $("results").hidden = true;
  });

  if (FILE) {
    document.body.classList.add("file");
    const scope = Object.entries(FILE.scope || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    $("origin").textContent = `${scope} · written ${day(FILE.written_at)} · offline copy`;
    document.title = `graphmem · ${scope}`;
  } else {
    const params = new URLSearchParams(location.search);
    for (const k of SCOPE_KEYS) $(k).value = params.get(k) || "";
    const keyState = () => {
      const has = Boolean(sessionStorage.getItem(KEY));
      $("apikey").placeholder = has ? "API key set (this tab)" : "API key";
      $("forget-key").hidden = !has;
    };
    keyState();
    $("scope").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const key = $("apikey").value.trim();
      if (key) sessionStorage.setItem(KEY, key);
      $("apikey").value = "";
      keyState();
      const query = new URLSearchParams();
      for (const k of SCOPE_KEYS) if ($(k).value.trim()) query.set(k, $(k).value.trim());
      history.replaceState(null, "", query.toString() ? "?" + query : location.pathname);
      setAsOf(null);
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      keyState();
    });
  }
  window.graphmem = { cy, setAsOf, search, parsePath };
  reload();
})();
