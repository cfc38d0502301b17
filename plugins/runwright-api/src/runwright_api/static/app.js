// runwright observe pages: run forms, cancel/rerun buttons and the live run page (SSE).
"use strict";

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  return { ok: response.ok, status: response.status, data };
}

function explain(data) {
  if (!data) return "request failed";
  if (typeof data.detail === "string") return data.detail;
  if (Array.isArray(data.detail)) return data.detail.map((d) => (d.loc || []).join(".") + ": " + d.msg).join("; ");
  return data.error || "request failed";
}

function formParams(form) {
  const params = {};
  for (const element of form.querySelectorAll("[name]")) {
    const value = element.value;
    if (value === "") continue;  // leave it to the param's default
    params[element.name] = value;
  }
  return params;
}

function setupDialogs(root, skip) {
  // [data-open] buttons open their dialog, [data-close] close it; ``skip`` leaves a part alone
  for (const button of root.querySelectorAll("[data-open]")) {
    if (skip && button.closest(skip)) continue;
    button.addEventListener("click", () => {
      const dialog = document.getElementById(button.dataset.open);
      dialog.showModal();
      const first = dialog.querySelector("input, select, textarea, button[type=submit]");
      if (first) first.focus();
    });
  }
  for (const close of root.querySelectorAll("dialog [data-close]")) {
    if (skip && close.closest(skip)) continue;
    close.addEventListener("click", () => close.closest("dialog").close());
  }
}

function setupRunForms() {
  setupDialogs(document, "#run");  // the run page's own are set up with its actions
  for (const form of document.querySelectorAll("form.run-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector(".form-error");
      error.textContent = "";
      const name = encodeURIComponent(form.dataset.workflow);
      const body = { params: formParams(form) };
      const logicalDate = form.querySelector("[data-logical-date]");
      if (logicalDate && logicalDate.value) body.logical_date = logicalDate.value;
      const answer = await postJSON(`/api/v1/workflows/${name}/runs`, body);
      if (answer.ok) { window.location.href = `/runs/${answer.data.run_id}`; return; }
      error.textContent = explain(answer.data);
    });
  }
}

function setupRerunForm(root) {
  setupDialogs(root, null);
  for (const form of root.querySelectorAll("form.rerun-form")) {
    let fromFailed = true;
    for (const button of form.querySelectorAll("button[data-from-failed]")) {
      button.addEventListener("click", () => { fromFailed = button.dataset.fromFailed === "true"; });
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector(".form-error");
      error.textContent = "";
      const params = {};  // only what the person changed; a secret left empty is read again
      for (const element of form.querySelectorAll("[name]")) {
        if (element.value === "" || element.value === element.dataset.original) continue;
        params[element.name] = element.value;
      }
      const answer = await postJSON(`/api/v1/runs/${form.dataset.run}/rerun`, { params, from_failed: fromFailed });
      if (answer.ok) { window.location.href = `/runs/${answer.data.run_id}`; return; }
      error.textContent = explain(answer.data);
    });
  }
}

const LIVE_TAIL_LINES = 500;

function tailLine(event) {
  const stamp = new Date((event.time || 0) * 1000).toTimeString().slice(0, 8);
  const where = [event.job, event.strategy, event.stage].filter(Boolean).join("/");
  let text = `${stamp} ${where || event.workflow || ""} ${event.event || ""}`;
  if (event.message) text += `: ${event.message}`;
  for (const e of event.errors || []) text += `: ${e.name || "Error"}: ${e.message || ""}`;
  return text + "\n";
}

function setupRunActions(root) {
  setupRerunForm(root);
  for (const button of root.querySelectorAll("[data-action]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const error = root.querySelector("#run-actions .form-error");
      const answer = await postJSON(`/api/v1/runs/${button.dataset.run}/${button.dataset.action}`);
      if (!answer.ok) { button.disabled = false; if (error) error.textContent = explain(answer.data); return; }
      if (button.dataset.action === "rerun") { window.location.href = `/runs/${answer.data.run_id}`; }
    });
  }
}

function setupLiveRun() {
  const run = document.getElementById("run");
  if (!run) return;
  setupRunActions(run);
  if (run.dataset.status !== "RUNNING" || !window.EventSource) return;
  const runId = run.dataset.runId;
  let pending = null;
  async function refresh() {
    pending = null;
    const response = await fetch(`/runs/${runId}/fragment`, { credentials: "same-origin" });
    if (!response.ok) return;
    const open = new Set([...run.querySelectorAll("details[open] summary")].map((s) => s.textContent));
    run.innerHTML = await response.text();
    for (const summary of run.querySelectorAll("details summary")) {
      if (open.has(summary.textContent)) summary.parentElement.open = true;
    }
    const badge = run.querySelector("#run-status");
    if (badge) run.dataset.status = badge.textContent.trim();
    setupRunActions(run);
  }
  const tail = document.getElementById("live-tail");
  function follow() {
    const source = new EventSource(`/api/v1/runs/${runId}/logs`);
    source.addEventListener("log", (message) => {
      if (tail) {
        tail.append(tailLine(JSON.parse(message.data)));
        while (tail.childNodes.length > LIVE_TAIL_LINES) tail.firstChild.remove();
        tail.scrollTop = tail.scrollHeight;
      }
      if (!pending) pending = setTimeout(refresh, 250);
    });
    source.addEventListener("end", (message) => {
      source.close();
      const status = JSON.parse(message.data || "{}").status;
      if (status === "RUNNING") { if (tail) tail.textContent = ""; follow(); return; }  // a stream's time ran out
      setTimeout(refresh, 50);
    });
    source.onerror = () => { source.close(); setTimeout(refresh, 500); };
  }
  follow();
}

function setupPauseButtons() {
  // pause/unpause on the workflow listing: the API's endpoints, so its auth and site checks apply
  for (const button of document.querySelectorAll("[data-pause]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const action = button.dataset.paused === "true" ? "unpause" : "pause";
      const answer = await postJSON(`/api/v1/workflows/${encodeURIComponent(button.dataset.pause)}/${action}`);
      if (answer.ok) { window.location.reload(); return; }
      button.disabled = false;
      const error = button.parentElement.querySelector(".form-error");
      if (error) error.textContent = explain(answer.data);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupRunForms();
  setupPauseButtons();
  setupLiveRun();
});
