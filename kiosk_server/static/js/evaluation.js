/* The democratic evaluation panel (console and observer board): turnout per group, live,
   from "evaluation" snapshots; the result only once the server sends it, which it does
   after the evaluation is closed. On the console, open and close through acks. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t, el, field, connect } = window.Kiosk;
  const panel = document.getElementById("evaluation");
  if (!panel) return;
  const organiser = panel.dataset.namespace === "/organiser";
  const socket = connect(panel.dataset.namespace);
  const states = { setup: t("eval.state_setup"), open: t("eval.state_open"), closed: t("eval.state_closed") };

  function drawGroups(view) {
    field(panel, "eval-groups").replaceChildren(...view.groups.map((g) => {
      const share = g.ballots ? Math.round((100 * g.cast) / g.ballots) : 0;
      return el("tr", { "data-group": g.name },
        el("td", { text: g.name }),
        el("td", { class: "num", "data-field": "cast", text: String(g.cast) }),
        el("td", { class: "num", text: String(g.ballots) }),
        el("td", {}, el("span", { class: "bar", "data-share": share })),
        el("td", { class: "num", text: g.weight ?? "—" }));
    }));
    // Widths through the CSSOM: the policy forbids inline style attributes.
    for (const bar of field(panel, "eval-groups").querySelectorAll(".bar")) {
      bar.style.width = (bar.dataset.share * 0.8) + "px";
    }
  }

  function drawResult(view) {
    const box = field(panel, "eval-result");
    field(panel, "eval-hidden").hidden = Boolean(view.result) || view.state === "setup";
    box.hidden = !view.result;
    if (!view.result) return;
    field(panel, "eval-score-head").textContent = t("eval.score", { full: view.full_marks });
    field(panel, "eval-weighted-head").textContent = t("eval.weighted", { weight: view.stage_weight });
    field(panel, "eval-rows").replaceChildren(...view.result.candidates.map((c) => el("tr", { "data-candidate": c.candidate },
      el("td", {}, el("strong", { text: c.name }), " ", el("small", { class: "muted", text: c.unit }),
        el("div", { class: "muted", text: c.groups.map((g) => `${g.group} ${g.mean}`).join(" · ") })),
      el("td", { class: "num", text: String(c.valid) }),
      el("td", { class: "num", "data-field": "invalid", text: String(c.invalid) }),
      el("td", { class: "num", "data-field": "score", text: c.score ?? "—" }),
      el("td", { class: "num", text: c.weighted ?? "—" }))));
  }

  function draw(view) {
    if (!view) {  // nothing set up yet: the console still offers the set-up page
      panel.hidden = !organiser;
      field(panel, "eval-state").textContent = t("eval.state_none");
      field(panel, "eval-hidden").hidden = true;
      if (organiser) for (const b of panel.querySelectorAll("button")) b.disabled = true;
      return;
    }
    panel.hidden = false;
    panel.dataset.state = view.state;
    field(panel, "eval-state").textContent = states[view.state];
    field(panel, "eval-turnout").textContent = t("eval.turnout", { cast: view.cast, ballots: view.ballots });
    drawGroups(view);
    drawResult(view);
    if (organiser) {
      panel.querySelector('[data-act="eval-open"]').disabled = view.state !== "setup";
      panel.querySelector('[data-act="eval-close"]').disabled = view.state !== "open";
    }
  }

  socket.on("evaluation", draw);
  if (!organiser) return;
  panel.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-act]");
    if (!button) return;
    if (button.dataset.act === "eval-close" && !window.confirm(t("eval.close_confirm"))) return;
    const event = button.dataset.act === "eval-open" ? "evaluation_open" : "evaluation_close";
    socket.timeout(10000).emit(event, {}, (err, ack) => {
      const error = field(panel, "eval-error");
      if (err || !ack || !ack.ok) error.textContent = err ? t("console.connection_lost") : ack.error.message;
      else error.textContent = ack.pending ? t("approval.asked") : "";
    });
  });
});
