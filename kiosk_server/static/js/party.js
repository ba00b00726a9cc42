/* A lot-draw party's phone: commit to a number (SHA-256 of number and salt, computed
   here), keep number and salt on this device, reveal them when every party has
   committed. The server never sees the number before the reveal. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t } = window.Kiosk;
  const box = document.getElementById("party");
  if (!box || !document.getElementById("commit-form")) return;
  const token = box.dataset.token;
  const storeKey = "lot:" + token;
  const $ = (id) => document.getElementById(id);
  const MAX_NUMBERS = 20, MAX_VALUE = 1e12;

  /* The one committed spelling of a source, exactly as the server normalises it. */
  function normalise(text) {
    const parts = text.replace(/,/g, " ").split(/\s+/).filter(Boolean);
    if (!parts.length || parts.length > MAX_NUMBERS || !parts.every((p) => /^[0-9]+$/.test(p))) return null;
    const numbers = parts.map((p) => Number(p));
    if (numbers.some((n) => n > MAX_VALUE)) return null;
    return numbers.map(String).join(" ");
  }

  async function sha256hex(text) {
    const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function newSalt() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const kept = () => JSON.parse(localStorage.getItem(storeKey) || "null");

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token, ...body }),
    });
    const data = await response.json().catch(() => null);
    if (!data || !data.ok) { $("error").textContent = data && data.error ? data.error.message : t("error.internal"); return null; }
    $("error").textContent = "";
    return data;
  }

  let timer = null;
  function render(view) {
    const draw = view.draw;
    const finished = !view.current || (draw && (draw.state === "drawn" || draw.state === "void"));
    $("party-state").textContent = draw ? t("lot.state." + draw.state) : t("lot.not_current");
    $("commit-form").hidden = finished || view.committed;
    $("committed").hidden = !view.committed || view.revealed;
    $("reveal-form").hidden = finished || !view.committed || view.revealed || draw.state !== "revealing";
    $("commitment").textContent = view.commitment ? t("lot.commitment") + " " + view.commitment : "";
    const mine = kept();
    $("keep").textContent = mine ? t("lot.keep", { value: mine.value, salt: mine.salt }) : "";
    if (mine && !$("reveal-value").value) { $("reveal-value").value = mine.value; $("reveal-salt").value = mine.salt; }
    const done = view.revealed ? t("lot.revealed") : (!view.current ? t("lot.not_current") : (draw && draw.state === "drawn" ? t("lot.done") : ""));
    $("done").hidden = !done; $("done").textContent = done;
    box.dataset.state = draw ? draw.state : "none";
    if (finished && timer) { clearInterval(timer); timer = null; }
  }

  async function refresh() {
    const response = await fetch("/api/lot/" + encodeURIComponent(token), { cache: "no-store" });
    const data = await response.json().catch(() => null);
    if (data && data.ok) render(data);
  }

  $("commit-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!window.isSecureContext || !crypto.subtle) { $("error").textContent = t("lot.insecure"); return; }
    const value = normalise($("value").value);
    if (value === null) { $("error").textContent = t("error.not_a_number", { field: t("lot.number") }); return; }
    const salt = newSalt();
    localStorage.setItem(storeKey, JSON.stringify({ value, salt }));  // kept before it is sent
    const commitment = await sha256hex(value + "/" + salt);
    const data = await post("/api/lot/commit", { commitment });
    if (data) render(data);
  });

  $("reveal-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = await post("/api/lot/reveal", { value: $("reveal-value").value.trim(), salt: $("reveal-salt").value.trim().toLowerCase() });
    if (data) render(data);
  });

  refresh();
  timer = setInterval(refresh, 2000);
});
