/* The rater tablet: follows its seat's view, scores with a confirm step, submits once. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t, el, connect, lang } = window.Kiosk;
  const $ = (id) => document.getElementById(id);
  const status = $("status"), statusText = $("status-text"), sheet = $("sheet");
  let view = null;          // the latest "state" from the server
  let formRound = null;     // the round the form was built for
  let pending = null;       // {key, round} of a submission in flight: one at a time
  let revoked = false;

  /* Scores are multiples of small steps: count in hundredths to stay exact. */
  const hundredths = (text) => Math.round(parseFloat(text) * 100);
  const show = (h) => (h / 100).toFixed(2);

  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function label(item) { return lang === "en" ? item.label_en : item.label_zh; }

  function buildForm(rubric) {
    $("items").replaceChildren(...rubric.map((item) => {
      const input = el("input", { type: "number", inputmode: "decimal", min: "0", max: item.max, step: item.step,
                                  id: "item-" + item.code, name: item.code, "data-item": item.code, required: true });
      const minus = el("button", { type: "button", class: "step", "data-step": "-" + item.step, "aria-label": "−", text: "−" });
      const plus = el("button", { type: "button", class: "step", "data-step": item.step, "aria-label": "+", text: "+" });
      for (const b of [minus, plus]) {
        b.addEventListener("click", () => {
          const current = input.value === "" ? 0 : hundredths(input.value);
          const next = Math.min(hundredths(item.max), Math.max(0, current + hundredths(b.dataset.step)));
          input.value = show(next).replace(/\.?0+$/, "") || "0";
          update();
        });
      }
      input.addEventListener("input", update);
      return el("div", { class: "item" },
        el("label", { for: input.id }, el("span", { class: "item-label", text: label(item) }),
           el("small", { text: t("tablet.max", { max: item.max, step: item.step }) })),
        el("div", { class: "stepper" }, minus, input, plus));
    }));
    $("sheet-error").textContent = "";
    update();
  }

  function values() {
    const out = {};
    for (const input of $("items").querySelectorAll("input")) out[input.name] = input.value.trim();
    return out;
  }

  /* Client-side checks mirror the server's, which has the last word. */
  function problems() {
    const rubric = view.rubric;
    let missing = 0;
    for (const item of rubric) {
      const raw = values()[item.code];
      const input = $("item-" + item.code);
      let bad = false;
      if (raw === "") { missing += 1; }
      else {
        const h = hundredths(raw);
        bad = !Number.isFinite(h) || !/^\d+(\.\d+)?$/.test(raw) || h < 0 || h > hundredths(item.max) || h % hundredths(item.step) !== 0;
      }
      input.classList.toggle("invalid", bad);
      if (bad) return { error: t(errorCode(raw, item), { field: label(item) }) };
    }
    if (missing) return { error: t("tablet.fill_all", { n: missing }) };
    return null;
  }
  function errorCode(raw, item) {
    if (!/^\d+(\.\d+)?$/.test(raw)) return "error.not_a_number";
    const h = hundredths(raw);
    if (h < 0 || h > hundredths(item.max)) return "error.out_of_range";
    return "error.wrong_step";
  }

  function update() {
    let sum = 0;
    for (const raw of Object.values(values())) {
      const h = hundredths(raw);
      if (raw !== "" && Number.isFinite(h)) sum += h;
    }
    $("total").textContent = show(sum);
    return sum;
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    statusText.textContent = text;
  }

  function render() {
    if (revoked) return;
    document.title = t("tablet.title");
    $("seat-label").textContent = t("tablet.seat", { room: view.room.name, n: view.seat.number });
    const round = view.round;
    $("draw-number").textContent = round && round.state !== "closed" ? t("round.number_value", { n: round.draw_number }) : "—";
    let scoring = false;
    if (view.room.paused) setStatus("paused", t("tablet.paused"));
    else if (!round) setStatus("waiting", t("tablet.waiting"));
    else if (round.state === "closed") setStatus("closed", t("tablet.closed"));
    else if (round.state === "called") setStatus("waiting", t("tablet.waiting_open"));
    else if (!round.seated) setStatus("not-seated", t("tablet.not_seated"));
    else if (round.mine === "score") setStatus("submitted", t("tablet.submitted"));
    else if (round.mine === "recusal") setStatus("submitted", t("tablet.recused_wait"));
    else { setStatus("scoring", t("tablet.scoring")); scoring = true; }
    if (scoring && formRound !== round.id) { buildForm(view.rubric); formRound = round.id; }
    sheet.hidden = !scoring;
    if (!scoring) { $("confirm").hidden = true; $("recuse-dialog").hidden = true; }
  }

  function send(event, payload, onDone) {
    if (pending) return;                      // a submit cannot fire twice
    pending = { key: payload.idempotency_key };
    for (const b of document.querySelectorAll("#confirm-submit, #recuse-confirm")) b.disabled = true;
    const attempt = () => socket.timeout(10000).emit(event, payload, (err, ack) => {
      if (err) { setTimeout(attempt, 1000); return; }   // resent with the same key: no double
      pending = null;
      for (const b of document.querySelectorAll("#confirm-submit, #recuse-confirm")) b.disabled = false;
      onDone(ack);
    });
    attempt();
  }

  $("review").addEventListener("click", () => {
    const problem = problems();
    $("sheet-error").textContent = problem ? problem.error : "";
    if (problem) return;
    const v = values();
    $("confirm-table").replaceChildren(...view.rubric.map((item) =>
      el("tr", {}, el("td", { text: label(item) }), el("td", { class: "num", text: show(hundredths(v[item.code])) }))));
    $("confirm-total").textContent = t("tablet.your_total", { total: show(update()) });
    $("confirm").hidden = false;
    $("confirm-submit").focus();
  });
  $("back").addEventListener("click", () => { $("confirm").hidden = true; });
  $("confirm-submit").addEventListener("click", () => {
    const payload = { round_id: view.round.id, items: values(), idempotency_key: randomKey() };
    send("submit", payload, (ack) => {
      $("confirm").hidden = true;
      if (!ack.ok) { $("sheet-error").textContent = ack.error.message; return; }
      view.round.mine = "score";
      render();
    });
  });
  $("recuse").addEventListener("click", () => { $("recuse-dialog").hidden = false; });
  $("recuse-back").addEventListener("click", () => { $("recuse-dialog").hidden = true; });
  $("recuse-confirm").addEventListener("click", () => {
    const payload = { round_id: view.round.id, reason: $("recuse-reason").value, idempotency_key: randomKey() };
    send("recuse", payload, (ack) => {
      $("recuse-dialog").hidden = true;
      if (!ack.ok) { $("sheet-error").textContent = ack.error.message; return; }
      view.round.mine = "recusal";
      render();
    });
  });

  const socket = connect("/rater");
  socket.on("state", (state) => { view = state; render(); });
  socket.on("revoked", () => {
    revoked = true;
    sheet.hidden = true;
    setStatus("closed", t("error.not_authenticated"));
  });
});
