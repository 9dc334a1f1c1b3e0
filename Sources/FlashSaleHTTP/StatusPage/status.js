// The status page: every 2 s it reads /v1/cluster from the node that served it, and each node's
// /v1/node/stats (answers per second over its last ten seconds, its hot SKUs) from that node.
"use strict";

const colours = ["#0969da", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#1b7c83", "#bf3989", "#57606a"];

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.appendChild(cell instanceof Node ? cell : element("td", String(cell)));
  return tr;
}

async function readJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(url + " answered " + response.status);
  return response.json();
}

function drawRing(nodes) {
  const ring = document.getElementById("ring");
  const legend = document.getElementById("ring-legend");
  ring.replaceChildren();
  legend.replaceChildren();
  const owners = nodes.filter((node) => node.slots > 0);
  const total = owners.reduce((sum, node) => sum + node.slots, 0) || 1;
  let angle = -Math.PI / 2;
  owners.forEach((node, index) => {
    const share = node.slots / total;
    const end = angle + share * 2 * Math.PI;
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    const [x1, y1, x2, y2] = [Math.cos(angle), Math.sin(angle), Math.cos(end), Math.sin(end)].map((v) => v * 100);
    const large = share > 0.5 ? 1 : 0;
    path.setAttribute("d", share >= 0.999 ? "M -100 0 A 100 100 0 1 1 100 0 A 100 100 0 1 1 -100 0"
      : `M 0 0 L ${x1} ${y1} A 100 100 0 ${large} 1 ${x2} ${y2} Z`);
    path.setAttribute("fill", colours[index % colours.length]);
    ring.appendChild(path);
    const item = element("li", `${node.id}: ${(share * 100).toFixed(1)} %, ${node.skuCount} SKUs`);
    const swatch = element("span");
    swatch.style.background = colours[index % colours.length];
    item.prepend(swatch);
    legend.appendChild(item);
    angle = end;
  });
  const hole = document.createElementNS("http://www.w3.org/2000/svg", "circle");
  hole.setAttribute("r", "55");
  hole.setAttribute("fill", "#fafafa");
  ring.appendChild(hole);
}

async function refresh() {
  let cluster;
  try {
    cluster = await readJSON("/v1/cluster");
  } catch (error) {
    document.getElementById("summary").textContent = "This node does not answer: " + error.message;
    return;
  }
  const now = Date.now();
  const nodes = cluster.nodes;
  const stats = await Promise.all(nodes.map((node) =>
    node.state === "down" ? null : readJSON(node.clientUrl + "/v1/node/stats").catch(() => null)));

  const active = nodes.filter((node) => node.state === "active").length;
  document.getElementById("summary").textContent =
    `epoch ${cluster.epoch}, ${nodes.length} nodes (${active} active)` + (cluster.rebalancing ? ", SKUs are moving" : ", no SKUs moving");
  drawRing(nodes);

  const body = document.querySelector("#nodes tbody");
  body.replaceChildren();
  const hot = new Map();
  nodes.forEach((node, index) => {
    const nodeStats = stats[index];
    const state = element("td", node.adoptedBy ? `${node.state} (adopted by ${node.adoptedBy})` : node.state, "state-" + node.state);
    const moves = node.handoff && !node.handoff.finished
      ? `${node.handoff.moved} of ${node.handoff.toMove} moved` + (node.handoff.failedAttempts ? `, ${node.handoff.failedAttempts} failed attempts` : "")
      : "none";
    const unreachable = node.state !== "down" && !nodeStats;
    body.appendChild(row([
      element("td", node.id),
      state,
      node.skuCount,
      (node.slots / 40.96).toFixed(1) + " %",
      nodeStats ? nodeStats.requestsPerSecond.toFixed(1) : element("td", unreachable ? "unreachable" : "", "unreachable"),
      nodeStats ? nodeStats.serverErrorsPerSecond.toFixed(1) : "",
      nodeStats ? nodeStats.rateLimitedPerSecond.toFixed(1) : "",
      moves,
    ]));
    for (const sku of nodeStats ? nodeStats.hotSkus : []) {
      const seen = hot.get(sku.sku);
      hot.set(sku.sku, { ...sku, reservationsPerHalfMinute: sku.reservationsPerHalfMinute + (seen ? seen.reservationsPerHalfMinute : 0) });
    }
  });

  const hotBody = document.querySelector("#hot tbody");
  hotBody.replaceChildren();
  [...hot.values()].sort((a, b) => b.reservationsPerHalfMinute - a.reservationsPerHalfMinute).slice(0, 10).forEach((sku) => {
    hotBody.appendChild(row([element("td", sku.sku), sku.reservationsPerHalfMinute, sku.available, sku.stock, sku.phase]));
  });
  if (hot.size === 0) hotBody.appendChild(row([element("td", "no reservations lately"), "", "", "", ""]));

  const syncer = cluster.syncer;
  document.getElementById("syncer").textContent = syncer.leader
    ? `syncer leader ${syncer.leader} (fencing epoch ${syncer.fencingEpoch}), lag ${syncer.lagSeconds === null ? "unknown" : syncer.lagSeconds.toFixed(1) + " s"}`
    : "no syncer leader: the record in PostgreSQL is not being written";
  document.getElementById("updated").textContent = "updated " + new Date(now).toLocaleTimeString();
}

refresh();
setInterval(refresh, 2000);
