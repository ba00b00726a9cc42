/* The tablet's half of sealing: its Ed25519 key (WebCrypto, never extractable, kept in
   IndexedDB), canonical JSON, envelopes, commitments, and checks of what the server
   signs (statements, tree heads, receipts). The same bytes as seal/ in Python. */
"use strict";
window.KioskSeal = (() => {
  const enc = new TextEncoder();

  /* RFC 8785 for our values (objects, arrays, strings, integers, booleans, null):
     keys sorted by UTF-16 code units (JavaScript's own string order), and JSON.stringify
     for strings and numbers, whose output RFC 8785 adopts. */
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  function b64u(bytes) {
    let text = "";
    for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64u(text) {
    const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
  const random = (n) => crypto.getRandomValues(new Uint8Array(n));

  async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }

  function available() {
    return window.isSecureContext && !!(window.crypto && crypto.subtle && window.indexedDB);
  }

  async function generateKey() {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
    return { privateKey: pair.privateKey, publicKey: b64u(raw) };
  }

  async function signBytes(privateKey, bytes) {
    return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, bytes));
  }

  async function envelope(privateKey, body) {
    return { body, signature: b64u(await signBytes(privateKey, enc.encode(canonical(body)))) };
  }

  async function verify(publicKeyText, env) {
    try {
      const key = await crypto.subtle.importKey("raw", unb64u(publicKeyText), { name: "Ed25519" }, false, ["verify"]);
      return await crypto.subtle.verify({ name: "Ed25519" }, key, unb64u(env.signature), enc.encode(canonical(env.body)));
    } catch (e) { return false; }
  }

  const COMMITTED = ["event", "room", "round", "draw_number", "seat", "rubric", "items", "total", "salt"];
  async function commitment(opening) {
    const fields = {};
    for (const k of COMMITTED) fields[k] = opening[k];
    return hex(await sha256(enc.encode(canonical(fields))));
  }

  async function leafHash(bytes) { return sha256(new Uint8Array([0, ...bytes])); }
  async function nodeHash(l, r) { return sha256(new Uint8Array([1, ...l, ...r])); }

  /* RFC 9162 §2.1.3.2. */
  async function verifyInclusion(leaf, index, size, proof, root) {
    if (index < 0 || index >= size) return false;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && hex(r) === hex(root);
  }

  /* A receipt proves our envelope is in the log under a head the server signed. */
  async function receiptHolds(serverKey, receipt, env) {
    try {
      if (!(await verify(serverKey, receipt.head))) return false;
      const entry = JSON.parse(receipt.entry);
      if (entry.seq !== receipt.leaf || canonical(entry.data.envelope) !== canonical(env)) return false;
      const leaf = await leafHash(enc.encode(receipt.entry));
      return verifyInclusion(leaf, receipt.leaf, receipt.head.body.size, receipt.proof.map(unhex), unhex(receipt.head.body.root));
    } catch (e) { return false; }
  }

  async function receiptCode(receipt) {
    const h = hex(await leafHash(enc.encode(receipt.entry))).slice(0, 8);
    return h.slice(0, 4) + "-" + h.slice(4);
  }

  /* IndexedDB: one object store of named values, written with strict durability. */
  function db() {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open("kiosk-tablet", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("kv");
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
  }
  async function put(key, value) {
    const handle = await db();
    return new Promise((resolve, reject) => {
      const tx = handle.transaction("kv", "readwrite", { durability: "strict" });
      tx.objectStore("kv").put(value, key);
      tx.oncomplete = () => { handle.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    });
  }
  async function get(key) {
    const handle = await db();
    return new Promise((resolve, reject) => {
      const req = handle.transaction("kv").objectStore("kv").get(key);
      req.onsuccess = () => { handle.close(); resolve(req.result); };
      req.onerror = () => reject(req.error);
    });
  }
  async function remove(key) {
    return write([], [key]);
  }
  /* Several puts and deletes in one strict transaction: all of them are on disk, or none. */
  async function write(puts, deletes = []) {
    const handle = await db();
    return new Promise((resolve, reject) => {
      const tx = handle.transaction("kv", "readwrite", { durability: "strict" });
      const kv = tx.objectStore("kv");
      for (const [key, value] of puts) kv.put(value, key);
      for (const key of deletes) kv.delete(key);
      tx.oncomplete = () => { handle.close(); resolve(); };
      tx.onerror = () => { handle.close(); reject(tx.error); };
      tx.onabort = () => { handle.close(); reject(tx.error); };
    });
  }
  /* Every value whose key starts with ``prefix``, in key order. */
  async function list(prefix) {
    const handle = await db();
    return new Promise((resolve, reject) => {
      const range = IDBKeyRange.bound(prefix, prefix + "\uffff");
      const req = handle.transaction("kv").objectStore("kv").getAll(range);
      req.onsuccess = () => { handle.close(); resolve(req.result); };
      req.onerror = () => { handle.close(); reject(req.error); };
    });
  }

  return { canonical, b64u, unb64u, hex, unhex, random, sha256, available, generateKey, signBytes,
           envelope, verify, commitment, leafHash, verifyInclusion, receiptHolds, receiptCode,
           put, get, remove, write, list };
})();
