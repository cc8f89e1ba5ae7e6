// Facefleet dashboard: renders the coordinator's status API. Live through server-sent events (/api/v1/events),
// polling where EventSource is missing. Every string shown comes from records others wrote: it is only ever set as
// text (textContent), never parsed as HTML.
"use strict";

const GB = 1024 * 1024 * 1024;
let selected = decodeURIComponent(location.hash.slice(1)) || "";
let source = null;
let pollTimer = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}

function gb(b) { return (b / GB).toFixed(b < GB ? 2 : 1); }

function duration(s) {
  if (s == null || !isFinite(s)) return "";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

function gauge(label, used, total, cls) {
  const m = el("meter", { class: cls, min: "0", max: String(total || 1), value: String(Math.min(used, total || 1)),
    high: String(0.85 * (total || 1)), optimum: "0" });
  return el("div", { class: "gauge" },
    el("label", {}, el("span", { text: label }), el("span", { class: cls + "-figure", text: `${gb(used)} / ${gb(total)} GB` })), m);
}

function renderFleet(fleet) {
  const box = document.getElementById("fleet");
  const ws = (fleet && fleet.workers) || [];
  const q = fleet && fleet.queue;
  document.getElementById("queue").textContent = q ? `queue: ${q.pending} waiting, ${q.in_progress} in progress` : "";
  if (!ws.length) { box.replaceChildren(el("p", { class: "empty", text: "no workers are alive" })); return; }
  box.replaceChildren(...ws.map((w) => {
    const card = el("div", { class: "card worker-card", "data-worker": w.id },
      el("h3", {}, document.createTextNode(w.id + " "), el("span", { class: "host", text: w.host })));
    // The process tree's RSS against the budget it is kept to; an older worker that does not say its RSS shows
    // the RAM in use (its container's working set when limited).
    const budget = w.memory_budget || 0;
    const used = w.rss ? "RSS" : "RAM used";
    card.append(gauge(`memory (${used} / ${budget ? "budget" : "RAM"})`, w.rss || w.ram_used || 0,
      budget || w.ram_total || 0, "mem"));
    for (const g of w.gpus || []) {
      if (g.budget) card.append(gauge(`GPU ${g.index} planned / budget`, g.planned, g.budget, "gpu"));
      card.append(gauge(`GPU ${g.index} ${g.name} used`, g.mem_total - g.mem_free, g.mem_total, "gpu"));
    }
    const tasks = (w.tasks || []).join(", ") || "idle";
    card.append(el("div", { class: "facts" },
      el("span", { text: `batch@1080p ${w.batch_1080p}` }),
      el("span", { class: "fps", text: `${(w.fps || 0).toFixed(1)} fps` }),
      el("span", { text: `${w.slots} slot(s), ${w.cpus} CPU` }),
      el("span", { class: "tasks", text: `segments: ${tasks}` }),
      el("span", { text: `seen ${duration(w.seen_seconds)} ago` })));
    if (w.trouble) card.append(el("div", { class: "trouble", text: w.trouble }));
    return card;
  }));
}

function renderJobs(jobs) {
  const box = document.getElementById("jobs");
  if (!jobs || !jobs.length) { box.replaceChildren(el("p", { class: "empty", text: "no jobs" })); return; }
  box.replaceChildren(...jobs.map((j) => {
    const bar = el("progress", { class: "bar", "data-job": j.id, max: String(j.total_frames || 1), value: String(j.frames_done || 0) });
    const eta = j.eta_seconds != null ? `ETA ${duration(j.eta_seconds)}` : "";
    const note = j.error || j.waiting || j.warning || "";
    const row = el("div", { class: "job" + (j.id === selected ? " selected" : ""), "data-job": j.id, tabindex: "0" },
      el("div", { class: "line" },
        el("span", { class: "id", text: j.id }),
        el("span", { class: "state " + j.state, text: j.state }),
        el("span", { text: j.target || "" }),
        el("span", { class: "frames", text: `${j.frames_done}/${j.total_frames} frames (${(j.percent || 0).toFixed(1)}%)` }),
        el("span", { text: j.segments ? `${j.segments} segments` : "" }),
        el("span", { class: "eta", text: eta })),
      bar);
    if (note) row.append(el("div", { class: "note", text: note }));
    return row;
  }));
}

function renderDetail(d) {
  const sec = document.getElementById("detail");
  if (!selected || !d) { sec.hidden = true; return; }
  sec.hidden = false;
  document.getElementById("detail-id").textContent = d.job.id;
  const box = document.getElementById("timeline");
  if (!d.segments.length) { box.replaceChildren(el("p", { class: "empty", text: "not split yet" })); return; }
  box.replaceChildren(...d.segments.map((s) => {
    const retried = s.attempts > 1;
    const title = `segment ${s.index}: frames ${s.start_frame}-${s.end_frame - 1}, ${s.state}` +
      (s.worker ? ` on ${s.worker}` : "") + (s.attempts ? `, attempt ${s.attempts}` : "") +
      (s.seconds ? `, ${s.seconds.toFixed(1)} s` : "") + (s.note ? `; ${s.note}` : "");
    const e = el("span", { class: "seg " + s.state + (retried ? " retried" : ""), title, "data-segment": String(s.index) },
      document.createTextNode(String(s.index)), el("small", { text: s.worker || s.state }));
    return e;
  }));
}

function render(snap) {
  const errs = document.getElementById("errors");
  errs.hidden = !(snap.errors && snap.errors.length);
  errs.textContent = (snap.errors || []).join("; ");
  renderFleet(snap.fleet);
  renderJobs(snap.jobs);
  renderDetail(snap.job);
}

function status(text) { document.getElementById("conn").textContent = text; }

function connect() {
  if (source) source.close();
  if (pollTimer) clearTimeout(pollTimer);
  const q = selected ? "?job=" + encodeURIComponent(selected) : "";
  if (!window.EventSource) { poll(); return; }
  source = new EventSource("/api/v1/events" + q);
  source.onopen = () => status("live");
  source.onmessage = (ev) => { status("live"); render(JSON.parse(ev.data)); };
  source.onerror = () => status("reconnecting…");
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  return r.json();
}

async function poll() {
  try {
    const [jobs, fleet] = await Promise.all([getJSON("/api/v1/jobs"), getJSON("/api/v1/workers")]);
    const snap = { jobs: jobs.jobs || [], fleet, errors: [jobs.error, fleet.error].filter(Boolean) };
    if (selected) {
      const d = await getJSON("/api/v1/jobs/" + encodeURIComponent(selected));
      snap.job = d.job ? d : null;
    }
    render(snap);
    status("polling");
  } catch (e) {
    status("unreachable");
  }
  pollTimer = setTimeout(poll, 2000);
}

function select(id) {
  selected = selected === id ? "" : id;
  history.replaceState(null, "", selected ? "#" + encodeURIComponent(selected) : location.pathname);
  connect();
}

document.addEventListener("DOMContentLoaded", () => {
  const jobs = document.getElementById("jobs");
  jobs.addEventListener("click", (ev) => {
    const row = ev.target.closest(".job");
    if (row) select(row.dataset.job);
  });
  jobs.addEventListener("keydown", (ev) => {
    const row = ev.target.closest(".job");
    if (row && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); select(row.dataset.job); }
  });
  connect();
});
