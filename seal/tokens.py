"""One-time tokens and device credentials: generated from the OS CSPRNG, stored as digests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_BYTES = 24


def new_secret() -> str:
    """A fresh URL-safe secret of 192 bits."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(secret: str) -> str:
    """The stored form of a secret: SHA-256, hex. Secrets are random, so no salt is needed."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)


def derive(key: bytes, purpose: str, ident: int, generation: int) -> str:
    """A re-displayable one-time token: HMAC-SHA256 of (purpose, id, generation) under the
    instance key, base64url. The database holds only its digest, so a copy of the
    database alone cannot enrol a device, yet the organiser can reprint a seat's QR code
    until it is used; re-issuing bumps ``generation`` and voids the old code."""
    mac = hmac.new(key, f"{purpose}:{ident}:{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode("ascii")
