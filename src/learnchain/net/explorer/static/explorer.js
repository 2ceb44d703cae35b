// learnchain explorer: local times, and live updates of the home page over server-sent
// events (/explorer/events). Plain browser APIs only: no framework, nothing fetched.
"use strict";

function localTime(ms) {
  return new Date(Number(ms)).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
}

function short(text, n) {
  n = n || 10;
  return text.length <= 2 * n + 1 ? text : text.slice(0, n + 2) + "\u2026" + text.slice(-6);
}

function link(href, text, mono) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  if (mono) a.className = "mono";
  return a;
}

function cell(row, child) {
  const td = row.insertCell();
  if (typeof child === "string") td.textContent = child; else td.appendChild(child);
  return td;
}

function addBlock(block, limit) {
  const body = document.querySelector("#blocks tbody");
  if (!body || body.querySelector('tr[data-hash="' + block.hash + '"]')) return;
  const row = body.insertRow(0);
  row.dataset.hash = block.hash;
  row.className = "fresh";
  cell(row, link("/block/" + block.height, String(block.height)));
  cell(row, link("/block/" + block.hash, short(block.hash), true));
  cell(row, link("/account/" + block.proposer, short(block.proposer), true));
  cell(row, String(block.tx_count));
  cell(row, localTime(block.timestamp_ms)).className = "time";
  while (body.rows.length > limit) body.deleteRow(body.rows.length - 1);
}

function addTx(hash, block, limit) {
  const body = document.querySelector("#txs tbody");
  if (!body || body.querySelector('a[data-tx="' + hash + '"]')) return;
  const row = body.insertRow(0);
  row.className = "fresh";
  const a = link("/tx/" + hash, short(hash), true);
  a.dataset.tx = hash;
  cell(row, a);
  cell(row, link("/block/" + block.hash, String(block.height)));
  while (body.rows.length > limit) body.deleteRow(body.rows.length - 1);
  const none = document.getElementById("no-txs");
  if (none) none.remove();
}

function live() {
  const status = document.getElementById("live");
  if (!status || !window.EventSource) return;
  const source = new EventSource("/explorer/events");
  source.onopen = function () { status.textContent = "on"; status.className = "big ok"; };
  source.onerror = function () { status.textContent = "reconnecting"; status.className = "big muted"; };
  source.addEventListener("head", function (event) {
    const data = JSON.parse(event.data);
    document.getElementById("height").textContent = String(data.height);
    document.getElementById("mempool").textContent = String(data.mempool);
    for (const block of data.blocks) {
      addBlock(block, 15);
      for (const hash of block.txs) addTx(hash, block, 15);
    }
  });
}

document.addEventListener("DOMContentLoaded", function () {
  for (const el of document.querySelectorAll(".time[data-ms]")) {
    el.textContent = localTime(el.dataset.ms);
  }
  live();
});
