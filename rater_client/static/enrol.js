/* Enrolment: make this tablet's signing key, register its public half with the seat's
   one-time token, keep the key (non-extractable) and the server's key in IndexedDB. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { t } = window.Kiosk;
  const S = window.KioskSeal;
  const button = document.getElementById("enrol");
  const error = document.getElementById("enrol-error");
  if (!button) return;
  button.addEventListener("click", async () => {
    if (!S.available()) { error.textContent = t("error.insecure_context"); return; }
    button.disabled = true;
    try {
      const key = await S.generateKey();
      const response = await fetch("/api/enrol", {
        method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
        body: JSON.stringify({ token: document.getElementById("enrol-card").dataset.token, public_key: key.publicKey }),
      });
      const body = await response.json();
      if (!body.ok) { error.textContent = body.error.message; button.disabled = false; return; }
      // A new device: receipts kept for an earlier enrolment in this browser are not its own.
      const earlier = (await S.list("receipt:")).map((kept) => kept.key);
      await S.write([["device", { privateKey: key.privateKey, publicKey: key.publicKey, seat: body.seat,
                                  serverKey: body.server_key, seq: 0 }]], earlier);
      window.location.assign("/tablet");
    } catch (e) {
      error.textContent = t("error.insecure_context");
      button.disabled = false;
    }
  });
});
