// autosel dashboard: plain JS over the REST API (no build step, no third-party code but plotly).
// Pages: "/" lists searches and follows them all live through /v1/searches/events;
// "/searches/<id>" (or "/#/search/<id>") shows one search and follows it live through its
// own Server-Sent Events stream.
"use strict";

const TOKEN_KEY = "autosel-token";
// State names and their groups come from the server (GET /v1/meta, read once at start),
// never spelled here: {job_states, search_states, trial_states: {all, final, ...}}.
let META = null;
const ended = (search) => META.search_states.final.includes(search.state);
const PLOT_CONFIG = { responsive: true, displaylogo: false };

// ---------------------------------------------------------------- auth and API calls
// A token passed once as ?token= is kept for this tab only (sessionStorage) and removed
// from the address bar so it does not end up in history or screenshots.
(function takeToken() {
  const params = new URLSearchParams(location.search);
  if (!params.has("token")) return;
  sessionStorage.setItem(TOKEN_KEY, params.get("token"));
  params.delete("token");
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
})();

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || "HTTP " + status);
    this.status = status;
    this.code = err.code;
  }
}

// fetch with the token; an HTTP error becomes an ApiError carrying the server's message.
async function fetchOk(path, signal) {
  const resp = await fetch(path, { headers: authHeaders(), signal });
  if (!resp.ok) {
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(resp.status, body);
  }
  return resp;
}

async function api(path, { as = "json", signal } = {}) {
  const resp = await fetchOk(path, signal);
  return as === "json" ? resp.json() : as === "blob" ? resp.blob() : resp.text();
}

// ---------------------------------------------------------------- small DOM helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const fmt = (x, digits = 4) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const main = () => document.getElementById("main");
const say = (text) => { document.getElementById("live").textContent = text; };

function showError(err) {
  const el = main();
  el.replaceChildren();
  if (err.status === 401) {
    el.append(h("h1", {}, "Token needed"),
      h("p", { class: "alert", role: "alert" }, "This server requires an API token. Open the page once as ",
        h("code", {}, location.pathname + "?token=<your token>"),
        " (create one with ", h("code", {}, "autosel token create NAME --scope user"), ")."));
  } else {
    el.append(h("h1", {}, "Error"), h("p", { class: "alert", role: "alert" }, err.message));
  }
}

async function download(path, fallbackName) {
  const resp = await fetch(path, { headers: authHeaders() });
  if (!resp.ok) { say("Download failed: HTTP " + resp.status); return; }
  const disposition = resp.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(await resp.blob());
  const a = h("a", { href: url, download: match ? match[1] : fallbackName });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------------------------------------------------------------- live updates (SSE)
// Server-Sent Events over fetch (EventSource cannot send the Authorization header): open
// the stream with fetchOk, then readEvents until the server closes it (throws if it drops).
async function readEvents(resp, signal, onEvent) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event) onEvent(event);
    }
    if (signal.aborted) return;
  }
}

// One SSE block → {id, kind}; null for a keep-alive comment.
function parseEvent(block) {
  let id = null, kind = null;
  for (const line of block.split("\n")) {
    if (line.startsWith("id: ")) id = Number(line.slice(4));
    else if (line.startsWith("event: ")) kind = line.slice(7);
  }
  return id === null ? null : { id, kind };
}

// Wait ms, or less when signal aborts.
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); signal.removeEventListener("abort", done); resolve(); };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

// ---------------------------------------------------------------- searches list page
// Follows every search through /v1/searches/events and re-reads the list once per burst
// of events. While the stream is down the list is polled, and reconnecting (with backoff)
// goes on in the background.
const LIST_POLL_MS = 5000;

class ListView {
  constructor() {
    this.abort = new AbortController();
    this.pending = null;
    this.poll = null;
    this.shown = false;
  }

  start() {
    document.title = "Searches · autosel";
    main().replaceChildren(h("h1", {}, "Searches"), h("p", {}, "Loading…"));
    this.follow();
  }

  stop() {
    this.abort.abort();
    clearTimeout(this.pending);
    this.stopPolling();
  }

  async follow() {
    const { signal } = this.abort;
    let backoff = 1000;
    while (!signal.aborted) {
      try {
        // Open the stream first (it starts at the newest event), then read the list:
        // whatever changes in between arrives as an event.
        const resp = await fetchOk("/v1/searches/events", signal);
        this.stopPolling();
        await this.refresh();
        if (signal.aborted) return;
        say("Live: following every search.");
        backoff = 1000;
        await readEvents(resp, signal, () => this.scheduleRefresh());
      } catch (err) {
        if (signal.aborted) return;
        if (err.status === 401 || err.status === 403) { showError(err); return; }
        if (!this.shown) await this.refresh();
        this.startPolling();
        say(`Live updates interrupted; refreshing every ${LIST_POLL_MS / 1000} s until reconnected…`);
      }
      await sleep(backoff, signal);
      backoff = Math.min(2 * backoff, 30000);
    }
  }

  startPolling() {
    if (!this.poll) this.poll = setInterval(() => this.refresh(), LIST_POLL_MS);
  }

  stopPolling() {
    clearInterval(this.poll);
    this.poll = null;
  }

  // Events come in bursts (a finished job logs several); re-read the list once per burst.
  scheduleRefresh() {
    if (this.pending) return;
    this.pending = setTimeout(() => { this.pending = null; this.refresh(); }, 250);
  }

  async refresh() {
    try {
      const { data } = await api("/v1/searches", { signal: this.abort.signal });
      if (!this.abort.signal.aborted) this.render(data);
    } catch (err) {
      if (this.abort.signal.aborted) return;
      if (!this.shown) showError(err);
      else say("Update failed: " + err.message);
    }
  }

  render(data) {
    this.shown = true;
    const rows = data.slice().reverse().map((s) => h("tr", { "data-search": s.id },
      h("th", { scope: "row" }, h("a", { href: "/searches/" + encodeURIComponent(s.id) }, s.name)),
      h("td", { class: "state-" + s.state }, s.state),
      h("td", {}, h("progress", { max: s.budget, value: Math.min(s.completed, s.budget),
        "aria-label": `${s.completed} of ${s.budget} evaluations` }), ` ${s.completed} / ${s.budget}`),
      h("td", { class: "num" }, fmt(s.best_score)),
      h("td", {}, (s.created_at || "").replace("T", " ").slice(0, 19))));
    const table = h("table", { id: "searches" },
      h("caption", {}, `${data.length} search${data.length === 1 ? "" : "es"}, newest first`),
      h("thead", {}, h("tr", {}, ["Search", "State", "Budget progress", "Best dev score", "Created (UTC)"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows));
    main().replaceChildren(h("h1", {}, "Searches"),
      data.length ? h("div", { class: "scroll" }, table)
        : h("p", {}, "No search yet. Start one with ", h("code", {}, "autosel search start"), "."));
  }
}

// ---------------------------------------------------------------- one search
class SearchView {
  constructor(id) {
    this.id = id;
    this.base = "/v1/searches/" + encodeURIComponent(id);
    this.selected = null; // trial number shown in recipe/composition (null: the best)
    this.shownDetail = null;
    this.cursor = 0;
    this.abort = new AbortController();
    this.pending = null;
  }

  skeleton() {
    const plot = (id, label) => h("div", { id, class: "plot", role: "img", "aria-label": label });
    main().replaceChildren(
      h("h1", { id: "title" }, "Search"),
      h("dl", { class: "summary", id: "summary" }),
      h("h2", { id: "report-title" }, "Final report (test split)"),
      h("section", { id: "report", "aria-labelledby": "report-title" },
        h("p", { id: "report-status", class: "muted" }, "Loading…"),
        h("div", { id: "report-body" })),
      h("h2", {}, "Progress (dev split)"),
      h("div", { class: "plots" },
        h("figure", {}, plot("plot-progress", "Best dev utility so far versus evaluations"),
          h("figcaption", { class: "muted" }, "Best dev utility so far after each search evaluation (the score the search maximised; test scores are in the final report).")),
        h("figure", {}, plot("plot-prediction", "Surrogate predicted mean and std versus observed score"),
          h("figcaption", { class: "muted" }, "GP prediction at proposal (mean ± std) versus observed utility; warmup trials have no prediction."))),
      h("h2", { id: "diagnostics-title" }, "What the GP believes (dev split)"),
      h("section", { id: "diagnostics", "aria-labelledby": "diagnostics-title" },
        h("p", { id: "diagnostics-status", class: "muted" }, "Loading…"),
        h("div", { class: "plots" },
          h("figure", {}, plot("plot-loo", "Leave-one-out GP prediction versus observed dev score"),
            h("figcaption", { class: "muted" }, "Each scored trial predicted from all the others (± 1.96 predictive std) against its dev score; points off the diagonal are trials the surrogate cannot explain.")),
          h("figure", {}, plot("plot-importance", "Importance of each GP input"),
            h("figcaption", { class: "muted" }, "Inverse ARD lengthscale of each GP input (normalised): which subset properties, or operators and parameters, the surrogate finds move the score.")))),
      h("h2", { id: "detail-title" }, "Chosen recipe"),
      h("div", { class: "toolbar" },
        h("button", { id: "download-recipe", type: "button", onclick: () => this.downloadRecipe() }, "Download recipe (YAML)"),
        h("label", { for: "export-format" }, "Subset format"),
        h("select", { id: "export-format" }, ["chat", "alpaca", "sharegpt"].map((f) => h("option", { value: f }, f))),
        h("button", { id: "download-subset", type: "button", onclick: () => this.downloadSubset() }, "Download subset (JSONL)"),
        h("button", { id: "show-best", type: "button", onclick: () => this.select(null) }, "Show best trial")),
      h("pre", { id: "recipe-yaml", "aria-label": "Recipe YAML" }, "No completed trial yet."),
      h("h2", {}, "Source composition"),
      h("div", { class: "plots" },
        h("figure", {}, plot("plot-composition", "Share of each source in the subset versus the pool")),
        h("div", { id: "composition-table", class: "scroll" })),
      h("h2", {}, "Trials"),
      h("div", { class: "scroll" }, h("table", { id: "trials" })));
  }

  async start() {
    this.skeleton();
    try {
      await this.refresh();
    } catch (err) { showError(err); return; }
    if (!ended(this.summary)) this.follow();
  }

  stop() { this.abort.abort(); }

  async refresh() {
    const [summary, trials] = await Promise.all([api(this.base), api(this.base + "/trials")]);
    this.summary = summary;
    this.trials = trials.data;
    this.renderSummary();
    this.renderPlots();
    this.renderTrials();
    await Promise.all([this.refreshReport(), this.renderDetail(), this.refreshDiagnostics()]);
  }

  // The surrogate changes only when a search trial finishes: refit then, not per event.
  async refreshDiagnostics() {
    const s = this.summary;
    if (this.diagnosticsAt === s.completed) return;
    let d;
    try {
      d = await api(this.base + "/diagnostics");
    } catch (err) {
      document.getElementById("diagnostics-status").textContent = "Diagnostics unavailable: " + err.message;
      return;
    }
    this.diagnosticsAt = s.completed;
    this.renderDiagnostics(d);
  }

  renderDiagnostics(d) {
    const status = document.getElementById("diagnostics-status");
    const full = d.full_pool ? ` The full pool scored ${fmt(d.full_pool.score)} (trial ${d.full_pool.number}).` : "";
    status.textContent = d.status === "ok"
      ? `GP fitted on ${d.points} scored trials; inputs: ${d.features === "state" ? "the realized subset's state features" : d.features}.${full}${d.note ? " " + d.note : ""}`
      : (d.note || d.status) + "." + full;
    const vals = d.loo.flatMap((p) => [p.actual, p.predicted]);
    const pad = vals.length ? 0.1 * (Math.max(...vals) - Math.min(...vals)) || 0.05 : 0.5;
    const lo = vals.length ? Math.min(...vals) - pad : 0;
    const hi = vals.length ? Math.max(...vals) + pad : 1;
    Plotly.react("plot-loo", [
      { name: "trials", x: d.loo.map((p) => p.actual), y: d.loo.map((p) => p.predicted), mode: "markers",
        text: d.loo.map((p) => "trial " + p.number),
        error_y: { type: "data", array: d.loo.map((p) => 1.96 * p.std), visible: true } },
      { name: "predicted = actual", x: [lo, hi], y: [lo, hi], mode: "lines", line: { dash: "dot" } },
    ], {
      margin: { t: 20, r: 10 }, xaxis: { title: { text: "dev score (actual)" } },
      yaxis: { title: { text: "leave-one-out prediction" } }, legend: { orientation: "h", y: -0.25 },
    }, PLOT_CONFIG);
    const top = d.importance.slice(0, 12).reverse();
    Plotly.react("plot-importance", [
      { type: "bar", orientation: "h", x: top.map((i) => i.share), y: top.map((i) => i.name), name: "importance" },
    ], { margin: { t: 20, r: 10, l: 160 }, xaxis: { title: { text: "share" } } }, PLOT_CONFIG);
  }

  // The report changes only once the search reaches it; a computed report is final.
  async refreshReport() {
    if (this.report && this.report.status === "complete") return;
    const s = this.summary;
    if (!s.report_runs && !ended(s) && this.report) return;
    try {
      this.report = await api(this.base + "/report");
    } catch (err) {
      document.getElementById("report-status").textContent = "Report unavailable: " + err.message;
      return;
    }
    this.renderReport();
  }

  // Events come in bursts (a finished job logs several); refresh once per burst.
  scheduleRefresh() {
    if (this.pending) return;
    this.pending = setTimeout(async () => {
      this.pending = null;
      try { await this.refresh(); } catch (err) { say("Update failed: " + err.message); }
    }, 250);
  }

  async follow() {
    const { signal } = this.abort;
    while (!signal.aborted) {
      try {
        const resp = await fetchOk(`${this.base}/events?since=${this.cursor}`, signal);
        say("Live: following this search.");
        await readEvents(resp, signal, (event) => this.onEvent(event));
      } catch (err) {
        if (signal.aborted) return;
        say("Live updates interrupted; reconnecting…");
      }
      await sleep(2000, signal);
    }
  }

  onEvent({ id, kind }) {
    this.cursor = Math.max(this.cursor, id);
    this.scheduleRefresh();
    if (kind === "search_completed" || kind === "search_failed" || kind === "search_cancelled") {
      say("Search " + kind.replace("search_", "") + ".");
      this.abort.abort();
    }
  }

  renderSummary() {
    const s = this.summary;
    document.title = s.name + " · autosel";
    document.getElementById("title").textContent = "Search: " + s.name;
    const item = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    document.getElementById("summary").replaceChildren(...[
      item("State", h("span", { class: "state-" + s.state, id: "search-state" }, s.state)),
      item("Evaluations", h("span", {}, h("progress", { max: s.budget, value: Math.min(s.completed, s.budget),
        "aria-label": `${s.completed} of ${s.budget} evaluations` }), ` ${s.completed} / ${s.budget}`)),
      ...((s.fidelity_ladder || [1]).length > 1 ? [item("Compute units",
        `${fmt(s.units_spent, 2)} / ${s.budget} (fidelity ladder ${s.fidelity_ladder.join(", ")})`)] : []),
      item("Best dev score", fmt(s.best_score)),
      item("Final report", s.report_runs ? `${s.report_runs_done} / ${s.report_runs} test runs` : "not started"),
      item("In flight / failed", `${s.in_flight} / ${s.failed}`),
      item("Device time", `${fmt(s.device_seconds, 1)} s`),
      item("Search id", h("code", {}, s.id)),
      ...(s.failure_reason ? [item("Why it failed", s.failure_reason)] : []),
      ...((s.warnings || []).length ? [item("Warnings", h("ul", { id: "search-warnings", class: "warning" },
        s.warnings.map((w) => h("li", { "data-kind": w.kind }, w.message))))] : []),
    ].flat());
  }

  renderPlots() {
    const s = this.summary;
    const searchTrials = this.trials.filter((t) => !t.report);
    const finished = searchTrials.filter((t) => META.trial_states.final.includes(t.state))
      .sort((a, b) => (a.finished_at || "").localeCompare(b.finished_at || ""));
    const xs = s.best_so_far.map((_, i) => i + 1);
    const traces = [
      { name: "best so far", x: xs, y: s.best_so_far, mode: "lines+markers", line: { shape: "hv" } },
      { name: "observed", x: finished.map((_, i) => i + 1), y: finished.map((t) => t.score),
        mode: "markers", marker: { symbol: "circle-open" }, text: finished.map((t) => "trial " + t.number) },
    ];
    // The baseline the search must beat, when it evaluated it: the full pool on dev.
    const full = searchTrials.find((t) => !(t.recipe.steps || []).length && t.score !== null
      && t.state === META.trial_states.scored);
    if (full && xs.length) {
      traces.push({ name: "full pool (dev)", x: [xs[0], xs[xs.length - 1]], y: [full.score, full.score],
        mode: "lines", line: { dash: "dash" } });
    }
    Plotly.react("plot-progress", traces, {
      margin: { t: 20, r: 10 }, xaxis: { title: { text: "evaluations" }, rangemode: "tozero" },
      yaxis: { title: { text: "dev utility" } }, legend: { orientation: "h", y: -0.25 },
    }, PLOT_CONFIG);

    const predicted = searchTrials.filter((t) => t.predicted_mean !== null && t.predicted_mean !== undefined);
    const observed = searchTrials.filter((t) => t.state === META.trial_states.scored && t.score !== null);
    Plotly.react("plot-prediction", [
      { name: "predicted mean ± std", x: predicted.map((t) => t.number), y: predicted.map((t) => t.predicted_mean),
        error_y: { type: "data", array: predicted.map((t) => t.predicted_std || 0), visible: true },
        mode: "markers", marker: { symbol: "diamond" } },
      { name: "observed", x: observed.map((t) => t.number), y: observed.map((t) => t.score), mode: "markers" },
    ], {
      margin: { t: 20, r: 10 }, xaxis: { title: { text: "trial number" } },
      yaxis: { title: { text: "dev utility" } }, legend: { orientation: "h", y: -0.25 },
    }, PLOT_CONFIG);
  }

  // The final report: each arm's test utility and every difference with its 95% CI and
  // verdict in words. The best recipe's dev score is shown apart, labelled as dev.
  renderReport() {
    const r = this.report;
    const status = document.getElementById("report-status");
    const body = document.getElementById("report-body");
    status.textContent = r.status === "complete"
      ? "Best recipe, full pool, random subsets of the same size and references, re-trained with fresh seeds and scored on the test split."
      : r.message;
    if (r.status !== "complete") {
      body.replaceChildren(...(r.pending.length ? [h("ul", { id: "report-pending" }, r.pending.map((p) =>
        h("li", {}, `trial ${p.trial}: ${p.arm}, replicate ${p.replicate} (${p.state})`)))] : []));
      return;
    }
    const rep = r.report;
    const parts = [];
    if (rep.flat_warning) {
      parts.push(h("p", { id: "flat-warning", class: "warning", role: "alert" },
        h("strong", {}, "Warning: "), rep.flat_warning));
    }
    if (rep.best) {
      parts.push(h("p", { id: "report-best" }, "Best recipe (dev): trial ", String(rep.best.trial),
        `, ${rep.best.size} samples, dev score ${fmt(rep.best.dev_score)} — the score the search `
        + "maximised, not a test score; its test score is the “best” row below."));
    }
    parts.push(h("ul", { id: "report-comparisons" }, rep.comparisons.map((c) =>
      h("li", { "data-key": c.key },
        h("strong", { class: "verdict verdict-" + c.verdict.replace(/ /g, "-") }, c.verdict),
        ": ", c.sentence))));
    const se = (a) => (a.test_utility === null ? "–" : `${fmt(a.test_utility)} ± ${fmt(a.test_se)}`);
    parts.push(h("div", { class: "plots" },
      h("div", { class: "scroll" }, h("table", { id: "report-arms" },
        h("caption", {}, "Test utility of each arm (mean over replicates ± standard error)"),
        h("thead", {}, h("tr", {}, ["Arm", "Size", "Replicates", "Test utility ± SE"]
          .map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rep.arms.map((a) => h("tr", { "data-arm": a.key },
          h("th", { scope: "row" }, a.name), h("td", { class: "num" }, a.size ?? "–"),
          h("td", { class: "num" }, `${a.replicates} / ${a.planned}`),
          h("td", { class: "num" }, se(a))))))),
      h("figure", {}, h("div", { id: "plot-report", class: "plot", role: "img",
        "aria-label": "Test utility of each arm with 95% intervals" }),
        h("figcaption", { class: "muted" }, "Test split: each arm's utility ± 1.96 SE."))));
    if (rep.missing.length) {
      parts.push(h("ul", { id: "report-missing", class: "error" }, rep.missing.map((m) =>
        h("li", {}, `${m.name}: no test score (${m.reason})`))));
    }
    body.replaceChildren(...parts);
    const shown = rep.arms.filter((a) => a.test_utility !== null);
    Plotly.react("plot-report", [{
      type: "scatter", mode: "markers", name: "test utility", x: shown.map((a) => a.name),
      y: shown.map((a) => a.test_utility),
      error_y: { type: "data", array: shown.map((a) => 1.96 * (a.test_se || 0)), visible: true },
    }], { margin: { t: 20, r: 10 }, yaxis: { title: { text: "test utility" } } }, PLOT_CONFIG);
  }

  renderTrials() {
    const cols = ["#", "State", "Origin", "Split", "Fidelity", "Trajectory", "Recipe steps", "Size", "State vector",
      "Predicted", "Score", "Per benchmark", "Cost (device s)", "Error", ""];
    const rows = this.trials.map((t) => {
      // A reference subset is a fixed list of ids, not steps: it is shown by its name.
      const steps = (t.recipe.steps || []).map((st) => st.operator).join(" → ")
        || t.recipe.name || "(whole pool)";
      const vec = t.state_vector.map((x) => fmt(x, 2)).join(", ");
      const bench = Object.entries(t.scores).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(", ");
      // A screened candidate may be predicted on the full rung's scale: say which.
      const at = t.predicted_fidelity !== null && t.predicted_fidelity !== undefined
        && Math.abs(t.predicted_fidelity - t.fidelity) > 1e-9 ? ` @ f=${t.predicted_fidelity}` : "";
      const pred = t.predicted_mean === null ? "–" : `${fmt(t.predicted_mean)} ± ${fmt(t.predicted_std)}${at}`;
      return h("tr", { "data-trial": t.number },
        h("th", { scope: "row" }, String(t.number)),
        h("td", { class: "state-" + t.state }, t.state),
        h("td", {}, t.origin), h("td", {}, t.split),
        h("td", { class: "num" }, t.promoted_from !== null && t.promoted_from !== undefined
          ? `${fmt(t.fidelity, 2)} (from ${t.promoted_from})` : fmt(t.fidelity ?? 1, 2)),
        h("td", { class: "num" }, t.trajectory ?? "–"),
        h("td", {}, steps), h("td", { class: "num" }, t.size ?? "–"),
        h("td", {}, h("code", { class: "vec", title: vec }, vec.length > 60 ? vec.slice(0, 60) + "…" : vec)),
        h("td", { class: "num" }, pred), h("td", { class: "num" }, fmt(t.score)),
        h("td", {}, bench || "–"), h("td", { class: "num" }, fmt(t.cost.device_seconds, 1)),
        h("td", { class: "error" }, t.error || ""),
        h("td", {}, t.state === META.trial_states.scored ? h("button", { type: "button", onclick: () => this.select(t.number),
          "aria-label": "Show recipe and composition of trial " + t.number }, "Show") : ""));
    });
    document.getElementById("trials").replaceChildren(
      h("caption", {}, `${this.trials.length} trials (search trials on dev; final-report runs on test)`),
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows));
  }

  select(number) {
    this.selected = number;
    this.shownDetail = null;
    this.renderDetail().catch((err) => say(err.message));
  }

  detailQuery() {
    return this.selected === null ? "" : "?trial=" + this.selected;
  }

  // Recipe and composition change only when another trial is shown (or a better one appears).
  async renderDetail() {
    const best = this.summary.best;
    const number = this.selected === null ? (best ? best.number : null) : this.selected;
    if (number === null || number === this.shownDetail) return;
    this.shownDetail = number;
    document.getElementById("detail-title").textContent =
      this.selected === null ? `Chosen recipe (best: trial ${number})` : `Recipe of trial ${number}`;
    const q = "?trial=" + number;
    const [yaml, comp] = await Promise.all([api(this.base + "/recipe" + q, { as: "text" }),
      api(this.base + "/composition" + q)]);
    document.getElementById("recipe-yaml").textContent = yaml;
    Plotly.react("plot-composition", [
      { type: "bar", name: "pool", x: comp.sources.map((c) => c.source), y: comp.sources.map((c) => c.pool_share) },
      { type: "bar", name: `subset (trial ${number})`, x: comp.sources.map((c) => c.source),
        y: comp.sources.map((c) => c.subset_share) },
    ], { barmode: "group", margin: { t: 20, r: 10 }, yaxis: { title: { text: "share of rows" }, tickformat: ".0%" },
      legend: { orientation: "h", y: -0.25 } }, PLOT_CONFIG);
    document.getElementById("composition-table").replaceChildren(h("table", { id: "composition" },
      h("caption", {}, `Rows per source: subset of ${comp.subset_rows} vs pool of ${comp.pool_rows}`),
      h("thead", {}, h("tr", {}, ["Source", "Subset", "Pool", "Subset share", "Pool share"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, comp.sources.map((c) => h("tr", {}, h("th", { scope: "row" }, c.source),
        h("td", { class: "num" }, c.subset), h("td", { class: "num" }, c.pool),
        h("td", { class: "num" }, (100 * c.subset_share).toFixed(1) + "%"),
        h("td", { class: "num" }, (100 * c.pool_share).toFixed(1) + "%"))))));
  }

  downloadRecipe() { download(this.base + "/recipe" + this.detailQuery(), "recipe.yaml"); }

  downloadSubset() {
    const format = document.getElementById("export-format").value;
    const q = this.detailQuery();
    download(`${this.base}/export${q ? q + "&" : "?"}format=${format}`, "subset.jsonl");
  }
}

// ---------------------------------------------------------------- routing
let current = null;

function route() {
  if (current) current.stop();
  current = null;
  const byPath = /^\/searches\/([^/]+)$/.exec(location.pathname);
  const byHash = /^#\/search\/([^/]+)$/.exec(location.hash);
  const id = byPath ? decodeURIComponent(byPath[1]) : byHash ? decodeURIComponent(byHash[1]) : null;
  if (id) {
    current = new SearchView(id);
    current.start();
  } else {
    current = new ListView();
    current.start();
  }
}

api("/v1/meta").then((meta) => {
  META = meta;
  window.addEventListener("hashchange", route);
  route();
}, showError);
