/* The evaluator's ballot: counts how many candidates are fully graded, points at the next
   gap, and sends the form once. The server does every check; this only helps the hand. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t } = window.Kiosk;
  const form = document.getElementById("ballot");
  if (!form) return;

  let sent = false;  // one tap, one request: a second tap would only meet "already cast"
  form.addEventListener("submit", (e) => {
    if (sent) e.preventDefault();
    sent = true;
  });
  window.addEventListener("pageshow", () => { sent = false; });  // back from the review

  if (form.dataset.mode !== "fill") return;
  const cards = [...form.querySelectorAll(".candidate")];
  const progress = document.getElementById("progress");
  const nextGap = document.getElementById("next-gap");

  function gaps() {
    return cards.filter((card) => [...card.querySelectorAll(".dim")]
      .some((dim) => !dim.querySelector("input:checked")));
  }

  function update() {
    const open = gaps();
    for (const card of cards) card.dataset.complete = open.includes(card) ? "no" : "yes";
    progress.textContent = t("ballot.progress", { done: cards.length - open.length, total: cards.length });
    nextGap.hidden = open.length === 0;
  }

  nextGap.addEventListener("click", () => {
    const first = gaps()[0];
    if (first) first.scrollIntoView({ behavior: "smooth", block: "start" });
  });
  form.addEventListener("change", update);
  update();
});
