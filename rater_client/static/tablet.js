/* The rater tablet: follows its seat's view (checking the server's signature), scores
   with a confirm step, and submits once: a signed commitment while the round is open,
   the signed opening when the server's signed close statement lists it. */
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const { t, el, connect, lang } = window.Kiosk;
  const S = window.KioskSeal;
  const $ = (id) => document.getElementById(id);
  const status = $("status"), statusText = $("status-text"), sheet = $("sheet");
  let view = null;          // the latest "state" from the server
  let formRound = null;     // the round the form was built for
  let pending = null;       // the envelope in flight: one at a time
  let sealing = false;      // an envelope being made (between a tap and its sending)
  let revoked = false;
  let alarm = null;         // a signature or receipt that did not verify: shown, never hidden
  let receipt = null;       // the last receipt code, shown after a submission
  const device = S.available() ? await S.get("device") : null;

  /* Every envelope takes the next sequence number, saved before it is signed. */
  async function seal(body) {
    device.seq += 1;
    await S.put("device", device);
    return S.envelope(device.privateKey, { ...body, seq: device.seq, nonce: S.b64u(S.random(16)) });
  }

  function bound() {
    return { event: view.event, room: view.room.id, round: view.round.id, draw_number: view.round.draw_number,
             seat: view.seat.id, rubric: view.rubric_version };
  }

  /* Scores are multiples of small steps: count in hundredths to stay exact. */
  const hundredths = (text) => Math.round(parseFloat(text) * 100);
  const show = (h) => (h / 100).toFixed(2);

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
    if (alarm) { setStatus("alarm", alarm); sheet.hidden = true; return; }
    document.title = t("tablet.title");
    $("seat-label").textContent = t("tablet.seat", { room: view.room.name, n: view.seat.number });
    const round = view.round;
    $("draw-number").textContent = round && round.state !== "closed" ? t("round.number_value", { n: round.draw_number }) : "—";
    let scoring = false;
    if (view.room.paused) setStatus("paused", t("tablet.paused"));
    else if (!round) setStatus("waiting", t("tablet.waiting"));
    else if (round.state === "closed") setStatus("closed", t("tablet.closed"));
    else if (round.state === "revealing") setStatus("closed", t("tablet.revealing"));
    else if (round.state === "called") setStatus("waiting", t("tablet.waiting_open"));
    else if (!round.seated) setStatus("not-seated", t("tablet.not_seated"));
    else if (round.mine === "score") setStatus("submitted", t("tablet.sealed") + (receipt ? " · " + t("tablet.receipt", { code: receipt }) : ""));
    else if (round.mine === "recusal") setStatus("submitted", t("tablet.recused_wait"));
    else { setStatus("scoring", t("tablet.scoring")); scoring = true; }
    if (scoring && formRound !== round.id) { buildForm(view.rubric); formRound = round.id; }
    sheet.hidden = !scoring;
    if (!scoring) { $("confirm").hidden = true; $("recuse-dialog").hidden = true; }
  }

  /* One envelope in flight. On a lost answer the same envelope is sent again: the server
     answers a repeat as it answered the first. */
  function send(event, env, onDone) {
    if (pending) return;
    pending = env;
    for (const b of document.querySelectorAll("#confirm-submit, #recuse-confirm")) b.disabled = true;
    const attempt = () => socket.timeout(10000).emit(event, { envelope: env }, async (err, ack) => {
      if (err) { setTimeout(attempt, 1000); return; }
      pending = null;
      for (const b of document.querySelectorAll("#confirm-submit, #recuse-confirm")) b.disabled = false;
      onDone(ack);
      if (ack.ok) checkReceipt(ack.receipt, env);
    });
    attempt();
  }

  /* A receipt is checked against the server's key; a pending one (a head was signed a
     moment ago) is fetched with the next head. A receipt that does not verify is an alarm. */
  async function checkReceipt(got, env) {
    if (got.pending) {
      setTimeout(() => socket.timeout(10000).emit("receipt", { leaf: got.leaf }, (err, ack) => {
        if (!err && ack && ack.ok) checkReceipt(ack.receipt, env);
      }), 1200);
      return;
    }
    if (await S.receiptHolds(device.serverKey, got, env)) receipt = await S.receiptCode(got);
    else alarm = t("tablet.receipt_bad");
    render();
  }

  /* Open our sealed sheet once the server's signed close statement lists its commitment. */
  async function revealOwed(statements) {
    for (const statement of statements || []) {
      if (!(await S.verify(device.serverKey, statement))) { alarm = t("tablet.statement_bad"); render(); return; }
      const kept = await S.get("opening:" + statement.body.round);
      if (!kept) continue;
      const listed = statement.body.commitments.find((c) => c.seat === view.seat.id);
      if (!listed || listed.commitment !== kept.commitment) { alarm = t("tablet.statement_bad"); render(); return; }
      const env = await seal({ type: "opening", ...kept.opening });
      socket.timeout(10000).emit("reveal", { envelope: env }, async (err, ack) => {
        if (!err && ack && (ack.ok || ack.error.code === "already_submitted" || ack.error.code === "round_closed")) {
          await S.remove("opening:" + statement.body.round);
        }
      });
    }
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
  $("confirm-submit").addEventListener("click", async () => {
    if (pending || sealing) return;           // a submit cannot fire twice
    sealing = true;                           // set before the first await: a double tap stops here
    const b = bound();
    const opening = { ...b, items: values(), total: show(update()).replace(/\.?0+$/, "") || "0",
                      salt: S.b64u(S.random(16)) };
    const kept = { opening, commitment: await S.commitment(opening) };
    await S.put("opening:" + b.round, kept);  // kept until the round closes, across restarts
    const env = await seal({ type: "commitment", ...b, commitment: kept.commitment });
    sealing = false;
    send("commit", env, (ack) => {
      $("confirm").hidden = true;
      if (!ack.ok) { $("sheet-error").textContent = ack.error.message; return; }
      view.round.mine = "score";
      render();
    });
  });
  $("recuse").addEventListener("click", () => { $("recuse-dialog").hidden = false; });
  $("recuse-back").addEventListener("click", () => { $("recuse-dialog").hidden = true; });
  $("recuse-confirm").addEventListener("click", async () => {
    if (pending || sealing) return;
    sealing = true;
    const env = await seal({ type: "recusal", ...bound(), reason: $("recuse-reason").value.trim() || null });
    sealing = false;
    send("commit", env, (ack) => {
      $("recuse-dialog").hidden = true;
      if (!ack.ok) { $("sheet-error").textContent = ack.error.message; return; }
      view.round.mine = "recusal";
      render();
    });
  });

  if (!device) {
    setStatus("alarm", S.available() ? t("error.no_device_key") : t("error.insecure_context"));
    return;
  }
  if (String(device.seat.id) !== status.dataset.seat) {
    // This browser enrolled another seat since: one browser (profile) is one tablet.
    setStatus("alarm", t("tablet.other_seat"));
    return;
  }
  const socket = connect("/rater");
  socket.on("state", async (state) => {
    if (state.round && !(await S.verify(device.serverKey, state.round.statement))) {
      alarm = t("tablet.statement_bad");
    } else if (state.round) {
      const said = state.round.statement.body;
      if (said.round !== state.round.id || said.state !== state.round.state || said.draw_number !== state.round.draw_number) {
        alarm = t("tablet.statement_bad");
      }
    }
    if (state.round && (!view || !view.round || view.round.id !== state.round.id)) receipt = null;
    view = state;
    render();
    revealOwed(state.reveal);
  });
  socket.on("revoked", () => {
    revoked = true;
    sheet.hidden = true;
    setStatus("closed", t("error.not_authenticated"));
  });
});
