/* Check-in (检录): arrivals, the waiting room by draw number, calling the next candidate
   in, and the score announcement (候分) the candidate confirms. Redrawn from "checkin". */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t, el, field, connect, snapshots } = window.Kiosk;
  const socket = connect("/checkin");
  const template = document.getElementById("checkin-room");
  const nodes = new Map();
  const error = document.getElementById("error");

  function act(event, payload) {
    socket.timeout(10000).emit(event, payload, (err, ack) => {
      error.textContent = err ? t("console.connection_lost") : (ack && !ack.ok ? ack.error.message : "");
    });
  }

  const label = (p) => t("round.number_value", { n: p.draw_number }) + " " + p.name;

  function draw(view, changed = view.rooms) {
    document.getElementById("event-name").textContent = view.event.name + (view.event.rehearsal ? " (演练)" : "");
    for (const room of changed) {
      if (!nodes.has(room.id)) {
        const node = template.content.firstElementChild.cloneNode(true);
        node.dataset.room = room.code;
        node.addEventListener("click", (e) => {
          const button = e.target.closest("button");
          if (!button) return;
          if (button.dataset.act === "call-next") act("call_next", { room_id: room.id });
          if (button.dataset.act === "arrive") act("arrive", { draw_number: Number(button.dataset.number) });
          if (button.dataset.act === "confirm") act("confirm", { round_id: Number(button.dataset.round) });
        });
        document.getElementById("rooms").append(node);
        nodes.set(room.id, node);
      }
      const node = nodes.get(room.id);
      field(node, "name").textContent = room.name;
      field(node, "inside").textContent = room.inside ? label(room.inside) : "—";
      node.querySelector('[data-act="call-next"]').disabled = room.paused || !!room.inside || room.waiting.length === 0;
      const none = () => el("li", { class: "muted", text: t("checkin.none") });
      field(node, "waiting").replaceChildren(...(room.waiting.length ? room.waiting.map((p) =>
        el("li", { "data-number": p.draw_number }, el("span", { class: "big-name", text: label(p) }))) : [none()]));
      field(node, "not-arrived").replaceChildren(...(room.not_arrived.length ? room.not_arrived.map((p) =>
        el("li", { "data-number": p.draw_number }, el("span", { text: label(p) + " " }),
          el("button", { type: "button", "data-act": "arrive", "data-number": p.draw_number, text: t("checkin.arrive") }))) : [none()]));
      field(node, "finished").replaceChildren(...(room.finished.length ? room.finished.slice().reverse().map((p) =>
        el("li", { "data-number": p.draw_number, "data-confirmed": p.confirmed ? "yes" : "no" },
          el("span", { class: "big-name", text: t("checkin.score_line", { n: p.draw_number, name: p.name, mean: p.mean ?? (p.close_reason || "—") }) + " " }),
          p.confirmed ? el("span", { class: "ok", text: t("checkin.confirmed") })
            : (p.mean !== null ? el("button", { type: "button", class: "primary", "data-act": "confirm", "data-round": p.round_id, text: t("checkin.confirm") }) : null))) : [none()]));
    }
    const unplaced = document.getElementById("unplaced");
    document.getElementById("unplaced-box").hidden = view.unplaced.length === 0;
    unplaced.replaceChildren(...view.unplaced.map((p) => el("li", { text: p.reg_no + " " + p.name })));
  }

  snapshots(socket, "checkin", draw);
});
