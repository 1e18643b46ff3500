// The review page: draws the grids over streets, buildings and community outlines, and calls the
// JSON API of gridgeo.review for every edit. Every text from the data goes in through textContent.
"use strict";
(function () {
  const KEY = document.querySelector('meta[name="gridgeo-key"]').getAttribute("content");
  // The page's words in the language the server speaks (gridgeo --lang), keyed by their English.
  const TEXTS = JSON.parse(document.querySelector('meta[name="gridgeo-texts"]').getAttribute("content") || "{}");
  function T(text, values) {
    const s = Object.prototype.hasOwnProperty.call(TEXTS, text) ? TEXTS[text] : text;
    return s.replace(/\{(\w+)\}/g, (m, k) => (values && k in values ? String(values[k]) : m));
  }
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
                   "#ff9da7", "#9c755f", "#86bcb6", "#8cd17d", "#d4a6c8"];
  const DEDICATED = "#bbbbbb";
  const map = L.map("map", { zoomSnap: 0.25 });
  let unitLayer = null;
  let outlineLayer = L.layerGroup();
  let labelLayer = L.layerGroup();
  let state = null;
  let selected = null;
  let busy = false;
  let focus = null; // the community whose grids the table lists (null: every community)

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function button(label, cls, onClick, data) {
    const b = el("button", label, cls);
    b.type = "button";
    for (const [k, v] of Object.entries(data || {})) b.dataset[k] = String(v);
    b.addEventListener("click", onClick);
    return b;
  }

  async function api(name, body) {
    const init = { method: body === undefined ? "GET" : "POST", headers: { "X-Gridgeo-Key": KEY } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch("/api/" + name, init);
    return r.json();
  }

  function say(outcome) {
    const m = document.getElementById("message");
    const reasons = outcome.reasons || [];
    const head = T(outcome.ok ? "{op}: done" : "{op}: refused", { op: T(outcome.op) });
    m.textContent = reasons.length ? head + "\n" + reasons.join("\n") : head;
    m.className = outcome.ok ? (reasons.length ? "warn" : "ok") : "refused";
  }

  async function act(name, body) {
    if (busy) return;
    busy = true;
    document.body.dataset.busy = "1";
    try {
      const outcome = await api(name, body || {});
      say(outcome);
      await refresh();
    } finally {
      busy = false;
      delete document.body.dataset.busy;
    }
  }

  function gridColour(gridId) {
    const row = state.table.find((r) => r.grid_id === gridId);
    if (!row) return "#000";
    if (row.grid_class !== "community") return DEDICATED;
    const ids = state.table.filter((r) => r.grid_class === "community").map((r) => r.grid_id);
    return PALETTE[ids.indexOf(gridId) % PALETTE.length];
  }

  function unitStyle(feature) {
    const id = feature.properties.unit_id;
    const grid = state ? state.plan[id] : null;
    const isSel = selected && selected.unit_id === id;
    return {
      className: "unit-path", color: isSel ? "#000" : "#ffffff", weight: isSel ? 3 : 0.6,
      fillColor: grid && state ? gridColour(grid) : "#ddd", fillOpacity: 0.55,
    };
  }

  function drawGrids() {
    outlineLayer.clearLayers();
    labelLayer.clearLayers();
    L.geoJSON(state.grids, {
      interactive: false,
      style: (f) => ({ color: f.properties.locked ? "#222266" : "#1d2b3a", weight: f.properties.locked ? 4 : 2,
                       dashArray: f.properties.locked ? "6 3" : null, fill: false }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        const label = el("div", null, "grid-label");
        label.appendChild(el("b", p.grid_id));
        label.appendChild(el("div", T("{n} hh", { n: p.households }) + (p.locked ? T(" (locked)") : "")));
        const centre = layer.getBounds().getCenter();
        labelLayer.addLayer(L.tooltip({ permanent: true, direction: "center", className: "grid-tip" })
          .setLatLng(centre).setContent(label));
      },
    }).eachLayer((l) => outlineLayer.addLayer(l));
  }

  function renderTable() {
    const tbody = document.querySelector("#grids-table tbody");
    tbody.replaceChildren();
    const all = document.getElementById("show-all");
    all.hidden = focus === null;
    document.getElementById("focus").textContent = focus === null ? "" : T("of {community}", { community: focus });
    for (const r of state.table) {
      if (focus !== null && r.community_code !== focus) continue;
      const tr = el("tr");
      tr.dataset.gridId = r.grid_id;
      if (!r.in_band) tr.classList.add("out-of-band");
      if (r.locked) tr.classList.add("locked");
      if (r.changed) tr.classList.add("changed");
      if (selected && selected.grid_id === r.grid_id) tr.classList.add("selected");
      tr.appendChild(el("td", r.grid_id, "grid"));
      tr.appendChild(el("td", r.grid_code || (r.changed ? "(new on approval)" : ""), "code"));
      tr.appendChild(el("td", r.grid_class, "class"));
      tr.appendChild(el("td", r.households, "num households"));
      tr.appendChild(el("td", r.residents, "num residents"));
      tr.appendChild(el("td", r.flag, "flag"));
      const td = el("td");
      td.appendChild(button(r.locked ? T("Unlock") : T("Lock"), "lock",
        () => act(r.locked ? "unlock" : "lock", { grid_id: r.grid_id }), { grid: r.grid_id }));
      if (r.grid_class === "community") {
        td.appendChild(button(T("Split"), "split", () => act("split", { grid_id: r.grid_id }), { grid: r.grid_id }));
      }
      tr.appendChild(td);
      if (r.reasons) tr.title = r.reasons;
      tbody.appendChild(tr);
    }
    const band = state.band;
    document.getElementById("band").textContent = T("band {lower}–{upper} {measure}", { lower: band.lower, upper: band.upper, measure: T(band.measure) });
  }

  function zoomTo(code) {
    const layers = unitLayer.getLayers().filter((l) => l.feature.properties.community_code === code);
    if (layers.length) map.fitBounds(L.featureGroup(layers).getBounds(), { padding: [20, 20] });
    focus = code;
    renderTable();
  }

  function renderCommunities() {
    const box = document.getElementById("communities");
    box.replaceChildren();
    const seen = new Map();
    for (const r of state.table) if (!seen.has(r.community_code)) seen.set(r.community_code, r.community_name);
    for (const [code, name] of seen) {
      const div = el("div", null, "community");
      div.appendChild(button(name + " " + code, "zoom", () => zoomTo(code), { community: code }));
      div.appendChild(button(T("Rebalance unlocked grids"), "rebalance",
        () => act("rebalance", { community_code: code }), { community: code }));
      box.appendChild(div);
    }
  }

  function renderFindings() {
    const ul = document.getElementById("findings");
    ul.replaceChildren();
    if (!state.findings.length) ul.appendChild(el("li", T("none")));
    for (const f of state.findings) {
      ul.appendChild(el("li", T(f.severity) + " " + f.rule + (f.grid_id ? " [" + f.grid_id + "]" : "") + ": " + f.message,
                        f.severity));
    }
  }

  async function renderSelection() {
    const box = document.getElementById("selection");
    if (!selected) { box.hidden = true; return; }
    const info = await api("unit", { unit_id: selected.unit_id });
    if (info.ok === false) { selected = null; box.hidden = true; return; }
    selected = info;
    box.hidden = false;
    const hh = unitLayer.getLayers().find((l) => l.feature.properties.unit_id === info.unit_id).feature.properties.households;
    document.getElementById("sel-unit").textContent = info.unit_id;
    document.getElementById("sel-grid").textContent = info.grid_id;
    document.getElementById("sel-households").textContent = String(hh);
    document.getElementById("sel-block").textContent = String(info.block.length);
    const targets = document.getElementById("targets");
    targets.replaceChildren();
    if (!info.targets.length) targets.appendChild(el("p", T("no adjacent grid")));
    for (const t of info.targets) {
      const row = el("div", null, "target");
      row.appendChild(el("span", "→ " + t + " "));
      row.appendChild(button(T("Move unit"), "move-unit",
        () => act("move", { unit_ids: [info.unit_id], to_grid: t }), { target: t }));
      row.appendChild(button(T("Move block"), "move-block",
        () => act("move", { block: info.unit_id, to_grid: t }), { target: t }));
      row.appendChild(button(T("Merge grids"), "merge",
        () => act("merge", { a: t, b: info.grid_id }), { target: t }));
      targets.appendChild(row);
    }
  }

  async function refresh() {
    state = await api("state");
    if (unitLayer) unitLayer.setStyle(unitStyle);
    drawGrids();
    renderTable();
    renderCommunities();
    renderFindings();
    document.getElementById("undo").disabled = !state.can_undo;
    document.getElementById("redo").disabled = !state.can_redo;
    document.getElementById("pending").textContent = T("{n} change(s) to approve, as {by}", { n: state.pending, by: state.by });
    await renderSelection();
    document.body.dataset.ready = "1";
  }

  async function init() {
    const layers = await api("layers");
    unitLayer = L.geoJSON(layers.units, {
      style: unitStyle,
      onEachFeature: (f, layer) => {
        layer.on("click", () => {
          selected = { unit_id: f.properties.unit_id };
          focus = f.properties.community_code;
          refresh();
        });
        layer.on("add", () => { const e = layer.getElement(); if (e) e.setAttribute("data-unit-id", f.properties.unit_id); });
      },
    }).addTo(map);
    L.geoJSON(layers.roads, { interactive: false, style: { color: "#8c8c8c", weight: 2 } }).addTo(map);
    L.geoJSON(layers.buildings, { interactive: false, style: { color: "#444", weight: 0.5, fillColor: "#777", fillOpacity: 0.5 } }).addTo(map);
    outlineLayer.addTo(map);
    L.geoJSON(layers.communities, { interactive: false, style: { color: "#7a1f5c", weight: 3, fill: false, dashArray: "8 4" } }).addTo(map);
    labelLayer.addTo(map);
    map.fitBounds(unitLayer.getBounds());
    document.getElementById("undo").addEventListener("click", () => act("undo"));
    document.getElementById("redo").addEventListener("click", () => act("redo"));
    document.getElementById("approve").addEventListener("click", () => act("approve"));
    document.getElementById("show-all").addEventListener("click", () => { focus = null; renderTable(); });
    await refresh();
  }

  init();
})();
