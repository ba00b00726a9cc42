/* The observer screen: redrawn from each "board" snapshot, live, no polling. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t, el, field, connect, lang, roomState, renderResult, renderFinished, renderDraws, describeApproval, snapshots } = window.Kiosk;
  const roomsBox = document.getElementById("rooms");
  const template = document.getElementById("board-room");
  const rooms = new Map();

  function roomNode(room) {
    if (!rooms.has(room.id)) {
      const node = template.content.firstElementChild.cloneNode(true);
      node.dataset.room = room.code;
      roomsBox.append(node);
      rooms.set(room.id, node);
    }
    return rooms.get(room.id);
  }

  let headSize = null;
  function drawHead(head) {
    const box = document.getElementById("head");
    if (!head) { box.hidden = true; return; }
    box.hidden = false;
    document.getElementById("head-text").textContent = t("board.head", { size: head.size, root: head.root.slice(0, 16) });
    document.getElementById("head-time").textContent = new Date(head.time).toLocaleString(document.documentElement.lang);
    if (head.size !== headSize) {
      headSize = head.size;
      document.getElementById("head-qr").src = "/observer/head.svg?size=" + head.size;
    }
  }

  function draw(board, changed = board.rooms) {
    drawHead(board.head);
    document.getElementById("event-name").textContent = board.event.name + (board.event.rehearsal ? " (演练)" : "");
    for (const room of changed) {
      const node = roomNode(room);
      const state = roomState(room);
      node.dataset.state = state;
      field(node, "name").textContent = room.name;
      field(node, "number").textContent = room.round ? String(room.round.draw_number) : "—";
      field(node, "state").textContent = t("state." + state);
      field(node, "seats").replaceChildren(...room.seats.map((seat) => {
        const status = seat.status || (seat.enrolled ? "idle" : "not_seated");
        const mark = { submitted: "✓", revealed: "✓", recused: t("board.recused"), pending: "…", not_seated: "—" }[status] || "";
        return el("li", { class: "tick " + status, "data-seat": seat.number, "data-status": status },
          el("span", { class: "seat-label", text: t("console.seat", { n: seat.number }) }),
          el("span", { class: "mark", text: mark }));
      }));
      const result = field(node, "result");
      result.replaceChildren();
      if (room.round && room.round.result) result.append(renderResult(room.round.result));
      renderFinished(field(node, "finished"), room.finished, board.names);
    }
    const lot = document.getElementById("lot");
    renderDraws(lot, board.draws);
    // While parties commit and reveal, the draw is what the room watches: put it first.
    const drawing = board.draws.some((d) => d.state === "committing" || d.state === "revealing");
    if (drawing) roomsBox.before(lot); else roomsBox.after(lot);
    const asks = document.getElementById("approvals");
    asks.hidden = board.approvals.length === 0;
    asks.replaceChildren(el("h2", { text: t("approval.title") }), ...board.approvals.map((a) =>
      el("div", { class: "approval", "data-approval": a.id, "data-action": a.action },
        el("p", { class: "approval-text", text: describeApproval(a) }),
        el("button", { type: "button", class: "primary big", "data-act": "approve", "data-id": a.id, text: t("approval.confirm") }),
        el("button", { type: "button", class: "big", "data-act": "decline", "data-id": a.id, text: t("approval.decline") }))),
      el("p", { class: "error", role: "alert", id: "approval-error" }));
    document.getElementById("ended").hidden = !board.event.interviews_ended;
    drawResults(board.results);
  }

  /* The published configuration, the written entry's progress (counts, never names),
     the per-rater analysis after the interviews and the final ranking once published. */
  function drawResults(results) {
    const s = results.settings;
    const config = document.getElementById("configuration");
    field(config, "settings").textContent = t("rules.summary", {
      written: s.weights.written, evaluation: s.weights.evaluation, interview: s.weights.interview,
      full: s.written_full_marks, chain: s.chain.map((c) => t("chain." + c)).join(" → "),
    }) + (results.frozen ? " · " + t("rules.frozen") : "");
    field(config, "written").textContent = t("written.counts", results.written);
    const raters = document.getElementById("raters");
    raters.hidden = !results.raters;
    if (results.raters) {
      field(raters, "rows").replaceChildren(...results.raters.map((r) => el("tr", { "data-rater": r.rater, "data-flags": r.flags.join(" ") },
        el("td", { text: r.rater }), el("td", { class: "num", text: String(r.rounds) }), el("td", { class: "num", text: String(r.unscored) }),
        el("td", { class: "num", text: r.mean_deviation ?? "—" }), el("td", { class: "num", text: r.mean_abs_deviation ?? "—" }),
        el("td", { class: "num", text: String(r.dropped_high) }), el("td", { class: "num", text: String(r.dropped_low) }),
        el("td", { class: r.flags.length ? "error" : "", text: r.flags.map((f) => t("raters.flag." + f)).join("、") }))));
    }
    const final = document.getElementById("final");
    const published = results.published;
    final.hidden = !published;
    if (!published) return;
    field(final, "version").textContent = t("sheet.version", { version: published.version, time: published.published_at });
    field(final, "sha").textContent = published.bundle_sha256;
    field(final, "fingerprint").textContent = published.fingerprint;
    const table = published.table[lang];
    const posts = [...new Set(table.rows.map((r) => r[0]))];
    field(final, "posts").replaceChildren(...posts.map((code) => {
      const rows = table.rows.filter((r) => r[0] === code);
      return el("section", { class: "final-post", "data-post": code },
        el("h3", { text: code + " " + rows[0][1] + " · " + t("sheet.seats", { n: rows[0][2] }) }),
        el("table", { class: "scores" },
          el("thead", {}, el("tr", {}, ...[3, 5, 6, 13, 14, 15].map((i) => el("th", { text: table.headers[i] })))),
          el("tbody", {}, ...rows.map((r) => el("tr", { class: r[14] ? "proposed" : "" },
            ...[3, 5, 6, 13, 14, 15].map((i) => el("td", { text: r[i] === null ? "" : String(r[i]) })))))));
    }));
  }

  const socket = connect("/observer");
  snapshots(socket, "board", draw);
  document.getElementById("approvals").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act]");
    if (!button) return;
    const event = button.dataset.act === "approve" ? "approve" : "decline";
    if (event === "approve" && !window.confirm(t("approval.confirm_prompt"))) return;
    socket.timeout(10000).emit(event, { approval_id: Number(button.dataset.id) }, (err, ack) => {
      const box = document.getElementById("approval-error");
      if (box) box.textContent = err ? t("console.connection_lost") : (ack && !ack.ok ? ack.error.message : "");
    });
  });
});
