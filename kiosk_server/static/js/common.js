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
    // An organiser page whose sign-in ended (signed out, idle, too old) signs in again.
    const signIn = () => location.assign("/login?next=" + encodeURIComponent(location.pathname));
    if (namespace === "/organiser") socket.on("signed_out", signIn);
    socket.on("connect_error", (err) => {
      banner.hidden = false;
      if (err && err.message === "not_authenticated") {
        banner.textContent = t("error.not_authenticated");
        if (namespace === "/organiser") signIn();
      } else if (err && err.message === "internal") {
        // A fault on the server's side (it is logged there): say so, and try again.
        banner.textContent = t("error.internal");
        setTimeout(() => socket.connect(), 3000);
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

  function renderFinished(tbody, finished, names) {
    tbody.replaceChildren(...finished.map((f) => el("tr", {},
      el("td", { text: t("round.number_value", { n: f.draw_number }) + (names && names[f.draw_number] ? " " + names[f.draw_number] : "") }),
      el("td", { class: "num", text: f.mean ?? "—" }),
      el("td", { class: "num", text: String(f.counted) }))));
  }

  /* The lot draw as every screen shows it: pool digest, parties' commitments and reveals,
     refusals, attempts, the key string, each step's digest and the resulting order. */
  function renderDraw(draw) {
    const box = el("section", { class: "lot card", "data-purpose": draw.purpose, "data-state": draw.state });
    const parts = [
      el("h2", { text: t("lot.purpose." + draw.purpose) + " · " + t("lot.state." + draw.state) }),
      el("p", { class: "lot-attempt", text: t("lot.attempt", { attempt: draw.attempt, attempts: draw.attempts }) }),
    ];
    if (draw.reason) parts.push(el("p", { class: "lot-reason", text: t("lot.reason", { reason: draw.reason }) }));
    const poolText = { raters: "lot.pool_raters", tie: "lot.pool_tie" }[draw.purpose] || "lot.pool";
    parts.push(el("p", { text: t(poolText, { n: draw.pool_size, pool: (draw.pool || []).join("、") }) }),
      el("p", { class: "mono small" }, t("lot.pool_digest") + " ", el("span", { "data-field": "pool-digest", text: draw.pool_digest })),
      el("p", { class: "muted small", text: t("lot.pool_note") }),
      el("h3", { text: t("lot.parties") }),
      el("ol", { class: "lot-parties" }, ...draw.parties.map((p) => el("li", { "data-position": p.position, "data-committed": p.commitment ? "yes" : "no" },
        el("strong", { text: p.label }), " ",
        p.commitment ? el("span", { class: "mono small", text: t("lot.commitment") + " " + p.commitment }) : el("span", { class: "muted", text: t("lot.waiting_commit") }),
        p.value !== null ? el("span", { class: "lot-value", text: " · " + t("lot.value") + " " + p.value + " / " + p.salt }) : (p.commitment ? el("span", { class: "muted", text: " · " + t("lot.waiting_reveal") }) : null),
        p.refused ? el("span", { class: "error lot-refused", text: " · " + t("lot.refused", { n: p.refused }) }) : null))));
    if (draw.key && draw.placement) {
      parts.push(el("p", {}, t("lot.key") + " ", el("code", { "data-field": "key", text: draw.key })),
        el("h3", { text: t("lot.placement") }),
        el("ul", { class: "lot-placement", "data-field": "placement" }, ...draw.placement.rooms.map((room) => el("li", { "data-room": room.code },
          el("strong", { text: room.name + "：" }),
          room.raters.map((r) => t("console.seat", { n: r.seat }) + " " + r.name + "（" + r.unit + "）").join("，") || t("checkin.none")))),
        draw.placement.reserves.length ? el("p", { class: "lot-reserves", text: t("lot.reserves", { names: draw.placement.reserves.map((r) => r.name).join("，") }) }) : null,
        el("div", { class: "lot-recompute" }, el("p", { text: t("lot.recompute") }), el("code", { class: "small", text: draw.command })));
    } else if (draw.key && draw.pool) {
      /* a tie lot: the tied registration numbers in the drawn order (earlier ranks higher) */
      parts.push(el("p", {}, t("lot.key") + " ", el("code", { "data-field": "key", text: draw.key })),
        el("h3", { text: t("lot.tie_order") }),
        el("ol", { class: "lot-order", "data-field": "order" }, ...draw.steps.map((s) => el("li", { text: draw.pool[s.selected - 1] }))),
        el("div", { class: "lot-recompute" }, el("p", { text: t("lot.recompute") }), el("code", { class: "small", text: draw.command })));
    } else if (draw.key) {
      const numbers = draw.steps.map((s, i) => el("li", {}, el("span", { class: "num", text: String(i + 1) }), " ← " + s.selected));
      parts.push(el("p", {}, t("lot.key") + " ", el("code", { "data-field": "key", text: draw.key })),
        el("details", {}, el("summary", { text: t("lot.steps") }),
          el("ol", { class: "mono small lot-steps" }, ...draw.steps.map((s) => el("li", { text: s.digest + " mod " + s.remaining + " → " + s.selected })))),
        el("h3", { text: t("lot.order") }),
        el("ol", { class: "lot-order", "data-field": "order" }, ...numbers),
        el("div", { class: "lot-recompute" },
          el("img", { src: "/observer/lot.svg?draw=" + draw.id, alt: "", width: 180, height: 180 }),
          el("div", {}, el("p", { text: t("lot.recompute") }), el("code", { class: "small", text: draw.command }))));
    }
    box.replaceChildren(...parts.filter(Boolean));
    return box;
  }

  /* A two-person request in words: what the organiser asked, and why. */
  function describeApproval(a) {
    const s = a.summary;
    const figure = (v) => (v === "absent" ? t("clerk.absent") : v ?? "");
    const what = t("approval.action." + a.action, { round: s.round ?? "", room: s.room ?? "", seat: s.seat ?? "", purpose: s.purpose ? t("lot.purpose." + s.purpose) : "",
      stage: s.stage ? t("stage." + s.stage) : "", reg_no: s.reg_no ?? "", old: figure(s.old), new: figure(s.new), version: s.version ?? "" });
    return s.reason ? what + " — " + t("approval.reason", { reason: s.reason }) : what;
  }

  /* Every draw (the interview order, then the raters' rooms) into one container. */
  function renderDraws(container, draws) {
    container.hidden = draws.length === 0;
    container.replaceChildren(...draws.map(renderDraw));
  }

  /* A screen's picture from its snapshots (live.screen_snapshot): a whole one replaces
     it; a partial one carries only the rooms changed since they were last pushed, laid
     over it by id, with the other fields. Numbered: one not newer than the picture is
     dropped, and partial ones that come before the first whole one since (re)connecting
     wait for it. draw(picture, rooms) at the next frame after a change: the rooms to
     draw again (all of them after a whole snapshot); whatever else the picture holds may
     have changed. The board gets a push per busy room (up to ~150 a second in a big
     exam), so pushes that come within one frame are drawn once. */
  function snapshots(socket, name, draw) {
    let picture = null;
    let early = [];
    let due;  // the room ids to draw at the next frame; null: all; undefined: no frame asked
    const lay = ({ partial, ...part }) => {
      const rooms = new Map(part.rooms.map((r) => [r.id, r]));
      picture = { ...picture, ...part, rooms: picture.rooms.map((r) => rooms.get(r.id) || r) };
    };
    const frame = () => {
      const ids = due;
      due = undefined;
      if (picture !== null) draw(picture, ids === null ? picture.rooms : picture.rooms.filter((r) => ids.has(r.id)));
    };
    const later = (ids) => {
      if (due === undefined) requestAnimationFrame(frame);
      due = due === null || ids === null ? null : new Set([...(due || []), ...ids]);
    };
    socket.on("disconnect", () => { picture = null; early = []; });
    socket.on(name, (view) => {
      if (!view.partial) {
        picture = view;
        for (const part of early) if (part.seq > picture.seq) lay(part);
        early = [];
        later(null);
      } else if (picture === null) {
        early.push(view);
      } else if (view.seq > picture.seq) {
        lay(view);
        later(view.rooms.map((r) => r.id));
      }
    });
  }

  return { t, el, field, connect, lang, roomState, renderResult, renderFinished, renderDraws, describeApproval, snapshots };
})();
