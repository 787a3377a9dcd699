/**
 * The live dashboard: one self-contained page (inline HTML, CSS and JS; no
 * CDN) served at `/`. It reads the viewer token from `/?token=…`, drops it
 * from the address bar, keeps it in memory, and follows `/api/events`
 * (server-sent events) to redraw the queues, a chart of the last minutes, the
 * jobs reporting progress and the connected workers without reloading.
 *
 * With the viewer token it only reads. An operator who enters the god's key
 * (or a worker key that may manage the queues) in the page unlocks the
 * operator panel: the page then signs requests in the browser with the
 * library's own HTTP client (`/operator.js`, lib/http/operator/), the key
 * held in the tab's memory only, and can pause and resume queues, purge them,
 * look at waiting, in-flight and dead jobs with their payloads, progress and
 * attempt history, and requeue or delete dead letters. Everything shown is
 * set with `textContent`: what clients control is never parsed as HTML.
 */

const STYLE = `
:root { --bg:#0f1419; --panel:#171d24; --line:#263040; --text:#e6edf3; --dim:#8b98a8;
  --put:#4fa3ff; --ack:#3fcf8e; --ready:#f2b84b; --flight:#c58af9; --bad:#ff6b6b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text);
  font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display:flex; align-items:center; gap:16px; padding:14px 24px;
  border-bottom:1px solid var(--line); background:var(--panel); }
header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
header .meta { color:var(--dim); font-size:13px; }
#status { margin-left:auto; font-size:13px; display:flex; align-items:center; gap:6px; }
#status .dot { width:9px; height:9px; border-radius:50%; background:var(--bad); }
#status.live .dot { background:var(--ack); }
main { padding:20px 24px; display:grid; gap:20px; grid-template-columns: 1fr 1fr; max-width:1400px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:14px 16px; }
section.wide { grid-column: 1 / -1; }
h2 { font-size:13px; text-transform:uppercase; letter-spacing:.8px; color:var(--dim); margin:0 0 10px; }
table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
th, td { padding:6px 8px; text-align:right; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--dim); font-weight:500; font-size:12px; }
th:first-child, td:first-child { text-align:left; }
td.text { text-align:left; }
tr.deadq td { color:var(--dim); }
td.warn { color:var(--bad); font-weight:600; }
.cards { display:flex; gap:12px; flex-wrap:wrap; margin-bottom:4px; }
.card { flex:1; min-width:120px; background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px 12px; }
.card .v { font-size:22px; font-weight:600; font-variant-numeric: tabular-nums; }
.card .k { color:var(--dim); font-size:12px; }
svg { width:100%; height:180px; display:block; }
.legend { display:flex; gap:14px; font-size:12px; color:var(--dim); margin-top:6px; }
.legend i { display:inline-block; width:10px; height:3px; margin-right:5px; vertical-align:middle; }
.empty { color:var(--dim); font-style:italic; padding:8px; }
#login { max-width:520px; margin:60px auto; }
#login input { width:100%; padding:8px; margin:8px 0; background:var(--bg); color:var(--text);
  border:1px solid var(--line); border-radius:4px; font:inherit; }
#login button { padding:8px 14px; background:var(--put); color:#fff; border:0; border-radius:4px; font:inherit; cursor:pointer; }
.hidden { display:none !important; }
button.op { padding:3px 9px; margin-left:4px; background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:4px; font:inherit; font-size:12px; cursor:pointer; }
button.op:hover { border-color:var(--put); }
button.op.danger:hover { border-color:var(--bad); color:var(--bad); }
#operator-form input { padding:6px; width:320px; background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:4px; font:inherit; }
#operator-state { color:var(--dim); margin-left:10px; }
#operator-error { color:var(--bad); min-height:1.4em; white-space:pre-wrap; }
pre.payload { background:var(--bg); border:1px solid var(--line); border-radius:4px; padding:8px; max-height:240px; overflow:auto; white-space:pre-wrap; word-break:break-all; text-align:left; }
td.history { text-align:left; color:var(--dim); font-size:12px; white-space:normal; }
.ops-only { display:none; }
body.operator .ops-only { display:revert; }
`;

const SCRIPT = `
"use strict";
(function () {
  var WINDOW_MS = 10 * 60 * 1000;
  var token = null;
  var source = null;
  var series = []; // { t, put, acked, ready, inFlight } summed over live queues
  var last = null; // previous totals { t, put, acked }

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function fmt(n) {
    if (typeof n !== "number" || !isFinite(n)) return "–";
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return n % 1 === 0 ? String(n) : n.toFixed(1);
  }
  function ago(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  }
  function isDeadQueue(name) { return /\\.dead$/.test(name); }

  function sum(queues, pick) {
    var total = 0;
    for (var name in queues) if (!isDeadQueue(name)) total += pick(queues[name]);
    return total;
  }
  function addPoint(t, put, acked, ready, inFlight) {
    var point = { t: t, ready: ready, inFlight: inFlight, put: 0, acked: 0 };
    if (last && t > last.t) {
      point.put = Math.max(0, (put - last.put) * 1000 / (t - last.t));
      point.acked = Math.max(0, (acked - last.acked) * 1000 / (t - last.t));
    }
    last = { t: t, put: put, acked: acked };
    series.push(point);
    while (series.length && series[0].t < t - WINDOW_MS) series.shift();
  }

  function onHistory(data) {
    series = []; last = null;
    // Each sample is already summed over the live queues by the god.
    data.samples.forEach(function (s) { addPoint(s.t, s.put, s.acked, s.ready, s.inFlight); });
  }

  function onStats(data) {
    var stats = data.stats;
    var server = stats.server;
    $("god").textContent = server.name;
    $("meta").textContent = server.runtime + " · up " + ago(server.uptimeMs) + " · store: " +
      server.store.kind + (server.store.fsync ? " (fsync " + server.store.fsync + ")" : "") +
      (typeof server.store.journalBytes === "number" ? " · journal " + fmt(server.store.journalBytes) + "B" : "");
    var byName = {};
    stats.queues.forEach(function (q) { byName[q.name] = { put: q.totals.put, acked: q.totals.acked, ready: q.ready, inFlight: q.inFlight }; });
    addPoint(data.now, sum(byName, function (q) { return q.put; }), sum(byName, function (q) { return q.acked; }),
      sum(byName, function (q) { return q.ready; }), sum(byName, function (q) { return q.inFlight; }));
    renderCards(stats);
    renderQueues(stats.queues);
    renderProgress(stats.queues, data.now);
    renderQueueChoice(stats.queues);
    renderConnections(stats.connections, data.now);
    renderChart();
  }

  function renderCards(stats) {
    var live = stats.queues.filter(function (q) { return !isDeadQueue(q.name); });
    var total = function (pick) { return live.reduce(function (a, q) { return a + pick(q); }, 0); };
    var values = {
      depth: total(function (q) { return q.ready + q.delayed; }),
      inflight: total(function (q) { return q.inFlight; }),
      dead: total(function (q) { return q.dead; }),
      putrate: total(function (q) { return q.rates.put; }),
      ackrate: total(function (q) { return q.rates.acked; }),
      workers: stats.connections.length
    };
    for (var k in values) $("card-" + k).textContent = fmt(values[k]);
  }

  function queueState(q) {
    if (q.paused) return "paused";
    if (!q.rateLimit) return "";
    return (q.throttled ? "throttled " : "limit ") + q.rateLimit.count + "/" + ago(q.rateLimit.perMs);
  }
  var COLUMNS = [
    ["state", "state"], ["ready", "ready"], ["delayed", "delayed"], ["inFlight", "in flight"], ["dead", "dead"],
    ["consumers", "consumers"], ["waitingGets", "waiting gets"], ["putRate", "put/s"],
    ["ackRate", "ack/s"], ["put", "put"], ["acked", "acked"], ["redelivered", "redelivered"]
  ];
  function renderQueues(queues) {
    var body = $("queues");
    body.textContent = "";
    if (!queues.length) { var r = el("tr"); r.appendChild(el("td", { colspan: "13", class: "empty" }, "no queues")); body.appendChild(r); return; }
    queues.forEach(function (q) {
      var row = el("tr", { "data-queue": q.name });
      if (isDeadQueue(q.name)) row.className = "deadq";
      row.appendChild(el("td", { "data-field": "name" }, q.name));
      var values = {
        state: queueState(q), ready: q.ready, delayed: q.delayed, inFlight: q.inFlight, dead: q.dead, consumers: q.consumers,
        waitingGets: q.waitingGets, putRate: q.rates.put, ackRate: q.rates.acked,
        put: q.totals.put, acked: q.totals.acked, redelivered: q.totals.redelivered
      };
      COLUMNS.forEach(function (c) {
        var cell = el("td", { "data-field": c[0] }, c[0] === "state" ? values.state : fmt(values[c[0]]));
        if (c[0] === "dead" && values.dead > 0) cell.className = "warn";
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
  }

  /** A value as indented JSON: bigints, Maps and Sets spelled out. */
  function show(value) {
    var text = JSON.stringify(value, function (_k, v) {
      if (typeof v === "bigint") return v.toString() + "n";
      if (v instanceof Map) return { "Map": Array.from(v.entries()) };
      if (v instanceof Set) return { "Set": Array.from(v.values()) };
      if (v === undefined) return null;
      return v;
    }, 2);
    return text === undefined ? "undefined" : text;
  }
  /** The value of superjson text as stats carry progress, for showing. */
  function fromSuperjson(text) {
    try { var parsed = JSON.parse(text); return parsed && typeof parsed === "object" && "json" in parsed ? parsed.json : parsed; }
    catch (e) { return text; }
  }

  function renderProgress(queues, now) {
    var body = $("progress");
    body.textContent = "";
    var rows = [];
    queues.forEach(function (q) { (q.progress || []).forEach(function (p) { rows.push({ q: q.name, p: p }); }); });
    if (!rows.length) { var r = el("tr"); r.appendChild(el("td", { colspan: "5", class: "empty" }, "no job in flight reported progress")); body.appendChild(r); return; }
    rows.forEach(function (x) {
      var row = el("tr", { "data-progress": x.p.id });
      row.appendChild(el("td", {}, x.q));
      row.appendChild(el("td", { class: "text" }, x.p.id));
      row.appendChild(el("td", { class: "text" }, x.p.by));
      row.appendChild(el("td", { class: "text", "data-field": "value" }, show(fromSuperjson(x.p.value))));
      row.appendChild(el("td", {}, ago(now - x.p.at)));
      body.appendChild(row);
    });
  }

  // -- the operator panel: signed requests made in this tab, the key in memory only --

  var operator = null;
  var known = "";
  function renderQueueChoice(queues) {
    var names = queues.map(function (q) { return q.name; });
    if (names.join("\\n") === known) return;
    known = names.join("\\n");
    var select = $("op-queue");
    var chosen = select.value;
    select.textContent = "";
    names.forEach(function (name) { select.appendChild(el("option", { value: name }, name)); });
    if (names.indexOf(chosen) >= 0) select.value = chosen;
  }
  function opSay(text, failed) {
    $("operator-error").textContent = failed ? text : "";
    $("operator-said").textContent = failed ? "" : text;
  }
  function opFail(error) { opSay(String((error && error.message) || error), true); }
  function unlock(key) {
    if (!window.taskwireOperator) { opFail("the operator client (/operator.js) did not load"); return; }
    $("operator-state").textContent = "checking the key…";
    window.taskwireOperator.connect(key).then(function (client) {
      operator = client;
      document.body.classList.add("operator");
      $("operator-state").textContent = "unlocked: requests are signed in this tab, the key is kept in its memory only";
      opSay("");
    }).catch(function (error) {
      $("operator-state").textContent = "locked";
      opFail(error);
    });
  }
  function lock() {
    if (operator) operator.close().catch(function () {});
    operator = null;
    document.body.classList.remove("operator");
    $("operator-state").textContent = "locked";
    $("op-jobs").textContent = "";
  }
  function chosenQueue() { return $("op-queue").value; }
  function act(run, said) {
    if (!operator) return;
    var queue = chosenQueue();
    run(operator, queue).then(function (result) {
      opSay(said(queue, result));
      if (shownList) showJobs(shownList);
    }).catch(opFail);
  }
  var purgeArmed = 0;
  function purge() {
    if (Date.now() - purgeArmed > 5000) {
      purgeArmed = Date.now();
      opSay("click purge again within 5 s to remove every waiting job of " + chosenQueue());
      return;
    }
    purgeArmed = 0;
    act(function (c, q) { return c.purge(q); }, function (q, n) { return "purged " + n + " jobs from " + q; });
  }

  var shownList = null;
  var LISTS = {
    waiting: function (c, q) { return c.peek(q, 50); },
    inflight: function (c, q) { return c.inFlight(q, 50); },
    dead: function (c, q) { return c.deadList(q, 100); }
  };
  function showJobs(kind) {
    if (!operator) return;
    shownList = kind;
    var queue = chosenQueue();
    LISTS[kind](operator, queue).then(function (jobs) { renderJobs(kind, queue, jobs); }).catch(opFail);
  }
  function button(text, onClick, danger) {
    var b = el("button", { type: "button", class: "op" + (danger ? " danger" : "") }, text);
    b.addEventListener("click", onClick);
    return b;
  }
  function renderJobs(kind, queue, jobs) {
    var box = $("op-jobs");
    box.textContent = "";
    var title = { waiting: "Waiting jobs of ", inflight: "Jobs in flight of ", dead: "Dead letters of " }[kind];
    var h = el("h2", {}, title + queue + " (" + jobs.length + ")");
    box.appendChild(h);
    if (kind === "dead" && jobs.length) {
      box.appendChild(button("requeue all", function () {
        act(function (c, q) { return c.deadRequeue(q); }, function (q, n) { return "requeued " + n + " dead letters to " + q; });
      }));
      box.appendChild(button("delete all", function () {
        act(function (c, q) { return c.deadDelete(q); }, function (q, n) { return "deleted " + n + " dead letters of " + q; });
      }, true));
    }
    var table = el("table", { id: "jobs-" + kind });
    var head = el("tr");
    var cols = ["id", "attempts", kind === "dead" ? "reason" : kind === "inflight" ? "held by / progress" : "priority", kind === "dead" ? "attempts that failed" : "", ""];
    cols.forEach(function (c) { head.appendChild(el("th", {}, c)); });
    table.appendChild(head);
    if (!jobs.length) { var r = el("tr"); r.appendChild(el("td", { colspan: "5", class: "empty" }, "none")); table.appendChild(r); }
    jobs.forEach(function (job) {
      var row = el("tr", { "data-job": job.id });
      row.appendChild(el("td", { class: "text" }, job.id));
      row.appendChild(el("td", {}, fmt(job.attempts)));
      var info = kind === "dead" ? (job.reason || "") : kind === "inflight"
        ? (job.by || "?") + (job.progressAt ? " · " + show(job.progress) : "") : fmt(job.priority);
      row.appendChild(el("td", { class: "text", "data-field": "info" }, info));
      var history = el("td", { class: "history", "data-field": "history" });
      (job.history || []).forEach(function (a, i) {
        history.appendChild(el("div", {}, (i + 1) + ". " + new Date(a.at).toISOString() + " " + (a.by || "?") + ": " + a.why));
      });
      row.appendChild(history);
      var actions = el("td");
      var pre = el("pre", { class: "payload hidden", "data-field": "payload" }, job.error ? "undecodable: " + job.error : show(job.value));
      actions.appendChild(button("payload", function () { pre.classList.toggle("hidden"); }));
      if (kind === "dead") {
        actions.appendChild(button("requeue", function () {
          act(function (c, q) { return c.deadRequeue(q, [job.id]); }, function (q, n) { return "requeued " + n + " dead letter to " + q; });
        }));
        actions.appendChild(button("delete", function () {
          act(function (c, q) { return c.deadDelete(q, [job.id]); }, function (q, n) { return "deleted " + n + " dead letter of " + q; });
        }, true));
      }
      actions.appendChild(pre);
      row.appendChild(actions);
      table.appendChild(row);
    });
    box.appendChild(table);
  }

  $("operator-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = $("operator-key");
    var key = input.value;
    input.value = ""; // the key lives on in the client's CryptoKey only
    if (key) unlock(key);
  });
  $("op-lock").addEventListener("click", lock);
  $("op-pause").addEventListener("click", function () {
    act(function (c, q) { return c.pause(q); }, function (q) { return "paused " + q; });
  });
  $("op-resume").addEventListener("click", function () {
    act(function (c, q) { return c.resume(q); }, function (q) { return "resumed " + q; });
  });
  $("op-purge").addEventListener("click", purge);
  $("op-waiting").addEventListener("click", function () { showJobs("waiting"); });
  $("op-inflight").addEventListener("click", function () { showJobs("inflight"); });
  $("op-dead").addEventListener("click", function () { showJobs("dead"); });

  function renderConnections(connections, now) {
    var body = $("connections");
    body.textContent = "";
    var roles = {};
    connections.forEach(function (c) { roles[c.role] = (roles[c.role] || 0) + 1; });
    $("roles").textContent = Object.keys(roles).sort().map(function (r) { return roles[r] + " " + r + (roles[r] === 1 ? "" : "s"); }).join(" · ") || "nobody connected";
    if (!connections.length) { var r = el("tr"); r.appendChild(el("td", { colspan: "7", class: "empty" }, "no producers or consumers connected")); body.appendChild(r); return; }
    connections.slice().sort(function (a, b) { return a.role < b.role ? -1 : a.role > b.role ? 1 : a.name < b.name ? -1 : 1; })
      .forEach(function (c) {
        var row = el("tr", { "data-role": c.role });
        row.appendChild(el("td", {}, c.role));
        row.appendChild(el("td", { class: "text" }, c.name));
        row.appendChild(el("td", { class: "text" }, c.runtime));
        row.appendChild(el("td", { class: "text" }, c.transport || "tcp"));
        row.appendChild(el("td", { class: "text" }, c.remote));
        row.appendChild(el("td", {}, ago(now - Date.parse(c.connectedAt))));
        row.appendChild(el("td", {}, fmt(c.leases)));
        body.appendChild(row);
      });
  }

  var SVGNS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVGNS, tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    return node;
  }
  function drawLines(svg, lines) {
    svg.textContent = "";
    var W = 600, H = 180, L = 44, B = 20, T = 8;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var now = series.length ? series[series.length - 1].t : Date.now();
    // The window grows with the data, from one minute up to ten.
    var span = Math.min(WINDOW_MS, Math.max(60000, series.length ? now - series[0].t : 0));
    var max = 1;
    lines.forEach(function (line) { series.forEach(function (p) { max = Math.max(max, line.pick(p)); }); });
    max = niceMax(max);
    var x = function (t) { return L + (W - L - 4) * (1 - (now - t) / span); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    for (var i = 0; i <= 5; i++) {
      var v = max * i / 5;
      svg.appendChild(svgEl("line", { x1: L, x2: W - 4, y1: y(v), y2: y(v), stroke: "#263040", "stroke-width": 1 }));
      var label = svgEl("text", { x: L - 6, y: y(v) + 4, fill: "#8b98a8", "font-size": 11, "text-anchor": "end" });
      label.textContent = fmt(v);
      svg.appendChild(label);
    }
    for (var k = 0; k <= 4; k++) {
      var back = span * k / 4;
      var anchor = k === 0 ? "end" : k === 4 ? "start" : "middle";
      var tx = svgEl("text", { x: x(now - back), y: H - 4, fill: "#8b98a8", "font-size": 11, "text-anchor": anchor });
      tx.textContent = k === 0 ? "now" : back >= 60000 ? "-" + +(back / 60000).toFixed(1) + "m" : "-" + Math.round(back / 1000) + "s";
      svg.appendChild(tx);
    }
    lines.forEach(function (line) {
      if (series.length < 2) return;
      var d = series.map(function (p, i) { return (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(line.pick(p)).toFixed(1); }).join(" ");
      svg.appendChild(svgEl("path", { d: d, fill: "none", stroke: line.color, "stroke-width": 2, "stroke-linejoin": "round" }));
    });
  }
  function niceMax(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var n = v / p;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
  }
  function renderChart() {
    drawLines($("rates"), [
      { pick: function (p) { return p.put; }, color: "#4fa3ff" },
      { pick: function (p) { return p.acked; }, color: "#3fcf8e" }
    ]);
    drawLines($("depth"), [
      { pick: function (p) { return p.ready; }, color: "#f2b84b" },
      { pick: function (p) { return p.inFlight; }, color: "#c58af9" }
    ]);
  }

  function setStatus(live, text) {
    $("status").className = live ? "live" : "";
    $("status-text").textContent = text;
  }

  function start(t) {
    token = t;
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    if (source) source.close();
    source = new EventSource("/api/events?token=" + encodeURIComponent(token));
    source.addEventListener("open", function () { setStatus(true, "live"); });
    source.addEventListener("history", function (e) { onHistory(JSON.parse(e.data)); });
    source.addEventListener("stats", function (e) { setStatus(true, "live"); onStats(JSON.parse(e.data)); });
    source.addEventListener("error", function () {
      setStatus(false, "reconnecting…");
      fetch("/api/stats", { headers: { authorization: "Bearer " + token } }).then(function (r) {
        if (r.status === 401) { source.close(); setStatus(false, "bad token"); showLogin("That token was refused: use the viewer token the god printed at start."); }
      }).catch(function () {});
    });
  }
  function showLogin(message) {
    $("login").classList.remove("hidden");
    $("app").classList.add("hidden");
    if (message) $("login-message").textContent = message;
  }

  var params = new URLSearchParams(location.search || location.hash.slice(1));
  var fromUrl = params.get("token");
  if (fromUrl) {
    history.replaceState(null, "", location.pathname); // keep the token out of the address bar and history
    start(fromUrl);
  } else {
    showLogin();
  }
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var value = $("login-token").value.trim();
    if (value) start(value);
  });
})();
`;

const BODY = `
<header>
  <h1>taskwire</h1>
  <span><strong id="god">god</strong> <span class="meta" id="meta"></span></span>
  <span id="status"><span class="dot"></span><span id="status-text">connecting…</span></span>
</header>
<div id="login" class="hidden">
  <section>
    <h2>Viewer token</h2>
    <p id="login-message">Open this page as <code>/?token=VIEWER_TOKEN</code>, or paste the viewer token the god printed at start. It is read-only and kept in memory only.</p>
    <form id="login-form" action="#"><input id="login-token" type="password" autocomplete="off" placeholder="viewer token"><button type="submit">Open dashboard</button></form>
  </section>
</div>
<main id="app" class="hidden">
  <section class="wide">
    <div class="cards">
      <div class="card"><div class="v" id="card-depth">–</div><div class="k">waiting jobs</div></div>
      <div class="card"><div class="v" id="card-inflight">–</div><div class="k">in flight</div></div>
      <div class="card"><div class="v" id="card-dead">–</div><div class="k">dead letters</div></div>
      <div class="card"><div class="v" id="card-putrate">–</div><div class="k">put / s</div></div>
      <div class="card"><div class="v" id="card-ackrate">–</div><div class="k">ack / s</div></div>
      <div class="card"><div class="v" id="card-workers">–</div><div class="k">connected</div></div>
    </div>
  </section>
  <section>
    <h2>Throughput, last minutes</h2>
    <svg id="rates" role="img" aria-label="put and ack rates"></svg>
    <div class="legend"><span><i style="background:var(--put)"></i>put/s</span><span><i style="background:var(--ack)"></i>ack/s</span></div>
  </section>
  <section>
    <h2>Depth, last minutes</h2>
    <svg id="depth" role="img" aria-label="ready and in-flight jobs"></svg>
    <div class="legend"><span><i style="background:var(--ready)"></i>ready</span><span><i style="background:var(--flight)"></i>in flight</span></div>
  </section>
  <section class="wide">
    <h2>Queues</h2>
    <table>
      <thead><tr><th>queue</th><th>state</th><th>ready</th><th>delayed</th><th>in flight</th><th>dead</th><th>consumers</th><th>waiting gets</th><th>put/s</th><th>ack/s</th><th>put</th><th>acked</th><th>redelivered</th></tr></thead>
      <tbody id="queues"></tbody>
    </table>
  </section>
  <section class="wide">
    <h2>Jobs reporting progress</h2>
    <table>
      <thead><tr><th>queue</th><th style="text-align:left">job</th><th style="text-align:left">held by</th><th style="text-align:left">progress</th><th>reported</th></tr></thead>
      <tbody id="progress"></tbody>
    </table>
  </section>
  <section class="wide" id="operator">
    <h2>Operator <span id="operator-state">locked</span></h2>
    <form id="operator-form" action="#" autocomplete="off">
      <input id="operator-key" type="password" autocomplete="off" placeholder="the god's key, or a worker key that may manage queues">
      <button type="submit" class="op">unlock</button>
      <button type="button" class="op ops-only" id="op-lock">lock</button>
    </form>
    <p class="meta">The viewer token only reads. To act, enter the key: it stays in this tab's memory and signs each request here; it is never sent or stored.</p>
    <div class="ops-only">
      <select id="op-queue"></select>
      <button type="button" class="op" id="op-pause">pause</button>
      <button type="button" class="op" id="op-resume">resume</button>
      <button type="button" class="op danger" id="op-purge">purge</button>
      <button type="button" class="op" id="op-waiting">waiting jobs</button>
      <button type="button" class="op" id="op-inflight">in flight</button>
      <button type="button" class="op" id="op-dead">dead letters</button>
      <span id="operator-said"></span>
    </div>
    <div id="operator-error"></div>
    <div id="op-jobs" class="ops-only"></div>
  </section>
  <section class="wide">
    <h2>Producers and consumers · <span id="roles"></span></h2>
    <table>
      <thead><tr><th>role</th><th style="text-align:left">name</th><th style="text-align:left">runtime</th><th style="text-align:left">via</th><th style="text-align:left">address</th><th>connected</th><th>leases</th></tr></thead>
      <tbody id="connections"></tbody>
    </table>
  </section>
</main>
`;

/** The whole page, served as is. */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>taskwire dashboard</title>
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script src="/operator.js"></script>
<script>${SCRIPT}</script>
</body>
</html>
`;
