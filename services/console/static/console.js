// The console's only script: live rows over server-sent events, and verdicts posted without leaving
// the page. Rows arrive rendered and escaped by the server (the same code as a reload); nothing here
// builds markup from data.
"use strict";

function insertRow(bodyId, data) {
  const body = document.getElementById(bodyId);
  if (!body) return;
  for (const old of body.querySelectorAll("tr[data-id]")) {
    if (old.dataset.id === data.id) old.remove();
  }
  const template = document.createElement("template");
  template.innerHTML = data.html;
  const row = template.content.firstElementChild;
  if (!row) return;
  row.classList.add("fresh");
  body.prepend(row);
  const empty = document.getElementById("alerts-empty");
  if (empty && bodyId === "alerts-body") empty.remove();
}

// Cells of rows already shown, rendered anew by the server (an incident named or renamed, an episode
// resolved): in each row whose data-<rows> is the key, the cell of that class takes the new content.
function renewCells(data) {
  for (const row of document.querySelectorAll(`tr[data-${data.rows}]`)) {
    const cell = row.getAttribute(`data-${data.rows}`) === data.key && row.querySelector(`td.${data.cell}`);
    if (!cell) continue;
    const template = document.createElement("template");
    template.innerHTML = data.html;
    cell.replaceChildren(template.content);
  }
}

function followLive(url) {
  const state = document.getElementById("live-state");
  const say = (text) => { if (state) state.textContent = text; };
  const source = new EventSource(url);
  source.onopen = () => { say("Live: new analyses appear at the top."); document.body.dataset.liveReady = "1"; };
  source.onerror = () => say("Live updates interrupted: reconnecting…");
  source.addEventListener("alert", (e) => insertRow("alerts-body", JSON.parse(e.data)));
  source.addEventListener("incident", (e) => insertRow("incidents-body", JSON.parse(e.data)));
  source.addEventListener("cells", (e) => renewCells(JSON.parse(e.data)));
  // A browser allows six connections per site: a page left open in the back-forward cache must
  // not keep its stream, or a few navigations later nothing loads.
  window.addEventListener("pagehide", () => source.close(), { once: true });
}

window.addEventListener("pageshow", (event) => {
  if (event.persisted && document.body.dataset.live) followLive(document.body.dataset.live);
});

function postVerdicts() {
  const token = document.querySelector('meta[name="csrf-token"]');
  for (const form of document.querySelectorAll("form.feedback-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = form.querySelector(".feedback-result");
      const body = new URLSearchParams(new FormData(form, event.submitter));
      try {
        const answer = await fetch(form.action, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { "X-CSRF-Token": token ? token.content : "" },
        });
        const reply = await answer.json();
        if (answer.ok) {
          result.textContent = "Saved, thank you.";
          form.dataset.saved = reply.id || "1";
          window.setTimeout(() => window.location.reload(), 400);
        } else {
          result.textContent = "Not saved: " + (reply.error || answer.status);
        }
      } catch (err) {
        result.textContent = "Not saved: " + err;
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.live) followLive(document.body.dataset.live);
  postVerdicts();
});
