/* The organiser console: acts through socket events with acks; redrawn from "console". */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t, el, field, connect, roomState, renderResult, renderFinished, renderDraws, describeApproval, snapshots } = window.Kiosk;
  const roomsBox = document.getElementById("rooms");
  const template = document.getElementById("room-template");
  const nodes = new Map();
  let latest = null;
  const socket = connect("/organiser");

  function act(event, payload, node, box) {
    const error = box || (node ? field(node, "error") : null);
    return new Promise((resolve) => {
      socket.timeout(10000).emit(event, payload, (err, ack) => {
        if (err || !ack || !ack.ok) {
          const message = err ? t("console.connection_lost") : ack.error.message;
          if (error) error.textContent = message;
          resolve(null);
        } else {
          if (error) error.textContent = "";
          resolve(ack);
        }
      });
    });
  }

  function roomById(id) { return latest.rooms.find((r) => r.id === id); }

  function wire(node, roomId) {
    node.addEventListener("click", async (e) => {
      const button = e.target.closest("button");
      if (!button) return;
      const room = roomById(roomId);
      const round = room.round;
      switch (button.dataset.act) {
        case "call": await act("call", { room_id: roomId }, node); break;
        case "call-number": {
          const n = parseInt(field(node, "waiting").value, 10);
          if (n) await act("call", { room_id: roomId, draw_number: n }, node);
          break;
        }
        case "open": await act("open", { round_id: round.id }, node); break;
        case "absent": {
          if (!window.confirm(t("console.absent_confirm", { n: round.draw_number }))) break;
          await act("absent", { round_id: round.id }, node);
          break;
        }
        case "close": {
          const pending = room.seats.some((s) => s.status === "pending");
          if (pending) {
            field(node, "reason-label").textContent = t("console.close_reason");
            field(node, "close-early").hidden = false; field(node, "reason").focus();
          }
          else await act("close", { round_id: round.id }, node);
          break;
        }
        case "finalise": {
          field(node, "reason-label").textContent = t("console.finalise_reason");
          field(node, "close-early").hidden = false; field(node, "reason").focus();
          break;
        }
        case "close-confirm": {
          const reason = field(node, "reason").value.trim();
          if (!reason) { field(node, "error").textContent = t("error.reason_required"); break; }
          const event = round.state === "revealing" ? "finalise" : "close";
          const ack = await act(event, { round_id: round.id, reason }, node);
          if (ack) {
            field(node, "close-early").hidden = true; field(node, "reason").value = "";
            if (ack.pending) field(node, "error").textContent = t("approval.asked");
          }
          break;
        }
        case "pause": await act("pause", { room_id: roomId, paused: !room.paused }, node); break;
        case "reissue": {
          if (!window.confirm(t("console.reissue_confirm"))) break;
          const ack = await act("reissue", { seat_id: parseInt(button.dataset.seat, 10) }, node);
          if (ack) field(node, "error").textContent = t("approval.asked");
          break;
        }
      }
    });
  }

  function draw(view, changed = view.rooms) {
    latest = view;
    document.getElementById("event-name").textContent = view.event.name + (view.event.rehearsal ? " (演练)" : "");
    for (const room of changed) {
      if (!nodes.has(room.id)) {
        const node = template.content.firstElementChild.cloneNode(true);
        node.dataset.room = room.code;
        wire(node, room.id);
        roomsBox.append(node);
        nodes.set(room.id, node);
      }
      const node = nodes.get(room.id);
      const state = roomState(room);
      const round = room.round;
      node.dataset.state = state;
      field(node, "name").textContent = room.name;
      field(node, "state").textContent = t("state." + state);
      field(node, "number").textContent = round ? String(round.draw_number) : "—";
      field(node, "seats").replaceChildren(...room.seats.map((seat) => el("li", { "data-seat": seat.number, "data-status": seat.status || "" },
        el("strong", { text: t("console.seat", { n: seat.number }) }), " ",
        el("span", { class: seat.enrolled ? "ok" : "muted", text: seat.enrolled ? t("console.enrolled") : t("console.not_enrolled") }), " · ",
        el("span", { class: seat.online ? "ok" : "muted", text: seat.online ? t("console.online") : t("console.offline") }),
        seat.status && seat.status !== "not_seated" ? el("span", { class: "tag " + seat.status, text: t("console." + seat.status) }) : null,
        el("button", { type: "button", class: "link", "data-act": "reissue", "data-seat": seat.id, text: t("console.reissue") }))));
      const select = field(node, "waiting");
      select.replaceChildren(...room.waiting.map((n) => el("option", { value: n, text: String(n) })));
      const active = round && (round.state === "called" || round.state === "open");
      node.querySelector('[data-act="call"]').disabled = room.paused || active || room.waiting.length === 0;
      node.querySelector('[data-act="call-number"]').disabled = room.paused || active || room.waiting.length === 0;
      node.querySelector('[data-act="open"]').disabled = room.paused || !round || round.state !== "called";
      node.querySelector('[data-act="absent"]').disabled = !round || round.state !== "called";
      node.querySelector('[data-act="close"]').disabled = !round || round.state !== "open";
      node.querySelector('[data-act="finalise"]').hidden = !round || round.state !== "revealing";
      node.querySelector('[data-act="pause"]').textContent = room.paused ? t("console.resume") : t("console.pause");
      if (!round || (round.state !== "open" && round.state !== "revealing")) field(node, "close-early").hidden = true;
      const result = field(node, "result");
      result.replaceChildren();
      if (round && round.result) result.append(renderResult(round.result));
      renderFinished(field(node, "finished"), room.finished, view.names);
    }
    renderDraws(document.getElementById("lot"), view.draws);
    const drawing = view.draws.some((d) => d.state === "committing" || d.state === "revealing");
    const started = view.rooms.some((r) => r.round || r.finished.length);
    document.getElementById("lot-start").hidden = drawing || started;
    document.getElementById("lot-void").hidden = !drawing;
    document.getElementById("lot-sheet-link").hidden = !drawing;
    document.getElementById("end-interviews").hidden = view.event.interviews_ended;
    document.getElementById("ended-note").hidden = !view.event.interviews_ended;
    const asks = document.getElementById("approvals");
    asks.hidden = view.approvals.length === 0;
    document.getElementById("approval-list").replaceChildren(...view.approvals.map((a) => el("li", { "data-approval": a.id },
      describeApproval(a) + " ",
      el("button", { type: "button", class: "link", "data-withdraw": a.id, text: t("approval.withdraw") }))));
    document.getElementById("observers").replaceChildren(...view.observers.map((o) =>
      el("li", { "data-role": o.role }, ({ checkin: t("checkin.title") + " ", auditor: t("audit.role") + " ", clerk: t("clerk.role") + " " }[o.role] || "") + o.label + " · ", el("span", { class: o.enrolled ? "ok" : "muted", text: o.enrolled ? t("console.enrolled") : t("console.not_enrolled") }))));
  }

  snapshots(socket, "console", draw);
  document.getElementById("approval-list").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-withdraw]");
    if (button) act("withdraw", { approval_id: Number(button.dataset.withdraw) }, null, document.getElementById("approval-error"));
  });
  const lotError = document.getElementById("lot-error");
  const lotAct = (event, payload) => act(event, payload, null, lotError);
  document.getElementById("lot-start").addEventListener("submit", async (e) => {
    e.preventDefault();
    const parties = document.getElementById("lot-parties").value.split("\n").map((s) => s.trim()).filter(Boolean);
    const purpose = document.getElementById("lot-purpose").value;
    const ack = await lotAct("lot_start", { parties, purpose, reason: document.getElementById("lot-reason").value });
    if (ack) { document.getElementById("lot-reason").value = ""; window.open(ack.sheet, "_blank"); }
  });
  document.getElementById("lot-void").addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = document.getElementById("lot-void-reason").value.trim();
    if (!reason) { lotError.textContent = t("error.reason_required"); return; }
    if (await lotAct("lot_void", { reason })) document.getElementById("lot-void-reason").value = "";
  });
  for (const [button, event, out] of [["new-checkin", "new_checkin", "checkin-link"], ["new-auditor", "new_auditor", "auditor-link"]]) {
    document.getElementById(button).addEventListener("click", async () => {
      const ack = await act(event, {}, null);
      if (ack) document.getElementById(out).textContent = ack.url;
    });
  }
  document.getElementById("end-interviews").addEventListener("click", async () => {
    if (!window.confirm(t("interviews.end_confirm"))) return;
    await act("end_interviews", {}, null, document.getElementById("end-error"));
  });
  document.getElementById("new-observer").addEventListener("click", async () => {
    const ack = await act("new_observer", {}, null);
    if (ack) document.getElementById("observer-link").textContent = ack.url;
  });
});
