"""Canonical encoding and Ed25519 signatures, composed from ``rfc8785`` and ``cryptography``.

Terms:
- *canonical bytes* of a JSON value: RFC 8785 (JCS). Our documents hold only objects,
  arrays, strings, integers within ±2^53 and booleans, where JCS amounts to sorted keys,
  no whitespace and UTF-8 (see docs/bundle-format.md); we still use a full implementation.
- *envelope*: ``{"body": {...}, "signature": b64url(Ed25519(canonical(body)))}``.
- Keys travel as base64url (no padding) of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def _plain(value: Any) -> bool:
    """Whether RFC 8785 output equals sorted-key compact JSON for ``value``: true when it
    holds no floats, no keys outside ASCII (whose UTF-16 and code-point orders could
    differ) and no lone surrogates. Our own documents always qualify."""
    if isinstance(value, str):
        return value.isascii() or not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**53) < value < 2**53
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def checked_bytes(value: Any) -> bytes:
    """The bytes a verifier compares a signature or hash against: sorted-key compact JSON,
    without the plainness walk. For every document the kiosk makes these are exactly its
    RFC 8785 bytes; for anything else (a float, say) they differ, and the check fails,
    which is the right answer for a document the kiosk cannot have signed. A verifier of
    22,500 sheets spends most of its time here, hence the shortcut."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
            "utf-8"
        )
    except (TypeError, ValueError, UnicodeEncodeError):
        return b"\x00"  # not JSON the kiosk writes: matches nothing


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes. Documents of the plain kind (see ``_plain``) take
    the standard library's encoder, which gives the same bytes far faster; anything else
    goes through the full ``rfc8785`` implementation (a test holds the two equal)."""
    if _plain(value):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
            "utf-8"
        )
    return rfc8785.dumps(value)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """Strict base64url without padding: anything else raises ValueError."""
    if not isinstance(text, str) or len(text) > 4096 or "=" in text:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("not base64url") from None
    if b64u(data) != text:
        raise ValueError("not canonical base64url")
    return data


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return b64u(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@functools.lru_cache(maxsize=4096)
def load_public_key(text: str) -> Ed25519PublicKey:
    """The key a text names; remembered, as every envelope a device sends is checked
    against the same few (a key object is immutable)."""
    raw = unb64u(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_fingerprint(text: str) -> str:
    """A short, human-comparable name for a public key: SHA-256 of its raw bytes, 16 hex."""
    return sha256_hex(unb64u(text))[:16]


def sign(key: Ed25519PrivateKey, body: dict[str, Any]) -> dict[str, Any]:
    """Wrap ``body`` in a signed envelope."""
    return {"body": body, "signature": b64u(key.sign(canonical(body)))}


def verify(public: Ed25519PublicKey, envelope: Any) -> dict[str, Any]:
    """The envelope's body if its signature holds; ValueError otherwise."""
    if not isinstance(envelope, dict) or set(envelope) != {"body", "signature"}:
        raise ValueError("not an envelope")
    body = envelope["body"]
    if not isinstance(body, dict):
        raise ValueError("not an envelope")
    try:
        signature = unb64u(envelope["signature"])
        public.verify(signature, checked_bytes(body))
    except (InvalidSignature, ValueError, TypeError):
        raise ValueError("bad signature") from None
    return body


def load_private_key(path: str) -> Ed25519PrivateKey:
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
