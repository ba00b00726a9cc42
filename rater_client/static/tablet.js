/* The rater tablet: follows its seat's view (checking the server's signature), scores
   with a confirm step, and submits once: a signed commitment while the round is open,
   the signed opening when the server's signed close statement lists it.

   Nothing is sent before it is on the tablet's disk: a submission is signed, then kept in
   the IndexedDB outbox (one strict transaction with the device's sequence number and the
   sealed sheet), then sent. An entry leaves the outbox only when the server has answered
   it; after a dropped connection, a closed tab or a server restart the very same envelope
   goes out again (its nonce is the idempotency key) and the server answers as the first
   time. The rater sees when the tablet is offline and how many submissions wait. */
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const { t, el, connect, lang } = window.Kiosk;
  const S = window.KioskSeal;
  const $ = (id) => document.getElementById(id);
  const status = $("status"), statusText = $("status-text"), sheet = $("sheet");
  let view = null;          // the latest "state" from the server
  let formRound = null;     // the round the form was built for
  let sealing = false;      // a sheet being sealed (between a tap and its outbox entry)
  let outbox = [];          // what the IndexedDB outbox holds, oldest first
  let queueing = Promise.resolve();  // outbox entries are made one after another
  let draining = false;     // the outbox is being sent
  const revealQueued = new Set();    // rounds whose opening is in the outbox already
  let revoked = false;
  let alarm = null;         // a signature or receipt that did not verify: shown, never hidden
  const receipts = new Map();        // receipt key -> its verified code, shown while sealed
  const device = S.available() ? await S.get("device") : null;

  /* Outbox keys sort by sequence number, so the outbox drains in the order it was made. */
  const outboxKey = (seq) => "outbox:" + String(seq).padStart(15, "0");
  /* A submission's receipt is kept under its event and round: a reloaded tablet shows its
     code again, and asks again for one still pending. */
  const receiptKey = (event, round) => "receipt:" + event + ":" + round;

  /* Seal a submission and keep it: the next sequence number, the signed envelope, then one
     strict transaction writes the counter, the entry and ``keep`` (the sheet's opening).
     Only then is it sent. One at a time, so the sequence numbers leave in order. */
  function enqueue(event, kind, body, keep = []) {
    const made = queueing.then(async () => {
      const seq = device.seq + 1;
      const env = await S.envelope(device.privateKey, { ...body, seq, nonce: S.b64u(S.random(16)) });
      const entry = { id: env.body.nonce, seq, event, kind, round: body.round, envelope: env };
      device.seq = seq;
      await S.write([["device", device], [outboxKey(seq), entry], ...keep]);
      outbox.push(entry);
      return entry;
    });
    queueing = made.catch(() => {});
    return made.then((entry) => { render(); drain(); return entry; });
  }

  /* Answers that mean "not now": the same envelope goes again a moment later. */
  const RETRY = new Set(["internal", "rate_limited"]);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /* One emit; its answer, or null when the connection drops or nothing comes in time. */
  function deliver(entry) {
    return new Promise((resolve) => {
      let done = false;
      const finish = (ack) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off("disconnect", lost);
        resolve(ack);
      };
      const lost = () => finish(null);
      const timer = setTimeout(lost, 10000);
      socket.on("disconnect", lost);
      socket.emit(entry.event, { envelope: entry.envelope }, (ack) => finish(ack && typeof ack === "object" ? ack : null));
    });
  }

  /* Send the outbox, oldest first, while connected; an entry leaves it only with an answer. */
  async function drain() {
    if (draining || !device || revoked) return;
    draining = true;
    try {
      while (socket.connected && !revoked) {
        const [entry] = await S.list("outbox:");
        if (!entry) break;
        const ack = await deliver(entry);
        if (ack === null) continue;  // lost on the way: the very same envelope again
        if (!ack.ok && RETRY.has(ack.error.code)) { await sleep(1000); continue; }
        if (!ack.ok && ack.error.code === "not_authenticated") break;  // re-issued: keep it
        const done = [outboxKey(entry.seq)];
        if (entry.event === "reveal") done.push("opening:" + entry.round);  // answered: nothing left to open
        const kept = ack.ok && ack.receipt ? { key: receiptKey(entry.event, entry.round), receipt: ack.receipt, envelope: entry.envelope } : null;
        await S.write(kept ? [[kept.key, kept]] : [], done);  // the answer replaces the entry
        outbox = outbox.filter((e) => e.seq !== entry.seq);
        settle(entry, ack, kept);
      }
    } finally {
      draining = false;
      render();
    }
  }

  /* What an answer means for the page. */
  function settle(entry, ack, kept) {
    if (ack.ok) {
      if (entry.event === "commit" && view && view.round && view.round.id === entry.round) {
        view.round.mine = entry.kind;
      }
      if (kept) checkReceipt(kept);
    } else if (entry.event === "commit" || !["already_submitted", "round_closed"].includes(ack.error.code)) {
      $("sheet-error").textContent = ack.error.message;
    }
    render();
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

  /* Offline, and how many submissions wait on this tablet: always in view. */
  function renderOutbox() {
    const box = $("outbox");
    const n = outbox.length;
    const online = !!(socket && socket.connected);
    box.dataset.count = String(n);
    box.dataset.online = String(online);
    box.hidden = online && n === 0;
    if (!online) box.textContent = n ? t("tablet.offline_waiting", { n }) : t("tablet.offline");
    else box.textContent = t("tablet.sending", { n });
  }

  /* Our commitment for this round, kept and not yet answered. */
  const queuedFor = (round) => outbox.find((e) => e.event === "commit" && e.round === round);

  function render() {
    if (revoked) return;
    renderOutbox();
    if (!view) return;
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
    else if (round.mine === "score") {
      const code = receipts.get(receiptKey("commit", round.id));
      setStatus("submitted", t("tablet.sealed") + (code ? " · " + t("tablet.receipt", { code }) : ""));
    }
    else if (round.mine === "recusal") setStatus("submitted", t("tablet.recused_wait"));
    else if (queuedFor(round.id)) setStatus("queued", t(queuedFor(round.id).kind === "score" ? "tablet.queued" : "tablet.queued_recusal"));
    else { setStatus("scoring", t("tablet.scoring")); scoring = true; }
    if (scoring && formRound !== round.id) { buildForm(view.rubric); formRound = round.id; }
    sheet.hidden = !scoring;
    if (!scoring) { $("confirm").hidden = true; $("recuse-dialog").hidden = true; }
  }

  /* A kept receipt is checked against the server's key, and its code kept beside it; a
     pending one (a head was signed a moment ago) is fetched with the next head, asked again
     until it comes (the leaf is on disk): after a dropped connection, once connected again;
     after a reload, from what was kept. A receipt that does not verify is an alarm. */
  async function checkReceipt(kept) {
    if (kept.code) { receipts.set(kept.key, kept.code); render(); return; }
    const got = kept.receipt;
    if (got.pending) {
      const ask = () => {
        if (!socket.connected) { socket.once("connect", ask); return; }
        socket.timeout(10000).emit("receipt", { leaf: got.leaf }, (err, ack) => {
          if (err) setTimeout(ask, 2000);
          else if (ack && ack.ok) checkReceipt({ ...kept, receipt: ack.receipt });
        });
      };
      setTimeout(ask, 1200);
      return;
    }
    if (await S.receiptHolds(device.serverKey, got, kept.envelope)) {
      const code = await S.receiptCode(got);
      await S.put(kept.key, { ...kept, code });
      receipts.set(kept.key, code);
    } else {
      alarm = t("tablet.receipt_bad");
    }
    render();
  }

  /* Open our sealed sheet once the server's signed close statement lists its commitment,
     at a random moment within OPEN_SPREAD_MS: every tablet of the room hears the close in
     the same instant, and their openings arriving together held the server's one thread
     long enough to delay other rooms' scores (docs/performance.md, section 21). The
     result shows that much later; the rater is not waiting on it. */
  const OPEN_SPREAD_MS = 250;
  async function revealOwed(statements) {
    for (const statement of statements || []) {
      if (!(await S.verify(device.serverKey, statement))) { alarm = t("tablet.statement_bad"); render(); return; }
      const round = statement.body.round;
      if (revealQueued.has(round)) continue;  // its opening is in the outbox already
      revealQueued.add(round);
      const kept = await S.get("opening:" + round);
      if (!kept) continue;
      const listed = statement.body.commitments.find((c) => c.seat === view.seat.id);
      if (!listed || listed.commitment !== kept.commitment) { alarm = t("tablet.statement_bad"); render(); return; }
      await sleep(Math.random() * OPEN_SPREAD_MS);
      await enqueue("reveal", "opening", { type: "opening", ...kept.opening });
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
    if (sealing || queuedFor(view.round.id)) return;  // a submit cannot fire twice
    sealing = true;                           // set before the first await: a double tap stops here
    try {
      const b = bound();
      const opening = { ...b, items: values(), total: show(update()).replace(/\.?0+$/, "") || "0",
                        salt: S.b64u(S.random(16)) };
      const kept = { opening, commitment: await S.commitment(opening) };
      $("sheet-error").textContent = "";
      // the opening is kept until the round closes, across restarts, with the commitment
      await enqueue("commit", "score", { type: "commitment", ...b, commitment: kept.commitment },
                    [["opening:" + b.round, kept]]);
      $("confirm").hidden = true;
    } finally {
      sealing = false;
    }
  });
  $("recuse").addEventListener("click", () => { $("recuse-dialog").hidden = false; });
  $("recuse-back").addEventListener("click", () => { $("recuse-dialog").hidden = true; });
  $("recuse-confirm").addEventListener("click", async () => {
    if (sealing || queuedFor(view.round.id)) return;
    sealing = true;
    try {
      $("sheet-error").textContent = "";
      await enqueue("commit", "recusal", { type: "recusal", ...bound(), reason: $("recuse-reason").value.trim() || null });
      $("recuse-dialog").hidden = true;
    } finally {
      sealing = false;
    }
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
  // What a closed tab or a power cut left unsent goes first, once connected.
  outbox = await S.list("outbox:");
  for (const entry of outbox) if (entry.event === "reveal") revealQueued.add(entry.round);
  // Every handler is in place before anything is awaited: a view the server sends at
  // connect, arriving during an await with nobody listening, would be lost for good (the
  // tablet showed its page's first words until the room next changed).
  const socket = connect("/rater");
  socket.on("connect", () => { render(); drain(); });
  socket.on("disconnect", () => render());
  socket.on("state", async (state) => {
    if (state.round && !(await S.verify(device.serverKey, state.round.statement))) {
      alarm = t("tablet.statement_bad");
    } else if (state.round) {
      const said = state.round.statement.body;
      if (said.round !== state.round.id || said.state !== state.round.state || said.draw_number !== state.round.draw_number) {
        alarm = t("tablet.statement_bad");
      }
    }
    view = state;
    render();
    revealOwed(state.reveal);
  });
  socket.on("revoked", () => {
    revoked = true;
    sheet.hidden = true;
    setStatus("closed", t("error.not_authenticated"));
  });
  for (const kept of await S.list("receipt:")) checkReceipt(kept);
  render();
});
