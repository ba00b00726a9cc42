/* Shared by every live page: the message catalogue, DOM helpers, the socket, results. */
"use strict";
window.Kiosk = (() => {
  const catalog = JSON.parse(document.getElementById("catalog").textContent);
  const lang = document.documentElement.lang.startsWith("en") ? "en" : "zh";

  function t(key, params = {}) {
    const text = catalog[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const field = (root, name) => root.querySelector(`[data-field="${name}"]`);

  /* One socket per namespace and page, shared by every script that asks for it. */
  const sockets = {};
  function connect(namespace) {
    if (sockets[namespace]) return sockets[namespace];
    const socket = io(namespace, { transports: ["websocket"], auth: { lang } });
    sockets[namespace] = socket;
    const banner = document.getElementById("offline");
    socket.on("connect", () => { banner.hidden = true; });
    socket.on("disconnect", () => { banner.hidden = false; });
    socket.on("connect_error", (err) => {
      banner.hidden = false;
      if (err && err.message === "not_authenticated") {
        banner.textContent = t("error.not_authenticated");
      }
    });
    return socket;
  }

  /* A room's state word: paused wins, then the current round's state. */
  function roomState(room) {
    if (room.paused) return "paused";
    return room.round ? room.round.state : "idle";
  }

  /* Every seat's total (dropped ones struck through) and the rule in words. */
  function renderResult(result) {
    const box = el("div", { class: "result" });
    const row = el("div", { class: "totals" });
    for (const entry of result.entries) {
      const value = entry.status === "scored" ? entry.total : t("board." + entry.status);
      const cell = el("div", { class: "total-cell" + (entry.dropped ? " dropped" : "") + (entry.status !== "scored" ? " muted" : ""),
                               "data-seat": entry.seat, "data-dropped": entry.dropped || null },
        el("span", { class: "seat-label", text: t("console.seat", { n: entry.seat }) }),
        entry.dropped ? el("s", { class: "num", text: value }) : el("span", { class: "num", text: value }));
      row.append(cell);
    }
    box.append(row);
    let rule;
    if (result.mean === null) rule = t("board.no_result");
    else if (result.rule === "drop") rule = t("board.rule_drop", { high: result.high, low: result.low, n: result.counted, mean: result.mean });
    else rule = t("board.rule_all", { n: result.counted, mean: result.mean });
    box.append(el("p", { class: "rule", text: rule }));
    if (result.mean !== null) box.append(el("p", { class: "final" }, t("board.score") + " ", el("strong", { class: "num", text: result.mean })));
    if (result.close_reason) box.append(el("p", { class: "muted", text: t("board.closed_early", { reason: result.close_reason }) }));
    return box;
  }

  function renderFinished(tbody, finished) {
    tbody.replaceChildren(...finished.map((f) => el("tr", {},
      el("td", { text: t("round.number_value", { n: f.draw_number }) }),
      el("td", { class: "num", text: f.mean ?? "—" }),
      el("td", { class: "num", text: String(f.counted) }))));
  }

  return { t, el, field, connect, lang, roomState, renderResult, renderFinished };
})();
