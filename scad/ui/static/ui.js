// scad's web view: live tables, the live log, and the actions. Every value the
// server sends is put in the page as text (textContent), never as markup.
"use strict";

const csrf = document.querySelector('meta[name="scad-csrf"]').content;

function cellNode(cell) {
  if (typeof cell === "object" && cell !== null) {
    const link = document.createElement("a");
    link.textContent = cell.text;
    const own = ownAddress(cell.href);
    if (own !== null) link.href = own;
    return link;
  }
  return document.createTextNode(String(cell));
}

// The address ``href`` leads to if it is one of the server's own pages, else null:
// resolved as the browser resolves it (``/\host`` is another host to it), and
// compared by origin (a ``javascript:`` or ``data:`` address has none).
function ownAddress(href) {
  if (typeof href !== "string" || location.origin === "null") return null;
  let url;
  try {
    url = new URL(href, location.href);
  } catch {
    return null;
  }
  return url.origin === location.origin ? url.href : null;
}

function fillTable(table, rows) {
  const body = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const cell of row) {
      const td = document.createElement("td");
      td.appendChild(cellNode(cell));
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  table.replaceChild(body, table.tBodies[0]);
}

async function poll(source, tables) {
  try {
    const answer = await fetch(source, { credentials: "same-origin", cache: "no-store" });
    if (answer.ok) {
      const view = await answer.json();
      for (const table of tables) {
        if (view.tables && view.tables[table.id]) fillTable(table, view.tables[table.id]);
      }
      for (const [id, text] of Object.entries(view.text || {})) {
        const element = document.getElementById(id);
        if (element) element.textContent = text;
      }
    }
  } finally {
    setTimeout(() => poll(source, tables), 1000);
  }
}

function startLiveTables() {
  const bySource = new Map();
  for (const table of document.querySelectorAll("table[data-live]")) {
    const source = table.dataset.live;
    if (!bySource.has(source)) bySource.set(source, []);
    bySource.get(source).push(table);
  }
  for (const [source, tables] of bySource) setTimeout(() => poll(source, tables), 1000);
}

function followLog() {
  const log = document.getElementById("log");
  if (!log) return;
  const url = log.dataset.events + "?offset=" + encodeURIComponent(log.dataset.offset);
  const events = new EventSource(url);
  events.onmessage = (message) => {
    const lines = JSON.parse(message.data);
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    for (const line of lines) log.appendChild(document.createTextNode(line + "\n"));
    log.dataset.offset = message.lastEventId;
    if (atEnd) log.scrollTop = log.scrollHeight;
  };
}

function startActions() {
  const result = document.getElementById("action-result");
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      if (!window.confirm(button.dataset.confirm)) return;
      button.disabled = true;
      result.textContent = "…";
      try {
        const answer = await fetch(button.dataset.action, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-Scad-Csrf": csrf },
        });
        const text = await answer.text();
        result.textContent = (answer.ok ? "done: " : "failed: ") + text;
        result.className = answer.ok ? "ok" : "failed";
      } catch (error) {
        result.textContent = "failed: " + error;
        result.className = "failed";
      } finally {
        button.disabled = false;
      }
    });
  }
}

// The timeline is an image the server draws: asked again at the page's width
// every few seconds while the page is open.
function refreshTimeline() {
  const image = document.getElementById("timeline-image");
  if (!image) return;
  const draw = () => {
    const width = Math.round(image.parentElement.clientWidth || 1200);
    image.src = image.dataset.src + "?width=" + width + "&at=" + Date.now();
  };
  draw();
  setInterval(draw, 5000);
}

startLiveTables();
refreshTimeline();
followLog();
startActions();
