/* The organiser's results page: settings, written marks to decide, the provisional
   results with their flags, corrections and publishing. Redrawn from "results". */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t, el, connect, lang } = window.Kiosk;
  const socket = connect("/organiser");
  const form = document.getElementById("settings");
  const stages = ["written", "evaluation", "interview"];
  let filled = false;

  function act(event, payload, box) {
    return new Promise((resolve) => {
      socket.timeout(10000).emit(event, payload, (err, ack) => {
        const target = document.getElementById(box);
        if (err || !ack || !ack.ok) {
          target.textContent = err ? t("console.connection_lost") : ack.error.message;
          resolve(null);
        } else {
          target.textContent = ack.pending ? t("approval.asked") : "";
          resolve(ack);
        }
      });
    });
  }

  function fill(settings) {
    const f = form.elements;
    for (const s of stages) f["weight_" + s].value = settings.weights[s];
    f.written_full_marks.value = settings.written_full_marks;
    f.written_step.value = settings.written_step;
    f.chain.value = settings.chain.join(" ");
    f.min_composite.value = settings.min_composite ?? "";
    for (const s of stages) f["min_" + s].value = settings.min_marks[s] ?? "";
    f.advancement_ratio.value = settings.advancement_ratio ?? "";
    f.max_mean_deviation.value = settings.rater_limits.max_mean_deviation;
    f.max_dropped_share.value = settings.rater_limits.max_dropped_share;
    f.min_rounds.value = settings.rater_limits.min_rounds;
    f.mask_names.checked = settings.mask_names;
  }

  function read() {
    const f = form.elements;
    const text = (name) => f[name].value.trim();
    const minMarks = {};
    for (const s of stages) if (text("min_" + s)) minMarks[s] = text("min_" + s);
    return {
      weights: Object.fromEntries(stages.map((s) => [s, text("weight_" + s)])),
      written_full_marks: text("written_full_marks"),
      written_step: text("written_step"),
      chain: text("chain").split(/[\s,，]+/).filter(Boolean),
      min_composite: text("min_composite") || null,
      min_marks: minMarks,
      advancement_ratio: text("advancement_ratio") || null,
      rater_limits: { max_mean_deviation: text("max_mean_deviation"), max_dropped_share: text("max_dropped_share"), min_rounds: text("min_rounds") },
      mask_names: f.mask_names.checked,
    };
  }

  function figure(value) { return value === "absent" ? t("clerk.absent") : value; }

  function draw(view) {
    if (!filled || view.frozen) { fill(view.settings); filled = true; }
    document.getElementById("frozen").hidden = !view.frozen;
    for (const input of form.elements) input.disabled = view.frozen;
    const c = view.written.counts;
    document.getElementById("written-counts").textContent = t("written.counts", c);
    document.getElementById("clerks").replaceChildren(...view.clerks.map((k) =>
      el("li", { text: k.label + " · " + t(k.enrolled ? "console.enrolled" : "console.not_enrolled") })));
    document.getElementById("mismatched").replaceChildren(...view.written.mismatched.map((m) =>
      el("li", { "data-reg-no": m.reg_no },
        el("strong", { text: m.reg_no + " " + m.name + "：" }),
        ...m.entries.map((e) => el("button", { type: "button", "data-act": "resolve", "data-figure": e.figure, "data-reg-no": m.reg_no,
          text: t("written.choose", { figure: figure(e.figure), clerk: e.clerk }) })),
        el("input", { type: "text", maxlength: 500, placeholder: t("written.reason"), "data-field": "reason" }))));
    document.getElementById("resolved").replaceChildren(...view.written.resolved.map((r) =>
      el("li", { text: t("written.decided", { reg_no: r.reg_no, name: r.name, figure: figure(r.figure), by: r.decided_by, reason: r.reason }) })));
    document.getElementById("results-wait").hidden = view.interviews_ended;
    document.getElementById("results-error").textContent = view.error ? view.error[lang] : "";
    const results = view.results;
    const thead = document.querySelector("#results-table thead");
    const tbody = document.querySelector("#results-table tbody");
    if (!results) { thead.replaceChildren(); tbody.replaceChildren(); }
    else {
      const table = results.table[lang];
      thead.replaceChildren(el("tr", {}, ...table.headers.map((h) => el("th", { text: h }))));
      tbody.replaceChildren(...table.rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", { text: cell === null ? "" : String(cell) })))));
      document.getElementById("flags").replaceChildren(...results.flags.map((f) =>
        el("li", { class: "error", "data-flag": f.code, text: t("flag." + f.code, { post: f.post ?? "", candidates: f.candidates.join("、") }) })));
      document.getElementById("tie-lot").hidden = !results.flags.some((f) => f.code === "unbroken_tie");
    }
    document.getElementById("corrections").replaceChildren(...view.corrections.map((x) =>
      el("li", { "data-state": x.state, text: t("correction.line", { id: x.id, stage: t("stage." + x.stage), reg_no: x.reg_no, old: figure(x.old), new: figure(x.new), reason: x.reason, state: t("correction.state." + x.state) }) })));
    document.getElementById("publications").replaceChildren(...view.publications.map((p) =>
      el("li", { text: t("results.published_line", { version: p.version, time: p.published_at, sha: p.sha256 }) })));
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); act("results_rules", { settings: read() }, "settings-error"); });
  document.getElementById("new-clerk").addEventListener("click", async () => {
    const ack = await act("new_clerk", { label: "" }, "written-error");
    if (ack) document.getElementById("clerk-link").textContent = ack.url;
  });
  document.getElementById("mismatched").addEventListener("click", (e) => {
    const button = e.target.closest('button[data-act="resolve"]');
    if (!button) return;
    const reason = button.parentElement.querySelector('[data-field="reason"]').value.trim();
    act("resolve", { reg_no: button.dataset.regNo, mark: button.dataset.figure, reason }, "written-error");
  });
  document.getElementById("tie-lot").addEventListener("click", async () => {
    const ack = await act("lot_start", { purpose: "tie", parties: null, reason: null }, "results-error");
    if (ack && ack.sheet) window.open(ack.sheet, "_blank");
  });
  document.getElementById("correct").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = e.target.elements;
    act("correct", { stage: f.stage.value, reg_no: f.reg_no.value.trim(), old: f.old.value.trim(), new: f.new.value.trim(), reason: f.reason.value.trim() }, "correct-error");
  });
  document.getElementById("publish").addEventListener("click", () => {
    if (window.confirm(t("results.publish_confirm"))) act("publish_results", {}, "publish-error");
  });
  socket.on("results", draw);
});
