"""The operators' page: the GPU fleet and the failed jobs, in a browser. The page itself holds no data and needs
no key; the operator signs in with an operator key, which the page keeps in the tab's sessionStorage and sends
as a bearer header to `/api/v1/admin/gpu-workers` and `/api/v1/admin/jobs`: never in a URL, so never in a log."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(prefix="/api/v1/admin", include_in_schema=False)

# No inline script: the page runs only the script served beside it (and so does nothing a stored string injects).
SECURITY = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>comfyloom: GPU fleet</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
  td { white-space: pre-line; }
  .polling { color: #0a7d2c; } .stopped { color: #8a6d00; } .not_polling { color: #b00020; }
  .refuses { color: #b00020; } .renders { color: #0a7d2c; }
  #error { color: #b00020; } [hidden] { display: none; }
</style>
</head>
<body>
<h1>comfyloom: GPU fleet</h1>
<form id="login">
  <label>Operator key <input id="key" type="password" autocomplete="off" required></label>
  <button type="submit">Sign in</button>
</form>
<p id="error" role="alert"></p>
<main id="fleet" hidden>
  <p><button id="logout" type="button">Sign out</button> <span id="updated"></span></p>
  <table>
    <thead><tr><th>GPU worker</th><th>State</th><th>ComfyUI</th><th>Templates</th><th>Last hour</th>
    <th>Now</th><th>Last seen</th></tr></thead>
    <tbody id="workers"></tbody>
  </table>
  <h2>Failed jobs</h2>
  <table>
    <thead><tr><th>Job</th><th>User</th><th>Kind</th><th>Why</th><th>When</th><th></th></tr></thead>
    <tbody id="failed"></tbody>
  </table>
</main>
<script src="/api/v1/admin/fleet.js"></script>
</body>
</html>
"""

SCRIPT = """"use strict";
const KEY = "comfyloom-operator-key";
const $ = (id) => document.getElementById(id);

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? s + " s ago" : Math.round(s / 60) + " min ago";
}

async function call(path, options) {
  const key = sessionStorage.getItem(KEY);
  const answer = await fetch(path, { ...options, headers: { Authorization: "Bearer " + key } });
  if (answer.status === 401 || answer.status === 403) {
    sessionStorage.removeItem(KEY);
    throw new Error("That key is not an operator's key.");
  }
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error ? body.error.message : "HTTP " + answer.status);
  return body;
}

function showWorkers(workers) {
  const body = $("workers");
  body.replaceChildren();
  if (!workers.length) {
    cell(body.insertRow(), "No GPU worker has been seen: the machine is off, asleep, or its worker is not running.");
  }
  for (const w of workers) {
    const row = body.insertRow();
    row.dataset.worker = w.workerId;
    cell(row, w.workerId + "\\n" + w.queue);
    cell(row, { polling: "polling", stopped: "stopped", not_polling: "stopped polling" }[w.state], w.state);
    cell(row, (w.comfyuiVersion ? "ComfyUI " + w.comfyuiVersion : "ComfyUI not reached") +
      (w.devices.length ? "\\n" + w.devices.join(", ") : "") +
      (Object.keys(w.packs).length ? "\\npacks: " + Object.keys(w.packs).join(", ") : ""));
    const templates = cell(row, "");
    for (const t of w.templates) {
      const line = document.createElement("div");
      line.className = t.renders ? "renders" : "refuses";
      line.textContent = t.template + (t.renders ? ": renders" : ": cannot render: " + t.reasons.join("; "));
      templates.append(line);
    }
    if (!w.templates.length) templates.textContent = w.problems.join("; ");
    cell(row, w.rendersLastHour + " renders, busy " + Math.round(w.busyLastHour * 100) + "%");
    cell(row, w.rendering.map((r) => (r.renderingSince ? "drawing " : "next: ") + r.template + " " +
      r.workflowId).join("\\n") || "idle");
    cell(row, ago(w.lastSeenAt));
  }
}

function showFailed(jobs) {
  const body = $("failed");
  body.replaceChildren();
  for (const j of jobs) {
    const row = body.insertRow();
    cell(row, j.jobId);
    cell(row, j.userId);
    cell(row, j.kind);
    cell(row, (j.reason || "?") + ": " + (j.error || ""));
    cell(row, ago(j.finishedAt || j.createdAt));
    const actions = cell(row, "");
    if (j.retriedAs) {
      actions.textContent = "retried as " + j.retriedAs;
    } else {
      const retry = document.createElement("button");
      retry.textContent = "Retry";
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try {
          await call("/api/v1/admin/jobs/" + j.jobId + "/retry", { method: "POST" });
          await refresh();
        } catch (e) {
          $("error").textContent = e.message;
        }
      });
      actions.append(retry);
    }
  }
}

async function refresh() {
  try {
    const [fleet, failed] = await Promise.all([call("/api/v1/admin/gpu-workers"), call("/api/v1/admin/jobs?limit=50")]);
    showWorkers(fleet.workers);
    showFailed(failed.items);
    $("error").textContent = "";
    $("login").hidden = true;
    $("fleet").hidden = false;
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("error").textContent = e.message;
    if (!sessionStorage.getItem(KEY)) { $("login").hidden = false; $("fleet").hidden = true; }
  }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key").value);
  $("key").value = "";
  refresh();
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  $("fleet").hidden = true;
  $("login").hidden = false;
});
if (sessionStorage.getItem(KEY)) refresh();
setInterval(() => { if (sessionStorage.getItem(KEY)) refresh(); }, 10000);
"""


@router.get("/fleet")
async def fleet_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers=SECURITY)


@router.get("/fleet.js")
async def fleet_script() -> Response:
    return Response(SCRIPT, media_type="text/javascript", headers=SECURITY)
