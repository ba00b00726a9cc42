/* The written-marks clerk (笔试录入): type a paper's mark by registration number. The page
   only ever holds this clerk's own figures; redrawn from each "clerk" snapshot. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t, el, connect } = window.Kiosk;
  const socket = connect("/clerk");
  const regNo = document.getElementById("reg-no");
  const mark = document.getElementById("mark");
  const error = document.getElementById("error");
  const done = document.getElementById("done");
  let view = null;

  function person(reg) { return view ? view.candidates.find((c) => c.reg_no === reg.trim()) : null; }

  function showWho() {
    const found = person(regNo.value);
    document.getElementById("who").textContent = found ? found.name + (found.unit ? "（" + found.unit + "）" : "") : "";
  }

  function draw(snapshot) {
    view = snapshot;
    document.getElementById("clerk-label").textContent = snapshot.clerk.label;
    document.getElementById("rule").textContent = t("clerk.rule", { full: snapshot.rule.full_marks, step: snapshot.rule.step });
    document.getElementById("typed").textContent = t("clerk.typed", { n: snapshot.typed, total: snapshot.candidates.length });
    document.getElementById("candidates").replaceChildren(...snapshot.candidates.map((c) =>
      el("tr", { "data-reg-no": c.reg_no, "data-state": c.state || "todo" },
        el("td", { text: c.reg_no }), el("td", { text: c.name }),
        el("td", { class: "num", text: c.mine === null ? "" : (c.mine === "absent" ? t("clerk.absent") : c.mine) }),
        el("td", { text: t("clerk.state." + (c.state || "todo")) }))));
    showWho();
  }

  regNo.addEventListener("input", showWho);
  document.getElementById("candidates").addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-reg-no]");
    if (!row) return;
    regNo.value = row.dataset.regNo; showWho(); mark.focus();
  });
  document.getElementById("entry").addEventListener("submit", (e) => {
    e.preventDefault();
    const payload = { reg_no: regNo.value.trim(), mark: mark.value.trim() };
    done.textContent = "";
    socket.timeout(10000).emit("enter", payload, (err, ack) => {
      if (err) { error.textContent = t("console.connection_lost"); return; }
      if (!ack.ok) { error.textContent = ack.error.message; return; }
      error.textContent = "";
      done.textContent = t("clerk.saved", { reg_no: payload.reg_no, state: t("clerk.state." + ack.state) });
      regNo.value = ""; mark.value = ""; showWho(); regNo.focus();
    });
  });
  socket.on("clerk", draw);
});
